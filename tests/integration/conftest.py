"""Starts the real capstan binary on a free port with a temporary data
directory. Each test module gets its own server; the server is stopped with
SIGTERM at the end and must exit cleanly (status 0, no sanitizer report)."""
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


def pytest_sessionfinish(session, exitstatus):
    if _pg is not None:
        _pg.stop()


class Server(CapstanServer):
    """`capstan server` from CAPSTAN_BIN (the ASan build by default)."""

    def __init__(self, data_dir, extra_args=()):
        extra_args = list(extra_args)
        if STORE == "postgresql" and "--backend-store-uri" not in extra_args:
            extra_args += ["--backend-store-uri", pg_uri_for(data_dir)]
        super().__init__(BIN, data_dir, extra_args)

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
