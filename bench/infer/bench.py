"""bench.py - libcapstan-infer against onnxruntime on the same models and
rows, single-threaded on both sides (onnxruntime: intra_op_num_threads=1,
inter_op_num_threads=1, sequential execution, CPU provider).

Capstan is timed through the C harness (bench_infer.c, one context, caller
buffers); onnxruntime through its Python API with pre-built numpy inputs.
Prints microseconds per row at batch 1, 100 and 10,000, load time and
resident-memory growth per model, and the Capstan/ORT time ratio.

Then two whole-process measurements, each in a fresh process per runtime
and model:
  * the batch path: `capstan predict --model M --input X.npy --output o.csv
    --batch 10000` against ort_predict.py (np.load, sess.run in batches of
    10,000, np.savetxt) over --predict-rows rows; wall time from process
    start to exit (start-up, file I/O and CSV formatting included), median
    of --runs runs, plus each process's peak RSS (ru_maxrss from wait4);
  * peak memory for one 100-row batch: the C harness's VmHWM against a
    fresh `python -c` that imports onnxruntime and numpy, loads the model
    and runs the batch (its VmHWM raw, and the increment over the VmHWM
    just after the imports - the figure compared).

The last line is the headline: the time ratio (geometric mean over the
harness cells), extended with the predict-path and peak-memory ratios.

    .venv/bin/python bench/infer/bench.py --harness build/rel/bench/infer/bench_infer \
        [--capstan build/rel/capstan] [--seconds 0.5] [--repeat 1] [--predict-rows 100000] [--runs 3]
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


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PREDICT_BATCH = 10000
MEM_ROWS = 100
MEM_RUNS = 17   # the harness with MIN_SECONDS 0 runs the batch 1 + 16 times

# a fresh process per model: VmHWM after the imports, then after loading the
# model and running the 100-row batch MEM_RUNS times
ORT_MEM = r"""
import sys
def hwm():
    with open("/proc/self/status") as f:
        for l in f:
            if l.startswith("VmHWM:"):
                return int(l.split()[1])
import numpy as np, onnxruntime as ort
h0 = hwm()
X = np.fromfile(sys.argv[2], dtype=np.float32).reshape(-1, int(sys.argv[3]))
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.log_severity_level = 3
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
for _ in range(int(sys.argv[4])):
    s.run(None, {name: X})
print(h0, hwm())
"""


def run_proc(harness, cmd):
    """Run cmd to completion under `harness --exec` (see bench_infer.c);
    return (wall seconds from fork to reap, peak RSS KB of that child)."""
    r = subprocess.run([harness, "--exec"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr[-2000:]}")
    j = json.loads(r.stdout)
    return j["wall_s"], j["maxrss_kb"]


def read_csv(path):
    with open(path) as f:
        head = f.readline().strip()
    return head, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def predict_path(harness, capstan, models, X, d, nrows, runs):
    """Whole-process wall time and peak RSS of `capstan predict` and of the
    equivalent onnxruntime Python script over nrows rows of .npy input."""
    Xp = np.ascontiguousarray(np.tile(X, (nrows // len(X) + 1, 1))[:nrows])
    npy = os.path.join(d, "predict.npy")
    np.save(npy, Xp)
    oc, oo = os.path.join(d, "capstan.csv"), os.path.join(d, "ort.csv")
    rows = []
    for name, p in models:
        cmd_c = [capstan, "predict", "--model", p, "--input", npy, "--output", oc, "--batch", str(PREDICT_BATCH)]
        cmd_o = [sys.executable, os.path.join(HERE, "ort_predict.py"), p, npy, oo, str(PREDICT_BATCH)]
        tc, to, mc, mo = [], [], [], []
        for _ in range(runs):   # interleaved, so background load hits both alike
            t, m = run_proc(harness, cmd_c)
            tc.append(t)
            mc.append(m)
            t, m = run_proc(harness, cmd_o)
            to.append(t)
            mo.append(m)
        hc, vc = read_csv(oc)
        ho, vo = read_csv(oo)
        if hc != ho or vc.shape != vo.shape:
            raise RuntimeError(f"{name}: outputs differ: capstan {hc!r} {vc.shape}, ort {ho!r} {vo.shape}")
        diff = float(np.max(np.abs(vc - vo)))
        rows.append((name, sorted(tc)[runs // 2], sorted(to)[runs // 2], max(mc), max(mo), diff))
    return rows


def peak_memory(harness, models, X, d):
    """Peak RSS (KB) of a fresh process per runtime and model that loads the
    model and runs one MEM_ROWS-row batch."""
    rows_file = os.path.join(d, "mem.f32")
    np.ascontiguousarray(X[:MEM_ROWS]).tofile(rows_file)
    out = []
    for name, p in models:
        r = subprocess.run([harness, p, rows_file, str(NF), str(MEM_ROWS), "0"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        j = json.loads(r.stdout)
        r = subprocess.run([sys.executable, "-c", ORT_MEM, p, rows_file, str(NF), str(MEM_RUNS)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        o0, o1 = map(int, r.stdout.split())
        out.append((name, j["hwm0_kb"], j["hwm_kb"], o0, o1))
    return out


def gmean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", required=True)
    ap.add_argument("--quick", action="store_true", help="smaller models and shorter timings")
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--capstan", default=os.path.join(ROOT, "build/rel/capstan"),
                    help="capstan binary for the predict path (built with make if missing)")
    ap.add_argument("--predict-rows", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3, help="whole-process runs per cell (median)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="timing rounds per harness cell, alternating capstan and onnxruntime; the fastest of each")
    a = ap.parse_args()
    if not os.path.exists(a.capstan) and a.capstan == os.path.join(ROOT, "build/rel/capstan"):
        subprocess.run(["make", "-s", "-C", ROOT, "build/rel/capstan"], check=True, stdout=sys.stderr)
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as d:
        models, X = build_models(d, a.quick)
        Xb = np.ascontiguousarray(np.tile(X, (max(1, 20000 // len(X)), 1))[:20000])
        rows_file = os.path.join(d, "rows.f32")
        Xb.tofile(rows_file)
        print(f"onnxruntime {ort.__version__}, single thread (intra_op=1, inter_op=1); "
              f"libcapstan-infer single thread; {NF} features; us/row; fastest of {a.repeat} round(s) per cell")
        hdr = f"{'model':26s} {'batch':>6s} {'capstan':>10s} {'ort':>10s} {'ratio':>7s}"
        print(hdr)
        ratios, extra = [], []
        for name, p in models:
            for b in BATCHES:
                # --repeat R: R alternating rounds, the fastest of each side
                # (on a shared machine, interference only ever adds time)
                cus, ous = [], []
                for _ in range(a.repeat):
                    cl, cr, cu = time_capstan(a.harness, p, rows_file, b, a.seconds)
                    ol, orss, ou = time_ort(p, Xb, b, a.seconds)
                    cus.append(cu)
                    ous.append(ou)
                cu, ou = min(cus), min(ous)
                ratios.append(cu / ou)
                print(f"{name:26s} {b:6d} {cu:10.3f} {ou:10.3f} {cu / ou:7.3f}", flush=True)
            extra.append((name, cl, ol, cr, orss, os.path.getsize(p)))
        print()
        print(f"{'model':26s} {'file KB':>8s} {'load ms capstan':>16s} {'load ms ort':>12s} "
              f"{'RSS KB capstan':>15s} {'RSS KB ort':>11s}")
        for name, cl, ol, cr, orss, sz in extra:
            print(f"{name:26s} {sz // 1024:8d} {cl:16.2f} {ol:12.2f} {cr:15d} {orss:11d}")
        gm = gmean(ratios)

        pp = predict_path(a.harness, a.capstan, models, X, d, a.predict_rows, a.runs)
        n = a.predict_rows
        print()
        print(f"batch path, whole process (start to exit), {n} rows of .npy in, CSV out, batch {PREDICT_BATCH}, "
              f"median of {a.runs}: `capstan predict` vs ort_predict.py (np.load, sess.run, np.savetxt)")
        print(f"{'model':26s} {'capstan s':>10s} {'ort s':>8s} {'capstan us/row':>15s} {'ort us/row':>11s} "
              f"{'ratio':>7s} {'peak KB capstan':>16s} {'peak KB ort':>12s} {'max |diff|':>11s}")
        for name, tc, to, mc, mo, diff in pp:
            print(f"{name:26s} {tc:10.3f} {to:8.3f} {tc / n * 1e6:15.3f} {to / n * 1e6:11.3f} {tc / to:7.3f} "
                  f"{mc:16d} {mo:12d} {diff:11.2e}")
        gp = gmean([tc / to for _, tc, to, *_ in pp])

        pm = peak_memory(a.harness, models, X, d)
        print()
        print(f"peak RSS (VmHWM, KB), fresh process per runtime and model, load + one {MEM_ROWS}-row batch; "
              f"ratio = capstan peak / ort increment over `import onnxruntime, numpy`")
        print(f"{'model':26s} {'capstan before load':>20s} {'capstan peak':>13s} {'ort after import':>17s} "
              f"{'ort peak':>9s} {'ort increment':>14s} {'ratio':>7s}")
        for name, c0, c1, o0, o1 in pm:
            print(f"{name:26s} {c0:20d} {c1:13d} {o0:17d} {o1:9d} {o1 - o0:14d} {c1 / max(1, o1 - o0):7.3f}")
        gmm = gmean([c1 / max(1, o1 - o0) for _, _, c1, o0, o1 in pm])
        print()
        print(f"headline: capstan/onnxruntime time ratio, geometric mean over {len(ratios)} cells = {gm:.3f}; "
              f"predict path (whole process) = {gp:.3f}; peak memory (capstan peak / ort increment) = {gmm:.3f}")


if __name__ == "__main__":
    sys.exit(main())
