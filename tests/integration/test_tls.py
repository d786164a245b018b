"""`capstan server --tls-cert/--tls-key`: HTTPS from the server itself, for
setups without a TLS proxy. The real mlflow client logs over it, trusting the
test's own self-signed certificate; a bad pair is a clear error at start."""
import os
import socket
import ssl
import subprocess

import pytest
import requests

from conftest import BIN, Server


def make_pair(d, name, cn="localhost"):
    cert, key = os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", key, "-out", cert, "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return make_pair(str(tmp_path_factory.mktemp("tls")), "server")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, pair):
    cert, key = pair
    old = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = cert  # the readiness probe trusts it too
    srv = Server(tmp_path_factory.mktemp("capstan-tls"), ["--tls-cert", cert, "--tls-key", key])
    srv.url = srv.url.replace("http://", "https://")
    try:
        srv.start()
        yield srv
    finally:
        if old is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = old
    srv.assert_clean_exit(srv.stop())


def test_https_answers_and_plain_http_does_not(tls_server, pair):
    r = requests.get(tls_server.url + "/health", verify=pair[0], timeout=30)
    assert r.status_code == 200 and r.text == "OK"
    assert "https://" in tls_server.read_log()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(tls_server.url.replace("https://", "http://") + "/health", timeout=30)


def test_certificate_is_the_one_given(tls_server, pair):
    ctx = ssl.create_default_context(cafile=pair[0])
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.getpeercert()["subject"] == ((("commonName", "localhost"),),)


def test_mlflow_client_logs_over_https(tls_server, pair, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", pair[0])
    client = MlflowClient(tracking_uri=tls_server.url)
    eid = client.create_experiment("over-tls")
    run = client.create_run(eid)
    client.log_metric(run.info.run_id, "acc", 0.91, step=3)
    got = client.get_run(run.info.run_id).data.metrics
    assert got == {"acc": 0.91}
    assert mlflow.__version__


@pytest.mark.parametrize("which,words", [
    ("cert-only", ["--tls-key was not given"]),
    ("key-as-cert", ["--tls-cert", "expected a PEM certificate"]),
    ("cert-as-key", ["--tls-key", "expected an unencrypted PEM private key"]),
    ("other-key", ["is not the key of --tls-cert"]),
    ("missing", ["--tls-cert", "nope.crt: No such file or directory"]),
    ("huge", ["--tls-cert", "over 1 MiB, not a PEM file"]),
])
def test_bad_pair_is_a_clear_error_at_start(tmp_path, pair, which, words):
    cert, key = pair
    _, other_key = make_pair(str(tmp_path), "other", cn="other")
    args = {"cert-only": ["--tls-cert", cert],
            "key-as-cert": ["--tls-cert", key, "--tls-key", key],
            "cert-as-key": ["--tls-cert", cert, "--tls-key", cert],
            "other-key": ["--tls-cert", cert, "--tls-key", other_key],
            "missing": ["--tls-cert", str(tmp_path / "nope.crt"), "--tls-key", key],
            "huge": ["--tls-cert", str(tmp_path / "huge.crt"), "--tls-key", key]}[which]
    (tmp_path / "huge.crt").write_bytes(b"-" * (2 << 20))
    p = subprocess.run([BIN, "server", "--port", "0", "--data", str(tmp_path / "d"), *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    for w in words:
        assert w in p.stderr, p.stderr
    assert "Sanitizer" not in p.stderr
