"""The Pipelines pages in Chromium: a real dvc.yaml (a fork and a join) run
twice by `capstan pipeline run --tracking-uri` into the running server, the
second time with one branch failing under --keep-going; the list shows both
runs newest first with their states and stage counts, and the second run's
page draws the DAG: every stage by state with its duration, every edge, by
levels, each stage linking to its run and back (issue 18, item 4)."""
import json
import os
import subprocess

import pytest
import requests

from conftest import BIN, ROOT, Server, run_ui

DVC = os.environ.get("CAPSTAN_DVC", os.path.join(ROOT, ".venv-dvc", "bin", "dvc"))
SEARCH = "/api/2.0/mlflow/runs/search"

# prepare -> (left, right) -> join; right fails while flag.txt is not "ok".
DVC_YAML = """stages:
  prepare:
    cmd: echo raw > raw.txt
    outs: [raw.txt]
  left:
    cmd: cat raw.txt side.txt > left.txt
    deps: [raw.txt, side.txt]
    outs: [left.txt]
  right:
    cmd: grep -q ok flag.txt && cat raw.txt > right.txt
    deps: [raw.txt, flag.txt]
    outs: [right.txt]
  join:
    cmd: cat left.txt right.txt > joined.txt
    deps: [left.txt, right.txt]
    outs: [joined.txt]
"""
AFTER = {"prepare": [], "left": ["prepare"], "right": ["prepare"], "join": ["left", "right"]}


def pipeline_run(srv, repo, *extra):
    return subprocess.run([BIN, "pipeline", "run", "--repo", str(repo), "--tracking-uri", srv.url,
                           "--experiment", "e2e-pipelines", *extra],
                          capture_output=True, text=True, timeout=300)


def search(srv, exp, flt):
    r = requests.post(srv.url + SEARCH, json={"experiment_ids": [exp], "filter": flt, "max_results": 100,
                                              "order_by": ["attributes.start_time DESC"]}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json().get("runs", [])


def tags(run):
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    if not os.access(DVC, os.X_OK):
        msg = f"{DVC} is missing: scripts/bootstrap --python makes .venv-dvc (or set CAPSTAN_DVC)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI runs scripts/bootstrap: a missing dvc is a broken setup
        pytest.skip(msg)
    tmp = tmp_path_factory.mktemp("capstan-e2e-pipelines")
    repo = tmp / "repo"
    repo.mkdir()
    p = subprocess.run([DVC, "init", "--no-scm"], cwd=repo, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert p.returncode == 0, p.stdout + p.stderr
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "side.txt").write_text("a\n")
    (repo / "flag.txt").write_text("ok\n")
    srv = Server(BIN, tmp / "server").start()
    try:
        first = pipeline_run(srv, repo)
        assert first.returncode == 0, first.stdout + first.stderr
        # Second run: prepare up to date, left reruns (side.txt changed),
        # right fails, join cannot run.
        (repo / "side.txt").write_text("b\n")
        (repo / "flag.txt").write_text("bad\n")
        second = pipeline_run(srv, repo, "--keep-going")
        assert second.returncode == 1, second.stdout + second.stderr
        # The failed run exits 1 either way: a sanitizer report must not hide in it.
        assert "Sanitizer" not in first.stderr + second.stderr, second.stderr
        exp = requests.get(srv.url + "/api/2.0/mlflow/experiments/get-by-name",
                           params={"experiment_name": "e2e-pipelines"}, timeout=60).json()["experiment"]["experiment_id"]
        runs = search(srv, exp, "tags.`capstan.pipeline` LIKE '%'")
        stages = {r["info"]["run_id"]: {tags(s)["capstan.stage"]: s for s in
                                        search(srv, exp, f"tags.mlflow.parentRunId = '{r['info']['run_id']}'")}
                  for r in runs}
        yield srv, runs, stages
    finally:
        rc = srv.stop()
    srv.assert_clean_exit(rc)


def test_pipeline_pages(pipelines):
    srv, runs, stages = pipelines
    # What was recorded, so the page is checked against the real run.
    assert [r["info"]["status"] for r in runs] == ["FAILED", "FINISHED"]
    newest, oldest = (r["info"]["run_id"] for r in runs)
    dag = json.loads(tags(runs[0])["capstan.pipeline.dag"])
    assert {s["name"]: s["after"] for s in dag["stages"]} == AFTER
    want = {"prepare": "skipped", "left": "done", "right": "failed", "join": "cancelled"}
    got = {name: tags(s)["capstan.stage.state"] for name, s in stages[newest].items()}
    assert got == want
    assert {name: json.loads(tags(s)["capstan.stage.after"]) for name, s in stages[newest].items()} == AFTER
    assert {tags(s)["capstan.stage.state"] for s in stages[oldest].values()} == {"done"}
    args = {
        "runs": [newest, oldest],
        "status": ["FAILED", "FINISHED"],
        "counts": [sorted(f"1 {s}" for s in want.values()), ["4 done"]],
        "states": want,
        "edges": sorted(f"{a}>{b}" for b, ups in AFTER.items() for a in ups),
        "stage_runs": {name: s["info"]["run_id"] for name, s in stages[newest].items()},
        "seconds": {name: float(tags(s)["capstan.stage.seconds"]) for name, s in stages[newest].items()},
        "exit_code": tags(stages[newest]["right"])["capstan.stage.exit_code"],
    }
    out = run_ui(srv.url, "pipelines", args)
    assert out["levels"] == [["prepare"], ["left", "right"], ["join"]]
