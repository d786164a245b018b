"""The alert rules API of a real server (/api/2.0/capstan/monitor/alerts):
create, replace, list, current states, history and delete; every refused
request with its status, MLflow error code and a message naming the field
and what it expects, and nothing stored by it; webhooks to loopback or
private addresses refused unless the server runs with
--alert-allow-private-webhooks. (Evaluation and delivery are in
tests/unit/test_alert.c, against a receiver in the test process.)"""
import pytest
import requests

from conftest import Server

BASE = "/api/2.0/capstan/monitor/alerts"
PUBLIC_HOOK = "http://203.0.113.7:9093/hook"  # TEST-NET-3: public, never contacted here


def rule(**kw):
    r = {"name": "drift", "deployment": "fraud", "metric": "share_of_drifted_columns",
         "op": ">", "threshold": 0.5}
    r.update(kw)
    return {k: v for k, v in r.items() if v is not None}


def post(server, body):
    return requests.post(server.url + BASE + "/rules", json=body, timeout=30)


def rules(server, **params):
    r = requests.get(server.url + BASE + "/rules", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["rules"]


def test_rule_lifecycle(server):
    r = post(server, rule(webhook=PUBLIC_HOOK, labels={"team": "ml"}, severity="page"))
    assert r.status_code == 200, r.text
    got = r.json()["rule"]
    assert got["deployment"] == "fraud" and got["name"] == "drift"
    assert got["streak"] == 0 and got["last_window_id"] == 0
    assert got["rule"] == {"name": "drift", "deployment": "fraud",
                           "metric": "share_of_drifted_columns", "op": ">", "threshold": 0.5,
                           "for": 1, "webhook": PUBLIC_HOOK, "labels": {"team": "ml"},
                           "severity": "page"}
    # Replace: same (deployment, name), new condition.
    r = post(server, rule(metric="drift_score", column="age", op=">=", threshold=0.1,
                          **{"for": 3, "window": 300}))
    assert r.status_code == 200, r.text
    listed = rules(server, deployment="fraud")
    assert [x["name"] for x in listed] == ["drift"]
    assert listed[0]["rule"]["column"] == "age" and listed[0]["rule"]["for"] == 3
    assert listed[0]["rule"]["window"] == 300 and "webhook" not in listed[0]["rule"]
    assert post(server, rule(name="other", deployment="shop")).status_code == 200
    assert {(x["deployment"], x["name"]) for x in rules(server)} == {("fraud", "drift"),
                                                                    ("shop", "other")}
    states = requests.get(server.url + BASE, params={"deployment": "fraud"}, timeout=30).json()
    assert [(s["name"], s["state"], s["streak"]) for s in states["alerts"]] == [
        ("drift", "inactive", 0)]
    ev = requests.get(server.url + BASE + "/events", params={"deployment": "fraud"}, timeout=30)
    assert ev.status_code == 200 and ev.json()["events"] == []
    d = requests.delete(server.url + BASE + "/rules",
                        params={"deployment": "fraud", "name": "drift"}, timeout=30)
    assert d.status_code == 200, d.text
    assert rules(server, deployment="fraud") == []
    d = requests.delete(server.url + BASE + "/rules",
                        params={"deployment": "fraud", "name": "drift"}, timeout=30)
    assert d.status_code == 404
    assert d.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                        "message": "Alert rule 'drift' of deployment 'fraud' not found"}


BAD_RULES = [
    ("unknown field", dict(rule(), treshold=1), "Unknown field 'treshold' in alert rule"),
    ("no name", rule(name=None), "Missing field 'name' in alert rule"),
    ("bad name", rule(name="a b"), "Invalid value for 'name' in alert rule: expected 1 to 128"),
    ("bad deployment", rule(deployment="../x"), "Invalid value for 'deployment' in alert rule"),
    ("bad metric", rule(metric="latency"), "Invalid value for 'metric' in alert rule: expected "
     "dataset_drift, share_of_drifted_columns, drift_score, prediction_drift, missing_share, "
     "or a model-quality metric: accuracy, precision"),
    ("quality without window", rule(metric="accuracy"), "Missing field 'window' in alert rule: "
     "accuracy judges windows of prediction time"),
    ("drift without detector", rule(metric="concept_drift"), "Missing field 'detector' in alert "
     "rule: concept_drift needs the name"),
    ("detector on drift", rule(detector="ddm"), "Field 'detector' in alert rule is only for "
     "concept_drift"),
    ("drift with window", rule(metric="concept_drift", detector="ddm", window=60),
     "Field 'window' in alert rule is not for concept_drift"),
    ("column needed", rule(metric="missing_share"), "Missing field 'column' in alert rule: "
     "missing_share needs the column it watches"),
    ("column forbidden", rule(column="age"), "Field 'column' in alert rule is only for "
     "drift_score and missing_share"),
    ("bad op", rule(op="=>"), "Invalid value for 'op' in alert rule: expected one of >, >=, <, "
     "<=, ==, !="),
    ("no threshold", rule(threshold=None), "Missing field 'threshold' in alert rule"),
    ("share out of range", rule(threshold=2), "Invalid value for 'threshold' in alert rule: "
     "expected a number from 0 to 1 for a share"),
    ("flag not 0/1", rule(metric="dataset_drift", threshold=0.5), "Invalid value for "
     "'threshold' in alert rule: expected 0 or 1"),
    ("for zero", rule(**{"for": 0}), "Invalid value for 'for' in alert rule: expected an "
     "integer from 1 to 100000"),
    ("window fraction", rule(window=1.5), "Invalid value for 'window' in alert rule: expected "
     "an integer"),
    ("webhook scheme", rule(webhook="file:///etc/passwd"), "Invalid value for 'webhook' in "
     "alert rule: expected an http:// or https:// URL"),
    ("labels list", rule(labels=["a"]), "Invalid value for 'labels' in alert rule: expected an "
     "object"),
    ("label reserved", rule(labels={"alertname": "x"}), "Label 'alertname' in alert rule's "
     "'labels' is set by the rule itself"),
    ("loopback webhook", rule(webhook="http://127.0.0.1:9093/"), "host '127.0.0.1' is (or "
     "resolves to) 127.0.0.1, a loopback, private, link-local or unspecified address"),
    ("metadata webhook", rule(webhook="http://169.254.169.254/latest"), "start the server with "
     "--alert-allow-private-webhooks to allow it"),
    ("ipv6 loopback webhook", rule(webhook="http://[::1]:8080/"), "host '::1' is (or resolves "
     "to) ::1"),
    ("private webhook", rule(webhook="https://10.2.3.4/"), "10.2.3.4, a loopback, private"),
]


@pytest.mark.parametrize("name,body,message", BAD_RULES, ids=[b[0] for b in BAD_RULES])
def test_bad_rule_is_refused_and_stores_nothing(server, name, body, message):
    before = rules(server)
    r = post(server, body)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in r.json()["message"]
    assert rules(server) == before


@pytest.mark.parametrize("method,path,params,status,code,message", [
    ("DELETE", "/rules", {"deployment": "fraud"}, 400, "INVALID_PARAMETER_VALUE", "name"),
    ("DELETE", "/rules", {"name": "x"}, 400, "INVALID_PARAMETER_VALUE", "deployment"),
    ("GET", "/rules", {"deployment": "no/such"}, 400, "INVALID_PARAMETER_VALUE",
     "Invalid deployment name"),
    ("GET", "/events", {"max_results": "0"}, 400, "INVALID_PARAMETER_VALUE", "max_results"),
    ("GET", "/events", {"page_token": "abc"}, 400, "INVALID_PARAMETER_VALUE",
     "Invalid page_token 'abc': expected the next_page_token of a previous page"),
    ("PUT", "/rules", {}, 405, None, None),
])
def test_bad_requests(server, method, path, params, status, code, message):
    r = requests.request(method, server.url + BASE + path, params=params, timeout=30)
    assert r.status_code == status, r.text
    if code:
        assert r.json()["error_code"] == code
        assert message in r.json()["message"]


def test_not_an_object(server):
    r = requests.post(server.url + BASE + "/rules", data="[1, 2]",
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


def test_allow_flag_lets_private_webhooks_in(tmp_path):
    srv = Server(tmp_path / "allow", ["--alert-allow-private-webhooks"]).start()
    try:
        r = post(srv, rule(webhook="http://127.0.0.1:9/hook"))
        assert r.status_code == 200, r.text
        assert r.json()["rule"]["rule"]["webhook"] == "http://127.0.0.1:9/hook"
    finally:
        srv.assert_clean_exit(srv.stop())
