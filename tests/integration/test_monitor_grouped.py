"""`capstan monitor drift --max-memory MiB`: files larger than the budget are read, tested and
charted a group of columns at a time (monitor/grouped.c), and the report must be the in-memory
report to the byte (--json and --html), whatever the groups. Small files and fractional MiB
budgets force groups of one or two columns; the default budget reads them whole."""
import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import BIN

TINY = "0.46"    # MiB, for 5,000 rows: one test thread, one to four columns a group
SMALL = "0.8"    # two test threads, a few columns a group


def run(*args):
    p = subprocess.run([BIN, "monitor", "drift", *args], capture_output=True, timeout=300)
    assert b"Sanitizer" not in p.stderr, p.stderr.decode()
    return p.returncode, p.stdout, p.stderr.decode()


def groups(stderr):
    m = re.search(r"tested in (\d+) groups of columns", stderr)
    return int(m.group(1)) if m else 0


def frame(rng, n, shift):
    """Numbers, integers, categories, text that starts late, empty cells, infinities, quoted
    commas, and duplicated rows (some equal only up to the last column)."""
    df = pd.DataFrame({
        "x": rng.normal(shift, 1, n),
        "gaps": np.where(rng.random(n) < 0.15, np.nan, rng.normal(0, 2, n)),
        "wide_int": rng.integers(0, 1000, n),
        "small_int": rng.integers(0, 4 + int(shift), n),
        "city": rng.choice(["Oslo", "Lima", "Pune, MH", ""], n),
        "late_text": rng.choice(["1", "2", "3"], n).astype(object),
        "inf": rng.normal(0, 1, n),
        "const": np.full(n, 7.0),
        "last": rng.normal(0, 1, n),
    })
    df.loc[n - 40:, "late_text"] = "x"          # a column that turns text near its end
    df.loc[::97, "inf"] = np.inf
    df.loc[1:60, :] = df.loc[100:159, :].values   # whole duplicated rows
    df.loc[200:230, :"inf"] = df.loc[300:330, :"inf"].values  # equal but in two columns
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("grouped")
    rng = np.random.default_rng(15)
    ref, cur = frame(rng, 3000, 0.0), frame(rng, 2000, 0.3)
    cur = cur[list(reversed(cur.columns))]      # the current's columns in another order
    paths = {"ref": d / "ref.csv", "cur": d / "cur.csv"}
    ref.to_csv(paths["ref"], index=False)
    cur.to_csv(paths["cur"], index=False)
    num = [c for c in ref.columns if c not in ("city", "late_text")]
    ref_n, cur_n = ref[num].replace(np.inf, 1e300), cur[num].replace(np.inf, 1e300)
    np.save(d / "ref.npy", ref_n.to_numpy())
    np.save(d / "cur.npy", cur_n[num].to_numpy())
    ref.head(1500).to_json(d / "ref.jsonl", orient="records", lines=True)
    cur.head(1200).to_json(d / "cur.jsonl", orient="records", lines=True)
    paths.update({"ref_npy": d / "ref.npy", "cur_npy": d / "cur.npy",
                  "ref_jsonl": d / "ref.jsonl", "cur_jsonl": d / "cur.jsonl", "dir": d,
                  "num": num})
    return paths


def same_report(ref, cur, args, tmp, budgets=(TINY, SMALL)):
    """The JSON and the page with each budget, byte for byte the default's."""
    whole_html = tmp / "whole.html"
    rc, whole, err = run("--reference", str(ref), "--current", str(cur), *args, "--json",
                         "--html", str(whole_html))
    assert rc == 0, err
    assert groups(err) == 0, err
    seen = []
    for b in budgets:
        html = tmp / f"b{b}.html"
        rc, out, err = run("--reference", str(ref), "--current", str(cur), *args, "--json",
                           "--html", str(html), "--max-memory", b)
        assert rc == 0, err
        assert out == whole
        assert html.read_bytes() == whole_html.read_bytes()
        seen.append(groups(err))
    return whole, seen


def test_csv_in_groups_is_the_whole_report(files, tmp_path):
    out, seen = same_report(files["ref"], files["cur"], ["--categorical", "late_text"], tmp_path)
    assert seen[0] >= 4 and seen[1] >= 2, seen   # several passes, a few columns a group
    dups = json.loads(out)["data_quality"]["duplicated_rows"]
    # pandas' count over the same cells: rows equal in every column, not just in the first
    # groups (rows 200..230 equal rows 300..330 up to "inf" only)
    assert dups["count_reference"] == int(pd.read_csv(files["ref"]).duplicated().sum())
    assert dups["count"] == int(pd.read_csv(files["cur"]).duplicated().sum())
    assert dups["count_reference"] > 0


def test_columns_and_options_in_groups(files, tmp_path):
    same_report(files["ref"], files["cur"],
                ["--columns", "x,gaps,city,small_int,const", "--stattest-column", "x=ks",
                 "--threshold-column", "gaps=0.2", "--numerical", "small_int"], tmp_path)


def test_npy_and_jsonl_in_groups(files, tmp_path):
    names = ",".join(files["num"])
    _, seen = same_report(files["ref_npy"], files["cur_npy"], ["--columns", names], tmp_path)
    assert seen[0] >= 2, seen
    _, seen = same_report(files["ref_jsonl"], files["cur_jsonl"],
                          ["--categorical", "late_text"], tmp_path, budgets=("0.25",))
    assert seen[0] >= 2, seen


def test_errors_are_the_same(files, tmp_path):
    d = files["dir"]
    ref = pd.read_csv(files["ref"])
    ref.drop(columns=["gaps"]).to_csv(d / "lacks.csv", index=False)
    cases = [
        [str(d / "lacks.csv"), str(files["cur"])],                     # mismatched columns
        [str(files["ref"]), str(files["cur"]), "--numerical", "city"],  # text named numerical
        [str(files["ref"]), str(files["cur"]), "--stattest-column", "city=ks"],  # in a group
    ]
    for c in cases:
        want = run("--reference", c[0], "--current", c[1], *c[2:], "--json")
        got = run("--reference", c[0], "--current", c[1], *c[2:], "--json", "--max-memory", TINY)
        assert want[0] == 2 and got[0] == 2, (want, got)
        assert got[2] == want[2] and got[1] == b""


def test_budget_too_small(files):
    rc, out, err = run("--reference", str(files["ref"]), "--current", str(files["cur"]),
                       "--json", "--max-memory", "0.05")
    assert rc == 2 and out == b""
    assert "too small for these files: one column at a time needs" in err
    assert "3000 + 2000 rows" in err


@pytest.mark.parametrize("bad", ["0", "-1", "lots", "nan"])
def test_bad_budget(files, bad):
    rc, out, err = run("--reference", str(files["ref"]), "--current", str(files["cur"]),
                       "--max-memory", bad)
    assert rc == 2 and out == b""
    assert f"--max-memory '{bad}' is not a positive number of MiB" in err


def test_first_read_past_the_budget(tmp_path):
    """40 columns: the first read passes the budget part way and keeps only the types (its
    cells dropped mid-file, a column turning text after that), and the groups still give the
    whole report."""
    rng = np.random.default_rng(7)
    for name, n in (("ref", 4000), ("cur", 3000)):
        df = pd.DataFrame({f"v{i}": rng.normal(i % 3, 1, n).round(3) for i in range(38)})
        df["grade"] = rng.choice(["a", "b", "c"], n)
        df["tail"] = rng.choice(["1", "2"], n).astype(object)
        df.loc[n - 5:, "tail"] = "late"
        df.loc[10:30, :] = df.loc[50:70, :].values
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    _, seen = same_report(tmp_path / "ref.csv", tmp_path / "cur.csv",
                          ["--categorical", "tail"], tmp_path, budgets=("0.75", "1.2"))
    assert seen[0] >= 3 and seen[1] >= 2, seen
