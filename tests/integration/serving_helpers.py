"""Shared pieces of the serving tests: small ONNX models built with
onnx.helper (so that each version gives outputs a test can tell apart),
registration through the real mlflow client, deployments through the REST
API, onnxruntime as the reference, and a Prometheus text parser."""
import contextlib
import os
import re
import time

import numpy as np
import onnx
import requests
from onnx import TensorProto, helper, numpy_helper

from capstan_process import CapstanProcess, free_port  # noqa: F401  (free_port: for the tests)

DEPLOYMENTS = "/api/2.0/capstan/deployments"

# ---------------------------------------------------------------- models

LIN_W = np.array([[0.5], [-1.25], [2.0]], dtype=np.float32)


def linear_model(intercept, in_type=TensorProto.FLOAT, n_features=3, weights=None):
    """y = x @ W + intercept, x [N, n_features] (FP32, or INT64 cast to float),
    y FP32 [N, 1]. Two versions with different intercepts give outputs that
    tell which one answered."""
    w = LIN_W if weights is None else np.asarray(weights, dtype=np.float32)
    if w.shape[0] != n_features:
        w = np.resize(w, (n_features, 1)).astype(np.float32)
    nodes = []
    src = "x"
    if in_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
        src = "xf"
    nodes += [helper.make_node("MatMul", [src, "W"], ["xw"]),
              helper.make_node("Add", ["xw", "b"], ["y"])]
    graph = helper.make_graph(
        nodes, "linear",
        [helper.make_tensor_value_info("x", in_type, [None, n_features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(w, "W"),
         numpy_helper.from_array(np.array([intercept], dtype=np.float32), "b")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def unservable_model():
    """A valid ONNX file (the registry can read it) with an operator the
    runtime lacks (Det), same signature as linear_model."""
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]),
             helper.make_node("Det", ["C"], ["d"]),
             helper.make_node("Add", ["xw", "d"], ["y"])]
    graph = helper.make_graph(
        nodes, "unservable",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(LIN_W, "W"),
         numpy_helper.from_array(np.array([[2.0]], dtype=np.float32), "C")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def classifier_data(n=200, seed=0):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=4, n_informative=3, n_redundant=0,
                               random_state=seed)
    return X.astype(np.float32), y


def logistic_model():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    X, y = classifier_data()
    clf = LogisticRegression().fit(X, y)
    return convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 4]))],
                           options={id(clf): {"zipmap": False}}, target_opset=13)


def forest_model():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import RandomForestClassifier

    X, y = classifier_data()
    clf = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    return convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 4]))],
                           options={id(clf): {"zipmap": False}}, target_opset=13)


class Ort:
    """onnxruntime on the very model that was registered."""

    def __init__(self, model):
        import onnxruntime as ort

        self.sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.sess.get_outputs()]

    def run(self, **feeds):
        return dict(zip(self.outputs, self.sess.run(None, feeds)))


def assert_close(got, want, what=""):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if want.dtype.kind in "iub":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=what)


# ---------------------------------------------------------------- registry

@contextlib.contextmanager
def tracking_uri(url):
    """Points the mlflow client at one server for a while."""
    import mlflow

    old = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(url)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(old)


def register(model, name, experiment_id=None):
    """Logs an ONNX model in a run and registers it; returns the version.
    experiment_id "0" (Default) for a server other than the module's, whose
    active experiment the mlflow client remembers."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id):
        # Fixed requirements: inferring them costs seconds per model.
        info = mlflow.onnx.log_model(model, name="model", registered_model_name=name,
                                     pip_requirements=["onnx", "onnxruntime"])
    return str(info.registered_model_version)


def register_raw(server, name, files, tmp_path):
    """Registers a version made of arbitrary files (a corrupt model)
    through the REST call, which returns it even when FAILED_REGISTRATION."""
    import mlflow

    d = tmp_path / f"raw-{name}-{time.time_ns()}"
    d.mkdir()
    for fname, data in files.items():
        (d / fname).write_bytes(data)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(d), artifact_path="model")
    requests.post(server.url + "/api/2.0/mlflow/registered-models/create", json={"name": name})
    r = requests.post(server.url + "/api/2.0/mlflow/model-versions/create",
                      json={"name": name, "source": f"runs:/{run.info.run_id}/model",
                            "run_id": run.info.run_id}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["model_version"]


# ---------------------------------------------------------------- deployments

def create_deployment(url, spec):
    r = requests.post(url + DEPLOYMENTS, json=spec, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["deployment"]


def deploy(url, model, name, experiment="Default"):
    """Registers model as name version 1 on the server at url and deploys
    it as name; returns once its primary is ready. The run goes to the
    experiment by id, so the mlflow client's active experiment (which would
    point at an id the next test's server lacks) is left alone."""
    from mlflow.tracking import MlflowClient

    with tracking_uri(url):
        c = MlflowClient()
        e = c.get_experiment_by_name(experiment)
        register(model, name, experiment_id=e.experiment_id if e else c.create_experiment(experiment))
    create_deployment(url, {"name": name, "model": f"{name}/1"})
    wait_for(lambda: get_deployment(url, name)["status"]["primary"].get("ready"),
             what=f"deployment {name} ready")


def get_deployment(url, name):
    r = requests.get(f"{url}{DEPLOYMENTS}/{name}", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["deployment"]


# wait_for waits for something that must happen; how soon it happens is a
# latency target, measured by the benchmarks, not here. A test's own timeout
# (often a few seconds) said how long it expected to wait, and on a loaded
# machine (the ASan build beside a CPU hog) model loads took longer than
# that, so no wait gives up before this floor.
WAIT_FLOOR_S = 60.0


def wait_for(pred, timeout=10.0, every=0.05, what="condition"):
    timeout = max(timeout, WAIT_FLOOR_S)
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def oip_body(x, name="x", datatype="FP32", rid=None):
    x = np.asarray(x)
    body = {"inputs": [{"name": name, "shape": list(x.shape), "datatype": datatype,
                        "data": x.ravel().tolist()}]}
    if rid is not None:
        body["id"] = rid
    return body


def oip_infer(session, url, deployment, x, name="x", datatype="FP32", headers=None, version=None):
    path = f"/v2/models/{deployment}" + (f"/versions/{version}" if version else "") + "/infer"
    return session.post(url + path, json=oip_body(x, name, datatype), headers=headers or {}, timeout=30)


def linear_expect(x, intercept):
    return (np.asarray(x, dtype=np.float32) @ LIN_W + np.float32(intercept)).astype(np.float32)


# ---------------------------------------------------------------- metrics

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text exposition -> [(name, {labels}, value)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric(url, name, **labels):
    """Sum of the samples called name whose labels include the given ones."""
    r = requests.get(url + "/metrics", timeout=30)
    assert r.status_code == 200, r.text
    total = 0.0
    for n, lab, v in parse_metrics(r.text):
        if n == name and all(lab.get(k) == str(want) for k, want in labels.items()):
            total += v
    return total


def metric_samples(url, name):
    r = requests.get(url + "/metrics", timeout=30)
    return [(lab, v) for n, lab, v in parse_metrics(r.text) if n == name]


# ---------------------------------------------------------------- processes

class Replica(CapstanProcess):
    """`capstan serve --registry URL`: serving only, models over HTTP."""

    def __init__(self, binary, registry, log_dir, extra=()):
        super().__init__(binary, "serve", os.path.join(str(log_dir), "replica-{port}.log"),
                         ["--registry", registry, *extra], ready_path="/v2/health/live")
        self.start()
