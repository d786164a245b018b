"""The feedback loop's numbers against the Python peers. Each C part is driven
by build/asan/tests/feedback/<name>_main (built by `make test-feedback` from
tests/feedback/<name>_main.c): the test writes the peer's input to the
driver's stdin and compares the JSON it prints with the peer's answer."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("FEEDBACK_BIN_DIR",
                         os.path.join(ROOT, "build", "asan", "tests", "feedback"))


def run_driver(name, args=(), stdin=""):
    """Runs driver `name` with `args` and `stdin` (text); returns its JSON.
    A non-zero exit fails the test with the driver's stderr."""
    path = os.path.join(BIN_DIR, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run `make test-feedback`")
    p = subprocess.run([path, *args], input=stdin, capture_output=True, text=True)
    assert p.returncode == 0, f"{name} {args} exited {p.returncode}: {p.stderr}"
    return json.loads(p.stdout)


def run_driver_raw(name, args=(), stdin=""):
    """Runs driver `name`; returns (exit status, stdout, stderr) for the
    tests of its refusals."""
    path = os.path.join(BIN_DIR, name)
    p = subprocess.run([path, *args], input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def venv_python(venv):
    """The interpreter of one of scripts/bootstrap's venvs (.venv-nannyml)."""
    py = os.path.join(ROOT, venv, "bin", "python")
    if not os.path.exists(py):
        pytest.fail(f"{py} is missing: run scripts/bootstrap")
    return py
