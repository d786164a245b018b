"""nannyml's CBPE on the rows cbpe_main reads (run with .venv-nannyml).

    python nannyml_cbpe.py CHUNK_SIZE METRICS [--time] < rows

Prints the JSON cbpe_main prints: nannyml's needs_calibration, the two
expected calibration errors it compared (recomputed with nannyml's own helpers
on the same splits), and each reference and analysis chunk's value, sampling
error, realized value, confidence band, thresholds and alert. With --time,
"seconds" is the time of CBPE fit + estimate."""
import json
import math
import os
import sys
import time
import warnings

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
warnings.filterwarnings("ignore")

import logging  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

logging.disable(logging.CRITICAL)
import nannyml as nml  # noqa: E402
from nannyml import calibration as cal  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedShuffleSplit  # noqa: E402

FIELDS = ["value", "sampling_error", "realized", "upper_confidence_boundary",
          "lower_confidence_boundary", "upper_threshold", "lower_threshold"]
CM = ["true_positive", "true_negative", "false_positive", "false_negative"]


def read_rows(stream):
    tok = stream.read().split()
    pos = 0

    def section(name):
        nonlocal pos
        assert tok[pos] == name, f"expected {name}"
        n = int(tok[pos + 1])
        pos += 2
        labelled = name == "reference"
        if pos < len(tok) and tok[pos] == "labelled":
            labelled = True
            pos += 1
        width = 3 if labelled else 2
        vals = np.array(tok[pos:pos + n * width], dtype=float).reshape(n, width)
        pos += n * width
        df = pd.DataFrame({"y_pred_proba": vals[:, 0], "y_pred": vals[:, 1].astype(int)})
        if labelled:
            df["y_true"] = vals[:, 2].astype(int)
        return df

    return section("reference"), section("analysis")


def eces(ref):
    """The two errors needs_calibration compares, on its own splits."""
    y, p = ref["y_true"].to_numpy(), ref["y_pred_proba"].to_numpy()
    if len(np.unique(y)) == 1 or roc_auc_score(y, p) > 0.999:
        return None, None
    sss = StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42)
    ts, ps, cs = [], [], []
    c = cal.IsotonicCalibrator()
    for train, test in sss.split(p, y):
        c.fit(p[train], y[train])
        ts.append(y[test]), ps.append(p[test]), cs.append(c.calibrate(p[test]))
    t, pp, cc = np.concatenate(ts), np.concatenate(ps), np.concatenate(cs)
    edges = cal._get_bin_index_edges(len(pp), 10)
    return (float(cal._calculate_expected_calibration_error(t, pp, edges)),
            float(cal._calculate_expected_calibration_error(t, cc, edges)))


def num(v):
    v = float(v)
    return None if math.isnan(v) else v


def chunks(data, names):
    out = []
    for _, row in data.iterrows():
        c = {"key": row[("chunk", "key")], "start_index": int(row[("chunk", "start_index")]),
             "end_index": int(row[("chunk", "end_index")]), "metrics": {}}
        for name in names:
            m = {f: num(row[(name, f)]) for f in FIELDS}
            m["alert"] = bool(row[(name, "alert")])
            c["metrics"][name] = m
        out.append(c)
    return out


def main():
    chunk_size, metrics = int(sys.argv[1]), sys.argv[2].split(",")
    ref, ana = read_rows(sys.stdin)
    t0 = time.perf_counter()
    est = nml.CBPE(y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="y_true",
                   problem_type="classification_binary", metrics=metrics,
                   chunk_size=chunk_size)
    est.fit(ref)
    res = est.estimate(ana)
    secs = time.perf_counter() - t0
    names = [n for m in metrics for n in (CM if m == "confusion_matrix" else [m])]
    data = res.data
    period = data[("chunk", "period")]
    eb, ea = eces(ref)
    out = {"calibrated": bool(est.needs_calibration), "ece_before": eb, "ece_after": ea}
    if "--time" in sys.argv:
        out["seconds"] = secs
    out["reference"] = chunks(data[period == "reference"], names)
    out["analysis"] = chunks(data[period == "analysis"], names)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
