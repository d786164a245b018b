"""One Evidently DataDriftPreset run on two CSV files, for bench.py (run as its own process so
that /usr/bin/time sees only it). Reads the files with pandas, as an Evidently user does, and
runs the new API's Report([DataDriftPreset(columns=...)]) on them; writes the load and compute
times and each column's method, threshold and score as JSON.

    peer_evidently.py REF.csv CUR.csv OUT.json COL,COL,..."""
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def main():
    ref_path, cur_path, out_path, cols = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    t0 = time.perf_counter()
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset
    import evidently
    t1 = time.perf_counter()
    ref = pd.read_csv(ref_path)
    cur = pd.read_csv(cur_path)
    t2 = time.perf_counter()
    columns = cols.split(",")
    snap = Report([DataDriftPreset(columns=columns)]).run(current_data=cur, reference_data=ref)
    result = snap.dict()
    t3 = time.perf_counter()
    out = {"version": evidently.__version__, "import_s": t1 - t0, "load_s": t2 - t1,
           "compute_s": t3 - t2, "columns": {}}
    for m in result["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("DriftedColumnsCount"):
            out["drifted_count"] = int(m["value"]["count"])
            out["drifted_share"] = float(m["value"]["share"])
        elif cfg["type"].endswith("ValueDrift"):
            out["columns"][cfg["column"]] = {"method": cfg["method"],
                                             "threshold": cfg["threshold"],
                                             "score": float(m["value"])}
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
