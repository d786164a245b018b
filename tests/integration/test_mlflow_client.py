"""The unmodified mlflow client (3.x from PyPI) against Capstan."""
import filecmp
import math
import os

import numpy as np
import pandas as pd
import pytest

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.entities import ViewType


def test_default_experiment_exists(mlflow_client):
    exp = mlflow_client.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == "mlflow-artifacts:/0"
    assert mlflow_client.get_experiment_by_name("Default").experiment_id == "0"


def test_set_experiment_and_log_everything(mlflow_client):
    exp = mlflow.set_experiment("client-basics")
    assert mlflow.set_experiment("client-basics").experiment_id == exp.experiment_id
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=4)
        mlflow.set_tag("team", "risk")
        mlflow.set_tags({"stage": "dev", "owner": "ana"})
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 42)
    run = mlflow_client.get_run(parent.info.run_id)
    assert run.info.run_name == "parent"
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
    assert run.data.params == {"alpha": "0.5", "layers": "3", "optimizer": "adam"}
    assert run.data.metrics["loss"] == pytest.approx(0.2)
    assert run.data.metrics["acc"] == pytest.approx(0.9)
    assert run.data.tags["team"] == "risk" and run.data.tags["owner"] == "ana"
    assert run.info.artifact_uri == (
        f"mlflow-artifacts:/{exp.experiment_id}/{parent.info.run_id}/artifacts")
    kid = mlflow_client.get_run(child.info.run_id)
    assert kid.data.tags["mlflow.parentRunId"] == parent.info.run_id
    hist = mlflow_client.get_metric_history(parent.info.run_id, "loss")
    assert [m.step for m in hist] == [0, 1, 2, 3, 4]
    assert [m.value for m in hist] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])


def test_nan_and_infinity_metrics(mlflow_client):
    mlflow.set_experiment("client-nan")
    with mlflow.start_run() as r:
        mlflow.log_metric("n", float("nan"), step=0)
        mlflow.log_metric("pinf", float("inf"))
        mlflow.log_metric("ninf", float("-inf"))
    data = mlflow_client.get_run(r.info.run_id).data
    assert math.isnan(data.metrics["n"])
    assert data.metrics["pinf"] == math.inf
    assert data.metrics["ninf"] == -math.inf


def test_param_overwrite_is_refused(mlflow_client):
    mlflow.set_experiment("client-params")
    with mlflow.start_run() as r:
        mlflow.log_param("lr", "0.1")
        mlflow.log_param("lr", "0.1")  # same value again is fine
        with pytest.raises(MlflowException) as e:
            mlflow.log_param("lr", "0.2")
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "lr" in str(e.value)
    assert mlflow_client.get_run(r.info.run_id).data.params["lr"] == "0.1"


def test_unknown_and_deleted_runs(mlflow_client):
    with pytest.raises(MlflowException) as e:
        mlflow_client.get_run("0123456789abcdef0123456789abcdef")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    exp_id = mlflow_client.create_experiment("client-deleted")
    run = mlflow_client.create_run(exp_id)
    mlflow_client.delete_run(run.info.run_id)
    assert mlflow_client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as e:
        mlflow_client.log_metric(run.info.run_id, "m", 1.0)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    mlflow_client.restore_run(run.info.run_id)
    mlflow_client.log_metric(run.info.run_id, "m", 1.0)
    assert mlflow_client.get_run(run.info.run_id).data.metrics["m"] == 1.0


def test_experiment_lifecycle_and_search(mlflow_client):
    a = mlflow_client.create_experiment("search-exp-a", tags={"team": "x"})
    b = mlflow_client.create_experiment("search-exp-b")
    with pytest.raises(MlflowException) as e:
        mlflow_client.create_experiment("search-exp-a")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    run = mlflow_client.create_run(b)
    mlflow_client.delete_experiment(b)
    assert mlflow_client.get_experiment(b).lifecycle_stage == "deleted"
    assert mlflow_client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    names = [e.name for e in mlflow_client.search_experiments(filter_string="name LIKE 'search-exp-%'")]
    assert names == ["search-exp-a"]
    names = {e.name for e in mlflow_client.search_experiments(
        view_type=ViewType.ALL, filter_string="name LIKE 'search-exp-%'")}
    assert names == {"search-exp-a", "search-exp-b"}
    assert [e.name for e in mlflow_client.search_experiments(filter_string="tags.team = 'x'")] == [
        "search-exp-a"]
    mlflow_client.restore_experiment(b)
    assert mlflow_client.get_run(run.info.run_id).info.lifecycle_stage == "active"
    mlflow_client.rename_experiment(a, "search-exp-renamed")
    assert mlflow_client.get_experiment(a).name == "search-exp-renamed"
    mlflow_client.set_experiment_tag(a, "k", "v")
    assert mlflow_client.get_experiment(a).tags["k"] == "v"
    # the client turns RESOURCE_DOES_NOT_EXIST into None, so the code must be right
    assert mlflow_client.get_experiment_by_name("no-such-experiment") is None


def test_get_experiment_by_name_missing_returns_none(mlflow_client):
    assert mlflow.get_experiment_by_name("never-created") is None


def test_search_runs_filters_and_order(mlflow_client):
    exp = mlflow.set_experiment("client-search")
    ids = {}
    for i in range(6):
        with mlflow.start_run(run_name=f"r{i}") as r:
            mlflow.log_param("model", "tree" if i % 2 else "linear")
            mlflow.log_metric("acc", i / 10)
            if i != 3:
                mlflow.log_metric("loss", 1 - i / 10)
            mlflow.set_tag("parity", "odd" if i % 2 else "even")
            ids[i] = r.info.run_id
    df = mlflow.search_runs([exp.experiment_id], filter_string="metrics.acc > 0.15 and params.model = 'tree'",
                            order_by=["metrics.acc DESC"])
    assert isinstance(df, pd.DataFrame)
    assert list(df["run_id"]) == [ids[5], ids[3]]
    df = mlflow.search_runs([exp.experiment_id], order_by=["metrics.loss ASC"])
    # the run without "loss" comes last
    assert list(df["run_id"]) == [ids[5], ids[4], ids[2], ids[1], ids[0], ids[3]]
    runs = mlflow_client.search_runs([exp.experiment_id], "tags.parity = 'even'", max_results=2)
    assert len(runs) == 2
    page1 = mlflow_client.search_runs([exp.experiment_id], max_results=4)
    page2 = mlflow_client.search_runs([exp.experiment_id], max_results=4, page_token=page1.token)
    assert len(page1) == 4 and len(page2) == 2 and page2.token is None
    assert {r.info.run_id for r in page1} | {r.info.run_id for r in page2} == set(ids.values())
    # default order: newest first
    assert [r.info.run_id for r in page1][0] == ids[5]
    df = mlflow.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'r2'")
    assert list(df["run_id"]) == [ids[2]]
    df = mlflow.search_runs([exp.experiment_id], filter_string="params.model LIKE 'tr%'")
    assert len(df) == 3
    with pytest.raises(MlflowException) as e:
        mlflow.search_runs([exp.experiment_id], filter_string="metrics.acc >>> 1")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_log_input_dataset(mlflow_client):
    mlflow.set_experiment("client-datasets")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(frame, source="s3://bucket/train.csv", name="train")
    with mlflow.start_run() as r:
        mlflow.log_input(dataset, context="training")
    run = mlflow_client.get_run(r.info.run_id)
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "train"
    assert inputs[0].dataset.digest == dataset.digest
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"
    df = mlflow.search_runs(filter_string="dataset.name = 'train'", search_all_experiments=True)
    assert r.info.run_id in list(df["run_id"])


def _tree(root):
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            files[os.path.relpath(p, root)] = p
    return files


def test_artifacts_round_trip(mlflow_client, tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("hello")
    (src / "sub" / "b.json").write_text('{"k": 1}')
    rng = np.random.default_rng(0)
    (src / "sub" / "deeper" / "blob.bin").write_bytes(rng.bytes(3 * 1024 * 1024 + 17))
    (src / "with space.txt").write_text("space")
    mlflow.set_experiment("client-artifacts")
    with mlflow.start_run() as r:
        mlflow.log_artifacts(str(src), artifact_path="bundle")
        mlflow.log_artifact(str(src / "a.txt"))
    top = {f.path: f.is_dir for f in mlflow_client.list_artifacts(r.info.run_id)}
    assert top == {"a.txt": False, "bundle": True}
    sub = mlflow_client.list_artifacts(r.info.run_id, "bundle/sub")
    assert [(f.path, f.is_dir) for f in sub] == [("bundle/sub/b.json", False), ("bundle/sub/deeper", True)]
    blob = [f for f in mlflow_client.list_artifacts(r.info.run_id, "bundle/sub/deeper")][0]
    assert blob.file_size == 3 * 1024 * 1024 + 17
    dst = mlflow.artifacts.download_artifacts(run_id=r.info.run_id, artifact_path="bundle",
                                              dst_path=str(tmp_path / "dst"))
    got, want = _tree(dst), _tree(src)
    assert set(got) == set(want)
    for rel in want:
        assert filecmp.cmp(got[rel], want[rel], shallow=False), rel


def _onnx_model():
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    b = helper.make_tensor("B", TensorProto.FLOAT, [2], [0.01, -0.01])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_onnx_log_model_and_load_back(mlflow_client, tmp_path):
    import onnx

    model = _onnx_model()
    mlflow.set_experiment("client-onnx")
    with mlflow.start_run() as r:
        info = mlflow.onnx.log_model(model, name="model")
    assert info.model_id.startswith("m-")
    loaded = mlflow.onnx.load_model(info.model_uri)
    assert loaded.SerializeToString() == model.SerializeToString()
    logged = mlflow_client.get_logged_model(info.model_id)
    assert logged.status.to_proto() == 2 or str(logged.status).endswith("READY")
    assert logged.source_run_id == r.info.run_id
    found = mlflow.search_logged_models(experiment_ids=[r.info.experiment_id], output_format="list")
    assert info.model_id in [m.model_id for m in found]
    run = mlflow_client.get_run(r.info.run_id)
    assert info.model_id in [o.model_id for o in run.outputs.model_outputs]
    # the run-relative URI works too
    path = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "m"))
    assert os.path.exists(os.path.join(path, "MLmodel"))
    assert onnx.load(os.path.join(path, "model.onnx")).SerializeToString() == model.SerializeToString()


def test_logged_model_tags_params_and_delete(mlflow_client):
    exp_id = mlflow_client.create_experiment("client-logged-models")
    m = mlflow_client.create_logged_model(exp_id, name="lm", params={"depth": "3"}, tags={"a": "1"})
    assert m.params == {"depth": "3"} and m.tags["a"] == "1"
    mlflow_client.set_logged_model_tags(m.model_id, {"b": "2"})
    mlflow_client.delete_logged_model_tag(m.model_id, "a")
    got = mlflow_client.get_logged_model(m.model_id)
    assert "a" not in got.tags and got.tags["b"] == "2"
    mlflow_client.finalize_logged_model(m.model_id, mlflow.entities.LoggedModelStatus.READY)
    assert str(mlflow_client.get_logged_model(m.model_id).status).endswith("READY")
    mlflow_client.delete_logged_model(m.model_id)
    with pytest.raises(MlflowException) as e:
        mlflow_client.get_logged_model(m.model_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_update_run_and_tags(mlflow_client):
    exp_id = mlflow_client.create_experiment("client-update")
    run = mlflow_client.create_run(exp_id, run_name="before")
    mlflow_client.update_run(run.info.run_id, status="KILLED", name="after")
    got = mlflow_client.get_run(run.info.run_id)
    assert got.info.status == "KILLED" and got.info.run_name == "after"
    assert got.data.tags["mlflow.runName"] == "after"
    mlflow_client.set_tag(run.info.run_id, "t", "1")
    mlflow_client.delete_tag(run.info.run_id, "t")
    assert "t" not in mlflow_client.get_run(run.info.run_id).data.tags
    with pytest.raises(MlflowException) as e:
        mlflow_client.delete_tag(run.info.run_id, "t")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_batch_through_client(mlflow_client):
    from mlflow.entities import Metric, Param, RunTag

    exp_id = mlflow_client.create_experiment("client-batch")
    run = mlflow_client.create_run(exp_id)
    metrics = [Metric("m", float(i), 1000 + i, i) for i in range(1500)]  # client splits > 1000
    mlflow_client.log_batch(run.info.run_id, metrics=metrics,
                            params=[Param(f"p{i}", str(i)) for i in range(10)],
                            tags=[RunTag("t", "v")])
    hist = mlflow_client.get_metric_history(run.info.run_id, "m")
    assert len(hist) == 1500
    assert mlflow_client.get_run(run.info.run_id).data.metrics["m"] == 1499.0
    # an exact duplicate is a no-op
    mlflow_client.log_batch(run.info.run_id, metrics=metrics[:10])
    assert len(mlflow_client.get_metric_history(run.info.run_id, "m")) == 1500


def _log_steps(client, run_id, n, key="m"):
    for i in range(n):
        client.log_metric(run_id, key, float(i), timestamp=1000 + i, step=i)


def test_metric_history_pages(mlflow_client):
    import requests
    run_id = mlflow_client.create_run(mlflow_client.create_experiment("pages")).info.run_id
    _log_steps(mlflow_client, run_id, 10)
    url = f"{mlflow_client.tracking_uri}/api/2.0/mlflow/metrics/get-history"
    seen, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "m", "max_results": 4}
        if token:
            params["page_token"] = token
        body = requests.get(url, params=params).json()
        seen += [m["step"] for m in body["metrics"]]
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == list(range(10))


def test_metric_history_bulk_and_interval(mlflow_client):
    import requests
    exp = mlflow_client.create_experiment("bulk")
    r1 = mlflow_client.create_run(exp).info.run_id
    r2 = mlflow_client.create_run(exp).info.run_id
    _log_steps(mlflow_client, r1, 10)
    _log_steps(mlflow_client, r2, 20)
    base = f"{mlflow_client.tracking_uri}/ajax-api/2.0/mlflow/metrics/"
    bulk = requests.get(base + "get-history-bulk",
                        params={"run_id": [r2, r1, "0" * 32], "metric_key": "m"}).json()
    runs = [m["run_id"] for m in bulk["metrics"]]
    assert runs == sorted(runs) and len(runs) == 30  # by run id; unknown runs have none
    # MLflow's sampling: every 4th of the 20 distinct steps, the last, and each run's ends
    got = requests.get(base + "get-history-bulk-interval",
                       params={"run_ids": [r1, r2], "metric_key": "m", "max_results": 5}).json()
    steps = [0, 4, 8, 9, 12, 16, 19]
    assert [(m["run_id"], m["step"]) for m in got["metrics"]] == (
        [(r1, s) for s in steps if s < 10] + [(r2, s) for s in steps])


def test_search_datasets_summaries(mlflow_client):
    import requests
    from mlflow.entities import Dataset, DatasetInput, InputTag
    exp = mlflow_client.create_experiment("summaries")
    run_id = mlflow_client.create_run(exp).info.run_id
    ds = Dataset(name="d1", digest="g1", source_type="local", source="s")
    mlflow_client.log_inputs(run_id, [DatasetInput(ds, [InputTag("mlflow.data.context", "train")])])
    got = requests.post(
        f"{mlflow_client.tracking_uri}/ajax-api/2.0/mlflow/experiments/search-datasets",
        json={"experiment_ids": [exp]}).json()
    assert got["dataset_summaries"] == [
        {"experiment_id": exp, "name": "d1", "digest": "g1", "context": "train"}]


def test_relative_artifact_location_and_model_dataset_filter(mlflow_client, server):
    exp_id = mlflow_client.create_experiment("rel", artifact_location="./my_loc//x")
    loc = mlflow_client.get_experiment(exp_id).artifact_location
    assert os.path.isabs(loc) and loc.endswith("/my_loc/x")
    m1 = mlflow_client.create_logged_model(exp_id)
    mlflow_client.create_logged_model(exp_id)
    run_id = mlflow_client.create_run(exp_id).info.run_id
    mlflow_client.log_metric(run_id, "acc", 1, dataset_name="ds", dataset_digest="1",
                             model_id=m1.model_id)
    found = mlflow_client.search_logged_models(
        experiment_ids=[exp_id], datasets=[{"dataset_name": "ds", "dataset_digest": "1"}])
    assert [m.model_id for m in found] == [m1.model_id]
    found = mlflow_client.search_logged_models(
        experiment_ids=[exp_id], datasets=[{"dataset_name": "ds", "dataset_digest": "2"}])
    assert list(found) == []
