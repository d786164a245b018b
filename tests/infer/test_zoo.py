"""test_zoo.py - every output of every zoo model must match onnxruntime
within 1e-5 absolute / 1e-4 relative on the same inputs (edge rows
included: NaN, +-inf, values exactly on split thresholds)."""
import numpy as np
import onnxruntime as ort
import pytest

import zoo as z
from capi import Model, SeqMap

NAMES = ["logreg_binary", "logreg_multi", "logreg_multi_zipmap", "ridge", "linreg", "rf_binary", "rf_multi",
         "rf_reg", "et_clf", "et_reg", "gb_binary", "gb_multi", "gb_reg", "dt_clf", "dt_reg", "mlp_clf", "mlp_reg",
         "svc_proba", "svc_binary_proba", "svc_linear", "svr_rbf", "svr_poly", "rf_strings", "logreg_strings",
         "hgb_binary", "hgb_reg", "hgb_multi", "pipeline_logreg", "pipeline_rf", "xgb_binary", "xgb_multi",
         "xgb_reg", "lgb_binary", "lgb_multi", "lgb_reg", "lgb_categorical", "torch_mlp_gemm", "torch_mlp_matmul"]
NAMES += [f"tree_reg_{p}_{a}" for p in ["none"] for a in ["sum", "average", "min", "max"]]
NAMES += [f"tree_reg_{p}_sum" for p in ["logistic", "softmax", "softmax_zero", "probit"]]
NAMES += [f"tree_clf_{p}" for p in ["none", "logistic", "softmax", "softmax_zero"]]
NAMES += ["tree_reg_double", "tree_v5_member"]


def ort_run(path, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return names, s.run(None, feeds)


def compare(name, ours, ref):
    if isinstance(ours, SeqMap):
        assert isinstance(ref, list), f"{name}: expected a sequence of maps from onnxruntime"
        assert len(ref) == len(ours.probs)
        for row, m in zip(ours.as_dicts(), ref):
            assert list(row.keys()) == list(m.keys()), name
            np.testing.assert_allclose(np.array(list(row.values()), np.float32),
                                       np.array(list(m.values()), np.float32), rtol=1e-4, atol=1e-5, err_msg=name)
        return
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} vs {ref.shape}"
    if ref.dtype.kind in "OUS":
        assert [str(v) for v in ours.reshape(-1)] == [str(v) for v in ref.reshape(-1)], name
    elif ref.dtype.kind in "iub":
        np.testing.assert_array_equal(ours, ref, err_msg=name)
    else:
        assert ours.dtype == ref.dtype, f"{name}: dtype {ours.dtype} vs {ref.dtype}"
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("name", NAMES)
def test_matches_onnxruntime(zoo, name, isa):
    path, feeds = zoo[name]
    names, ref = ort_run(path, feeds)
    m = Model(path)
    ours = m.run(feeds)
    assert [o["name"] for o in m.outputs] == names
    for n, a, b in zip(names, ours, ref):
        compare(f"{name}:{n}", a, b)
    # batch 1 gives the same rows as the batch
    first = {k: v[:1] for k, v in feeds.items()}
    ours1 = m.run(first)
    _, ref1 = ort_run(path, first)
    for n, a, b in zip(names, ours1, ref1):
        compare(f"{name}:{n}[row0]", a, b)


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith(("pipeline", "torch"))])
def test_larger_clean_batch(zoo, name, isa):
    """40 NaN-free rows: exercises the blocked, lockstep tree walkers"""
    path, feeds = zoo[name]
    X = feeds["X"][:6]
    rng = np.random.RandomState(7)
    X = np.repeat(X, 7, axis=0)[:40] + rng.randn(40, X.shape[1]).astype(X.dtype) * 0.3
    if name == "tree_v5_member":
        X = np.round(X)
    if name == "lgb_categorical":
        X[:, 5] = np.arange(40) % 9
    feeds = {"X": X.astype(feeds["X"].dtype)}
    names, ref = ort_run(path, feeds)
    ours = Model(path).run(feeds)
    for n, a, b in zip(names, ours, ref):
        compare(f"{name}:{n}[clean]", a, b)


def test_zoo_is_complete(zoo):
    assert sorted(zoo) == sorted(NAMES)
