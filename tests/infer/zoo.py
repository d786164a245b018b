"""zoo.py - generates the model zoo for the comparison tests: real
estimators from scikit-learn, XGBoost and LightGBM converted with skl2onnx /
onnxmltools, plus hand-written graphs (torch-style MLPs, tree ensembles with
every mode and post transform). Each entry is (name, model path, feeds);
models are written under the directory given and never committed."""
import os
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

warnings.filterwarnings("ignore")

# skl2onnx 1.20 passes numpy bools for nodes_missing_value_tracks_true of
# HistGradientBoosting models, which onnx.helper rejects: convert them.
_make_attribute = helper.make_attribute


def _make_attribute_bools(key, value, *a, **kw):
    if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
        value = [int(v) for v in value]
    return _make_attribute(key, value, *a, **kw)


helper.make_attribute = _make_attribute_bools

RNG = np.random.RandomState(0)
NF = 6


def _data(n=160, classes=2, seed=0):
    from sklearn.datasets import make_classification
    X, y = make_classification(n, NF, n_informative=4, n_redundant=1, n_classes=classes,
                               n_clusters_per_class=1, random_state=seed)
    return X.astype(np.float32), y


def _edge_rows(X, thresholds=None):
    """NaN, +-inf and exact-threshold rows appended to a few normal rows."""
    rows = [X[i].copy() for i in range(6)]
    r = X[0].copy(); r[1] = np.nan; rows.append(r)
    r = X[1].copy(); r[:] = np.nan; rows.append(r)
    r = X[2].copy(); r[0] = np.inf; r[3] = -np.inf; rows.append(r)
    r = X[3].copy(); r[2] = -np.inf; rows.append(r)
    if thresholds:
        for k in range(4):
            r = X[4 + k].copy()
            for f, ts in thresholds.items():
                if f < len(r) and ts:
                    r[f] = ts[(k * 7 + f) % len(ts)]
            rows.append(r)
    return np.array(rows, dtype=np.float32)


def _thresholds(onx):
    th = {}
    for n in onx.graph.node:
        if n.op_type in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
            a = {x.name: x for x in n.attribute}
            vals = list(a["nodes_values"].floats) if "nodes_values" in a else []
            for f, v, mo in zip(a["nodes_featureids"].ints, vals, a["nodes_modes"].strings):
                if mo != b"LEAF":
                    th.setdefault(f, []).append(np.float32(v))
    return th


def _save(d, name, onx):
    p = os.path.join(d, name + ".onnx")
    with open(p, "wb") as f:
        f.write(onx.SerializeToString() if hasattr(onx, "SerializeToString") else onx)
    return p


def sklearn_models(d):
    from skl2onnx import to_onnx
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                                  GradientBoostingRegressor, HistGradientBoostingClassifier,
                                  HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    out = []
    X2, y2 = _data(classes=2)
    X3, y3 = _data(classes=3, seed=1)
    yr = (X2[:, 0] * 2 + X2[:, 1] - X2[:, 2] * 0.5).astype(np.float32)
    specs = [
        ("logreg_binary", LogisticRegression(max_iter=500), X2, y2, {}),
        ("logreg_multi", LogisticRegression(max_iter=500), X3, y3, {"zipmap": False}),
        ("logreg_multi_zipmap", LogisticRegression(max_iter=500), X3, y3, {}),
        ("ridge", Ridge(), X2, yr, None),
        ("linreg", LinearRegression(), X2, yr, None),
        ("rf_binary", RandomForestClassifier(8, max_depth=5, random_state=0), X2, y2, {}),
        ("rf_multi", RandomForestClassifier(8, max_depth=6, random_state=0), X3, y3, {"zipmap": False}),
        ("rf_reg", RandomForestRegressor(8, max_depth=6, random_state=0), X2, yr, None),
        ("et_clf", ExtraTreesClassifier(8, max_depth=6, random_state=0), X3, y3, {}),
        ("et_reg", ExtraTreesRegressor(8, max_depth=6, random_state=0), X2, yr, None),
        ("gb_binary", GradientBoostingClassifier(n_estimators=15, random_state=0), X2, y2, {}),
        ("gb_multi", GradientBoostingClassifier(n_estimators=10, random_state=0), X3, y3, {"zipmap": False}),
        ("gb_reg", GradientBoostingRegressor(n_estimators=40, random_state=0), X2, yr, None),
        ("dt_clf", DecisionTreeClassifier(max_depth=6, random_state=0), X3, y3, {}),
        ("dt_reg", DecisionTreeRegressor(max_depth=6, random_state=0), X2, yr, None),
        ("mlp_clf", MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=300, random_state=0), X3, y3, {"zipmap": False}),
        ("mlp_reg", MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0), X2, yr, None),
        ("svc_proba", SVC(probability=True, random_state=0), X3, y3, {"zipmap": False}),
        ("svc_binary_proba", SVC(probability=True, random_state=0), X2, y2, {"zipmap": False}),
        ("svc_linear", SVC(kernel="linear"), X3, y3, {"zipmap": False}),
        ("svr_rbf", SVR(), X2, yr, None),
        ("svr_poly", SVR(kernel="poly", degree=2), X2, yr, None),
    ]
    for name, est, X, y, opts in specs:
        est.fit(X, y)
        options = {id(est): opts} if opts else None
        onx = to_onnx(est, X[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
        out.append((name, _save(d, name, onx), {"X": _edge_rows(X, _thresholds(onx))}))
    # string class labels
    ys = np.array(["cat", "dog", "eel"])[y3]
    for name, est in [("rf_strings", RandomForestClassifier(6, max_depth=4, random_state=0)),
                      ("logreg_strings", LogisticRegression(max_iter=300))]:
        est.fit(X3, ys)
        onx = to_onnx(est, X3[:1], target_opset={"": 17, "ai.onnx.ml": 3})
        out.append((name, _save(d, name, onx), {"X": _edge_rows(X3, _thresholds(onx))}))
    # HistGradientBoosting trained with missing values
    Xn = X2.copy()
    Xn[RNG.rand(*Xn.shape) < 0.1] = np.nan
    for name, est, y in [("hgb_binary", HistGradientBoostingClassifier(max_iter=15, random_state=0), y2),
                         ("hgb_reg", HistGradientBoostingRegressor(max_iter=15, random_state=0), yr)]:
        est.fit(Xn, y)
        onx = to_onnx(est, Xn[:1], target_opset={"": 17, "ai.onnx.ml": 3})
        out.append((name, _save(d, name, onx), {"X": _edge_rows(Xn, _thresholds(onx))}))
    hgb3 = HistGradientBoostingClassifier(max_iter=8, random_state=0).fit(X3, y3)
    onx = to_onnx(hgb3, X3[:1], options={id(hgb3): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    out.append(("hgb_multi", _save(d, "hgb_multi", onx), {"X": _edge_rows(X3, _thresholds(onx))}))
    return out


def pipeline_model(d):
    import pandas as pd
    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
    n = 150
    df = pd.DataFrame({
        "age": RNG.uniform(18, 80, n).astype(np.float32),
        "income": RNG.lognormal(10, 1, n).astype(np.float32),
        "score": RNG.normal(0, 1, n).astype(np.float32),
        "city": RNG.choice(["paris", "oslo", "rome", "lima"], n),
        "plan": RNG.choice(["a", "b", "c"], n),
    })
    df.loc[RNG.rand(n) < 0.1, "income"] = np.nan
    y = ((df["age"] > 40) ^ (df["city"] == "oslo")).astype(int).values
    out = []
    for name, clf in [("pipeline_logreg", LogisticRegression(max_iter=500)),
                      ("pipeline_rf", RandomForestClassifier(6, max_depth=4, random_state=0))]:
        pre = ColumnTransformer([
            ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]),
             ["age", "income"]),
            ("mm", MinMaxScaler(), ["score"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ])
        pipe = Pipeline([("pre", pre), ("clf", clf)]).fit(df, y)
        onx = to_onnx(pipe, df[:1], target_opset={"": 17, "ai.onnx.ml": 3})
        k = 12
        feeds = {
            "age": df["age"].values[:k].reshape(-1, 1),
            "income": df["income"].values[:k].reshape(-1, 1),
            "score": df["score"].values[:k].reshape(-1, 1),
            "city": np.array(list(df["city"].values[:k - 1]) + ["unknown"], dtype=object).reshape(-1, 1),
            "plan": df["plan"].values[:k].astype(object).reshape(-1, 1),
        }
        out.append((name, _save(d, name, onx), feeds))
    return out


def gbm_models(d):
    import lightgbm as lgb
    import xgboost as xgb
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    out = []
    X2, y2 = _data(classes=2)
    X3, y3 = _data(classes=3, seed=1)
    yr = (X2[:, 0] * 2 + X2[:, 1]).astype(np.float32)
    Xn = X2.copy()
    Xn[RNG.rand(*Xn.shape) < 0.1] = np.nan
    it = [("X", FloatTensorType([None, NF]))]
    for name, est, X, y in [
        ("xgb_binary", xgb.XGBClassifier(n_estimators=34, max_depth=4), Xn, y2),
        ("xgb_multi", xgb.XGBClassifier(n_estimators=8, max_depth=3), X3, y3),
        ("xgb_reg", xgb.XGBRegressor(n_estimators=12, max_depth=4), Xn, yr),
    ]:
        est.fit(X, y)
        onx = convert_xgboost(est, initial_types=it, target_opset=15)
        out.append((name, _save(d, name, onx), {"X": _edge_rows(X, _thresholds(onx))}))
    # LightGBM with a categorical feature gives BRANCH_EQ chains
    Xc = X2.copy()
    Xc[:, 5] = RNG.randint(0, 8, len(Xc))
    for name, est, X, y, cat in [
        ("lgb_binary", lgb.LGBMClassifier(n_estimators=12, num_leaves=8, verbose=-1), Xn, y2, "auto"),
        ("lgb_multi", lgb.LGBMClassifier(n_estimators=8, num_leaves=6, verbose=-1), X3, y3, "auto"),
        ("lgb_reg", lgb.LGBMRegressor(n_estimators=12, num_leaves=8, verbose=-1), Xn, yr, "auto"),
        ("lgb_categorical", lgb.LGBMRegressor(n_estimators=10, num_leaves=8, min_data_per_group=5,
                                               cat_smooth=1, verbose=-1), Xc, yr, [5]),
    ]:
        est.fit(X, y, categorical_feature=cat)
        onx = convert_lightgbm(est, initial_types=it, target_opset=15, zipmap=False)
        feeds = _edge_rows(X, _thresholds(onx))
        if name == "lgb_categorical":
            feeds[:, 5] = np.arange(len(feeds)) % 9
        out.append((name, _save(d, name, onx), {"X": feeds}))
    return out


def torch_style_mlps(d):
    """MLPs written the way torch.onnx exports nn.Linear."""
    out = []
    sizes = [NF, 32, 16, 3]
    Ws = [RNG.randn(sizes[i + 1], sizes[i]).astype(np.float32) * 0.5 for i in range(3)]
    bs = [RNG.randn(sizes[i + 1]).astype(np.float32) * 0.1 for i in range(3)]
    X = RNG.randn(10, NF).astype(np.float32)
    # Gemm(transB=1)
    nodes, inits, prev = [], [], "input"
    for i in range(3):
        inits += [numpy_helper.from_array(Ws[i], f"fc{i}.weight"), numpy_helper.from_array(bs[i], f"fc{i}.bias")]
        nodes.append(helper.make_node("Gemm", [prev, f"fc{i}.weight", f"fc{i}.bias"], [f"g{i}"], alpha=1.0,
                                      beta=1.0, transB=1))
        prev = f"g{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
            prev = f"r{i}"
    nodes.append(helper.make_node("Softmax", [prev], ["output"], axis=1))
    g = helper.make_graph(nodes, "mlp_gemm", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", NF])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    out.append(("torch_mlp_gemm", _save(d, "torch_mlp_gemm", m), {"input": X}))
    # Transpose'd weights + MatMul + Add, Tanh/Sigmoid, 3-D input
    nodes, inits, prev = [], [], "input"
    acts = ["Tanh", "Sigmoid", None]
    for i in range(3):
        inits += [numpy_helper.from_array(Ws[i].T.copy(), f"w{i}"), numpy_helper.from_array(bs[i], f"b{i}")]
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]))
        prev = f"a{i}"
        if acts[i]:
            nodes.append(helper.make_node(acts[i], [prev], [f"act{i}"]))
            prev = f"act{i}"
    nodes.append(helper.make_node("LogSoftmax", [prev], ["output"], axis=-1))
    g = helper.make_graph(nodes, "mlp_matmul",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", "t", NF])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["b", "t", 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    out.append(("torch_mlp_matmul", _save(d, "torch_mlp_matmul", m), {"input": RNG.randn(2, 5, NF).astype(np.float32)}))
    return out


def _tree_attrs(modes_per_node, rng, nfeat=NF):
    """A random complete binary tree set with the given modes for interior nodes."""
    tids, nids, fids, modes, vals, tn, fn, mt = [], [], [], [], [], [], [], []
    leaves = []
    for t in range(4):
        # depth-3 tree, node ids shuffled (unsorted; onnxruntime needs them < 15)
        ids = rng.permutation(15)
        for k in range(15):
            tids.append(t)
            nids.append(int(ids[k]))
            if k < 7:
                fids.append(int(rng.randint(nfeat)))
                modes.append(modes_per_node[(t * 7 + k) % len(modes_per_node)])
                vals.append(float(np.round(rng.randn(), 1)))
                tn.append(int(ids[2 * k + 1]))
                fn.append(int(ids[2 * k + 2]))
                mt.append(int(rng.randint(2)))
            else:
                fids.append(0)
                modes.append("LEAF")
                vals.append(0.0)
                tn.append(0)
                fn.append(0)
                mt.append(0)
                leaves.append((t, int(ids[k])))
    return dict(nodes_treeids=tids, nodes_nodeids=nids, nodes_featureids=fids, nodes_modes=modes,
                nodes_values=vals, nodes_truenodeids=tn, nodes_falsenodeids=fn,
                nodes_missing_value_tracks_true=mt), leaves


def handmade_trees(d):
    out = []
    rng = np.random.RandomState(3)
    allmodes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    X = np.round(rng.randn(40, NF), 1).astype(np.float32)
    X[3, 2] = np.nan
    X[5, :] = np.nan
    X[7, 1] = np.inf
    X[8, 0] = -np.inf
    for post in ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"]:
        for agg in ["SUM", "AVERAGE", "MIN", "MAX"]:
            if post != "NONE" and agg not in ("SUM",):
                continue
            attrs, leaves = _tree_attrs(allmodes, rng)
            nt = 2
            kw = dict(attrs, n_targets=nt, post_transform=post, aggregate_function=agg,
                      target_treeids=[t for t, _ in leaves for _ in range(nt)],
                      target_nodeids=[n for _, n in leaves for _ in range(nt)],
                      target_ids=[k for _ in leaves for k in range(nt)],
                      target_weights=list(np.round(rng.randn(len(leaves) * nt), 2)),
                      base_values=[0.5, -0.25])
            node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", **kw)
            g = helper.make_graph([node], "t", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, NF])],
                                  [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, nt])])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
            name = f"tree_reg_{post.lower()}_{agg.lower()}"
            out.append((name, _save(d, name, m), {"X": X}))
    # classifier: all modes, 3 classes, int64 labels, each post transform
    for post in ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]:
        attrs, leaves = _tree_attrs(allmodes, rng)
        kw = dict(attrs, classlabels_int64s=[10, 20, 30], post_transform=post,
                  class_treeids=[t for t, _ in leaves for _ in range(3)],
                  class_nodeids=[n for _, n in leaves for _ in range(3)],
                  class_ids=[k for _ in leaves for k in range(3)],
                  class_weights=list(np.round(rng.randn(len(leaves) * 3), 2)))
        node = helper.make_node("TreeEnsembleClassifier", ["X"], ["L", "P"], domain="ai.onnx.ml", **kw)
        g = helper.make_graph([node], "t", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, NF])],
                              [helper.make_tensor_value_info("L", TensorProto.INT64, [None]),
                               helper.make_tensor_value_info("P", TensorProto.FLOAT, [None, 3])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
        name = f"tree_clf_{post.lower()}"
        out.append((name, _save(d, name, m), {"X": X}))
    # double thresholds via *_as_tensor and double input
    attrs, leaves = _tree_attrs(["BRANCH_LEQ", "BRANCH_LT"], rng)
    vals = attrs.pop("nodes_values")
    kw = dict(attrs, n_targets=1, nodes_values_as_tensor=numpy_helper.from_array(np.array(vals, np.float64)),
              target_treeids=[t for t, _ in leaves], target_nodeids=[n for _, n in leaves],
              target_ids=[0] * len(leaves),
              target_weights_as_tensor=numpy_helper.from_array(rng.randn(len(leaves)).astype(np.float64)))
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", **kw)
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, NF])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    out.append(("tree_reg_double", _save(d, "tree_reg_double", m), {"X": X.astype(np.float64)}))
    # ml opset 5 TreeEnsemble with BRANCH_MEMBER (onnxruntime only takes integer members)
    n_nodes = 3
    kw = dict(
        nodes_featureids=[0, 1, 2], nodes_modes=numpy_helper.from_array(np.array([0, 6, 3], np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array([0.1, 0.0, -0.2], np.float32)),
        nodes_truenodeids=[1, 0, 2], nodes_trueleafs=[0, 1, 1], nodes_falsenodeids=[2, 1, 3],
        nodes_falseleafs=[0, 1, 1], nodes_missing_value_tracks_true=[1, 0, 0],
        membership_values=numpy_helper.from_array(np.array([1.0, -1.0, 3.0, np.nan], np.float32)),
        leaf_targetids=[0, 1, 0, 1], leaf_weights=numpy_helper.from_array(np.array([1.0, 2.0, 3.0, 4.0], np.float32)),
        tree_roots=[0], n_targets=2, aggregate_function=1, post_transform=0)
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **kw)
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, NF])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    Xm = X.copy()
    # onnxruntime truncates a membership feature to an integer before the
    # test while the spec compares values; feed integers so both agree
    Xm[:, 1] = np.round(Xm[:, 1] * 2)
    Xm[:12, 1] = [1.0, -1.0, 3.0, 0.0, 2.0, np.nan, 1.0, 1.0, -1.0, 3.0, 5.0, 4]
    assert n_nodes == 3
    out.append(("tree_v5_member", _save(d, "tree_v5_member", m), {"X": Xm}))
    return out


def all_models(d):
    models = []
    for fn in (sklearn_models, pipeline_model, gbm_models, torch_style_mlps, handmade_trees):
        models += fn(d)
    return models
