"""feedback/metrics.h against scikit-learn 1.9 on the same rows: every
number within 1e-9 (relative above 1, absolute below), NaN where sklearn
gives NaN or refuses, and the refusals of bad input (exit 1, the library's
message). The driver is tests/feedback/metrics_main.c (its input format is
in its header comment)."""
import io
import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from conftest import run_driver, run_driver_raw

TOL = 1e-9
DRIVER = "metrics_main"


def close(got, want, what):
    """got is the driver's JSON number (None for NaN); want sklearn's."""
    want = float(want)
    if math.isnan(want):
        assert got is None, f"{what}: {got}, sklearn gives NaN"
        return
    assert got is not None, f"{what}: null, sklearn gives {want!r}"
    assert abs(got - want) <= TOL * max(1.0, abs(want)), f"{what}: {got!r} vs sklearn {want!r}"


def cls_text(k, yt, yp, proba=None, opts=""):
    cols = [np.asarray(yt)[:, None], np.asarray(yp)[:, None]]
    fmt = ["%d", "%d"]
    if proba is not None:
        cols.append(np.asarray(proba, dtype=np.float64))
        fmt += ["%.17g"] * k
    buf = io.StringIO()
    buf.write(f"classification {k} {opts}\n")
    np.savetxt(buf, np.hstack([c.astype(np.float64) for c in cols]), fmt=fmt, delimiter=",")
    return buf.getvalue()


def reg_text(yt, yp):
    buf = io.StringIO()
    buf.write("regression\n")
    np.savetxt(buf, np.column_stack([yt, yp]), fmt="%.17g", delimiter=",")
    return buf.getvalue()


def sk_or_nan(fn, *args, **kw):
    """sklearn's value, NaN where it raises ValueError on these rows."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kw)
    except ValueError:
        return float("nan")


def check_cls(k, yt, yp, proba=None, pos=1, zd="warn", all_classes=False, notes=None):
    """Runs the driver and compares every number with sklearn's; returns
    the driver's JSON for further checks."""
    opts = f"pos={pos}" + (" all_classes" if all_classes else "")
    if zd != "warn":
        opts += f" zero_division={'nan' if isinstance(zd, float) and math.isnan(zd) else zd}"
    got = run_driver(DRIVER, stdin=cls_text(k, yt, yp, proba, opts))
    labels = list(range(k))
    avg_labels = labels if all_classes else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        close(got["accuracy"], skm.accuracy_score(yt, yp), "accuracy")
        for avg in ("macro", "weighted"):
            p, r, f, _ = skm.precision_recall_fscore_support(
                yt, yp, average=avg, labels=avg_labels, zero_division=zd)
            for name, v in (("precision", p), ("recall", r), ("f1", f)):
                close(got[avg][name], v, f"{avg} {name}")
        if k == 2:
            p, r, f, _ = skm.precision_recall_fscore_support(
                yt, yp, average="binary", pos_label=pos, zero_division=zd)
            for name, v in (("precision", p), ("recall", r), ("f1", f)):
                close(got["binary"][name], v, f"binary {name}")
        else:
            assert got["binary"] is None
        p, r, f, s = skm.precision_recall_fscore_support(
            yt, yp, average=None, labels=labels, zero_division=zd)
        assert got["confusion_matrix"] == skm.confusion_matrix(yt, yp, labels=labels).tolist()
        for c in range(k):
            gc = got["classes"][c]
            assert gc["support"] == s[c]
            assert gc["present"] == bool(np.any(yt == c) or np.any(yp == c))
            for name, v in (("precision", p[c]), ("recall", r[c]), ("f1", f[c])):
                close(gc[name], v, f"class {c} {name}")
    if proba is not None:
        check_ranking(got, k, yt, proba, pos)
    if notes is not None:
        assert sorted(got["notes"]) == sorted(notes)
    return got


def check_ranking(got, k, yt, proba, pos):
    labels = list(range(k))
    for c in range(k):
        if k == 2 and c != pos:  # binary: only the positive class is ranked
            assert got["classes"][c]["roc_auc"] is None
            assert got["classes"][c]["pr_auc"] is None
            continue
        close(got["classes"][c]["roc_auc"], sk_or_nan(skm.roc_auc_score, yt == c, proba[:, c]),
              f"class {c} roc_auc")
        close(got["classes"][c]["pr_auc"],
              sk_or_nan(skm.average_precision_score, yt == c, proba[:, c]),
              f"class {c} average_precision")
    if k == 2:
        auc = sk_or_nan(skm.roc_auc_score, yt == pos, proba[:, pos])
        ap = sk_or_nan(skm.average_precision_score, yt == pos, proba[:, pos])
        want = {"roc_auc": auc, "roc_auc_weighted": auc,
                "pr_auc": ap, "pr_auc_weighted": ap}
    else:
        want = {
            "roc_auc": sk_or_nan(skm.roc_auc_score, yt, proba, multi_class="ovr",
                                 average="macro", labels=labels),
            "roc_auc_weighted": sk_or_nan(skm.roc_auc_score, yt, proba, multi_class="ovr",
                                          average="weighted", labels=labels),
            "pr_auc": sk_or_nan(skm.average_precision_score, yt, proba),
            "pr_auc_weighted": sk_or_nan(skm.average_precision_score, yt, proba,
                                                    average="weighted"),
        }
    want["log_loss"] = sk_or_nan(skm.log_loss, yt, proba, labels=labels)
    for name, v in want.items():
        close(got[name], v, name)


def softmax_rows(rng, n, k, sharp=2.0):
    z = rng.normal(size=(n, k)) * sharp
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def noisy_labels(rng, proba, flip=0.3):
    """y_true drawn near the model's argmax, so the metrics are neither 0 nor 1."""
    n, k = proba.shape
    y = proba.argmax(axis=1)
    m = rng.random(n) < flip
    y[m] = rng.integers(0, k, m.sum())
    return y


# ---- binary ------------------------------------------------------------------

def binary_rows(seed, n):
    rng = np.random.default_rng(seed)
    yt = rng.integers(0, 2, n)
    p1 = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * (2 * yt - 1))))
    proba = np.column_stack([1 - p1, p1])
    yp = (p1 > 0.5).astype(int)
    return yt, yp, proba


@pytest.mark.parametrize("pos", [1, 0])
def test_binary_matches_sklearn(pos):
    yt, yp, proba = binary_rows(1, 5000)
    got = check_cls(2, yt, yp, proba, pos=pos, notes=[])
    assert 0.7 < got["roc_auc"] < 0.98  # a real, non-trivial model


def test_binary_ties_are_one_threshold():
    """Scores rounded to 0.1 and to float32: many rows share a score, and
    sklearn puts one threshold at each distinct score."""
    yt, yp, proba = binary_rows(2, 4000)
    tied = np.round(proba, 1)
    got = check_cls(2, yt, yp, tied, notes=[])
    # one threshold per distinct score differs from ranking rows one by one
    assert got["roc_auc"] != pytest.approx(
        skm.roc_auc_score(yt, proba[:, 1]), abs=1e-6)
    check_cls(2, yt, yp, proba.astype(np.float32).astype(np.float64))


def test_binary_small_hand_example():
    """sklearn's own doc example (roc_auc 0.75, AP 0.8333) with a tie added."""
    yt = np.array([0, 0, 1, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    got = check_cls(2, yt, (s > 0.5).astype(int), np.column_stack([1 - s, s]))
    assert got["confusion_matrix"] == [[2, 0], [2, 1]]
    assert got["roc_auc"] == pytest.approx(4.5 / 6)


def test_binary_one_class_in_y_true():
    """roc_auc_score warns and gives NaN; average precision is 0 without
    positives (sklearn sets recall to 1)."""
    rng = np.random.default_rng(3)
    s = rng.random(300)
    yt = np.zeros(300, dtype=int)
    yp = (s > 0.5).astype(int)
    got = check_cls(2, yt, yp, np.column_stack([1 - s, s]),
                    notes=["one_class", "no_positive", "zero_division"])
    assert got["roc_auc"] is None and got["pr_auc"] == 0.0
    # every row positive: AUC undefined again, AP is 1 (class 0 is predicted
    # but never true: its recall is 0/0)
    got = check_cls(2, 1 - yt, yp, np.column_stack([1 - s, s]),
                    notes=["one_class", "zero_division"])
    assert got["pr_auc"] == 1.0


def test_binary_zero_division_options():
    """A model that never predicts the positive class: precision 0/0."""
    yt, _, proba = binary_rows(4, 1000)
    yp = np.zeros_like(yt)
    for zd in ("warn", 1.0, float("nan")):
        got = check_cls(2, yt, yp, proba, zd=zd, notes=["zero_division"])
    assert got["binary"]["precision"] is None  # zero_division=nan


def test_without_probabilities():
    yt, yp, _ = binary_rows(5, 500)
    got = check_cls(2, yt, yp, None, notes=["no_proba"])
    for name in ("roc_auc", "pr_auc", "log_loss"):
        assert got[name] is None


# ---- multiclass --------------------------------------------------------------

def test_multiclass_all_classes_present():
    rng = np.random.default_rng(6)
    proba = softmax_rows(rng, 6000, 3)
    yt = noisy_labels(rng, proba)
    yp = proba.argmax(axis=1)
    got = check_cls(3, yt, yp, proba, notes=[])
    assert got["roc_auc"] is not None and got["pr_auc"] is not None


def test_multiclass_class_never_predicted_and_never_true():
    """k=5: class 3 never predicted, class 4 neither predicted nor true.
    sklearn: macro ROC AUC NaN (class 4's AUC is NaN), weighted defined,
    average precision refused (y_true binarised to 4 columns, proba has 5)."""
    rng = np.random.default_rng(7)
    proba = softmax_rows(rng, 8000, 5)
    yt = noisy_labels(rng, proba[:, :4] / proba[:, :4].sum(axis=1, keepdims=True))
    yp = proba[:, :3].argmax(axis=1)
    for all_classes in (False, True):
        got = check_cls(5, yt, yp, proba, all_classes=all_classes,
                        notes=["zero_division", "one_class", "class_absent", "no_positive"])
        assert got["roc_auc"] is None and got["roc_auc_weighted"] is not None
        assert got["pr_auc"] is None
        assert not got["classes"][4]["present"] and got["classes"][3]["present"]
    # the macro averages differ by class 4's zeros
    assert got["macro"]["recall"] < check_cls(5, yt, yp, proba)["macro"]["recall"]


@pytest.mark.parametrize("zd", [1.0, float("nan")])
def test_multiclass_zero_division(zd):
    rng = np.random.default_rng(8)
    proba = softmax_rows(rng, 3000, 4)
    yt = noisy_labels(rng, proba)
    yp = np.minimum(proba.argmax(axis=1), 2)  # class 3 never predicted
    for all_classes in (False, True):
        check_cls(4, yt, yp, proba, zd=zd, all_classes=all_classes)


def test_multiclass_rows_not_normalised():
    """sklearn refuses multiclass ROC AUC on scores that do not sum to 1
    (NaN here) but still computes log loss, with a warning."""
    rng = np.random.default_rng(9)
    proba = softmax_rows(rng, 2000, 3) * 0.9
    yt = noisy_labels(rng, proba)
    got = check_cls(3, yt, proba.argmax(axis=1), proba, notes=["not_normalised"])
    assert got["roc_auc"] is None and got["roc_auc_weighted"] is None
    assert got["log_loss"] is not None and got["pr_auc"] is not None


def test_multiclass_ties_and_extreme_probabilities():
    """Rounded scores (ties) and exact 0 / 1 probabilities (log loss clips
    to [eps, 1 - eps])."""
    rng = np.random.default_rng(10)
    proba = softmax_rows(rng, 5000, 4, sharp=8.0)
    proba = np.round(proba, 2)
    proba[:, 3] = 1 - proba[:, :3].sum(axis=1)
    proba = np.clip(proba, 0, 1)
    proba[:50] = np.eye(4)[rng.integers(0, 4, 50)]
    yt = noisy_labels(rng, proba, flip=0.1)
    check_cls(4, yt, proba.argmax(axis=1), proba)


def test_large_binary_and_multiclass():
    """10^5+ rows: the compensated sums and the radix sort at size."""
    yt, yp, proba = binary_rows(11, 150_000)
    check_cls(2, yt, yp, proba, notes=[])
    rng = np.random.default_rng(12)
    proba = softmax_rows(rng, 120_000, 5)
    yt = noisy_labels(rng, proba)
    check_cls(5, yt, proba.argmax(axis=1), proba, notes=[])


# ---- regression --------------------------------------------------------------

def check_reg(yt, yp, notes=None):
    got = run_driver(DRIVER, stdin=reg_text(yt, yp))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        close(got["mae"], skm.mean_absolute_error(yt, yp), "mae")
        close(got["rmse"], skm.root_mean_squared_error(yt, yp), "rmse")
        close(got["mape"], skm.mean_absolute_percentage_error(yt, yp), "mape")
        close(got["r2"], skm.r2_score(yt, yp), "r2")
    close(got["mean_error"], np.mean(np.asarray(yp) - np.asarray(yt)), "mean_error")
    assert got["rows"] == len(yt)
    if notes is not None:
        assert sorted(got["notes"]) == sorted(notes)
    return got


def test_regression_matches_sklearn():
    rng = np.random.default_rng(20)
    yt = rng.normal(50, 10, 5000)
    got = check_reg(yt, yt + rng.normal(0.5, 3, 5000), notes=[])
    assert 0.8 < got["r2"] < 0.95 and 0.3 < got["mean_error"] < 0.7


def test_regression_zeros_in_y_true_for_mape():
    """MAPE divides by max(|y_true|, eps): a zero gives a ~1e15 term."""
    rng = np.random.default_rng(21)
    yt = rng.normal(0, 5, 3000)
    yt[::100] = 0.0
    got = check_reg(yt, yt + rng.normal(0, 1, 3000))
    assert got["mape"] > 1e12


def test_regression_constant_y_true():
    yt = np.full(1000, 2.5)  # numpy's mean is exact: sklearn applies its rule
    check_reg(yt, yt.copy(), notes=["r2_constant"])  # perfect: 1
    got = check_reg(yt, yt + 0.25, notes=["r2_constant"])  # otherwise 0
    assert got["r2"] == 0.0


def test_regression_constant_y_true_mean_not_exact():
    """Three 0.1s: numpy's mean is 0.10000000000000002, so sklearn divides by
    ~1e-33 (r2 = -1.7e31). We answer force_finite's rule (metrics.h)."""
    yt = np.full(3, 0.1)
    yp = np.array([0.2, 0.1, 0.1])
    assert skm.r2_score(yt, yp) < -1e30  # sklearn's rounding artefact
    got = run_driver(DRIVER, stdin=reg_text(yt, yp))
    assert got["r2"] == 0.0 and got["notes"] == ["r2_constant"]


def test_regression_one_row():
    got = check_reg(np.array([3.0]), np.array([5.0]), notes=["r2_few"])
    assert got["r2"] is None and got["mae"] == 2.0


def test_regression_large_and_offset():
    """2 x 10^5 rows around 1e6 (squares near 1e12 summed 2e5 times)."""
    rng = np.random.default_rng(22)
    yt = 1e6 + rng.normal(0, 100, 200_000)
    check_reg(yt, yt + rng.standard_t(3, 200_000) * 20)


# ---- refusals ----------------------------------------------------------------

@pytest.mark.parametrize("stdin, msg", [
    ("classification 3\n", "no rows"),
    ("regression\n", "no rows"),
    ("classification 3\n0,1\n3,1\n", "row 1: y_true = 3 is not a class index in [0, 3)"),
    ("classification 3\n0,-1\n", "row 0: y_pred = -1 is not a class index in [0, 3)"),
    ("classification 1\n0,0\n", "k = 1 classes: expected 2 to 1024"),
    ("classification 2000\n0,0\n", "k = 2000 classes: expected 2 to 1024"),
    ("classification 2 pos=2\n0,0\n", "pos_class = 2 is not a class index in [0, 2)"),
    ("classification 2 zero_division=0.5\n0,0\n", "zero_division = 0.5: expected 0, 1 or NaN"),
    ("classification 2\n0,0,0.5,0.5\n1,1,nan,0.5\n",
     "row 1: proba[0] = nan: probabilities must be finite numbers in [0, 1]"),
    ("classification 2\n0,0,0.5,0.5\n1,1,0.5,1.5\n",
     "row 1: proba[1] = 1.5: probabilities must be finite numbers in [0, 1]"),
    ("classification 2\n0,0,0.5,0.5\n1,1,-inf,0.5\n", "row 1: proba[0] = -inf"),
    ("regression\n1,2\nnan,3\n", "row 1: y_true = nan: values must be finite numbers"),
    ("regression\n1,inf\n", "row 0: y_pred = inf: values must be finite numbers"),
])
def test_bad_input_is_refused(stdin, msg):
    rc, out, err = run_driver_raw(DRIVER, stdin=stdin)
    assert rc == 1, (rc, out, err)
    assert out == ""
    assert f"metrics: {msg}" in err


@pytest.mark.parametrize("stdin", [
    "", "ranking\n", "classification 2 bogus\n0,0\n", "classification 2\n0,x\n",
    "classification 2\n0,0,0.5,0.5\n1,1\n", "regression\n1,2,3\n",
])
def test_unreadable_text_is_exit_2(stdin):
    rc, out, err = run_driver_raw(DRIVER, stdin=stdin)
    assert rc == 2 and out == "" and "metrics_main: line" in err
