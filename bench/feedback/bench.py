"""Model-quality metrics: feedback/metrics.h vs scikit-learn on the same
arrays (run by bench/feedback/metrics.sh, which builds bench_metrics).

ROWS labelled predictions (default 1,000,000) of a binary classifier with
probabilities (seed 42: logistic scores, ties from rounding one row in ten
to 3 decimals) and of a regressor (seed 43, a few zeros in y_true). Each
side runs REPEAT times and keeps its best; the numbers of both are checked
against each other at 1e-9 before the table is printed."""
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import sklearn
from sklearn import metrics as skm

TOL = 1e-9


def make_data(n, d):
    rng = np.random.default_rng(42)
    yt = rng.integers(0, 2, n).astype(np.int32)
    p1 = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * (2 * yt - 1))))
    p1[::10] = np.round(p1[::10], 3)
    proba = np.column_stack([1 - p1, p1])
    yp = (p1 > 0.5).astype(np.int32)
    rng = np.random.default_rng(43)
    rt = rng.normal(100, 20, n)
    rt[::1000] = 0.0
    rp = rt + rng.normal(1, 5, n)
    for name, a in (("yt.i32", yt), ("yp.i32", yp), ("proba.f64", proba),
                    ("rt.f64", rt), ("rp.f64", rp)):
        np.ascontiguousarray(a).tofile(os.path.join(d, name))
    return yt, yp, proba, rt, rp


def sk_classification(yt, yp, proba):
    out = {"accuracy": skm.accuracy_score(yt, yp)}
    p, r, f, _ = skm.precision_recall_fscore_support(yt, yp, average="binary")
    out.update(precision=p, recall=r, f1=f)
    out["macro_f1"] = skm.precision_recall_fscore_support(yt, yp, average="macro")[2]
    out["weighted_f1"] = skm.precision_recall_fscore_support(yt, yp, average="weighted")[2]
    skm.precision_recall_fscore_support(yt, yp, average=None)  # the per-class values
    out["confusion"] = skm.confusion_matrix(yt, yp).tolist()
    out.update(sk_ranking(yt, proba))
    out["log_loss"] = skm.log_loss(yt, proba)
    return out


def sk_ranking(yt, proba):
    return {"roc_auc": skm.roc_auc_score(yt, proba[:, 1]),
            "average_precision": skm.average_precision_score(yt, proba[:, 1])}


def sk_regression(rt, rp):
    return {"mae": skm.mean_absolute_error(rt, rp),
            "rmse": skm.root_mean_squared_error(rt, rp),
            "mape": skm.mean_absolute_percentage_error(rt, rp),
            "r2": skm.r2_score(rt, rp),
            "mean_error": float(np.mean(rp - rt))}


def best_of(repeat, fn, *args):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best, out


def compare(area, ours, theirs):
    worst = 0.0
    for key, want in theirs.items():
        got = ours[key]
        if key == "confusion":
            assert got == want, f"{area} confusion: {got} vs {want}"
            continue
        diff = abs(got - want) / max(1.0, abs(want))
        assert diff <= TOL, f"{area} {key}: {got!r} vs sklearn {want!r}"
        worst = max(worst, diff)
    return worst


def main():
    n = int(os.environ.get("ROWS", "1000000"))
    repeat = int(os.environ.get("REPEAT", "5"))
    prog = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        yt, yp, proba, rt, rp = make_data(n, d)
        c = json.loads(subprocess.run([prog, d, str(repeat)], check=True,
                                      capture_output=True, text=True).stdout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [("classification", sk_classification, (yt, yp, proba),
                 "accuracy, P/R/F1 binary+macro+weighted+per class, confusion, "
                 "ROC AUC, AP, log loss"),
                ("ranking", sk_ranking, (yt, proba), "roc_auc_score + average_precision_score"),
                ("regression", sk_regression, (rt, rp), "MAE, RMSE, MAPE, R2, mean error")]
        print(f"# {os.environ.get('BENCH_COMMAND', 'bench/feedback/metrics.sh')}: "
              f"{n:,} rows, best of {repeat}, scikit-learn {sklearn.__version__}, "
              f"numpy {np.__version__}")
        print(f"{'metrics':<16}{'capstan ms':>12}{'sklearn ms':>12}{'ratio':>9}"
              f"{'max rel diff':>14}  what")
        for area, fn, args, what in rows:
            ms, theirs = best_of(repeat, fn, *args)
            worst = compare(area, c[area], theirs)
            print(f"{area:<16}{c['ms'][area]:>12.2f}{ms:>12.1f}{ms / c['ms'][area]:>8.1f}x"
                  f"{worst:>14.1e}  {what}")


if __name__ == "__main__":
    main()
