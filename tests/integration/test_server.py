"""The HTTP front: keep-alive, size limits, health/version, graceful stop,
and durability across kill -9."""
import http.client
import json
import os
import signal
import sqlite3
import threading
import time

import requests


def test_health_and_version(server):
    r = server.api("GET", "/health")
    assert r.status_code == 200 and r.text == "OK"
    r = server.api("GET", "/version")
    assert r.status_code == 200 and r.text.count(".") == 2


def test_keep_alive(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    socks = set()
    for _ in range(5):
        conn.request("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Connection", "").lower() != "close"
        json.loads(resp.read())
        socks.add(id(conn.sock))
    assert len(socks) == 1
    conn.close()


def test_ajax_prefix(server):
    r = server.api("GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0")
    assert r.status_code == 200 and r.json()["experiment"]["name"] == "Default"


def test_oversized_body_gets_413(server):
    big = b'{"name": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    r = server.api("POST", "/api/2.0/mlflow/experiments/create", data=big,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "limit" in r.json()["message"]

    def chunks():  # no Content-Length: the limit is found while reading
        for _ in range(17):
            yield b"x" * (1024 * 1024)
    r = server.api("POST", "/api/2.0/mlflow/experiments/create", data=chunks(),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert server.api("GET", "/health").status_code == 200


def test_request_headers_up_to_12_kib_and_431_past_the_pool(server):
    r = server.api("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0",
                   headers={"X-Large": "a" * (12 * 1024)})
    assert r.status_code == 200, r.text
    r = server.api("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0",
                   headers={"X-Large": "a" * (24 * 1024)})
    assert r.status_code == 431
    assert "header" in r.text.lower()
    assert server.api("GET", "/health").status_code == 200


def _batch_logger(url, run_id, worker, acked, stop, prefix=""):
    s = requests.Session()
    i = 0
    while not stop.is_set():
        key = f"{prefix}w{worker}_b{i}"
        body = {"run_id": run_id, "metrics": [
            {"key": key, "value": float(j), "timestamp": 1000 + j, "step": j} for j in range(100)]}
        try:
            r = s.post(url + "/api/2.0/mlflow/runs/log-batch", json=body, timeout=10)
        except requests.RequestException:
            return
        if r.status_code == 200:
            acked.append(key)
        i += 1


def _run_loggers(srv, seconds, n=4):
    run_id = srv.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    acked, stop = [], threading.Event()
    threads = [threading.Thread(target=_batch_logger, args=(srv.url, run_id, w, acked, stop)) for w in range(n)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    return run_id, acked, stop, threads


def _check_acked(srv, run_id, acked, histories=50):
    run = srv.api("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}").json()["run"]
    keys = {m["key"]: m for m in run["data"].get("metrics", [])}
    missing = [k for k in acked if k not in keys]
    assert not missing, f"{len(missing)} acknowledged batches lost, e.g. {missing[:5]}"
    for k in acked[:histories]:
        hist = srv.api("GET", f"/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key={k}").json()
        assert len(hist["metrics"]) == 100


def test_kill_9_loses_no_acknowledged_write(make_server):
    srv = make_server().start()
    run_id, acked, stop, threads = _run_loggers(srv, 2.0)
    srv.kill()  # SIGKILL while the clients are still logging
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 10
    db = os.path.join(srv.data_dir, "capstan.db")
    srv.start()
    _check_acked(srv, run_id, acked)
    srv.assert_clean_exit(srv.stop())
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_sigterm_finishes_in_flight_requests(make_server):
    srv = make_server().start()
    run_id, acked, stop, threads = _run_loggers(srv, 1.0)
    rc = srv.stop(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join()
    srv.assert_clean_exit(rc)
    srv.start()
    _check_acked(srv, run_id, acked)
    srv.assert_clean_exit(srv.stop())


def test_default_artifact_root(make_server, tmp_path):
    """--default-artifact-root, as mlflow server's: experiments that name no
    location keep artifacts under <root>/<id>, written by the client itself."""
    from mlflow.tracking import MlflowClient

    root = tmp_path / "root"
    srv = make_server(["--default-artifact-root", root.as_uri() + "/"]).start()
    client = MlflowClient(srv.url)
    exp_id = client.create_experiment("rooted")
    assert client.get_experiment(exp_id).artifact_location == f"{root.as_uri()}/{exp_id}"
    run = client.create_run(exp_id)
    src = tmp_path / "hello.txt"
    src.write_text("hi")
    client.log_artifact(run.info.run_id, str(src))
    assert (root / exp_id / run.info.run_id / "artifacts" / "hello.txt").read_text() == "hi"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["hello.txt"]
    # an experiment that names its location keeps it
    other = client.create_experiment("named", artifact_location="s3://bucket/x")
    assert client.get_experiment(other).artifact_location == "s3://bucket/x"
    srv.assert_clean_exit(srv.stop())


def test_default_artifact_root_refused_at_start(tmp_path):
    import subprocess

    from conftest import BIN

    for bad in ["", "/srv/%2e%2e/etc", "s3://b/../x"]:
        p = subprocess.run([BIN, "server", "--port", "0", "--data", str(tmp_path / "d"),
                            "--default-artifact-root", bad], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode != 0
        assert "--default-artifact-root" in p.stderr, p.stderr
    assert not (tmp_path / "d" / "capstan.db").exists()
