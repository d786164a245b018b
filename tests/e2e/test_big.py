"""100,000 runs: the runs table's first page renders and a sort by a metric
round-trips through the server (bigdata.py says how the runs get there)."""
import os

import pytest
import requests

from bigdata import SmallGenerator, load_capstan_sqlite
from conftest import BIN, Server, run_ui

NRUNS = int(os.environ.get("E2E_BIG_RUNS", "100000"))
# The sanitizer build is ~3x slower; the page still has to appear, so give it room.
BIG_BIN = os.environ.get("CAPSTAN_BIG_BIN", BIN)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("capstan-big")
    srv = Server(BIG_BIN, data_dir).start()
    exp = requests.post(srv.url + "/api/2.0/mlflow/experiments/create", json={"name": "big"}).json()["experiment_id"]
    srv.assert_clean_exit(srv.stop())
    gen = SmallGenerator(NRUNS)
    load_capstan_sqlite(os.path.join(str(data_dir), "capstan.db"), exp, gen)
    srv = Server(BIG_BIN, data_dir).start()
    try:
        yield srv, exp, gen
    finally:
        rc = srv.stop()
    srv.assert_clean_exit(rc)


def test_hundred_thousand_runs(big):
    srv, exp, gen = big
    # The server really has them: the last page token chain is not walked,
    # but a filter that matches one run by name finds the last one.
    r = requests.post(srv.url + "/api/2.0/mlflow/runs/search",
                      json={"experiment_ids": [exp], "filter": f"attributes.run_name = 'run-{NRUNS - 1:06d}'"}).json()
    assert len(r["runs"]) == 1
    out = run_ui(srv.url, "big", {"experiment_id": exp, "newest": f"run-{NRUNS - 1:06d}",
                                  "lowest": gen.lowest_m2(10)}, timeout=300)
    print(f"100k runs: first page {out['firstRenderMs']} ms, sorted page {out['sortedMs']} ms")
