"""bench_trees.py - libcapstan-infer's tree runtime against compiled tree
engines (issue 21), single thread everywhere, microseconds per row.

    make bench-trees BENCH_ARGS="--repeat 3 --seconds 0.2"
or, after `make build/rel/bench/infer/bench_trees` and `sh bench/infer/setup_peers.sh`:
    .venv/bin/python bench/infer/bench_trees.py --harness build/rel/bench/infer/bench_trees \
        [--repeat 3] [--seconds 0.2] [--trees 500,1000] [--xgb-depth 6] [--no-sweep] [--workdir build/bench-trees]

Models: binary classifiers on make_classification rows, 28 float features
(the width of HIGGS, the issue's data set), trained on --train-rows rows:
LightGBM num_leaves=31 and XGBoost max_depth=--xgb-depth (6, XGBoost's
default: at most 64 leaves, the LightGBM models' trees are 31 leaves and
deeper), 1,000 trees each; the 500-tree models are their first 500 trees.
Timed on --rows other rows (default 20,000), taken in turn.

Engines, side by side in one run, every one fed the same float32 rows:
  capstan-<isa>   libcapstan-infer through the C harness (bench_trees.c), the
                  ONNX model from onnxmltools, one context, caller-owned
                  outputs; each kernel level forced in turn with
                  infer_set_isa (avx512, avx2, portable); the level really in
                  force (infer_isa) is printed per cell;
  ort             onnxruntime, Python API, intra_op=inter_op=1, sequential,
                  same ONNX file, numpy inputs prepared beforehand;
  lleaves-c       lleaves 1.3's compiled object (host CPU, default flags),
                  linked into a .so, forest_root called from the C harness;
  lleaves-py      the same through lleaves.Model.predict(X, n_jobs=1);
  tl2cgen-c[-q|-qa] TL2cgen 1.0's generated C (gcc -O3), predict() called
                  per row from the C harness: default, quantize=1, and
                  quantize=1 + branch annotation from the training rows;
  tl2cgen-py      the default build through tl2cgen.Predictor(nthread=1).
lleaves reads LightGBM models only, so XGBoost rows have no lleaves cells.

Before any timing, every engine's probabilities (every Capstan level, at
batch 10,000, 7 and 1) are compared with LightGBM's / XGBoost's own
predict; a difference over --tol is printed as MISMATCH and the run exits 1
at the end (after timing, so that the figures are still seen).

Timing: --repeat rounds, each timing every engine in turn on every cell
(>= --seconds per cell); the fastest of the rounds is kept per cell (on this
shared machine interference only ever adds time). Capstan also runs the
batch sweep 1..64, to show whether any batch costs more per row than batch 1.

Artifacts (models, ONNX files, lleaves objects, tl2cgen libraries) are cached
in --workdir (build/bench-trees, git-ignored) keyed by the training settings;
the first run spends minutes compiling them (lleaves: ~100 s for 1,000 trees
on this machine), later runs reuse them. Compile times are printed.
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
NF = 28
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BATCHES = [1, 100, 10000]
SWEEP = [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 48, 64]
ISAS = ["avx512", "avx2", "portable"]
TL_VARIANTS = ["default", "q", "qa"]
FLAGS = ["sse4_2", "avx", "avx2", "fma", "bmi2", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni"]


def cpu_info():
    model, flags = "?", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    avx512 = sorted(x for x in flags if x.startswith("avx512"))
    present = [x for x in FLAGS if x in flags and not x.startswith("avx512")] + avx512
    return model, present, os.cpu_count()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --- models --------------------------------------------------------------

def train(wd, a):
    """1,000-tree LightGBM and XGBoost models (cached), their prefixes, the
    test rows and each model's reference probabilities."""
    from sklearn.datasets import make_classification
    n_total = a.train_rows + a.rows
    X, y = make_classification(n_total, NF, n_informative=14, n_redundant=6, random_state=0)
    X = X.astype(np.float32)
    Xtr, ytr, Xte = X[:a.train_rows], y[:a.train_rows], np.ascontiguousarray(X[a.train_rows:])
    Xte.tofile(os.path.join(wd, "rows.f32"))
    np.ascontiguousarray(Xtr[:5000]).tofile(os.path.join(wd, "annot.f32"))
    tmax = max(a.trees)
    lgb_full, xgb_full = os.path.join(wd, f"lgb{tmax}.full.txt"), os.path.join(wd, f"xgb{tmax}.full.json")
    import lightgbm as lgb
    import xgboost as xgb
    if not os.path.exists(lgb_full):
        t = time.perf_counter()
        m = lgb.LGBMClassifier(n_estimators=tmax, num_leaves=31, verbose=-1, n_jobs=2, random_state=0)
        m.fit(Xtr, ytr)
        m.booster_.save_model(lgb_full)
        log(f"  trained LightGBM({tmax}) in {time.perf_counter() - t:.1f} s")
    if not os.path.exists(xgb_full):
        t = time.perf_counter()
        m = xgb.XGBClassifier(n_estimators=tmax, max_depth=a.xgb_depth, n_jobs=2, random_state=0)
        m.fit(Xtr, ytr)
        m.get_booster().save_model(xgb_full)
        log(f"  trained XGBoost({tmax}) in {time.perf_counter() - t:.1f} s")
    models = []
    lb = lgb.Booster(model_file=lgb_full)
    xb = xgb.Booster(model_file=xgb_full)
    for t in a.trees:
        name = f"lgb{t}"
        path = os.path.join(wd, name + ".txt")
        if not os.path.exists(path):
            lb.save_model(path, num_iteration=t)
        ref = lgb.Booster(model_file=path).predict(Xte)
        models.append((f"LightGBM({t},31)", name, "lgb", path, ref))
    for t in a.trees:
        name = f"xgb{t}"
        path = os.path.join(wd, name + ".json")
        if not os.path.exists(path):
            xb[:t].save_model(path)
        ref = xgb.Booster(model_file=path).predict(xgb.DMatrix(Xte))
        models.append((f"XGBoost({t},d{a.xgb_depth})", name, "xgb", path, ref))
    return models, Xte


def to_onnx(wd, name, kind, path):
    out = os.path.join(wd, name + ".onnx")
    if os.path.exists(out):
        return out
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    it = [("X", FloatTensorType([None, NF]))]
    if kind == "lgb":
        import lightgbm as lgb
        onx = convert_lightgbm(lgb.Booster(model_file=path), initial_types=it, target_opset=15, zipmap=False)
    else:
        import xgboost as xgb
        m = xgb.XGBClassifier()
        m.load_model(path)
        onx = convert_xgboost(m, initial_types=it, target_opset=15)
    with open(out, "wb") as f:
        f.write(onx.SerializeToString())
    return out


# --- engines -------------------------------------------------------------

def harness(a, engine, model, args):
    r = subprocess.run([a.harness, engine, model, os.path.join(a.wd, "rows.f32"), str(NF)] + args,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{engine} {model}: exit {r.returncode}: {r.stderr[-2000:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def peers(a, *args):
    r = subprocess.run([a.peer_python, os.path.join(HERE, "bench_trees_peers.py")] + [str(x) for x in args],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"bench_trees_peers.py {args[0]}: exit {r.returncode}: {r.stderr[-3000:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def c_engines(a, name, kind):
    """(label, harness engine, library) for the C-called compiled engines."""
    base = os.path.join(a.wd, name)
    out = [("lleaves-c", "lleaves", base + ".lleaves.so")] if kind == "lgb" else []
    for v in TL_VARIANTS:
        out.append(("tl2cgen-c" + ("" if v == "default" else "-" + v), "tl2cgen", f"{base}.tl2cgen-{v}.so"))
    return out


def ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_prob(s, X):
    outs = s.run(None, {s.get_inputs()[0].name: X})
    p = outs[1]
    if isinstance(p, list):   # ZipMap: one {label: probability} per row
        return np.array([row[1] for row in p], dtype=np.float64)
    return np.asarray(p, dtype=np.float64)[:, 1]


def time_ort(s, X, batch, min_s):
    name = s.get_inputs()[0].name
    chunks = [X[i:i + batch] for i in range(0, len(X) - batch + 1, batch)][:64]
    s.run(None, {name: chunks[0]})
    calls, start = 0, time.perf_counter()
    while True:
        for c in chunks:
            s.run(None, {name: c})
            calls += 1
        el = time.perf_counter() - start
        if el >= min_s:
            return el / calls / batch * 1e6


# --- checks ----------------------------------------------------------------

def check(a, label, got, ref, failures):
    n = len(got)
    d = np.abs(got - ref[:n])
    bad = int(np.sum(~(d <= a.tol)))
    status = "ok" if bad == 0 else f"MISMATCH: {bad} of {n} rows over {a.tol:g}"
    print(f"  {label:44s} max |diff| {float(np.max(d)):.2e}  {status}", flush=True)
    if bad:
        failures.append(label)


def verify(a, models, Xte):
    failures = []
    print(f"check against the training library's own predict (tolerance {a.tol:g} on P(class 1)):")
    dump = os.path.join(a.wd, "dump.f64")
    for title, name, kind, path, ref in models:
        onnx = os.path.join(a.wd, name + ".onnx")
        for isa in a.isas:
            for b, n in ((10000, len(Xte)), (7, 2000), (1, 2000)):
                j = harness(a, "capstan", onnx, ["--dump", dump, str(b), str(n), isa])[0]
                check(a, f"{title} capstan-{isa} [{j['isa']}] batch {b}", np.fromfile(dump), ref, failures)
        check(a, f"{title} ort", ort_prob(ort_session(onnx), Xte), ref, failures)
        for label, eng, lib in c_engines(a, name, kind):
            for b in (10000, 1):
                harness(a, eng, lib, ["--dump", dump, str(b), str(len(Xte) if b > 1 else 2000)])
                check(a, f"{title} {label} batch {b}", np.fromfile(dump), ref, failures)
        peers(a, "predict", a.wd, name, kind, os.path.join(a.wd, "rows.f32"), NF)
        for eng in (["lleaves-py"] if kind == "lgb" else []) + ["tl2cgen-py"]:
            check(a, f"{title} {eng}", np.fromfile(os.path.join(a.wd, f"{name}.{eng}.f64")), ref, failures)
    print()
    return failures


# --- timing ----------------------------------------------------------------

def keep(best, key, us):
    best[key] = min(best.get(key, math.inf), us)


def time_round(a, models, Xte, best, level):
    sweep = sorted(set(BATCHES + (SWEEP if a.sweep else [])))
    for title, name, kind, path, ref in models:
        onnx = os.path.join(a.wd, name + ".onnx")
        for j in harness(a, "capstan", onnx, [str(a.seconds), ",".join(map(str, sweep)), ",".join(a.isas)]):
            keep(best, (name, "capstan-" + j["isa_asked"], j["batch"]), j["us_per_row"])
            level[(name, j["isa_asked"], j["batch"])] = j["isa"]
        s = ort_session(onnx)
        for b in BATCHES:
            keep(best, (name, "ort", b), time_ort(s, Xte, b, a.seconds))
        for label, eng, lib in c_engines(a, name, kind):
            for j in harness(a, eng, lib, [str(a.seconds), ",".join(map(str, BATCHES))]):
                keep(best, (name, label, j["batch"]), j["us_per_row"])
        for j in peers(a, "time", a.wd, name, kind, os.path.join(a.wd, "rows.f32"), NF, a.seconds,
                       ",".join(map(str, BATCHES))):
            keep(best, (name, j["engine"], j["batch"]), j["us_per_row"])


def report(a, models, best, level):
    cols = ["capstan-" + i for i in a.isas] + ["ort", "lleaves-c", "lleaves-py",
                                                  "tl2cgen-c", "tl2cgen-c-q", "tl2cgen-c-qa", "tl2cgen-py"]
    print(f"us per row, fastest of {a.repeat} round(s), >= {a.seconds} s per cell, single thread; "
          f"[level] = infer_isa() in force")
    hdr = f"{'model':20s} {'batch':>6s} " + " ".join(f"{c:>16s}" for c in cols)
    print(hdr)
    for title, name, kind, *_ in models:
        for b in BATCHES:
            cells = []
            for c in cols:
                us = best.get((name, c, b))
                if us is None:
                    cells.append(f"{'-':>16s}")
                elif c.startswith("capstan-"):
                    lv = level[(name, c[8:], b)]
                    cells.append(f"{us:9.3f} [{lv[:4]}]".rjust(16))
                else:
                    cells.append(f"{us:16.3f}")
            print(f"{title:20s} {b:6d} " + " ".join(cells))
    print()
    print("ratios (capstan / peer; < 1 means capstan is faster)")
    peers_ = ["lleaves-c", "ort", "tl2cgen-c"]
    hdr = f"{'model':20s} {'batch':>6s} " + " ".join(f"{i + '/' + p:>20s}" for p in peers_ for i in a.isas)
    print(hdr)
    ratios = {}
    for title, name, kind, *_ in models:
        for b in BATCHES:
            cells = []
            for p in peers_:
                for i in a.isas:
                    pu, cu = best.get((name, p, b)), best.get((name, "capstan-" + i, b))
                    if pu is None or cu is None:
                        cells.append(f"{'-':>20s}")
                        continue
                    r = cu / pu
                    ratios.setdefault((i, p), []).append(r)
                    cells.append(f"{r:20.3f}")
            print(f"{title:20s} {b:6d} " + " ".join(cells))
    return ratios


def report_sweep(a, models, best, level):
    print()
    print("capstan batch sweep, us per row (* = more per row than batch 1 at the same level)")
    print(f"{'model':20s} {'level':>9s} " + " ".join(f"{b:>7d}" for b in SWEEP))
    worse = []
    for title, name, *_ in models:
        for i in a.isas:
            b1 = best[(name, "capstan-" + i, 1)]
            cells = []
            for b in SWEEP:
                us = best[(name, "capstan-" + i, b)]
                star = "*" if us > b1 * 1.0 and b > 1 else " "
                if star == "*":
                    worse.append((title, level[(name, i, b)], b, us / b1))
                cells.append(f"{us:6.2f}{star}")
            print(f"{title:20s} {level[(name, i, 1)]:>9s} " + " ".join(cells))
    if worse:
        print("batches costing more per row than batch 1: " +
              ", ".join(f"{t} {lv} batch {b} (x{r:.2f})" for t, lv, b, r in worse))
    else:
        print("no batch in 2..64 costs more per row than batch 1")


def gmean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--harness", required=True, help="build/rel/bench/infer/bench_trees")
    ap.add_argument("--peer-python", default=os.path.join(ROOT, ".venv-bench-trees/bin/python"))
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build/bench-trees"))
    ap.add_argument("--seconds", type=float, default=0.2, help="minimum seconds per timed cell")
    ap.add_argument("--repeat", type=int, default=3, help="timing rounds; the fastest per cell is kept")
    ap.add_argument("--trees", default="500,1000")
    ap.add_argument("--xgb-depth", type=int, default=6)
    ap.add_argument("--train-rows", type=int, default=20000)
    ap.add_argument("--rows", type=int, default=20000, help="timed rows (>= 10,000)")
    ap.add_argument("--isas", default=",".join(ISAS))
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--no-sweep", dest="sweep", action="store_false")
    a = ap.parse_args()
    a.trees = [int(t) for t in a.trees.split(",")]
    a.isas = a.isas.split(",")
    if not os.path.exists(a.peer_python):
        sys.exit(f"{a.peer_python} missing: run sh bench/infer/setup_peers.sh first")
    key = hashlib.sha1(f"{a.train_rows}/{a.rows}/{max(a.trees)}/{a.xgb_depth}/v1".encode()).hexdigest()[:10]
    a.wd = os.path.join(a.workdir, key)
    os.makedirs(a.wd, exist_ok=True)
    t0 = time.perf_counter()

    model, ext, ncpu = cpu_info()
    import lightgbm
    import onnxruntime
    import xgboost
    print(f"CPU: {model}, {ncpu} logical CPUs")
    print(f"vector extensions: {' '.join(ext)}")
    print(f"lightgbm {lightgbm.__version__}, xgboost {xgboost.__version__}, onnxruntime {onnxruntime.__version__}; "
          f"{NF} float features, {a.rows} timed rows; workdir {a.wd}")
    log("models:")
    models, Xte = train(a.wd, a)
    build = {}
    for title, name, kind, path, ref in models:
        to_onnx(a.wd, name, kind, path)
        build[name] = peers(a, "build", a.wd, name, kind, path, os.path.join(a.wd, "annot.f32"), NF)[0]
    r = subprocess.run([a.peer_python, "-c", "import importlib.metadata as m; print(', '.join(p + ' ' + m.version(p) "
                        "for p in ('lleaves', 'llvmlite', 'tl2cgen', 'treelite')))"], capture_output=True, text=True)
    print(f"peers: {r.stdout.strip()}")
    print("build seconds (first run only; cached after): " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(b.items())) for name, b in build.items()))
    print()

    failures = verify(a, models, Xte)
    best, level = {}, {}
    for r_ in range(a.repeat):
        log(f"timing round {r_ + 1}/{a.repeat} ...")
        time_round(a, models, Xte, best, level)
    ratios = report(a, models, best, level)
    if a.sweep:
        report_sweep(a, models, best, level)
    print()
    print("headline (geometric mean of capstan / peer over the batch 1, 100, 10,000 cells of every model): " +
          "; ".join(f"{i}/{p} {gmean(v):.3f}" for (i, p), v in ratios.items()))
    print(f"total {time.perf_counter() - t0:.0f} s")
    if failures:
        print(f"MISMATCH in {len(failures)} check(s): {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
