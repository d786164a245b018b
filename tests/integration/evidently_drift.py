"""The real Evidently's answer for a drift question, as JSON on stdout.

Run with the Python of .venv-evidently (Evidently 0.7 needs pandas < 3 and
so cannot share .venv; see tests/requirements-evidently.txt):

    evidently_drift.py SPEC.json    one question, one answer
    evidently_drift.py --serve      one question per stdin line, one answer
                                    per stdout line (Evidently's import
                                    takes ~4 s; the tests pay it once)

A SPEC holds the files and the options of one `capstan monitor drift` call:
{"reference": path, "current": path, "numerical": [..] | null,
 "categorical": [..] | null, "columns": [..] | null, "stattest": id | null,
 "per_column_stattest": {col: id} | null, "threshold": x | null,
 "per_column_threshold": {col: x} | null, "drift_share": s | null}

The files are read as a user of Evidently would read them (pandas for CSV and
JSONL, numpy for .npy), and the question goes to the legacy DataDriftTable,
which is what DataDriftPreset runs per column (evidently/presets/drift.py
hands the same DataDriftOptions to ValueDrift, which calls
legacy.calculations.data_drift.get_one_column_drift). The answer has the
same shape as `capstan monitor drift --json`, plus each test's id. When
Evidently raises, the answer is {"error": message}."""
import json
import sys
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

from evidently.core.datasets import infer_column_type  # noqa: E402
from evidently.legacy.calculations.stattests.registry import _registered_stat_tests  # noqa: E402
from evidently.legacy.core import ColumnType  # noqa: E402
from evidently.legacy.metrics import DataDriftTable  # noqa: E402
from evidently.legacy.metrics import DatasetDriftMetric  # noqa: E402
from evidently.legacy.pipeline.column_mapping import ColumnMapping  # noqa: E402
from evidently.legacy.report import Report  # noqa: E402


def read_frame(path):
    if path.endswith(".npy"):
        arr = np.load(path, allow_pickle=False)
        if arr.dtype.names:
            return pd.DataFrame({n: arr[n] for n in arr.dtype.names})
        arr = arr.reshape(len(arr), -1)  # capstan names .npy columns f0..fn-1
        return pd.DataFrame(arr, columns=[f"f{i}" for i in range(arr.shape[1])])
    if path.endswith(".jsonl"):
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)


def column_mapping(cur, numerical, categorical):
    """The column types of Evidently 0.7's own API: what DataDriftPreset gets
    from Report.run on DataFrames (evidently.core.datasets.infer_column_type
    on the current data: floats numerical, ints with few values categorical,
    strings categorical or text by their share of distinct values), with the
    columns the caller names taken as named. The legacy table's own guess
    differs (every int column numerical), so it gets the types spelled out."""
    types = {"num": list(numerical), "cat": list(categorical), "text": []}
    for name in cur.columns:
        if name in numerical or name in categorical:
            continue
        t = infer_column_type(cur[name])
        if t == ColumnType.Numerical:
            types["num"].append(name)
        elif t == ColumnType.Categorical:
            types["cat"].append(name)
        elif t == ColumnType.Text:
            types["text"].append(name)
    return ColumnMapping(numerical_features=types["num"], categorical_features=types["cat"],
                         text_features=types["text"])


def display_to_id():
    out = {}
    for name, by_type in _registered_stat_tests.items():
        for test in by_type.values():
            out[test.display_name] = name
    return out


def answer(spec):
    # Evidently's permutation tests (TVD, empirical_mmd) draw from numpy's
    # global generator: seeded per question, so that its answer, and the
    # Monte-Carlo comparison with ours, is the same on every run.
    np.random.seed(20261204)
    ref = read_frame(spec["reference"])
    cur = read_frame(spec["current"])
    mapping = column_mapping(cur, spec.get("numerical") or [], spec.get("categorical") or [])
    share = spec.get("drift_share")
    share = 0.5 if share is None else share
    tests = dict(columns=spec.get("columns"), stattest=spec.get("stattest"),
                 per_column_stattest=spec.get("per_column_stattest"),
                 stattest_threshold=spec.get("threshold"),
                 per_column_stattest_threshold=spec.get("per_column_threshold"))
    # DataDriftTable has the columns but always judges the dataset at 0.5;
    # DatasetDriftMetric (what DataDriftPreset also runs) takes drift_share.
    report = Report(metrics=[DataDriftTable(**tests), DatasetDriftMetric(drift_share=share, **tests)])
    report.run(reference_data=ref, current_data=cur, column_mapping=mapping)
    res, dataset = (m["result"] for m in report.as_dict()["metrics"])
    ids = display_to_id()
    cols = []
    for name, col in res["drift_by_columns"].items():
        cols.append({"column": name, "column_type": col["column_type"],
                     "stattest": col["stattest_name"],
                     "stattest_id": ids.get(col["stattest_name"]),
                     "stattest_threshold": col["stattest_threshold"],
                     "drift_score": float(col["drift_score"]),
                     "drift_detected": bool(col["drift_detected"])})
    return {"dataset_drift": bool(dataset["dataset_drift"]), "drift_share": share,
            "number_of_columns": dataset["number_of_columns"],
            "number_of_drifted_columns": dataset["number_of_drifted_columns"],
            "share_of_drifted_columns": dataset["share_of_drifted_columns"], "columns": cols}


def safe_answer(spec):
    try:
        return answer(spec)
    except Exception as e:  # Evidently's own failure is an answer too
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    out, sys.stdout = sys.stdout, sys.stderr  # nothing Evidently prints mixes with answers
    if sys.argv[1:] == ["--serve"]:
        for line in sys.stdin:
            out.write(json.dumps(safe_answer(json.loads(line))) + "\n")
            out.flush()
        return
    with open(sys.argv[1]) as f:
        json.dump(safe_answer(json.load(f)), out)


if __name__ == "__main__":
    main()
