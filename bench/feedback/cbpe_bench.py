"""Generates the CBPE benchmark's rows, runs the C driver and nannyml on them,
and prints the times, their ratio and the largest difference (bench/feedback/cbpe.sh)."""
import argparse
import json
import os
import subprocess
import time

import numpy as np

FIELDS = ["value", "sampling_error", "realized", "upper_confidence_boundary",
          "lower_confidence_boundary", "upper_threshold", "lower_threshold"]
METRICS = "roc_auc,f1,precision,recall,accuracy,confusion_matrix"


def rows(rng, n, scale):
    """A miscalibrated model (so calibration runs): true P(y=1) = sigmoid(2x),
    reported sigmoid(3.6x + 0.7)."""
    x = rng.normal(0, scale, n)
    truth = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    proba = 1 / (1 + np.exp(-(3.6 * x + 0.7)))
    return proba, (proba >= 0.5).astype(int), truth


def write(path, ref_rows, n_ana):
    rng = np.random.default_rng(7)
    p, q, t = rows(rng, ref_rows, 1.0)
    # the analysis drifts toward the boundary in its second half
    a1 = rows(rng, n_ana // 2, 1.0)
    a2 = rows(rng, n_ana - n_ana // 2, 0.5)
    ap, aq = np.concatenate([a1[0], a2[0]]), np.concatenate([a1[1], a2[1]])
    with open(path, "w") as f:
        f.write(f"reference {ref_rows}\n")
        f.write("\n".join(f"{a!r} {b} {c}" for a, b, c in zip(p.tolist(), q.tolist(), t.tolist())))
        f.write(f"\nanalysis {n_ana}\n")
        f.write("\n".join(f"{a!r} {b}" for a, b in zip(ap.tolist(), aq.tolist())))
        f.write("\n")


def run(cmd, path):
    with open(path) as f:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdin=f, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"{cmd[0]} failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout), wall


def max_diff(c, py):
    worst, alerts = 0.0, 0
    assert c["calibrated"] == py["calibrated"]
    for period in ("reference", "analysis"):
        assert len(c[period]) == len(py[period])
        for cc, pc in zip(c[period], py[period]):
            for name, m in cc["metrics"].items():
                pm = pc["metrics"][name]
                assert m["alert"] == pm["alert"], (period, cc["key"], name)
                alerts += m["alert"] and period == "analysis"
                for fld in FIELDS:
                    a, b = m[fld], pm[fld]
                    assert (a is None) == (b is None), (period, cc["key"], name, fld)
                    if a is not None:
                        worst = max(worst, abs(a - b))
    return worst, alerts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--nannyml", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    ref_rows = int(os.environ.get("REF_ROWS", 1_000_000))
    chunks, chunk = int(os.environ.get("CHUNKS", 100)), int(os.environ.get("CHUNK", 10_000))
    repeat = int(os.environ.get("REPEAT", 3))
    path = os.path.join(a.tmp, f"cbpe_{ref_rows}_{chunks}x{chunk}.txt")
    if not os.path.exists(path):
        write(path, ref_rows, chunks * chunk)
    args = [str(chunk), METRICS, "--time"]
    c_runs = [run([a.driver, *args], path) for _ in range(repeat)]
    c = min(c_runs, key=lambda r: r[0]["seconds"])[0]
    py, _ = run([a.nannyml, a.peer, *args], path)
    worst, alerts = max_diff(c, py)
    print(f"command: {os.environ.get('BENCH_COMMAND', 'bench/feedback/cbpe.sh')}")
    print(f"rows: reference {ref_rows} ({len(c['reference'])} chunks), analysis {chunks} x {chunk}; "
          f"metrics {METRICS}; calibrated {c['calibrated']}; analysis alerts {alerts}")
    print(f"C (feedback/cbpe.h, -O2)  fit+estimate {c['seconds']:.3f} s (best of {repeat})")
    print(f"nannyml 0.13.1 CBPE       fit+estimate {py['seconds']:.3f} s")
    print(f"ratio {py['seconds'] / c['seconds']:.1f}x; largest difference of any number {worst:.3g}")


if __name__ == "__main__":
    main()
