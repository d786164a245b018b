"""The human review queue on the real server: a rule sends the logistic
regression's low-confidence predictions to review; the queue holds exactly
those (computed from the OIP answers' probabilities), in log order, with
their inputs; a reviewer's label is feedback like any other (it shows in
the quality API) and in the export; the queue and its cursor survive a
restart; max_pending holds rows back without passing over any; every bad
input is refused whole."""
import csv
import io
import subprocess

import numpy as np
import pytest
import requests

import serving_helpers as sh
from conftest import BIN, Server

REVIEW = "/api/2.0/capstan/review"


def infer(url, x, dep="rclf"):
    body = sh.oip_body(np.asarray(x, dtype=np.float32), name="input")
    r = requests.post(f"{url}/v2/models/{dep}/infer", json=body, timeout=30)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    proba = np.asarray(out["probabilities"]["data"], dtype=np.float64).reshape(len(x), 2)
    return r.json()["id"], [int(v) for v in out["label"]["data"]], proba


def queue(url, status="pending", dep="rclf", **kw):
    r = requests.get(url + REVIEW + "/queue",
                     params={"deployment": dep, "status": status, "max_results": 10000, **kw},
                     timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_low_confidence_rows_are_queued_labelled_and_exported(tmp_path):
    data = tmp_path / "rv"
    s = Server(data).start()
    try:
        sh.deploy(s.url, sh.logistic_model(), "rclf", "review")
        r = requests.post(s.url + REVIEW + "/rules",
                          json={"deployment": "rclf", "rule": {"confidence_below": 0.7}},
                          timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["rule"]["rule"] == {"confidence_below": 0.7, "max_pending": 1000}
        X, y = sh.classifier_data()
        want = []
        for k in range(0, 200, 50):
            rid, pred, proba = infer(s.url, X[k:k + 50])
            want += [(f"{rid}/{j}", pred[j], proba[j]) for j in range(50)
                     if proba[j].max() < 0.7]
        assert 5 < len(want) < 190, len(want)  # the rule separates something
        q = queue(s.url)
        assert [it["id"] for it in q["items"]] == [w[0] for w in want] and q["pending"] == len(want)
        first = q["items"][0]
        assert first["reason"] == "low_confidence" and first["prediction"] == str(want[0][1])
        assert abs(first["probabilities"]["1"] - want[0][2][1]) < 1e-6
        assert set(first["inputs"]) == {"f0", "f1", "f2", "f3"}
        # a second read queues nothing twice
        assert queue(s.url)["pending"] == len(want)
        # label two rows, skip one
        for (rid, _, _), lab in zip(want[:2], (1, 0)):
            r = requests.post(s.url + REVIEW + "/label",
                              json={"deployment": "rclf", "id": rid, "label": lab,
                                    "reviewer": "ann@example.org"}, timeout=30)
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        r = requests.post(s.url + REVIEW + "/skip",
                          json={"deployment": "rclf", "id": want[2][0], "reviewer": "bob"},
                          timeout=30)
        assert r.status_code == 200, r.text
    finally:
        s.assert_clean_exit(s.stop())
    s = Server(data).start()
    try:
        q = queue(s.url)
        assert q["pending"] == len(want) - 3  # kept across the restart, nothing requeued
        done = queue(s.url, "labelled")["items"]
        assert [(it["id"], it["label"], it["reviewer"]) for it in done] == [
            (want[0][0], "1", "ann@example.org"), (want[1][0], "0", "ann@example.org")]
        assert all(it["labelled_at"] > 0 for it in done)
        # the reviewer's labels are feedback: in the label history and the quality
        h = requests.get(s.url + "/api/2.0/capstan/feedback/history",
                         params={"deployment": "rclf", "id": want[0][0]}, timeout=30).json()
        assert h["labels"][0]["source"] == "review:ann@example.org"
        w = requests.get(s.url + "/api/2.0/capstan/feedback/quality",
                         params={"deployment": "rclf"}, timeout=30).json()["windows"]
        assert sum(x["labelled"] for x in w) == 2
        # the export: the labelled rows with their inputs
        out = tmp_path / "labelled.csv"
        p = subprocess.run([BIN, "review", "export", "rclf", "--out", str(out),
                            "--server", s.url], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert [r["id"] for r in rows] == [want[0][0], want[1][0]]
        assert [r["label"] for r in rows] == ["1", "0"] and rows[0]["reviewer"] == "ann@example.org"
        assert {"f0", "f1", "f2", "f3"} <= rows[0].keys()
        assert abs(float(rows[0]["f0"]) - done[0]["inputs"]["f0"]) < 1e-9
        # the CLI's list and label
        p = subprocess.run([BIN, "review", "list", "rclf", "--server", s.url],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and want[3][0] in p.stdout, p.stderr
        p = subprocess.run([BIN, "review", "label", "rclf", want[3][0], "1", "--reviewer", "cli",
                            "--server", s.url], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert queue(s.url)["pending"] == len(want) - 4
    finally:
        s.assert_clean_exit(s.stop())


def test_max_pending_holds_rows_back_without_passing_over(tmp_path):
    s = Server(tmp_path / "mp").start()
    try:
        sh.deploy(s.url, sh.logistic_model(), "rclf", "review")
        requests.post(s.url + REVIEW + "/rules",
                      json={"deployment": "rclf", "rule": {"sample": 1, "max_pending": 30}},
                      timeout=30)
        X, _ = sh.classifier_data()
        ids = []
        for k in range(0, 100, 25):  # 4 requests of 25 rows, every row sampled
            rid, _, _ = infer(s.url, X[k:k + 25])
            ids += [f"{rid}/{j}" for j in range(25)]
        q = queue(s.url)
        # requests go in whole: the second one passes 30
        assert q["pending"] == 50 and [it["id"] for it in q["items"]] == ids[:50]
        for i in ids[:40]:
            requests.post(s.url + REVIEW + "/skip",
                          json={"deployment": "rclf", "id": i, "reviewer": "x"}, timeout=30)
        q = queue(s.url)  # room for 20: the third request goes in whole, the fourth waits
        assert [it["id"] for it in q["items"]] == ids[40:75] and q["pending"] == 35
        for i in ids[40:75]:
            requests.post(s.url + REVIEW + "/skip",
                          json={"deployment": "rclf", "id": i, "reviewer": "x"}, timeout=30)
        q = queue(s.url)  # then the fourth: none passed over
        assert [it["id"] for it in q["items"]] == ids[75:100] and q["pending"] == 25
    finally:
        s.assert_clean_exit(s.stop())


@pytest.mark.parametrize("path,body,status,msg", [
    ("/rules", {"deployment": "rclf", "rule": {}}, 400, "needs confidence_below"),
    ("/rules", {"deployment": "rclf", "rule": {"confidence_below": 2}}, 400, "confidence_below"),
    ("/rules", {"deployment": "rclf", "rule": {"sample": 0.1, "top": 1}}, 400,
     "Unknown field 'top'"),
    ("/rules", {"deployment": "rclf", "rule": {"sample": 0.1, "max_pending": 0}}, 400,
     "max_pending"),
    ("/rules", {"deployment": "nope", "rule": {"sample": 0.1}}, 404, "nope"),
    ("/label", {"deployment": "rclf", "id": "a/b/c", "label": 1, "reviewer": "x"}, 400, "Id"),
    ("/label", {"deployment": "rclf", "id": "abc/0", "label": 1, "reviewer": "x y"}, 400,
     "Invalid reviewer"),
    ("/label", {"deployment": "rclf", "id": "abc/0", "label": 1, "reviewer": "x"}, 404,
     "not in the review queue"),
    ("/label", {"deployment": "rclf", "id": "abc/0", "reviewer": "x"}, 400, "label"),
])
def test_bad_review_requests(server, path, body, status, msg):
    if not getattr(server, "_rclf", False):
        sh.deploy(server.url, sh.logistic_model(), "rclf", "review-bad")
        server._rclf = True
    r = requests.post(server.url + REVIEW + path, json=body, timeout=30)
    assert r.status_code == status and msg in r.json()["message"], r.text
    r = requests.get(server.url + REVIEW + "/rules", params={"deployment": "rclf"}, timeout=30)
    assert r.status_code == 404  # nothing stored by a refused rule


def test_a_refused_relabel_keeps_the_item_as_it_was(server):
    """A correction the join refuses (a class that is not a whole number)
    leaves the item labelled as before (label, reviewer, time) and stores
    nothing; an accepted one replaces both."""
    url = server.url
    sh.deploy(url, sh.logistic_model(), "rfix", "review-relabel")
    r = requests.post(url + REVIEW + "/rules",
                      json={"deployment": "rfix", "rule": {"sample": 1}}, timeout=30)
    assert r.status_code == 200, r.text
    X, _ = sh.classifier_data(4)
    rid, _, _ = infer(url, X[:3], dep="rfix")
    assert queue(url, dep="rfix")["pending"] == 3
    item = f"{rid}/1"

    def label(value, reviewer):
        return requests.post(url + REVIEW + "/label",
                             json={"deployment": "rfix", "id": item, "label": value,
                                   "reviewer": reviewer}, timeout=30)

    assert label(1, "ann").status_code == 200
    before = queue(url, "labelled", dep="rfix")["items"]
    assert [(it["id"], it["label"], it["reviewer"]) for it in before] == [(item, "1", "ann")]
    r = label(0.5, "bob")
    assert r.status_code == 400 and "classifier" in r.json()["message"], r.text
    assert queue(url, "labelled", dep="rfix")["items"] == before
    assert queue(url, dep="rfix")["pending"] == 2
    h = requests.get(url + "/api/2.0/capstan/feedback/history",
                     params={"deployment": "rfix", "id": item}, timeout=30).json()["labels"]
    assert [(x["label"], x["source"]) for x in h] == [("1", "review:ann")]
    assert label(0, "bob").status_code == 200
    after = queue(url, "labelled", dep="rfix")["items"]
    assert [(it["label"], it["reviewer"]) for it in after] == [("0", "bob")]
    assert after[0]["labelled_at"] >= before[0]["labelled_at"]
