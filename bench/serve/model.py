"""model.py - the data, the XGBoost model and the request bodies for the serving benchmark.

Data: the peers' generator (../shared/bench/peers/gen_data.py, run as a program, so the CSVs
are the peers' files: same rows and seeds give byte-identical files). Where that directory is
absent, a small generator of our own (`own_data`) with the same shape: 28 float features,
label from a nonlinear logit. The model: XGBoost hist, 100 rounds, depth 6, eta 0.1,
binary:logistic, nthread 2, trained on the float32 features as the peers' bench_xgb.py does.

Writes into --out (a temp dir, never the repo):
  train.csv, test.csv       generated data
  xgb_100.json              the booster (for the FastAPI peer)
  model.onnx                onnxmltools conversion, input "input" float [N, 28]
  mlflow_model/             the ONNX as an MLflow onnx-flavor model (for `mlflow models serve`)
  body_inputs.json          {"inputs": [[28 floats]]}: the first held-out row (the peers' body)
  row.json                  that row and the reference probabilities (xgboost, onnxruntime)
  stamp.json                the settings these files were made with; same settings = reused

    .venv/bin/python bench/serve/model.py --out /tmp/capstan-bench-serve/model [--rows 1000000]
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.abspath(os.path.join(HERE, "..", "..", "..", "shared", "bench", "peers"))
NF = 28
# base_score 0.5: XGBoost 1.7's default, which the peers trained with. XGBoost >= 2 estimates it
# from the labels instead and writes it in a form that 1.7 (the FastAPI peer's Debian
# python3-xgboost) reads back as 0.5, so the two would disagree (0.307 vs 0.281 on the body).
PARAMS = {"tree_method": "hist", "max_depth": 6, "eta": 0.1, "objective": "binary:logistic",
          "nthread": 2, "base_score": 0.5}
ROUNDS = 100


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] model: {msg}", file=sys.stderr, flush=True)


def own_data(path, rows, seed):
    """Fallback generator (used only without the peers' directory): 28 features, a few
    lognormal / normal / angle columns and their products, label ~ Bernoulli(sigmoid(.))."""
    import numpy as np
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.lognormal(0.0, 0.5, size=(rows, 7)),
        rng.normal(size=(rows, 7)),
        rng.uniform(-np.pi, np.pi, size=(rows, 7)),
        rng.normal(size=(rows, 7)),
    ])
    X[:, 21:] = X[:, :7] * np.cos(X[:, 14:21]) + 0.1 * X[:, 21:]
    z = 0.9 * (X[:, 0] - 1.1) + 0.6 * X[:, 7] * X[:, 8] + 0.5 * np.sin(X[:, 14]) - 0.4 * np.abs(X[:, 22])
    y = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    with open(path, "w") as f:
        f.write("label," + ",".join(f"f{i}" for i in range(NF)) + "\n")
        np.savetxt(f, np.column_stack([y, X]), fmt=["%d"] + ["%.7g"] * NF, delimiter=",")


def make_csv(path, rows, seed):
    gen = os.path.join(PEERS, "gen_data.py")
    if os.path.exists(gen):
        cmd = [sys.executable, gen, "--rows", str(rows), "--seed", str(seed), "--out", path]
        log("+ " + " ".join(cmd))
        subprocess.run(cmd, check=True)
        return "peers gen_data.py"
    log(f"{gen} not found: using bench/serve/model.py's own generator")
    own_data(path, rows, seed)
    return "bench/serve/model.py own_data"


def load(path):
    import numpy as np
    import pandas as pd
    df = pd.read_csv(path)
    return df.drop(columns=["label"]).to_numpy(dtype=np.float32), df["label"].to_numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000, help="training rows")
    ap.add_argument("--test-rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--test-seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    stamp = {"rows": a.rows, "test_rows": a.test_rows, "seed": a.seed, "test_seed": a.test_seed,
             "params": PARAMS, "rounds": ROUNDS, "version": 2}
    stamp_path = os.path.join(a.out, "stamp.json")
    try:
        with open(stamp_path) as f:
            old = json.load(f)
        if {k: old.get(k) for k in stamp} == stamp and os.path.exists(os.path.join(a.out, "row.json")):
            log(f"reusing {a.out} (same settings; delete it to rebuild)")
            print(json.dumps(old))
            return
    except (OSError, ValueError):
        pass

    import numpy as np
    import onnx
    import onnxruntime as ort
    import xgboost as xgb
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from sklearn.metrics import roc_auc_score

    train, test = os.path.join(a.out, "train.csv"), os.path.join(a.out, "test.csv")
    source = make_csv(train, a.rows, a.seed)
    make_csv(test, a.test_rows, a.test_seed)
    X, y = load(train)
    Xt, yt = load(test)
    t0 = time.perf_counter()
    bst = xgb.train(PARAMS, xgb.DMatrix(X, label=y, nthread=2), num_boost_round=ROUNDS)
    train_s = time.perf_counter() - t0
    auc = float(roc_auc_score(yt, bst.inplace_predict(Xt)))
    log(f"trained {ROUNDS} rounds in {train_s:.1f}s, held-out AUC {auc:.5f}")
    bst.save_model(os.path.join(a.out, "xgb_100.json"))

    onx = convert_xgboost(bst, initial_types=[("input", FloatTensorType([None, NF]))])
    onnx_path = os.path.join(a.out, "model.onnx")
    onnx.save_model(onx, onnx_path)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"input": Xt[:1000]})
    ort_p = outs[1][:, 1] if outs[1].ndim == 2 else np.asarray(outs[1])
    xgb_p = bst.inplace_predict(Xt[:1000])
    maxdiff = float(np.max(np.abs(ort_p - xgb_p)))
    log(f"onnx: {os.path.getsize(onnx_path)} bytes, outputs {[o.name for o in sess.get_outputs()]}, "
        f"max |ort - xgboost| over 1000 rows {maxdiff:.2e}")

    # The MLflow onnx flavor, with a signature so that the scoring server casts the JSON
    # numbers to float32 (the model's input type).
    import mlflow.onnx
    from mlflow.models import infer_signature
    mdir = os.path.join(a.out, "mlflow_model")
    shutil.rmtree(mdir, ignore_errors=True)
    mlflow.onnx.save_model(onx, mdir, signature=infer_signature(Xt[:5], outs[1][:5]))

    # The body: the first held-out row, parsed from the CSV text exactly as the peers do.
    with open(test) as f:
        r = csv.reader(f)
        next(r)
        row = [float(v) for v in next(r)[1:]]
    with open(os.path.join(a.out, "body_inputs.json"), "w") as f:
        json.dump({"inputs": [row]}, f)
    x1 = np.asarray([row], dtype=np.float32)
    ref = {"row": row, "xgboost": float(bst.inplace_predict(x1)[0]),
           "onnxruntime": float(sess.run(None, {"input": x1})[1][0][1])}
    with open(os.path.join(a.out, "row.json"), "w") as f:
        json.dump(ref, f)
    stamp.update({"data": source, "auc": auc, "train_s": round(train_s, 2),
                  "xgboost": xgb.__version__, "onnx_bytes": os.path.getsize(onnx_path),
                  "ort_vs_xgb_maxdiff": maxdiff, "ref": ref["xgboost"]})
    for p in (train, test):  # 300 MB of CSV: the model is what is kept
        os.remove(p)
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)
    print(json.dumps(stamp))


if __name__ == "__main__":
    main()
