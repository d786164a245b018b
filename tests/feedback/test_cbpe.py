"""CBPE (feedback/cbpe.h) against nannyml 0.13.1, chunk by chunk.

The C driver (cbpe_main) and nannyml (nannyml_cbpe.py under .venv-nannyml)
read the same rows; every number of every reference and analysis chunk must
agree within 1e-6 and every alert flag exactly."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_driver, run_driver_raw, venv_python

HERE = os.path.dirname(os.path.abspath(__file__))
ALL = "roc_auc,f1,precision,recall,accuracy,confusion_matrix"
FIELDS = ["value", "sampling_error", "realized", "upper_confidence_boundary",
          "lower_confidence_boundary", "upper_threshold", "lower_threshold"]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def model_rows(rng, n, scale=1.0, shift=0.0, reported=lambda z: sigmoid(z), labelled=True):
    """n rows of a model whose true P(y=1) is sigmoid(2x), x ~ N(shift, scale);
    the model reports reported(2x) (the truth itself when well calibrated)."""
    x = rng.normal(shift, scale, n)
    truth = (rng.random(n) < sigmoid(2 * x)).astype(int)
    proba = np.clip(reported(2 * x), 0.0, 1.0)
    pred = (proba >= 0.5).astype(int)
    return proba, pred, truth if labelled else None


def rows_text(ref, ana):
    out = [f"reference {len(ref[0])}"]
    out += [f"{float(p)!r} {float(q):g} {float(t):g}" for p, q, t in zip(*ref)]
    labelled = ana[2] is not None
    out.append(f"analysis {len(ana[0])}" + (" labelled" if labelled else ""))
    if labelled:
        out += [f"{float(p)!r} {float(q):g} {float(t):g}" for p, q, t in zip(*ana)]
    else:
        out += [f"{float(p)!r} {float(q):g}" for p, q in zip(ana[0], ana[1])]
    return "\n".join(out) + "\n"


def nannyml_python():
    """CAPSTAN_NANNYML_PY, else the checkout's .venv-nannyml, else the one
    beside the venv running pytest (a worktree tested with the main
    checkout's venvs)."""
    env = os.environ.get("CAPSTAN_NANNYML_PY")
    if env:
        return env
    sibling = os.path.join(os.path.dirname(sys.prefix), ".venv-nannyml", "bin", "python")
    if not os.path.exists(os.path.join(HERE, "..", "..", ".venv-nannyml")) and os.path.exists(sibling):
        return sibling
    return venv_python(".venv-nannyml")


def nannyml(args, stdin):
    p = subprocess.run([nannyml_python(), os.path.join(HERE, "nannyml_cbpe.py"),
                        *args], input=stdin, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    import json
    return json.loads(p.stdout)


def close(a, b, tol=1e-6):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol


def compare(c, py):
    """Every chunk, metric and field; returns the number of values checked."""
    assert c["calibrated"] == py["calibrated"]
    checked = 0
    for period in ("reference", "analysis"):
        assert len(c[period]) == len(py[period]), period
        for cc, pc in zip(c[period], py[period]):
            assert cc["key"] == pc["key"]
            assert (cc["start_index"], cc["end_index"]) == (pc["start_index"], pc["end_index"])
            assert cc["metrics"].keys() == pc["metrics"].keys()
            for name, cm in cc["metrics"].items():
                pm = pc["metrics"][name]
                for f in FIELDS:
                    assert close(cm[f], pm[f]), (period, cc["key"], name, f, cm[f], pm[f])
                    checked += 1
                assert cm["alert"] == pm["alert"], (period, cc["key"], name)
    return checked


def both(chunk_size, ref, ana, metrics=ALL):
    stdin = rows_text(ref, ana)
    args = [str(chunk_size), metrics]
    return run_driver("cbpe_main", args, stdin), nannyml(args, stdin)


def miscalibrated(z):
    """Over-confident and shifted: the reported probability of sigmoid(z)."""
    return sigmoid(1.8 * z + 0.7)


def test_well_calibrated_model_is_not_recalibrated():
    rng = np.random.default_rng(11)
    ref = model_rows(rng, 5000)
    ana = model_rows(rng, 4321)
    c, py = both(700, ref, ana)
    assert py["calibrated"] is False
    assert close(c["ece_before"], py["ece_before"], 1e-12)
    assert compare(c, py) > 0
    # 5000 rows in chunks of 700: seven full chunks and one of 100
    assert [ch["key"] for ch in c["reference"]][-2:] == ["[4200:4899]", "[4900:4999]"]
    assert c["analysis"][-1]["key"] == "[4200:4320]"


def test_badly_calibrated_model_is_recalibrated():
    rng = np.random.default_rng(12)
    ref = model_rows(rng, 6000, reported=miscalibrated)
    ana = model_rows(rng, 3500, reported=miscalibrated)
    c, py = both(1000, ref, ana)
    assert py["calibrated"] is True
    assert close(c["ece_before"], py["ece_before"], 1e-12)
    assert c["ece_after"] < c["ece_before"]
    compare(c, py)
    # calibration pulls the estimate toward the realised accuracy
    ref0 = c["reference"][0]["metrics"]["accuracy"]
    assert abs(ref0["value"] - ref0["realized"]) < 0.05


def test_shift_raises_alerts_like_nannyml():
    """The last analysis chunks come from a population near the decision
    boundary: the estimated accuracy and ROC AUC fall below the thresholds."""
    rng = np.random.default_rng(13)
    ref = model_rows(rng, 5000, reported=miscalibrated)
    calm = model_rows(rng, 2000, reported=miscalibrated)
    drift = model_rows(rng, 2000, scale=0.25, reported=miscalibrated)
    ana = tuple(np.concatenate([a, b]) for a, b in zip(calm[:2], drift[:2])) + (None,)
    c, py = both(500, ref, ana)
    compare(c, py)
    acc = [ch["metrics"]["accuracy"]["alert"] for ch in c["analysis"]]
    assert acc[:4] == [False] * 4 and all(acc[4:])
    assert all(ch["metrics"]["roc_auc"]["alert"] for ch in c["analysis"][4:])
    assert all(ch["metrics"]["accuracy"]["realized"] is None for ch in c["analysis"])


def test_labelled_analysis_and_metric_subset():
    """Analysis rows with labels get their realised values; a subset of the
    metrics is estimated alone; a chunk size above the row count makes one
    chunk."""
    rng = np.random.default_rng(14)
    ref = model_rows(rng, 3000, scale=0.8)
    ana = model_rows(rng, 2500, scale=1.2)
    c, py = both(400, ref, ana, "f1,roc_auc")
    compare(c, py)
    assert set(c["analysis"][0]["metrics"]) == {"f1", "roc_auc"}
    assert c["analysis"][0]["metrics"]["f1"]["realized"] is not None
    c, py = both(10000, ref, ana, "accuracy,precision,recall")
    compare(c, py)
    assert [ch["key"] for ch in c["reference"]] == ["[0:2999]"]


def test_minority_positive_class_flips_auroc_sampling_error():
    """With class 1 the majority, nannyml computes the ROC AUC sampling error
    on the flipped problem."""
    rng = np.random.default_rng(15)
    ref = model_rows(rng, 4000, shift=0.8)
    ana = model_rows(rng, 2000, shift=0.8)
    assert ref[2].mean() > 0.5
    c, py = both(500, ref, ana, "roc_auc,recall")
    compare(c, py)


def refused(args, stdin):
    rc, out, err = run_driver_raw("cbpe_main", args, stdin)
    assert rc == 1 and out == "", (rc, out, err)
    assert "AddressSanitizer" not in err and "runtime error" not in err
    return err


def small_ref(rng, n=200):
    return model_rows(rng, n)


@pytest.mark.parametrize("bad,message", [
    (lambda r: r[0].__setitem__(5, float("nan")), "reference row 5: probability nan is not in [0, 1]"),
    (lambda r: r[0].__setitem__(7, 1.5), "reference row 7: probability 1.5 is not in [0, 1]"),
    (lambda r: r[0].__setitem__(3, -0.25), "reference row 3: probability -0.25 is not in [0, 1]"),
    (lambda r: r[1].__setitem__(9, 2), "reference row 9: predicted class 2 is not a class"),
    (lambda r: r[2].__setitem__(2, 3), "reference row 2: true class 3 is not a class"),
    (lambda r: r[2].fill(1), "reference has only class 1 in its true classes; expected both"),
    (lambda r: r[2].fill(0), "reference has only class 0 in its true classes; expected both"),
])
def test_bad_reference_is_refused(bad, message):
    rng = np.random.default_rng(16)
    ref = [a.astype(float) for a in small_ref(rng)]
    bad(ref)
    ana = model_rows(rng, 50, labelled=False)
    assert message in refused(["50", ALL], rows_text(ref, ana))


def test_bad_analysis_and_arguments_are_refused():
    rng = np.random.default_rng(17)
    ref = small_ref(rng)
    ana = [a.astype(float) if a is not None else None for a in model_rows(rng, 50, labelled=False)]
    ana[0][4] = float("nan")
    assert "data row 4: probability nan is not in [0, 1]" in refused(["50", ALL], rows_text(ref, ana))
    ana[0][4] = 0.5
    ana[1][6] = 0.5
    assert "data row 6: predicted class 0.5 is not a class" in refused(["50", ALL],
                                                                      rows_text(ref, ana))
    empty = (np.array([]), np.array([]), None)
    assert "data has no rows" in refused(["50", ALL], rows_text(ref, empty))
    assert "chunk size is 0" in refused(["0", ALL], rows_text(ref, model_rows(rng, 5, labelled=False)))
    assert "unknown CBPE metric 'specificty'" in refused(["50", "f1,specificty"],
                                                         rows_text(ref, empty))
    tiny = tuple(np.array(v) for v in ([0.2, 0.7, 0.4, 0.6, 0.3, 0.8, 0.1, 0.9, 0.45, 0.55],
                                       [0, 1, 0, 1, 0, 1, 0, 1, 0, 1], [1, 0, 0, 1, 1, 0, 0, 1, 1, 0]))
    assert "reference too small for the calibration check" in refused(
        ["5", ALL], rows_text(tiny, model_rows(rng, 5, labelled=False)))
    assert "a row is short" in refused(["5", ALL], "reference 2\n0.5 1\n")


def test_near_perfect_reference_skips_the_calibration_check():
    """A reference ROC AUC above 0.999: nannyml neither splits nor calibrates
    (the errors are null on both sides), even for a reference too small to
    split."""
    rng = np.random.default_rng(18)
    truth = rng.integers(0, 2, 600)
    proba = np.where(truth == 1, rng.uniform(0.55, 1.0, 600), rng.uniform(0.0, 0.45, 600))
    ref = (proba, (proba >= 0.5).astype(int), truth)
    ana = model_rows(rng, 900, labelled=False)
    c, py = both(150, ref, ana)
    assert c["calibrated"] is False and c["ece_before"] is None and py["ece_before"] is None
    compare(c, py)


def test_calibration_errors_match_nannyml():
    """The error before calibration is computed on nannyml's very splits, so
    it agrees to rounding; after calibration, rows tied on a calibrated value
    may straddle a bin edge, and numpy's argsort orders ties its own way
    (not stably), so that error agrees only to a few rows' weight."""
    rng = np.random.default_rng(19)
    ref = model_rows(rng, 4000, reported=miscalibrated)
    c, py = both(1000, ref, model_rows(rng, 1000, labelled=False), "accuracy")
    assert close(c["ece_before"], py["ece_before"], 1e-12)
    assert close(c["ece_after"], py["ece_after"], 2e-3)
