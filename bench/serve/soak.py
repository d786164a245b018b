#!/usr/bin/env python3
"""Soak: one `capstan server` under mixed load for an hour at half of its measured peak
inference rate, its memory and file descriptors sampled all along (issue 19: "a one-hour soak
at half the peak load with RSS and file descriptors flat").

Load, side by side on the same machine: wrk paced at SOAK_FRACTION (0.5) of the OIP peak
measured first (bench.py's model, 100 trees; every request logged to the prediction log, as
by default), in 60 s runs back to back; one writer thread logging metrics (runs/log-batch of
10 metrics, WRITES_PER_S a second, a new run every 1,000 batches) and one uploading a 16 KiB
artifact a second. Every 10 s: the server's VmRSS, VmHWM, open descriptors, threads and the data
directory's size. Prints a table per 5 minutes and the verdict line: RSS and descriptors of the
last quarter against the second (the first quarter warms caches up), and the slope of RSS
over the second half.

    .venv/bin/python bench/serve/soak.py            # SOAK_S=3600
    SOAK_S=300 .venv/bin/python bench/serve/soak.py # a quick look
It reports; it never asserts. Exit 1 only when the server could not be measured or died."""
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

SOAK_S = float(os.environ.get("SOAK_S", "3600"))
FRACTION = float(os.environ.get("SOAK_FRACTION", "0.5"))
WRITES_PER_S = float(os.environ.get("WRITES_PER_S", "20"))
SAMPLE_S = 10.0


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


class Writers:
    """The tracking side of the load: metrics batches and artifact uploads, paced."""

    def __init__(self, port):
        self.port, self.stop, self.errors, self.batches, self.uploads = port, False, [], 0, 0
        st, ans = bench.req(port, "POST", "/api/2.0/mlflow/experiments/create", {"name": "soak"})
        self.exp = ans["experiment_id"]
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self.metrics, self.files)]

    def new_run(self):
        st, ans = bench.req(self.port, "POST", "/api/2.0/mlflow/runs/create",
                            {"experiment_id": self.exp})
        return ans["run"]["info"]["run_id"]

    def paced(self, rate, step):
        t = time.monotonic()
        while not self.stop:
            try:
                step()
            except Exception as e:  # counted, reported; the soak goes on
                self.errors.append(f"{type(e).__name__}: {e}"[:200])
            t += 1.0 / rate
            time.sleep(max(0.0, t - time.monotonic()))

    def metrics(self):
        run = [self.new_run()]

        def step():
            if self.batches and self.batches % 1000 == 0:
                run[0] = self.new_run()
            ts = int(time.time() * 1000)
            body = {"run_id": run[0], "metrics": [
                {"key": f"m{i}", "value": self.batches * 0.5 + i, "timestamp": ts,
                 "step": self.batches} for i in range(10)]}
            st, ans = bench.req(self.port, "POST", "/api/2.0/mlflow/runs/log-batch", body)
            if st != 200:
                raise RuntimeError(f"log-batch {st} {str(ans)[:150]}")
            self.batches += 1
        self.paced(WRITES_PER_S, step)

    def files(self):
        run = self.new_run()
        data = os.urandom(16384)

        def step():
            path = (f"/api/2.0/mlflow-artifacts/artifacts/{self.exp}/{run}/artifacts/"
                    f"f{self.uploads % 500}.bin")
            st, ans = bench.req(self.port, "PUT", path, raw=data)
            if st != 200:
                raise RuntimeError(f"upload {st} {str(ans)[:150]}")
            self.uploads += 1
        self.paced(1.0, step)


def sampler(pid, data, samples, stop):
    t0 = time.monotonic()
    while not stop.is_set():
        try:
            s = proc_status(pid)
        except OSError:
            return
        s["t"] = time.monotonic() - t0
        s["data_mb"] = bench.dir_bytes(data) / 1e6
        samples.append(s)
        stop.wait(SAMPLE_S)


def slope_kib_per_min(xs):
    """Least-squares slope of VmRSS (KiB) over time (minutes)."""
    if len(xs) < 3:
        return None
    t = [s["t"] / 60 for s in xs]
    r = [s["VmRSS"] for s in xs]
    mt, mr = statistics.fmean(t), statistics.fmean(r)
    den = sum((a - mt) ** 2 for a in t)
    return sum((a - mt) * (b - mr) for a, b in zip(t, r)) / den if den else None


def main():
    args = bench.parse_args([])
    tmp = tempfile.mkdtemp(prefix="soak-", dir="/tmp")
    mdir, row = bench.cached_model(args)
    samples, stop, runs, rc = [], threading.Event(), [], 0
    try:
        s = bench.capstan_server(args, tmp, "capstan")
        bench.register(s.port, mdir, ["xgb"])
        bench.deploy(s.port, "xgb", "xgb/1")
        body, _ = bench.oip_body(s.port, "xgb", row, tmp)
        url = f"http://127.0.0.1:{s.port}/v2/models/xgb/infer"
        bench.wrk(url, 32, "3s", 2, "POST", body, quiet=True)
        peak = bench.wrk(url, 32, "10s", 2, "POST", body)["rps"]
        rate = FRACTION * peak
        bench.log(f"peak {peak:,.0f} req/s; soaking at {rate:,.0f} req/s for {SOAK_S:.0f} s")
        w = Writers(s.port)
        th = threading.Thread(target=sampler, args=(s.pid, os.path.join(tmp, "capstan"),
                                                    samples, stop), daemon=True)
        th.start()
        for t in w.threads:
            t.start()
        t_end = time.monotonic() + SOAK_S
        while time.monotonic() < t_end and s.alive():
            left = max(5, min(60, int(t_end - time.monotonic())))
            d = bench.wrk(url, 32, f"{left}s", 2, "POST", body, rate=rate, quiet=True)
            runs.append(d)
            if d["non2xx"] or d["socket_errors"]:
                bench.log(f"  wrk: {d['non2xx']} non-2xx, {d['socket_errors']} socket errors")
        w.stop = True
        stop.set()
        if not s.alive():
            rc = 1
            bench.log(f"!!! the server died: {bench.tail(s.log_path)}")
    finally:
        stop.set()
        for p in list(bench.LIVE):
            p.stop()
    report(samples, runs, w if 'w' in locals() else None, peak if 'peak' in locals() else 0)
    shutil.rmtree(tmp, ignore_errors=True)
    return rc


def report(samples, runs, w, peak):
    m = bench.machine_info()
    print(f"soak, {m['nproc']} CPUs, {m['cpu']}; {SOAK_S:.0f} s at {FRACTION:.0%} of the "
          f"{peak:,.0f} req/s OIP peak, plus {WRITES_PER_S:g} log-batch/s and 1 upload/s")
    print("| minute | VmRSS MiB | VmHWM MiB | fds | threads | data MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for s in samples:
        if int(s["t"]) % 300 < SAMPLE_S:
            print(f"| {s['t'] / 60:.0f} | {s['VmRSS'] / 1024:.1f} | {s['VmHWM'] / 1024:.1f} | "
                  f"{s['fds']} | {s['Threads']} | {s['data_mb']:.0f} |")
    n = len(samples)
    if n < 8:
        print("soak: too few samples")
        return
    q2, q4 = samples[n // 4:n // 2], samples[3 * n // 4:]
    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    reqs = sum(d.get("requests") or 0 for d in runs)
    errs = sum(d["non2xx"] + d["socket_errors"] for d in runs)
    sl = slope_kib_per_min(samples[n // 2:])
    print(f"requests {reqs:,} (errors {errs}), log-batch {w.batches if w else 0:,}, uploads "
          f"{w.uploads if w else 0:,}, writer errors {len(w.errors) if w else '?'}"
          + (f" (first: {w.errors[0]})" if w and w.errors else ""))
    print(f"soak: VmRSS {med(q2, 'VmRSS') / 1024:.1f} MiB in the second quarter, "
          f"{med(q4, 'VmRSS') / 1024:.1f} MiB in the last (slope over the second half "
          f"{sl:+.1f} KiB/min); fds {med(q2, 'fds'):.0f} then {med(q4, 'fds'):.0f} (max "
          f"{max(x['fds'] for x in samples)}); threads {med(q4, 'Threads'):.0f}")


if __name__ == "__main__":
    sys.exit(main())
