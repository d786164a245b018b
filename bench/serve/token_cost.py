#!/usr/bin/env python3
"""What a required token costs per inference request: the server's own CPU time (and, where
`perf` may count them, its instructions) per request, with and without --auth + an
infer:<deployment> token, at the same paced rate, side by side in one run.

Throughput on a 2-core machine shared by wrk and the server moves by +-10% from run to run
(bench.py's oip_token row), more than the difference asked for (< 3%); CPU time and
instructions per request at a fixed rate do not depend on who else runs, so they measure the
cost itself. Two servers (bench.py's: the plain one and the --auth one, the same model, one
deployment each); RUNS rounds, alternating; each round paces wrk at RATE req/s for DURATION
on one, then the other, reading the server's threads' CPU time from /proc/<pid>/task/*/schedstat and, when `perf stat -p`
works, its instructions. Prints a table and, last, the ratio line.

    .venv/bin/python bench/serve/token_cost.py      # RUNS=5 DURATION=8s RATE=10000
It reports; it never asserts."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the serving benchmark's set-up: servers, model, wrk)

RUNS = int(os.environ.get("RUNS", "5"))
DURATION = os.environ.get("DURATION", "8s")
RATE = float(os.environ.get("RATE", "10000"))
CONNS = int(os.environ.get("CONNS", "16"))


def cpu_s(pid):
    """The server's CPU time: the sum of its threads' schedstat run time (nanoseconds; utime
    and stime count 10 ms ticks, too coarse here). Its threads live as long as it does."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def perf_ok():
    try:
        r = subprocess.run(["perf", "stat", "-e", "instructions", "-x,", "--", "true"],
                           capture_output=True, text=True, timeout=30)
        return r.returncode == 0 and "instructions" in r.stderr and "<not" not in r.stderr
    except (OSError, subprocess.TimeoutExpired):
        return False


def one(t, use_perf):
    """One paced run on target t: (requests, CPU seconds, instructions or None, wrk figures)."""
    pid = t["proc"].pid
    p = None
    if use_perf:
        p = subprocess.Popen(["perf", "stat", "-e", "instructions", "-x,", "-p", str(pid)],
                             stderr=subprocess.PIPE, text=True)
    c0 = cpu_s(pid)
    d = bench.wrk(t["url"], CONNS, DURATION, 2, "POST", t["body"], rate=RATE, quiet=True,
                  auth=t.get("auth"))
    c1 = cpu_s(pid)
    ins = None
    if p:
        p.send_signal(2)
        err = p.communicate()[1]
        for line in err.splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[2].startswith("instructions") and parts[0].isdigit():
                ins = int(parts[0])
    n = d.get("requests") or d["rps"] * float(DURATION.rstrip("s"))
    return n, c1 - c0, ins, d


def main():
    args = bench.parse_args([])
    tmp = tempfile.mkdtemp(prefix="token-cost-", dir="/tmp")
    mdir, row = bench.cached_model(args)
    use_perf = perf_ok()
    meta = {}
    try:
        plain = bench.capstan_server(args, tmp, "capstan")
        bench.register(plain.port, mdir, ["xgb"])
        bench.deploy(plain.port, "xgb", "xgb/1")
        body, _ = bench.oip_body(plain.port, "xgb", row, tmp)
        targets = [{"key": "plain", "port": plain.port, "path": "/v2/models/xgb/infer",
                    "body": body, "proc": plain},
                   dict(bench.token_target(args, tmp, mdir, row, meta), key="token")]
        for t in targets:
            t["url"] = f"http://127.0.0.1:{t['port']}{t['path']}"
            bench.wrk(t["url"], CONNS, "2s", 2, "POST", t["body"], quiet=True, auth=t.get("auth"))
        res = {"plain": [], "token": []}
        for r in range(RUNS):
            for t in (targets if r % 2 == 0 else targets[::-1]):
                n, cpu, ins, d = one(t, use_perf)
                res[t["key"]].append((n, cpu, ins))
                bench.log(f"  [{t['key']} round {r + 1}] {d['rps']:,.0f} req/s, "
                          f"{cpu / n * 1e6:.2f} CPU us/request"
                          + (f", {ins / n:,.0f} instructions/request" if ins else "")
                          + f", non-2xx {d['non2xx']}")
    finally:
        for s in list(bench.LIVE):
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def per(key, i):
        xs = sorted(x[i] / x[0] for x in res[key] if x[i])
        return xs[len(xs) // 2] if xs else None

    m = bench.machine_info()
    print(f"token cost, {m['nproc']} CPUs, {m['cpu']}; paced {RATE:,.0f} req/s, {CONNS} "
          f"connections, {DURATION} x {RUNS} rounds per server (medians)")
    print("| server | CPU us/request | instructions/request |")
    print("|---|---:|---:|")
    for k, label in (("plain", "capstan server, no --auth"),
                     ("token", "capstan server --auth, infer token")):
        ins = per(k, 2)
        print(f"| {label} | {per(k, 1) * 1e6:.2f} | {f'{ins:,.0f}' if ins else 'n/a'} |")
    c = per("token", 1) / per("plain", 1)
    i = (per("token", 2) / per("plain", 2)) if per("plain", 2) else None
    print(f"token / no token: CPU per request {c:.3f}x"
          + (f", instructions per request {i:.3f}x" if i else " (perf stat unavailable)")
          + " (target < 1.03x)")


if __name__ == "__main__":
    main()
