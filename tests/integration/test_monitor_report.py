"""`capstan monitor drift --html OUT.html`: the data-quality numbers in the
--json output against pandas on the same files, the page self-contained and
escaped, and no page written on bad input. Skipped while the CLI lacks
--html (monitor/report.c and quality.c come before the flag's wiring)."""
import json
import os
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import BIN

EVIL = "<script>alert(1)</script>"


def run(*args):
    return subprocess.run([BIN, "monitor", "drift", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module", autouse=True)
def needs_html_flag():
    if "--html" not in run("--help").stdout:
        pytest.skip("capstan monitor drift has no --html yet")


def frames(tmp_path):
    rng = np.random.default_rng(3)

    def frame(n, shift):
        d = pd.DataFrame({
            "x": rng.normal(shift, 1, n).round(2),
            "city": rng.choice(["oslo", "rome", "riga"] + (["lima"] if shift else []), n),
            EVIL: rng.integers(0, 3 + shift, n),
            "k": np.full(n, 7) if shift else rng.integers(0, 50, n),
        })
        d.loc[rng.random(n) < 0.15 * (1 + shift), "x"] = np.nan
        d.loc[rng.random(n) < 0.05, "city"] = None
        return pd.concat([d, d.iloc[: n // 10]], ignore_index=True)  # 10% repeated rows

    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    frame(1500, 0).to_csv(ref, index=False)
    frame(600, 1).to_csv(cur, index=False)
    return ref, cur


def test_html_and_quality_match_pandas(tmp_path):
    ref, cur = frames(tmp_path)
    out = tmp_path / "report.html"
    p = run("--reference", str(ref), "--current", str(cur), "--html", str(out), "--json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    q = report["data_quality"]
    r, c = pd.read_csv(ref), pd.read_csv(cur)
    cols = {e["column"]: e for e in q["columns"]}
    types = {e["column"]: e["column_type"] for e in report["columns"]}
    for name in r.columns:
        e = cols[name]
        assert e["missing_share_reference"] == pytest.approx(r[name].isna().mean(), abs=1e-12)
        assert e["missing_share_current"] == pytest.approx(c[name].isna().mean(), abs=1e-12)
        rv, cv = r[name].dropna(), c[name].dropna()
        assert e["constant_reference"] == (rv.nunique() == 1)
        assert e["constant_current"] == (cv.nunique() == 1)
        if types[name] == "cat":  # the drift report's typing decides
            new = cv[~cv.isin(set(rv))]
            assert e["new_categories"]["count"] == len(new)
            assert e["new_categories"]["distinct"] == new.nunique()
            assert e["new_categories"]["share"] == pytest.approx(len(new) / len(cv), abs=1e-12)
            assert e["out_of_range"] is None
        else:
            out_of = (cv < rv.min()) | (cv > rv.max())
            assert e["out_of_range"]["count"] == int(out_of.sum())
            assert e["out_of_range"]["share"] == pytest.approx(out_of.mean(), abs=1e-12)
            assert e["new_categories"] is None
    assert cols["city"]["new_categories"]["examples"] == ["lima"]
    assert "constant" in cols["k"]["failed"]
    d = q["duplicated_rows"]
    assert d["count"] == int(c.duplicated().sum())
    assert d["count_reference"] == int(r.duplicated().sum())
    assert d["share"] == pytest.approx(c.duplicated().mean(), abs=1e-12)

    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for banned in ("<script", "http://", "https://", "url(", "@import"):
        assert banned not in html.lower()
    assert len(re.findall(r"<svg ", html)) == len(r.columns)


def test_no_page_on_bad_input(tmp_path):
    ref = tmp_path / "ref.csv"
    cur = tmp_path / "cur.csv"
    ref.write_text("a,b\n1,2\n3,4\n")
    cur.write_text("a\n1\n")
    out = tmp_path / "report.html"
    p = run("--reference", str(ref), "--current", str(cur), "--html", str(out))
    assert p.returncode == 2
    assert "column 'b'" in p.stderr
    assert not os.path.exists(out)
