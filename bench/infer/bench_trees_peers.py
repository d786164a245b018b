"""bench_trees_peers.py - the compiled tree engines' side of bench_trees.py,
run with .venv-bench-trees/bin/python (bench/infer/setup_peers.sh makes it:
lleaves 1.3 pins llvmlite 0.44, TL2cgen 1.0 reads treelite 4.1 models).

    build   WORKDIR NAME KIND MODEL ANNOT.f32 NF   compile NAME's artifacts into WORKDIR
    predict WORKDIR NAME KIND ROWS.f32 NF          write NAME.<engine>.py.f64 predictions
    time    WORKDIR NAME KIND ROWS.f32 NF SECONDS BATCHES   JSON line per (engine, batch)

KIND is "lgb" (a LightGBM model.txt: lleaves and tl2cgen) or "xgb" (an XGBoost
JSON model: tl2cgen only - lleaves reads LightGBM models alone).

Artifacts, all in WORKDIR (rebuilt only when missing):
  NAME.lleaves.o / .so       lleaves' object file (its compile cache, default
                             flags, host CPU) and a shared object linked from
                             it, whose forest_root the C harness calls;
  NAME.tl2cgen-<v>.so        TL2cgen's C compiled by gcc -O3 (its default),
                             v = default: no options; q: quantize=1 (thresholds
                             become integer bins); qa: quantize=1 plus branch
                             annotation (annotate_in, likely/unlikely from the
                             counts of ANNOT.f32, training rows);
  NAME.build.json            seconds each artifact took to build.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

VARIANTS = {"default": {}, "q": {"quantize": 1}, "qa": {"quantize": 1}}
PARALLEL_COMP = 4   # translation units per model: compile time only


def treelite_model(kind, path, workdir, name):
    import treelite
    if kind == "lgb":
        return treelite.frontend.load_lightgbm_model(path)
    # XGBoost 3.x writes a "cats" entry and a bracketed base_score that
    # treelite 4.1 does not parse; both are no-ops for numeric features
    with open(path) as f:
        j = json.load(f)
    j["learner"]["gradient_booster"]["model"].pop("cats", None)
    p = j["learner"]["learner_model_param"]
    p["base_score"] = p["base_score"].strip("[]")
    fixed = os.path.join(workdir, name + ".treelite.json")
    with open(fixed, "w") as f:
        json.dump(j, f)
    return treelite.frontend.load_xgboost_model(fixed)


def build(workdir, name, kind, path, annot_rows, nf):
    import tl2cgen
    info_path = os.path.join(workdir, name + ".build.json")
    info = json.load(open(info_path)) if os.path.exists(info_path) else {}
    base = os.path.join(workdir, name)
    if kind == "lgb" and not os.path.exists(base + ".lleaves.so"):
        import lleaves
        t = time.perf_counter()
        m = lleaves.Model(model_file=path)
        if os.path.exists(base + ".lleaves.o"):
            os.unlink(base + ".lleaves.o")
        m.compile(cache=base + ".lleaves.o")
        subprocess.run(["cc", "-shared", "-o", base + ".lleaves.so", base + ".lleaves.o"], check=True)
        info["lleaves"] = time.perf_counter() - t
        print(f"  {name}: lleaves compiled in {info['lleaves']:.1f} s", file=sys.stderr, flush=True)
    tm = None
    for v, params in VARIANTS.items():
        so = f"{base}.tl2cgen-{v}.so"
        if os.path.exists(so):
            continue
        if tm is None:
            tm = treelite_model(kind, path, workdir, name)
        t = time.perf_counter()
        params = dict(params, parallel_comp=PARALLEL_COMP)
        if v == "qa":
            X = np.fromfile(annot_rows, dtype=np.float32).reshape(-1, nf)
            ann = base + ".annotation.json"
            tl2cgen.annotate_branch(tm, tl2cgen.DMatrix(X), ann, nthread=1)
            params["annotate_in"] = ann
        tl2cgen.export_lib(tm, toolchain="gcc", libpath=so, params=params, nthread=2)
        info["tl2cgen-" + v] = time.perf_counter() - t
        print(f"  {name}: tl2cgen-{v} built in {info['tl2cgen-' + v]:.1f} s", file=sys.stderr, flush=True)
    with open(info_path, "w") as f:
        json.dump(info, f)
    print(json.dumps(info))


def engines(workdir, name, kind):
    """(engine name, predict(X) -> P(class 1), prepare(X) -> input) pairs, models loaded."""
    import tl2cgen
    base = os.path.join(workdir, name)
    out = []
    if kind == "lgb":
        import lleaves
        m = lleaves.Model(model_file=os.path.join(workdir, name + ".txt"))
        m.compile(cache=base + ".lleaves.o")   # loads the cached object, no compile
        # lleaves converts float32 to float64 inside predict, as a user would hit
        out.append(("lleaves-py", lambda X: m.predict(X, n_jobs=1), lambda X: X))
    p = tl2cgen.Predictor(base + ".tl2cgen-default.so", nthread=1)
    # DMatrix built beforehand, like the numpy inputs of the other engines
    out.append(("tl2cgen-py", lambda D: p.predict(D).reshape(-1), lambda X: tl2cgen.DMatrix(X)))
    return out


def predict(workdir, name, kind, rows, nf):
    X = np.fromfile(rows, dtype=np.float32).reshape(-1, nf)
    for eng, fn, prep in engines(workdir, name, kind):
        np.asarray(fn(prep(X)), dtype=np.float64).tofile(os.path.join(workdir, f"{name}.{eng}.f64"))


def time_engines(workdir, name, kind, rows, nf, seconds, batches):
    X = np.fromfile(rows, dtype=np.float32).reshape(-1, nf)
    for eng, fn, prep in engines(workdir, name, kind):
        for b in batches:
            chunks = [prep(X[i:i + b]) for i in range(0, len(X) - b + 1, b)][:64]
            fn(chunks[0])
            calls = 0
            start = time.perf_counter()
            while True:
                for c in chunks:
                    fn(c)
                    calls += 1
                el = time.perf_counter() - start
                if el >= seconds:
                    break
            print(json.dumps({"engine": eng, "batch": b, "us_per_row": el / calls / b * 1e6, "calls": calls}),
                  flush=True)


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "build":
        build(a[0], a[1], a[2], a[3], a[4], int(a[5]))
    elif cmd == "predict":
        predict(a[0], a[1], a[2], a[3], int(a[4]))
    elif cmd == "time":
        time_engines(a[0], a[1], a[2], a[3], int(a[4]), float(a[5]), [int(b) for b in a[6].split(",")])
    else:
        sys.exit(f"unknown command {cmd!r}: expected build, predict or time")


if __name__ == "__main__":
    main()
