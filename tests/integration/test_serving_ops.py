"""Serving as operated: a real Prometheus scraping /metrics, the
serving-only replica (`capstan serve --registry`), and deployments that
survive a restart."""
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import numpy as np
import onnx
import pytest
import requests
from onnx import TensorProto, helper, numpy_helper

import serving_helpers as sh
from conftest import BIN

PROMETHEUS = "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def lin(server, mlflow_client):
    import mlflow

    mlflow.set_experiment("serving-ops")
    for v, b in (("1", 1.0), ("2", 2.0)):
        assert sh.register(sh.linear_model(b), "ops") == v
    return {"1": 1.0, "2": 2.0}


def answer(session, url, dep, x):
    r = sh.oip_infer(session, url, dep, x)
    assert r.status_code == 200, r.text
    b = r.json()
    return b["model_version"], np.array(b["outputs"][0]["data"], dtype=np.float32).reshape(-1, 1)


# ------------------------------------------------------------ Prometheus

def test_prometheus_scrapes_request_counts(server, lin, tmp_path):
    if not os.path.exists(PROMETHEUS):
        if os.environ.get("CI"):
            pytest.fail(f"{PROMETHEUS} is missing in CI (scripts/bootstrap installs the prometheus package)")
        pytest.skip(f"{PROMETHEUS} is not installed (scripts/bootstrap installs it); CI runs this test")
    sh.create_deployment(server.url, {"name": "prom", "model": "ops/1"})
    port = sh.free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: capstan
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:{server.port}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api/v1/query"
    try:
        sh.wait_for(lambda: _get(f"http://127.0.0.1:{port}/-/ready") == 200, timeout=30, every=0.2,
                    what="Prometheus to start")
        n = 37
        s = requests.Session()
        for i in range(n):
            assert answer(s, server.url, "prom", np.full((1, 3), i, np.float32))[0] == "1"
        for bad in range(3):  # failures are their own series
            r = s.post(server.url + "/v2/models/prom/infer",
                       json=sh.oip_body(np.zeros((1, 4), np.float32)), timeout=30)
            assert r.status_code == 400

        def value(q):
            r = requests.get(api, params={"query": q}, timeout=10)
            assert r.status_code == 200, r.text
            res = r.json()["data"]["result"]
            return float(res[0]["value"][1]) if res else None

        q = 'capstan_inference_requests_total{deployment="prom",model="ops",version="1",outcome="success"}'
        sh.wait_for(lambda: value(q) == n, timeout=20, every=0.5, what=f"Prometheus to see {n} requests")
        # The scrape target is healthy and the histogram counted the same requests.
        assert value('up{job="capstan"}') == 1.0
        assert value('sum(capstan_inference_request_duration_seconds_count{deployment="prom"})') >= n
        assert value('capstan_deployment_ready{deployment="prom"}') == 1.0
        sh.wait_for(lambda: value('capstan_inference_requests_total{deployment="prom",outcome="failure"}') == 3,
                    timeout=10, every=0.5, what="failures in Prometheus")
        # A histogram Prometheus can compute a quantile from.
        p99 = value('histogram_quantile(0.99, sum by (le) (capstan_inference_request_duration_seconds_bucket'
                    '{deployment="prom"}))')
        assert p99 is not None and 0 < p99 < 10, p99
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        log.close()


def _get(url):
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return None


def test_metrics_exposition_format(server, lin):
    r = requests.get(server.url + "/metrics", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    samples = sh.parse_metrics(text)  # every line parses
    names = {n for n, _, _ in samples}
    for family in ("capstan_inference_requests_total", "capstan_deployment_ready"):
        assert f"# TYPE {family} " in text, family
    assert "# TYPE capstan_inference_request_duration_seconds histogram" in text
    buckets = [(lab, v) for n, lab, v in samples if n == "capstan_inference_request_duration_seconds_bucket"]
    if buckets:
        les = [lab["le"] for lab, _ in buckets]
        assert "+Inf" in les and any(float(le) < 0.001 for le in les if le != "+Inf"), les
    assert names


# ------------------------------------------------------------ serving-only replica

def test_replica_serves_the_same_and_follows_aliases(server, mlflow_client, lin, tmp_path):
    mlflow_client.set_registered_model_alias("ops", "live", "1")
    sh.create_deployment(server.url, {"name": "rep", "model": "ops@live"})
    rep = sh.Replica(BIN, server.url, tmp_path)
    try:
        sh.wait_for(lambda: _get(rep.url + "/v2/models/rep/ready") == 200, timeout=10, what="replica ready")
        s = requests.Session()
        x = np.random.default_rng(3).normal(size=(4, 3)).astype(np.float32)
        v_main, y_main = answer(s, server.url, "rep", x)
        v_rep, y_rep = answer(s, rep.url, "rep", x)
        assert v_main == v_rep == "1"
        np.testing.assert_array_equal(y_main, y_rep)
        sh.assert_close(y_rep, sh.linear_expect(x, 1.0))
        meta = requests.get(rep.url + "/v2/models/rep", timeout=10).json()
        assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
        r = s.post(rep.url + "/deployments/rep/invocations", json={"inputs": x.tolist()}, timeout=30)
        assert r.status_code == 200, r.text
        # The alias moves on the registry; the replica follows (how soon is
        # the poll interval's business, a latency target, not asserted here).
        mlflow_client.set_registered_model_alias("ops", "live", "2")
        sh.wait_for(lambda: answer(s, rep.url, "rep", x)[0] == "2", every=0.02,
                    what="replica on v2")
        sh.assert_close(answer(s, rep.url, "rep", x)[1], sh.linear_expect(x, 2.0))
        # A deployment created later appears there too; a deleted one goes.
        sh.create_deployment(server.url, {"name": "rep2", "model": "ops/1"})
        sh.wait_for(lambda: _get(rep.url + "/v2/models/rep2/ready") == 200, timeout=3, what="rep2 on the replica")
        assert requests.delete(f"{server.url}{sh.DEPLOYMENTS}/rep2", timeout=10).status_code == 200
        sh.wait_for(lambda: _get(rep.url + "/v2/models/rep2/ready") == 404, timeout=3, what="rep2 gone")
        # No store here: the routes that need one answer 404, the process keeps serving.
        assert _get(rep.url + "/api/2.0/mlflow/experiments/search") == 404
        assert answer(s, rep.url, "rep", x)[0] == "2"
        assert _get(rep.url + "/v2/health/ready") == 200
    finally:
        rc = rep.stop()
    log = rep.read_log()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-5000:]
    assert rc == 0, log[-5000:]


def test_replica_rejects_bad_registry(tmp_path):
    p = subprocess.run([BIN, "serve", "--port", str(sh.free_port())], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "--registry" in p.stderr


# ------------------------------------------------------------ threads

def test_a_waiting_request_does_not_hold_up_the_http_thread(make_server):
    """With a single HTTP thread, a request that waits for its batch (on a
    worker thread) stalls neither another deployment's inference nor a
    tracking request on other connections."""
    srv = make_server(["--http-threads", "1", "--threads", "4"]).start()
    with sh.tracking_uri(srv.url):
        sh.register(sh.linear_model(1.0), "slowb", experiment_id="0")
        sh.register(sh.linear_model(2.0), "quick", experiment_id="0")
    # one request alone waits the whole delay for a batch of 64 that never fills
    sh.create_deployment(srv.url, {"name": "slowb", "model": "slowb/1",
                                   "batching": {"max_batch_size": 64, "max_queue_delay_us": 3000000}})
    sh.create_deployment(srv.url, {"name": "quick", "model": "quick/1"})
    for name in ("slowb", "quick"):
        sh.wait_for(lambda: sh.get_deployment(srv.url, name)["status"]["state"] == "READY", timeout=5,
                    what=f"{name} READY")
    x = np.ones((1, 3), np.float32)
    slow = {}

    def send_slow():
        t0 = time.monotonic()
        slow["answer"] = answer(requests.Session(), srv.url, "slowb", x)
        slow["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=send_slow)
    t.start()
    # a client that goes away while its request waits on a worker: its
    # answer is dropped, not leaked (the ASan build checks at exit)
    body = json.dumps(sh.oip_body(x)).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as gone:
        gone.sendall(b"POST /v2/models/slowb/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(0.3)
    s = requests.Session()
    for _ in range(20):
        v, y = answer(s, srv.url, "quick", x)
        assert v == "1"
        sh.assert_close(y, sh.linear_expect(x, 2.0))
    r = s.post(srv.url + "/api/2.0/mlflow/experiments/create", json={"name": "while-waiting"}, timeout=30)
    assert r.status_code == 200, r.text
    assert t.is_alive(), "the batched request should still be waiting for its batch"
    t.join(30)
    v, y = slow["answer"]
    assert v == "1" and slow["seconds"] >= 2.5, slow
    sh.assert_close(y, sh.linear_expect(x, 1.0))
    srv.assert_clean_exit(srv.stop())


def test_a_batch_is_not_bounded_by_threads(make_server):
    """With one HTTP thread and one worker, 8 concurrent requests still ride
    in one batch of 8: no thread waits for a batch."""
    srv = make_server(["--http-threads", "1", "--threads", "1"]).start()
    with sh.tracking_uri(srv.url):
        sh.register(sh.linear_model(5.0), "wide", experiment_id="0")
    sh.create_deployment(srv.url, {"name": "wide", "model": "wide/1",
                                   "batching": {"max_batch_size": 8, "max_queue_delay_us": 5000000}})
    sh.wait_for(lambda: sh.get_deployment(srv.url, "wide")["status"]["state"] == "READY", timeout=5,
                what="wide READY")
    barrier = threading.Barrier(8)
    results = {}

    def client(k):
        x = np.full((1, 3), k, np.float32)
        barrier.wait()
        t0 = time.monotonic()
        results[k] = (x, answer(requests.Session(), srv.url, "wide", x), time.monotonic() - t0)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert sorted(results) == list(range(8))
    for k, (x, (v, y), seconds) in results.items():
        assert v == "1"
        sh.assert_close(y, sh.linear_expect(x, 5.0))
        # the batch filled up: nobody waited out the 5 s delay
        assert seconds < 4.0, (k, seconds)
    assert sh.metric(srv.url, "capstan_inference_batch_size_count", deployment="wide") == 1
    assert sh.metric(srv.url, "capstan_inference_batch_size_sum", deployment="wide") == 8
    srv.assert_clean_exit(srv.stop())


def test_a_batched_request_outlives_its_route(make_server):
    """The deployment moves to another version while a request waits in the
    old route's batch: the request is answered by the version it started
    on, and the old route (with its batcher, freed on the batcher's own
    thread) goes cleanly (the ASan build checks at exit)."""
    srv = make_server(["--serve-poll-ms", "50"]).start()
    with sh.tracking_uri(srv.url):
        for b in (1.0, 2.0):
            sh.register(sh.linear_model(b), "moving", experiment_id="0")
    # The first request must still wait in its batch when v2 serves: the
    # move (a PATCH, a model load, a poll) took ~0.3 s alone but can take
    # seconds on a loaded machine, so the batch waits 8 s (test time).
    sh.create_deployment(srv.url, {"name": "moving", "model": "moving/1",
                                   "batching": {"max_batch_size": 64, "max_queue_delay_us": 8000000}})
    sh.wait_for(lambda: sh.get_deployment(srv.url, "moving")["status"]["state"] == "READY", timeout=5,
                what="moving READY")
    x = np.ones((1, 3), np.float32)
    got = {}

    def send():
        got["answer"] = answer(requests.Session(), srv.url, "moving", x)

    t = threading.Thread(target=send)
    t.start()
    time.sleep(0.3)
    r = requests.patch(f"{srv.url}{sh.DEPLOYMENTS}/moving",
                       json={"model": "moving/2", "batching": {"max_batch_size": 1}}, timeout=30)
    assert r.status_code == 200, r.text
    s = requests.Session()
    sh.wait_for(lambda: answer(s, srv.url, "moving", x)[0] == "2", timeout=5, what="v2 serving")
    assert t.is_alive(), "the first request should still be waiting in the old batch"
    t.join(30)
    v, y = got["answer"]
    assert v == "1"
    sh.assert_close(y, sh.linear_expect(x, 1.0))
    srv.assert_clean_exit(srv.stop())


# ------------------------------------------------------------ restart

def http_thread_cpu(pid):
    """CPU ticks of each HTTP thread (MHD names them MHD-*), by thread id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        if name.startswith("MHD"):
            out[tid] = int(fields[11]) + int(fields[12])  # utime + stime
    return out


def test_connections_are_spread_over_the_http_threads(make_server):
    """Two keep-alive connections go to two different HTTP threads, not
    wherever the threads' race for the listen socket put them: a client
    with few connections (a load balancer) gets every CPU."""
    srv = make_server(["--http-threads", "2"]).start()
    with sh.tracking_uri(srv.url):
        sh.register(sh.linear_model(4.0), "spread", experiment_id="0")
    sh.create_deployment(srv.url, {"name": "spread", "model": "spread/1"})
    sh.wait_for(lambda: sh.get_deployment(srv.url, "spread")["status"]["state"] == "READY",
                timeout=5, what="spread READY")
    before = http_thread_cpu(srv.proc.pid)
    assert len(before) == 2, before
    x = np.ones((4, 3), np.float32)
    errors = []

    def client():
        s = requests.Session()  # one connection, kept alive
        try:
            for _ in range(1500):
                v, y = answer(s, srv.url, "spread", x)
                assert v == "1"
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    ts = [threading.Thread(target=client) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    assert not errors, errors
    after = http_thread_cpu(srv.proc.pid)
    used = {tid: after[tid] - before[tid] for tid in before}
    total = sum(used.values())
    assert total >= 10, f"too little CPU to tell: {used}"
    assert min(used.values()) >= total * 0.25, f"HTTP thread CPU ticks {used}: one thread did most"
    srv.assert_clean_exit(srv.stop())


def deep_tanh_model(layers=32, width=256, n_in=8):
    """An MLP slow enough per row to hold a thread for a while: n_in -> width,
    then `layers` times the same width x width MatMul + Tanh (one shared
    initializer keeps the file small), then -> 1. Returns the model and its
    forward pass in numpy."""
    rng = np.random.default_rng(7)
    w0 = (rng.standard_normal((n_in, width)) / np.sqrt(n_in)).astype(np.float32)
    w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    wout = (rng.standard_normal((width, 1)) / np.sqrt(width)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W0"], ["h0"]),
             helper.make_node("Tanh", ["h0"], ["a0"])]
    for i in range(layers):
        nodes += [helper.make_node("MatMul", [f"a{i}", "W"], [f"h{i + 1}"]),
                  helper.make_node("Tanh", [f"h{i + 1}"], [f"a{i + 1}"])]
    nodes.append(helper.make_node("MatMul", [f"a{layers}", "Wout"], ["y"]))
    graph = helper.make_graph(
        nodes, "deep_tanh",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(w0, "W0"), numpy_helper.from_array(w, "W"),
         numpy_helper.from_array(wout, "Wout")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)

    def forward(x):
        a = np.tanh(np.asarray(x, np.float32) @ w0)
        for _ in range(layers):
            a = np.tanh(a @ w)
        return (a @ wout).astype(np.float32)

    return m, forward


def test_a_heavy_model_does_not_hold_up_the_http_thread(make_server):
    """With a single HTTP thread, a slow model's requests run on the worker
    threads once the server has seen that they are slow, so a light request
    on another connection is answered while a heavy one runs, not after it.
    A light model's requests stay on the HTTP thread, except a body of 1 MiB
    or more, which goes to a worker from the start."""
    srv = make_server(["--http-threads", "1", "--threads", "4"]).start()
    heavy_model, forward = deep_tanh_model()
    with sh.tracking_uri(srv.url):
        sh.register(heavy_model, "deep", experiment_id="0")
        sh.register(sh.linear_model(3.0), "light", experiment_id="0")
    for name in ("deep", "light"):
        sh.create_deployment(srv.url, {"name": name, "model": f"{name}/1"})
        sh.wait_for(lambda: sh.get_deployment(srv.url, name)["status"]["state"] == "READY",
                    timeout=5, what=f"{name} READY")
    s = requests.Session()
    rng = np.random.default_rng(1)
    # Grow the batch until one request takes a good while; the first one runs
    # on the HTTP thread and tells the server what the model costs.
    rows, took = 4, 0.0
    while took < 0.5 and rows <= 8192:
        x = rng.standard_normal((rows, 8)).astype(np.float32)
        t0 = time.monotonic()
        v, y = answer(s, srv.url, "deep", x)
        took = time.monotonic() - t0
        assert v == "1"
        np.testing.assert_allclose(y, forward(x), rtol=1e-3, atol=1e-4)
        rows *= 2
    assert took >= 0.5, f"{rows // 2} rows took only {took:.3f} s"
    offloaded = sh.metric(srv.url, "capstan_inference_offloaded_total", deployment="deep")
    assert offloaded >= 1, offloaded

    heavy = {}

    def send_heavy():
        heavy["answer"] = answer(requests.Session(), srv.url, "deep", x)
        heavy["done"] = time.monotonic()

    t = threading.Thread(target=send_heavy)
    t.start()
    time.sleep(0.1)  # the heavy request is running by now
    xl = np.ones((2, 3), np.float32)
    for _ in range(10):
        v, y = answer(s, srv.url, "light", xl)
        assert v == "1"
        sh.assert_close(y, sh.linear_expect(xl, 3.0))
    light_done = time.monotonic()
    t.join(120)
    assert heavy["answer"][0] == "1"
    np.testing.assert_allclose(heavy["answer"][1], forward(x), rtol=1e-3, atol=1e-4)
    assert light_done < heavy["done"], (
        f"the light requests were answered {light_done - heavy['done']:.3f} s after the heavy one")
    assert sh.metric(srv.url, "capstan_inference_offloaded_total", deployment="deep") == offloaded + 1
    assert sh.metric(srv.url, "capstan_inference_offloaded_total", deployment="light") == 0

    # a 1 MiB body goes to a worker even for a light model, and is answered right
    xb = rng.standard_normal((40000, 3)).astype(np.float32)
    r = sh.oip_infer(s, srv.url, "light", xb)
    assert r.status_code == 200, r.text[:500]
    assert len(r.request.body) >= 1 << 20
    sh.assert_close(np.array(r.json()["outputs"][0]["data"], np.float32).reshape(-1, 1),
                    sh.linear_expect(xb, 3.0))
    assert sh.metric(srv.url, "capstan_inference_offloaded_total", deployment="light") == 1
    srv.assert_clean_exit(srv.stop())


def test_deployments_survive_a_restart(make_server):
    srv = make_server().start()
    with sh.tracking_uri(srv.url):
        for b in (1.0, 2.0, 3.0):
            sh.register(sh.linear_model(b), "keep", experiment_id="0")
    sh.create_deployment(srv.url, {"name": "kept", "model": "keep/3", "canary": "keep/2", "canary_weight": 0,
                                   "batching": {"max_batch_size": 4, "max_queue_delay_us": 500},
                                   "cache": {"max_entries": 10}})
    sh.create_deployment(srv.url, {"name": "pinned", "model": "keep/1"})
    r = requests.patch(f"{srv.url}{sh.DEPLOYMENTS}/pinned", json={"model": "keep/2"}, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.post(f"{srv.url}{sh.DEPLOYMENTS}/pinned/rollback", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["deployment"]["status"]["primary"]["version"] == "1"
    before = {d["name"]: {k: v for k, v in d.items() if k not in ("status", "updated_at")}
              for d in requests.get(srv.url + sh.DEPLOYMENTS, timeout=30).json()["deployments"]}
    srv.assert_clean_exit(srv.stop())

    srv.start()
    after = {d["name"]: d for d in requests.get(srv.url + sh.DEPLOYMENTS, timeout=30).json()["deployments"]}
    assert set(after) == {"kept", "pinned"}
    for name, d in after.items():
        assert {k: v for k, v in d.items() if k not in ("status", "updated_at")} == before[name]
    s = requests.Session()
    x = np.ones((2, 3), np.float32)
    sh.wait_for(lambda: sh.get_deployment(srv.url, "kept")["status"]["state"] == "READY", timeout=5,
                what="kept READY after restart")
    v, y = answer(s, srv.url, "kept", x)
    assert v == "3"
    sh.assert_close(y, sh.linear_expect(x, 3.0))
    # The rollback pin is remembered.
    v, y = answer(s, srv.url, "pinned", x)
    assert v == "1", "the pinned rollback was lost over the restart"
    sh.assert_close(y, sh.linear_expect(x, 1.0))
    srv.assert_clean_exit(srv.stop())


# ------------------------------------------------------------ default deployment

def test_default_deployment_flag(make_server):
    """--default-deployment picks the target of /invocations and /ping when
    several deployments exist."""
    srv = make_server(["--default-deployment", "b"]).start()
    with sh.tracking_uri(srv.url):
        sh.register(sh.linear_model(1.0), "a", experiment_id="0")
        sh.register(sh.linear_model(2.0), "b", experiment_id="0")
    sh.create_deployment(srv.url, {"name": "a", "model": "a/1"})
    sh.create_deployment(srv.url, {"name": "b", "model": "b/1"})
    x = [[1.0, 1.0, 1.0]]
    r = requests.post(srv.url + "/invocations", json={"instances": x}, timeout=30)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    got = np.asarray(preds["y"] if isinstance(preds, dict) else preds, dtype=np.float32).reshape(1, 1)
    sh.assert_close(got, sh.linear_expect(x, 2.0))
    assert requests.get(srv.url + "/ping", timeout=30).status_code == 200
    r = requests.post(srv.url + "/deployments/a/invocations", json={"instances": x}, timeout=30)
    preds = r.json()["predictions"]
    got = np.asarray(preds["y"] if isinstance(preds, dict) else preds, dtype=np.float32).reshape(1, 1)
    sh.assert_close(got, sh.linear_expect(x, 1.0))
    srv.assert_clean_exit(srv.stop())
