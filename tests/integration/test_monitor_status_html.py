"""`capstan monitor status DEPLOYMENT --html OUT.html`: one self-contained
page of a live deployment (the latest window's tables and histograms, each
feature's and output's drift score over time with its threshold), and the
histograms endpoint it reads. Driven like test_monitor_live.py: 1 s and 4 s
windows, shifted then reference-like requests whose verdicts do not depend
on how they fall into windows; the page is written only once every row is
in a stored window of the width it shows, so its point counts are fixed."""
import re
import subprocess
import time

import pytest
import requests

import serving_helpers as sh
from conftest import BIN, Server
from test_monitor_live import (ROWS_PER_REQUEST, REQUESTS, base_windows, deploy_with_baseline,
                               normal_request, rows_in, send, shifted_request)

WINDOWS = "/api/2.0/capstan/monitor/windows"
HIST = WINDOWS + "/histograms"
ARGS = ["--monitor-windows", "1,4", "--monitor-grace-ms", "300", "--monitor-poll-ms", "50"]
N = 2 * REQUESTS * ROWS_PER_REQUEST


def windows_of(srv, width):
    r = srv.api("GET", WINDOWS, params={"deployment": "mon", "width": width,
                                        "max_results": 10000})
    assert r.status_code == 200, r.text
    return r.json()["windows"]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("status-html"), ARGS).start()
    deploy_with_baseline(srv, "mon")
    send(srv, shifted_request, 0)
    sh.wait_for(lambda: rows_in(base_windows(srv)) == N // 2, what="phase one's windows")
    send(srv, normal_request, 100)
    sh.wait_for(lambda: rows_in(base_windows(srv)) == N, what="phase two's windows")
    # 4 s windows roll up once a base window closes past their end: one more
    # request after the next 4 s boundary rolls up every earlier one
    boundary = -(-max(w["end_ms"] for w in base_windows(srv)) // 4000) * 4000
    sh.wait_for(lambda: time.time() * 1000 > boundary + 100, what="the next 4 s boundary")
    r = requests.post(f"{srv.url}/v2/models/mon/infer", json=sh.oip_body(normal_request(300)),
                      timeout=60)
    assert r.status_code == 200, r.text
    sh.wait_for(lambda: rows_in(base_windows(srv)) == N + ROWS_PER_REQUEST,
                what="the last request's window")
    base = base_windows(srv)
    through = max(w["end_ms"] for w in base) // 4000 * 4000
    rolled = rows_in([w for w in base if w["start_ms"] < through])
    sh.wait_for(lambda: rows_in(windows_of(srv, 4)) == rolled, what="the 4 s windows")
    yield srv
    srv.assert_clean_exit(srv.stop())


def status(srv, *args):
    return subprocess.run([BIN, "monitor", "status", *args, "--server", srv.url],
                          capture_output=True, text=True, timeout=120)


def score_charts(page):
    """{column: (points, has a threshold line)} of the score-over-time charts."""
    out = {}
    for m in re.finditer(r'<svg class="score" data-column="([^"]*)"(.*?)</svg>', page, re.S):
        out[m.group(1)] = (m.group(2).count('<circle class="pt"'),
                           'class="threshold"' in m.group(2))
    return out


@pytest.mark.parametrize("width", [None, 4])
def test_page(live, tmp_path, width):
    out = tmp_path / "live.html"
    args = ["mon", "--html", str(out), "--from", "0"] + (["--width", "4"] if width else [])
    r = status(live, *args)
    assert r.returncode == 0, r.stderr
    assert "deployment mon" in r.stdout  # the usual table still printed
    windows = windows_of(live, width or 1)
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # one chart a feature and output, a point a stored window, the threshold drawn
    assert score_charts(page) == {c: (len(windows), True) for c in ["f0", "f1", "f2", "y"]}
    assert "threshold 0.05" in page  # K-S's
    latest = windows[-1]
    assert "Feature drift (latest window)" in page and "Prediction drift (latest window)" in page
    assert "Data quality" in page
    # the histograms: one section a column, the reference's 500 rows and the window's
    dist = page.split("<h2>Distributions (latest window)</h2>")[1].split("<h2>")[0]
    assert dist.count('<div class="feature">') == 4
    assert dist.count(f"reference (500)") == 4
    assert dist.count(f"current ({latest['rows']})") == 4
    for name in ["f0", "f1", "f2", "y"]:
        assert f"<h3>{name} " in dist
    # nothing fetched: no URL, no src, and a policy that forbids it
    assert "http://" not in page and "https://" not in page
    assert "src=" not in page and "href=" not in page and "<script" not in page
    assert "default-src 'none'" in page


def test_histograms_endpoint(live):
    w = windows_of(live, 1)[-1]
    r = live.api("GET", HIST, params={"deployment": "mon", "width": 1, "start_ms": w["start_ms"]})
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["reference"] == {"target": "deployment:mon", "available": True}
    assert [c["column"] for c in h["columns"]] == ["f0", "f1", "f2", "y"]
    assert [c["role"] for c in h["columns"]] == ["input"] * 3 + ["output"]
    for c in h["columns"]:
        assert c["kind"] == "num"
        assert len(c["reference"]) == len(c["current"]) == len(c["edges"]) + 1
        assert sum(c["reference"]) == 500
        assert sum(c["current"]) == w["rows"]


@pytest.mark.parametrize("params,status,words", [
    ({"width": 1, "start_ms": 0}, 400, "deployment"),
    ({"deployment": "mon", "start_ms": 0}, 400, "width"),
    ({"deployment": "mon", "width": 0, "start_ms": 0}, 400, "width"),
    ({"deployment": "mon", "width": "x", "start_ms": 0}, 400, "width"),
    ({"deployment": "mon", "width": 1}, 400, "start_ms"),
    ({"deployment": "mon", "width": 1, "start_ms": -5}, 400, "start_ms"),
    ({"deployment": "no-such", "width": 1, "start_ms": 0}, 404, "no-such"),
    ({"deployment": "mon", "width": 1, "start_ms": 12345}, 404, "12345"),
])
def test_histograms_bad_requests(live, params, status, words):
    r = live.api("GET", HIST, params=params)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]


@pytest.mark.parametrize("args,words", [
    (["no-such"], "no-such"),
    (["mon", "--width", "7"], "--width 7 is not one of the live monitor's widths (1, 4"),
    (["mon", "--width", "x"], "--width must be a window width"),
    (["mon", "--width", "0"], "--width must be a window width"),
    (["mon", "--from", "10", "--to", "5"], "--from must be before --to"),
    (["mon", "--from", "0", "--to", "1"], "no monitoring window of width 1 s"),
])
def test_bad_input_writes_nothing(live, tmp_path, args, words):
    out = tmp_path / "page.html"
    r = status(live, args[0], "--html", str(out), *args[1:])
    assert r.returncode != 0
    assert words in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path(live, tmp_path):
    out = tmp_path / "missing-dir" / "page.html"
    r = status(live, "mon", "--html", str(out), "--from", "0")
    assert r.returncode != 0
    assert f"cannot write {out}" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_window_options_need_html(live):
    r = status(live, "mon", "--width", "1")
    assert r.returncode == 2 and "--html" in r.stderr


def test_windows_order(live):
    """order=desc answers newest first, so max_results keeps the latest."""
    asc = windows_of(live, 0)  # every width, oldest first (the default)
    assert len(asc) >= 3
    for order, expect in [("asc", asc), ("desc", asc[::-1])]:
        r = live.api("GET", WINDOWS, params={"deployment": "mon", "order": order,
                                             "max_results": 10000})
        assert r.status_code == 200, r.text
        assert r.json()["windows"] == expect
    r = live.api("GET", WINDOWS, params={"deployment": "mon", "width": 1, "order": "desc",
                                         "max_results": 2})
    assert r.json()["windows"] == windows_of(live, 1)[::-1][:2]
    r = live.api("GET", WINDOWS, params={"deployment": "mon", "width": 1, "max_results": 2})
    assert r.json()["windows"] == windows_of(live, 1)[:2]
    for bad in ["newest", "DESC", ""]:
        r = live.api("GET", WINDOWS, params={"deployment": "mon", "order": bad})
        assert r.status_code == 400, r.text
        msg = r.json()["message"]
        assert "'order'" in msg and "asc" in msg and "desc" in msg and f"'{bad}'" in msg, msg


def test_page_shows_model_quality_from_labels(live, tmp_path):
    """Labels for every logged row (each target 0.5 above its prediction):
    the page gains the realised quality over time, one point per labelled
    window of the width shown, as the feedback quality API counts them."""
    preds = live.api("GET", "/api/2.0/capstan/predictions",
                     params={"deployment": "mon", "max_results": 10000}).json()["predictions"]
    labels = [{"id": f'{p["request_id"]}/{k}', "value": float(row[0]) + 0.5}
              for p in preds if p["role"] == "primary"
              for k, row in enumerate(p["outputs"]["y"])]
    assert len(labels) == N + ROWS_PER_REQUEST
    for k in range(0, len(labels), 10000):
        r = live.api("POST", "/api/2.0/capstan/feedback",
                     json={"deployment": "mon", "labels": labels[k:k + 10000]})
        assert r.status_code == 200 and r.json()["unknown"] == [], r.text
    out = tmp_path / "quality.html"
    r = status(live, "mon", "--html", str(out), "--from", "0")
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    windows = windows_of(live, 1)
    q = live.api("GET", "/api/2.0/capstan/feedback/quality",
                 params={"deployment": "mon", "width_s": 1, "from": windows[0]["start_ms"],
                         "to": windows[-1]["start_ms"] + 1000}).json()["windows"]
    assert q and all(abs(w["metrics"]["mae"] - 0.5) < 1e-6 for w in q)
    charts = {m.group(1): m.group(2).count('<circle class="pt"') for m in
              re.finditer(r'<svg class="quality" data-metric="([^"]*)"(.*?)</svg>', page, re.S)}
    assert "Model quality from labels" in page
    assert charts == {"mae": len(q), "rmse": len(q), "r2": len(q)}, (charts, len(q))
