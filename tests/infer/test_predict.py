"""test_predict.py - `capstan predict` (cli/cmd_predict.c, built as
build/rel/tests/infer/predict): CSV by column name, CSV/JSONL/.npy into a
single 2-D input, thread and batch independence, malformed rows reported
with line numbers (.npy: row indexes), every input element type read by the
serving payload code's rules (payload/). Outputs are checked against
onnxruntime."""
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
    assert p.returncode == 1 and "in.npy has 4 columns; the model's input 'X' has shape [-1,6] and takes 6" in p.stderr


# ---- cells read by the payload code's rules (payload/), the server's ----

# every element type a model input may have, with values that fit it
TYPES = {
    "int8": ("INT8", [[-128, 5], [127, 0]]),
    "int16": ("INT16", [[-32768, 7], [32767, 0]]),
    "int32": ("INT32", [[-2147483648, 9], [2147483647, 0]]),
    "int64": ("INT64", [[-9007199254740991, 3], [9007199254740991, 0]]),
    "uint8": ("UINT8", [[0, 200], [255, 1]]),
    "uint16": ("UINT16", [[0, 60000], [65535, 1]]),
    "uint32": ("UINT32", [[0, 4000000000], [4294967295, 1]]),
    "uint64": ("UINT64", [[0, 9007199254740991], [12, 1]]),
    "float16": ("FLOAT16", [[0.5, -2.0], [65504.0, 1.0]]),
    "float32": ("FLOAT", [[0.1, -2.5], [3.4e38, 1.0]]),
    "float64": ("DOUBLE", [[0.1, -2.5], [1e300, 1.0]]),
    "bool": ("BOOL", [[True, False], [False, True]]),
    "str": ("STRING", [["a", "b,c"], ["", "d"]]),
}


def save_graph(g, path):
    """g as an opset-17 model file; its path as a string."""
    from onnx import helper
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    return str(path)


def cast_model(tmp_path, tname):
    """x: T [N, 2] -> y: x as double (Identity for strings and float16), for ORT and capstan."""
    from onnx import TensorProto, helper
    t = getattr(TensorProto, TYPES[tname][0])
    same = tname in ("str", "float16")   # capstan's Cast does not take float16
    out_t = t if same else TensorProto.DOUBLE
    node = (helper.make_node("Identity", ["x"], ["y"]) if same
            else helper.make_node("Cast", ["x"], ["y"], to=TensorProto.DOUBLE))
    g = helper.make_graph([node], "cast", [helper.make_tensor_value_info("x", t, ["N", 2])],
                          [helper.make_tensor_value_info("y", out_t, ["N", 2])])
    return save_graph(g, tmp_path / f"cast_{tname}.onnx")


def np_array(tname, rows):
    dt = {"float32": np.float32, "float64": np.float64, "str": object}.get(tname, tname)
    return np.array(rows, dtype=dt)


def text_cell(tname, v):
    if tname == "bool":
        return "true" if v else "false"
    if tname.startswith("float"):
        return repr(float(v))
    return str(v)


@pytest.mark.parametrize("tname", list(TYPES))
def test_every_input_type_end_to_end(tmp_path, tname):
    """Each element type from CSV, JSON lines and (for numbers) .npy, against onnxruntime.
    Before cli/ read cells with the payload code, int8/int16/unsigned inputs passed the type
    check and then every row was reported bad, and float16 was refused."""
    path = cast_model(tmp_path, tname)
    rows = TYPES[tname][1]
    (want,) = ort_outputs(path, {"x": np_array(tname, rows)})
    with open(tmp_path / "in.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b"])
        for r in rows:
            w.writerow([text_cell(tname, v) for v in r])
    with open(tmp_path / "in.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(dict(zip(["a", "b"], r))) + "\n")
    inputs = ["in.csv", "in.jsonl"]
    if tname not in ("str", "uint64", "float16", "bool"):
        # .npy holds the values in a dtype the reader takes: <i8 for integers, <f8 for floats
        np.save(tmp_path / "in.npy", np.array(rows, dtype=np.float64 if tname.startswith("float") else np.int64))
        inputs.append("in.npy")
    for name in inputs:
        p = predict("--model", path, "--input", tmp_path / name)
        assert p.returncode == 0, (name, p.stderr)
        hdr, got = read_out(p.stdout)
        assert hdr == ["y.0", "y.1"]
        if tname == "str":
            assert got == [[str(v) for v in r] for r in want], name
        else:
            np.testing.assert_array_equal(np.array([[float(v) for v in r] for r in got]), want, err_msg=name)


def test_na_and_empty_cells_are_nan_and_hex_refused_like_the_server(tmp_path):
    """The server reads NA tokens and empty cells as NaN and refuses hex floats
    (base/numfmt.h cap_text_to_double); the CLI's strtod did the opposite."""
    path = cast_model(tmp_path, "float32")
    with open(tmp_path / "in.csv", "w") as f:
        f.write("a,b\nNA,1\n,2\nnan,3\n0x10,4\n1.5,N/A\n")
    p = predict("--model", path, "--input", tmp_path / "in.csv")
    assert p.returncode == 1
    assert "in.csv:5: column 'a': '0x10' is not a valid float" in p.stderr
    assert "1 malformed row skipped" in p.stderr
    hdr, got = read_out(p.stdout)
    X = np.array([[np.nan, 1], [np.nan, 2], [np.nan, 3], [1.5, np.nan]], np.float32)
    (want,) = ort_outputs(path, {"x": X})
    np.testing.assert_array_equal(np.array([[float(v) for v in r] for r in got]), want)


def test_npy_row_that_cannot_be_converted_is_counted(tmp_path):
    """A .npy row whose value does not fit the input (NaN into int64) used to be dropped
    without a word, and the command exited 0 with fewer rows out than in."""
    path = cast_model(tmp_path, "int64")
    np.save(tmp_path / "in.npy", np.array([[1, 2], [np.nan, 3], [4, 5.5], [6, 7]]))
    p = predict("--model", path, "--input", tmp_path / "in.npy")
    assert p.returncode == 1
    assert "in.npy: row index 1: column 0: 'nan' is not a valid int64" in p.stderr
    assert "in.npy: row index 2: column 1: '5.5' is not a valid int64" in p.stderr
    assert "2 malformed rows skipped" in p.stderr
    hdr, got = read_out(p.stdout)
    assert got == [["1", "2"], ["6", "7"]]


def vector_model(tmp_path, shape):
    """x: float [shape] -> y = x * 2, for the column rule's cases."""
    from onnx import TensorProto, helper
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "vec",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], [two])
    return save_graph(g, tmp_path / f"vec{len(shape)}.onnx")


def test_columns_map_to_inputs_by_the_servers_rule(tmp_path):
    """One rule (payload_frame_plan) maps columns to inputs for the server's frames and for
    predict's files: a one-input model takes every column in order, whatever the names.
    Before, predict refused a [N] input fed by a column of another name (the server took
    it), and fed a [N, 1] input from the column named after it while ignoring the others
    (the server refuses a frame with more columns than the input takes)."""
    vec = vector_model(tmp_path, ["N"])
    with open(tmp_path / "one.csv", "w") as f:
        f.write("value\n1.5\n-2\n")
    p = predict("--model", vec, "--input", tmp_path / "one.csv")
    assert p.returncode == 0, p.stderr
    assert read_out(p.stdout) == (["y"], [["3"], ["-4"]])

    col = vector_model(tmp_path, ["N", 1])
    with open(tmp_path / "two.csv", "w") as f:
        f.write("x,other\n1,2\n")
    p = predict("--model", col, "--input", tmp_path / "two.csv")
    assert p.returncode == 1 and p.stdout == ""
    assert (f"{tmp_path / 'two.csv'} has 2 columns; the model's input 'x' has shape [-1,1] "
            "and takes 1") in p.stderr
    p = predict("--model", vec, "--input", tmp_path / "two.csv")
    assert p.returncode == 1
    assert "has 2 columns; the model's input 'x' has shape [-1] and takes one column" in p.stderr
