"""conftest.py - shared fixtures for the libcapstan-infer Python tests: the
model zoo is generated once per session into a temporary directory."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(params=["avx512", "avx2", "portable"])
def isa(request):
    """runs the test with each kernel level forced in turn (infer_set_isa),
    so that a level this machine would never pick is still tested; levels
    the CPU lacks are skipped by name"""
    import capi
    if request.param not in capi.cpu_isas():
        pytest.skip(f"this CPU cannot run the {request.param} kernels")
    was = capi.isa()
    assert capi.set_isa(request.param) == request.param
    yield request.param
    capi.set_isa(was)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    import zoo as z
    d = tmp_path_factory.mktemp("zoo")
    return {name: (path, feeds) for name, path, feeds in z.all_models(str(d))}


def pytest_terminal_summary(terminalreporter):
    mod = sys.modules.get("test_backend")
    if mod and mod.RESULTS:
        text = mod.report()
        terminalreporter.write_line("ONNX backend node tests (libcapstan-infer):")
        for line in text.splitlines():
            terminalreporter.write_line(line)
        out = os.path.join(os.path.dirname(__file__), "..", "..", "build", "infer-backend-report.txt")
        try:
            with open(out, "w") as f:
                f.write(text + "\n")
        except OSError:
            pass
