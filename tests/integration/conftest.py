"""Starts the real capstan binary on a free port with a temporary data
directory. Each test module gets its own server; the server is stopped with
SIGTERM at the end and must exit cleanly (status 0, no sanitizer report)."""
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A 5xx must fail a test at once, not after minutes of client retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")

BIN = os.environ.get("CAPSTAN_BIN", os.path.join(ROOT, "build", "asan", "capstan"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir, extra_args=()):
        self.data_dir = str(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "server", "--port", str(self.port), "--data", self.data_dir, *self.extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.read_log()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.read_log()}")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()

    def assert_clean_exit(self, rc):
        log = self.read_log()
        assert "Sanitizer" not in log and "runtime error" not in log, log[-20000:]
        assert rc == 0, f"server exited with {rc}:\n{log[-20000:]}"

    def api(self, method, path, **kw):
        return requests.request(method, self.url + path, timeout=60, **kw)


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
