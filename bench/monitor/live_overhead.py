"""What live monitoring costs a serving process, as a share of its CPU.

Starts the release `capstan server` with live monitoring on, deploys a
28-feature linear model with a baseline (5,000 reference rows), drives it
with wrk at full speed for DURATION seconds (one row per request, 4096 different
bodies in turn: the case where the monitor's per-row work weighs most
against serving's per-request work), waits until every logged row is in a closed window, then reads the
CPU time of each of the server's threads from /proc: the monitor's thread
(capstan-monitor) against the whole process. A ratio of CPU times, not of
throughputs, so the noise of a shared machine cancels out.

    .venv/bin/python bench/monitor/live_overhead.py [--duration 20] [--conns 32]

Prints one table and the headline line; never fails on a figure (exit 1 only
when the server could not be measured)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import serving_helpers as sh  # noqa: E402
from capstan_process import CapstanServer  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """{thread name: CPU seconds} summed over threads of the same name."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
        out[name] = out.get(name, 0.0) + cpu
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "rel", "capstan"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="capstan-live-overhead-")
    srv = CapstanServer(a.bin, tmp, ["--monitor-windows", "5,60", "--monitor-grace-ms", "500",
                                     "--monitor-poll-ms", "200"]).start()
    try:
        rng = np.random.default_rng(3)
        model = sh.linear_model(0.5, n_features=28, weights=rng.normal(size=(28, 1)))
        with sh.tracking_uri(srv.url):
            sh.register(model, "ov", experiment_id="0")
        sh.create_deployment(srv.url, {"name": "ov", "model": "ov/1"})
        ref = rng.normal(size=(5000, 28)).astype(np.float32)
        csv = ",".join(f"f{i}" for i in range(28)) + "\n" + "\n".join(
            ",".join(repr(float(v)) for v in row) for row in ref)
        r = srv.api("POST", "/api/2.0/capstan/monitor/baselines",
                    params={"target": "deployment:ov", "format": "csv"}, data=csv.encode())
        assert r.status_code == 200, r.text
        # 4096 different one-row bodies from the reference's distribution, sent
        # in turn: the monitor must see varied rows, as in production
        bodies = os.path.join(tmp, "bodies.jsonl")
        with open(bodies, "w") as f:
            for _ in range(4096):
                f.write(json.dumps(sh.oip_body(rng.normal(size=(1, 28)).astype(np.float32))))
                f.write("\n")
        env = dict(os.environ, BENCH_BODIES=bodies)
        before = thread_cpu(srv.proc.pid)
        wrk = subprocess.run(["wrk", "-t2", f"-c{a.conns}", f"-d{a.duration}s", "-s",
                              os.path.join(ROOT, "bench", "serve", "load.lua"),
                              f"{srv.url}/v2/models/ov/infer"],
                             env=env, capture_output=True, text=True, check=True).stdout
        served = int(next(ln.split()[0] for ln in wrk.splitlines() if "requests in" in ln))

        def counted():
            w = srv.api("GET", "/api/2.0/capstan/monitor/windows",
                        params={"deployment": "ov", "width": 5, "max_results": 10000}).json()
            return sum(x["rows"] for x in w["windows"])

        deadline = time.time() + 120
        while counted() < served and time.time() < deadline:
            time.sleep(0.5)
        rows = counted()
        after = thread_cpu(srv.proc.pid)
        cpu = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        total = sum(cpu.values())
        mon = cpu.get("capstan-monitor", 0.0)
        print(f"{'thread':<24}{'CPU s':>10}")
        for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])[:8]:
            print(f"{k:<24}{v:>10.2f}")
        dropped = sh.metric(srv.url, "capstan_prediction_log_dropped_total")
        print(f"requests served {served}, rows in closed windows {rows}, "
              f"log entries dropped (queue full) {dropped:.0f}")
        print(f"headline: live monitoring = {100 * mon / total:.2f}% of the server's CPU "
              f"({mon:.2f} s of {total:.2f} s; target < 2%)")
    finally:
        srv.assert_clean_exit(srv.stop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
