"""test_gemm.py - the matrix kernels (infer/gemm.c) at every kernel level,
on shapes that reach each tile's edges: rows not a multiple of 6 (and
fewer than 6), columns around the 8-, 16- and 32-wide tiles and packed
panels, batch 1 (the GEMV), K of 1 and odd K, the fused bias + Relu
epilogue, Gemm's alpha and transposes, and a product with B not constant
(no packed panels). Each output is checked against a float64 product
within the float32 rounding bound for a K-term sum, (K + 2) * 2^-23 *
(|A| |B| + |bias|), so a wrong index or a lost term (errors of order
one) fails while the last-place differences between levels (FMA or not)
pass."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from capi import Model

F = TensorProto.FLOAT
RNG = np.random.RandomState(21)


def save(tmp_path, nodes, inputs, inits, name):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, F, s) for n, s in inputs],
                          [helper.make_tensor_value_info("Y", F, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    p = str(tmp_path / f"{name}.onnx")
    with open(p, "wb") as f:
        f.write(m.SerializeToString())
    return p


def check(got, ref, bound):
    assert got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), f"at {worst}: got {got[worst]}, expected {ref[worst]} (bound {bound[worst]})"


def rounding_bound(K, absprod):
    return (K + 2) * 2.0 ** -23 * absprod + 1e-30


SHAPES = [(1, 1, 1), (1, 37, 5), (1, 64, 20), (1, 100, 33), (2, 16, 7), (5, 40, 9), (6, 8, 3), (6, 32, 64),
          (7, 33, 17), (11, 24, 256), (12, 96, 31), (13, 47, 1), (25, 250, 20), (64, 256, 256), (100, 65, 130)]


@pytest.mark.parametrize("M,N,K", SHAPES)
def test_matmul_add_relu(tmp_path, isa, M, N, K):
    """constant B (packed into 32-column panels from N >= 32) with a bias
    Add and Relu after it: the fused epilogue where it applies"""
    W = RNG.randn(K, N).astype(np.float32)
    b = RNG.randn(N).astype(np.float32)
    p = save(tmp_path, [helper.make_node("MatMul", ["X", "W"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
                        helper.make_node("Relu", ["a"], ["Y"])], [("X", [None, K])], {"W": W, "b": b}, "mar")
    X = RNG.randn(M, K).astype(np.float32)
    got = Model(p).run({"X": X})[0]
    X64, W64 = X.astype(np.float64), W.astype(np.float64)
    ref = np.maximum(X64 @ W64 + b, 0)
    check(got, ref, rounding_bound(K, np.abs(X64) @ np.abs(W64) + np.abs(b)))
    assert np.any(got == 0) or M * N < 8, "the Relu should clip some outputs"


@pytest.mark.parametrize("M,N,K", SHAPES)
def test_matmul_of_two_inputs(tmp_path, isa, M, N, K):
    """B a graph input: no packed panels, the product straight from B"""
    p = save(tmp_path, [helper.make_node("MatMul", ["X", "W"], ["Y"])], [("X", [None, K]), ("W", [K, N])], {}, "mm")
    X = RNG.randn(M, K).astype(np.float32)
    W = RNG.randn(K, N).astype(np.float32)
    got = Model(p).run({"X": X, "W": W})[0]
    X64, W64 = X.astype(np.float64), W.astype(np.float64)
    check(got, X64 @ W64, rounding_bound(K, np.abs(X64) @ np.abs(W64)))


@pytest.mark.parametrize("M,N,K", SHAPES[::2])
@pytest.mark.parametrize("alpha,beta,ta,tb", [(0.5, 1.0, 0, 0), (1.0, 2.0, 0, 1), (-1.5, 0.25, 1, 0), (1.0, 1.0, 1, 1)])
def test_gemm_alpha_beta_transposes(tmp_path, isa, M, N, K, alpha, beta, ta, tb):
    A = RNG.randn(*((K, M) if ta else (M, K))).astype(np.float32)
    B = RNG.randn(*((N, K) if tb else (K, N))).astype(np.float32)
    Cb = RNG.randn(N).astype(np.float32)
    p = save(tmp_path, [helper.make_node("Gemm", ["A", "B", "C"], ["Y"], alpha=alpha, beta=beta, transA=ta,
                                         transB=tb)], [("A", list(A.shape))], {"B": B, "C": Cb}, "gemm")
    got = Model(p).run({"A": A})[0]
    A64 = A.astype(np.float64).T if ta else A.astype(np.float64)
    B64 = B.astype(np.float64).T if tb else B.astype(np.float64)
    ref = alpha * (A64 @ B64) + beta * Cb
    # alpha and beta each add a rounding of their own
    bound = rounding_bound(K + 2, abs(alpha) * (np.abs(A64) @ np.abs(B64)) + abs(beta) * np.abs(Cb))
    check(got, ref, bound)


def test_levels_agree_on_a_wide_layer(tmp_path):
    """every level this CPU runs on one 256-wide layer at batch 1, 7 and 300:
    each within the rounding bound of float64, and so within twice the
    bound of each other"""
    import capi
    K, N = 256, 256
    W = RNG.randn(K, N).astype(np.float32)
    b = RNG.randn(N).astype(np.float32)
    p = save(tmp_path, [helper.make_node("MatMul", ["X", "W"], ["m"]), helper.make_node("Add", ["m", "b"], ["Y"])],
             [("X", [None, K])], {"W": W, "b": b}, "wide")
    was = capi.isa()
    try:
        for M in (1, 7, 300):
            X = RNG.randn(M, K).astype(np.float32)
            X64, W64 = X.astype(np.float64), W.astype(np.float64)
            bound = rounding_bound(K, np.abs(X64) @ np.abs(W64) + np.abs(b))
            outs = {}
            for lv in capi.cpu_isas():
                assert capi.set_isa(lv) == lv
                outs[lv] = Model(p).run({"X": X})[0]
                check(outs[lv], X64 @ W64 + b, bound)
            assert "portable" in outs
            for lv, y in outs.items():
                check(y, outs["portable"].astype(np.float64), 2 * bound)
    finally:
        capi.set_isa(was)
