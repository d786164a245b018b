"""Browser tests: the real capstan server, data from the real mlflow client,
Debian's Chromium driven by playwright-core (tests/e2e/ui.mjs).

The server is started by tests/capstan_process.py, as in tests/integration
(free port, temporary data directory, SIGTERM at the end, and it must exit
cleanly with no sanitizer report); CAPSTAN_BIN picks the binary (the ASan build in
`make test-e2e`). Screenshots go to build/test-output/e2e/ (E2E_OUT)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("CAPSTAN_BIN", os.path.join(ROOT, "build", "asan", "capstan"))
OUT = os.environ.get("E2E_OUT", os.path.join(ROOT, "build", "test-output", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from capstan_process import CapstanServer  # noqa: E402
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")


class Server(CapstanServer):
    """`capstan server`; a minute to start, for the 100,000-run database."""

    def __init__(self, binary, data_dir, extra_args=()):
        super().__init__(binary, data_dir, extra_args, start_timeout=60)


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
