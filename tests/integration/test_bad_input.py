"""Replays tests/integration/cases/*.json: each case is a bad request and the
error it must get. After every case the stored data and the deployment are
unchanged and a good request is still answered correctly, so a refused
request writes nothing and breaks nothing. Adding a case needs no code.

Case fields (one schema for every surface):
  name, method, path;
  one of json (a JSON body), raw (a string body), binary ({"header": JSON
  object, "tail_hex": "..."} sent with OIP's binary tensor extension);
  headers (values may use {json_len}, the binary header's length, and
  {body_len});
  status;
  shape: "mlflow" (the default: {"error_code", "message"}) or "oip"
  ({"error": "..."}, as the Open Inference Protocol says);
  error_code (mlflow shape);
  message: a piece of the error message, matched exactly (case included).
Placeholders anywhere in path, json or raw: {exp}, {run}, {deleted_run}
(fixture ids), {xN} (N times "x"), {metrics1001}, {params101}, {tags101}
(oversized lists), and "{big:N}" (N bytes of JSON numbers)."""
import json
import os

import numpy as np
import pytest
import requests

import serving_helpers as sh
from conftest import Server

CASES_DIR = os.path.join(os.path.dirname(__file__), "cases")
# Large enough for the 1001-metric batch (which must meet the batch limit,
# not the body limit), small enough that "{big:300000}" is refused.
MAX_REQUEST = 256 * 1024


def load_cases():
    cases = []
    for name in sorted(os.listdir(CASES_DIR)):
        if name.endswith(".json"):
            with open(os.path.join(CASES_DIR, name)) as f:
                cases.extend(json.load(f))
    return cases


CASES = load_cases()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One deployment only (so /invocations and /ping need no name), a
    --max-request-bytes the oversized cases pass, and tracking fixtures."""
    s = Server(tmp_path_factory.mktemp("capstan-bad-input"),
               ["--max-request-bytes", str(MAX_REQUEST)]).start()
    with sh.tracking_uri(s.url):
        assert sh.register(sh.linear_model(1.0), "lin", experiment_id="0") == "1"
        sh.register(sh.linear_model(2.0), "other", experiment_id="0")
    sh.create_deployment(s.url, {"name": "lin", "model": "lin/1"})
    api = lambda path, body: requests.post(s.url + "/api/2.0/mlflow/" + path, json=body, timeout=30).json()
    exp = api("experiments/create", {"name": "cases"})["experiment_id"]
    run = api("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    api("runs/log-batch", {"run_id": run, "params": [{"key": "p", "value": "v"}],
                           "metrics": [{"key": "m", "value": 1.0, "timestamp": 5, "step": 1}],
                           "tags": [{"key": "t", "value": "x"}]})
    deleted = api("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    api("runs/delete", {"run_id": deleted})
    s.fx = {"exp": exp, "run": run, "deleted_run": deleted}
    yield s
    s.assert_clean_exit(s.stop())


def expand(value, fx):
    """Fills the placeholders (see the module's docstring)."""
    if isinstance(value, dict):
        return {k: expand(v, fx) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, fx) for v in value]
    if not isinstance(value, str):
        return value
    if value.startswith("{big:") and value.endswith("}"):
        return [1.5] * (int(value[5:-1]) // 5)  # "1.5, " is five bytes
    if value.startswith("{x") and value.endswith("}") and value[2:-1].isdigit():
        return "x" * int(value[2:-1])
    if value == "{metrics1001}":
        return [{"key": f"m{i}", "value": i, "timestamp": 1, "step": 0} for i in range(1001)]
    if value in ("{params101}", "{tags101}"):
        return [{"key": f"k{i}", "value": "v"} for i in range(101)]
    for k, v in fx.items():
        value = value.replace("{" + k + "}", v)
    return value


def send(url, case, fx):
    headers = dict(case.get("headers", {}))
    path = url + expand(case["path"], fx)
    if "binary" in case:
        head = json.dumps(expand(case["binary"]["header"], fx)).encode()
        body = head + bytes.fromhex(case["binary"].get("tail_hex", ""))
        for k, v in headers.items():
            headers[k] = v.replace("{json_len}", str(len(head))).replace("{body_len}", str(len(body)))
        headers.setdefault("Content-Type", "application/octet-stream")
        return requests.request(case["method"], path, data=body, headers=headers, timeout=30)
    data = None
    if "raw" in case:
        data = expand(case["raw"], fx).encode()
    elif "json" in case:
        data = json.dumps(expand(case["json"], fx)).encode()
    if data is not None:
        headers.setdefault("Content-Type", "application/json")
    return requests.request(case["method"], path, data=data, headers=headers, timeout=30)


def snapshot(url, fx):
    """Everything a bad request could have touched."""
    api = url + "/api/2.0/mlflow/"
    runs = requests.post(api + "runs/search", json={"experiment_ids": [fx["exp"]], "run_view_type": "ALL"},
                         timeout=30).json()
    exps = requests.post(api + "experiments/search", json={"view_type": "ALL", "max_results": 1000},
                         timeout=30).json()
    hist = requests.get(api + "metrics/get-history", params={"run_id": fx["run"], "metric_key": "fresh"},
                        timeout=30).json()
    models = requests.get(api + "registered-models/search", timeout=30).json()
    lin = {k: v for k, v in sh.get_deployment(url, "lin").items() if k != "status"}
    return runs, exps, hist, models, lin


def good_requests_work(url):
    s = requests.Session()
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    r = sh.oip_infer(s, url, "lin", x)
    assert r.status_code == 200, r.text
    sh.assert_close(np.array(r.json()["outputs"][0]["data"]).reshape(1, 1), sh.linear_expect(x, 1.0))
    r = s.post(url + "/deployments/lin/invocations", json={"inputs": x.tolist()}, timeout=30)
    assert r.status_code == 200, r.text


# Runs before the cases: a failing case could leave a second deployment behind.
def test_invocations_and_ping_find_the_only_deployment(srv):
    x = [[1.0, 2.0, 3.0]]
    r = requests.post(srv.url + "/invocations", json={"inputs": x}, timeout=30)
    assert r.status_code == 200, r.text
    sh.assert_close(np.asarray(r.json()["predictions"]["y"], dtype=np.float32), sh.linear_expect(x, 1.0))
    r = requests.get(srv.url + "/ping", timeout=30)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(srv, case):
    before = snapshot(srv.url, srv.fx)
    resp = send(srv.url, case, srv.fx)
    assert resp.status_code == case["status"], resp.text
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    if case.get("shape", "mlflow") == "oip":
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
        msg = body["error"]
    else:
        assert body.get("error_code") == case["error_code"], body
        msg = body["message"]
    assert case["message"] in msg, msg
    good_requests_work(srv.url)
    assert snapshot(srv.url, srv.fx) == before


def test_cases_follow_the_schema():
    fields = {"name", "method", "path", "json", "raw", "binary", "headers", "status", "shape",
              "error_code", "message"}
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    for c in CASES:
        assert set(c) <= fields, (c["name"], set(c) - fields)
        assert {"name", "method", "path", "status", "message"} <= set(c), c["name"]
        assert len({"json", "raw", "binary"} & set(c)) <= 1, c["name"]
        assert c.get("shape", "mlflow") in ("mlflow", "oip"), c["name"]
        assert ("error_code" in c) == (c.get("shape", "mlflow") == "mlflow"), c["name"]


def test_cases_cover_the_issue_list():
    names = " ".join(c["name"] for c in CASES)
    for topic in ("unknown model", "wrong input name", "wrong shape", "wrong datatype", "data length",
                  "non-numeric", "oversized", "malformed json", "binary size", "inference-header-content-length"):
        assert topic in names.lower(), topic
