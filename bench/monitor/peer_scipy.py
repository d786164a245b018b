"""The peers' scipy loop (../shared/bench/peers/bench_drift.py: scipy.stats.ks_2samp per feature
and its numpy PSI with 10 reference-quantile bins), once, as its own process for bench.py:
loads the CSVs as bench_drift.py does (pandas, label dropped, float64, column-contiguous) and
calls its functions; writes the times and the K-S p-values as JSON.

    peer_scipy.py PEERS_DIR REF.csv CUR.csv OUT.json"""
import json
import sys
import time


def main():
    peers, ref_path, cur_path, out_path = sys.argv[1:5]
    t0 = time.perf_counter()
    sys.path.insert(0, peers)
    import numpy as np
    import pandas as pd
    import scipy
    import bench_drift
    t1 = time.perf_counter()
    R = pd.read_csv(ref_path).drop(columns=["label"])
    names = list(R.columns)
    R = np.asfortranarray(R.to_numpy(dtype=np.float64))
    C = np.asfortranarray(pd.read_csv(cur_path).drop(columns=["label"]).to_numpy(dtype=np.float64))
    t2 = time.perf_counter()
    ks = bench_drift.ks_all(R, C)
    t3 = time.perf_counter()
    psi = bench_drift.psi_score(C, *bench_drift.psi_fit(R))
    t4 = time.perf_counter()
    out = {"version": scipy.__version__, "import_s": t1 - t0, "load_s": t2 - t1,
           "ks_s": t3 - t2, "psi_s": t4 - t3,
           "ks_pvalue": {n: float(k.pvalue) for n, k in zip(names, ks)},
           "psi": {n: float(v) for n, v in zip(names, psi)}}
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
