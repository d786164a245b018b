"""Starts the real capstan binary on a free port with a temporary data
directory. Each test module gets its own server; the server is stopped with
SIGTERM at the end and must exit cleanly (status 0, no sanitizer report)."""
import hashlib
import os
import signal
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A 5xx must fail a test at once, not after minutes of client retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")

BIN = os.environ.get("CAPSTAN_BIN", os.path.join(ROOT, "build", "asan", "capstan"))

sys.path.insert(0, os.path.join(ROOT, "tests"))
from capstan_process import CapstanServer  # noqa: E402


# CAPSTAN_TEST_STORE=postgresql runs the suites on PostgreSQL (make
# test-integration-pg): one throw-away cluster for the session and one
# database per server data directory, so a server restarted on its
# directory finds its data again.
STORE = os.environ.get("CAPSTAN_TEST_STORE", "sqlite")
_pg = None
_pg_dbs = {}


def pg_uri_for(data_dir):
    global _pg
    if _pg is None:
        from pg_cluster import PgCluster

        _pg = PgCluster()
        _pg.start()
    key = os.path.realpath(str(data_dir))
    if key not in _pg_dbs:
        name = f"db{len(_pg_dbs)}"
        _pg.create_database(name)
        _pg_dbs[key] = _pg.uri(name)
    return _pg_dbs[key]


# CAPSTAN_TEST_ARTIFACTS=s3 keeps every server's artifacts in a real S3
# server (make test-integration-s3): one SeaweedFS for the session, one
# bucket, and a prefix per server data directory, like the databases above.
ARTIFACTS = os.environ.get("CAPSTAN_TEST_ARTIFACTS", "local")
S3_BUCKET = "capstan-test"
_s3 = None


def s3_server():
    """The session's S3 server (started on first use), with its bucket."""
    global _s3
    if _s3 is None:
        from s3_server import S3Server

        _s3 = S3Server()
        _s3.start()
        _s3.create_bucket(S3_BUCKET)
    return _s3


def s3_env(s3):
    """What a capstan process needs to reach s3."""
    return {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_REGION": s3.region, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint}


def s3_destination_for(data_dir):
    real = os.path.realpath(str(data_dir))
    tag = hashlib.sha256(real.encode()).hexdigest()[:8]
    return f"s3://{S3_BUCKET}/{os.path.basename(real)}-{tag}"


def pytest_sessionfinish(session, exitstatus):
    if _pg is not None:
        _pg.stop()
    if _s3 is not None:
        _s3.stop()


class Server(CapstanServer):
    """`capstan server` from CAPSTAN_BIN (the ASan build by default)."""

    def __init__(self, data_dir, extra_args=()):
        extra_args = list(extra_args)
        if STORE == "postgresql" and "--backend-store-uri" not in extra_args:
            extra_args += ["--backend-store-uri", pg_uri_for(data_dir)]
        s3 = ARTIFACTS == "s3" and "--artifacts-destination" not in extra_args
        if s3:
            extra_args += ["--artifacts-destination", s3_destination_for(data_dir)]
        super().__init__(BIN, data_dir, extra_args)
        if s3:
            self.env.update(s3_env(s3_server()))

    def cli_env(self):
        """The environment for a CLI command that opens this server's store
        directly (--data names the directory; on PostgreSQL the store is
        elsewhere)."""
        env = dict(os.environ)
        if STORE == "postgresql":
            env["CAPSTAN_BACKEND_STORE_URI"] = pg_uri_for(self.data_dir)
        return env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("capstan")).start()
    yield srv
    srv.assert_clean_exit(srv.stop())


@pytest.fixture(scope="module")
def mlflow_client(server):
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(server.url)
    yield MlflowClient(server.url)
    mlflow.set_tracking_uri(None)


@pytest.fixture
def make_server(tmp_path):
    made = []

    def make(extra_args=()):
        srv = Server(tmp_path / f"srv{len(made)}", extra_args)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        if srv.proc is not None:
            srv.stop(signal.SIGKILL)
