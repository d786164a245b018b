#!/usr/bin/env python3
"""Artifact proxy on S3: Capstan vs `mlflow server --artifacts-destination s3://`
(MLflow's proxy, boto3 underneath), side by side in one run, both in front of
the same SeaweedFS (tests/s3_server.py, built by scripts/bootstrap), with
Capstan on a local directory as the floor. Each round, for each server: one
large file up and down through the same mlflow-artifacts HTTP routes
(MB/s, and the server's peak RSS growth while it streams), then many small
files up and down one after another (files/s: the per-request cost).

Usage: .venv/bin/python bench/scaleout/artifacts.py [--mb 512] [--small 300] [--rounds 2]
"""
import argparse
import hashlib
import http.client
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "bench", "tracking"))
from s3_server import S3Server  # noqa: E402
from servers import Server, free_port, memory  # noqa: E402

A = "/api/2.0/mlflow-artifacts/artifacts"
BUCKET = "bench"


class Peak(threading.Thread):
    """The process tree's largest RSS while it runs, sampled every 20 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.done = pid, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak_kb = max(self.peak_kb, memory(self.pid)["rss_kb"])
            time.sleep(0.02)

    def stop(self):
        self.done.set()
        self.join()
        return self.peak_kb


def put(port, path, chunks, size):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.putrequest("PUT", f"{A}/{path}")
    c.putheader("Content-Length", str(size))
    c.endheaders()
    for ch in chunks:
        c.send(ch)
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"PUT {path}: {r.status} {body[:300]!r}")


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("GET", f"{A}/{path}")
    r = c.getresponse()
    h = hashlib.sha256()
    n = 0
    first = None
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        if first is None:
            first = time.perf_counter() - t0
        h.update(b)
        n += len(b)
    c.close()
    if r.status != 200:
        raise RuntimeError(f"GET {path}: {r.status}")
    return n, h.hexdigest(), first or 0.0


def big(srv, mb, tag):
    block = os.urandom(1 << 20)
    size = mb << 20
    want = hashlib.sha256()
    chunks = []
    for i in range(mb):
        b = i.to_bytes(8, "little") + block[8:]
        chunks.append(b)
        want.update(b)
    # a warm-up first: servers that start workers or load modules lazily
    # have done so before the baseline is read
    small(srv, 3, f"warm-{tag}")
    time.sleep(1)
    base = memory(srv.pid)["rss_kb"]
    peak = Peak(srv.pid)
    peak.start()
    t0 = time.perf_counter()
    put(srv.port, f"big/{tag}.bin", chunks, size)
    t_up = time.perf_counter() - t0
    t0 = time.perf_counter()
    n, sha, first = get(srv.port, f"big/{tag}.bin")
    t_down = time.perf_counter() - t0
    grown = (peak.stop() - base) / 1024
    if n != size or sha != want.hexdigest():
        raise RuntimeError(f"{srv.label}: the download differs from the upload")
    return {"up_mb_s": mb / t_up, "down_mb_s": mb / t_down, "first_byte_s": first,
            "rss_growth_mb": grown}


def small(srv, n, tag):
    body = os.urandom(10_000)
    t0 = time.perf_counter()
    for i in range(n):
        put(srv.port, f"small/{tag}/f{i}.bin", [body], len(body))
    t_up = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(n):
        got, _, _ = get(srv.port, f"small/{tag}/f{i}.bin")
        assert got == len(body)
    t_down = time.perf_counter() - t0
    return {"small_up_s": n / t_up, "small_down_s": n / t_down}


def direct(s3, mb, tag):
    """The S3 server's own figure, no proxy: boto3 straight to it, 8 MiB
    parts, the same bytes."""
    from boto3.s3.transfer import TransferConfig
    import io
    c = s3.client()
    cfg = TransferConfig(multipart_chunksize=8 << 20, multipart_threshold=8 << 20,
                         max_concurrency=1)
    block = os.urandom(1 << 20)
    data = b"".join(i.to_bytes(8, "little") + block[8:] for i in range(mb))
    t0 = time.perf_counter()
    c.upload_fileobj(io.BytesIO(data), BUCKET, f"direct/{tag}.bin", Config=cfg)
    t_up = time.perf_counter() - t0
    t0 = time.perf_counter()
    body = c.get_object(Bucket=BUCKET, Key=f"direct/{tag}.bin")["Body"]
    n = 0
    while True:
        b = body.read(1 << 20)
        if not b:
            break
        n += len(b)
    t_down = time.perf_counter() - t0
    assert n == len(data)
    return {"up_mb_s": mb / t_up, "down_mb_s": mb / t_down}


def start(label, argv, env, workdir):
    os.makedirs(workdir, exist_ok=True)
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    s = Server(label, argv, workdir, port, env=env)
    s.start()
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=512)
    ap.add_argument("--small", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--capstan", default=os.path.join(REPO, "build", "rel", "capstan"))
    ap.add_argument("--mlflow", default=os.path.join(REPO, ".venv", "bin", "mlflow"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="capstan-artifacts-bench-")
    s3 = S3Server().start()
    s3.create_bucket(BUCKET)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key,
               AWS_REGION=s3.region, AWS_DEFAULT_REGION=s3.region,
               MLFLOW_S3_ENDPOINT_URL=s3.endpoint)
    env.pop("MLFLOW_TRACKING_URI", None)
    cap = [args.capstan, "server", "--host", "127.0.0.1", "--port", "{port}"]
    servers = {
        "capstan-local": (cap + ["--data", f"{tmp}/cl"], f"{tmp}/cl"),
        "capstan-s3": (cap + ["--data", f"{tmp}/cs", "--artifacts-destination",
                              f"s3://{BUCKET}/capstan"], f"{tmp}/cs"),
        "mlflow-s3": ([args.mlflow, "server", "--host", "127.0.0.1", "--port", "{port}",
                       "--backend-store-uri", f"sqlite:///{tmp}/ms/mlflow.db",
                       "--artifacts-destination", f"s3://{BUCKET}/mlflow"], f"{tmp}/ms"),
    }
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    vec = ",".join(f for f in ("avx2", "avx512f") if f" {f}" in flags)
    git = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    print(f"artifact proxy on S3, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, git {git}")
    print(f"cpu: {cpu} ({vec}), {os.cpu_count()} cores; SeaweedFS {s3.endpoint}")
    print(f"command: bench/scaleout/artifacts.py --mb {args.mb} --small {args.small} "
          f"--rounds {args.rounds}")
    print(f"{'round':<6}{'server':<15}{'up MB/s':>9}{'down MB/s':>10}{'1st byte s':>11}"
          f"{'RSS +MB':>9}{'small up/s':>11}{'small down/s':>13}")
    try:
        for r in range(1, args.rounds + 1):
            res = {}
            for label, (argv, wd) in servers.items():
                srv = start(label, argv, env, wd)
                try:
                    res[label] = {**big(srv, args.mb, f"r{r}"), **small(srv, args.small, f"r{r}")}
                finally:
                    srv.stop()
                x = res[label]
                print(f"{r:<6}{label:<15}{x['up_mb_s']:>9.0f}{x['down_mb_s']:>10.0f}"
                      f"{x['first_byte_s']:>11.2f}{x['rss_growth_mb']:>9.0f}"
                      f"{x['small_up_s']:>11.0f}{x['small_down_s']:>13.0f}", flush=True)
            d = direct(s3, args.mb, f"r{r}")
            print(f"{r:<6}{'s3 direct':<15}{d['up_mb_s']:>9.0f}{d['down_mb_s']:>10.0f}"
                  f"{'(boto3, no proxy)':>20}", flush=True)
            c, m = res["capstan-s3"], res["mlflow-s3"]
            print(f"{r:<6}{'capstan/mlflow':<15}{c['up_mb_s'] / m['up_mb_s']:>9.2f}"
                  f"{c['down_mb_s'] / m['down_mb_s']:>10.2f}{'':>11}{'':>9}"
                  f"{c['small_up_s'] / m['small_up_s']:>11.2f}"
                  f"{c['small_down_s'] / m['small_down_s']:>13.2f}", flush=True)
    finally:
        s3.stop()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
