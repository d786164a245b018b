"""The feedback API end to end on 1,000,000 labelled predictions: label
ingest in batches of 10,000 over 8 connections, then GET /feedback/quality
over one window of all of them (label rows read from SQLite, the log's rows
counted for coverage, the metrics) and GET /feedback/estimate (CBPE fitted
on all of them as the reference and applied to all of them), each timed.

    .venv/bin/python bench/feedback/quality_api.py [--predictions 1000000]

The pure computations against scikit-learn and nannyml on the same arrays
are bench/feedback/metrics.sh and cbpe.sh; this measures what a user of the
API waits for."""
import argparse
import json
import os
import random
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capstan_process import CapstanServer  # noqa: E402
import serving_helpers as sh  # noqa: E402
from ingest import ingest, make_predictions  # noqa: E402


def timed(url, path, params):
    t = time.perf_counter()
    r = requests.get(url + path, params=params, timeout=900)
    assert r.status_code == 200, r.text
    return r.json(), time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--predictions", type=int, default=1000000)
    args = ap.parse_args()
    srv = CapstanServer(os.path.join(ROOT, "build", "rel", "capstan"), tempfile.mkdtemp()).start()
    try:
        sh.deploy(srv.url, sh.logistic_model(), "fb", "bench")
        t0 = int(time.time() * 1000) - 1
        ids = make_predictions(srv.port, args.predictions)
        t1 = int(time.time() * 1000) + 1
        rng = random.Random(3)
        bodies = [json.dumps({"deployment": "fb", "labels": [
            {"id": i, "label": rng.randint(0, 1)} for i in ids[j:j + 10000]]}).encode()
            for j in range(0, len(ids), 10000)]
        accepted, secs = ingest(srv.port, bodies, 8)
        print(f"ingest: {accepted} labels in {secs:.2f} s, {accepted / secs:,.0f} labels/s "
              f"(batches of 10,000, 8 connections)")
        span = {"deployment": "fb", "from": t0, "to": t1}
        for _ in range(3):
            q, secs = timed(srv.url, "/api/2.0/capstan/feedback/quality", span)
            print(f"quality: one window of {q['windows'][0]['labelled']} labels in {secs:.3f} s")
        e, secs = timed(srv.url, "/api/2.0/capstan/feedback/estimate",
                        {**span, "reference_from": t0, "reference_to": t1, "chunk_size": 10000})
        print(f"estimate: CBPE on {e['reference']['rows']} reference rows and "
              f"{e['windows'][0]['rows']} analysed in {secs:.3f} s")
    finally:
        srv.assert_clean_exit(srv.stop())


if __name__ == "__main__":
    main()
