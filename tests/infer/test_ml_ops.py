"""test_ml_ops.py - single ai.onnx.ml operators built with onnx.helper and
compared with onnxruntime: attribute variants the converters rarely emit
(LabelEncoder v1/v2, Normalizer norms, Imputer on int64, SVMs without
probabilities, Binarizer, FeatureVectorizer, 1-D ArrayFeatureExtractor)."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from capi import InferError, Model

F, I, S = TensorProto.FLOAT, TensorProto.INT64, TensorProto.STRING


def build(tmp_path, nodes, inputs, outputs, ml=2, name="m"):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", ml)])
    p = str(tmp_path / f"{name}.onnx")
    with open(p, "wb") as f:
        f.write(m.SerializeToString())
    return p


def check(p, feeds):
    ref = ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, feeds)
    got = Model(p).run(feeds)
    for a, b in zip(got, ref):
        b = np.asarray(b)
        if b.dtype.kind in "OUS":
            assert [str(x) for x in a.reshape(-1)] == [str(x) for x in b.reshape(-1)]
        else:
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True)


X = np.array([[1.5, -2.0, 0.0], [0.0, 0.0, 0.0], [3.0, np.nan, -1.0], [-4.0, 2.0, 8.0]], np.float32)


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer(tmp_path, norm):
    p = build(tmp_path, [helper.make_node("Normalizer", ["X"], ["Y"], domain="ai.onnx.ml", norm=norm)],
              [("X", F, [None, 3])], [("Y", F, [None, 3])], ml=1)
    check(p, {"X": np.nan_to_num(X)})


def test_scaler_binarizer_imputer(tmp_path):
    nodes = [helper.make_node("Imputer", ["X"], ["A"], domain="ai.onnx.ml", imputed_value_floats=[9.0, 8.0, 7.0],
                              replaced_value_float=float("nan")),
             helper.make_node("Scaler", ["A"], ["B"], domain="ai.onnx.ml", offset=[1.0, 2.0, 3.0], scale=[0.5, 2.0, -1.0]),
             helper.make_node("Binarizer", ["B"], ["Y"], domain="ai.onnx.ml", threshold=0.25)]
    p = build(tmp_path, nodes, [("X", F, [None, 3])], [("Y", F, [None, 3])], ml=1)
    check(p, {"X": X})
    p = build(tmp_path, [helper.make_node("Imputer", ["X"], ["Y"], domain="ai.onnx.ml", imputed_value_int64s=[5],
                                          replaced_value_int64=-1)],
              [("X", I, [None, 2])], [("Y", I, [None, 2])], ml=1, name="imp")
    check(p, {"X": np.array([[-1, 2], [3, -1]], np.int64)})


def test_label_encoder_v1_and_v2(tmp_path):
    n = helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml", classes_strings=["a", "b", "c"],
                         default_int64=-5, default_string="none")
    p = build(tmp_path, [n], [("X", S, [None])], [("Y", I, [None])], ml=1, name="v1s")
    check(p, {"X": np.array(["b", "zz", "a"], dtype=object)})
    p = build(tmp_path, [n], [("X", I, [None])], [("Y", S, [None])], ml=1, name="v1i")
    check(p, {"X": np.array([1, 7, 0, -1], np.int64)})
    n = helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml", keys_floats=[0.5, -1.0, 2.0],
                         values_strings=["x", "y", "z"], default_string="?")
    p = build(tmp_path, [n], [("X", F, [None])], [("Y", S, [None])], ml=2, name="v2f")
    check(p, {"X": np.array([2.0, 0.5, 3.0, -1.0], np.float32)})


def test_one_hot_unknown_category(tmp_path):
    for zeros in (1, 0):
        n = helper.make_node("OneHotEncoder", ["X"], ["Y"], domain="ai.onnx.ml", cats_strings=["r", "g", "b"],
                             zeros=zeros)
        p = build(tmp_path, [n], [("X", S, [None, 2])], [("Y", F, [None, 2, 3])], ml=1, name=f"ohe{zeros}")
        feeds = {"X": np.array([["g", "b"], ["r", "x"]], dtype=object)}
        if zeros:
            check(p, feeds)
        else:
            with pytest.raises(InferError, match="unknown category"):
                Model(p).run(feeds)


def test_feature_vectorizer_and_afe(tmp_path):
    nodes = [helper.make_node("FeatureVectorizer", ["A", "B"], ["V"], domain="ai.onnx.ml", inputdimensions=[2, 3]),
             helper.make_node("ArrayFeatureExtractor", ["V", "idx"], ["Y"], domain="ai.onnx.ml")]
    g_in = [("A", F, [None, 2]), ("B", F, [None, 3]), ("idx", I, [None])]
    p = build(tmp_path, nodes, g_in, [("Y", F, None)], ml=1)
    check(p, {"A": X[:, :2].copy(), "B": np.array([[1, 2, 3]] * 4, np.float32), "idx": np.array([4, 0, 2], np.int64)})
    p = build(tmp_path, [helper.make_node("ArrayFeatureExtractor", ["V", "idx"], ["Y"], domain="ai.onnx.ml")],
              [("V", F, [None]), ("idx", I, [None])], [("Y", F, None)], ml=1, name="afe1")
    check(p, {"V": np.array([1, 2, 3], np.float32), "idx": np.array([2, 0], np.int64)})


@pytest.mark.parametrize("kernel", ["LINEAR", "RBF", "POLY", "SIGMOID"])
@pytest.mark.parametrize("classes", [2, 3])
def test_svm_classifier_without_probabilities(tmp_path, kernel, classes):
    rng = np.random.RandomState(classes)
    nsv = [2, 3, 2][:classes]
    sv = rng.randn(sum(nsv), 3).astype(np.float32)
    coef = rng.randn((classes - 1) * sum(nsv)).astype(np.float32)
    rho = rng.randn(classes * (classes - 1) // 2).astype(np.float32)
    n = helper.make_node("SVMClassifier", ["X"], ["L", "S"], domain="ai.onnx.ml", kernel_type=kernel,
                         kernel_params=[0.3, 0.1, 2.0], support_vectors=sv.ravel().tolist(),
                         vectors_per_class=nsv, coefficients=coef.tolist(), rho=rho.tolist(),
                         classlabels_ints=list(range(classes)))
    p = build(tmp_path, [n], [("X", F, [None, 3])], [("L", I, [None]), ("S", F, None)], ml=1)
    check(p, {"X": np.nan_to_num(X)})


def test_linear_regressor_targets(tmp_path):
    n = helper.make_node("LinearRegressor", ["X"], ["Y"], domain="ai.onnx.ml", targets=2,
                         coefficients=[1, 2, 3, -1, 0.5, 0.25], intercepts=[0.5, -0.5])
    p = build(tmp_path, [n], [("X", F, [None, 3])], [("Y", F, [None, 2])], ml=1)
    check(p, {"X": X})
