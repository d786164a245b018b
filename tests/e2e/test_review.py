"""The Review page in Chromium: the low-confidence predictions of a
deployment with a review rule appear in log order; a label given with the
keyboard (a digit, then Enter) is stored with the reviewer's name, counts
in the realised quality and comes out of `capstan review export`."""
import csv
import io
import subprocess

import pytest
import requests

from conftest import BIN, Server, run_ui


@pytest.fixture(scope="module")
def queued(tmp_path_factory):
    from seed import seed_review

    srv = Server(BIN, tmp_path_factory.mktemp("capstan-e2e-review")).start()
    try:
        yield srv, seed_review(srv.url)
    finally:
        rc = srv.stop()
    srv.assert_clean_exit(rc)


def test_review_page(queued, tmp_path):
    srv, data = queued
    assert len(data["low"]) > 5
    out = run_ui(srv.url, "review", data)
    assert out["shown"] == len(data["low"])
    first = data["low"][0]
    done = requests.get(srv.url + "/api/2.0/capstan/review/queue",
                        params={"deployment": "rv", "status": "labelled"}, timeout=60).json()["items"]
    assert [(d["id"], d["label"], d["reviewer"]) for d in done] == [(first, "1", "e2e-ann")]
    h = requests.get(srv.url + "/api/2.0/capstan/feedback/history",
                     params={"deployment": "rv", "id": first}, timeout=60).json()["labels"]
    assert h[0]["label"] == "1" and h[0]["source"] == "review:e2e-ann"
    q = requests.get(srv.url + "/api/2.0/capstan/feedback/quality", params={"deployment": "rv"},
                     timeout=60).json()["windows"]
    assert sum(w["labelled"] for w in q) == 1
    path = tmp_path / "labelled.csv"
    p = subprocess.run([BIN, "review", "export", "rv", "--out", str(path), "--server", srv.url],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(r["id"], r["label"], r["reviewer"]) for r in rows] == [(first, "1", "e2e-ann")]
