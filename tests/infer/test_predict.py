"""test_predict.py - `capstan predict` (cli/cmd_predict.c, built as
build/rel/tests/infer/predict): CSV by column name, CSV/JSONL/.npy into a
single 2-D input, thread and batch independence, malformed rows reported
with line numbers. Outputs are checked against onnxruntime."""
import csv
import json
import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

PREDICT = os.environ.get("CAPSTAN_PREDICT") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "rel", "tests", "infer", "predict")


def predict(*args):
    return subprocess.run([PREDICT, "predict", *map(str, args)], capture_output=True, text=True, timeout=120)


def read_out(text):
    rows = list(csv.reader(text.splitlines()))
    return rows[0], rows[1:]


def ort_outputs(path, feeds):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def test_csv_single_input_and_formats(zoo, tmp_path):
    path, feeds = zoo["rf_multi"]
    X = feeds["X"][:6]
    X = X[~np.isnan(X).any(axis=1) & ~np.isinf(X).any(axis=1)]
    cols = [f"f{i}" for i in range(X.shape[1])]
    with open(tmp_path / "in.csv", "w") as f:
        f.write(",".join(cols) + "\n")
        for r in X:
            f.write(",".join(repr(float(v)) for v in r) + "\n")
    with open(tmp_path / "in.jsonl", "w") as f:
        for r in X:
            f.write(json.dumps(dict(zip(cols, map(float, r)))) + "\n")
    np.save(tmp_path / "in.npy", X)
    label, probs = ort_outputs(path, {"X": X})
    outs = []
    for name in ["in.csv", "in.jsonl", "in.npy"]:
        p = predict("--model", path, "--input", tmp_path / name)
        assert p.returncode == 0, p.stderr
        hdr, rows = read_out(p.stdout)
        assert hdr[0] == "label" and hdr[1].startswith("probabilities")
        assert [int(r[0]) for r in rows] == list(label)
        np.testing.assert_allclose(np.array([[float(v) for v in r[1:]] for r in rows]), probs, rtol=1e-5, atol=1e-6)
        outs.append(p.stdout)
    assert outs[0] == outs[1] == outs[2]


def test_csv_by_column_name_pipeline(zoo, tmp_path):
    path, feeds = zoo["pipeline_logreg"]
    names = list(feeds)
    n = len(feeds[names[0]])
    with open(tmp_path / "in.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["unused"] + names[::-1])   # order and extra columns do not matter
        for i in range(n):
            row = ["x"]
            for k in names[::-1]:
                v = feeds[k][i, 0]
                row.append("" if isinstance(v, float) and np.isnan(v) else str(v) if feeds[k].dtype == object else repr(float(v)))
            w.writerow(row)
    p = predict("--model", path, "--input", tmp_path / "in.csv", "--output", tmp_path / "out.csv")
    assert p.returncode == 0, p.stderr
    hdr, rows = read_out(open(tmp_path / "out.csv").read())
    label, zm = ort_outputs(path, feeds)
    assert [int(r[0]) for r in rows] == list(label)
    keys = list(zm[0].keys())
    assert hdr[1:] == [f"output_probability.{k}" for k in keys]
    np.testing.assert_allclose(np.array([[float(v) for v in r[1:]] for r in rows]),
                               np.array([[m[k] for k in keys] for m in zm]), rtol=1e-5, atol=1e-6)


def test_threads_and_batches_give_same_output(zoo, tmp_path):
    path, _ = zoo["gb_reg"]
    X = np.random.RandomState(1).randn(2500, 6).astype(np.float32)
    np.save(tmp_path / "in.npy", X)
    ref = predict("--model", path, "--input", tmp_path / "in.npy")
    assert ref.returncode == 0, ref.stderr
    for args in (["--threads", "2", "--batch", "7"], ["--threads", "3", "--batch", "1000"], ["--batch", "1"]):
        p = predict("--model", path, "--input", tmp_path / "in.npy", *args)
        assert p.returncode == 0 and p.stdout == ref.stdout
    (y,) = ort_outputs(path, {"X": X})
    got = np.array([float(r[0]) for r in read_out(ref.stdout)[1]])
    np.testing.assert_allclose(got, y[:, 0], rtol=1e-5, atol=1e-5)


def test_malformed_rows_reported_with_line_numbers(zoo, tmp_path):
    path, _ = zoo["ridge"]
    with open(tmp_path / "in.csv", "w") as f:
        f.write("a,b,c,d,e,f\n1,2,3,4,5,6\n1,2,3\n1,2,x,4,5,6\n\"1\",2,3,4,5,6\n")
    p = predict("--model", path, "--input", tmp_path / "in.csv")
    assert p.returncode == 1
    assert "in.csv:3: expected 6 fields, got 3" in p.stderr
    assert "in.csv:4: column 'c': 'x' is not a valid float" in p.stderr
    assert "2 malformed rows skipped" in p.stderr
    hdr, rows = read_out(p.stdout)
    assert len(rows) == 2 and rows[0] == rows[1]


@pytest.mark.parametrize("args,needle", [
    ([], "--model and --input are required"),
    (["--model", "/nonexistent.onnx", "--input", "x.csv"], "/nonexistent.onnx"),
    (["--batch", "0"], "--batch must be"),
])
def test_clear_errors(zoo, tmp_path, args, needle):
    if args and args[0] == "--batch":
        args = ["--model", zoo["ridge"][0], "--input", tmp_path / "x.csv"] + args
    p = predict(*args)
    assert p.returncode != 0 and needle in p.stderr


def test_wrong_width(zoo, tmp_path):
    path, _ = zoo["logreg_binary"]
    np.save(tmp_path / "in.npy", np.zeros((3, 4), np.float32))
    p = predict("--model", path, "--input", tmp_path / "in.npy")
    assert p.returncode == 1 and "takes 6 columns" in p.stderr
