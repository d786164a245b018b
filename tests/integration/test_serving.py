"""Online serving against the real binary: the Open Inference Protocol
through the real tritonclient, MLflow's scoring payloads, blue/green under
load, canary, shadow, a broken new version, dynamic batching, the
prediction cache, the prediction log and `capstan deploy`. Every answer is
checked against onnxruntime on the same model file."""
import itertools
import json
import subprocess
import threading
import time

import numpy as np
import pytest
import requests
from onnx import TensorProto

import serving_helpers as sh
from conftest import BIN
from serving_helpers import DEPLOYMENTS, assert_close, linear_expect, metric

INTERCEPT = {"1": 1.0, "2": 2.0}


@pytest.fixture(scope="module")
def reg(server, mlflow_client):
    """Models registered once for the module, deployed where a test needs."""
    import mlflow

    mlflow.set_experiment("serving")
    models = {"clf": sh.logistic_model(), "forest": sh.forest_model(),
              "lin64": sh.linear_model(0.5, in_type=TensorProto.INT64)}
    for name, m in models.items():
        assert sh.register(m, name) == "1"
    for name in ("clf", "forest", "lin64"):
        sh.create_deployment(server.url, {"name": name, "model": f"{name}/1"})
    return models


def rows(n, seed=0, d=4):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


# ------------------------------------------------------------ OIP via tritonclient

@pytest.fixture(scope="module")
def triton(server):
    import tritonclient.http as httpclient

    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield c
    c.close()


def test_triton_health_and_metadata(server, reg, triton):
    assert triton.is_server_live()
    assert triton.is_server_ready()
    md = triton.get_server_metadata()
    assert md["name"] == "capstan" and "binary_tensor_data" in md["extensions"]
    assert triton.is_model_ready("clf")
    assert triton.is_model_ready("clf", model_version="1")
    assert not triton.is_model_ready("no-such-deployment")
    mm = triton.get_model_metadata("clf")
    assert mm["name"] == "clf" and mm["versions"] == ["1"] and mm["platform"] == "onnx"
    assert mm["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert {o["name"]: (o["datatype"], o["shape"]) for o in mm["outputs"]} == {
        "label": ("INT64", [-1]), "probabilities": ("FP32", [-1, 2])}
    mm64 = triton.get_model_metadata("lin64", model_version="1")
    assert mm64["inputs"] == [{"name": "x", "datatype": "INT64", "shape": [-1, 3]}]


@pytest.mark.parametrize("model", ["clf", "forest"])
@pytest.mark.parametrize("bin_in,bin_out", list(itertools.product([False, True], repeat=2)))
def test_triton_infer_fp32(server, reg, triton, model, bin_in, bin_out):
    import tritonclient.http as httpclient

    x = rows(7, seed=len(model) * 4 + 2 * bin_in + bin_out)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=bin_in)
    outs = [httpclient.InferRequestedOutput("label", binary_data=bin_out),
            httpclient.InferRequestedOutput("probabilities", binary_data=bin_out)]
    res = triton.infer(model, [inp], outputs=outs, request_id="req-7")
    resp = res.get_response()
    assert resp["model_name"] == model and resp["model_version"] == "1" and resp["id"] == "req-7"
    want = sh.Ort(reg[model]).run(input=x)
    assert_close(res.as_numpy("label"), want["label"], "label")
    assert_close(res.as_numpy("probabilities"), want["probabilities"], "probabilities")
    for o in resp["outputs"]:
        assert ("data" not in o) == bin_out, o  # binary outputs carry no JSON data
    # Only the asked-for output comes back.
    res = triton.infer(model, [inp], outputs=[httpclient.InferRequestedOutput("probabilities",
                                                                              binary_data=bin_out)])
    assert [o["name"] for o in res.get_response()["outputs"]] == ["probabilities"]
    assert_close(res.as_numpy("probabilities"), want["probabilities"])


@pytest.mark.parametrize("bin_in,bin_out", list(itertools.product([False, True], repeat=2)))
def test_triton_infer_int64(server, reg, triton, bin_in, bin_out):
    import tritonclient.http as httpclient

    x = np.array([[1, 2, 3], [-4, 5, 600], [0, 0, 0], [2**20, -7, 9]], dtype=np.int64)
    inp = httpclient.InferInput("x", list(x.shape), "INT64")
    inp.set_data_from_numpy(x, binary_data=bin_in)
    res = triton.infer("lin64", [inp], model_version="1",
                       outputs=[httpclient.InferRequestedOutput("y", binary_data=bin_out)])
    want = sh.Ort(reg["lin64"]).run(x=x)["y"]
    assert_close(res.as_numpy("y"), want, "y")
    assert res.as_numpy("y").dtype == np.float32


def test_triton_all_outputs_by_default_and_errors(server, reg, triton):
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    x = rows(3, seed=5)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    res = triton.infer("clf", [inp])
    assert sorted(o["name"] for o in res.get_response()["outputs"]) == ["label", "probabilities"]
    assert_close(res.as_numpy("probabilities"), sh.Ort(reg["clf"]).run(input=x)["probabilities"])
    with pytest.raises(InferenceServerException) as e:
        triton.infer("no-such-deployment", [inp])
    assert "no-such-deployment" in str(e.value)
    bad = httpclient.InferInput("input", [3, 4], "FP64")
    bad.set_data_from_numpy(x.astype(np.float64), binary_data=True)
    with pytest.raises(InferenceServerException) as e:
        triton.infer("clf", [bad])
    assert "FP64" in str(e.value) and "FP32" in str(e.value)
    with pytest.raises(InferenceServerException):
        triton.infer("clf", [inp], model_version="9")
    assert triton.is_server_live()


def test_oip_plain_http_json(server, reg):
    x = rows(2, seed=9)
    nested = {"id": "n1", "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                                      "data": x.tolist()}]}
    r = requests.post(server.url + "/v2/models/clf/infer", json=nested, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "n1" and body["model_version"] == "1"
    out = {o["name"]: o for o in body["outputs"]}
    assert out["probabilities"]["shape"] == [2, 2] and out["probabilities"]["datatype"] == "FP32"
    assert out["label"]["datatype"] == "INT64" and out["label"]["shape"] == [2]
    want = sh.Ort(reg["clf"]).run(input=x)
    assert_close(np.array(out["probabilities"]["data"], dtype=np.float32).reshape(2, 2),
                 want["probabilities"])
    r = requests.get(server.url + "/v2/models/clf/versions/1/ready", timeout=30)
    assert r.status_code == 200 and r.json() == {"name": "clf", "ready": True}
    r = requests.get(server.url + "/v2/models/clf/versions/2/ready", timeout=30)
    assert r.status_code == 404 and "error" in r.json()
    r = requests.get(server.url + "/v2/health/live", timeout=30)
    assert r.status_code == 200


# ------------------------------------------------------------ MLflow scoring

def predictions_as_arrays(preds, outputs):
    """MLflow answers records (a frame) or a dict of columns; both -> {name: array}."""
    if isinstance(preds, dict):
        return {k: np.asarray(v) for k, v in preds.items()}
    if preds and isinstance(preds[0], dict):
        return {k: np.asarray([p[k] for p in preds]) for k in preds[0]}
    assert len(outputs) == 1, preds
    return {outputs[0]: np.asarray(preds)}


SCORING = ["dataframe_split", "dataframe_records", "instances", "inputs", "csv",
           "dataframe_split_orient_index", "charset"]


@pytest.mark.parametrize("fmt", SCORING)
def test_scoring_formats(server, reg, fmt):
    x = rows(5, seed=11)
    cols = ["a", "b", "c", "d"]
    headers = {}
    if fmt == "dataframe_split":
        kw = {"json": {"dataframe_split": {"columns": cols, "data": x.tolist()}}}
    elif fmt == "dataframe_split_orient_index":
        kw = {"json": {"dataframe_split": {"columns": cols, "index": list(range(5)), "data": x.tolist()}}}
    elif fmt == "dataframe_records":
        kw = {"json": {"dataframe_records": [dict(zip(cols, map(float, r))) for r in x]}}
    elif fmt == "instances":
        kw = {"json": {"instances": x.tolist()}}
    elif fmt == "inputs":
        kw = {"json": {"inputs": x.tolist()}}
    elif fmt == "charset":
        kw = {"data": json.dumps({"inputs": x.tolist()}),
              "headers": {"Content-Type": "application/json; charset=utf-8"}}
    else:
        csv = ",".join(cols) + "\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in x) + "\n"
        kw = {"data": csv, "headers": {"Content-Type": "text/csv"}}
    r = requests.post(server.url + "/deployments/clf/invocations", timeout=30, **kw)
    assert r.status_code == 200, r.text
    got = predictions_as_arrays(r.json()["predictions"], ["label", "probabilities"])
    want = sh.Ort(reg["clf"]).run(input=x)
    assert_close(got["label"], want["label"], fmt)
    assert_close(got["probabilities"], want["probabilities"], fmt)


def test_scoring_int64_and_ping(server, reg):
    x = np.array([[1, 2, 3], [4, -5, 6]], dtype=np.int64)
    r = requests.post(server.url + "/deployments/lin64/invocations",
                      json={"dataframe_split": {"columns": ["a", "b", "c"], "data": x.tolist()}}, timeout=30)
    assert r.status_code == 200, r.text
    got = predictions_as_arrays(r.json()["predictions"], ["y"])
    assert_close(np.asarray(got["y"], dtype=np.float32).reshape(2, 1), sh.Ort(reg["lin64"]).run(x=x)["y"])
    # /ping answers for the single (or --default-) deployment; this server has several.
    r = requests.get(server.url + "/ping", timeout=30)
    assert r.status_code == 404 and "deployment" in r.json()["message"], r.text


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "application/json; charset=latin-1"])
def test_scoring_unsupported_media_type(server, reg, ctype):
    r = requests.post(server.url + "/deployments/clf/invocations", data=b'{"inputs": [[1,2,3,4]]}',
                      headers={"Content-Type": ctype}, timeout=30)
    assert r.status_code == 415, r.text
    assert r.json()["error_code"] == "BAD_REQUEST" and r.json()["message"]
    ok = requests.post(server.url + "/deployments/clf/invocations", json={"inputs": [[1, 2, 3, 4]]}, timeout=30)
    assert ok.status_code == 200, ok.text


def test_invocations_without_deployment_name_is_ambiguous(server, reg):
    # Several deployments live on this server and no --default-deployment is set.
    r = requests.post(server.url + "/invocations", json={"inputs": [[1, 2, 3, 4]]}, timeout=30)
    assert r.status_code == 404, r.text
    assert "deployment" in r.json()["message"]


# ------------------------------------------------------------ blue/green

class Load:
    """A client thread that sends requests without pause and records each
    (start, end, status, version, x, y)."""

    def __init__(self, url, deployment, threads=1, headers=None):
        self.url, self.dep, self.headers = url, deployment, headers
        self.stop = threading.Event()
        self.records = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(i,)) for i in range(threads)]

    def loop(self, k):
        s = requests.Session()
        rng = np.random.default_rng(k)
        while not self.stop.is_set():
            x = rng.normal(size=(1, 3)).astype(np.float32)
            t0 = time.time()
            try:
                r = sh.oip_infer(s, self.url, self.dep, x, headers=self.headers)
                status, body = r.status_code, (r.json() if r.headers.get("Content-Type", "").startswith("application/json") else r.text)
            except requests.RequestException as e:
                status, body = -1, str(e)
            t1 = time.time()
            with self.lock:
                self.records.append((t0, t1, status, body, x))

    def count(self, pred):
        with self.lock:
            return sum(1 for rec in self.records if pred(rec))

    def first_end(self, version):
        """When the first answer from that version came back (None: none yet)."""
        with self.lock:
            ends = [t1 for t0, t1, st, body, x in self.records
                    if st == 200 and isinstance(body, dict) and body.get("model_version") == version]
        return min(ends) if ends else None

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def check_records(records, intercepts):
    """Every response 200, from exactly one version, with that version's outputs."""
    bad = [(st, b) for _, _, st, b, _ in records if st != 200]
    assert not bad, f"{len(bad)} failed requests, e.g. {bad[:3]}"
    out = []
    for t0, t1, _, body, x in records:
        v = body["model_version"]
        assert v in intercepts, body
        y = np.array(body["outputs"][0]["data"], dtype=np.float32).reshape(-1, 1)
        assert_close(y, linear_expect(x, intercepts[v]), f"version {v}")
        out.append((t0, t1, v))
    return out


def test_blue_green_alias_switch_under_load(server, mlflow_client):
    intercepts = {"1": 10.0, "2": 20.0}
    for v in ("1", "2"):
        assert sh.register(sh.linear_model(intercepts[v]), "bg") == v
    mlflow_client.set_registered_model_alias("bg", "champion", "1")
    d = sh.create_deployment(server.url, {"name": "bg", "model": "bg@champion"})
    assert d["status"]["state"] == "READY" and d["status"]["primary"]["version"] == "1"
    # Each phase lasts until enough requests were answered in it, not for a
    # fixed time: how soon the switch is seen is a latency target (the
    # serving benchmark's), and a loaded machine stretches it.
    with Load(server.url, "bg") as load:
        sh.wait_for(lambda: load.count(lambda rec: True) >= 20, what="traffic on v1")
        t_before = time.time()
        mlflow_client.set_registered_model_alias("bg", "champion", "2")
        first_v2 = sh.wait_for(lambda: load.first_end(version="2"), what="v2 answering")
        sh.wait_for(lambda: load.count(lambda rec: rec[0] > first_v2) >= 20, what="traffic on v2")
        t_rb0 = time.time()
        r = requests.post(f"{server.url}{DEPLOYMENTS}/bg/rollback", timeout=30)
        t_rb = time.time()
        assert r.status_code == 200, r.text
        sh.wait_for(lambda: load.count(lambda rec: rec[0] > t_rb) >= 20, what="traffic after rollback")
    seen = check_records(load.records, intercepts)
    assert all(v == "1" for t0, t1, v in seen if t1 < t_before), "v2 answered before the alias moved"
    # Once v2 answered, every later request (until rollback) is v2: no flapping.
    between = [v for t0, t1, v in seen if t0 > first_v2 and t1 < t_rb0]
    assert between and set(between) == {"2"}, sorted(set(between))
    # Rollback pins the previous version, kept warm: v1 at once.
    after = [v for t0, t1, v in seen if t0 > t_rb]
    assert after and set(after) == {"1"}, sorted(set(after))
    st = sh.get_deployment(server.url, "bg")["status"]
    assert st["primary"]["version"] == "1", st
    # Promote after a rollback un-pins: the alias (v2) serves again.
    r = requests.post(f"{server.url}{DEPLOYMENTS}/bg/promote", timeout=30)
    assert r.status_code == 200, r.text
    s = requests.Session()
    x = np.ones((1, 3), dtype=np.float32)

    def on_v2():
        b = sh.oip_infer(s, server.url, "bg", x).json()
        return b["model_version"] == "2" and b
    body = sh.wait_for(on_v2, timeout=1.5, what="v2 after promote")
    assert_close(np.array(body["outputs"][0]["data"]).reshape(1, 1), linear_expect(x, 20.0))


# ------------------------------------------------------------ canary

def count_versions(url, dep, n, threads=2, headers_of=None):
    counts = {}
    errors = []
    lock = threading.Lock()

    def work(k):
        s = requests.Session()
        body = sh.oip_body(np.zeros((1, 3), dtype=np.float32))
        local = {}
        for i in range(k, n, threads):
            r = s.post(f"{url}/v2/models/{dep}/infer", json=body,
                       headers=headers_of(i) if headers_of else None, timeout=30)
            if r.status_code != 200:
                errors.append(r.text)
                continue
            b = r.json()
            local[b["model_version"]] = local.get(b["model_version"], 0) + 1
        with lock:
            for k2, v in local.items():
                counts[k2] = counts.get(k2, 0) + v

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]
    return counts


def test_canary_weight_and_sticky_header(server, mlflow_client):
    for v in ("1", "2"):
        sh.register(sh.linear_model(float(v) * 100), "cn")
    d = sh.create_deployment(server.url, {"name": "cn", "model": "cn/1", "canary": "cn/2",
                                          "canary_weight": 10})
    assert d["status"]["canary"]["version"] == "2" and d["status"]["canary"]["ready"], d
    n = 10000
    counts = count_versions(server.url, "cn", n)
    assert sum(counts.values()) == n and set(counts) == {"1", "2"}, counts
    share = 100.0 * counts["2"] / n
    assert 7.0 <= share <= 13.0, f"canary share {share:.2f}% for weight 10"
    # Naming a version pins it, whatever the weights say.
    s = requests.Session()
    for v in ("1", "2"):
        got = {sh.oip_infer(s, server.url, "cn", np.zeros((1, 3), np.float32), version=v).json()["model_version"]
               for _ in range(20)}
        assert got == {v}, (v, got)
    # Metrics split the two versions.
    ok1 = metric(server.url, "capstan_inference_requests_total", deployment="cn", version="1", outcome="success")
    ok2 = metric(server.url, "capstan_inference_requests_total", deployment="cn", version="2", outcome="success")
    assert (ok1, ok2) == (counts["1"] + 20, counts["2"] + 20)

    r = requests.patch(f"{server.url}{DEPLOYMENTS}/cn", json={"sticky_header": "X-User", "canary_weight": 50},
                       timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["deployment"]["canary_weight"] == 50
    s = requests.Session()
    per_user = {}
    for user in range(60):
        for _ in range(4):
            b = sh.oip_infer(s, server.url, "cn", np.zeros((1, 3), np.float32),
                             headers={"X-User": f"user-{user}"}).json()
            per_user.setdefault(user, set()).add(b["model_version"])
    assert all(len(v) == 1 for v in per_user.values()), per_user
    landed = {next(iter(v)) for v in per_user.values()}
    assert landed == {"1", "2"}, "60 users at weight 50 all landed on one version"

    # Promote: the canary becomes the model, all traffic on v2.
    r = requests.post(f"{server.url}{DEPLOYMENTS}/cn/promote", timeout=30)
    assert r.status_code == 200, r.text
    d = r.json()["deployment"]
    assert d["model"] == "cn/2" and "canary" not in d, d
    assert count_versions(server.url, "cn", 200) == {"2": 200}
    # A new canary then rollback drops it.
    r = requests.patch(f"{server.url}{DEPLOYMENTS}/cn", json={"canary": "cn/1", "canary_weight": 100},
                       timeout=30)
    assert r.status_code == 200, r.text
    assert count_versions(server.url, "cn", 50) == {"1": 50}
    r = requests.post(f"{server.url}{DEPLOYMENTS}/cn/rollback", timeout=30)
    assert r.status_code == 200, r.text
    assert "canary" not in r.json()["deployment"]
    assert count_versions(server.url, "cn", 50) == {"2": 50}


# ------------------------------------------------------------ shadow

def predictions(url, dep, **q):
    r = requests.get(url + "/api/2.0/capstan/predictions", params={"deployment": dep, **q}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def all_predictions(url, dep):
    out, token = [], None
    while True:
        q = {"max_results": 500}
        if token:
            q["page_token"] = token
        page = predictions(url, dep, **q)
        out += page["predictions"]
        token = page.get("next_page_token")
        if not token:
            return out


def test_shadow_mirrors_without_touching_responses(server, mlflow_client):
    sh.register(sh.linear_model(1.0), "sh")       # v1 primary
    sh.register(sh.linear_model(1.0), "sh")       # v2 agrees with v1
    sh.register(sh.linear_model(5.0), "sh")       # v3 disagrees
    sh.register(sh.linear_model(1.0, n_features=5), "shbad")  # fails on 3-column input
    d = sh.create_deployment(server.url, {"name": "shd", "model": "sh/1", "shadow": "sh/2"})
    assert d["status"]["shadow"]["version"] == "2", d

    def burst(n, seed):
        s = requests.Session()
        rng = np.random.default_rng(seed)
        for _ in range(n):
            x = rng.normal(size=(2, 3)).astype(np.float32)
            r = sh.oip_infer(s, server.url, "shd", x)
            assert r.status_code == 200, r.text
            b = r.json()
            assert b["model_name"] == "shd" and b["model_version"] == "1", b
            assert_close(np.array(b["outputs"][0]["data"]).reshape(2, 1), linear_expect(x, 1.0))

    burst(30, 1)
    sh.wait_for(lambda: metric(server.url, "capstan_shadow_compared_rows_total", deployment="shd") >= 60,
                what="shadow comparisons")
    assert metric(server.url, "capstan_shadow_requests_total", deployment="shd") >= 30
    assert metric(server.url, "capstan_shadow_agreeing_rows_total", deployment="shd") == \
        metric(server.url, "capstan_shadow_compared_rows_total", deployment="shd")
    assert metric(server.url, "capstan_shadow_agreement_ratio", deployment="shd") == 1.0

    def shadow_rows(version):
        return [p for p in all_predictions(server.url, "shd")
                if p["role"] == "shadow" and p["model_version"] == version]
    rows2 = sh.wait_for(lambda: len(shadow_rows("2")) >= 30 and shadow_rows("2"), what="shadow log rows")
    assert all(p["agree"] is True for p in rows2), rows2[:2]
    prim = [p for p in all_predictions(server.url, "shd") if p["role"] == "primary"]
    assert len(prim) >= 30 and all(p["model_version"] == "1" and "agree" not in p for p in prim)
    p = prim[0]
    for k in ("id", "timestamp", "deployment", "model_name", "latency_us", "inputs", "outputs"):
        assert k in p, p

    # A disagreeing shadow: still only v1 answers; the rows say they disagree.
    r = requests.patch(f"{server.url}{DEPLOYMENTS}/shd", json={"shadow": "sh/3"}, timeout=30)
    assert r.status_code == 200, r.text
    sh.wait_for(lambda: sh.get_deployment(server.url, "shd")["status"].get("shadow", {}).get("version") == "3",
                what="shadow v3 loaded")
    burst(20, 2)
    rows3 = sh.wait_for(lambda: len(shadow_rows("3")) >= 20 and shadow_rows("3"), what="shadow v3 rows")
    assert all(p["agree"] is False for p in rows3), rows3[:2]
    sh.wait_for(lambda: metric(server.url, "capstan_shadow_agreement_ratio", deployment="shd") < 1.0,
                what="agreement ratio to drop")

    # A shadow that fails on every request leaves the primary untouched.
    r = requests.patch(f"{server.url}{DEPLOYMENTS}/shd", json={"shadow": "shbad/1"}, timeout=30)
    assert r.status_code == 200, r.text
    sh.wait_for(lambda: sh.get_deployment(server.url, "shd")["status"].get("shadow", {}).get("name") == "shbad",
                what="failing shadow loaded")
    burst(30, 3)
    assert sh.get_deployment(server.url, "shd")["status"]["primary"]["version"] == "1"
    # Removing the shadow (null) works too.
    r = requests.patch(f"{server.url}{DEPLOYMENTS}/shd", json={"shadow": None}, timeout=30)
    assert r.status_code == 200 and "shadow" not in r.json()["deployment"], r.text
    burst(5, 4)


def test_prediction_log_pages(server, mlflow_client):
    sh.register(sh.linear_model(3.0), "plog")
    sh.create_deployment(server.url, {"name": "plog", "model": "plog/1"})
    s = requests.Session()
    for i in range(12):
        r = s.post(server.url + "/v2/models/plog/infer",
                   json={**sh.oip_body(np.full((1, 3), i, np.float32)), "id": f"r{i}"}, timeout=30)
        assert r.status_code == 200
    sh.wait_for(lambda: len(predictions(server.url, "plog", max_results=100)["predictions"]) == 12,
                what="12 logged predictions")
    seen, token, pages = [], None, 0
    while True:
        q = {"max_results": 5, **({"page_token": token} if token else {})}
        page = predictions(server.url, "plog", **q)
        assert len(page["predictions"]) <= 5
        seen += page["predictions"]
        pages += 1
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == 3 and len({p["id"] for p in seen}) == 12
    assert {p["request_id"] for p in seen} == {f"r{i}" for i in range(12)}
    for p in seen:
        assert p["deployment"] == "plog" and p["model_name"] == "plog" and p["model_version"] == "1"
        assert p["role"] == "primary" and p["latency_us"] >= 0
    # Inference still works after the log was read (the read flushes the writer).
    r = s.post(server.url + "/v2/models/plog/infer", json=sh.oip_body(np.ones((1, 3), np.float32)), timeout=10)
    assert r.status_code == 200
    ts = sorted(p["timestamp"] for p in seen)
    later = predictions(server.url, "plog", since=ts[-1] + 1)["predictions"]
    assert all(p["timestamp"] > ts[-1] for p in later)
    # since_id is a reader's cursor: the rows after the last id it saw, the 13th request only.
    ids = sorted(p["id"] for p in seen)
    after = predictions(server.url, "plog", since_id=ids[-1])["predictions"]
    assert [p["id"] > ids[-1] for p in after] == [True]
    assert predictions(server.url, "plog", since_id=ids[5])["predictions"][0]["id"] == ids[6]
    r = requests.get(server.url + "/api/2.0/capstan/predictions",
                     params={"deployment": "plog", "since_id": -5}, timeout=30)
    assert r.status_code == 400 and "since_id" in r.json()["message"], r.text


# ------------------------------------------------------------ broken new version

def test_broken_new_version_never_takes_traffic(server, mlflow_client, tmp_path):
    sh.register(sh.linear_model(1.0), "cor")
    mlflow_client.set_registered_model_alias("cor", "champion", "1")
    sh.create_deployment(server.url, {"name": "cor", "model": "cor@champion"})
    failures0 = metric(server.url, "capstan_model_load_failures_total", deployment="cor")
    mv = sh.register_raw(server, "cor", {"model.onnx": b"\x08\x07\x12\xff\xff\xff\xff\x0fnot onnx"}, tmp_path)
    assert mv["version"] == "2" and mv["status"] == "FAILED_REGISTRATION", mv
    assert sh.register(sh.unservable_model(), "cor") == "3"

    for bad in ("2", "3"):
        with Load(server.url, "cor") as load:
            time.sleep(0.2)
            mlflow_client.set_registered_model_alias("cor", "champion", bad)
            d = sh.wait_for(lambda: (x := sh.get_deployment(server.url, "cor"))["status"]["state"] == "DEGRADED"
                            and f"cor/{bad}" in x["status"].get("message", "") and x,
                            timeout=3, what=f"DEGRADED after alias -> {bad}")
            time.sleep(0.8)
        seen = check_records(load.records, {"1": 1.0})
        assert seen and {v for _, _, v in seen} == {"1"}
        st = d["status"]
        assert st["primary"]["version"] == "1" and st["primary"]["ready"], st
        assert "still serving cor/1" in st["message"], st
        assert f"cor/{bad}" in st["primary"].get("error", ""), st
        assert sh.get_deployment(server.url, "cor")["status"]["primary"]["version"] == "1"
        assert requests.get(server.url + "/v2/models/cor/ready", timeout=10).status_code == 200
    # v2 never resolves (FAILED_REGISTRATION: the status says why); v3 resolves and fails to load.
    assert metric(server.url, "capstan_model_load_failures_total", deployment="cor", version="3") >= 1, \
        sh.metric_samples(server.url, "capstan_model_load_failures_total")
    assert metric(server.url, "capstan_deployment_ready", deployment="cor") == 1
    # A good version after the bad ones is picked up: the watcher still works.
    assert sh.register(sh.linear_model(4.0), "cor") == "4"
    mlflow_client.set_registered_model_alias("cor", "champion", "4")
    s = requests.Session()
    sh.wait_for(lambda: sh.oip_infer(s, server.url, "cor", np.zeros((1, 3), np.float32)).json()["model_version"] == "4",
                timeout=2, what="v4 serving")
    sh.wait_for(lambda: sh.get_deployment(server.url, "cor")["status"]["state"] == "READY", timeout=2,
                what="READY again")


# ------------------------------------------------------------ dynamic batching

def test_dynamic_batching_keeps_rows_with_their_client(server, mlflow_client):
    sh.register(sh.linear_model(7.0), "bt")
    sh.create_deployment(server.url, {"name": "bt", "model": "bt/1",
                                      "batching": {"max_batch_size": 8, "max_queue_delay_us": 2000}})
    errors, lock = [], threading.Lock()
    barrier = threading.Barrier(16)

    def client(k):
        s = requests.Session()
        barrier.wait()
        for i in range(15):
            n = 1 + (k + i) % 3
            x = np.full((n, 3), k * 100 + i, dtype=np.float32) + np.arange(3, dtype=np.float32)
            r = sh.oip_infer(s, server.url, "bt", x)
            try:
                assert r.status_code == 200, r.text
                y = np.array(r.json()["outputs"][0]["data"], dtype=np.float32).reshape(n, 1)
                assert_close(y, linear_expect(x, 7.0), f"client {k} request {i}")
            except AssertionError as e:
                with lock:
                    errors.append(str(e))

    ts = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]
    bs = dict(((lab.get("le")), v) for lab, v in sh.metric_samples(server.url, "capstan_inference_batch_size_bucket")
              if lab.get("deployment") == "bt")
    count = metric(server.url, "capstan_inference_batch_size_count", deployment="bt")
    total = metric(server.url, "capstan_inference_batch_size_sum", deployment="bt")
    execs = metric(server.url, "capstan_inference_executions_total", deployment="bt")
    reqs = metric(server.url, "capstan_inference_requests_total", deployment="bt", outcome="success")
    assert reqs == 16 * 15
    assert count > 0 and total / count > 1.0, (total, count, bs)
    assert execs < reqs, (execs, reqs)
    assert metric(server.url, "capstan_inference_queue_duration_seconds_count", deployment="bt") > 0


def test_queue_full_answers_503_with_retry_after(server, mlflow_client):
    sh.register(sh.linear_model(2.0), "bq")
    sh.create_deployment(server.url, {"name": "bq", "model": "bq/1",
                                      "batching": {"max_batch_size": 2, "max_queue_delay_us": 200000,
                                                   "max_queue_size": 1}})
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(12)

    def client(k):
        x = np.full((1, 3), k, dtype=np.float32)
        barrier.wait()
        r = requests.post(server.url + "/v2/models/bq/infer", json=sh.oip_body(x), timeout=30)
        with lock:
            results.append((k, x, r.status_code, r.headers.get("Retry-After"), r.text))

    ts = [threading.Thread(target=client, args=(k,)) for k in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes = sorted(st for _, _, st, _, _ in results)
    assert 503 in codes and 200 in codes, codes
    assert set(codes) <= {200, 503}, codes
    for k, x, st, retry, text in results:
        if st == 503:
            assert retry is not None and retry.strip().isdigit(), (retry, text)
            assert "error" in json.loads(text)
        else:
            y = np.array(json.loads(text)["outputs"][0]["data"], dtype=np.float32).reshape(1, 1)
            assert_close(y, linear_expect(x, 2.0))
    assert metric(server.url, "capstan_inference_queue_rejections_total", deployment="bq") == codes.count(503)
    r = requests.post(server.url + "/v2/models/bq/infer", json=sh.oip_body(np.ones((1, 3), np.float32)), timeout=30)
    assert r.status_code == 200, r.text


# ------------------------------------------------------------ prediction cache

def test_prediction_cache(server, mlflow_client):
    sh.register(sh.linear_model(6.0), "pc")
    sh.create_deployment(server.url, {"name": "pc", "model": "pc/1", "cache": {"max_entries": 100}})
    s = requests.Session()
    x = np.array([[1.5, -2.0, 3.25]], dtype=np.float32)
    first = sh.oip_infer(s, server.url, "pc", x).json()
    hits0 = metric(server.url, "capstan_prediction_cache_hits_total", deployment="pc")
    misses0 = metric(server.url, "capstan_prediction_cache_misses_total", deployment="pc")
    for _ in range(20):
        r = sh.oip_infer(s, server.url, "pc", x)
        assert r.status_code == 200 and r.json()["outputs"] == first["outputs"]
    assert_close(np.array(first["outputs"][0]["data"]).reshape(1, 1), linear_expect(x, 6.0))
    assert metric(server.url, "capstan_prediction_cache_hits_total", deployment="pc") == hits0 + 20
    assert metric(server.url, "capstan_prediction_cache_misses_total", deployment="pc") == misses0
    # A different input is a miss and gets its own (right) answer.
    x2 = x + 1
    b = sh.oip_infer(s, server.url, "pc", x2).json()
    assert_close(np.array(b["outputs"][0]["data"]).reshape(1, 1), linear_expect(x2, 6.0))
    assert metric(server.url, "capstan_prediction_cache_misses_total", deployment="pc") == misses0 + 1
    # The cache is per input bytes: same values by the scoring route hit it too or miss, but answer right.
    r = s.post(server.url + "/deployments/pc/invocations", json={"inputs": x.tolist()}, timeout=30)
    assert r.status_code == 200
    got = predictions_as_arrays(r.json()["predictions"], ["y"])["y"]
    assert_close(np.asarray(got, dtype=np.float32).reshape(1, 1), linear_expect(x, 6.0))


# ------------------------------------------------------------ REST + CLI

def test_deployment_rest_contract(server, mlflow_client):
    sh.register(sh.linear_model(1.0), "rest")
    d = sh.create_deployment(server.url, {"name": "rest", "model": "rest/1", "log": {"sample": 0.5}})
    assert d["name"] == "rest" and d["model"] == "rest/1" and d["log"] == {"sample": 0.5}
    names = [x["name"] for x in requests.get(server.url + DEPLOYMENTS, timeout=30).json()["deployments"]]
    assert "rest" in names
    r = requests.post(server.url + DEPLOYMENTS, json={"name": "rest", "model": "rest/1"}, timeout=30)
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS", r.text
    r = requests.post(server.url + DEPLOYMENTS, json={"name": "rest2", "model": "rest/9"}, timeout=30)
    assert r.status_code in (400, 404) and "rest" in r.json()["message"], r.text
    assert r.json()["error_code"] in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
    r = requests.patch(f"{server.url}{DEPLOYMENTS}/rest", json={"log": None}, timeout=30)
    assert r.status_code == 200 and r.json()["deployment"].get("log", {"sample": 1}) != {"sample": 0.5}, r.text
    r = requests.delete(f"{server.url}{DEPLOYMENTS}/rest", timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(f"{server.url}{DEPLOYMENTS}/rest", timeout=30)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    sh.wait_for(lambda: requests.get(server.url + "/v2/models/rest/ready", timeout=10).status_code == 404,
                what="deleted deployment to stop serving")


def cli(server, *args):
    p = subprocess.run([BIN, "deploy", *args, "--server", server.url], capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_deploy_cli(server, mlflow_client):
    for v in ("1", "2"):
        sh.register(sh.linear_model(float(v)), "clim")
    mlflow_client.set_registered_model_alias("clim", "champion", "1")
    mlflow_client.set_registered_model_alias("clim", "challenger", "2")
    rc, out, err = cli(server, "create", "clidep", "--model", "clim@champion", "--canary", "clim@challenger:10")
    assert rc == 0, err
    assert "clidep" in out and "READY" in out
    d = sh.get_deployment(server.url, "clidep")
    assert d["model"] == "clim@champion" and d["canary"] == "clim@challenger" and d["canary_weight"] == 10
    rc, out, err = cli(server, "list")
    assert rc == 0 and "clidep" in out and "clim@champion" in out, (out, err)
    rc, out, err = cli(server, "status", "clidep")
    assert rc == 0, err
    assert "clim/1" in out and "clim/2" in out, out
    rc, out, err = cli(server, "promote", "clidep")
    assert rc == 0, err
    assert "clim/2" in out, out
    d = sh.get_deployment(server.url, "clidep")
    assert d["status"]["primary"]["version"] == "2" and "canary" not in d
    rc, out, err = cli(server, "rollback", "clidep")
    assert rc == 0, err
    assert "clim/1" in out, out
    assert sh.get_deployment(server.url, "clidep")["status"]["primary"]["version"] == "1"
    b = sh.oip_infer(requests, server.url, "clidep", np.zeros((1, 3), np.float32)).json()
    assert b["model_version"] == "1"
    rc, out, err = cli(server, "status", "no-such-dep")
    assert rc != 0 and "no-such-dep" in err
    rc, out, err = cli(server, "create", "bad", "--model", "nope@champion")
    assert rc != 0 and "nope" in err
    rc, out, err = cli(server, "create", "bad2")
    assert rc != 0 and "--model" in err
    rc, out, err = cli(server, "delete", "clidep")
    assert rc == 0 and "clidep" in out, err
    assert requests.get(f"{server.url}{DEPLOYMENTS}/clidep", timeout=30).status_code == 404
    p = subprocess.run([BIN, "deploy", "list", "--server", "http://127.0.0.1:1"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0 and "cannot reach" in p.stderr


def test_churn_under_load_never_fails_a_request(server, mlflow_client):
    """Deployments deleted, recreated and patched while clients send: a
    request gets 200 with the right answer for the version it names, or 404
    while the deployment is gone; never a 5xx, never a wrong answer."""
    intercepts = {"1": 30.0, "2": 40.0}
    for v in ("1", "2"):
        assert sh.register(sh.linear_model(intercepts[v]), "churn") == v
    sh.create_deployment(server.url, {"name": "churn", "model": "churn/1"})
    live = []  # (created, next delete): the deployment exists and is READY in between
    t_created = time.time()
    with Load(server.url, "churn", threads=3) as load:
        for i in range(12):
            t_delete = time.time()
            live.append((t_created, t_delete))
            assert requests.delete(f"{server.url}{DEPLOYMENTS}/churn", timeout=30).status_code == 200
            spec = {"name": "churn", "model": f"churn/{1 + i % 2}"}
            if i % 3 == 0:
                spec["batching"] = {"max_batch_size": 4, "max_queue_delay_us": 1000}
            if i % 2:
                spec["cache"] = {"max_entries": 5}
            d = sh.create_deployment(server.url, spec)
            t_created = time.time()
            assert d["status"]["state"] == "READY", d  # both versions are loaded already
            time.sleep(0.05)
            r = requests.patch(f"{server.url}{DEPLOYMENTS}/churn",
                               json={"shadow": "churn/2", "canary": "churn/1", "canary_weight": 50}, timeout=30)
            assert r.status_code == 200, r.text
            time.sleep(0.05)
        live.append((t_created, time.time() + 10))
    statuses = {}
    for rec in load.records:
        statuses[rec[2]] = statuses.get(rec[2], 0) + 1
    assert statuses.get(200, 0) > 20, statuses
    # While the deployment exists (after its create returned READY, before its delete was sent),
    # every request is answered.
    inside = [rec for rec in load.records if any(a < rec[0] and rec[1] < b for a, b in live)]
    odd = [(rec[2], rec[3]) for rec in inside if rec[2] != 200]
    assert not odd, (len(inside), odd[:5])
    # Around a delete/create only 404 (gone) or 503 (not ready yet) may appear, with a message.
    for rec in load.records:
        if rec[2] != 200:
            assert rec[2] in (404, 503) and "churn" in rec[3]["error"], rec[2:4]
    check_records([r for r in load.records if r[2] == 200], intercepts)
