"""Browser tests: the real capstan server, data from the real mlflow client,
Debian's Chromium driven by playwright-core (tests/e2e/ui.mjs).

The server is started the way tests/integration/conftest.py does it (free
port, temporary data directory, SIGTERM at the end, and it must exit cleanly
with no sanitizer report); CAPSTAN_BIN picks the binary (the ASan build in
`make test-e2e`). Screenshots go to build/test-output/e2e/ (E2E_OUT)."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("CAPSTAN_BIN", os.path.join(ROOT, "build", "asan", "capstan"))
OUT = os.environ.get("E2E_OUT", os.path.join(ROOT, "build", "test-output", "e2e"))
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, data_dir):
        self.binary = binary
        self.data_dir = str(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "server", "--port", str(self.port), "--data", self.data_dir],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
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

    def stop(self):
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def assert_clean_exit(self, rc):
        log = self.read_log()
        assert "Sanitizer" not in log and "runtime error" not in log, log[-20000:]
        assert rc == 0, f"server exited with {rc}:\n{log[-20000:]}"


def run_ui(url, scenario, args=None, timeout=180):
    """Runs one scenario of ui.mjs in Chromium; returns its JSON result or
    fails the test with the driver's output."""
    os.makedirs(OUT, exist_ok=True)
    cmd = ["node", os.path.join(HERE, "ui.mjs"), url, OUT, scenario, json.dumps(args or {})]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        pytest.fail(f"{scenario} failed (exit {p.returncode}):\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}")
    last = [line for line in p.stdout.splitlines() if line.startswith("{")]
    assert last, p.stdout
    return json.loads(last[-1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from seed import seed_demo

    srv = Server(BIN, tmp_path_factory.mktemp("capstan-e2e")).start()
    try:
        data = seed_demo(srv.url)
        yield srv, data
    finally:
        rc = srv.stop()
    srv.assert_clean_exit(rc)
