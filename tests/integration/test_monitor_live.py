"""Live monitoring end to end on the real server: a deployment with a
baseline, served under load with shifted inputs, then with inputs like the
reference; its windows, the drift alert firing once and resolving once at a
webhook receiver, the Prometheus gauges on /metrics, longer windows rolled
up from the base windows' profiles, and a restart that loses and recounts
nothing.

Determinism: every request carries 50 rows. A shifted request lies 100
units above the reference, so any window holding one drifts (K-S p-value
~1e-40). A normal request is an evenly spaced slice of the reference grid,
so any window of them is within a K-S distance of 0.02 of the reference
(p-value ~1) -- no window's verdict depends on how requests fall into
windows or on chance. Phase two starts only once every phase-one row is in
a stored window, so no window mixes the phases."""
import http.server
import json
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

import serving_helpers as sh
from conftest import Server

WINDOWS = "/api/2.0/capstan/monitor/windows"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, "docs", "examples", "prometheus", "capstan-monitoring-rules.yml")
PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
ROWS_PER_REQUEST = 50
REQUESTS = 40
REF_ROWS = 500


def grid():
    """The reference: 500 rows, column j a shuffled grid over [0, 10)."""
    base = (np.arange(REF_ROWS) + 0.5) / REF_ROWS * 10
    rng = np.random.default_rng(1)
    return np.stack([rng.permutation(base) for _ in range(3)], axis=1).astype(np.float32)


def normal_request(k):
    """Rows k, k+10, ... of the sorted grid, an evenly spaced slice, drawn
    a hair toward the middle per round so that no row repeats (a repeated
    row is a data-quality failure) and none leaves the reference's range."""
    base = (np.arange(REF_ROWS) + 0.5) / REF_ROWS * 10
    col = 5 + (base[k % 10::10] - 5) * (1 - (k // 10) * 1e-4)
    return np.stack([col, col[::-1], col], axis=1).astype(np.float32)


def shifted_request(k):
    return normal_request(k) + 100


class Receiver(http.server.BaseHTTPRequestHandler):
    got = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with Receiver.lock:
            Receiver.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def receiver():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()


ARGS = ["--monitor-windows", "1,4", "--monitor-grace-ms", "300", "--monitor-poll-ms", "50",
        "--alert-allow-private-webhooks"]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("live"), ARGS).start()
    yield srv
    if srv.proc is not None:
        srv.assert_clean_exit(srv.stop())


def base_windows(srv, dep="mon"):
    r = srv.api("GET", WINDOWS, params={"deployment": dep, "width": 1, "max_results": 10000})
    assert r.status_code == 200, r.text
    return r.json()["windows"]


def rows_in(windows):
    return sum(w["rows"] for w in windows)


def send(srv, make, first, dep="mon"):
    def one(k):
        body = sh.oip_body(make(k))
        r = requests.post(f"{srv.url}/v2/models/{dep}/infer", json=body, timeout=60)
        assert r.status_code == 200, r.text

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(first, first + REQUESTS)))


def hooks(status):
    with Receiver.lock:
        return [a for p in Receiver.got for a in p["alerts"] if a["status"] == status]


def test_windows_api_errors(live):
    """Runs first: the next test restarts the module's server."""
    r = live.api("GET", WINDOWS, params={"deployment": "no-such"})
    assert r.status_code == 404, r.text
    r = live.api("GET", WINDOWS, params={"deployment": "mon", "from": 10, "to": 5})
    assert r.status_code == 400 and "from" in r.json()["message"]
    r = live.api("GET", WINDOWS, params={})
    assert r.status_code == 400 and "deployment" in r.json()["message"]
    r = live.api("GET", WINDOWS, params={"deployment": "mon", "width": "x"})
    assert r.status_code == 400


def deploy_with_baseline(srv, name):
    with sh.tracking_uri(srv.url):
        assert sh.register(sh.linear_model(0.5), name, experiment_id="0") == "1"
    sh.create_deployment(srv.url, {"name": name, "model": f"{name}/1"})
    # every float32 exactly, so that the range checks compare the same numbers
    csv = "f0,f1,f2\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in grid())
    r = srv.api("POST", "/api/2.0/capstan/monitor/baselines",
                params={"target": f"deployment:{name}", "format": "csv"}, data=csv.encode())
    assert r.status_code == 200, r.text
    assert [c["name"] for c in r.json()["columns"]] == ["f0", "f1", "f2", "y"]


def test_live_drift_alert_gauges_rollup_restart(live, receiver, tmp_path):
    deploy_with_baseline(live, "mon")
    rule = {"name": "drift", "deployment": "mon", "metric": "dataset_drift", "op": "==",
            "threshold": 1, "for": 1, "window": 1, "webhook": receiver}
    r = live.api("POST", "/api/2.0/capstan/monitor/alerts/rules", json=rule)
    assert r.status_code == 200, r.text

    # phase one: shifted inputs under load; every window drifts
    send(live, shifted_request, 0)
    n1 = REQUESTS * ROWS_PER_REQUEST
    sh.wait_for(lambda: rows_in(base_windows(live)) == n1, what="phase one's windows")
    first = base_windows(live)
    for w in first:
        assert w["reference"]["target"] == "deployment:mon"
        assert w["method"] == "exact" and w["drift"]["dataset_drift"] is True, w
        assert w["prediction_drift"]["dataset_drift"] is True
        assert w["model_versions"] == {"mon/1": w["rows"]}
    sh.wait_for(lambda: len(hooks("firing")) == 1, what="the firing webhook")
    sh.wait_for(lambda: sh.metric(live.url, "capstan_dataset_drift", deployment="mon") == 1,
                what="the drift gauge")
    assert sh.metric(live.url, "capstan_feature_drift_score", deployment="mon", feature="f0",
                     stattest="ks") < 0.05

    # phase two: inputs like the reference; the alert resolves once
    send(live, normal_request, 100)
    sh.wait_for(lambda: rows_in(base_windows(live)) == 2 * n1, what="phase two's windows")
    for w in base_windows(live)[len(first):]:
        assert w["drift"]["dataset_drift"] is False, json.dumps(w["drift"])
        assert w["data_quality"]["passed"] is True, json.dumps(w["data_quality"])
    sh.wait_for(lambda: len(hooks("resolved")) == 1, what="the resolved webhook")
    assert len(hooks("firing")) == 1
    sh.wait_for(lambda: sh.metric(live.url, "capstan_dataset_drift", deployment="mon") == 0,
                what="the drift gauge back at 0")
    ev = live.api("GET", "/api/2.0/capstan/monitor/alerts/events", params={"deployment": "mon"})
    assert ev.status_code == 200, ev.text

    # longer windows are merges of the base windows they cover
    base = base_windows(live)
    r = live.api("GET", WINDOWS, params={"deployment": "mon", "width": 4})
    for w in r.json()["windows"]:
        inside = [b for b in base if w["start_ms"] <= b["start_ms"] < w["end_ms"]]
        assert w["rows"] == rows_in(inside), (w, inside)
        assert w["method"] == "profile"
        expect = any(b["drift"]["dataset_drift"] for b in inside)
        assert w["drift"]["dataset_drift"] is expect, w

    # a restart loses no window and recounts no row
    live.assert_clean_exit(live.stop())
    again = Server(live.data_dir, ARGS).start()
    try:
        assert base_windows(again) == base
        send(again, normal_request, 200)
        sh.wait_for(lambda: rows_in(base_windows(again)) == 3 * n1, what="windows after restart")
        assert base_windows(again)[:len(base)] == base
        assert len(hooks("firing")) == 1
    finally:
        again.assert_clean_exit(again.stop())


def start(argv, log_path):
    return subprocess.Popen(argv, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()


def test_prometheus_rules_fire_through_alertmanager(tmp_path, receiver):
    """The shipped rules file, loaded by a real Prometheus scraping the
    monitor's gauges, fires CapstanDatasetDrift through a real Alertmanager
    to a webhook receiver."""
    for tool in (PROMETHEUS, ALERTMANAGER):
        if not os.path.exists(tool):
            if os.environ.get("CI"):
                pytest.fail(f"{tool} is missing in CI (scripts/bootstrap installs it)")
            pytest.skip(f"{tool} is not installed (scripts/bootstrap installs it)")
    srv = Server(tmp_path / "capstan", ARGS).start()
    am_port, prom_port = sh.free_port(), sh.free_port()
    (tmp_path / "am.yml").write_text(f"""route:
  receiver: hook
  group_by: [alertname, deployment]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {receiver}
""")
    (tmp_path / "prom.yml").write_text(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{RULES}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
  - job_name: capstan
    static_configs:
      - targets: ["127.0.0.1:{srv.port}"]
""")
    am = start([ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address="], tmp_path / "am.log")
    prom = start([PROMETHEUS, f"--config.file={tmp_path / 'prom.yml'}",
                  f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                  f"--web.listen-address=127.0.0.1:{prom_port}"], tmp_path / "prom.log")
    try:
        deploy_with_baseline(srv, "promdrift")
        send(srv, shifted_request, 0, dep="promdrift")

        def fired():
            with Receiver.lock:
                return [a for p in Receiver.got for a in p["alerts"]
                        if a["labels"].get("alertname") == "CapstanDatasetDrift"
                        and a["labels"].get("deployment") == "promdrift"
                        and a["status"] == "firing"]

        try:
            got = sh.wait_for(fired, what="CapstanDatasetDrift from Alertmanager")
        except AssertionError:
            prom_api = f"http://127.0.0.1:{prom_port}/api/v1"
            raise AssertionError(
                "no alert; Prometheus targets: "
                + requests.get(prom_api + "/targets", timeout=10).text[:2000]
                + " alerts: " + requests.get(prom_api + "/alerts", timeout=10).text[:2000]
                + " rules: " + requests.get(prom_api + "/rules", timeout=10).text[:1000])
        assert got[0]["labels"]["severity"] == "warning"
        assert "promdrift" in got[0]["annotations"]["summary"]
    finally:
        stop(prom)
        stop(am)
        srv.assert_clean_exit(srv.stop())
