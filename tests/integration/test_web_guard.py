"""The HTTP front's browser-facing rules (server/guard.h): the Host allow-list
against DNS rebinding, cross-origin state changes refused (CSRF), and CORS
only for the origins given to --cors-allowed-origins. Each refusal is a 403
PERMISSION_DENIED that names what was wrong, and leaves the store unchanged."""
import socket
import subprocess

import pytest

from conftest import BIN, Server

SEARCH = "/api/2.0/mlflow/experiments/search"
CREATE = "/api/2.0/mlflow/experiments/create"
APP = "https://app.example.com"


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("guard"),
                 ["--allowed-hosts", "*.corp.example, exact.example:5000",
                  "--cors-allowed-origins", f"{APP},https://*.tools.example"]).start()
    yield srv
    srv.assert_clean_exit(srv.stop())


def names(srv):
    r = srv.api("POST", SEARCH, json={"max_results": 1000})
    assert r.status_code == 200, r.text
    return sorted(e["name"] for e in r.json().get("experiments", []))


def refused(r, *words):
    assert r.status_code == 403, (r.status_code, r.text)
    body = r.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    for w in words:
        assert w in body["message"], body["message"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "10.1.2.3",
                                  "192.0.2.7:80"])
def test_loopback_names_and_ip_literals_are_answered(server, host):
    r = server.api("GET", SEARCH + "?max_results=1", headers={"Host": host})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:5000",
                                  "localhost.attacker.example", "127.0.0.1.nip.io:80", ""])
def test_other_names_are_refused(server, host):
    before = names(server)
    r = server.api("POST", CREATE, json={"name": "rebound"}, headers={"Host": host})
    refused(r, "Host header", "--allowed-hosts")
    assert names(server) == before


def test_health_routes_answer_any_host(server):
    # (/ping answers 404 while nothing is deployed: past the guard all the same)
    for path, status in (("/health", 200), ("/version", 200), ("/ping", 404),
                         ("/v2/health/live", 200)):
        r = server.api("GET", path, headers={"Host": "probe.example"})
        assert r.status_code == status, (path, r.text)


def test_missing_host_is_refused(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(f"GET {SEARCH}?max_results=1 HTTP/1.0\r\n\r\n".encode())
        head = s.recv(65536).split(b"\r\n", 1)[0]
    assert b" 403 " in head, head


def test_cross_origin_change_is_refused_and_changes_nothing(server):
    before = names(server)
    r = server.api("POST", CREATE, json={"name": "csrf"},
                   headers={"Origin": "https://attacker.example"})
    refused(r, "Cross-origin POST", "https://attacker.example", "--cors-allowed-origins")
    r = server.api("POST", CREATE, json={"name": "csrf2"}, headers={"Origin": "null"})
    refused(r, "'null'")
    assert names(server) == before
    # no CORS without --cors-allowed-origins: a cross-origin read gets no
    # Access-Control-Allow-Origin, so the browser keeps the answer from the page
    r = server.api("GET", SEARCH + "?max_results=1", headers={"Origin": "https://attacker.example"})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    pre = server.api("OPTIONS", CREATE, headers={"Origin": "https://attacker.example",
                                                 "Access-Control-Request-Method": "POST"})
    refused(pre, "--cors-allowed-origins")


def test_same_origin_and_programs_may_change(server):
    r = server.api("POST", CREATE, json={"name": "same-origin"},
                   headers={"Origin": server.url})
    assert r.status_code == 200, r.text
    r = server.api("POST", CREATE, json={"name": "no-origin"})
    assert r.status_code == 200, r.text
    # a browser's own page that leaves Origin out: Sec-Fetch-Site or a Referer of this server
    r = server.api("POST", CREATE, json={"name": "same-site-fetch"},
                   headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    r = server.api("POST", CREATE, json={"name": "own-referer"},
                   headers={"Referer": server.url + "/#/experiments"})
    assert r.status_code == 200, r.text
    assert {"same-origin", "no-origin", "same-site-fetch", "own-referer"} <= set(names(server))


def test_cross_site_without_origin_is_refused(server):
    before = names(server)
    r = server.api("POST", CREATE, json={"name": "x1"}, headers={"Sec-Fetch-Site": "cross-site"})
    refused(r, "Sec-Fetch-Site: cross-site")
    r = server.api("POST", CREATE, json={"name": "x2"},
                   headers={"Referer": "https://attacker.example/page?q=1"})
    refused(r, "'https://attacker.example'", "--cors-allowed-origins")
    assert names(server) == before


@pytest.mark.parametrize("host,ok", [("a.corp.example:1234", True), ("A.B.CORP.EXAMPLE", True),
                                     ("corp.example", False), ("exact.example:5000", True),
                                     ("exact.example:5001", False), ("exact.example", False)])
def test_allowed_hosts_patterns(cors_server, host, ok):
    r = cors_server.api("GET", SEARCH + "?max_results=1", headers={"Host": host})
    assert r.status_code == (200 if ok else 403), (host, r.text)


def test_allowed_origin_gets_cors(cors_server):
    r = cors_server.api("POST", CREATE, json={"name": "from-app"}, headers={"Origin": APP})
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in r.headers["Vary"]
    r = cors_server.api("POST", CREATE, json={"name": "from-tool"},
                        headers={"Origin": "https://nb.tools.example"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == \
        "https://nb.tools.example"
    # an error answer carries them too, so the page can read the message
    r = cors_server.api("POST", CREATE, json={}, headers={"Origin": APP})
    assert r.status_code == 400 and r.headers["Access-Control-Allow-Origin"] == APP


def test_preflight(cors_server):
    r = cors_server.api("OPTIONS", CREATE, headers={
        "Origin": APP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert r.headers["Access-Control-Allow-Origin"].count(",") == 0  # once, not twice
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, authorization"
    bad = cors_server.api("OPTIONS", CREATE, headers={
        "Origin": "https://attacker.example", "Access-Control-Request-Method": "POST"})
    refused(bad, "https://attacker.example")
    before = names(cors_server)
    r = cors_server.api("POST", CREATE, json={"name": "x"},
                        headers={"Origin": "https://attacker.example"})
    refused(r, "Cross-origin")
    assert "Access-Control-Allow-Origin" not in r.headers
    assert names(cors_server) == before


@pytest.mark.parametrize("args,words", [
    (["--cors-allowed-origins", "app.example.com"], ["app.example.com", "https://"]),
    (["--cors-allowed-origins", "https://a.example/path"], ["https://a.example/path"]),
    (["--allowed-hosts", "a.example,,b.example"], ["--allowed-hosts", "non-empty"]),
])
def test_bad_configuration_is_a_clear_error_at_start(tmp_path, args, words):
    p = subprocess.run([BIN, "server", "--port", "0", "--data", str(tmp_path), *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    for w in words:
        assert w in p.stderr, p.stderr
    assert "Sanitizer" not in p.stderr


def test_warns_when_listening_beyond_loopback(server, tmp_path):
    assert "without authentication" not in server.read_log()
    srv = Server(tmp_path, ["--host", "0.0.0.0"]).start()
    try:
        assert "listening on 0.0.0.0 without authentication" in srv.read_log()
    finally:
        srv.assert_clean_exit(srv.stop())
