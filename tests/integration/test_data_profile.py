"""`capstan data profile FILE [--schema SCHEMA.json] [--json] [--max-memory MiB]` (data/table.h):
the profile of a CSV, JSONL or .npy table equals pandas' describe() and value_counts() on the
same file (quantiles, min and max exactly, mean and std to 1e-12 relative), read whole or a
group of columns at a time; each schema rule's refusal names its columns, its rows and their
lines; bad input is a clear error and exit 2."""
import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import BIN

REL = 1e-12
ULP = 2.0 ** -52


def run(*args):
    p = subprocess.run([BIN, "data", "profile", *map(str, args)], capture_output=True,
                       timeout=300)
    err = p.stderr.decode()
    assert "Sanitizer" not in err, err
    return p.returncode, p.stdout.decode(), err


def profile(path, *args):
    rc, out, err = run(path, "--json", *args)
    assert rc in (0, 1), err
    return json.loads(out)


def table(rng, n):
    """Numbers with gaps and a mean far from zero, whole numbers, whole numbers with gaps
    (pandas: float64), negative numbers, categories of distinct frequencies (30 of them, so
    that the top 20 are cut), text with gaps, commas and quotes."""
    cats = np.repeat([f"c{i:02d}" for i in range(30)], np.arange(1, 31) * 5)
    cats = np.concatenate([cats, np.full(n - len(cats), "c99")])
    return pd.DataFrame({
        "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 7, n)),
        "k": rng.integers(-5, 1000, n),
        "k_gaps": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 9, n)),
        "neg": -rng.exponential(3, n),
        "cat": rng.permutation(cats),
        "city": rng.choice(["Oslo", "Lima", 'Pune, "MH"', None], n, p=[0.5, 0.3, 0.15, 0.05]),
        "tiny": rng.normal(1e-3, 1e-4, n),
    })


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data_profile")
    df = table(np.random.default_rng(17), 4000)
    df.to_csv(d / "t.csv", index=False)
    df.head(2500).to_json(d / "t.jsonl", orient="records", lines=True)
    num = df[["x", "k", "neg", "tiny"]].head(3000).to_numpy()
    np.save(d / "t.npy", num)
    return d


def assert_matches_pandas(got, df):
    assert got["rows"] == len(df)
    assert [c["name"] for c in got["columns"]] == list(df.columns)
    for c in got["columns"]:
        s = df[c["name"]]
        assert c["count"] == s.count() and c["missing"] == s.isna().sum(), c["name"]
        assert c["nullable"] == bool(s.isna().any())
        assert c["distinct"] == s.nunique(), c["name"]
        if pd.api.types.is_numeric_dtype(s):
            want_type = "integer" if pd.api.types.is_integer_dtype(s) else "float"
            assert c["type"] == want_type, c["name"]
            d = s.describe()
            for key, pk in (("min", "min"), ("max", "max"), ("p25", "25%"), ("p50", "50%"),
                            ("p75", "75%")):
                # exact in memory (test_data_table.c checks the doubles bit for bit); cJSON
                # prints "%.15g" whenever it reads back within DBL_EPSILON, i.e. 1 ulp
                assert c[key] == pytest.approx(d[pk], rel=ULP, abs=0), (c["name"], key)
            assert c["mean"] == pytest.approx(d["mean"], rel=REL), c["name"]
            assert c["std"] == pytest.approx(d["std"], rel=REL), c["name"]
            assert c["top"] is None
        else:
            assert c["type"] == "string"
            vc = s.value_counts().head(20)
            assert c["top"] == [[k, int(v)] for k, v in vc.items()], c["name"]
            assert all(c[k] is None for k in ("min", "max", "mean", "std", "p50"))


def test_csv_equals_describe(files):
    got = profile(files / "t.csv")
    assert got["groups"] == 0 and got["profile_bytes"] > 0 and got["violations"] == []
    assert "valid" not in got
    df = pd.read_csv(files / "t.csv")
    assert_matches_pandas(got, df)
    top = next(c for c in got["columns"] if c["name"] == "cat")["top"]
    assert len(top) == 20 and top[0] == ["c99", 4000 - 5 * sum(range(1, 31))]


def test_jsonl_and_npy_equal_describe(files):
    assert_matches_pandas(profile(files / "t.jsonl"), pd.read_json(files / "t.jsonl", lines=True))
    npy = pd.DataFrame(np.load(files / "t.npy"))
    npy.columns = [f"f{i}" for i in range(npy.shape[1])]
    assert_matches_pandas(profile(files / "t.npy"), npy)


def test_column_groups_give_the_same_profile(files):
    whole = profile(files / "t.csv")
    for mib in ("0.25", "0.4"):
        got = profile(files / "t.csv", "--max-memory", mib)
        assert got["groups"] > 1
        assert got["columns"] == whole["columns"] and got["rows"] == whole["rows"]
        assert got["profile_bytes"] == whole["profile_bytes"]
    rc, _, err = run(files / "t.csv", "--max-memory", "0.05")
    assert rc == 2 and "t.csv: a memory budget of" in err and "is too small: column 'x'" in err


# ---- validation ----

RULES = pd.DataFrame({
    "id": [1, 2, 3, 4, 2, 6, 7, 8, 7, 10],
    "age": [34, 151, -1, 40, None, 200, 15, 2.5, 80, 99],
    "country": ["FR", "DE", "US", "FR", None, "XX", "DE", "FR", "FR", "DE"],
    "code": ["1", "2", "x", "4", "5", "6.5", "7", "8", "9", "10"],
    "first": ["a", "b", "a", "c", "d", "a", "e", "f", "g", "h"],
    "last": ["z", "y", "z", "x", "w", "q", "v", "u", "t", "s"],
})


@pytest.fixture(scope="module")
def rules_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("rules") / "people.csv"
    RULES.to_csv(p, index=False)
    return p


def check(path, schema, tmp_path):
    sp = tmp_path / "schema.json"
    sp.write_text(json.dumps(schema))
    rc, out, err = run(path, "--schema", sp, "--json")
    got = json.loads(out)
    assert got["valid"] == (rc == 0)
    return rc, got["violations"], err


def rows_of(mask):
    """1-based data rows where mask holds, and their CSV lines (the header is line 1)."""
    idx = [i + 1 for i in np.flatnonzero(np.asarray(mask))]
    return idx, [i + 1 for i in idx]


@pytest.mark.parametrize("rule, col, spec, mask, what", [
    ("type", "age", {"type": "integer"}, RULES.age.notna() & (RULES.age % 1 != 0), "not of type integer"),
    ("type", "code", {"type": "float"}, RULES.code == "x", "not of type float"),
    ("type", "code", {"type": "integer"}, RULES.code.isin(["x", "6.5"]), "not of type integer"),
    ("nullable", "age", {"nullable": False}, RULES.age.isna(), "missing though nullable is false"),
    ("min", "age", {"min": 0}, RULES.age < 0, "below min 0"),
    ("max", "age", {"max": 150}, RULES.age > 150, "above max 150"),
    ("allowed", "country", {"allowed": ["FR", "DE"]}, RULES.country.notna() & ~RULES.country.isin(["FR", "DE"]),
     "not among the allowed values [FR, DE]"),
    ("allowed", "code", {"allowed": [1, 2, "4", 5, 6.5, 7, 8, 9]}, RULES.code.isin(["x", "10"]),
     "not among the allowed values"),
    ("unique", "id", {"unique": True}, RULES.id.duplicated(), "repeating an earlier row's value"),
])
def test_each_rule_names_rows_and_columns(rules_csv, tmp_path, rule, col, spec, mask, what):
    rc, vs, err = check(rules_csv, {"columns": {col: spec}}, tmp_path)
    assert rc == 1, err
    assert len(vs) == 1, vs
    v = vs[0]
    rows, lines = rows_of(mask)
    assert v["rule"] == rule and v["columns"] == [col]
    assert v["count"] == len(rows) and v["rows"] == rows[:5] and v["lines"] == lines[:5]
    s = "s" if len(rows) > 1 else ""
    want = (f"people.csv: column '{col}': {len(rows)} row{s} {what}")
    assert want in v["message"] and v["message"] in err
    assert f"row{s} {', '.join(map(str, rows))} at line{s} {', '.join(map(str, lines))})" \
        in v["message"]


def test_unique_key_of_columns(rules_csv, tmp_path):
    schema = {"unique": [["first", "last"], ["id"]]}
    rc, vs, err = check(rules_csv, schema, tmp_path)
    assert rc == 1
    dup2 = RULES.duplicated(["first", "last"])
    assert [v["columns"] for v in vs] == [["first", "last"], ["id"]]
    assert vs[0]["rows"] == rows_of(dup2)[0] == [3]
    assert "columns 'first', 'last': 1 row repeating an earlier row's key (row 3 at line 4)" \
        in vs[0]["message"]
    # the same key through the column groups
    rc, out, err = run(rules_csv, "--schema", tmp_path / "schema.json", "--json",
                       "--max-memory", "0.0007")
    got = json.loads(out)
    assert rc == 1 and got["groups"] > 1 and got["violations"] == vs


def test_rows_and_missing_columns(rules_csv, tmp_path):
    rc, vs, _ = check(rules_csv, {"rows": {"min": 11}, "columns": {"zip": {"type": "string"}},
                                  "unique": ["id", "nope"]}, tmp_path)
    assert rc == 1
    assert [v["rule"] for v in vs] == ["rows", "column", "column"]
    assert vs[0]["count"] == 10 and "10 rows, fewer than the schema's min 11" in vs[0]["message"]
    assert vs[1]["columns"] == ["zip"] and "column 'zip' is missing" in vs[1]["message"]
    assert vs[2]["columns"] == ["nope"]
    rc, vs, _ = check(rules_csv, {"rows": {"min": 1, "max": 10},
                                  "columns": {"id": {"type": "integer", "min": 1}}}, tmp_path)
    assert rc == 0 and vs == []


def test_lines_across_blank_lines_and_quoted_newlines(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('n,t\n1,a\n\n2,"two\nlines"\n-3,b\n\n\n-4,c\n')
    rc, vs, err = check(p, {"columns": {"n": {"min": 0}}}, tmp_path)
    assert rc == 1 and vs[0]["rows"] == [3, 4] and vs[0]["lines"] == [6, 9], vs
    j = tmp_path / "q.jsonl"
    j.write_text('{"n": 1}\n\n{"n": -2}\n   \n{"n": -3}\n')
    rc, vs, _ = check(j, {"columns": {"n": {"min": 0}}}, tmp_path)
    assert vs[0]["rows"] == [2, 3] and vs[0]["lines"] == [3, 5]
    n = tmp_path / "q.npy"
    np.save(n, np.array([[1.0], [-2.0]]))
    rc, vs, _ = check(n, {"columns": {"f0": {"min": 0}}}, tmp_path)
    assert vs[0]["rows"] == [2] and vs[0]["lines"] == []
    assert vs[0]["message"].endswith("column 'f0': 1 row below min 0 (row 2)")


def test_more_bad_rows_than_shown(tmp_path):
    p = tmp_path / "many.csv"
    pd.DataFrame({"v": np.arange(100) - 50}).to_csv(p, index=False)
    rc, vs, _ = check(p, {"columns": {"v": {"min": 0}}}, tmp_path)
    assert vs[0]["count"] == 50 and vs[0]["rows"] == [1, 2, 3, 4, 5]
    assert "50 rows below min 0 (rows 1, 2, 3, 4, 5, ... at lines 2, 3, 4, 5, 6, ...)" \
        in vs[0]["message"]


# ---- bad input ----

@pytest.mark.parametrize("schema, msg", [
    ('{"columns": {"age": {"type": "int"}}}',
     "column 'age': \"type\" is 'int' (expected \"integer\", \"float\" or \"string\")"),
    ('{"columns": {"age": {"nulable": false}}}', "column 'age': unknown rule \"nulable\""),
    ('{"columns": {"age": {"min": "0"}}}', "column 'age': \"min\" must be a number"),
    ('{"columns": {"age": {"min": 5, "max": 1}}}', "column 'age': min 5 is above max 1"),
    ('{"columns": {"c": {"allowed": []}}}', "\"allowed\" must be a non-empty list"),
    ('{"columns": {"c": {"allowed": [true]}}}', "\"allowed\" holds a boolean"),
    ('{"columns": {"c": {"unique": "yes"}}}', "column 'c': \"unique\" must be true or false"),
    ('{"columns": []}', "\"columns\": expected an object of column names to their rules"),
    ('{"unique": "id"}', "\"unique\" must be a non-empty list of column names"),
    ('{"unique": ["a", "a"]}', "column 'a' is named twice in one key"),
    ('{"rows": {"min": -1}}', "\"rows\": \"min\" must be a whole number of rows"),
    ('{"rows": {"least": 1}}', "\"rows\": unknown member \"least\""),
    ('{"row": {}}', "unknown member \"row\""),
    ('[1]', "expected a JSON object"),
    ('{"columns":\n {"age": {"min": 0,}}}', "line 2: not valid JSON"),
])
def test_malformed_schema(rules_csv, tmp_path, schema, msg):
    sp = tmp_path / "bad.json"
    sp.write_text(schema)
    rc, out, err = run(rules_csv, "--schema", sp)
    assert rc == 2 and out == "", err
    assert f"capstan: {sp}: " in err and msg in err, err


def test_bad_input(tmp_path, rules_csv):
    rc, _, err = run(tmp_path / "absent.csv")
    assert rc == 2 and "absent.csv: No such file or directory" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n")
    rc, _, err = run(bad)
    assert rc == 2 and "bad.csv: line 3: more than the header's 2 fields" in err
    bad.write_text('a,b\n1,2\n3,"x\n')
    rc, _, err = run(bad)
    assert rc == 2 and "bad.csv: line 3: unterminated quote" in err
    j = tmp_path / "bad.jsonl"
    j.write_text('{"a": 1}\n{"a": \n')
    rc, _, err = run(j)
    assert rc == 2 and "bad.jsonl: line 2: not valid JSON" in err
    other = tmp_path / "t.parquet"
    other.write_bytes(b"PAR1")
    rc, _, err = run(other)
    assert rc == 2 and "unknown file type (expected .csv, .jsonl or .npy)" in err
    rc, _, err = run(rules_csv, "--schema", tmp_path / "none.json")
    assert rc == 2 and "none.json: No such file or directory" in err
    rc, _, err = run(rules_csv, "--max-memory", "lots")
    assert rc == 2 and "--max-memory 'lots' is not a positive number of MiB" in err
    rc, _, err = run()
    assert rc == 2 and "needs a FILE" in err


def test_empty_table(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("a,b\n")
    rc, vs, _ = check(p, {"rows": {"min": 1}}, tmp_path)
    got = profile(p)
    assert got["rows"] == 0 and got["profile_bytes"] == 0
    assert [c["count"] for c in got["columns"]] == [0, 0]
    assert rc == 1 and vs[0]["message"].endswith("0 rows, fewer than the schema's min 1")
