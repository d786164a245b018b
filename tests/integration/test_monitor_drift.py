"""`capstan monitor drift` against the real Evidently 0.7.23 on generated
frames: every column's test, threshold, score and verdict, and the dataset
verdict, for Evidently's default choice of test and for every test by id;
where Evidently itself fails on valid data, against scipy directly; and bad
input, each a clear error (exit status 2, the problem named on stderr,
nothing on stdout, no --html file).

Evidently runs in .venv-evidently (scripts/bootstrap; evidently 0.7.23 needs
pandas < 3) through evidently_drift.py, one process for the whole module.
Frames are seeded (numpy default_rng) and written as CSV (pandas' to_csv:
shortest round-trip floats, NaN as an empty cell, inf as "inf"), some as
JSONL or .npy; Evidently reads the same files as a pandas user would.

Tolerance: 1e-9 relative, 1e-12 absolute near zero; verdicts equal. The two
permutation tests (TVD: 1000 permutations, empirical_mmd: 100) are compared
within Monte-Carlo error instead: 5 standard errors of the difference of two
independent estimates of the same p-value."""
import json
import math
import os
import subprocess
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import BIN, ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
EV_PY = os.environ.get("CAPSTAN_EVIDENTLY_PY", os.path.join(ROOT, ".venv-evidently", "bin", "python"))
REL, ABS = 1e-9, 1e-12
PERMUTATIONS = {"TVD": 1000, "empirical_mmd": 100}  # Evidently's counts
DISPLAY = {"ks": "K-S p_value", "chisquare": "chi-square p_value", "z": "Z-test p_value",
           "wasserstein": "Wasserstein distance (normed)", "jensenshannon": "Jensen-Shannon distance",
           "psi": "PSI", "kl_div": "Kullback-Leibler divergence", "hellinger": "Hellinger distance",
           "TVD": "Total-Variation-Distance", "anderson": "Anderson-Darling",
           "cramer_von_mises": "Cramer-von Mises", "mannw": "Mann-Whitney U-rank test",
           "ed": "Energy-distance", "es": "Epps-Singleton", "t_test": "t_test",
           "fisher_exact": "Fisher's Exact test", "g_test": "g_test", "empirical_mmd": "empirical_mmd"}
NUM_TESTS = ["ks", "wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "anderson",
             "cramer_von_mises", "mannw", "ed", "es", "t_test", "empirical_mmd"]
CAT_TESTS = ["chisquare", "z", "jensenshannon", "psi", "kl_div", "hellinger", "TVD",
             "fisher_exact", "g_test"]


# ---- running both sides ----

class Evidently:
    """evidently_drift.py --serve: one question per line."""

    def __init__(self):
        if not os.access(EV_PY, os.X_OK):
            pytest.fail(f"no Evidently python at {EV_PY}: run scripts/bootstrap --python "
                        "(or set CAPSTAN_EVIDENTLY_PY)")
        self.proc = subprocess.Popen([EV_PY, os.path.join(HERE, "evidently_drift.py"), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)

    def ask(self, spec):
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "evidently_drift.py ended without an answer"
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def evidently():
    ev = Evidently()
    yield ev
    ev.close()


def capstan(ref, cur, *args, json_out=True):
    cmd = [BIN, "monitor", "drift", "--reference", str(ref), "--current", str(cur), *args]
    if json_out:
        cmd.append("--json")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "Sanitizer" not in p.stderr, p.stderr
    return p.returncode, p.stdout, p.stderr


def spec_of(ref, cur, args):
    """The Evidently question that the CLI arguments ask."""
    spec = {"reference": str(ref), "current": str(cur), "numerical": None, "categorical": None,
            "columns": None, "stattest": None, "per_column_stattest": None, "threshold": None,
            "per_column_threshold": None, "drift_share": None}
    it = iter(args)
    for flag in it:
        val = next(it)
        if flag in ("--numerical", "--categorical", "--columns"):
            spec[flag[2:]] = val.split(",")
        elif flag == "--stattest":
            spec["stattest"] = val
        elif flag == "--threshold":
            spec["threshold"] = float(val)
        elif flag == "--drift-share":
            spec["drift_share"] = float(val)
        elif flag in ("--stattest-column", "--threshold-column"):
            col, v = val.split("=", 1)
            key = "per_column_stattest" if flag == "--stattest-column" else "per_column_threshold"
            spec[key] = {**(spec[key] or {}), col: v if key == "per_column_stattest" else float(v)}
        else:
            raise AssertionError(f"spec_of: unknown flag {flag}")
    return spec


def write(df, path):
    path = str(path)
    if path.endswith(".npy"):
        np.save(path, df.to_numpy(dtype=np.float64))
    elif path.endswith(".jsonl"):  # json.dumps: round-trip floats (to_json keeps 10 digits)
        with open(path, "w") as f:
            for row in df.to_dict(orient="records"):
                f.write(json.dumps({k: None if isinstance(v, float) and math.isnan(v) else v
                                    for k, v in row.items()}) + "\n")
    else:
        df.to_csv(path, index=False)
    return path


# ---- comparing ----

def close(ours, theirs):
    if theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
        return ours is None or (isinstance(ours, float) and math.isnan(ours))
    if ours is None:
        return False
    if math.isinf(theirs):
        return ours == theirs
    return abs(ours - theirs) <= max(ABS, REL * abs(theirs))


def mc_close(ours, theirs, perms):
    """Two estimates of one p-value from `perms` permutations each."""
    p = min(max(theirs, 1.0 / perms), 1 - 1.0 / perms)
    return abs(ours - theirs) <= 5 * math.sqrt(2 * p * (1 - p) / perms) + 1e-12


def assert_column(c, e, header):
    name = c["column"]
    where = f"column {name!r}: ours {c}, Evidently {e}"
    assert c["column_type"] == e["column_type"], where
    # Each test has an id and a display name, one to one: either names the same test.
    assert c["stattest"] in (e["stattest"], e["stattest_id"]), where
    assert close(c["stattest_threshold"], e["stattest_threshold"]), where
    perms = PERMUTATIONS.get(e["stattest_id"])
    if perms:
        assert mc_close(c["drift_score"], e["drift_score"], perms), where
        se = math.sqrt(max(e["drift_score"] * (1 - e["drift_score"]), 1.0 / perms) / perms)
        if abs(e["drift_score"] - e["stattest_threshold"]) > 5 * se:
            assert c["drift_detected"] == e["drift_detected"], where
    else:
        assert close(c["drift_score"], e["drift_score"]), where
        assert c["drift_detected"] == e["drift_detected"], where


def assert_same(ours, theirs, header):
    assert "error" not in theirs, f"Evidently failed on this frame: {theirs['error']}"
    assert set(ours) >= {"dataset_drift", "drift_share", "number_of_columns",
                         "number_of_drifted_columns", "share_of_drifted_columns", "columns"}
    by_name = {e["column"]: e for e in theirs["columns"]}
    names = [c["column"] for c in ours["columns"]]
    assert sorted(names) == sorted(by_name), (names, list(by_name))
    assert names == [h for h in header if h in by_name], "columns not in input order"
    for c in ours["columns"]:
        assert_column(c, by_name[c["column"]], header)
    assert ours["number_of_columns"] == theirs["number_of_columns"]
    drifted = sum(c["drift_detected"] for c in ours["columns"])
    assert ours["number_of_drifted_columns"] == drifted
    assert close(ours["share_of_drifted_columns"], drifted / len(names))
    assert close(ours["drift_share"], theirs["drift_share"])
    assert ours["dataset_drift"] == (drifted / len(names) >= theirs["drift_share"])
    if not any(e["stattest_id"] in PERMUTATIONS for e in theirs["columns"]):
        assert ours["number_of_drifted_columns"] == theirs["number_of_drifted_columns"]
        assert ours["dataset_drift"] == theirs["dataset_drift"]


def check(evidently, tmp_path, ref, cur, args=(), ext="csv"):
    r = write(ref, tmp_path / f"ref.{ext}")
    c = write(cur, tmp_path / f"cur.{ext}")
    rc, out, err = capstan(r, c, *args)
    assert rc == 0, err
    ours = json.loads(out)
    theirs = evidently.ask(spec_of(r, c, list(args)))
    header = [f"f{i}" for i in range(ref.shape[1])] if ext == "npy" else list(ref.columns)
    assert_same(ours, theirs, header)
    return ours, theirs


# ---- frames for Evidently's default choice of test ----

def rng(seed):
    return np.random.default_rng(seed)


def normal_frame(g, n, shift=0.0):
    return pd.DataFrame({"x_normal": g.normal(shift, 1.0, n),
                         "x_uniform": g.uniform(-1 + shift, 1 + shift, n),
                         "x_lognormal": g.lognormal(shift, 0.5, n)})


def ints(g, n, k, shift=0.0):
    """n integers from k values, tilted by shift towards the high ones."""
    p = np.linspace(1.0, 1.0 + shift, k)
    return g.choice(np.arange(k), n, p=p / p.sum())


def cats(g, n, values, shift=0.0):
    p = np.linspace(1.0, 1.0 + shift, len(values))
    return g.choice(np.array(values, dtype=object), n, p=p / p.sum())


def with_bad_values(g, x, share=0.05):
    """NaN, +inf and -inf in about `share` of the cells each."""
    x = x.astype(float).copy()
    for bad in (np.nan, np.inf, -np.inf):
        x[g.random(len(x)) < share] = bad
    return x


def case_numerical(n_ref, n_cur, seed):
    def make():
        g = rng(seed)
        return normal_frame(g, n_ref), normal_frame(g, n_cur, 0.1), ()
    return make


def case_ints(n_ref, n_cur, k, seed, as_numerical=False):
    def make():
        g = rng(seed)
        ref = pd.DataFrame({"i_same": ints(g, n_ref, k), "i_tilted": ints(g, n_ref, k)})
        cur = pd.DataFrame({"i_same": ints(g, n_cur, k), "i_tilted": ints(g, n_cur, k, 0.6)})
        return ref, cur, (("--numerical", "i_same,i_tilted") if as_numerical else ())
    return make


def case_cats(n_ref, n_cur, values, seed):
    def make():
        g = rng(seed)
        ref = pd.DataFrame({"c_same": cats(g, n_ref, values), "c_tilted": cats(g, n_ref, values)})
        cur = pd.DataFrame({"c_same": cats(g, n_cur, values),
                            "c_tilted": cats(g, n_cur, values, 0.8)})
        return ref, cur, ()
    return make


def case_mixed(n_ref, n_cur, seed):
    def make():
        g = rng(seed)
        ref = pd.DataFrame({"age": g.integers(18, 80, n_ref), "city": cats(g, n_ref, list("PQRS")),
                            "score": g.normal(0, 1, n_ref), "flag": ints(g, n_ref, 2),
                            "rating": ints(g, n_ref, 5) + 1})
        cur = pd.DataFrame({"age": g.integers(20, 80, n_cur), "city": cats(g, n_cur, list("PQRS"), 1.0),
                            "score": g.normal(0.3, 1, n_cur), "flag": ints(g, n_cur, 2, 0.2),
                            "rating": ints(g, n_cur, 5) + 1})
        return ref, cur, ()
    return make


def case_nan_inf(n_ref, n_cur, seed):
    def make():
        g = rng(seed)
        ref, cur = normal_frame(g, n_ref), normal_frame(g, n_cur, 0.05)
        for df in (ref, cur):
            for col in df.columns:
                df[col] = with_bad_values(g, df[col].to_numpy())
        ref["few_nan"] = with_bad_values(g, ints(g, n_ref, 4).astype(float), 0.1)
        cur["few_nan"] = with_bad_values(g, ints(g, n_cur, 4, 0.3).astype(float), 0.1)
        return ref, cur, ()
    return make


def case_constant(n_ref, n_cur, seed):
    def make():
        g = rng(seed)
        ref = pd.DataFrame({"const_same": np.full(n_ref, 3.5), "const_moved": np.full(n_ref, 3.5),
                            "const_ref_only": np.full(n_ref, 2.0),
                            "const_cur_only": g.normal(0, 1, n_ref),
                            "const_text": ["a"] * n_ref})
        cur = pd.DataFrame({"const_same": np.full(n_cur, 3.5), "const_moved": np.full(n_cur, 4.5),
                            "const_ref_only": g.normal(2, 1, n_cur),
                            "const_cur_only": np.full(n_cur, 0.25),
                            "const_text": ["a"] * n_cur})
        return ref, cur, ()
    return make


def case_one_row_current(n_ref, seed):
    def make():
        g = rng(seed)
        ref = normal_frame(g, n_ref)
        ref["kind"] = cats(g, n_ref, list("xyz"))
        cur = normal_frame(g, 1, 0.5)
        cur["kind"] = ["y"]
        # one text cell is "free text" to Evidently's typing (distinct > half the rows)
        return ref, cur, ("--categorical", "kind")
    return make


def case_one_value_current(n_ref, n_cur, seed):
    """A current window in which every column holds one value."""
    def make():
        g = rng(seed)
        ref = normal_frame(g, n_ref)
        ref["kind"] = cats(g, n_ref, list("xyz"))
        ref["level"] = ints(g, n_ref, 4)
        cur = pd.DataFrame({c: np.full(n_cur, ref[c].iloc[0]) for c in normal_frame(g, 1).columns})
        cur["kind"] = ["z"] * n_cur
        cur["level"] = np.full(n_cur, 2)
        return ref, cur, ()
    return make


def case_unseen(n_ref, n_cur, seed):
    """Categories in the current data that the reference lacks."""
    def make():
        g = rng(seed)
        ref = pd.DataFrame({"c_new": cats(g, n_ref, ["a", "b", "c"]),
                            "i_new": ints(g, n_ref, 3)})
        cur = pd.DataFrame({"c_new": cats(g, n_cur, ["a", "b", "c", "d"]),
                            "i_new": ints(g, n_cur, 5)})
        return ref, cur, ()
    return make


def case_dtype_change(n_ref, n_cur, seed):
    """An int column in the reference that is float (NaN) in the current data."""
    def make():
        g = rng(seed)
        ref = pd.DataFrame({"level": ints(g, n_ref, 4), "count": g.integers(0, 50, n_ref)})
        cur_level = ints(g, n_cur, 4).astype(float)
        cur_level[:3] = np.nan
        cur = pd.DataFrame({"level": cur_level, "count": g.integers(0, 50, n_cur)})
        return ref, cur, ()
    return make


def case_cat_missing(n_ref, n_cur, seed):
    """Text categories with empty cells (NaN to pandas, dropped before testing)."""
    def make():
        g = rng(seed)
        ref = pd.DataFrame({"c_gaps": cats(g, n_ref, ["lo", "mid", "hi"])})
        cur = pd.DataFrame({"c_gaps": cats(g, n_cur, ["lo", "mid", "hi"], 0.4)})
        for df in (ref, cur):
            df.loc[g.random(len(df)) < 0.1, "c_gaps"] = np.nan
        return ref, cur, ()
    return make


def case_bool(n_ref, n_cur, seed):
    """True/False cells: pandas reads a bool column, which Evidently types categorical."""
    def make():
        g = rng(seed)
        ref = pd.DataFrame({"ok": g.random(n_ref) < 0.3, "x": g.normal(0, 1, n_ref)})
        cur = pd.DataFrame({"ok": g.random(n_cur) < 0.4, "x": g.normal(0, 1, n_cur)})
        return ref, cur, ()
    return make


def case_many_cats(n_ref, n_cur, k, seed):
    def make():
        g = rng(seed)
        values = [f"v{i:02d}" for i in range(k)]
        ref = pd.DataFrame({"c_many": cats(g, n_ref, values)})
        cur = pd.DataFrame({"c_many": cats(g, n_cur, values, 0.5)})
        return ref, cur, ()
    return make


DEFAULT_CASES = {
    "num_small_ref_1000": case_numerical(1000, 400, 1),
    "num_large_ref_1001": case_numerical(1001, 400, 2),
    "num_large_ref_20000": case_numerical(20000, 5000, 3),
    "num_tiny_ref_15": case_numerical(15, 12, 4),
    "int_2_values_small": case_ints(600, 300, 2, 5),
    "int_2_values_small_as_numerical": case_ints(600, 300, 2, 6, True),
    "int_3_values_small": case_ints(600, 300, 3, 7),
    "int_5_values_small": case_ints(900, 500, 5, 8),
    "int_4_values_small_as_numerical": case_ints(700, 300, 4, 9, True),
    "int_6_values_small": case_ints(800, 300, 6, 10),
    "int_40_values_small": case_ints(1000, 300, 40, 11),
    "int_2_values_large": case_ints(5000, 2000, 2, 12),
    "int_4_values_large": case_ints(5000, 2000, 4, 13),
    "int_4_values_large_as_numerical": case_ints(5000, 2000, 4, 14, True),
    "int_6_values_large": case_ints(5000, 2000, 6, 15),
    "int_40_values_large": case_ints(8000, 3000, 40, 16),
    "cat_2_small": case_cats(500, 200, ["no", "yes"], 17),
    "cat_4_small": case_cats(800, 300, ["red", "green", "blue", "grey"], 18),
    "cat_4_large": case_cats(6000, 2000, ["red", "green", "blue", "grey"], 19),
    "cat_2_large": case_cats(6000, 2000, ["no", "yes"], 20),
    "mixed_small": case_mixed(900, 400, 21),
    "mixed_large": case_mixed(4000, 1500, 22),
    "nan_inf_small": case_nan_inf(800, 300, 23),
    "nan_inf_large": case_nan_inf(5000, 1000, 24),
    "constant_small": case_constant(500, 200, 25),
    "constant_large": case_constant(3000, 800, 26),
    "one_row_current_small": case_one_row_current(700, 27),
    "one_row_current_large": case_one_row_current(3000, 28),
    "one_value_current_small": case_one_value_current(700, 50, 29),
    "one_value_current_large": case_one_value_current(3000, 50, 30),
    "unseen_categories_large": case_unseen(4000, 1000, 31),
    "dtype_change_small": case_dtype_change(600, 200, 32),
    # Evidently types an int column with <= 10 values (in the current data) categorical
    "int_10_values_small": case_ints(900, 400, 10, 34),
    "int_11_values_small": case_ints(900, 400, 11, 35),
    "int_10_values_large": case_ints(4000, 1500, 10, 36),
    "int_11_values_large": case_ints(4000, 1500, 11, 37),
    "cat_missing_cells_small": case_cat_missing(700, 300, 38),
    "cat_missing_cells_large": case_cat_missing(4000, 1200, 39),
    "bool_small": case_bool(600, 300, 44),
    "bool_large": case_bool(3000, 900, 45),
    "cat_30_values_small": case_many_cats(900, 400, 30, 46),
    "cat_30_values_large": case_many_cats(5000, 2000, 30, 47),
}


@pytest.mark.parametrize("name", list(DEFAULT_CASES))
def test_default_tests_as_evidently(evidently, tmp_path, name):
    ref, cur, args = DEFAULT_CASES[name]()
    check(evidently, tmp_path, ref, cur, args)


def test_unseen_category_chisquare_as_scipy(evidently, tmp_path):
    """A small reference's default test for 3+ categories is chi-square, whose
    expected count is 0 for a category only the current data has. Evidently
    0.7.23 under scipy 1.17 answers p = 0 (an infinite statistic) with a
    warning; the issue reports it raising under other scipy versions. Either
    way the answer to match is scipy.stats.chisquare on Evidently's counts
    (the reference's counts scaled to the current size)."""
    ref, cur, args = case_unseen(600, 250, 33)()
    r, c = write(ref, tmp_path / "ref.csv"), write(cur, tmp_path / "cur.csv")
    rc, out, err = capstan(r, c, *args)
    assert rc == 0, err
    ours = {col["column"]: col for col in json.loads(out)["columns"]}
    for name in ("c_new", "i_new"):
        keys = sorted(set(ref[name]) | set(cur[name]))
        f_obs = np.array([np.sum(cur[name] == k) for k in keys], dtype=float)
        f_exp = np.array([np.sum(ref[name] == k) for k in keys], dtype=float) * len(cur) / len(ref)
        with np.errstate(divide="ignore"):
            p = stats.chisquare(f_obs, f_exp).pvalue
        assert ours[name]["stattest"] in ("chisquare", DISPLAY["chisquare"])
        assert close(ours[name]["drift_score"], float(p)), (ours[name], p)
        assert ours[name]["drift_detected"] == (p < 0.05)
    theirs = evidently.ask(spec_of(r, c, []))
    if "error" not in theirs:
        assert_same(json.loads(out), theirs, list(ref.columns))


# ---- options: thresholds, drift share, per-column tests, column lists, formats ----

def drift_share_frame(seed):
    g = rng(seed)
    ref = pd.DataFrame({"a": g.normal(0, 1, 800), "b": g.normal(0, 1, 800),
                        "c": g.normal(0, 1, 800), "d": g.normal(0, 1, 800)})
    cur = pd.DataFrame({"a": g.normal(1, 1, 300), "b": g.normal(1, 1, 300),
                        "c": g.normal(0, 1, 300), "d": g.normal(0, 1, 300)})
    return ref, cur


OPTION_CASES = {
    "drift_share_default_half_met": (0, ()),
    "drift_share_0.3": (0, ("--drift-share", "0.3")),
    "drift_share_0.75_not_met": (0, ("--drift-share", "0.75")),
    "drift_share_1": (0, ("--drift-share", "1")),
    "drift_share_0": (0, ("--drift-share", "0")),
    "threshold_all_0.2": (0, ("--threshold", "0.2")),
    "threshold_column": (0, ("--threshold-column", "a=1e-300", "--threshold-column", "c=0.9")),
    "threshold_global_and_column": (0, ("--threshold", "0.01", "--threshold-column", "d=0.99")),
    "stattest_column": (0, ("--stattest-column", "a=psi", "--stattest-column", "b=mannw",
                            "--stattest-column", "c=wasserstein")),
    "stattest_column_with_threshold": (0, ("--stattest-column", "a=psi", "--threshold-column",
                                           "a=0.5", "--stattest", "t_test")),
    "stattest_all_with_threshold": (0, ("--stattest", "hellinger", "--threshold", "0.05")),
    "columns_subset": (0, ("--columns", "d,a")),
    "columns_subset_share": (0, ("--columns", "a,c,d", "--drift-share", "0.34")),
    "numerical_named": (0, ("--numerical", "a,b,c,d")),
    "categorical_named_float": (1, ("--categorical", "cat_float")),
}


@pytest.mark.parametrize("name", list(OPTION_CASES))
def test_options_as_evidently(evidently, tmp_path, name):
    kind, args = OPTION_CASES[name]
    ref, cur = drift_share_frame(40)
    if kind == 1:  # few float values, typed categorical by the caller
        g = rng(41)
        ref["cat_float"] = g.choice([0.5, 1.5, 2.5], len(ref))
        cur["cat_float"] = g.choice([0.5, 1.5, 2.5], len(cur), p=[0.2, 0.3, 0.5])
    check(evidently, tmp_path, ref, cur, args)


@pytest.mark.parametrize("ext", ["jsonl", "npy"])
def test_file_formats_as_evidently(evidently, tmp_path, ext):
    g = rng(42)
    ref, cur = normal_frame(g, 900), normal_frame(g, 400, 0.15)
    ref["level"] = ints(g, 900, 3).astype(float)
    cur["level"] = ints(g, 400, 3, 0.5).astype(float)
    if ext == "jsonl":
        ref["kind"] = cats(g, 900, ["u", "v", "w"])
        cur["kind"] = cats(g, 400, ["u", "v", "w"], 0.5)
        ref.loc[5, "x_normal"] = np.nan  # null in JSONL
    check(evidently, tmp_path, ref, cur, (), ext)


def test_formats_agree_with_each_other(tmp_path):
    """The same numbers read from CSV, JSONL and .npy give the same report."""
    g = rng(43)
    ref, cur = normal_frame(g, 500), normal_frame(g, 200, 0.2)
    outs = []
    for ext in ("csv", "jsonl", "npy"):
        r, c = write(ref, tmp_path / f"r.{ext}"), write(cur, tmp_path / f"c.{ext}")
        rc, out, err = capstan(r, c)
        assert rc == 0, err
        cols = json.loads(out)["columns"]
        outs.append([(x["stattest"], x["drift_score"], x["drift_detected"]) for x in cols])
    assert outs[0] == outs[1] == outs[2]


# ---- every test by id ----

def num_frame(g, n_ref, n_cur):
    ref = pd.DataFrame({"n_same": g.normal(0, 1, n_ref), "n_shift": g.normal(0, 1, n_ref),
                        "n_ties": g.integers(0, 12, n_ref), "n_scale": g.normal(5, 1, n_ref)})
    cur = pd.DataFrame({"n_same": g.normal(0, 1, n_cur), "n_shift": g.normal(0.25, 1, n_cur),
                        "n_ties": g.integers(1, 12, n_cur), "n_scale": g.normal(5, 1.3, n_cur)})
    return ref, cur, ("--numerical", "n_same,n_shift,n_ties,n_scale")


def cat_frame(g, n_ref, n_cur, values):
    ref = pd.DataFrame({"k_same": cats(g, n_ref, values), "k_tilt": cats(g, n_ref, values),
                        "k_int": ints(g, n_ref, len(values))})
    cur = pd.DataFrame({"k_same": cats(g, n_cur, values), "k_tilt": cats(g, n_cur, values, 0.7),
                        "k_int": ints(g, n_cur, len(values), 0.3)})
    return ref, cur, ("--categorical", "k_same,k_tilt,k_int")


def stattest_cases():
    out = []
    for t in NUM_TESTS:
        sizes = [(150, 90)] if t == "empirical_mmd" else [(300, 200), (3000, 1200)]
        for n_ref, n_cur in sizes:
            out.append(pytest.param(t, "num", n_ref, n_cur, id=f"{t}-num-{n_ref}x{n_cur}"))
    for t in CAT_TESTS:
        # Evidently's G-test and Fisher test need equal sizes (they raise otherwise;
        # the G-test on unequal sizes is checked against scipy below)
        sizes = ([(400, 400), (3000, 3000)] if t in ("g_test", "fisher_exact")
                 else [(300, 200), (3000, 1200)])
        for n_ref, n_cur in sizes:
            out.append(pytest.param(t, "cat", n_ref, n_cur, id=f"{t}-cat-{n_ref}x{n_cur}"))
    return out


@pytest.mark.parametrize("stattest,kind,n_ref,n_cur", stattest_cases())
def test_every_stattest_as_evidently(evidently, tmp_path, stattest, kind, n_ref, n_cur):
    g = rng(zlib.crc32(f"{stattest}/{n_ref}".encode()))
    if kind == "num":
        ref, cur, args = num_frame(g, n_ref, n_cur)
    else:
        # fisher_exact and z take two categories only
        values = ["no", "yes"] if stattest in ("fisher_exact", "z") else ["a", "b", "c", "d"]
        ref, cur, args = cat_frame(g, n_ref, n_cur, values)
    ours, theirs = check(evidently, tmp_path, ref, cur, (*args, "--stattest", stattest))
    for c in ours["columns"]:
        assert c["stattest"] in (stattest, DISPLAY[stattest])


@pytest.mark.parametrize("stattest", NUM_TESTS)
def test_every_num_stattest_with_nan_inf_and_threshold(evidently, tmp_path, stattest):
    n_ref, n_cur = (120, 80) if stattest == "empirical_mmd" else (700, 300)
    g = rng(50 + NUM_TESTS.index(stattest))
    ref, cur, args = num_frame(g, n_ref, n_cur)
    for df in (ref, cur):
        df["n_shift"] = with_bad_values(g, df["n_shift"].to_numpy(), 0.03)
    check(evidently, tmp_path, ref, cur,
          (*args, "--stattest", stattest, "--threshold-column", "n_same=0.3"))


@pytest.mark.parametrize("stattest", ["chisquare", "jensenshannon", "psi", "kl_div", "hellinger",
                                      "TVD", "g_test"])
def test_cat_stattest_with_unseen_category(evidently, tmp_path, stattest):
    """A category only the current data has (empty reference bins: Evidently's
    epsilon rule for the binned distances, an infinite statistic for chi-square
    and G)."""
    g = rng(zlib.crc32(f"unseen/{stattest}".encode()))
    n_ref, n_cur = (500, 500) if stattest == "g_test" else (700, 300)
    ref = pd.DataFrame({"k": cats(g, n_ref, ["a", "b", "c"]), "k_rare": cats(g, n_ref, ["a", "b"])})
    cur = pd.DataFrame({"k": cats(g, n_cur, ["a", "b", "c", "new"]),
                        "k_rare": cats(g, n_cur, ["a", "b"])})
    cur.loc[:2, "k_rare"] = "seen_once"
    check(evidently, tmp_path, ref, cur, ("--categorical", "k,k_rare", "--stattest", stattest))


@pytest.mark.parametrize("stattest", ["psi", "kl_div", "jensenshannon", "hellinger",
                                      "wasserstein", "ks", "anderson", "mannw"])
@pytest.mark.parametrize("n_ref", [18, 2500])
def test_num_stattest_outside_reference_range(evidently, tmp_path, stattest, n_ref):
    """Current values beyond the reference's range, and a numerical column with
    few values (one bin per value when the reference has <= 20 of them; the
    equal-width bins over both samples otherwise)."""
    g = rng(zlib.crc32(f"range/{stattest}/{n_ref}".encode()))
    n_cur = max(10, n_ref // 3)
    ref = pd.DataFrame({"far": g.normal(0, 1, n_ref), "few": g.integers(0, 8, n_ref) * 0.5})
    cur = pd.DataFrame({"far": g.normal(3, 1, n_cur), "few": g.integers(2, 11, n_cur) * 0.5})
    check(evidently, tmp_path, ref, cur, ("--numerical", "far,few", "--stattest", stattest))


def g_counts(ref, cur):
    keys = sorted(set(ref) | set(cur))
    return (np.array([np.sum(cur == k) for k in keys], dtype=float),
            np.array([np.sum(ref == k) for k in keys], dtype=float))


@pytest.mark.parametrize("n_ref,n_cur", [(500, 200), (300, 900), (2000, 1999)])
def test_g_test_unequal_sizes_as_scipy(evidently, tmp_path, n_ref, n_cur):
    """Evidently passes the reference's raw counts as the expected counts,
    which scipy refuses unless both samples have the same size. The right
    test scales them to the current size, as Evidently's chi-square does:
    scipy.stats.power_divergence(f_obs, f_exp * n_cur / n_ref,
    lambda_="log-likelihood")."""
    g = rng(60 + n_ref)
    ref, cur, args = cat_frame(g, n_ref, n_cur, ["a", "b", "c"])
    r, c = write(ref, tmp_path / "ref.csv"), write(cur, tmp_path / "cur.csv")
    rc, out, err = capstan(r, c, *args, "--stattest", "g_test")
    assert rc == 0, err
    ours = {col["column"]: col for col in json.loads(out)["columns"]}
    for name in ref.columns:
        f_obs, f_ref = g_counts(ref[name].to_numpy(), cur[name].to_numpy())
        p = stats.power_divergence(f_obs, f_ref * n_cur / n_ref, lambda_="log-likelihood").pvalue
        assert close(ours[name]["drift_score"], float(p)), (ours[name], p)
        assert ours[name]["drift_detected"] == (p < 0.1)
        assert close(ours[name]["stattest_threshold"], 0.1)
    theirs = evidently.ask(spec_of(r, c, [*args, "--stattest", "g_test"]))
    assert "error" in theirs, "Evidently's G-test ran on unequal sizes: compare with it instead"


@pytest.mark.parametrize("n_ref,n_cur", [(500, 200), (40, 90)])
def test_fisher_exact_unequal_sizes_as_scipy(evidently, tmp_path, n_ref, n_cur):
    """Evidently's Fisher test refuses samples of different sizes, though the
    2x2 table (category x sample) needs no such thing: the answer to match is
    scipy.stats.fisher_exact on that table, two-sided."""
    g = rng(90 + n_ref)
    ref = pd.DataFrame({"b": cats(g, n_ref, ["no", "yes"]), "t": cats(g, n_ref, ["no", "yes"])})
    cur = pd.DataFrame({"b": cats(g, n_cur, ["no", "yes"]),
                        "t": cats(g, n_cur, ["no", "yes"], 1.5)})
    args = ("--categorical", "b,t", "--stattest", "fisher_exact")
    r, c = write(ref, tmp_path / "ref.csv"), write(cur, tmp_path / "cur.csv")
    rc, out, err = capstan(r, c, *args)
    assert rc == 0, err
    ours = {col["column"]: col for col in json.loads(out)["columns"]}
    for name in ref.columns:
        table = [[int(np.sum(cur[name] == "yes")), int(np.sum(cur[name] == "no"))],
                 [int(np.sum(ref[name] == "yes")), int(np.sum(ref[name] == "no"))]]
        p = stats.fisher_exact(table).pvalue
        assert close(ours[name]["drift_score"], float(p)), (ours[name], p, table)
        assert ours[name]["drift_detected"] == (p < 0.1)
    assert "error" in evidently.ask(spec_of(r, c, list(args))), \
        "Evidently's Fisher test ran on unequal sizes: compare with it instead"


@pytest.mark.parametrize("n_ref,n_cur", [(8, 6), (20, 20), (15, 4)])
def test_cramer_von_mises_exact_as_scipy(tmp_path, n_ref, n_cur):
    """Up to 20 values per sample the Cramer-von Mises p-value is exact
    (Xiao et al. 2006). Evidently 0.7.23's own exact path is broken under
    numpy 2 (float16/uint8 counts: wrong p-values or a UFuncTypeError), so
    the answer to match is scipy.stats.cramervonmises_2samp's, the same
    method."""
    g = rng(80 + n_ref + n_cur)
    ref = pd.DataFrame({"x": g.normal(0, 1, n_ref), "y": g.normal(0, 1, n_ref)})
    cur = pd.DataFrame({"x": g.normal(0, 1, n_cur), "y": g.normal(1.5, 1, n_cur)})
    r, c = write(ref, tmp_path / "ref.csv"), write(cur, tmp_path / "cur.csv")
    rc, out, err = capstan(r, c, "--stattest", "cramer_von_mises")
    assert rc == 0, err
    ours = {col["column"]: col for col in json.loads(out)["columns"]}
    for name in ref.columns:
        p = stats.cramervonmises_2samp(ref[name].to_numpy(), cur[name].to_numpy(),
                                       method="exact").pvalue
        assert close(ours[name]["drift_score"], float(p)), (ours[name], p)
        assert ours[name]["drift_detected"] == (p < 0.1)


# ---- bad input: exit status 2, the problem named, nothing written ----

def bad_frames(g):
    ref = pd.DataFrame({"alpha": g.normal(0, 1, 50), "beta": g.normal(0, 1, 50),
                        "tag": cats(g, 50, ["p", "q"])})
    cur = pd.DataFrame({"alpha": g.normal(0, 1, 30), "beta": g.normal(0, 1, 30),
                        "tag": cats(g, 30, ["p", "q"])})
    return ref, cur


BAD_CASES = {
    # name: (how to change the frames, extra args, words one of which stderr must name)
    "mismatched_columns": ("cur_renames_beta", (), ["beta", "zeta"]),
    "text_in_numerical_column": (None, ("--numerical", "alpha,tag"), ["tag"]),
    "empty_current": ("cur_empty", (), ["current", "empty", "no rows", "rows"]),
    "reference_without_rows": ("ref_empty", (), ["reference", "empty", "no rows", "rows"]),
    "unknown_stattest": (None, ("--stattest", "kolmogorov"), ["kolmogorov"]),
    "unknown_stattest_column": (None, ("--stattest-column", "alpha=nope"), ["nope"]),
    # Evidently refuses a test on a column type it does not take
    "stattest_wrong_type": (None, ("--stattest-column", "alpha=chisquare"), ["chisquare"]),
    "threshold_negative": (None, ("--threshold", "-0.5"), ["threshold", "-0.5"]),
    "threshold_not_a_number": (None, ("--threshold", "abc"), ["threshold", "abc"]),
    "threshold_nan": (None, ("--threshold", "nan"), ["threshold", "nan"]),
    "threshold_column_negative": (None, ("--threshold-column", "alpha=-1"), ["threshold", "-1"]),
    "drift_share_above_one": (None, ("--drift-share", "1.5"), ["drift-share", "drift_share", "1.5"]),
    "drift_share_negative": (None, ("--drift-share", "-0.1"), ["drift-share", "drift_share",
                                                               "-0.1"]),
    "columns_missing": (None, ("--columns", "alpha,zz"), ["zz"]),
    "numerical_missing": (None, ("--numerical", "zz"), ["zz"]),
    "categorical_missing": (None, ("--categorical", "zz"), ["zz"]),
    "stattest_column_missing": (None, ("--stattest-column", "zz=ks"), ["zz"]),
    "threshold_column_missing": (None, ("--threshold-column", "zz=0.1"), ["zz"]),
}


def bad_case_files(tmp_path, name):
    change, args, words = BAD_CASES[name]
    ref, cur = bad_frames(rng(70))
    if change == "cur_renames_beta":
        cur = cur.rename(columns={"beta": "zeta"})
    elif change == "cur_empty":
        cur = cur.iloc[:0]
    elif change == "ref_empty":
        ref = ref.iloc[:0]
    return write(ref, tmp_path / "ref.csv"), write(cur, tmp_path / "cur.csv"), args, words


@pytest.mark.parametrize("name", list(BAD_CASES))
def test_bad_input_is_a_clear_error(tmp_path, name):
    r, c, args, words = bad_case_files(tmp_path, name)
    rc, out, err = capstan(r, c, *args)
    assert rc == 2, (rc, out, err)
    assert out == "", out
    assert err.strip(), "no message on stderr"
    assert any(w.lower() in err.lower() for w in words), err


@pytest.mark.parametrize("name", ["mismatched_columns", "empty_current", "unknown_stattest",
                                  "threshold_negative", "columns_missing"])
def test_bad_input_writes_no_html(tmp_path, name):
    r, c, args, words = bad_case_files(tmp_path, name)
    html = tmp_path / "report.html"
    rc, out, err = capstan(r, c, *args, "--html", str(html))
    assert rc == 2, (rc, out, err)
    assert not html.exists(), "a report was written for bad input"
    good = subprocess.run([BIN, "monitor", "drift", "--reference", r, "--current", r, "--html",
                           str(html)], capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert html.stat().st_size > 0 and "alpha" in html.read_text()


def test_text_cell_in_numerical_current_column(tmp_path):
    """One text cell in the current data of a column named numerical, whose
    reference is all numbers: the same file without it is accepted."""
    (tmp_path / "ref.csv").write_text("amount,b\n1.5,2\n2.5,3\n3.5,4\n")
    (tmp_path / "cur.csv").write_text("amount,b\n1.5,2\n2.5,3\n")
    rc, out, err = capstan(tmp_path / "ref.csv", tmp_path / "cur.csv", "--numerical", "amount,b")
    assert rc == 0, err
    (tmp_path / "cur.csv").write_text("amount,b\n1.5,2\noops,3\n")
    rc, out, err = capstan(tmp_path / "ref.csv", tmp_path / "cur.csv", "--numerical", "amount,b")
    assert rc == 2 and out == "" and "amount" in err, (rc, out, err)
