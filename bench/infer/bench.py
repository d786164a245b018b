"""bench.py - libcapstan-infer against onnxruntime on the same models and
rows, single-threaded on both sides (onnxruntime: intra_op_num_threads=1,
inter_op_num_threads=1, sequential execution, CPU provider).

Capstan is timed through the C harness (bench_infer.c, one context, caller
buffers); onnxruntime through its Python API with pre-built numpy inputs.
Prints microseconds per row at batch 1, 100 and 10,000, load time and
resident-memory growth per model, and the Capstan/ORT time ratio; the last
line is the headline ratio (geometric mean over all cells).

    .venv/bin/python bench/infer/bench.py --harness build/rel/bench/infer/bench_infer
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
NF = 20


def _patch_onnx_helper():
    """skl2onnx 1.20 passes numpy bools in HistGradientBoosting attributes,
    which onnx.helper rejects; turn them into ints."""
    from onnx import helper
    orig = helper.make_attribute

    def make_attribute(key, value, *a, **kw):
        if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) for v in value]
        return orig(key, value, *a, **kw)
    helper.make_attribute = make_attribute
BATCHES = [1, 100, 10000]


def build_models(d, quick):
    _patch_onnx_helper()
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from skl2onnx import to_onnx
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    import lightgbm as lgb
    import xgboost as xgb
    X, y = make_classification(4000 if quick else 20000, NF, n_informative=12, random_state=0)
    X = X.astype(np.float32)
    s = 0.2 if quick else 1.0
    specs = [
        ("LogisticRegression", LogisticRegression(max_iter=300), "skl"),
        ("RandomForest(100,d10)", RandomForestClassifier(int(100 * s), max_depth=10, random_state=0, n_jobs=2), "skl"),
        ("GradientBoosting(300)", GradientBoostingClassifier(n_estimators=int(300 * s), max_depth=3, random_state=0), "skl"),
        ("XGBoost(500,d6)", xgb.XGBClassifier(n_estimators=int(500 * s), max_depth=6, n_jobs=2), "xgb"),
        ("LightGBM(500,31)", lgb.LGBMClassifier(n_estimators=int(500 * s), num_leaves=31, verbose=-1, n_jobs=2), "lgb"),
        ("HistGradientBoosting(200)", HistGradientBoostingClassifier(max_iter=int(200 * s), random_state=0), "skl"),
        ("MLP(3x256)", MLPClassifier(hidden_layer_sizes=(256, 256, 256), max_iter=5 if quick else 20, random_state=0), "skl"),
    ]
    out = []
    it = [("X", FloatTensorType([None, NF]))]
    for name, est, kind in specs:
        est.fit(X[:4000], y[:4000])
        if kind == "skl":
            onx = to_onnx(est, X[:1], options={id(est): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
        elif kind == "xgb":
            onx = convert_xgboost(est, initial_types=it, target_opset=15)
        else:
            onx = convert_lightgbm(est, initial_types=it, target_opset=15, zipmap=False)
        p = os.path.join(d, name.split("(")[0] + ".onnx")
        with open(p, "wb") as f:
            f.write(onx.SerializeToString())
        out.append((name, p))
    return out, X


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def time_ort(path, X, batch, min_s):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    r0 = rss_kb()
    t0 = time.perf_counter()
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1e3
    name = s.get_inputs()[0].name
    chunks = [X[i:i + batch] for i in range(0, len(X) - batch + 1, batch)][:64]
    s.run(None, {name: chunks[0]})
    rss = rss_kb() - r0
    calls = 0
    start = time.perf_counter()
    while True:
        for c in chunks:
            s.run(None, {name: c})
            calls += 1
        el = time.perf_counter() - start
        if el >= min_s:
            break
    return load_ms, rss, el / calls * 1e6 / batch


def time_capstan(harness, path, rows_file, batch, min_s):
    out = subprocess.run([harness, path, rows_file, str(NF), str(batch), str(min_s)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    r = json.loads(out.stdout)
    return r["load_ms"], r["rss_kb"], r["us_per_row"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", required=True)
    ap.add_argument("--quick", action="store_true", help="smaller models and shorter timings")
    ap.add_argument("--seconds", type=float, default=0.5)
    a = ap.parse_args()
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as d:
        models, X = build_models(d, a.quick)
        Xb = np.ascontiguousarray(np.tile(X, (max(1, 20000 // len(X)), 1))[:20000])
        rows_file = os.path.join(d, "rows.f32")
        Xb.tofile(rows_file)
        print(f"onnxruntime {ort.__version__}, single thread (intra_op=1, inter_op=1); "
              f"libcapstan-infer single thread; {NF} features; us/row")
        hdr = f"{'model':26s} {'batch':>6s} {'capstan':>10s} {'ort':>10s} {'ratio':>7s}"
        print(hdr)
        ratios, extra = [], []
        for name, p in models:
            for b in BATCHES:
                cl, cr, cu = time_capstan(a.harness, p, rows_file, b, a.seconds)
                ol, orss, ou = time_ort(p, Xb, b, a.seconds)
                ratios.append(cu / ou)
                print(f"{name:26s} {b:6d} {cu:10.3f} {ou:10.3f} {cu / ou:7.3f}", flush=True)
            extra.append((name, cl, ol, cr, orss, os.path.getsize(p)))
        print()
        print(f"{'model':26s} {'file KB':>8s} {'load ms capstan':>16s} {'load ms ort':>12s} "
              f"{'RSS KB capstan':>15s} {'RSS KB ort':>11s}")
        for name, cl, ol, cr, orss, sz in extra:
            print(f"{name:26s} {sz // 1024:8d} {cl:16.2f} {ol:12.2f} {cr:15d} {orss:11d}")
        gm = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print()
        print(f"headline: capstan/onnxruntime time ratio, geometric mean over {len(ratios)} cells = {gm:.3f}")


if __name__ == "__main__":
    sys.exit(main())
