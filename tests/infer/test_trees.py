"""test_trees.py - tree-engine specifics: BRANCH_EQ chains sharing a true
subtree (folded into set membership) match onnxruntime, and a 100k-node
ensemble loads in well under a second."""
import os
import time

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import capi
from capi import Model


def eq_chain_model(path, ntrees, chain):
    tids, nids, fids, modes, vals, tn, fn, mt = [], [], [], [], [], [], [], []
    wt, wn, wi, ww = [], [], [], []
    rng = np.random.RandomState(0)
    for t in range(ntrees):
        # nodes 0..chain-1: EQ(feature f, value k); true -> shared leaf `chain`,
        # false -> next; the last false -> leaf chain+1
        f = t % 4
        for k in range(chain):
            tids.append(t); nids.append(k); fids.append(f); modes.append("BRANCH_EQ")
            vals.append(float(rng.randint(0, 3 * chain))); tn.append(chain)
            fn.append(k + 1 if k + 1 < chain else chain + 1); mt.append(0)
        for leaf in (chain, chain + 1):
            tids.append(t); nids.append(leaf); fids.append(0); modes.append("LEAF")
            vals.append(0.0); tn.append(0); fn.append(0); mt.append(0)
            wt.append(t); wn.append(leaf); wi.append(0); ww.append(float(rng.randn()))
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=1,
                            nodes_treeids=tids, nodes_nodeids=nids, nodes_featureids=fids, nodes_modes=modes,
                            nodes_values=vals, nodes_truenodeids=tn, nodes_falsenodeids=fn,
                            nodes_missing_value_tracks_true=mt, target_treeids=wt, target_nodeids=wn,
                            target_ids=wi, target_weights=ww)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def test_eq_chains_match_onnxruntime(tmp_path):
    p = str(tmp_path / "eq.onnx")
    eq_chain_model(p, 20, 12)
    X = np.random.RandomState(1).randint(0, 36, (64, 4)).astype(np.float32)
    X[0, 0] = np.nan
    ref = ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, {"X": X})[0]
    got = Model(p).run({"X": X})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_100k_nodes_load_fast(tmp_path):
    p = str(tmp_path / "big.onnx")
    eq_chain_model(p, 1000, 98)      # 1000 trees x 100 nodes
    t0 = time.perf_counter()
    m = Model(p)
    dt = time.perf_counter() - t0
    assert dt < 0.5, f"load took {dt:.3f}s"
    X = np.random.RandomState(2).randint(0, 300, (8, 4)).astype(np.float32)
    assert m.run({"X": X})[0].shape == (8, 1)


def _single_target(path, post, agg):
    n = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=1,
                         post_transform=post, aggregate_function=agg,
                         nodes_treeids=[0, 0, 0, 1], nodes_nodeids=[0, 1, 2, 0], nodes_featureids=[0, 0, 0, 0],
                         nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF", "LEAF"], nodes_values=[0.0, 0, 0, 0],
                         nodes_truenodeids=[1, 0, 0, 0], nodes_falsenodeids=[2, 0, 0, 0],
                         target_treeids=[0, 0, 1], target_nodeids=[1, 2, 0], target_ids=[0, 0, 0],
                         target_weights=[0.3, -1.2, 0.1], base_values=[0.05])
    g = helper.make_graph([n], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 1])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    with open(path, "wb") as f:
        f.write(m.SerializeToString())



@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"])
@pytest.mark.parametrize("agg", ["SUM", "AVERAGE", "MIN", "MAX"])
def test_single_target_post_transforms_like_onnxruntime(tmp_path, post, agg):
    """onnxruntime applies only PROBIT to a single regression target"""
    p = str(tmp_path / "t.onnx")
    _single_target(p, post, agg)
    X = np.array([[-1.0], [1.0], [np.nan]], np.float32)
    ref = ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, {"X": X})[0]
    got = Model(p).run({"X": X})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6, equal_nan=True)


def _random_ensemble(path, ntrees, leaves, nfeat=6, n_targets=3, agg="SUM", seed=0, multi_weight=True):
    """Random trees with a given number of leaves each (split a random leaf
    until there are enough), every comparison mode, random NaN routing,
    thresholds from a small grid (so inputs land exactly on them), leaves
    with one or two weights."""
    rng = np.random.RandomState(seed)
    grid = np.round(np.linspace(-2, 2, 9), 2)
    tids, nids, fids, modes, vals, tn, fn, mt = [], [], [], [], [], [], [], []
    wt, wn, wi, ww = [], [], [], []
    for t in range(ntrees):
        nl = leaves[t % len(leaves)]
        # node: [is_leaf, feat, thr, mode, mt, true, false]
        nodes = [[True, 0, 0.0, "LEAF", 0, 0, 0]]
        leafs = [0]
        while len(leafs) < nl:
            k = leafs.pop(rng.randint(len(leafs)))
            a, b = len(nodes), len(nodes) + 1
            nodes.append([True, 0, 0.0, "LEAF", 0, 0, 0])
            nodes.append([True, 0, 0.0, "LEAF", 0, 0, 0])
            nodes[k] = [False, int(rng.randint(nfeat)), float(rng.choice(grid)),
                        ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"][rng.randint(4)], int(rng.randint(2)), a, b]
            leafs += [a, b]
        order = rng.permutation(len(nodes))     # node ids need not follow the layout
        for i, nd in enumerate(nodes):
            tids.append(t); nids.append(int(order[i])); fids.append(nd[1]); modes.append(nd[3]); vals.append(nd[2])
            tn.append(int(order[nd[5]]) if not nd[0] else 0); fn.append(int(order[nd[6]]) if not nd[0] else 0)
            mt.append(nd[4])
            if nd[0]:
                for _ in range(1 + (multi_weight and rng.rand() < 0.3)):
                    wt.append(t); wn.append(int(order[i])); wi.append(int(rng.randint(n_targets)))
                    ww.append(float(rng.randn()))
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=n_targets,
                            aggregate_function=agg, nodes_treeids=tids, nodes_nodeids=nids, nodes_featureids=fids,
                            nodes_modes=modes, nodes_values=vals, nodes_truenodeids=tn, nodes_falsenodeids=fn,
                            nodes_missing_value_tracks_true=mt, target_treeids=wt, target_nodeids=wn,
                            target_ids=wi, target_weights=ww, base_values=[0.5] * n_targets)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, nfeat])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, n_targets])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def _edge_batch(n, nfeat, seed):
    """rows on the threshold grid, between it, +-inf, NaN cells and all-NaN rows"""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, nfeat).astype(np.float32) * 1.5
    on = rng.rand(n, nfeat) < 0.3
    X[on] = np.round(np.linspace(-2, 2, 9), 2)[rng.randint(9, size=on.sum())]
    X[rng.rand(n, nfeat) < 0.03] = np.inf
    X[rng.rand(n, nfeat) < 0.03] = -np.inf
    X[rng.rand(n, nfeat) < 0.05] = np.nan
    if n > 4:
        X[3, :] = np.nan
    return X


@pytest.mark.parametrize("leaves,agg,multi", [([2, 7, 31, 64], "SUM", True), ([5, 12, 40], "AVERAGE", False),
                                              ([64, 65, 3], "SUM", True), ([1, 2], "SUM", False)])
def test_random_ensembles_every_batch_size(tmp_path, leaves, agg, multi, isa):
    """the bit-vector evaluator (trees of <= 64 leaves; 65 leaves falls back
    to the walkers), its eight-row blocks with their short last block, NaN
    rows taking the walker, and the fixed-depth walkers, against onnxruntime"""
    p = str(tmp_path / "r.onnx")
    _random_ensemble(p, 23, leaves, agg=agg, multi_weight=multi, seed=len(leaves))
    sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
    m = Model(p)
    for n in (1, 2, 3, 7, 8, 9, 16, 23, 130, 300):
        X = _edge_batch(n, 6, n)
        ref = sess.run(None, {"X": X})[0]
        got = m.run({"X": X})[0]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=f"batch {n}")
        clean = np.nan_to_num(X, nan=0.25)
        np.testing.assert_allclose(m.run({"X": clean})[0], sess.run(None, {"X": clean})[0], rtol=1e-5, atol=1e-5,
                                   err_msg=f"clean batch {n}")


@pytest.mark.parametrize("leaves,multi", [([2, 7, 31, 32], False), ([2, 7, 31, 32], True), ([5, 33, 64], False)])
def test_every_kernel_level_gives_the_same_bits(tmp_path, leaves, multi):
    """the 32-bit (<= 32 leaves) and 64-bit bit-vector kernels, the lane
    blocks and the one-row path, at every level this CPU runs: outputs equal
    to the bit, every batch size from 1 to 20 (where the measured lane/row
    crossover falls) and a large one"""
    p = str(tmp_path / "r.onnx")
    _random_ensemble(p, 40, leaves, nfeat=6, n_targets=1 if not multi else 3, multi_weight=multi, seed=7)
    levels = capi.cpu_isas()
    assert "portable" in levels
    was = capi.isa()
    # the crossover between one row at a time and eight-row blocks is
    # measured at load; forced to 1 (blocks only) and 9 (rows only) too
    ways = [(lv, lanes) for lv in levels for lanes in ("", "1", "9")]
    try:
        for n in list(range(1, 21)) + [517]:
            X = _edge_batch(n, 6, 100 + n)
            outs = {}
            for lv, lanes in ways:
                assert capi.set_isa(lv) == lv
                os.environ["CAPSTAN_INFER_TREE_LANES_FROM"] = lanes
                outs[lv, lanes] = Model(p).run({"X": X})[0]
            for way in ways:
                np.testing.assert_array_equal(outs[way], outs["portable", "9"], err_msg=f"{way} vs portable rows, batch {n}")
    finally:
        capi.set_isa(was)
        os.environ.pop("CAPSTAN_INFER_TREE_LANES_FROM", None)


def test_set_isa_refuses_unknown_names():
    was = capi.isa()
    assert was in capi.ISAS
    assert capi.set_isa("sse9") is None
    assert capi.set_isa("") is None
    assert capi.set_isa(None) is None
    assert capi.isa() == was
    assert capi.set_isa("portable") == "portable"
    assert capi.isa() == "portable"
    capi.set_isa(was)
