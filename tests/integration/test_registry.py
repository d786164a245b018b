"""The model registry through the unmodified mlflow client (3.x)."""
import os

import pytest

import mlflow
from mlflow.exceptions import MlflowException

from conftest import ARTIFACTS
from test_mlflow_client import _onnx_model


@pytest.fixture(scope="module")
def logged(mlflow_client):
    """Two ONNX models logged by one run, with a dataset input and git tags."""
    import pandas as pd

    mlflow.set_experiment("registry")
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    ds = mlflow.data.from_pandas(frame, source="s3://bucket/churn.csv", name="churn")
    with mlflow.start_run(run_name="trainer") as r:
        mlflow.log_param("depth", "6")
        mlflow.log_metric("auc", 0.91)
        mlflow.set_tags({"mlflow.source.git.commit": "abc123", "mlflow.source.git.branch": "main",
                         "mlflow.source.name": "train.py"})
        mlflow.log_input(ds, context="training")
        first = mlflow.onnx.log_model(_onnx_model(), name="m1")
        second = mlflow.onnx.log_model(_onnx_model(), name="m2")
    return r.info.run_id, first, second, ds.digest


def test_register_and_load_by_version_and_alias(mlflow_client, logged, tmp_path):
    run_id, first, second, _ = logged
    v1 = mlflow.register_model(first.model_uri, "churn")
    v2 = mlflow.register_model(second.model_uri, "churn")
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.status == "READY" and v1.run_id == run_id
    mlflow_client.set_registered_model_alias("churn", "champion", "2")
    assert mlflow_client.get_model_version_by_alias("churn", "champion").version == "2"
    want = _onnx_model().SerializeToString()
    assert mlflow.onnx.load_model("models:/churn@champion").SerializeToString() == want
    assert mlflow.onnx.load_model("models:/churn/1").SerializeToString() == want
    assert mlflow_client.get_registered_model("churn").aliases == {"champion": "2"}
    mlflow_client.delete_registered_model_alias("churn", "champion")
    with pytest.raises(MlflowException) as e:
        mlflow_client.get_model_version_by_alias("churn", "champion")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_model_with_registered_name(mlflow_client):
    mlflow.set_experiment("registry-direct")
    with mlflow.start_run():
        info = mlflow.onnx.log_model(_onnx_model(), name="model", registered_model_name="direct")
    assert str(info.registered_model_version) == "1"
    mv = mlflow_client.get_model_version("direct", "1")
    assert mv.status == "READY"
    assert mv.source == f"models:/{info.model_id}"


def test_stages_and_latest_versions(mlflow_client, logged):
    _, first, second, _ = logged
    for _ in range(3):
        mlflow.register_model(first.model_uri, "staged")
    mlflow_client.transition_model_version_stage("staged", "1", "Production")
    mlflow_client.transition_model_version_stage("staged", "2", "Staging")
    mv = mlflow_client.transition_model_version_stage("staged", "3", "Production",
                                                      archive_existing_versions=True)
    assert mv.current_stage == "Production"
    assert mlflow_client.get_model_version("staged", "1").current_stage == "Archived"
    latest = {v.current_stage: v.version for v in mlflow_client.get_latest_versions("staged")}
    assert latest == {"Production": "3", "Staging": "2", "Archived": "1"}
    prod = mlflow_client.get_latest_versions("staged", stages=["Production"])
    assert [v.version for v in prod] == ["3"]
    with pytest.raises(MlflowException) as e:
        mlflow_client.transition_model_version_stage("staged", "1", "Heaven")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_rename_delete(mlflow_client, logged):
    _, first, _, _ = logged
    mlflow_client.create_registered_model("search-a", tags={"team": "risk"}, description="A")
    mlflow_client.create_registered_model("search-b")
    with pytest.raises(MlflowException) as e:
        mlflow_client.create_registered_model("search-a")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    names = [m.name for m in mlflow_client.search_registered_models(filter_string="name LIKE 'search-%'")]
    assert names == ["search-a", "search-b"]
    assert [m.name for m in mlflow_client.search_registered_models(filter_string="tags.team = 'risk'")] == ["search-a"]
    mlflow_client.create_model_version("search-b", first.model_uri,
                                       run_id=None, tags={"k": "v"})
    vs = mlflow_client.search_model_versions("name = 'search-b'")
    assert [(v.name, v.version, v.tags) for v in vs] == [("search-b", "1", {"k": "v"})]
    mlflow_client.rename_registered_model("search-b", "search-c")
    assert mlflow_client.get_model_version("search-c", "1").version == "1"
    with pytest.raises(MlflowException) as e:
        mlflow_client.get_registered_model("search-b")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    mlflow_client.update_registered_model("search-c", description="renamed")
    assert mlflow_client.get_registered_model("search-c").description == "renamed"
    mlflow_client.set_model_version_tag("search-c", "1", "t", "x")
    mlflow_client.delete_model_version("search-c", "1")
    with pytest.raises(MlflowException) as e:
        mlflow_client.get_model_version("search-c", "1")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    mlflow_client.delete_registered_model("search-c")
    assert "search-c" not in [m.name for m in mlflow_client.search_registered_models()]


# Refused as MLflow's server refuses them: local paths outside the artifact
# directory of a run the request names, and '..' in any percent-decoding.
UNSAFE_SOURCES = [
    "/etc/passwd",
    "file:///etc/passwd",
    "file:/etc",
    "../../etc",
    "mlflow-artifacts:/0/../../../etc",
    "mlflow-artifacts:/0/%2e%2e/%2e%2e/etc",
    "mlflow-artifacts:/0/%252e%252e/etc",
    "mlflow-artifacts://host:9000/models/..%2f..%2fartifacts",
    "mlflow-artifacts://host:9000/models/artifact%00",
    "runs:/0123456789abcdef0123456789abcdef/../../../etc",
    "models:/../etc",
    "https://host/api/2.0/mlflow-artifacts/artifacts/../../../",
    "s3:/my_bucket/models/path/./other",
    "s3://bucket",
]

# Accepted as MLflow accepts them, and recorded, but never read: Capstan reads
# only its own artifact store (and these are not in it, or not plainly).
UNREAD_SOURCES = [
    "mlflow-artifacts://evil.example.com/0/x",
    "mlflow-artifacts:/0\\..\\..\\etc",
    "http://evil.example.com/model",
    "s3://other-bucket/model",
    "runs:/0123456789abcdef0123456789abcdef/model",
    "mlflow-artifacts:/models/foo///bar",
]


@pytest.mark.parametrize("source", UNSAFE_SOURCES)
def test_unsafe_sources_refused(server, mlflow_client, source):
    try:
        mlflow_client.create_registered_model("guarded")
    except MlflowException:
        pass
    r = server.api("POST", "/api/2.0/mlflow/model-versions/create",
                   json={"name": "guarded", "source": source})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Invalid model version source" in r.json()["message"]
    assert mlflow_client.search_model_versions("name = 'guarded'") == []


def _model_format(server, name, version):
    r = server.api("GET", f"/api/2.0/capstan/lineage?name={name}&version={version}")
    assert r.status_code == 200, r.text
    (node,) = [n for n in r.json()["nodes"] if n["type"] == "model_version"]
    return node["model_format"]


@pytest.mark.parametrize("source", UNREAD_SOURCES)
def test_other_sources_kept_but_never_read(server, mlflow_client, source):
    name = "kept-%d" % UNREAD_SOURCES.index(source)
    mlflow_client.create_registered_model(name)
    mv = mlflow_client.create_model_version(name, source)
    assert (mv.version, mv.status, mv.source) == ("1", "READY", source)
    assert mlflow_client.get_model_version_download_uri(name, "1") == source
    fmt = _model_format(server, name, "1")
    assert fmt["servable"] is False and fmt["reason"], fmt
    assert "file" not in fmt


def test_deploying_an_unread_source_says_why(server, mlflow_client):
    """A deployment of a version Capstan does not read fails with the reason
    recorded at registration, not a missing file."""
    import serving_helpers as sh

    mlflow_client.create_registered_model("s3-kept")
    mlflow_client.create_model_version("s3-kept", "s3://bucket/model")
    d = sh.create_deployment(server.url, {"name": "s3-kept", "model": "s3-kept/1"})
    d = sh.wait_for(lambda: (x := sh.get_deployment(server.url, "s3-kept"))["status"]["state"]
                    == "FAILED" and x, what="deployment FAILED")
    msg = d["status"]["message"]
    assert "cannot be served" in msg and "own artifact store" in msg and "s3://bucket/model" in msg


def test_source_of_an_unknown_run_is_kept(server, mlflow_client):
    """MLflow's own registry tests register runs:/run_id/model without such a run."""
    mlflow_client.create_registered_model("no-run")
    mv = mlflow_client.create_model_version("no-run", "runs:/run_id/model", "run_id",
                                            description="d")
    assert (mv.version, mv.status, mv.run_id, mv.description) == ("1", "READY", "run_id", "d")
    fmt = _model_format(server, "no-run", "1")
    assert fmt["servable"] is False and "run_id" in fmt["reason"]
    # a copy lies where its original does
    copy = mlflow_client.copy_model_version("models:/no-run/1", "no-run")
    assert copy.version == "2" and copy.source == "models:/no-run/1"
    assert mlflow_client.get_model_version_download_uri("no-run", "2") == "runs:/run_id/model"
    r = server.api("POST", "/api/2.0/mlflow/model-versions/create",
                   json={"name": "no-run", "source": "models:/no-run/9"})
    assert r.status_code == 404, r.text
    assert "Unable to fetch model" in r.json()["message"]
    r = server.api("POST", "/api/2.0/mlflow/model-versions/create",
                   json={"name": "no-run", "source": "file://123.456.789.123/path/to/source"})
    assert r.status_code == 400 and "is not a valid remote uri" in r.json()["message"], r.text


def test_local_source_inside_its_runs_artifact_directory(server, mlflow_client, tmp_path):
    """MLflow's rule: a local path is accepted only inside the local artifact
    directory of the run the request names; Capstan records it, unread."""
    exp = mlflow_client.create_experiment("local-artifacts", artifact_location=tmp_path.as_uri())
    run = mlflow_client.create_run(exp)
    uri = run.info.artifact_uri
    assert uri.startswith("file://")
    mlflow_client.create_registered_model("local")
    create = "/api/2.0/mlflow/model-versions/create"
    for source in (uri, f"{uri}/model", f"{uri}/model/..", uri[len("file://"):]):
        r = server.api("POST", create,
                       json={"name": "local", "source": source, "run_id": run.info.run_id})
        assert r.status_code == 200, (source, r.text)
    fmt = _model_format(server, "local", "2")
    assert fmt["servable"] is False and "outside Capstan's artifact store" in fmt["reason"]
    for body in ({"source": uri}, {"source": "/tmp", "run_id": run.info.run_id},
                 {"source": f"{uri}/../..", "run_id": run.info.run_id},
                 {"source": "file:///tmp", "run_id": run.info.run_id}):
        r = server.api("POST", create, json={"name": "local", **body})
        assert r.status_code == 400, (body, r.text)
        assert "To use a local path as a model version" in r.json()["message"]
    r = server.api("POST", create, json={"name": "local", "source": uri, "run_id": "0" * 32})
    assert r.status_code == 404, r.text
    assert len(mlflow_client.search_model_versions("name = 'local'")) == 4


@pytest.mark.skipif(ARTIFACTS == "s3", reason="a local path can lie inside a local artifact store only")
def test_local_source_inside_capstans_store_is_read(server, mlflow_client, tmp_path):
    """A local path that lies in Capstan's own artifact store is read like a
    mlflow-artifacts:/ source: the ONNX model there is inspected."""
    import onnx

    root = os.path.join(server.data_dir, "artifacts", "local-in-store")
    exp = mlflow_client.create_experiment("local-in-store", artifact_location="file://" + root)
    run = mlflow_client.create_run(exp)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    onnx.save(_onnx_model(), str(model_dir / "model.onnx"))
    mlflow_client.log_artifacts(run.info.run_id, str(model_dir), artifact_path="model")
    mlflow_client.create_registered_model("in-store")
    source = run.info.artifact_uri + "/model"
    mv = mlflow_client.create_model_version("in-store", source, run.info.run_id)
    assert (mv.status, mv.source) == ("READY", source)
    fmt = _model_format(server, "in-store", "1")
    assert fmt["format"] == "onnx" and fmt["servable"] is True, fmt
    assert fmt["storage_location"].startswith("mlflow-artifacts:/local-in-store/")


def test_version_from_logged_model_marks_the_model(mlflow_client):
    exp = mlflow_client.create_experiment("marked")
    model = mlflow_client.create_logged_model(experiment_id=exp)
    mlflow_client.create_registered_model("marked")
    mlflow_client.create_model_version("marked", model.artifact_location, model_id=model.model_id)
    mark = mlflow_client.get_logged_model(model.model_id).tags["mlflow.modelVersions"]
    assert mark == '[{"name": "marked", "version": 1}]'
    mlflow_client.create_model_version("marked", model.model_uri, model_id=model.model_id)
    mark = mlflow_client.get_logged_model(model.model_id).tags["mlflow.modelVersions"]
    assert mark == '[{"name": "marked", "version": 1}, {"name": "marked", "version": 2}]'
    with pytest.raises(MlflowException) as e:  # no such logged model: nothing is created
        mlflow_client.create_model_version("marked", "s3://b/m", model_id="m-0123456789abcdef")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert len(mlflow_client.search_model_versions("name = 'marked'")) == 2


def test_prompt_sources(server, mlflow_client):
    mlflow_client.create_registered_model("prompt-like")
    tag = [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
    create = "/api/2.0/mlflow/model-versions/create"
    r = server.api("POST", create, json={"name": "prompt-like", "source": "dummy-source", "tags": tag})
    assert r.status_code == 200, r.text
    for source in ("/etc/passwd", "file:///etc/passwd"):
        r = server.api("POST", create, json={"name": "prompt-like", "source": source, "tags": tag})
        assert r.status_code == 400 and "Invalid prompt source" in r.json()["message"], r.text
    r = server.api("POST", create, json={"name": "prompt-like", "source": "dummy-source"})
    assert r.status_code == 400 and "To use a local path" in r.json()["message"], r.text


def test_unknown_model_and_version_404(server):
    for path in ["registered-models/get?name=nope", "model-versions/get?name=nope&version=1",
                 "registered-models/alias?name=nope&alias=champion"]:
        r = server.api("GET", "/api/2.0/mlflow/" + path)
        assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", r.text


def test_reserved_aliases_refused(server, mlflow_client, logged):
    _, first, _, _ = logged
    mlflow.register_model(first.model_uri, "aliased")
    for alias in ["latest", "v3", "bad alias", "a/b"]:
        r = server.api("POST", "/api/2.0/mlflow/registered-models/alias",
                       json={"name": "aliased", "alias": alias, "version": "1"})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (alias, r.text)


def test_corrupt_onnx_fails_registration(server, mlflow_client, tmp_path):
    mlflow.set_experiment("registry-corrupt")
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "model.onnx").write_bytes(b"\x08\x07\x12\xff\xff\xff\xff\x0fthis is not onnx")
    with mlflow.start_run() as r:
        mlflow.log_artifacts(str(bad), artifact_path="model")
    mlflow_client.create_registered_model("corrupt")
    r2 = server.api("POST", "/api/2.0/mlflow/model-versions/create",
                    json={"name": "corrupt", "source": f"runs:/{r.info.run_id}/model", "run_id": r.info.run_id})
    assert r2.status_code == 200, r2.text
    mv = r2.json()["model_version"]
    assert mv["status"] == "FAILED_REGISTRATION"
    assert "not a readable ONNX model" in mv["status_message"]
    assert server.api("GET", "/health").status_code == 200


def test_lineage_names_run_params_data_and_code(server, mlflow_client, logged):
    run_id, first, second, digest = logged
    a = mlflow.register_model(first.model_uri, "lineage")
    b = mlflow.register_model(second.model_uri, "lineage")
    for mv, model in ((a, first), (b, second)):
        r = server.api("GET", f"/api/2.0/capstan/lineage?name=lineage&version={mv.version}")
        assert r.status_code == 200, r.text
        graph = r.json()
        by_type = {}
        for n in graph["nodes"]:
            by_type.setdefault(n["type"], []).append(n)
        run = by_type["run"][0]
        assert run["run_id"] == run_id and run["run_name"] == "trainer"
        assert run["params"] == {"depth": "6"} and run["metrics"]["auc"] == pytest.approx(0.91)
        assert run["user"]
        assert by_type["dataset"][0]["digest"] == digest
        assert by_type["dataset"][0]["context"] == "training"
        assert by_type["code"][0]["git_commit"] == "abc123"
        assert by_type["code"][0]["script"] == "train.py"
        assert by_type["logged_model"][0]["model_id"] == model.model_id
        version = by_type["model_version"][0]
        assert version["version"] == mv.version
        fmt = version["model_format"]
        assert fmt["format"] == "onnx" and fmt["servable"] is True
        assert fmt["inputs"][0]["name"] == "X" and fmt["inputs"][0]["datatype"] == "float"
        assert fmt["outputs"][0]["name"] == "Y" and fmt["opsets"]["ai.onnx"] == 13
        edges = {(e["source"], e["target"], e["type"]) for e in graph["edges"]}
        assert (f"run:{run_id}", f"logged_model:{model.model_id}", "produced") in edges
        assert (f"logged_model:{model.model_id}", f"version:lineage/{mv.version}", "registered_as") in edges
    ol = server.api("GET", "/api/2.0/capstan/lineage?name=lineage&version=1&format=openlineage").json()
    assert ol["eventType"] == "COMPLETE" and ol["inputs"][0]["name"] == "churn"
    assert ol["outputs"][0]["name"] == "lineage/1"
    dot = server.api("GET", "/api/2.0/capstan/lineage?name=lineage&version=1&format=dot").text
    assert dot.startswith("digraph lineage") and f"run:{run_id}" in dot
    r = server.api("GET", "/api/2.0/capstan/lineage?name=lineage&version=99")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_models_cli(server, mlflow_client, logged):
    import json
    import subprocess

    from conftest import BIN

    _, first, _, digest = logged
    mlflow.register_model(first.model_uri, "cli-model")
    mlflow.register_model(first.model_uri, "cli-model")

    def cli(*args):
        p = subprocess.run([BIN, "models", *args, "--data", server.data_dir], capture_output=True,
                           text=True, timeout=60, env=server.cli_env())
        return p.returncode, p.stdout, p.stderr

    rc, out, err = cli("alias", "cli-model", "champion", "2")
    assert rc == 0, err
    rc, out, err = cli("promote", "cli-model", "1", "--stage", "production")
    assert rc == 0 and "Production" in out, err
    assert mlflow_client.get_model_version("cli-model", "1").current_stage == "Production"
    rc, out, err = cli("list")
    assert rc == 0 and "cli-model" in out and "@champion->2" in out, (out, err)
    rc, out, err = cli("show", "cli-model@champion", "--json")
    assert rc == 0 and json.loads(out)["version"] == "2", err
    rc, out, err = cli("lineage", "cli-model/2")
    assert rc == 0, err
    assert "run " in out and "train.py @ abc123" in out and digest in out and "depth=6" in out
    rc, out, err = cli("lineage", "cli-model@champion", "--dot")
    assert rc == 0 and out.startswith("digraph"), err
    rc, out, err = cli("lineage", "cli-model/2", "--format", "openlineage")
    assert rc == 0 and json.loads(out)["outputs"][0]["name"] == "cli-model/2", err
    rc, out, err = cli("show", "no-such-model")
    assert rc != 0 and "no-such-model" in err
    rc, out, err = cli("alias", "cli-model", "latest", "1")
    assert rc != 0 and "reserved" in err
