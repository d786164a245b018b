"""Replays tests/integration/cases/*.json: each case is a request and the
exact error it must get. After every case the stored data must be unchanged,
so a refused request never writes anything. Adding a case needs no code."""
import json
import os

import pytest
import requests

CASES_DIR = os.path.join(os.path.dirname(__file__), "cases")


def load_cases():
    cases = []
    for name in sorted(os.listdir(CASES_DIR)):
        if name.endswith("_errors.json"):
            with open(os.path.join(CASES_DIR, name)) as f:
                cases.extend(json.load(f))
    return cases


CASES = load_cases()


@pytest.fixture(scope="module")
def fixtures(server):
    api = lambda path, body: requests.post(server.url + "/api/2.0/mlflow/" + path, json=body).json()
    exp = api("experiments/create", {"name": "cases"})["experiment_id"]
    run = api("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    api("runs/log-batch", {"run_id": run, "params": [{"key": "p", "value": "v"}],
                           "metrics": [{"key": "m", "value": 1.0, "timestamp": 5, "step": 1}],
                           "tags": [{"key": "t", "value": "x"}]})
    deleted = api("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    api("runs/delete", {"run_id": deleted})
    return {"exp": exp, "run": run, "deleted_run": deleted}


def expand(value, fx):
    """Fills {placeholders}: fixture IDs and generated oversize values."""
    if isinstance(value, dict):
        return {k: expand(v, fx) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, fx) for v in value]
    if not isinstance(value, str):
        return value
    if value.startswith("{x") and value.endswith("}") and value[2:-1].isdigit():
        return "x" * int(value[2:-1])
    if value == "{metrics1001}":
        return [{"key": f"m{i}", "value": i, "timestamp": 1, "step": 0} for i in range(1001)]
    if value in ("{params101}", "{tags101}"):
        return [{"key": f"k{i}", "value": "v"} for i in range(101)]
    for k, v in fx.items():
        value = value.replace("{" + k + "}", v)
    return value


def snapshot(server, fx):
    """Everything a bad request could have touched."""
    url = server.url + "/api/2.0/mlflow/"
    runs = requests.post(url + "runs/search", json={"experiment_ids": [fx["exp"]], "run_view_type": "ALL"}).json()
    exps = requests.post(url + "experiments/search", json={"view_type": "ALL", "max_results": 1000}).json()
    hist = requests.get(url + "metrics/get-history", params={"run_id": fx["run"], "metric_key": "fresh"}).json()
    return runs, exps, hist


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(server, fixtures, case):
    before = snapshot(server, fixtures)
    kw = {}
    if "raw" in case:
        kw["data"] = case["raw"]
        kw["headers"] = {"Content-Type": "application/json"}
    elif "body" in case:
        kw["json"] = expand(case["body"], fixtures)
    path = expand(case["path"], fixtures)
    resp = requests.request(case["method"], server.url + path, timeout=30, **kw)
    assert resp.status_code == case["status"], resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["error_code"] == case["error_code"], body
    assert case["message"] in body["message"], body
    assert snapshot(server, fixtures) == before
