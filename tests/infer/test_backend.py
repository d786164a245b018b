"""test_backend.py - the ONNX backend node tests for the operators
libcapstan-infer implements. The onnx wheel ships the test-case generators
(onnx/backend/test/case/node) rather than the pre-built .pb files, so the
cases are collected in-process: each gives model.onnx plus input/output
arrays, exactly what test_data_set_*/input_*.pb and output_*.pb hold.

Every case whose graph uses only implemented operators runs; a case is
skipped only with a stated reason (an element type the library does not
support). The per-operator passed/total table is printed at the end of the
run and written to build/infer-backend-report.txt."""
import collections
import os
import warnings

import numpy as np
import pytest

from capi import InferError, Model

IMPLEMENTED = {
    "": {"Cast", "CastLike", "Identity", "Reshape", "Concat", "Gather", "MatMul", "Gemm", "Add", "Sub", "Mul",
         "Div", "Relu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "ArgMax", "Clip", "Exp", "Log", "Sqrt", "Where",
         "Equal", "Greater", "Less", "Not", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Shape",
         "ConstantOfShape", "Slice", "Split", "ReduceSum", "ReduceMean", "ReduceMax", "TopK", "Neg", "Reciprocal",
         "Sum", "IsNaN", "Constant", "LeakyRelu", "Erf", "BatchNormalization", "LayerNormalization", "Abs",
         "GreaterOrEqual", "LessOrEqual"},
    "ai.onnx.ml": {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble", "LinearClassifier",
                   "LinearRegressor", "Scaler", "Normalizer", "ZipMap", "ArrayFeatureExtractor", "Imputer",
                   "OneHotEncoder", "LabelEncoder", "FeatureVectorizer", "Binarizer", "SVMClassifier",
                   "SVMRegressor"},
}
SUPPORTED_DTYPES = {np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                    np.uint64, np.bool_, np.object_, np.str_}
RESULTS = collections.defaultdict(lambda: [0, 0, 0])   # op -> [passed, failed, skipped]
SKIPS = collections.defaultdict(set)


def _cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases
        cases = collect_testcases()
    out = []
    for c in cases:
        ops = {(n.domain if n.domain != "ai.onnx" else "", n.op_type) for n in c.model.graph.node}
        if all(op in IMPLEMENTED.get(dom, ()) for dom, op in ops):
            main = c.model.graph.node[-1].op_type if len(ops) == 1 else "(multi-node) " + c.model.graph.node[-1].op_type
            out.append((c.name, main, c))
    return out


CASES = _cases()


def _as_array(a):
    """TensorProto (used for float8/bfloat16 data) and numpy scalars to arrays."""
    from onnx import TensorProto, numpy_helper
    if isinstance(a, TensorProto):
        return numpy_helper.to_array(a)
    if isinstance(a, np.generic):
        return np.asarray(a)
    return a


def _skip_reason(case, arrays):
    for n in case.model.graph.node:
        for at in n.attribute:
            if at.name == "training_mode" and at.i:
                return "training_mode (training-only statistics) not supported"
    for a in arrays:
        if not isinstance(a, np.ndarray):
            return f"non-tensor value ({type(a).__name__}: sequences/optionals not supported)"
        t = a.dtype.type
        if t not in SUPPORTED_DTYPES and a.dtype.kind not in "US":
            return f"element type {a.dtype} not supported"
    return None


@pytest.mark.parametrize("name,op,case", CASES, ids=[c[0] for c in CASES])
def test_node(tmp_path, name, op, case):
    inputs, expected = case.data_sets[0]
    inputs = [_as_array(a) for a in inputs]
    expected = [_as_array(a) for a in expected]
    reason = _skip_reason(case, list(inputs) + list(expected))
    if reason:
        RESULTS[op][2] += 1
        SKIPS[op].add(reason)
        pytest.skip(reason)
    path = tmp_path / "model.onnx"
    path.write_bytes(case.model.SerializeToString())
    try:
        m = Model(str(path))
        feeds = {}
        for inf, a in zip(m.inputs, inputs):
            feeds[inf["name"]] = a.astype(object) if a.dtype.kind in "US" else a
        got = m.run(feeds)
        for g, e, oi in zip(got, expected, case.model.graph.output):
            e = np.asarray(e)
            assert tuple(g.shape) == tuple(e.shape), f"{oi.name}: shape {g.shape} vs {e.shape}"
            if e.dtype.kind in "fc":
                np.testing.assert_allclose(g.astype(e.dtype), e, rtol=case.rtol, atol=case.atol, equal_nan=True)
                assert g.dtype == e.dtype, f"{oi.name}: dtype {g.dtype} vs {e.dtype}"
            elif e.dtype.kind in "OUS":
                assert [str(x) for x in g.reshape(-1)] == [str(x) for x in e.reshape(-1)]
            else:
                assert g.dtype == e.dtype, f"{oi.name}: dtype {g.dtype} vs {e.dtype}"
                np.testing.assert_array_equal(g, e)
    except (AssertionError, InferError):
        RESULTS[op][1] += 1
        raise
    RESULTS[op][0] += 1


def report():
    lines = [f"{'operator':40s} passed/total  skipped"]
    tp = tt = ts = 0
    for op in sorted(RESULTS):
        p, f, s = RESULTS[op]
        lines.append(f"{op:40s} {p:4d}/{p + f:<4d}     {s:3d}  {'; '.join(sorted(SKIPS[op]))}")
        tp, tt, ts = tp + p, tt + p + f, ts + s
    lines.append(f"{'total':40s} {tp:4d}/{tt:<4d}     {ts:3d}")
    return "\n".join(lines)
