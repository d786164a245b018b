"""The Monitoring view of a deployment in Chromium: a server whose live
monitor closes 1 s and 2 s windows 200 ms after their end, a deployment
with a baseline, an alert rule and traffic whose f0 drifts (seed.py,
seed_monitoring), and one without a baseline. The page is checked against
the windows and alerts APIs' own answers."""
import pytest

from conftest import BIN, Server, run_ui

ARGS = ["--monitor-windows", "1,2", "--monitor-grace-ms", "200", "--monitor-poll-ms", "50"]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    from seed import seed_monitoring

    srv = Server(BIN, tmp_path_factory.mktemp("capstan-e2e-monitor"), ARGS).start()
    try:
        yield srv, seed_monitoring(srv.url)
    finally:
        rc = srv.stop()
    srv.assert_clean_exit(rc)


def test_monitoring_view(monitored):
    srv, data = monitored
    assert len(data["windows"]) >= 2 and data["widths"] == [1, 2], data["widths"]
    assert data["events"] and data["events"][0]["state"] == "firing"
    out = run_ui(srv.url, "monitoring", {**data, "allowStatus": [404]})
    assert out["windows"] == len(data["windows"]) and out["charts"] == 3
