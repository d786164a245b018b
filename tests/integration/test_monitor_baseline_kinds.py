"""Columns typed by the caller in a baseline: `capstan monitor baseline
--categorical/--numerical` and the same query fields of POST
/api/2.0/capstan/monitor/baselines. The kinds are stored with the
baseline, and the live windows test those columns with their kind's test
(a numeric input of codes typed categorical gets chi-square, not K-S).
Bad lists are a 400 naming the column, and store nothing."""
import subprocess

import numpy as np
import pytest
import requests

import serving_helpers as sh
from conftest import BIN, Server

URL = "/api/2.0/capstan/monitor/baselines"
WINDOWS = "/api/2.0/capstan/monitor/windows"
ARGS = ["--monitor-windows", "1", "--monitor-grace-ms", "300", "--monitor-poll-ms", "50"]
ROWS = 400


def reference():
    """f0: codes 0..7; f1, f2: a grid over [0, 10)."""
    i = np.arange(ROWS)
    grid = (i + 0.5) / ROWS * 10
    return np.stack([i % 8, grid, grid[::-1]], axis=1).astype(np.float32)


def csv_text(x):
    return "f0,f1,f2\n" + "".join(",".join(repr(float(v)) for v in r) + "\n" for r in x)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("kinds"), ARGS).start()
    with sh.tracking_uri(srv.url):
        assert sh.register(sh.linear_model(0.5), "kinds", experiment_id="0") == "1"
    for dep in ("kinds", "plain"):
        sh.create_deployment(srv.url, {"name": dep, "model": "kinds/1"})
    yield srv
    srv.assert_clean_exit(srv.stop())


def post(srv, dep, **query):
    return requests.post(srv.url + URL, params={"target": f"deployment:{dep}", "format": "csv",
                                                **query},
                         data=csv_text(reference()).encode(), timeout=120)


def windows(srv, dep):
    r = srv.api("GET", WINDOWS, params={"deployment": dep, "max_results": 10000})
    assert r.status_code == 200, r.text
    return r.json()["windows"]


@pytest.mark.parametrize("query,words", [
    ({"categorical": "f0", "numerical": "f1,f0"}, "'f0' is named both numerical and categorical"),
    ({"categorical": "nope"}, "nope"),
    ({"numerical": "f1,,f2"}, "Invalid numerical"),
    ({"categorical": ""}, "Invalid categorical"),
])
def test_bad_lists_store_nothing(live, query, words):
    r = post(live, "kinds", **query)
    assert r.status_code == 400, r.text
    assert words in r.json()["message"], r.json()["message"]
    g = requests.get(live.url + URL + "/get", params={"target": "deployment:kinds"}, timeout=60)
    assert g.status_code == 404, g.text


def test_kinds_reach_the_live_windows(live, tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text(csv_text(reference()))
    p = subprocess.run([BIN, "monitor", "baseline", "kinds", "--data", str(path),
                        "--categorical", "f0", "--numerical", "f1", "--server", live.url],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r = requests.get(live.url + URL + "/get", params={"target": "deployment:kinds"}, timeout=60)
    meta = r.json()
    assert (meta["categorical"], meta["numerical"]) == (["f0"], ["f1"])
    assert [(c["name"], c["kind"]) for c in meta["columns"]] == [
        ("f0", "cat"), ("f1", "num"), ("f2", "num"), ("y", "num")]
    # the same data without the lists: f0 is inferred numerical
    r = post(live, "plain")
    assert r.status_code == 200, r.text
    assert [c["kind"] for c in r.json()["columns"]] == ["num"] * 4

    x = reference()[::8]  # 50 rows, every code
    for dep in ("kinds", "plain"):
        for _ in range(4):
            r = requests.post(f"{live.url}/v2/models/{dep}/infer", json=sh.oip_body(x), timeout=60)
            assert r.status_code == 200, r.text
        sh.wait_for(lambda: sum(w["rows"] for w in windows(live, dep)) == 4 * len(x),
                    what=f"{dep}'s windows")
    for w in windows(live, "kinds"):
        cols = {c["column"]: c for c in w["drift"]["columns"]}
        assert cols["f0"]["column_type"] == "cat" and cols["f0"]["stattest"] == "chisquare", cols
        assert cols["f1"]["column_type"] == "num" and cols["f1"]["stattest"] == "ks", cols
        quality = {c["column"]: c for c in w["data_quality"]["columns"]}
        assert quality["f0"]["new_categories"]["count"] == 0  # checked as categories
    for w in windows(live, "plain"):
        cols = {c["column"]: c for c in w["drift"]["columns"]}
        assert cols["f0"]["column_type"] == "num" and cols["f0"]["stattest"] == "ks", cols
