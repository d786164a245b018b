"""`capstan pipeline run|status` against DVC 3.67.1 on the same repositories:
after each edit (a dependency, a parameter, the command, a deleted output, a
lost cache object) `dvc status --json` and `capstan pipeline status --json`
say the same, and `dvc repro --dry` and `capstan pipeline run --dry` pick the
same stages; after Capstan runs, `dvc status` is clean, and the other way
round. Then what DVC does not do: parallel stages (proved by stages that wait
for each other, not by timing), -j 1 serial, the run cache, retries, timeouts,
stop on failure or --keep-going, a killed run recording nothing, and the
tracking of a run as MLflow runs that a stage's own mlflow client logs into.

DVC runs from .venv-dvc as a subprocess, each repository in tmp_path after
`dvc init --no-scm`."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import BIN
from test_dvc_formats import DVC, dvc  # noqa: F401 (the fixture: fails in CI without DVC)

# A stage that waits for a file gives up after this long, so that a broken
# scheduler fails the test instead of hanging it (not a timing assumption:
# the stages it waits for start at once when the scheduler is right).
WAIT_S = 120

PIPELINE = """
stages:
  prep:
    cmd: mkdir -p out && cp data.csv out/rows.csv && echo ${seed} > out/seed.txt
    deps:
    - data.csv
    params:
    - seed
    outs:
    - out
  feat:
    cmd:
    - cat out/rows.csv out/seed.txt > feat.txt
    - echo feat >> feat.txt
    deps:
    - out
    outs:
    - feat.txt
  train:
    cmd: "cat feat.txt > model.txt && echo '{\\"acc\\": 0.5, \\"nested\\": {\\"f1\\": 0.25}}' > metrics.json"
    deps:
    - feat.txt
    params:
    - train.lr
    outs:
    - model.txt
    metrics:
    - metrics.json:
        cache: false
  other:
    cmd: cp other.txt other.out
    deps:
    - other.txt
    outs:
    - other.out
"""


def env_for(repo):
    return dict(os.environ, DVC_NO_ANALYTICS="1",
                DVC_SITE_CACHE_DIR=str(repo / ".." / "dvc-site"),
                DVC_GLOBAL_CONFIG_DIR=str(repo / ".." / "dvc-global"),
                DVC_SYSTEM_CONFIG_DIR=str(repo / ".." / "dvc-system"))


def dvc_run(repo, *args, ok=True):
    p = subprocess.run([DVC, *args], cwd=repo, env=env_for(repo), capture_output=True,
                       text=True)
    if ok:
        assert p.returncode == 0, f"dvc {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def cap(repo, *args, ok=True, **kw):
    p = subprocess.run([BIN, "pipeline", *args, "--repo", str(repo)], capture_output=True,
                       text=True, **kw)
    if ok:
        assert p.returncode == 0, f"capstan pipeline {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def repo(tmp_path, dvc):  # noqa: F811
    r = tmp_path / "repo"
    r.mkdir()
    dvc_run(r, "init", "--no-scm", "-q")
    write(r / "dvc.yaml", PIPELINE)
    write(r / "params.yaml", "seed: 7\ntrain:\n  lr: 0.1\n  depth: 3\n")
    write(r / "data.csv", "a,b\n1,2\n3,4\n")
    write(r / "other.txt", "other\n")
    return r


def status_both(repo):
    d = json.loads(dvc_run(repo, "status", "--json").stdout)
    c = json.loads(cap(repo, "status", "--json").stdout)
    return d, c


def normalise(status):
    """Stage -> sorted JSON texts of its reasons (DVC orders them as we do,
    but the comparison should not hang on it)."""
    return {k: sorted(json.dumps(x, sort_keys=True) for x in v) for k, v in status.items()}


def dry_stages(text, word):
    """The stage names of lines saying word, after Capstan's "[  0.01s] " time."""
    lines = (re.sub(r"^\[\s*[0-9.]+s\] ", "", line) for line in text.splitlines())
    return [line.split("'")[1] for line in lines if line.startswith(word)]


def check_agree(repo, what):
    d, c = status_both(repo)
    assert normalise(c) == normalise(d), f"{what}: dvc {d} capstan {c}"
    p = dvc_run(repo, "repro", "--dry", ok=False)
    c = cap(repo, "run", "--dry", "-j", "1", ok=False)
    if p.returncode != 0:  # a dependency or parameter is missing: both refuse
        assert c.returncode == 1 and "does not exist" in c.stdout, f"{what}: {c.stdout}{c.stderr}"
        return d
    assert c.returncode == 0, f"{what}: {c.stdout}{c.stderr}"
    cap_out = c.stdout
    dvc_dry = dry_stages(p.stdout, "Running stage")
    cap_dry = dry_stages(cap_out, "Running stage")
    assert sorted(cap_dry) == sorted(dvc_dry), f"{what}: dvc would run {dvc_dry}, we {cap_out}"
    return d


def test_status_and_decisions_agree_with_dvc_through_edits(repo):
    check_agree(repo, "never run")
    cap(repo, "run")
    assert dvc_run(repo, "status", "--json").stdout.strip() == "{}"
    assert check_agree(repo, "after our run") == {}
    edits = [
        ("a dependency changed", lambda: write(repo / "data.csv", "a,b\n9,9\n")),
        ("a parameter changed", lambda: write(repo / "params.yaml",
                                              "seed: 8\ntrain:\n  lr: 0.1\n  depth: 3\n")),
        ("an unused parameter changed", lambda: write(repo / "params.yaml",
                                                      "seed: 7\ntrain:\n  lr: 0.1\n  depth: 4\n")),
        ("a parameter went missing", lambda: write(repo / "params.yaml",
                                                   "seed: 7\ntrain:\n  depth: 4\n")),
        ("the command changed", lambda: write(
            repo / "dvc.yaml", PIPELINE.replace("cp other.txt other.out", "cp  other.txt other.out"))),
        ("an output was deleted", lambda: (repo / "model.txt").unlink()),
        ("a directory output was edited", lambda: write(repo / "out" / "extra.txt", "x\n")),
    ]
    for what, edit in edits:  # from up to date each time
        write(repo / "dvc.yaml", PIPELINE)
        write(repo / "params.yaml", "seed: 7\ntrain:\n  lr: 0.1\n  depth: 3\n")
        cap(repo, "run")
        assert check_agree(repo, "before: " + what) == {}
        edit()
        d = check_agree(repo, what)
        assert bool(d) != what.startswith("an unused"), f"{what}: {d}"


def test_lost_cache_object_is_not_in_cache_for_both(repo):
    cap(repo, "run")
    lock = (repo / "dvc.lock").read_text()
    md5 = [line.split()[-1] for line in lock.splitlines() if "md5:" in line]
    objects = repo / ".dvc" / "cache" / "files" / "md5"
    model_md5 = None
    for line_no, line in enumerate(lock.splitlines()):
        if line.strip() == "- path: model.txt":
            model_md5 = lock.splitlines()[line_no + 2].split()[-1]
    assert model_md5 in md5
    obj = objects / model_md5[:2] / model_md5[2:]
    os.chmod(obj, 0o644)
    obj.unlink()
    d = check_agree(repo, "lost object")
    assert d["train"] == [{"changed outs": {"model.txt": "not in cache"}}]


def test_each_side_accepts_what_the_other_wrote(repo):
    dvc_run(repo, "repro", "-q")
    out = cap(repo, "run").stdout
    assert "0 ran, 4 skipped" in out, out
    write(repo / "other.txt", "changed\n")
    out = cap(repo, "run").stdout
    assert "1 ran, 3 skipped" in out, out
    assert dvc_run(repo, "status", "--json").stdout.strip() == "{}"
    assert (repo / "other.out").read_text() == "changed\n"
    # The lock names what DVC's does, and DVC can check our objects out.
    for f in ("model.txt", "feat.txt"):
        (repo / f).unlink()
    dvc_run(repo, "checkout", "-q")
    assert (repo / "model.txt").read_text().startswith("a,b")
    assert dvc_run(repo, "status", "--json").stdout.strip() == "{}"


def test_run_cache_restores_outputs_of_a_run_seen_before(repo):
    cap(repo, "run")
    first = (repo / "out" / "rows.csv").read_text()
    write(repo / "data.csv", "a,b\n5,6\n")
    out = cap(repo, "run").stdout
    assert "Running stage 'prep'" in out
    write(repo / "data.csv", "a,b\n1,2\n3,4\n")
    out = cap(repo, "run").stdout
    assert "Stage 'prep' is cached" in out, out
    assert (repo / "out" / "rows.csv").read_text() == first
    assert dvc_run(repo, "status", "--json").stdout.strip() == "{}"
    # --no-run-cache runs it instead.
    write(repo / "data.csv", "a,b\n5,6\n")
    cap(repo, "run")
    write(repo / "data.csv", "a,b\n1,2\n3,4\n")
    assert "Running stage 'prep'" in cap(repo, "run", "--no-run-cache").stdout


def barrier_stage(name, others, deps=None):
    """A stage that marks itself started and waits until every stage in
    others has started too: it can only finish if they all run at once."""
    waits = " && ".join(f"test -e started/{o}" for o in others)
    cmd = (f"mkdir -p started && touch started/{name} && i=0; "
           f"until {waits}; do i=$((i+1)); [ $i -gt {WAIT_S * 20} ] && exit 9; sleep 0.05; done; "
           f"echo {name} > {name}.out")
    return {"cmd": cmd, "deps": deps or [], "outs": [f"{name}.out"]}


def write_stages(repo, stages):
    import yaml  # PyYAML comes with the mlflow client
    write(repo / "dvc.yaml", yaml.safe_dump({"stages": stages}, sort_keys=False))


def test_independent_stages_run_at_once_and_j1_runs_them_one_by_one(repo):
    names = ["a", "b", "c", "d"]
    write_stages(repo, {n: barrier_stage(n, names) for n in names})
    out = cap(repo, "run", "-j", "4", timeout=WAIT_S * 2).stdout
    assert "4 ran" in out, out
    # Serial: a stage finds no other one running.
    serial = {}
    for n in names:
        serial[n] = {"cmd": f"test ! -e running && touch running && sleep 0.1 && rm running && "
                            f"echo {n} > {n}.txt", "outs": [f"{n}.txt"]}
    write_stages(repo, serial)
    out = cap(repo, "run", "-j", "1").stdout
    assert "4 ran" in out, out
    assert dvc_run(repo, "status", "--json").stdout.strip() == "{}"


def test_a_failure_stops_the_rest_and_records_nothing(repo):
    stages = {
        "slow": {"cmd": f"touch slow.started; sleep {WAIT_S}; echo x > slow.out",
                 "outs": ["slow.out"]},
        "bad": {"cmd": "until test -e slow.started; do sleep 0.05; done; echo half > bad.out; "
                       "exit 3", "outs": ["bad.out"]},
        "after": {"cmd": "cp bad.out after.out", "deps": ["bad.out"], "outs": ["after.out"]},
    }
    write_stages(repo, stages)
    t0 = time.monotonic()
    p = cap(repo, "run", "-j", "2", ok=False, timeout=WAIT_S)
    assert p.returncode == 1, p.stdout + p.stderr
    assert time.monotonic() - t0 < WAIT_S - 10, "the slow stage was not stopped"
    assert "Stage 'bad' failed" in p.stdout and "exited with status 3" in p.stdout
    assert "Stage 'slow' cancelled" in p.stdout and "Stage 'after' cancelled" in p.stdout
    assert "Failed: 'bad'" in p.stderr
    assert not (repo / "dvc.lock").exists() or "bad" not in (repo / "dvc.lock").read_text()
    # --keep-going: the independent stage finishes, the failed branch stops.
    stages["slow"]["cmd"] = "echo x > slow.out"
    write_stages(repo, stages)
    p = cap(repo, "run", "--keep-going", ok=False)
    assert p.returncode == 1
    assert "Stage 'slow' done" in p.stdout and "Stage 'after' cancelled" in p.stdout
    assert "slow:" in (repo / "dvc.lock").read_text()
    assert "bad:" not in (repo / "dvc.lock").read_text()


def test_retries_then_success_and_a_timeout(repo):
    write_stages(repo, {
        "flaky": {"cmd": "n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; "
                         "[ $n -ge 2 ] && echo ok > flaky.out", "outs": ["flaky.out"]},
        "stuck": {"cmd": f"sleep {WAIT_S}; echo late > stuck.out", "outs": ["stuck.out"]},
    })
    write(repo / "capstan.yaml", "stages:\n  flaky: {retries: 2, backoff: 0.01}\n"
                                 "  stuck: {timeout: 0.5}\n")
    p = cap(repo, "run", "flaky")
    assert p.stdout.count("retrying") == 2 and "Stage 'flaky' done" in p.stdout, p.stdout
    assert (repo / "n").read_text().strip() == "3"
    p = cap(repo, "run", "stuck", ok=False, timeout=WAIT_S)
    assert p.returncode == 1
    assert "timed out after 0.5 s" in p.stdout, p.stdout
    assert "stuck:" not in (repo / "dvc.lock").read_text()


def test_a_killed_run_kills_its_stages_and_records_nothing(repo):
    write_stages(repo, {"long": {
        "cmd": f"echo $$ > pid; echo partial > long.out; sleep {WAIT_S}; echo done >> long.out",
        "outs": ["long.out"]}})
    proc = subprocess.Popen([BIN, "pipeline", "run", "--repo", str(repo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid_file = repo / "pid"
    for _ in range(WAIT_S * 20):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.05)
    stage_pid = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 1, out + err
    assert "Interrupted" in err and "Stage 'long' cancelled" in out
    assert not (repo / "dvc.lock").exists()
    # The stage's shell is gone (or a zombie its new parent has not reaped).
    try:
        state = open(f"/proc/{stage_pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("gone", "Z"), state


def test_bad_input_is_refused_clearly(repo):
    p = cap(repo, "run", "nosuch", ok=False)
    assert p.returncode == 1 and "No stage 'nosuch'" in p.stderr
    p = cap(repo, "run", "-j", "0", ok=False)
    assert p.returncode == 2 and "-j '0'" in p.stderr
    (repo / "data.csv").unlink()
    p = cap(repo, "run", "prep", ok=False)
    assert p.returncode == 1 and "dependency 'data.csv' does not exist" in p.stdout + p.stderr
    # Not a DVC repository.
    bare = repo.parent / "bare"
    bare.mkdir()
    write(bare / "dvc.yaml", "stages:\n  s:\n    cmd: echo hi\n")
    p = cap(bare, "status", ok=False)
    assert p.returncode == 1 and "not in a DVC repository" in p.stderr


def test_a_tracked_run_is_mlflow_runs_that_stages_log_into(repo, server, mlflow_client):
    py = sys.executable
    write_stages(repo, {
        "prep": {"cmd": "cp data.csv rows.csv", "deps": ["data.csv"], "outs": ["rows.csv"]},
        "fit": {"cmd": f"{py} register.py && echo m > model.txt",
                "deps": ["rows.csv"], "params": ["train.lr"], "outs": ["model.txt"]},
    })
    # The stage's own mlflow client logs into its run and registers a model from it.
    write(repo / "register.py", textwrap.dedent("""\
        import os, mlflow
        run_id = os.environ["MLFLOW_RUN_ID"]  # mlflow takes it out when it starts the run
        mlflow.log_metric("from_stage", 3.0)
        assert mlflow.active_run().info.run_id == run_id
        c = mlflow.MlflowClient()
        c.create_registered_model("pipe-model")
        c.create_model_version("pipe-model", f"runs:/{run_id}/model", run_id=run_id)
        """))
    p = cap(repo, "run", "--tracking-uri", server.url, "--experiment", "pipes")
    exp = mlflow_client.get_experiment_by_name("pipes")
    runs = mlflow_client.search_runs([exp.experiment_id])
    parent = [r for r in runs if "capstan.pipeline" in r.data.tags]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED", p.stdout
    stages = {r.data.tags.get("capstan.stage"): r for r in runs
              if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id}
    assert set(stages) == {"prep", "fit"}
    fit = stages["fit"]
    assert fit.data.metrics["from_stage"] == 3.0  # the stage's own mlflow call
    assert fit.data.params["train.lr"] == "0.1"
    assert fit.data.tags["capstan.stage.state"] == "done"
    assert json.loads(fit.data.tags["capstan.stage.outs"])[0]["path"] == "model.txt"
    arts = [a.path for a in mlflow_client.list_artifacts(fit.info.run_id, "outputs")]
    assert arts == ["outputs/model.txt"]
    got = mlflow_client.download_artifacts(fit.info.run_id, "outputs/model.txt", str(repo.parent))
    assert open(got).read() == "m\n"
    inputs = mlflow_client.get_run(fit.info.run_id).inputs.dataset_inputs
    assert [d.dataset.name for d in inputs] == ["rows.csv"]
    # The model version's lineage reaches the pipeline's run through the stage's.
    graph = server.api("GET", "/api/2.0/capstan/lineage",
                       params={"name": "pipe-model", "version": "1"}).json()
    runs_in_graph = {n.get("run_id") for n in graph["nodes"]}
    assert {fit.info.run_id, parent[0].info.run_id} <= runs_in_graph, graph
    # And its OpenLineage events went to the same server.
    import urllib.request
    url = f"{server.url}/api/2.0/capstan/lineage/events?job={repo.name}.fit"
    events = json.load(urllib.request.urlopen(url))["events"]
    assert [e["event"]["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[1]["event"]["outputs"][0]["name"] == "model.txt"


def test_an_empty_directory_output_is_recorded_as_dvc_records_it(repo):
    write_stages(repo, {"s": {"cmd": "mkdir -p empty", "outs": ["empty"]}})
    cap(repo, "run")
    lock = (repo / "dvc.lock").read_text()
    assert "md5: d751713988987e9331980363e24189ce.dir" in lock and "nfiles: 0" in lock, lock
    assert dvc_run(repo, "status", "--json").stdout.strip() == "{}"
    (repo / "empty").rmdir()
    dvc_run(repo, "checkout", "-q")
    assert (repo / "empty").is_dir()
    assert "0 ran, 1 skipped" in cap(repo, "run").stdout
