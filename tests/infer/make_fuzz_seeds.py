"""make_fuzz_seeds.py - writes the small hand-built seed models of the
infer_load fuzz corpus (tests/fuzz/corpus/infer_load/). Re-run it to
regenerate them: python tests/infer/make_fuzz_seeds.py OUTDIR"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def seeds():
    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])
    out = {}
    g = helper.make_graph([helper.make_node("Add", ["X", "W"], ["S"]), helper.make_node("Relu", ["S"], ["Y"])], "g",
                          [X], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])],
                          [numpy_helper.from_array(np.array([1, -2, 3], np.float32), "W")])
    out["add_relu.onnx"] = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    t = helper.make_node("TreeEnsembleClassifier", ["X"], ["L", "P"], domain="ai.onnx.ml",
                         nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[1, 0, 0],
                         nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[0.5, 0, 0],
                         nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
                         nodes_missing_value_tracks_true=[1, 0, 0],
                         class_treeids=[0, 0], class_nodeids=[1, 2], class_ids=[0, 1], class_weights=[0.3, 0.7],
                         classlabels_int64s=[0, 1], post_transform="NONE")
    z = helper.make_node("ZipMap", ["P"], ["Z"], domain="ai.onnx.ml", classlabels_int64s=[0, 1])
    ztype = helper.make_sequence_type_proto(helper.make_map_type_proto(
        TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])))
    g = helper.make_graph([t, z], "g", [X], [helper.make_tensor_value_info("L", TensorProto.INT64, ["N"]),
                                             helper.make_value_info("Z", ztype)])
    out["tree_zipmap.onnx"] = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                                                  helper.make_opsetid("ai.onnx.ml", 3)])
    lc = helper.make_node("LinearClassifier", ["X"], ["L", "P"], domain="ai.onnx.ml",
                          coefficients=[0.1, 0.2, 0.3, -0.1, -0.2, -0.3], intercepts=[0.5, -0.5],
                          classlabels_strings=["a", "b"], post_transform="LOGISTIC")
    n = helper.make_node("Normalizer", ["P"], ["Q"], domain="ai.onnx.ml", norm="L1")
    g = helper.make_graph([lc, n], "g", [X], [helper.make_tensor_value_info("L", TensorProto.STRING, ["N"]),
                                              helper.make_tensor_value_info("Q", TensorProto.FLOAT, ["N", 2])])
    out["linear.onnx"] = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                                             helper.make_opsetid("ai.onnx.ml", 1)])
    nodes = [helper.make_node("Gemm", ["X", "W", "B"], ["H"], transB=1),
             helper.make_node("Reshape", ["H", "shape"], ["R"]),
             helper.make_node("Softmax", ["R"], ["Y"], axis=-1)]
    g = helper.make_graph(nodes, "g", [X], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.ones((2, 3), np.float32), "W"),
                           numpy_helper.from_array(np.zeros(2, np.float32), "B"),
                           numpy_helper.from_array(np.array([-1, 2], np.int64), "shape")])
    out["gemm.onnx"] = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    # two trees, every comparison mode, two targets (the bit-vector evaluator)
    r = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=2,
                         nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
                         nodes_featureids=[0, 2, 0, 0, 0, 1, 0, 0],
                         nodes_modes=["BRANCH_LT", "BRANCH_GT", "LEAF", "LEAF", "LEAF", "BRANCH_GTE", "LEAF", "LEAF"],
                         nodes_values=[0.5, -1.0, 0, 0, 0, 2.0, 0, 0], nodes_truenodeids=[1, 2, 0, 0, 0, 1, 0, 0],
                         nodes_falsenodeids=[4, 3, 0, 0, 0, 2, 0, 0],
                         nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 1, 0, 0],
                         target_treeids=[0, 0, 0, 0, 1, 1], target_nodeids=[2, 3, 4, 4, 1, 2],
                         target_ids=[0, 1, 0, 1, 1, 0], target_weights=[0.1, 0.2, -0.3, 0.4, 1.5, -2.0],
                         aggregate_function="AVERAGE")
    g = helper.make_graph([r], "g", [X], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 2])])
    out["tree_modes.onnx"] = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                                                 helper.make_opsetid("ai.onnx.ml", 3)])
    # MatMul + bias + Relu over 8 fixed rows and 32 columns (the fused epilogue)
    X8 = helper.make_tensor_value_info("X", TensorProto.FLOAT, [8, 3])
    nodes = [helper.make_node("MatMul", ["X", "W"], ["M"]), helper.make_node("Add", ["M", "B"], ["S"]),
             helper.make_node("Relu", ["S"], ["Y"])]
    g = helper.make_graph(nodes, "g", [X8], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [8, 32])],
                          [numpy_helper.from_array(np.linspace(-1, 1, 96, dtype=np.float32).reshape(3, 32), "W"),
                           numpy_helper.from_array(np.linspace(-0.5, 0.5, 32, dtype=np.float32), "B")])
    out["matmul_relu.onnx"] = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return out


if __name__ == "__main__":
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for name, m in seeds().items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(m.SerializeToString())
