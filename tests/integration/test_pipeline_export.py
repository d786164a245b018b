"""The Argo Workflows export (pipeline/argo.c, issue 18 item 7).
tests/pipeline/export_main exports a three-stage pipeline built in C; the
YAML is parsed and validated by hera's Argo models (generated from Argo's
own OpenAPI schema, pydantic v2), and must survive the round trip unchanged:
pydantic drops a field it does not know, so any misspelt or misplaced key
shows as a difference. Then the structure: tasks, dependencies, artifacts
wired from the producing task, retryStrategy, resources; and refusals."""
import os
import subprocess

import pytest
import yaml

from conftest import ROOT

DRIVER = os.environ.get("PIPELINE_DRIVER",
                        os.path.join(ROOT, "build", "asan", "tests", "pipeline", "export_main"))
models = pytest.importorskip("hera.workflows.models")


def export(*args):
    if not os.path.exists(DRIVER):
        pytest.fail(f"{DRIVER} is missing: make build/asan/tests/pipeline/export_main")
    return subprocess.run([DRIVER, "argo", *args], capture_output=True, text=True, timeout=60)


def accepted(cls, doc):
    m = cls.model_validate(doc)
    back = m.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert back == doc
    return m


def by_name(items, name):
    return next(i for i in items if i["name"] == name)


def test_workflow_is_accepted_by_argo_models():
    p = export()
    assert p.returncode == 0, p.stderr
    doc = yaml.safe_load(p.stdout)
    wf = accepted(models.Workflow, doc)
    assert wf.api_version == "argoproj.io/v1alpha1" and wf.kind == "Workflow"
    assert doc["metadata"] == {"generateName": "churn-"}
    spec = doc["spec"]
    assert spec["entrypoint"] == "main"
    assert [t["name"] for t in spec["templates"]] == ["main", "prepare", "train-lr0-1", "evaluate"]
    tasks = {t["name"]: t for t in by_name(spec["templates"], "main")["dag"]["tasks"]}
    assert tasks["prepare"].get("dependencies") is None
    assert tasks["train-lr0-1"]["dependencies"] == ["prepare"]
    assert tasks["evaluate"]["dependencies"] == ["prepare", "train-lr0-1"]
    # evaluate reads model.pkl and a file inside data/prepared: both come in
    assert tasks["evaluate"]["arguments"]["artifacts"] == [
        {"name": "prepare-data-prepared", "from": "{{tasks.prepare.outputs.artifacts.data-prepared}}"},
        {"name": "train-lr0-1-model-pkl", "from": "{{tasks.train-lr0-1.outputs.artifacts.model-pkl}}"},
    ]
    templates = {t["name"]: t for t in spec["templates"]}
    ev = templates["evaluate"]
    assert [a["path"] for a in ev["inputs"]["artifacts"]] == ["/repo/data/prepared", "/repo/model.pkl"]
    assert ev["outputs"]["artifacts"] == [{"name": "metrics-json", "path": "/repo/metrics.json",
                                          "s3": {"key": "capstan/{{workflow.name}}/evaluate/metrics-json.tgz"}}]
    # every input artifact a task passes is one its template declares, and
    # every "from" names an output artifact of a task it depends on
    for name, task in tasks.items():
        declared = {a["name"] for a in templates[name].get("inputs", {}).get("artifacts", [])}
        passed = task.get("arguments", {}).get("artifacts", [])
        assert {a["name"] for a in passed} == declared
        for a in passed:
            src, art = a["from"][len("{{tasks."):-2].split(".outputs.artifacts.")
            assert src in task["dependencies"]
            assert art in {o["name"] for o in templates[src]["outputs"]["artifacts"]}
    train = templates["train-lr0-1"]
    assert train["container"] == {
        "image": "python:3.12-slim", "command": ["sh", "-c"],
        "args": ["cd '/repo' && sh -c 'python train.py' && sh -c 'echo done'"],
        "env": [{"name": "SEED", "value": "1"}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
    assert train["retryStrategy"] == {"limit": 3, "retryPolicy": "Always",
                                      "backoff": {"duration": "2s", "factor": 2}}
    assert train["activeDeadlineSeconds"] == 600
    assert "retryStrategy" not in templates["prepare"]


@pytest.mark.parametrize("overlap,policy", [("forbid", "Forbid"), ("allow", "Allow"),
                                            ("replace", "Replace")])
def test_cron_workflow_is_accepted(overlap, policy):
    p = export("0 3 * * *", overlap)
    assert p.returncode == 0, p.stderr
    doc = yaml.safe_load(p.stdout)
    accepted(models.CronWorkflow, doc)
    assert doc["kind"] == "CronWorkflow" and doc["metadata"] == {"name": "churn"}
    assert doc["spec"]["schedules"] == ["0 3 * * *"]
    assert doc["spec"]["timezone"] == "Europe/Berlin"
    assert doc["spec"]["concurrencyPolicy"] == policy
    assert doc["spec"]["workflowSpec"]["entrypoint"] == "main"
    accepted(models.WorkflowSpec, doc["spec"]["workflowSpec"])


@pytest.mark.parametrize("args,says", [
    (("0 3 * * *", "queue"), "no Argo equivalent"),
    (("0 3 * * *", "sometimes"), "expected forbid, allow or replace"),
    (("0 3 * *",), "expected 5"),
    (("61 3 * * * *",), "6 fields"),
])
def test_bad_schedules_are_refused(args, says):
    p = export(*args)
    assert p.returncode == 1 and says in p.stderr and p.stdout == ""


DVC_YAML = """stages:
  prepare:
    cmd: python prep.py
    deps: [data/raw.csv, prep.py]
    outs: [data/prepared]
  train:
    foreach: [1, 2]
    do:
      cmd: python train.py --seed ${item}
      deps: [data/prepared]
      outs:
      - model-${item}.pkl
"""


def cli(*args):
    from conftest import BIN
    return subprocess.run([BIN, "pipeline", "export", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_exports_a_dvc_yaml(tmp_path):
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    out = tmp_path / "wf.yaml"
    p = cli("--format", "argo", "--image", "img:1", "--repo", str(tmp_path), "--name", "Churn",
            "-o", str(out))
    assert p.returncode == 0, p.stderr
    doc = yaml.safe_load(out.read_text())
    accepted(models.Workflow, doc)
    tasks = doc["spec"]["templates"][0]["dag"]["tasks"]
    assert [t["name"] for t in tasks] == ["prepare", "train-1", "train-2"]
    assert all(t["dependencies"] == ["prepare"] for t in tasks[1:])
    p = cli("--image", "i", "--repo", str(tmp_path), "--cron", "0 3 * * *", "--timezone",
            "Europe/Berlin", "--overlap", "replace", "--starting-deadline", "120")
    assert p.returncode == 0, p.stderr
    cron = yaml.safe_load(p.stdout)
    accepted(models.CronWorkflow, cron)
    assert cron["spec"]["startingDeadlineSeconds"] == 120


@pytest.mark.parametrize("args,code,says", [
    (("--format", "tekton"), 2, "supported: argo"),
    ((), 1, "--image"),
    (("--image", "i", "--cron", "0 3 * * *", "--overlap", "queue"), 1, "no Argo equivalent"),
    (("--image", "i", "--starting-deadline", "soon"), 2, "--starting-deadline"),
])
def test_cli_refusals(tmp_path, args, code, says):
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    out = tmp_path / "wf.yaml"
    p = cli("--repo", str(tmp_path), "-o", str(out), *args)
    assert p.returncode == code and says in p.stderr, p.stderr
    assert not out.exists()
