"""Label ingest: labels joined and stored per second through POST
/api/2.0/capstan/feedback (batches of 1,000, 32 connections), and the
serving latency of a paced request stream beside it, measured without and
with the ingest in one run.

    .venv/bin/python bench/feedback/ingest.py [--predictions 200000] [--rate 200]

The server is build/rel/capstan on a fresh data directory; the deployment
serves the tests' logistic regression (skl2onnx). Predictions are made in
requests of 1,000 rows first, so every label names <id>/<row> of a logged
request; labels go out in a shuffled order (late labels do not arrive in
prediction order). The paced stream sends one-row OIP requests at --rate per
second from one connection; its p50/p99 are printed for both phases.
Prints the figures and a last line with the headline numbers."""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from capstan_process import CapstanServer  # noqa: E402
import serving_helpers as sh  # noqa: E402


def post(conn, path, body):
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def make_predictions(port, n, rows=1000):
    X, _ = sh.classifier_data(rows, seed=3)
    body = json.dumps(sh.oip_body(X.astype(np.float32), name="input")).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    ids = []
    for _ in range(n // rows):
        rid = post(conn, "/v2/models/fb/infer", body)["id"]
        ids += [f"{rid}/{k}" for k in range(rows)]
    conn.close()
    return ids


def paced(port, rate, stop, lat):
    """One-row requests at `rate` per second until stop is set."""
    X, _ = sh.classifier_data(4)
    body = json.dumps(sh.oip_body(X[:1].astype(np.float32), name="input")).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    t_next = time.perf_counter()
    while not stop.is_set():
        t0 = time.perf_counter()
        post(conn, "/v2/models/fb/infer", body)
        lat.append(time.perf_counter() - t0)
        t_next += 1.0 / rate
        time.sleep(max(0.0, t_next - time.perf_counter()))
    conn.close()


def ingest(port, bodies, conns):
    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        acc = 0
        for b in chunk:
            acc += post(conn, "/api/2.0/capstan/feedback", b)["accepted"]
        conn.close()
        return acc

    chunks = [bodies[i::conns] for i in range(conns)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(conns) as ex:
        accepted = sum(ex.map(worker, chunks))
    return accepted, time.perf_counter() - t0


def pct(v, q):
    return float(np.percentile(np.asarray(v) * 1e3, q)) if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--predictions", type=int, default=200000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=32)
    args = ap.parse_args()
    import tempfile

    data = tempfile.mkdtemp(prefix="capstan-bench-feedback-")
    srv = CapstanServer(os.path.join(ROOT, "build", "rel", "capstan"), data).start()
    try:
        sh.deploy(srv.url, sh.logistic_model(), "fb", "bench")
        ids = make_predictions(srv.port, args.predictions)
        random.Random(7).shuffle(ids)
        bodies = [json.dumps({"deployment": "fb", "labels": [
            {"id": i, "label": k % 2} for k, i in enumerate(ids[j:j + args.batch])]}).encode()
            for j in range(0, len(ids), args.batch)]
        # phase 1: the paced stream alone
        stop, alone = threading.Event(), []
        t = threading.Thread(target=paced, args=(srv.port, args.rate, stop, alone))
        t.start()
        time.sleep(5)
        stop.set()
        t.join()
        # phase 2: the same stream beside the ingest
        stop, beside = threading.Event(), []
        t = threading.Thread(target=paced, args=(srv.port, args.rate, stop, beside))
        t.start()
        accepted, secs = ingest(srv.port, bodies, args.conns)
        stop.set()
        t.join()
    finally:
        srv.assert_clean_exit(srv.stop())
    assert accepted == len(ids), (accepted, len(ids))
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), "?")
    print(f"cpu: {cpu}, {os.cpu_count()} cores")
    print(f"labels: {accepted} in {secs:.2f} s, batches of {args.batch}, {args.conns} connections")
    print(f"paced stream ({args.rate:.0f}/s, one row): alone p50 {pct(alone, 50):.2f} ms "
          f"p99 {pct(alone, 99):.2f} ms; beside the ingest p50 {pct(beside, 50):.2f} ms "
          f"p99 {pct(beside, 99):.2f} ms")
    print(f"headline: {accepted / secs:,.0f} labels/s joined and durable; serving p99 "
          f"x{pct(beside, 99) / pct(alone, 99):.2f} during ingest")


if __name__ == "__main__":
    main()
