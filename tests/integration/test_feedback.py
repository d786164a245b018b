"""The feedback loop's entry on the real server: request identity (OIP's id,
X-Request-Id on both protocols, one id per row) and ground truth joined to
the logged predictions through POST /api/2.0/capstan/feedback and `capstan
feedback send`: unknown ids answered per item, late labels, a second label
replacing the first with its history kept, labels durable across a restart,
and each bad input refused whole with a clear message."""
import http.server
import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import requests

import serving_helpers as sh
from conftest import BIN, Server

FEEDBACK = "/api/2.0/capstan/feedback"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def deployed(server):
    sh.deploy(server.url, sh.logistic_model(), "fbclf", "feedback")
    sh.deploy(server.url, sh.linear_model(0.5), "fbreg", "feedback")
    return server


def infer_clf(url, x, rid=None, headers=None, deployment="fbclf"):
    body = sh.oip_body(np.asarray(x, dtype=np.float32), name="input", rid=rid)
    return requests.post(f"{url}/v2/models/{deployment}/infer", json=body,
                         headers=headers or {}, timeout=30)


def post_labels(url, deployment, labels):
    return requests.post(url + FEEDBACK, json={"deployment": deployment, "labels": labels},
                         timeout=60)


def history(url, deployment, rid):
    r = requests.get(url + FEEDBACK + "/history", params={"deployment": deployment, "id": rid},
                     timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["labels"]


# ---------------------------------------------------------------- identity

def test_oip_id_is_generated_echoed_and_in_the_header(deployed):
    X, _ = sh.classifier_data(4)
    r = infer_clf(deployed.url, X[:1])
    assert r.status_code == 200, r.text
    rid = r.json()["id"]
    assert HEX32.match(rid), rid
    assert r.headers["X-Request-Id"] == rid
    r2 = infer_clf(deployed.url, X[:1])
    assert r2.json()["id"] != rid

    r = infer_clf(deployed.url, X[:1], rid="client-7")
    assert r.json()["id"] == "client-7" and r.headers["X-Request-Id"] == "client-7"
    # the header is honoured when the body has no id; the body's id wins over it
    r = infer_clf(deployed.url, X[:1], headers={"X-Request-Id": "hdr-1"})
    assert r.json()["id"] == "hdr-1" and r.headers["X-Request-Id"] == "hdr-1"
    r = infer_clf(deployed.url, X[:1], rid="body-1", headers={"X-Request-Id": "hdr-2"})
    assert r.json()["id"] == "body-1" and r.headers["X-Request-Id"] == "body-1"


def test_invocations_answer_with_x_request_id(deployed):
    X, _ = sh.classifier_data(4)
    body = {"dataframe_split": {"columns": ["input"], "data": [[list(map(float, X[0]))]]}}
    body = {"inputs": X[:2].tolist()}
    r = requests.post(f"{deployed.url}/deployments/fbclf/invocations", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert HEX32.match(r.headers["X-Request-Id"])
    r = requests.post(f"{deployed.url}/deployments/fbclf/invocations", json=body,
                      headers={"X-Request-Id": "inv-1"}, timeout=30)
    assert r.status_code == 200 and r.headers["X-Request-Id"] == "inv-1"


def test_the_log_holds_the_same_ids(deployed):
    X, _ = sh.classifier_data(4)
    rid = infer_clf(deployed.url, X[:3]).json()["id"]
    r = requests.get(deployed.url + "/api/2.0/capstan/predictions",
                     params={"deployment": "fbclf", "max_results": 1000}, timeout=30)
    assert r.status_code == 200, r.text
    ids = [p.get("request_id") for p in r.json()["predictions"]]
    assert rid in ids


@pytest.mark.parametrize("bad,why", [("a/b", "'/'"), ("a b", "space"), ("x" * 129, "1 to 128")])
def test_bad_request_ids_are_refused(deployed, bad, why):
    X, _ = sh.classifier_data(4)
    r = infer_clf(deployed.url, X[:1], rid=bad)
    assert r.status_code == 400 and why in r.json()["error"], r.text
    r = infer_clf(deployed.url, X[:1], headers={"X-Request-Id": bad})
    assert r.status_code == 400 and why in r.json()["error"], r.text


# ---------------------------------------------------------------- labels

def test_labels_join_per_row_and_unknown_ids_are_named(deployed):
    X, y = sh.classifier_data(20)
    r = infer_clf(deployed.url, X[:5])
    rid = r.json()["id"]
    pred = r.json()["outputs"][0]["data"]
    one = infer_clf(deployed.url, X[5:6]).json()["id"]
    labels = [{"id": f"{rid}/{k}", "label": int(y[k])} for k in range(5)]
    labels += [{"id": one, "label": int(y[5])}, {"id": "never-served", "label": 1},
               {"id": f"{rid}/9", "label": 0}]
    r = post_labels(deployed.url, "fbclf", labels)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 6, "unknown": ["never-served", f"{rid}/9"]}
    h = history(deployed.url, "fbclf", f"{rid}/3")
    assert len(h) == 1 and h[0]["label"] == str(int(y[3]))
    assert h[0]["prediction"] == str(int(pred[3])) and h[0]["current"] is True
    assert h[0]["source"] == "api" and h[0]["model_version"] == "1"
    # "<id>" and "<id>/0" name the same row of a one-row request
    assert history(deployed.url, "fbclf", f"{one}/0")[0]["label"] == str(int(y[5]))


def test_second_label_replaces_the_first_and_keeps_history(deployed):
    X, _ = sh.classifier_data(4)
    rid = infer_clf(deployed.url, X[:1]).json()["id"]
    assert post_labels(deployed.url, "fbclf", [{"id": rid, "label": 0}]).json()["accepted"] == 1
    r = post_labels(deployed.url, "fbclf",
                    [{"id": rid, "label": 1, "time": "2026-12-05T10:00:00.250Z"}])
    assert r.json()["accepted"] == 1
    h = history(deployed.url, "fbclf", rid)
    assert [x["label"] for x in h] == ["0", "1"]
    assert [x["current"] for x in h] == [False, True]
    assert h[1]["label_ms"] == 1796464800250


def test_regressor_takes_values(deployed):
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    r = requests.post(f"{deployed.url}/v2/models/fbreg/infer", json=sh.oip_body(x), timeout=30)
    rid = r.json()["id"]
    got = r.json()["outputs"][0]["data"]
    r = post_labels(deployed.url, "fbreg", [{"id": f"{rid}/0", "value": 4.5},
                                             {"id": f"{rid}/1", "label": 2}])
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    h = history(deployed.url, "fbreg", f"{rid}/1")
    assert h[0]["value"] == 2 and h[0]["pred_value"] == pytest.approx(got[1], rel=1e-6)


def stored(url, deployment, rid):
    return len(history(url, deployment, rid))


def test_bad_labels_are_refused_whole(deployed):
    url = deployed.url
    X, _ = sh.classifier_data(4)
    rid = infer_clf(url, X[:2]).json()["id"]
    one = infer_clf(url, X[:1]).json()["id"]
    good = {"id": one, "label": 1}
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    reg = requests.post(f"{url}/v2/models/fbreg/infer", json=sh.oip_body(x), timeout=30).json()["id"]
    cases = [
        ("fbclf", [good, {"id": rid, "label": 1}], 400, "has 2 rows: name one"),
        # the request named twice: read once for both, the same refusal
        ("fbclf", [good, {"id": f"{rid}/1", "label": 1}, {"id": rid, "label": 1}], 400,
         "labels[2]: request '%s' has 2 rows: name one" % rid),
        ("fbclf", [good, {"id": "a/b/c", "label": 1}], 400, "labels[1]"),
        ("fbclf", [good, {"id": "x/abc", "label": 1}], 400, "not a number"),
        ("fbclf", [good, {"id": one, "value": 1.5}], 400, "classifier"),
        ("fbclf", [good, {"id": one, "label": 0.5}], 400, "classifier"),
        ("fbclf", [good, {"id": one}], 400, "exactly one of"),
        ("fbclf", [good, {"id": one, "lable": 1}], 400, "unknown field 'lable'"),
        ("fbclf", [good, {"id": one, "label": 1, "time": "yesterday"}], 400, "RFC 3339"),
        ("fbreg", [{"id": reg, "label": "cat"}], 400, "regressor"),
        ("fbclf", [good] * 10001, 400, "10001 labels"),
        ("fbclf", [], 400, "1 to 10000"),
        ("nope", [good], 404, "nope"),
    ]
    for dep, labels, status, msg in cases:
        r = post_labels(url, dep, labels)
        assert r.status_code == status and msg in r.json()["message"], (labels[:2], r.text)
    assert stored(url, "fbclf", one) == 0  # the good label of each refused request is not kept
    r = requests.post(url + FEEDBACK, json={"deployment": "fbclf"}, timeout=30)
    assert r.status_code == 400 and "labels" in r.json()["message"]


def test_cli_sends_a_file_in_batches(deployed, tmp_path):
    X, y = sh.classifier_data(30)
    ids = []
    for k in range(0, 30, 10):
        rid = infer_clf(deployed.url, X[k:k + 10]).json()["id"]
        ids += [f"{rid}/{j}" for j in range(10)]
    f = tmp_path / "labels.csv"
    f.write_text("id,label\n" + "".join(f"{i},{int(v)}\n" for i, v in zip(ids, y))
                 + "missing-id,1\n")
    p = subprocess.run([BIN, "feedback", "send", "fbclf", "--file", str(f), "--batch", "7",
                        "--server", deployed.url], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    import json
    assert json.loads(p.stdout) == {"accepted": 30, "unknown": ["missing-id"]}
    assert history(deployed.url, "fbclf", ids[17])[0]["label"] == str(int(y[17]))

    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nok-1,1\nnot/an/id,0\n")
    p = subprocess.run([BIN, "feedback", "send", "fbclf", "--file", str(bad),
                        "--server", deployed.url], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "line 3" in p.stderr, p.stderr
    nohdr = tmp_path / "nohdr.csv"
    nohdr.write_text("rid,y\na,1\n")
    p = subprocess.run([BIN, "feedback", "send", "fbclf", "--file", str(nohdr),
                        "--server", deployed.url], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "id and label" in p.stderr, p.stderr


def test_labels_survive_a_restart(tmp_path):
    s = Server(tmp_path / "data").start()
    try:
        sh.deploy(s.url, sh.logistic_model(), "rclf", "restart")
        X, _ = sh.classifier_data(4)
        body = sh.oip_body(X[:1].astype(np.float32), name="input")
        rid = requests.post(f"{s.url}/v2/models/rclf/infer", json=body, timeout=30).json()["id"]
        assert post_labels(s.url, "rclf", [{"id": rid, "label": 1}]).json()["accepted"] == 1
    finally:
        s.assert_clean_exit(s.stop())
    s = Server(tmp_path / "data").start()
    try:
        assert history(s.url, "rclf", rid)[0]["label"] == "1"
        # the key index survived too: a late label after the restart joins
        assert post_labels(s.url, "rclf", [{"id": rid, "label": 0}]).json()["accepted"] == 1
        assert [x["label"] for x in history(s.url, "rclf", rid)] == ["1", "0"]
    finally:
        s.assert_clean_exit(s.stop())


# ---------------------------------------------------------------- quality

def quality(url, deployment, **params):
    r = requests.get(url + FEEDBACK + "/quality", params={"deployment": deployment, **params},
                     timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["windows"]


def classify(url, X, deployment="fbclf"):
    """OIP answers of the logistic regression: ids per row, labels, P(class 1)."""
    r = infer_clf(url, X, deployment=deployment)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    rid = r.json()["id"]
    label = np.asarray(out["label"]["data"])
    proba = np.asarray(out["probabilities"]["data"], dtype=np.float64).reshape(len(X), 2)
    return [f"{rid}/{k}" for k in range(len(X))], label, proba


def test_classifier_quality_per_window_equals_sklearn(tmp_path):
    """Two phases of predictions split by a recorded instant; each window's
    numbers against scikit-learn's functions on the same rows."""
    from sklearn import metrics as skm
    import time

    s = Server(tmp_path / "q").start()
    try:
        sh.deploy(s.url, sh.logistic_model(), "fbclf", "q")
        X, y = sh.classifier_data()  # the model's own training rows: it is good on them
        t0 = int(time.time() * 1000) - 1
        phases = []
        for phase in (0, 1):
            ids, pred, proba = [], [], []
            for k in range(0, 200, 50):
                i, p, pr = classify(s.url, X[k:k + 50])
                ids += i
                pred.append(p)
                proba.append(pr)
            truth = y.copy()
            if phase:  # the concept shifts: a third of the second phase's labels flip
                truth[::3] = 1 - truth[::3]
            phases.append((ids, truth, np.concatenate(pred), np.vstack(proba)))
            time.sleep(0.02)
            if not phase:
                t_mid = int(time.time() * 1000)
                time.sleep(0.02)
        t1 = int(time.time() * 1000) + 1
        for ids, truth, _, _ in phases:  # late, and out of order
            labels = [{"id": i, "label": int(v)} for i, v in zip(ids, truth)][::-1]
            assert post_labels(s.url, "fbclf", labels).json()["accepted"] == len(ids)
        for (lo, hi), (ids, truth, pred, proba) in zip(((t0, t_mid), (t_mid, t1)), phases):
            w = quality(s.url, "fbclf", **{"from": lo, "to": hi})
            assert len(w) == 1 and w[0]["labelled"] == len(ids), w
            m = w[0]["metrics"]
            p1 = proba[:, 1]
            want = {
                "accuracy": skm.accuracy_score(truth, pred),
                "roc_auc": skm.roc_auc_score(truth, p1),
                "pr_auc": skm.average_precision_score(truth, p1),
                "log_loss": skm.log_loss(truth, proba, labels=[0, 1]),
            }
            for key, v in want.items():
                assert abs(m[key] - v) <= 1e-9, (key, m[key], v)
            for avg in ("binary", "macro", "weighted"):
                pr, rc, f1, _ = skm.precision_recall_fscore_support(truth, pred, average=avg,
                                                                      zero_division=0)
                got = m[avg]
                assert abs(got["precision"] - pr) <= 1e-9 and abs(got["recall"] - rc) <= 1e-9
                assert abs(got["f1"] - f1) <= 1e-9, (avg, got, f1)
            assert m["confusion_matrix"] == skm.confusion_matrix(truth, pred).tolist()
            assert [c["class"] for c in m["classes"]] == ["0", "1"]
        # by segment: phase one's rows cut into 4 equal-width bins of f0, each bin's
        # accuracy and F1 against scikit-learn on the bin's rows
        ids, truth, pred, _ = phases[0]
        seg = quality(s.url, "fbclf", **{"from": t0, "to": t_mid, "segment": "f0",
                                         "bins": 4})[0]["segments"]
        f0 = X[:, 0].astype(np.float64)
        lo, hi = f0.min(), f0.max()
        width = (hi - lo) / 4
        b = np.minimum(((f0 - lo) / width).astype(int), 3)
        groups = sorted(seg["groups"], key=lambda g: float(g["segment"][1:].split(",")[0]))
        assert seg["column"] == "f0" and len(groups) == len(set(b))
        for g, k in zip(groups, sorted(set(b))):
            rows = b == k
            assert g["labelled"] == int(rows.sum())
            assert abs(g["metrics"]["accuracy"] - skm.accuracy_score(truth[rows], pred[rows])) <= 1e-12
        for params, msg in (({"segment": "f0"}, "bins"), ({"segment": "nope"}, "named 'nope'"),
                            ({"bins": 3}, "segment column")):
            r = requests.get(s.url + FEEDBACK + "/quality",
                             params={"deployment": "fbclf", "from": t0, "to": t_mid, **params},
                             timeout=30)
            assert r.status_code == 400 and msg in r.json()["message"], (params, r.text)
        # the shifted phase is visibly worse
        both = quality(s.url, "fbclf", **{"from": t0, "to": t1, "width_s": 0})
        assert len(both) == 1 and both[0]["labelled"] == 400
        a = [quality(s.url, "fbclf", **{"from": lo, "to": hi})[0]["metrics"]["accuracy"]
             for lo, hi in ((t0, t_mid), (t_mid, t1))]
        assert a[1] < a[0] - 0.1, a  # (deterministic: 0.655 vs 0.55)
        # a label replaced changes the window's numbers
        ids, truth, pred, _ = phases[0]
        flip = [{"id": i, "label": int(1 - v)} for i, v in zip(ids[:20], truth[:20])]
        assert post_labels(s.url, "fbclf", flip).json()["accepted"] == 20
        truth2 = truth.copy()
        truth2[:20] = 1 - truth2[:20]
        m = quality(s.url, "fbclf", **{"from": t0, "to": t_mid})[0]["metrics"]
        assert abs(m["accuracy"] - skm.accuracy_score(truth2, pred)) <= 1e-12
        r = requests.get(s.url + FEEDBACK + "/quality",
                         params={"deployment": "fbclf", "from": 10, "to": 5}, timeout=30)
        assert r.status_code == 400 and "'to' must be after 'from'" in r.json()["message"]
        r = requests.get(s.url + FEEDBACK + "/quality",
                         params={"deployment": "fbclf", "positive_class": "7"}, timeout=30)
        assert r.status_code == 400 and "positive_class '7'" in r.json()["message"], r.text
    finally:
        s.assert_clean_exit(s.stop())


def test_regressor_quality_equals_sklearn(deployed):
    from sklearn import metrics as skm
    import time

    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    t0 = int(time.time() * 1000) - 1
    r = requests.post(f"{deployed.url}/v2/models/fbreg/infer", json=sh.oip_body(x), timeout=30)
    rid = r.json()["id"]
    pred = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float64)
    pred = pred[:90]  # 90 of the 120 rows get labels: coverage 0.75
    truth = pred + rng.normal(scale=0.5, size=len(pred))
    truth[5] = 0.0  # MAPE's epsilon rule
    labels = [{"id": f"{rid}/{k}", "value": float(v)} for k, v in enumerate(truth)]
    assert post_labels(deployed.url, "fbreg", labels).json()["accepted"] == len(truth)
    w = quality(deployed.url, "fbreg", **{"from": t0, "to": int(time.time() * 1000) + 1})
    assert len(w) == 1 and w[0]["task"] == "regression"
    assert w[0]["labelled"] == 90 and w[0]["predictions"] == 120 and w[0]["coverage"] == 0.75
    m = w[0]["metrics"]
    want = {"mae": skm.mean_absolute_error(truth, pred),
            "rmse": skm.root_mean_squared_error(truth, pred),
            "mape": skm.mean_absolute_percentage_error(truth, pred),
            "r2": skm.r2_score(truth, pred),
            "mean_error": float(np.mean(pred - truth))}
    for key, v in want.items():
        assert abs(m[key] - v) <= 1e-9 * max(1.0, abs(v)), (key, m[key], v)

    # label shift: a later window's targets 5 above, against the first window's
    from scipy import stats

    t1 = int(time.time() * 1000) + 1
    time.sleep(0.01)
    x2 = rng.normal(size=(60, 3)).astype(np.float32)
    r = requests.post(f"{deployed.url}/v2/models/fbreg/infer", json=sh.oip_body(x2), timeout=30)
    rid2 = r.json()["id"]
    truth2 = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float64) + 5.0
    labels2 = [{"id": f"{rid2}/{k}", "value": float(v)} for k, v in enumerate(truth2)]
    assert post_labels(deployed.url, "fbreg", labels2).json()["accepted"] == 60
    (w2,) = quality(deployed.url, "fbreg", **{"from": t1, "to": int(time.time() * 1000) + 1,
                                              "reference_from": t0, "reference_to": t1})
    shift = w2["label_shift"]
    p = stats.ks_2samp(truth, truth2).pvalue
    assert shift["stattest"] == "ks" and shift["drift_detected"] is True, shift
    assert abs(shift["drift_score"] - p) <= 1e-12 + 1e-9 * p, (shift, p)


# ---------------------------------------------------------------- concept drift

def river_positions(make, errors):
    """river's drift indices and warning starts over the stream."""
    d = make()
    drifts, warn_starts, warn = [], [], False
    for i, x in enumerate(errors):
        d.update(x)
        if d.drift_detected:
            drifts.append(i)
        w = bool(getattr(d, "warning_detected", False))
        if w and not warn:
            warn_starts.append(i)
        warn = w
    return drifts, warn_starts


def test_detectors_flag_where_river_does_across_a_restart(tmp_path):
    """The error stream (label != prediction, in the order labels arrive)
    through DDM, HDDM_A and ADWIN in the server, and through river 0.26 in
    the test: the same drift positions and warning starts, with the server
    restarted halfway through the labels."""
    from river.drift import ADWIN
    from river.drift.binary import DDM, HDDMA

    data = tmp_path / "d"
    s = Server(data).start()
    try:
        sh.deploy(s.url, sh.logistic_model(), "dclf", "d")
        for name, spec in (("ddm", {"type": "ddm"}), ("hddm", {"type": "hddm_a"}),
                           ("adwin", {"type": "adwin", "delta": 0.01})):
            r = requests.post(s.url + FEEDBACK + "/detectors",
                              json={"deployment": "dclf", "name": name, "detector": spec},
                              timeout=30)
            assert r.status_code == 200, r.text
        rule = {"name": "drifting", "deployment": "dclf", "metric": "concept_drift",
                "detector": "ddm", "op": ">", "threshold": 0}
        r = requests.post(s.url + "/api/2.0/capstan/monitor/alerts/rules", json=rule, timeout=30)
        assert r.status_code == 200, r.text
        X, _ = sh.classifier_data()
        ids, preds = [], []
        for k in range(60):  # 3,000 predictions
            i, p, _ = classify(s.url, X[(k % 4) * 50:(k % 4) * 50 + 50], "dclf")
            ids += i
            preds += [int(v) for v in p]
        rng = np.random.default_rng(11)
        # the concept moves after 1,500 labels: 8% wrong, then 45% wrong
        wrong = np.concatenate([rng.random(1500) < 0.08, rng.random(1500) < 0.45])
        labels = [{"id": i, "label": (1 - p) if w else p} for i, p, w in zip(ids, preds, wrong)]
        errors = [int(w) for w in wrong]
        for j in range(0, 1500, 300):
            r = post_labels(s.url, "dclf", labels[j:j + 300])
            assert r.json()["accepted"] == 300, r.json()["unknown"][:5]
    finally:
        s.assert_clean_exit(s.stop())
    s = Server(data).start()
    try:
        for j in range(1500, 3000, 250):
            assert post_labels(s.url, "dclf", labels[j:j + 250]).json()["accepted"] == 250
        r = requests.get(s.url + FEEDBACK + "/detectors", params={"deployment": "dclf"},
                         timeout=30)
        listed = {d["name"]: d for d in r.json()["detectors"]}
        assert listed["adwin"]["detector"] == {"type": "adwin", "delta": 0.01, "clock": 32,
                                               "max_buckets": 5, "min_window_length": 5,
                                               "grace_period": 10}
        for name, make in (("ddm", DDM), ("hddm", HDDMA),
                           ("adwin", lambda: ADWIN(delta=0.01))):
            want_drifts, want_warns = river_positions(make, errors)
            assert want_drifts, f"river's {name} flags no drift: the stream proves nothing"
            r = requests.get(s.url + FEEDBACK + "/detections",
                             params={"deployment": "dclf", "name": name}, timeout=30)
            got = r.json()["detections"][::-1]
            assert [d["position"] for d in got if d["kind"] == "drift"] == want_drifts, name
            assert [d["position"] for d in got if d["kind"] == "warning"] == want_warns, name
            assert all(d["id"] == ids[d["position"]] for d in got)
            assert listed[name]["seen"] == 3000 and listed[name]["drifts"] == len(want_drifts)
        # a detection is an alert: the rule fires at each batch holding a DDM drift and
        # resolves at the next one without
        batches = [(j, j + 300) for j in range(0, 1500, 300)]
        batches += [(j, j + 250) for j in range(1500, 3000, 250)]
        ddm_drifts = river_positions(DDM, errors)[0]
        want, on = [], False
        for lo, hi in batches:
            hit = any(lo <= d < hi for d in ddm_drifts)
            if hit != on:
                want.append("firing" if hit else "resolved")
                on = hit
        ev = requests.get(s.url + "/api/2.0/capstan/monitor/alerts/events",
                          params={"deployment": "dclf"}, timeout=30).json()["events"]
        assert [e["state"] for e in ev][::-1] == want and want, (ev, want)
        bad = requests.post(s.url + FEEDBACK + "/detectors",
                            json={"deployment": "dclf", "name": "x",
                                  "detector": {"type": "adwin", "delta": 2}}, timeout=30)
        assert bad.status_code == 400 and "delta" in bad.json()["message"], bad.text
        bad = requests.post(s.url + FEEDBACK + "/detectors",
                            json={"deployment": "dclf", "name": "a b",
                                  "detector": {"type": "ddm"}}, timeout=30)
        assert bad.status_code == 400 and "detector name" in bad.json()["message"], bad.text
        r = requests.delete(s.url + FEEDBACK + "/detectors",
                            params={"deployment": "dclf", "name": "ddm"}, timeout=30)
        assert r.status_code == 200
        r = requests.delete(s.url + FEEDBACK + "/detectors",
                            params={"deployment": "dclf", "name": "ddm"}, timeout=30)
        assert r.status_code == 404
    finally:
        s.assert_clean_exit(s.stop())


# ---------------------------------------------------------------- estimated quality

def labels_only_model():
    """A classifier that answers classes only: argmax of x @ W, int64 [N]."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.array([[1.0, -1.0], [0.5, 0.2], [-0.3, 0.8], [0.1, 0.1]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["s"]),
         helper.make_node("ArgMax", ["s"], ["label"], axis=1, keepdims=0)],
        "labels_only", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None])],
        [numpy_helper.from_array(w, "W")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def nannyml_cbpe(chunk_size, metrics, ref, ana):
    """tests/feedback/nannyml_cbpe.py under .venv-nannyml on (proba, pred,
    truth) rows of the reference and the labelled analysis. The interpreter:
    CAPSTAN_NANNYML_PY, else the checkout's, else the one beside the venv
    running pytest (a worktree has no venvs of its own), as test_cbpe.py's."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    py = os.environ.get("CAPSTAN_NANNYML_PY",
                        os.path.join(root, ".venv-nannyml", "bin", "python"))
    beside = os.path.join(os.path.dirname(sys.prefix), ".venv-nannyml", "bin", "python")
    if not os.path.exists(py) and os.path.exists(beside):
        py = beside
    lines = [f"reference {len(ref[0])}"]
    lines += [f"{p!r} {q:g} {t:g}" for p, q, t in zip(*ref)]
    lines.append(f"analysis {len(ana[0])} labelled")
    lines += [f"{p!r} {q:g} {t:g}" for p, q, t in zip(*ana)]
    p = subprocess.run([py, os.path.join(root, "tests", "feedback", "nannyml_cbpe.py"),
                        str(chunk_size), metrics], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    import json
    return json.loads(p.stdout)


def test_cbpe_estimate_equals_nannyml(deployed):
    """A reference period of 1,000 labelled predictions, then 200 shifted
    ones: the window's CBPE estimate (value, sampling error, band,
    thresholds, alert) against nannyml's on the same rows, and the realised
    quality beside it against nannyml's realized."""
    import time

    url = deployed.url
    sh.deploy(url, sh.logistic_model(), "cbclf", "cbpe")
    X, y = sh.classifier_data()
    rng = np.random.default_rng(21)

    def phase(Xp, yp, per=100):
        t0 = int(time.time() * 1000) - 1
        ids, pred, proba = [], [], []
        for k in range(0, len(Xp), per):
            i, p, pr = classify(url, Xp[k:k + per], "cbclf")
            ids += i
            pred += [int(v) for v in p]
            proba += [float(v) for v in pr[:, 1]]
        labels = [{"id": i, "label": int(v)} for i, v in zip(ids, yp)]
        for k in range(0, len(labels), 500):  # in prediction order: the reference's order
            assert post_labels(url, "cbclf", labels[k:k + 500]).json()["accepted"] == len(
                labels[k:k + 500])
        time.sleep(0.01)
        return (proba, pred, [int(v) for v in yp]), t0, int(time.time() * 1000)

    ref, r0, r1 = phase(np.tile(X, (5, 1)), np.tile(y, 5))
    time.sleep(0.01)
    shifted = X + rng.normal(0.0, 1.5, size=X.shape).astype(np.float32)
    ana, a0, a1 = phase(shifted, y)
    metrics = "roc_auc,f1,precision,recall,accuracy"
    r = requests.get(url + FEEDBACK + "/estimate",
                     params={"deployment": "cbclf", "reference_from": r0, "reference_to": r1,
                             "from": a0, "to": a1, "chunk_size": 200, "metrics": metrics},
                     timeout=120)
    assert r.status_code == 200, r.text
    got = r.json()
    py = nannyml_cbpe(200, metrics, ref, ana)
    assert got["reference"]["rows"] == 1000 and got["reference"]["calibrated"] == py["calibrated"]
    (w,) = got["windows"]
    (chunk,) = py["analysis"]
    assert w["rows"] == 200 and w["labelled"] == 200
    pairs = {"value": "value", "sampling_error": "sampling_error",
             "lower_bound": "lower_confidence_boundary", "upper_bound": "upper_confidence_boundary",
             "lower_threshold": "lower_threshold", "upper_threshold": "upper_threshold"}
    for name in metrics.split(","):
        mine, theirs = w["estimated"][name], chunk["metrics"][name]
        for a, b in pairs.items():
            if theirs[b] is None:
                assert mine[a] is None, (name, a)
            else:
                assert abs(mine[a] - theirs[b]) <= 1e-6, (name, a, mine[a], theirs[b])
        assert mine["alert"] == theirs["alert"], name
    realised = w["realised"]
    assert abs(realised["accuracy"] - chunk["metrics"]["accuracy"]["realized"]) <= 1e-9
    assert abs(realised["roc_auc"] - chunk["metrics"]["roc_auc"]["realized"]) <= 1e-9
    assert abs(realised["binary"]["f1"] - chunk["metrics"]["f1"]["realized"]) <= 1e-9

    # refused: a regressor, an empty reference, an unknown metric
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    reg = requests.post(f"{url}/v2/models/fbreg/infer", json=sh.oip_body(x), timeout=30)
    post_labels(url, "fbreg", [{"id": reg.json()["id"], "value": 1.0}])
    sh.deploy(url, labels_only_model(), "noproba", "cbpe")
    t0 = int(time.time() * 1000) - 1
    r = requests.post(f"{url}/v2/models/noproba/infer", json=sh.oip_body(X[:4]), timeout=30)
    assert r.status_code == 200, r.text
    rid = r.json()["id"]
    post_labels(url, "noproba", [{"id": f"{rid}/{k}", "label": 1} for k in range(4)])
    for params, msg in (
        ({"deployment": "noproba", "reference_from": t0, "reference_to": t0 + 10**6},
         "logs no probabilities"),
        ({"deployment": "fbreg", "reference_from": 0, "reference_to": a1 + 10**6}, "regressor"),
        ({"deployment": "cbclf", "reference_from": 1, "reference_to": 2}, "No labelled"),
        ({"deployment": "cbclf", "reference_from": r0, "reference_to": r1, "metrics": "auc"},
         "auc"),
        ({"deployment": "cbclf", "reference_to": r1}, "reference_from"),
    ):
        r = requests.get(url + FEEDBACK + "/estimate", params=params, timeout=60)
        assert r.status_code == 400 and msg in r.json()["message"], (params, r.text)


# ---------------------------------------------------------------- quality alerts

class Hook(http.server.BaseHTTPRequestHandler):
    got = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with Hook.lock:
            Hook.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def firing(name):
    with Hook.lock:
        return [a for p in Hook.got for a in p["alerts"]
                if a["status"] == "firing" and a["labels"]["alertname"] == name]


def test_quality_alert_fires_once_through_the_webhook(tmp_path):
    """The loop end to end: predictions in two phases, the second phase's
    labels sent first (late, out of order, across a restart), the concept
    shifted so that phase two's accuracy is 0: the accuracy rule fires once
    at the webhook, and phase one's windows, judged after, change nothing."""
    import time

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url_hook = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    args = ["--alert-allow-private-webhooks"]
    data = tmp_path / "q"
    s = Server(data, args).start()
    try:
        sh.deploy(s.url, sh.logistic_model(), "qclf", "qa")
        rule = {"name": "acc-low", "deployment": "qclf", "metric": "accuracy", "op": "<",
                "threshold": 0.5, "for": 1, "window": 2, "min_labels": 20,
                "webhook": url_hook}
        r = requests.post(s.url + "/api/2.0/capstan/monitor/alerts/rules", json=rule, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["rule"]["rule"]["min_labels"] == 20
        X, _ = sh.classifier_data()
        phases = []
        for _ in range(2):  # each phase's rows judged alike whatever windows they fall in
            ids, preds = [], []
            for k in range(0, 200, 50):
                i, p, _ = classify(s.url, X[k:k + 50], "qclf")
                ids += i
                preds += [int(v) for v in p]
            phases.append((ids, preds))
            time.sleep(2.1)  # the next phase starts in a later window
        (a_ids, a_pred), (b_ids, b_pred) = phases
        wrong = [{"id": i, "label": 1 - p} for i, p in zip(b_ids, b_pred)][::-1]
        assert post_labels(s.url, "qclf", wrong[:100]).json()["accepted"] == 100
        # judged as the labels came (20 are enough): the window's quality on /metrics
        text = requests.get(s.url + "/metrics", timeout=30).text
        gauges = {lab["metric"]: v for n, lab, v in sh.parse_metrics(text)
                  if n == "capstan_model_quality" and lab.get("deployment") == "qclf"
                  and lab.get("window_s") == "2"}
        assert gauges["accuracy"] == 0.0 and gauges["f1"] == 0.0, gauges
        assert {"precision", "recall", "roc_auc", "pr_auc", "log_loss"} <= gauges.keys()
    finally:
        s.assert_clean_exit(s.stop())
    s = Server(data, args).start()
    try:
        assert post_labels(s.url, "qclf", wrong[100:]).json()["accepted"] == 100
        right = [{"id": i, "label": p} for i, p in zip(a_ids, a_pred)]
        assert post_labels(s.url, "qclf", right).json()["accepted"] == 200
        sh.wait_for(lambda: len(firing("acc-low")) == 1, what="the firing webhook")

        def delivered():
            ev = requests.get(s.url + "/api/2.0/capstan/monitor/alerts/events",
                              params={"deployment": "qclf"}, timeout=30).json()["events"]
            return ev if ev and all(e["delivery"] == "delivered" for e in ev) else None

        events = sh.wait_for(delivered, what="every event delivered")
        assert [e["state"] for e in events] == ["firing"], events
        assert events[0]["value"] == 0.0
        (a,) = firing("acc-low")
        assert a["labels"]["metric"] == "accuracy" and a["labels"]["deployment"] == "qclf"
        # a bad quality rule: no window, or min_labels on a drift rule
        for body, msg in (
            ({**rule, "name": "x", "window": None}, "Missing field 'window'"),
            ({"name": "y", "deployment": "qclf", "metric": "dataset_drift", "op": "==",
              "threshold": 1, "min_labels": 5}, "only for model-quality"),
        ):
            r = requests.post(s.url + "/api/2.0/capstan/monitor/alerts/rules", json=body,
                              timeout=30)
            assert r.status_code == 400 and msg in r.json()["message"], r.text
    finally:
        s.assert_clean_exit(s.stop())
    hook.shutdown()
