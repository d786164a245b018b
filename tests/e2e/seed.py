"""Test data for the browser tests, logged through the real mlflow client.

seed_demo(url) makes experiment "e2e-demo" with 12 runs (params lr, depth,
optimizer; metrics loss with a 60-step history, acc, and one run with a
5,000-step "long_loss" history so the chart must come downsampled), tags, a
dataset input, artifacts of every preview kind (text, JSON, CSV, PNG, an
MLmodel written by mlflow.onnx.save_model) and an ONNX model registered as
"e2e-model" with two versions and the alias "champion". It returns what the
tests compare the UI against.
"""
import json
import math
import os
import struct
import tempfile
import zlib

OPTIMIZERS = ["adam", "sgd", "rmsprop"]


def onnx_model():
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    b = helper.make_tensor("B", TensorProto.FLOAT, [2], [0.01, -0.01])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def png(width, height):
    """A small RGB gradient PNG, written by hand (no imaging library needed)."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 128))
                    for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def seed_demo(url):
    import mlflow
    import pandas as pd
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    exp_id = mlflow.create_experiment("e2e-demo")
    mlflow.create_experiment("e2e-other")
    runs = []
    frame = pd.DataFrame({"x1": [1.0, 2.0, 3.0], "x2": [0.5, 0.1, 0.2], "y": [0, 1, 1]})
    ds = mlflow.data.from_pandas(frame, source="s3://bucket/fraud.csv", name="fraud-train")
    for i in range(12):
        lr = [0.1, 0.03, 0.01, 0.003][i % 4]
        opt = OPTIMIZERS[i % 3]
        depth = 2 + i % 5
        acc = round(0.6 + 0.03 * i - 0.01 * (i % 3), 4)
        with mlflow.start_run(experiment_id=exp_id, run_name=f"trial-{i:02d}") as r:
            mlflow.log_params({"lr": lr, "optimizer": opt, "depth": depth})
            mlflow.set_tags({"team": "fraud" if i % 2 else "risk", "mlflow.source.name": "train.py",
                             "mlflow.source.git.commit": f"{i:07x}deadbeef"})
            t0 = 1_700_000_000_000 + i * 3_600_000
            hist = [Metric("loss", round(2.0 * math.exp(-0.05 * s * (1 + i / 12)) + 0.01 * (s % 7), 5), t0 + s * 1000, s)
                    for s in range(60)]
            client.log_batch(r.info.run_id, metrics=hist + [Metric("acc", acc, t0 + 60_000, 59)])
            if i == 0:
                long = [Metric("long_loss", 1.0 / (1 + s / 100.0), t0 + s * 100, s) for s in range(5000)]
                for k in range(0, len(long), 1000):
                    client.log_batch(r.info.run_id, metrics=long[k:k + 1000])
                mlflow.log_input(ds, context="training")
                with tempfile.TemporaryDirectory() as d:
                    with open(os.path.join(d, "notes.txt"), "w") as f:
                        f.write("first line\nsecond line\n")
                    with open(os.path.join(d, "config.json"), "w") as f:
                        json.dump({"lr": lr, "layers": [64, 32], "nested": {"ok": True}}, f)
                    with open(os.path.join(d, "preds.csv"), "w") as f:
                        f.write('id,label,score\n1,fraud,0.91\n2,"ok, really",0.12\n3,ok,0.05\n')
                    os.makedirs(os.path.join(d, "plots"))
                    with open(os.path.join(d, "plots", "roc.png"), "wb") as f:
                        f.write(png(64, 48))
                    mlflow.log_artifacts(d)
                    mdir = os.path.join(d, "onnx_model")
                    mlflow.onnx.save_model(onnx_model(), mdir)
                    mlflow.log_artifacts(mdir, "model")
                first = mlflow.onnx.log_model(onnx_model(), name="m1")
                second = mlflow.onnx.log_model(onnx_model(), name="m2")
            runs.append({"id": r.info.run_id, "name": f"trial-{i:02d}", "lr": str(lr), "optimizer": opt,
                         "depth": str(depth), "acc": acc})
    v1 = mlflow.register_model(first.model_uri, "e2e-model")
    v2 = mlflow.register_model(second.model_uri, "e2e-model")
    client.set_registered_model_alias("e2e-model", "champion", v2.version)
    mlflow.set_tracking_uri(None)
    return {"experiment_id": exp_id, "runs": runs, "model": "e2e-model", "versions": [v1.version, v2.version],
            "dataset": "fraud-train", "long_run": runs[0]["id"]}


# ---------------------------------------------------------------- monitoring

MON_REF_ROWS = 300
MON_ROWS_PER_REQUEST = 30


def linear_onnx():
    """y = x @ W + b, x [N, 3] -> y [N, 1]: the input's columns are f0, f1, f2."""
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("W", TensorProto.FLOAT, [3, 1], [0.5, -1.25, 2.0])
    b = helper.make_tensor("B", TensorProto.FLOAT, [1], [0.5])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def mon_grid():
    """The reference: column j an even grid over [0, 10), in its own order."""
    base = [(i + 0.5) / MON_REF_ROWS * 10 for i in range(MON_REF_ROWS)]
    return [(base[i], base[(i * 7) % MON_REF_ROWS], base[(i * 11) % MON_REF_ROWS]) for i in range(MON_REF_ROWS)]


def mon_request(k):
    """An evenly spaced slice of the reference grid, a hair toward the middle
    per request so no row repeats (a duplicate fails data quality); f0 is
    moved 100 above the reference, so every window drifts on f0 (K-S p-value
    ~1e-20) and on nothing else (f1, f2 within 0.04 of the reference's
    distribution: p-value ~1), however requests fall into windows."""
    step = MON_REF_ROWS // MON_ROWS_PER_REQUEST
    col = [5 + ((i + 0.5) / MON_REF_ROWS * 10 - 5) * (1 - k * 1e-4) for i in range(k % step, MON_REF_ROWS, step)]
    rows = [[c + 100, c, col[-1 - j]] for j, c in enumerate(col)]
    return {"inputs": [{"name": "x", "shape": [len(rows), 3], "datatype": "FP32", "data": [v for r in rows for v in r]}]}


def wait_until(pred, what, timeout=120.0):
    """Polls pred until it returns something true (the condition, not the
    time, ends the wait); fails after timeout with the last answer."""
    import time

    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def seed_monitoring(url):
    """Deployment "mon" (a baseline, an alert rule on f0's drift score, two
    batches of traffic, so at least two windows of 1 s) and "mon-bare" (no
    baseline, no traffic). Returns the windows API's answer for "mon"."""
    import mlflow
    import requests

    mlflow.set_tracking_uri(url)
    with mlflow.start_run():
        info = mlflow.onnx.log_model(linear_onnx(), name="model", registered_model_name="mon-model",
                                     pip_requirements=["onnx", "onnxruntime"])
    mlflow.set_tracking_uri(None)
    version = str(info.registered_model_version)
    dep = url + "/api/2.0/capstan/deployments"
    for name in ("mon", "mon-bare"):
        r = requests.post(dep, json={"name": name, "model": f"mon-model/{version}"}, timeout=60)
        assert r.status_code == 200, r.text
    csv = "f0,f1,f2\n" + "\n".join(",".join(repr(v) for v in row) for row in mon_grid())
    r = requests.post(url + "/api/2.0/capstan/monitor/baselines", params={"target": "deployment:mon", "format": "csv"},
                      data=csv.encode(), timeout=60)
    assert r.status_code == 200, r.text
    rule = {"name": "f0-drift", "deployment": "mon", "metric": "drift_score", "column": "f0", "op": "<",
            "threshold": 0.05, "for": 1, "severity": "warning"}
    r = requests.post(url + "/api/2.0/capstan/monitor/alerts/rules", json=rule, timeout=60)
    assert r.status_code == 200, r.text
    wait_until(lambda: requests.get(f"{dep}/mon", timeout=60).json()["deployment"]["status"].get("state") == "READY",
               "deployment mon ready")
    windows = url + "/api/2.0/capstan/monitor/windows"

    def base_rows():
        ws = requests.get(windows, params={"deployment": "mon", "width": 1}, timeout=60).json()["windows"]
        return sum(w["rows"] for w in ws)

    sent = 0
    s = requests.Session()
    # Two batches: the second starts once the first is in closed windows, so
    # it lands in later ones.
    for batch in range(2):
        for k in range(4):
            r = s.post(url + "/v2/models/mon/infer", json=mon_request(batch * 4 + k), timeout=60)
            assert r.status_code == 200, r.text
            sent += MON_ROWS_PER_REQUEST
        wait_until(lambda: base_rows() == sent, f"{sent} rows in closed windows")
    out = requests.get(windows, params={"deployment": "mon", "width": 1}, timeout=60).json()
    events = requests.get(url + "/api/2.0/capstan/monitor/alerts/events", params={"deployment": "mon"}, timeout=60).json()
    # ground truth for every logged row, each 0.5 above its prediction (MAE 0.5)
    preds = requests.get(url + "/api/2.0/capstan/predictions", params={"deployment": "mon", "max_results": 10000},
                         timeout=60).json()["predictions"]
    labels = [{"id": f'{p["request_id"]}/{k}', "value": float(row[0]) + 0.5}
              for p in preds if p["role"] == "primary" for k, row in enumerate(p["outputs"]["y"])]
    r = requests.post(url + "/api/2.0/capstan/feedback", json={"deployment": "mon", "labels": labels}, timeout=60)
    assert r.status_code == 200 and r.json()["accepted"] == sent, r.text
    quality = requests.get(url + "/api/2.0/capstan/feedback/quality",
                           params={"deployment": "mon", "width_s": 1, "from": out["windows"][0]["start_ms"]},
                           timeout=60).json()["windows"]
    return {"name": "mon", "bare": "mon-bare", "rows": sent, "windows": out["windows"],
            "widths": out.get("widths_s", []), "events": events.get("events", []), "quality": quality}


def seed_review(url):
    """Deployment "rv" (the integration tests' logistic regression) with a
    review rule on confidence below 0.7 and 200 predictions; returns the
    low-confidence rows' ids in log order (from the OIP answers) and the
    deployment's name."""
    import sys

    import numpy as np
    import requests

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
    import serving_helpers as sh

    sh.deploy(url, sh.logistic_model(), "rv", "review-e2e")
    r = requests.post(url + "/api/2.0/capstan/review/rules",
                      json={"deployment": "rv", "rule": {"confidence_below": 0.7}}, timeout=60)
    assert r.status_code == 200, r.text
    X, _ = sh.classifier_data()
    low = []
    for k in range(0, 200, 50):
        body = sh.oip_body(X[k:k + 50].astype(np.float32), name="input")
        out = requests.post(url + "/v2/models/rv/infer", json=body, timeout=60).json()
        proba = next(o for o in out["outputs"] if o["name"] == "probabilities")["data"]
        low += [f'{out["id"]}/{j}' for j in range(50) if max(proba[2 * j], proba[2 * j + 1]) < 0.7]
    return {"name": "rv", "low": low}
