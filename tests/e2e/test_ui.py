"""The UI in Chromium against the real server with data logged by the real
mlflow client: runs table, filter, sort, run page (charts, artifacts),
compare, model version and lineage. Screenshots: build/test-output/e2e/."""
import time

import requests

from conftest import run_ui


def test_ui_is_served_with_etag(demo):
    srv, _ = demo
    r = requests.get(srv.url + "/")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="/js/main.js">' in r.text
    etag = r.headers["ETag"]
    again = requests.get(srv.url + "/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    js = requests.get(srv.url + "/js/main.js")
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert requests.get(srv.url + "/nope.js").status_code == 404


def test_runs_table(demo):
    srv, data = demo
    out = run_ui(srv.url, "runs_table", data)
    assert out["rows"] == 12


def test_filter(demo):
    srv, data = demo
    out = run_ui(srv.url, "filter", {**data, "allowStatus": [400]})
    assert out["filtered"] > 0 and "Filter error" in out["error"]


def test_sort(demo):
    srv, data = demo
    run_ui(srv.url, "sort", data)


def test_run_page(demo):
    srv, data = demo
    out = run_ui(srv.url, "run_page", data)
    # MLflow's sampling: 1,000 spread steps plus each run's first and last
    assert 500 < out["longPoints"] <= 1002 and out["lossPoints"] == 60


def test_compare(demo):
    srv, data = demo
    out = run_ui(srv.url, "compare", data)
    assert len(out["curves"]) == 2


def test_model_version_and_lineage(demo):
    srv, data = demo
    out = run_ui(srv.url, "model", {**data, "allowStatus": [404]})
    assert out["edges"] >= 4


def test_deployments(demo):
    """Traffic split, versions, live rate from /metrics, promote and rollback
    through the confirmation dialog (needs the serving API)."""
    import threading

    srv, data = demo
    dep = "/api/2.0/capstan/deployments"
    r = requests.post(srv.url + dep, json={"name": "fraud", "model": f"{data['model']}/1",
                                           "canary": f"{data['model']}@champion", "canary_weight": 25})
    assert r.status_code == 200, r.text
    for _ in range(200):
        if requests.get(f"{srv.url}{dep}/fraud").json()["deployment"]["status"].get("state") == "READY":
            break
        time.sleep(0.05)
    stop = threading.Event()
    sent = []

    def traffic():
        s = requests.Session()
        body = {"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}]}
        while not stop.is_set():
            sent.append(s.post(f"{srv.url}/v2/models/fraud/infer", json=body, timeout=30).status_code)
            time.sleep(0.02)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        out = run_ui(srv.url, "deployments", {"name": "fraud"})
    finally:
        stop.set()
        t.join()
    assert sent and all(c == 200 for c in sent), sent[:20]
    assert any(rps > 0 for _, rps in out["rates"])
    d = requests.get(f"{srv.url}{dep}/fraud").json()["deployment"]
    # promoted (the canary became the model), then rolled back to version 1
    assert d["model"] == f"{data['model']}/1" and d.get("pinned_from") == f"{data['model']}@champion", d
