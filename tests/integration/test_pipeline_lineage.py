"""OpenLineage events of pipeline runs (pipeline/openlineage.c, issue 18
item 6). tests/pipeline/export_main builds a pipeline run's and its stages'
RunEvents in C and POSTs them with pipe_ol_send to Capstan's own
/api/v1/lineage (Marquez's endpoint). Each event is rebuilt with
openlineage-python's generated models (the OpenLineage 2-0-2 schema as
classes: their constructors refuse an unknown or missing field, and their
validators check the UUID, time and URIs), and must equal what was sent;
then the server returns them by run and by job, and refuses bad events with
400 naming the field."""
import json
import os
import subprocess

import pytest

from conftest import ROOT

DRIVER = os.environ.get("PIPELINE_DRIVER",
                        os.path.join(ROOT, "build", "asan", "tests", "pipeline", "export_main"))

ol = pytest.importorskip("openlineage.client.generated.base")
from openlineage.client.generated import (  # noqa: E402
    dataset_version_dataset, error_message_run, nominal_time_run, parent_run)

FACETS = {"parent": None, "nominalTime": nominal_time_run.NominalTimeRunFacet,
          "errorMessage": error_message_run.ErrorMessageRunFacet,
          "version": dataset_version_dataset.DatasetVersionDatasetFacet}


def facet(key, d):
    """A facet through its generated class; its _schemaURL must be the class's."""
    fields = {k: v for k, v in d.items() if not k.startswith("_")}
    if key == "parent":
        f = parent_run.ParentRunFacet(run=parent_run.Run(**fields["run"]),
                                      job=parent_run.Job(**fields["job"]))
    else:
        f = FACETS[key](**fields)
    assert d["_schemaURL"] == f._schemaURL, key
    assert d["_producer"].startswith("https://")
    return f


def dataset(cls, d):
    facets = {k: facet(k, v) for k, v in d.get("facets", {}).items()}
    assert set(d) <= {"namespace", "name", "facets"}
    return cls(namespace=d["namespace"], name=d["name"], facets=facets)


def validate(ev):
    """The event as openlineage-python's RunEvent; raises on a schema breach."""
    assert set(ev) == {"eventTime", "producer", "schemaURL", "eventType", "run", "job",
                       "inputs", "outputs"}
    run = ol.Run(runId=ev["run"]["runId"],
                 facets={k: facet(k, v) for k, v in ev["run"].get("facets", {}).items()})
    job = ol.Job(namespace=ev["job"]["namespace"], name=ev["job"]["name"])
    model = ol.RunEvent(eventType=ol.EventType(ev["eventType"]), eventTime=ev["eventTime"],
                        run=run, job=job, producer=ev["producer"],
                        inputs=[dataset(ol.InputDataset, d) for d in ev["inputs"]],
                        outputs=[dataset(ol.OutputDataset, d) for d in ev["outputs"]])
    assert ev["schemaURL"] == model.schemaURL
    return model


@pytest.fixture(scope="module")
def sent(server):
    if not os.path.exists(DRIVER):
        pytest.fail(f"{DRIVER} is missing: make build/asan/tests/pipeline/export_main")
    p = subprocess.run([DRIVER, "events", server.url + "/api/v1/lineage"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_events_follow_the_schema(sent):
    assert [e["eventType"] for e in sent] == ["START", "START", "COMPLETE", "START", "COMPLETE",
                                              "START", "FAIL", "ABORT"]
    for ev in sent:
        validate(ev)
    pipeline, stages = sent[0], sent[1:7]
    assert pipeline["job"] == {"namespace": "capstan", "name": "churn"}
    assert pipeline["run"]["facets"]["nominalTime"]["nominalStartTime"] == "2026-01-01T00:00:00.000Z"
    for ev in stages:
        assert ev["job"]["name"].startswith("churn.")
        assert ev["run"]["facets"]["parent"]["run"]["runId"] == pipeline["run"]["runId"]
        assert ev["run"]["facets"]["parent"]["job"]["name"] == "churn"
    train = sent[4]
    assert train["job"]["name"] == "churn.train@lr0.1"
    assert train["inputs"][0]["name"] == "data/prepared"
    assert train["inputs"][0]["namespace"].startswith("file://")
    assert train["inputs"][0]["facets"]["version"]["datasetVersion"].endswith(".dir")
    assert train["outputs"][0]["facets"]["version"]["datasetVersion"] == "2" * 32
    assert sent[6]["run"]["facets"]["errorMessage"]["message"] == "python eval.py: exit status 1"
    assert "errorMessage" not in sent[4]["run"]["facets"]
    assert sent[7]["run"]["facets"]["errorMessage"]["message"].startswith("stopped")
    assert sent[7]["run"]["runId"] == pipeline["run"]["runId"]


def test_server_keeps_and_returns_them(server, sent):
    pid = sent[0]["run"]["runId"]
    r = server.api("GET", "/api/2.0/capstan/lineage/events", params={"run_id": pid})
    assert r.status_code == 200, r.text
    got = [e["event"] for e in r.json()["events"]]
    assert got == [sent[0], sent[7]]
    r = server.api("GET", "/api/2.0/capstan/lineage/events", params={"job": "churn.evaluate"})
    assert [e["event"]["eventType"] for e in r.json()["events"]] == ["START", "FAIL"]
    r = server.api("GET", "/api/2.0/capstan/lineage/events",
                   params={"job": "churn.evaluate", "namespace": "other"})
    assert r.json()["events"] == []
    r = server.api("GET", "/api/2.0/capstan/lineage/events", params={"run_id": "nope"})
    assert r.status_code == 400 and "run_id" in r.json()["message"]
    r = server.api("GET", "/api/2.0/capstan/lineage/events")
    assert r.status_code == 400 and "'run_id' or 'job'" in r.json()["message"]


def test_openlineage_client_events_are_accepted(server):
    """An event made by openlineage-python itself, serialized by its serde."""
    from openlineage.client.serde import Serde
    from openlineage.client.uuid import generate_new_uuid

    ev = ol.RunEvent(eventType=ol.EventType.COMPLETE, eventTime="2026-02-03T04:05:06.789+00:00",
                     run=ol.Run(runId=str(generate_new_uuid())),
                     job=ol.Job(namespace="airflow", name="dag.task"),
                     producer="https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python")
    r = server.api("POST", "/api/v1/lineage", data=Serde.to_json(ev),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    r = server.api("GET", "/api/2.0/capstan/lineage/events",
                   params={"job": "dag.task", "namespace": "airflow"})
    assert r.json()["events"][0]["event"]["run"]["runId"] == ev.run.runId


@pytest.mark.parametrize("field,value,named", [
    ("eventTime", "yesterday", "eventTime"),
    ("eventType", "DONE", "eventType"),
    ("run", {"runId": "1234"}, "run.runId"),
    ("job", {"namespace": "n"}, "job.name"),
    ("job", {"name": "j"}, "job.namespace"),
    ("producer", "capstan", "producer"),
    ("schemaURL", None, "schemaURL"),
    ("inputs", [{"name": "x"}], "inputs[0].namespace"),
])
def test_bad_events_are_refused_naming_the_field(server, sent, field, value, named):
    ev = json.loads(json.dumps(sent[0]))
    if value is None:
        del ev[field]
    else:
        ev[field] = value
    before = server.api("GET", "/api/2.0/capstan/lineage/events",
                        params={"job": "churn"}).json()["events"]
    r = server.api("POST", "/api/v1/lineage", json=ev)
    assert r.status_code == 400, r.text
    assert named in r.json()["message"] and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    after = server.api("GET", "/api/2.0/capstan/lineage/events",
                       params={"job": "churn"}).json()["events"]
    assert after == before
