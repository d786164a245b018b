"""--auth over Capstan's own objects and machine tokens: a deployment is a
resource with MLflow's permissions (READ to see it, USE to call it, EDIT
to change it, MANAGE to grant), its creator gets MANAGE, searches and
cross-deployment reads are filtered, and `capstan token create --scope`
makes tokens that may only read, or only call one deployment. Datasets
and pipeline schedules are resources too. Each refusal is checked to
leave the store as it was."""
import json
import os
import subprocess
import uuid

import numpy as np
import pytest
from mlflow.exceptions import RestException
from mlflow.tracking import MlflowClient

from conftest import BIN, STORE, pg_uri_for
from serving_helpers import (DEPLOYMENTS, linear_expect, linear_model, oip_body, register,
                             tracking_uri, wait_for)
from test_auth import (ADMIN, ADMIN_PW, OWNER, OWNER_PW, READER, READER_PW, auth_server,
                       environment)

PERMS = "/api/2.0/capstan/deployments/permissions/"
X = [[1.0, 2.0, 3.0]]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = auth_server(tmp_path_factory.mktemp("authdep"))
    yield s
    s.assert_clean_exit(s.stop())


@pytest.fixture(scope="module")
def model(srv):
    """A model the owner registered (version 1), by name."""
    name = f"authdep-{uuid.uuid4().hex[:6]}"
    with environment(MLFLOW_TRACKING_USERNAME=OWNER, MLFLOW_TRACKING_PASSWORD=OWNER_PW), \
            tracking_uri(srv.url):  # the owner's own experiment: Default is READ to it
        register(linear_model(0.5), name, experiment_id=MlflowClient().create_experiment(name))
    return name


def deploy_as(srv, auth, name, model):
    return srv.api("POST", DEPLOYMENTS, auth=auth, json={"name": name, "model": f"{model}/1"})


def ready(srv, name):
    r = srv.api("GET", f"{DEPLOYMENTS}/{name}", auth=(ADMIN, ADMIN_PW))
    return r.status_code == 200 and r.json()["deployment"]["status"]["primary"].get("ready")


@pytest.fixture(scope="module")
def deps(srv, model):
    """Two deployments of the owner's: the reader is granted USE on the first
    and NO_PERMISSIONS on the second."""
    names = [f"d{uuid.uuid4().hex[:6]}", f"d{uuid.uuid4().hex[:6]}"]
    for n in names:
        r = deploy_as(srv, (OWNER, OWNER_PW), n, model)
        assert r.status_code == 200, r.text
    for n in names:
        wait_for(lambda n=n: ready(srv, n), what=f"deployment {n} ready")
    return names


def infer(srv, name, **kw):
    return srv.api("POST", f"/v2/models/{name}/infer", json=oip_body(X), **kw)


def snapshot(srv):
    """The deployments as an admin sees them, without their live status."""
    r = srv.api("GET", DEPLOYMENTS, auth=(ADMIN, ADMIN_PW))
    assert r.status_code == 200, r.text
    return sorted((d["name"], d["model"], d["updated_at"]) for d in r.json()["deployments"])


def grant(srv, dep, user, perm, auth=(OWNER, OWNER_PW), method="POST", verb="create"):
    return srv.api(method, PERMS + verb, auth=auth,
                   json={"deployment": dep, "username": user, "permission": perm})


def test_creator_manages_others_need_use_to_infer(srv, deps):
    a, _ = deps
    r = infer(srv, a, auth=(OWNER, OWNER_PW))
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["outputs"][0]["data"], linear_expect(X, 0.5).ravel(),
                               rtol=1e-6)
    # the default permission (READ) sees the deployment but may not call it
    assert srv.api("GET", f"{DEPLOYMENTS}/{a}", auth=(READER, READER_PW)).status_code == 200
    r = infer(srv, a, auth=(READER, READER_PW))
    assert r.status_code == 403 and "may not use deployment" in r.json()["error"], r.text
    r = srv.api("POST", f"/deployments/{a}/invocations", auth=(READER, READER_PW),
                json={"inputs": X})
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    before = snapshot(srv)
    for method, path, body in (("PATCH", f"{DEPLOYMENTS}/{a}", {"model": "x/1"}),
                               ("DELETE", f"{DEPLOYMENTS}/{a}", None),
                               ("POST", f"{DEPLOYMENTS}/{a}/rollback", {})):
        r = srv.api(method, path, auth=(READER, READER_PW), json=body)
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    # only a manager grants
    r = grant(srv, a, READER, "USE", auth=(READER, READER_PW))
    assert r.status_code == 403, r.text
    assert snapshot(srv) == before
    r = grant(srv, a, READER, "USE")
    assert r.status_code == 200, r.text
    assert r.json()["deployment_permission"]["permission"] == "USE"
    assert infer(srv, a, auth=(READER, READER_PW)).status_code == 200
    r = srv.api("GET", PERMS + "get", auth=(OWNER, OWNER_PW),
                params={"deployment": a, "username": READER})
    assert r.json()["deployment_permission"]["permission"] == "USE", r.text
    # USE does not edit
    r = srv.api("POST", f"{DEPLOYMENTS}/{a}/rollback", auth=(READER, READER_PW), json={})
    assert r.status_code == 403, r.text


def test_no_permissions_hides_a_deployment_everywhere(srv, deps):
    a, b = deps
    assert grant(srv, b, READER, "NO_PERMISSIONS").status_code == 200
    # the list and the prediction log leave it out; naming it is refused
    r = srv.api("GET", DEPLOYMENTS, auth=(READER, READER_PW))
    names = [d["name"] for d in r.json()["deployments"]]
    assert a in names and b not in names, names
    assert srv.api("GET", f"{DEPLOYMENTS}/{b}", auth=(READER, READER_PW)).status_code == 403
    for d in deps:  # a row in each one's log
        assert infer(srv, d, auth=(OWNER, OWNER_PW)).status_code == 200
    r = srv.api("GET", "/api/2.0/capstan/predictions", auth=(READER, READER_PW),
                params={"deployment": b})
    assert r.status_code == 403, r.text
    r = srv.api("GET", "/api/2.0/capstan/predictions", auth=(READER, READER_PW))
    assert r.status_code == 200, r.text
    seen = {p["deployment"] for p in r.json().get("predictions", [])}
    assert a in seen and b not in seen, seen
    r = srv.api("GET", "/api/2.0/capstan/predictions", auth=(OWNER, OWNER_PW))
    assert b in {p["deployment"] for p in r.json()["predictions"]}
    # the deployment's monitoring, feedback and review routes follow it
    for path in ("/api/2.0/capstan/monitor/windows", "/api/2.0/capstan/feedback/quality",
                 "/api/2.0/capstan/review/queue"):
        r = srv.api("GET", path, auth=(READER, READER_PW), params={"deployment": b})
        assert r.status_code == 403, (path, r.text)
    r = srv.api("POST", "/api/2.0/capstan/feedback", auth=(READER, READER_PW),
                json={"deployment": b, "labels": [{"id": "x", "label": 1}]})
    assert r.status_code == 403, r.text
    # MLflow 3's unified check knows the kind
    r = srv.api("GET", "/api/3.0/mlflow/users/permissions/get", auth=(READER, READER_PW),
                params={"username": READER, "resource_type": "deployment", "resource_id": b})
    assert r.json() == {"allowed": False, "permission": "NO_PERMISSIONS"}, r.text


def test_deploying_a_model_needs_reading_it(srv, model):
    r = srv.api("POST", "/api/2.0/mlflow/registered-models/permissions/create",
                auth=(OWNER, OWNER_PW),
                json={"name": model, "username": READER, "permission": "NO_PERMISSIONS"})
    assert r.status_code == 200, r.text
    before = snapshot(srv)
    r = deploy_as(srv, (READER, READER_PW), f"r{uuid.uuid4().hex[:6]}", model)
    assert r.status_code == 403 and model in r.json()["message"], r.text
    assert snapshot(srv) == before


def cli(*args, user=ADMIN, pw=ADMIN_PW, server=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=pw)
    return subprocess.run([BIN, "token", *args, "--server", server], env=env,
                          capture_output=True, text=True, timeout=60)


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def test_infer_token_calls_one_deployment_only(srv, deps):
    a, b = deps
    for d in deps:  # MLflow 3's unified grant knows the kind too
        r = srv.api("POST", "/api/3.0/mlflow/users/permissions/grant", auth=(OWNER, OWNER_PW),
                    json={"username": READER, "resource_type": "deployment", "resource_id": d,
                          "permission": "USE"})
        assert r.status_code == 200, r.text
    r = cli("create", "--user", READER, "--scope", f"infer:{a}", "--expires", "30d",
            server=srv.url)
    assert r.returncode == 0, r.stderr
    secret = r.stdout.strip()
    assert secret.startswith("capstan_") and "\n" not in secret
    h = bearer(secret)
    assert infer(srv, a, headers=h).status_code == 200
    assert srv.api("GET", f"/v2/models/{a}/ready", headers=h).status_code == 200
    assert srv.api("POST", f"/deployments/{a}/invocations", headers=h,
                   json={"inputs": X}).status_code == 200
    # the reader may call b, but this token may not; nor anything else
    r = infer(srv, b, headers=h)
    assert r.status_code == 403 and f"infer:{a}" in r.json()["error"], r.text
    for method, path in (("GET", f"{DEPLOYMENTS}/{a}"), ("GET", "/api/2.0/mlflow/experiments/search"),
                         ("POST", "/api/2.0/capstan/tokens/create"), ("GET", "/metrics")):
        r = srv.api(method, path, headers=h, json={"name": "more"} if method == "POST" else None)
        assert r.status_code == 403, (path, r.text)
    # listed with its scope and expiry, then revoked
    r = cli("list", "--user", READER, "--json", server=srv.url)
    mine = [t for t in json.loads(r.stdout)["tokens"] if t["scope"] == f"infer:{a}"]
    assert len(mine) == 1 and mine[0]["expires_at"] > mine[0]["created_at"], r.stdout
    r = cli("revoke", str(mine[0]["id"]), "--user", READER, server=srv.url)
    assert r.returncode == 0, r.stderr
    assert infer(srv, a, headers=h).status_code == 401


def test_read_token_reads_and_writes_nothing(srv, deps, monkeypatch):
    a, _ = deps
    r = cli("create", "--user", OWNER, "--scope", "read", server=srv.url, user=OWNER, pw=OWNER_PW)
    assert r.returncode == 0, r.stderr
    h = bearer(r.stdout.strip())
    assert srv.api("GET", f"{DEPLOYMENTS}/{a}", headers=h).status_code == 200
    before = snapshot(srv)
    r = srv.api("POST", f"{DEPLOYMENTS}/{a}/rollback", headers=h, json={})
    assert r.status_code == 403 and "scope is 'read'" in r.json()["message"], r.text
    assert infer(srv, a, headers=h).status_code == 403
    r = srv.api("POST", "/api/2.0/capstan/tokens/create", headers=h, json={"name": "escalate"})
    assert r.status_code == 403, r.text
    assert snapshot(srv) == before
    # the mlflow client with MLFLOW_TRACKING_TOKEN: searches (POSTs) read, creating is refused
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", h["Authorization"][len("Bearer "):])
    c = MlflowClient(srv.url)
    assert c.search_experiments() is not None
    n = len(c.search_experiments())
    with pytest.raises(RestException) as e:
        c.create_experiment(f"nope-{uuid.uuid4().hex[:6]}")
    assert e.value.error_code == "PERMISSION_DENIED"
    assert len(c.search_experiments()) == n


def test_token_cli_errors_name_what_was_wrong(srv):
    r = cli("create", "--user", READER, "--scope", "infer:", server=srv.url)
    assert r.returncode == 1 and "scope" in r.stderr, r.stderr
    r = cli("create", "--user", READER, "--scope", "admin", server=srv.url)
    assert r.returncode == 1 and "'write', 'read' or 'infer:<deployment>'" in r.stderr, r.stderr
    r = cli("create", "--user", READER, "--expires", "2w", server=srv.url)
    assert r.returncode == 2 and "30d" in r.stderr, r.stderr
    r = cli("create", "--user", "nobody", server=srv.url)
    assert r.returncode == 1 and "nobody" in r.stderr, r.stderr
    r = cli("create", "--user", ADMIN, server=srv.url, user=READER, pw=READER_PW)
    assert r.returncode == 1 and "Permission denied" in r.stderr, r.stderr
    r = cli("revoke", "abc", server=srv.url)
    assert r.returncode == 2 and "positive whole number" in r.stderr, r.stderr
    r = cli("list", "--user", READER, server=srv.url)
    assert r.returncode == 0 and "SCOPE" in r.stdout, r.stderr


def test_permissions_go_with_a_deleted_deployment(srv, model):
    name = f"g{uuid.uuid4().hex[:6]}"
    assert deploy_as(srv, (OWNER, OWNER_PW), name, model).status_code == 200
    r = srv.api("GET", PERMS + "get", auth=(ADMIN, ADMIN_PW),
                params={"deployment": name, "username": OWNER})
    assert r.json()["deployment_permission"]["permission"] == "MANAGE", r.text
    assert grant(srv, name, READER, "EDIT").status_code == 200
    r = srv.api("DELETE", f"{DEPLOYMENTS}/{name}", auth=(OWNER, OWNER_PW))
    assert r.status_code == 200, r.text
    # a new deployment of the same name starts with none: the admin's, with no grant to either
    assert deploy_as(srv, (ADMIN, ADMIN_PW), name, model).status_code == 200
    for user in (OWNER, READER):
        r = srv.api("GET", PERMS + "get", auth=(ADMIN, ADMIN_PW),
                    params={"deployment": name, "username": user})
        assert r.status_code == 404, r.text
    r = srv.api("PATCH", f"{DEPLOYMENTS}/{name}", auth=(READER, READER_PW), json={"batch": None})
    assert r.status_code == 403, r.text


# ---------------------------------------------------------------- datasets and pipeline schedules

def data_add(srv, tmp_path, name):
    src = tmp_path / f"src-{name}"
    src.mkdir()
    (src / "f.txt").write_text(name)
    store = ["--backend-store-uri", pg_uri_for(srv.data_dir)] if STORE == "postgresql" else []
    p = subprocess.run([BIN, "data", "add", str(src), "--name", name, "--data", srv.data_dir,
                        *store], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def unified_grant(srv, kind, resource, user, perm):
    r = srv.api("POST", "/api/3.0/mlflow/users/permissions/grant", auth=(ADMIN, ADMIN_PW),
                json={"username": user, "resource_type": kind, "resource_id": resource,
                      "permission": perm})
    assert r.status_code == 200, r.text


def dataset_names(srv, auth):
    r = srv.api("GET", "/api/2.0/capstan/datasets/list", auth=auth)
    assert r.status_code == 200, r.text
    return sorted(d["name"] for d in r.json()["datasets"])


def test_datasets_by_permission(srv, tmp_path):
    hidden, mine = f"h{uuid.uuid4().hex[:6]}", f"m{uuid.uuid4().hex[:6]}"
    for n in (hidden, mine):
        data_add(srv, tmp_path, n)
    D = "/api/2.0/capstan/datasets/"
    unified_grant(srv, "dataset", hidden, READER, "NO_PERMISSIONS")
    unified_grant(srv, "dataset", mine, READER, "MANAGE")
    names = dataset_names(srv, (READER, READER_PW))
    assert mine in names and hidden not in names, names
    assert hidden in dataset_names(srv, (ADMIN, ADMIN_PW))
    for path, params in (("get", {"ref": f"{hidden}@1"}), ("versions", {"name": hidden}),
                         ("files", {"ref": hidden}), ("diff", {"a": f"{mine}@1", "b": hidden})):
        r = srv.api("GET", D + path, auth=(READER, READER_PW), params=params)
        assert r.status_code == 403 and hidden in r.json()["message"], (path, r.text)
    # the default permission (READ) reads but does not delete; gc is the admin's
    r = srv.api("DELETE", D + "delete", auth=(OWNER, OWNER_PW), params={"ref": mine})
    assert r.status_code == 403, r.text
    assert srv.api("POST", D + "gc", auth=(READER, READER_PW), json={}).status_code == 403
    assert mine in dataset_names(srv, (ADMIN, ADMIN_PW))
    r = srv.api("DELETE", D + "delete", auth=(READER, READER_PW), params={"ref": mine})
    assert r.status_code == 200, r.text
    assert mine not in dataset_names(srv, (ADMIN, ADMIN_PW))


def test_pipeline_schedules_are_the_admins_to_make(srv, tmp_path):
    """A schedule runs the commands of its repository's dvc.yaml on the server: making one is
    an admin's act; running, pausing or deleting one needs EDIT/MANAGE on it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n")
    P = "/api/2.0/capstan/pipelines/schedules/"
    body = {"name": f"s{uuid.uuid4().hex[:6]}", "repo": str(repo), "cron": "0 0 1 1 *"}
    r = srv.api("POST", P + "create", auth=(OWNER, OWNER_PW), json=body)
    assert r.status_code == 403, r.text
    r = srv.api("GET", P + "list", auth=(ADMIN, ADMIN_PW))
    assert body["name"] not in [x["name"] for x in r.json()["schedules"]]
    r = srv.api("POST", P + "create", auth=(ADMIN, ADMIN_PW), json=body)
    assert r.status_code == 200, r.text
    for method, verb in (("POST", "trigger"), ("POST", "pause"), ("DELETE", "delete")):
        r = srv.api(method, P + verb, auth=(READER, READER_PW), json={"name": body["name"]},
                    params={"name": body["name"]} if method == "DELETE" else None)
        assert r.status_code == 403, (verb, r.text)
    r = srv.api("GET", P + "runs", auth=(READER, READER_PW), params={"name": body["name"]})
    assert r.status_code == 200 and r.json().get("runs", []) == [], r.text
    unified_grant(srv, "pipeline", body["name"], READER, "EDIT")
    r = srv.api("POST", P + "pause", auth=(READER, READER_PW), json={"name": body["name"]})
    assert r.status_code == 200, r.text
    unified_grant(srv, "pipeline", body["name"], OWNER, "NO_PERMISSIONS")
    r = srv.api("GET", P + "list", auth=(OWNER, OWNER_PW))
    assert body["name"] not in [x["name"] for x in r.json()["schedules"]]
