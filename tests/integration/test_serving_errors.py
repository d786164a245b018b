"""Replays tests/integration/cases/serving_*.json: bad requests to the
inference surfaces (OIP /v2, MLflow /invocations) and the deployments API.
Each case is a request and the error it must get: the status, the
protocol's error shape ({"error": ...} on /v2, {"error_code", "message"}
elsewhere) and a piece of the message. After every case a good request must
still be answered correctly, so a bad one never breaks the server. Adding a
case needs no code.

Case fields: name, method, path; one of json (a JSON body), raw (a string
body), binary ({"header": JSON object, "tail_hex": "..."} sent with the
binary tensor extension); headers (values may use {json_len}, the header's
length, and {body_len}); status; shape ("oip" or "mlflow"); error_code
(mlflow shape); message (a substring the error must contain, case-insensitive).
A string "{big:N}" anywhere in json or raw becomes N bytes of JSON numbers."""
import json
import os

import numpy as np
import pytest
import requests

import serving_helpers as sh
from conftest import Server

CASES_DIR = os.path.join(os.path.dirname(__file__), "cases")
MAX_REQUEST = 8192


def load_cases():
    cases = []
    for name in sorted(os.listdir(CASES_DIR)):
        if name.startswith("serving_") and name.endswith(".json"):
            with open(os.path.join(CASES_DIR, name)) as f:
                cases.extend(json.load(f))
    return cases


CASES = load_cases()


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    """One deployment only (so /invocations and /ping need no name) and a
    small --max-request-bytes for the oversized-body cases."""
    srv = Server(tmp_path_factory.mktemp("capstan-errors"),
                 ["--max-request-bytes", str(MAX_REQUEST)]).start()
    with sh.tracking_uri(srv.url):
        assert sh.register(sh.linear_model(1.0), "lin", experiment_id="0") == "1"
        sh.register(sh.linear_model(2.0), "other", experiment_id="0")
    sh.create_deployment(srv.url, {"name": "lin", "model": "lin/1"})
    yield srv
    srv.assert_clean_exit(srv.stop())


def expand(value):
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, str) and value.startswith("{big:") and value.endswith("}"):
        n = int(value[5:-1])
        return [1.5] * (n // 5)  # "1.5, " is five bytes
    return value


def good_requests_work(url):
    s = requests.Session()
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    r = sh.oip_infer(s, url, "lin", x)
    assert r.status_code == 200, r.text
    sh.assert_close(np.array(r.json()["outputs"][0]["data"]).reshape(1, 1), sh.linear_expect(x, 1.0))
    r = s.post(url + "/deployments/lin/invocations", json={"inputs": x.tolist()}, timeout=30)
    assert r.status_code == 200, r.text


def lin_spec(url):
    d = sh.get_deployment(url, "lin")
    return {k: v for k, v in d.items() if k != "status"}


def send(url, case):
    headers = dict(case.get("headers", {}))
    if "binary" in case:
        head = json.dumps(expand(case["binary"]["header"])).encode()
        body = head + bytes.fromhex(case["binary"].get("tail_hex", ""))
        for k, v in headers.items():
            headers[k] = v.replace("{json_len}", str(len(head))).replace("{body_len}", str(len(body)))
        headers.setdefault("Content-Type", "application/octet-stream")
        return requests.request(case["method"], url + case["path"], data=body, headers=headers, timeout=30)
    if "raw" in case:
        headers.setdefault("Content-Type", "application/json")
        return requests.request(case["method"], url + case["path"], data=case["raw"].encode(),
                                headers=headers, timeout=30)
    if "json" in case:
        headers.setdefault("Content-Type", "application/json")
        return requests.request(case["method"], url + case["path"], data=json.dumps(expand(case["json"])),
                                headers=headers, timeout=30)
    return requests.request(case["method"], url + case["path"], headers=headers, timeout=30)


# Runs before the cases: a failing case could leave a second deployment behind.
def test_invocations_and_ping_find_the_only_deployment(small_server):
    x = [[1.0, 2.0, 3.0]]
    r = requests.post(small_server.url + "/invocations", json={"inputs": x}, timeout=30)
    assert r.status_code == 200, r.text
    sh.assert_close(np.asarray(r.json()["predictions"]["y"], dtype=np.float32), sh.linear_expect(x, 1.0))
    r = requests.get(small_server.url + "/ping", timeout=30)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(small_server, case):
    before = lin_spec(small_server.url)
    resp = send(small_server.url, case)
    assert resp.status_code == case["status"], resp.text
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    if case["shape"] == "oip":
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
        msg = body["error"]
    else:
        assert body.get("error_code") == case["error_code"], body
        msg = body["message"]
    assert case["message"].lower() in msg.lower(), msg
    good_requests_work(small_server.url)
    assert lin_spec(small_server.url) == before  # a refused request changes nothing


def test_cases_cover_the_issue_list():
    names = " ".join(c["name"] for c in CASES)
    for topic in ("unknown model", "wrong input name", "wrong shape", "wrong datatype", "data length",
                  "non-numeric", "oversized", "malformed json", "binary size", "inference-header-content-length"):
        assert topic in names.lower(), topic


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
