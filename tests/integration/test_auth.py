"""`capstan server --auth` against the real mlflow client and MLflow's own
basic-auth app client (mlflow.server.get_app_client("basic-auth")): HTTP
basic credentials (401), MLflow's permissions per experiment and
registered model (403 PERMISSION_DENIED, searches filtered), the same
through /ajax-api/, and refusals that leave the store unchanged."""
import contextlib
import os
import uuid

import pytest
import requests
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from conftest import STORE, Server

ADMIN, ADMIN_PW = "admin", "Admin-Pw-7f3a9c"
OWNER, OWNER_PW = "owner", "Owner-Pw-1b2c3d"
READER, READER_PW = "reader", "Reader-Pw-4e5f6a"
PASSWORDS = [ADMIN_PW, OWNER_PW, READER_PW]


@contextlib.contextmanager
def environment(**values):
    """These variables set for a while; the test process's environment is
    left as it was afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_with_admin(data_dir, args, **more_env):
    """A server started with the admin (and more_env) in its environment
    only."""
    with environment(CAPSTAN_ADMIN_USERNAME=ADMIN, CAPSTAN_ADMIN_PASSWORD=ADMIN_PW, **more_env):
        return Server(data_dir, args).start()


def auth_server(data_dir):
    """`capstan server --auth` with the admin, the owner and the reader."""
    s = start_with_admin(data_dir, ["--auth"])
    for user, pw in ((OWNER, OWNER_PW), (READER, READER_PW)):
        r = s.api("POST", "/api/2.0/mlflow/users/create", auth=(ADMIN, ADMIN_PW),
                  json={"username": user, "password": pw})
        assert r.status_code == 200, r.text
    return s


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = auth_server(tmp_path_factory.mktemp("auth"))
    yield s
    s.assert_clean_exit(s.stop())


def client_as(monkeypatch, srv, user, pw):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", pw)
    return MlflowClient(srv.url)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_code(exc):
    return exc.value.error_code


def test_health_needs_no_credentials(srv):
    for path in ("/health", "/version", "/v2/health/live"):
        assert srv.api("GET", path).status_code == 200, path
    # (no deployment: /ping answers that, not 401)
    assert srv.api("GET", "/ping").status_code not in (401, 403)


@pytest.mark.parametrize("prefix", ["/api", "/ajax-api"])
def test_missing_or_wrong_credentials_get_401(srv, prefix):
    path = prefix + "/2.0/mlflow/experiments/search?max_results=10"
    for auth in (None, (READER, "wrong"), ("nobody", READER_PW)):
        r = srv.api("GET", path, auth=auth)
        assert r.status_code == 401, (auth, r.text)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="capstan"'
        assert r.json()["error_code"] == "UNAUTHENTICATED"
    # paths no route takes (the UI's files) need credentials too
    assert srv.api("GET", "/static-files/nothing.js").status_code == 401
    assert srv.api("GET", path, auth=(READER, READER_PW)).status_code == 200


def test_client_with_wrong_password_gets_its_error(srv, monkeypatch):
    c = client_as(monkeypatch, srv, READER, "not-the-password")
    with pytest.raises(RestException) as e:
        c.search_experiments()
    assert error_code(e) == "UNAUTHENTICATED"
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    with pytest.raises(RestException) as e:
        MlflowClient(srv.url).search_experiments()
    assert error_code(e) == "UNAUTHENTICATED"


def test_read_user_cannot_write_and_store_is_unchanged(srv, monkeypatch):
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    name = unique("exp")
    eid = owner.create_experiment(name)
    run = owner.create_run(eid)
    owner.log_metric(run.info.run_id, "m", 1.0)
    reader = client_as(monkeypatch, srv, READER, READER_PW)
    # READ (the default permission) reads
    assert reader.get_experiment(eid).name == name
    assert reader.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    refusals = [
        lambda: reader.rename_experiment(eid, name + "-x"),
        lambda: reader.create_run(eid),
        lambda: reader.log_metric(run.info.run_id, "m", 2.0),
        lambda: reader.set_tag(run.info.run_id, "t", "v"),
        lambda: reader.delete_run(run.info.run_id),
        lambda: reader.delete_experiment(eid),
    ]
    for refuse in refusals:
        with pytest.raises(RestException) as e:
            refuse()
        assert error_code(e) == "PERMISSION_DENIED"
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    assert owner.get_experiment(eid).name == name
    assert owner.get_experiment(eid).lifecycle_stage == "active"
    runs = owner.search_runs([eid])
    assert [r.info.run_id for r in runs] == [run.info.run_id]
    got = owner.get_run(run.info.run_id)
    assert got.data.metrics == {"m": 1.0} and got.data.tags.get("t") is None
    assert [m.value for m in owner.get_metric_history(run.info.run_id, "m")] == [1.0]


def test_artifacts_by_their_experiment(srv, monkeypatch, tmp_path):
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    eid = owner.create_experiment(unique("art"))
    run = owner.create_run(eid)
    f = tmp_path / "a.txt"
    f.write_text("owner's")
    owner.log_artifact(run.info.run_id, str(f))
    path = f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{run.info.run_id}/artifacts/a.txt"
    r = srv.api("GET", path, auth=(READER, READER_PW))
    assert r.status_code == 200 and r.text == "owner's"
    for method, body in (("PUT", b"reader's"), ("DELETE", None)):
        r = srv.api(method, path, auth=(READER, READER_PW), data=body)
        assert r.status_code == 403, (method, r.text)
    # outside an experiment's directory: admins only
    r = srv.api("PUT", "/api/2.0/mlflow-artifacts/artifacts/elsewhere/x.txt",
                auth=(OWNER, OWNER_PW), data=b"x")
    assert r.status_code == 403, r.text
    assert srv.api("GET", path, auth=(OWNER, OWNER_PW)).text == "owner's"
    assert [a.path for a in owner.list_artifacts(run.info.run_id)] == ["a.txt"]


def test_same_refusals_through_ajax_api(srv, monkeypatch):
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    name = unique("ajax")
    eid = owner.create_experiment(name)
    for prefix in ("/api", "/ajax-api"):
        r = srv.api("POST", prefix + "/2.0/mlflow/experiments/update", auth=(READER, READER_PW),
                    json={"experiment_id": eid, "new_name": name + "-x"})
        assert r.status_code == 403, r.text
        assert r.json()["error_code"] == "PERMISSION_DENIED"
        r = srv.api("POST", prefix + "/2.0/mlflow/runs/create", auth=(READER, READER_PW),
                    json={"experiment_id": eid})
        assert r.status_code == 403, r.text
        r = srv.api("GET", prefix + "/2.0/mlflow/experiments/get", auth=(READER, READER_PW),
                    params={"experiment_id": eid})
        assert r.status_code == 200, r.text
    assert owner.get_experiment(eid).name == name
    assert owner.search_runs([eid]) == []


def test_no_permissions_user_cannot_see(srv, monkeypatch):
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    hidden, shown = unique("hidden"), unique("shown")
    hid = owner.create_experiment(hidden)
    owner.create_experiment(shown)
    model = unique("model")
    owner.create_registered_model(model)
    # the creator holds MANAGE, so the owner (not an admin) may grant
    for path, body in (
        ("/api/2.0/mlflow/experiments/permissions/create", {"experiment_id": hid}),
        ("/api/2.0/mlflow/registered-models/permissions/create", {"name": model}),
    ):
        r = srv.api("POST", path, auth=(OWNER, OWNER_PW),
                    json={**body, "username": READER, "permission": "NO_PERMISSIONS"})
        assert r.status_code == 200, r.text
    reader = client_as(monkeypatch, srv, READER, READER_PW)
    names = {e.name for e in reader.search_experiments()}
    assert shown in names and hidden not in names
    with pytest.raises(RestException) as e:
        reader.get_experiment(hid)
    assert error_code(e) == "PERMISSION_DENIED"
    assert model not in {m.name for m in reader.search_registered_models()}
    with pytest.raises(RestException) as e:
        reader.get_registered_model(model)
    assert error_code(e) == "PERMISSION_DENIED"
    r = srv.api("GET", "/ajax-api/2.0/mlflow/experiments/search", auth=(READER, READER_PW),
                params={"max_results": 1000})
    assert hidden not in {e["name"] for e in r.json().get("experiments", [])}
    # the owner and the admin still see both
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    assert hidden in {e.name for e in owner.search_experiments()}
    admin = client_as(monkeypatch, srv, ADMIN, ADMIN_PW)
    assert model in {m.name for m in admin.search_registered_models()}


def test_registry_permissions(srv, monkeypatch):
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    model = unique("reg")
    owner.create_registered_model(model)
    reader = client_as(monkeypatch, srv, READER, READER_PW)
    assert reader.get_registered_model(model).name == model
    for refuse in (lambda: reader.update_registered_model(model, description="x"),
                   lambda: reader.set_registered_model_tag(model, "k", "v"),
                   lambda: reader.delete_registered_model(model),
                   lambda: reader.create_model_version(model, "mlflow-artifacts:/x")):
        with pytest.raises(RestException) as e:
            refuse()
        assert error_code(e) == "PERMISSION_DENIED"
    got = client_as(monkeypatch, srv, OWNER, OWNER_PW).get_registered_model(model)
    assert (got.description or "") == "" and got.tags == {}
    assert client_as(monkeypatch, srv, OWNER, OWNER_PW).search_model_versions(
        f"name='{model}'") == []


def test_model_permissions_follow_rename_and_go_with_delete(srv, monkeypatch):
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    name = unique("moved")
    owner.create_registered_model(name)
    r = srv.api("POST", "/api/2.0/mlflow/registered-models/permissions/create",
                auth=(OWNER, OWNER_PW),
                json={"name": name, "username": READER, "permission": "NO_PERMISSIONS"})
    assert r.status_code == 200, r.text
    owner.rename_registered_model(name, name + "-new")
    reader = client_as(monkeypatch, srv, READER, READER_PW)
    with pytest.raises(RestException) as e:
        reader.get_registered_model(name + "-new")
    assert error_code(e) == "PERMISSION_DENIED"
    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    owner.set_registered_model_tag(name + "-new", "k", "v")  # the creator's MANAGE moved too
    owner.delete_registered_model(name + "-new")
    # a new model of that name starts with no grants: the default (READ) again
    admin = client_as(monkeypatch, srv, ADMIN, ADMIN_PW)
    admin.create_registered_model(name + "-new")
    reader = client_as(monkeypatch, srv, READER, READER_PW)
    assert reader.get_registered_model(name + "-new").name == name + "-new"
    with pytest.raises(RestException):
        client_as(monkeypatch, srv, OWNER, OWNER_PW).delete_registered_model(name + "-new")


def test_app_client_users_and_permissions(srv, monkeypatch):
    from mlflow.server import get_app_client

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PW)
    app = get_app_client("basic-auth", tracking_uri=srv.url)
    name, pw = unique("user"), "First-Pw-9z8y7x"
    user = app.create_user(name, pw)
    assert user.username == name and not user.is_admin
    assert app.get_user(name).id == user.id
    with pytest.raises(MlflowException):
        app.create_user(name, pw)
    new_pw = "Second-Pw-6w5v4u"
    app.update_user_password(name, new_pw)
    assert srv.api("GET", "/api/2.0/mlflow/experiments/search", auth=(name, pw)).status_code == 401
    assert srv.api("GET", "/api/2.0/mlflow/experiments/search",
                   auth=(name, new_pw)).status_code == 200

    owner = client_as(monkeypatch, srv, OWNER, OWNER_PW)
    eid = owner.create_experiment(unique("granted"))
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PW)
    got = app.get_user_permission(name, "experiment", eid)
    assert (got.permission, got.allowed) == ("READ", False)
    app.grant_user_permission(name, "experiment", eid, "EDIT")
    got = app.get_user_permission(name, "experiment", eid)
    assert (got.permission, got.allowed) == ("EDIT", True)
    # the user may now write there
    c = client_as(monkeypatch, srv, name, new_pw)
    run = c.create_run(eid)
    c.log_param(run.info.run_id, "p", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PW)
    app.grant_user_permission(name, "experiment", eid, "NO_PERMISSIONS")
    assert app.get_user_permission(name, "experiment", eid).permission == "NO_PERMISSIONS"
    app.revoke_user_permission(name, "experiment", eid)
    assert app.get_user_permission(name, "experiment", eid).permission == "READ"
    with pytest.raises(MlflowException):
        app.grant_user_permission(name, "experiment", eid, "OWNER")
    with pytest.raises(MlflowException):  # MLflow's wildcard grants are its roles' (not here)
        app.grant_user_permission(name, "experiment", "*", "READ")
    with pytest.raises(MlflowException):
        app.grant_user_permission(name, "scorer", eid, "READ")

    # MLflow 2's per-resource routes: create, get, update, delete
    base = "/api/2.0/mlflow/experiments/permissions/"
    a = (ADMIN, ADMIN_PW)
    body = {"experiment_id": eid, "username": name}
    r = srv.api("POST", base + "create", auth=a, json={**body, "permission": "READ"})
    assert r.json()["experiment_permission"] == {"experiment_id": eid, "user_id": user.id,
                                                 "permission": "READ"}
    assert srv.api("POST", base + "create", auth=a,
                   json={**body, "permission": "READ"}).status_code == 400
    assert srv.api("PATCH", base + "update", auth=a,
                   json={**body, "permission": "MANAGE"}).status_code == 200
    r = srv.api("GET", base + "get", auth=a, params=body)
    assert r.json()["experiment_permission"]["permission"] == "MANAGE"
    assert srv.api("DELETE", base + "delete", auth=a, json=body).status_code == 200
    assert srv.api("GET", base + "get", auth=a, params=body).status_code == 404

    app.update_user_admin(name, True)
    assert app.get_user(name).is_admin
    app.delete_user(name)
    with pytest.raises(MlflowException):
        app.get_user(name)
    assert srv.api("GET", "/api/2.0/mlflow/experiments/search",
                   auth=(name, new_pw)).status_code == 401


def test_non_admin_cannot_manage_users(srv, monkeypatch):
    from mlflow.server import get_app_client

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", READER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", READER_PW)
    app = get_app_client("basic-auth", tracking_uri=srv.url)
    name = unique("intruder")
    with pytest.raises(MlflowException) as e:
        app.create_user(name, "Some-Pw-123456")
    assert "PERMISSION_DENIED" in str(e.value) or "403" in str(e.value)
    for call in (lambda: app.update_user_admin(READER, True),
                 lambda: app.delete_user(OWNER),
                 lambda: app.get_user(OWNER),
                 lambda: app.update_user_password(OWNER, "Stolen-Pw-000000")):
        with pytest.raises(MlflowException):
            call()
    assert app.get_user(READER).username == READER  # oneself is fine
    a = (ADMIN, ADMIN_PW)
    assert srv.api("GET", "/api/2.0/mlflow/users/get", auth=a,
                   params={"username": name}).status_code == 404
    assert srv.api("GET", "/api/2.0/mlflow/users/get", auth=a,
                   params={"username": READER}).json()["user"]["is_admin"] is False
    assert srv.api("GET", "/api/2.0/mlflow/experiments/search",
                   auth=(OWNER, OWNER_PW)).status_code == 200
    # a reader may not grant on someone else's experiment
    eid = client_as(monkeypatch, srv, OWNER, OWNER_PW).create_experiment(unique("mine"))
    r = srv.api("POST", "/api/2.0/mlflow/experiments/permissions/create",
                auth=(READER, READER_PW),
                json={"experiment_id": eid, "username": READER, "permission": "MANAGE"})
    assert r.status_code == 403
    r = srv.api("GET", "/api/3.0/mlflow/users/permissions/get", auth=(ADMIN, ADMIN_PW),
                params={"username": READER, "resource_type": "experiment", "resource_id": eid})
    assert r.json()["permission"] == "READ"


def test_capstan_routes_need_a_user(srv):
    path = "/api/2.0/capstan/datasets/list"
    assert srv.api("GET", path).status_code == 401
    r = srv.api("GET", path, auth=(READER, READER_PW))
    assert r.status_code != 401, r.text


def test_cli_sends_the_mlflow_credentials(srv):
    import subprocess

    from conftest import BIN

    argv = [BIN, "deploy", "list", "--server", srv.url, "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "401" in r.stderr, r.stderr
    env.update(MLFLOW_TRACKING_USERNAME=READER, MLFLOW_TRACKING_PASSWORD=READER_PW)
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "deployments" in r.stdout


TOKENS = []  # secrets made by test_tokens, looked for in the database file afterwards


def test_tokens(srv, monkeypatch):
    base = "/api/2.0/capstan/tokens/"
    eid = client_as(monkeypatch, srv, OWNER, OWNER_PW).create_experiment(unique("tok"))
    r = srv.api("POST", base + "create", auth=(READER, READER_PW), json={"name": "ci"})
    assert r.status_code == 200, r.text
    secret, tid = r.json()["secret"], r.json()["token"]["id"]
    TOKENS.append(secret)
    # the mlflow client's MLFLOW_TRACKING_TOKEN: a bearer token acting as its user
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    c = MlflowClient(srv.url)
    assert c.get_experiment(eid).experiment_id == eid
    with pytest.raises(RestException) as e:  # READ, as the reader is
        c.create_run(eid)
    assert error_code(e) == "PERMISSION_DENIED"
    # the token shows in its owner's list, without its secret
    r = srv.api("GET", base + "list", headers={"Authorization": f"Bearer {secret}"})
    assert [t["name"] for t in r.json()["tokens"]] == ["ci"] and secret not in r.text
    # another user's tokens are an admin's business only
    r = srv.api("GET", base + "list", auth=(OWNER, OWNER_PW), params={"username": READER})
    assert r.status_code == 403
    r = srv.api("GET", base + "list", auth=(ADMIN, ADMIN_PW), params={"username": READER})
    assert [t["id"] for t in r.json()["tokens"]] == [tid]
    assert srv.api("DELETE", base + "delete", auth=(READER, READER_PW),
                   json={"id": tid}).status_code == 200
    with pytest.raises(RestException) as e:
        c.search_experiments()
    assert error_code(e) == "UNAUTHENTICATED"
    r = srv.api("GET", base + "list", headers={"Authorization": "Bearer capstan_made-up"})
    assert r.status_code == 401


def stored_auth_rows(srv):
    """What a PostgreSQL store holds of users and tokens, as bytes (through
    the test cluster's psql)."""
    import conftest

    db = conftest.pg_uri_for(srv.data_dir).rsplit("/", 1)[1]
    out = conftest._pg.psql("SELECT username, password_hash FROM auth_users; "
                            "SELECT name, token_hash, scope FROM auth_tokens", dbname=db)
    return str(out).encode()


def test_passwords_not_stored_or_logged_in_plain_text(srv):
    seen = stored_auth_rows(srv) if STORE == "postgresql" else b""
    for f in ("capstan.db", "capstan.db-wal", "server.log"):
        p = os.path.join(srv.data_dir, f)
        if os.path.exists(p):
            with open(p, "rb") as fh:
                seen += fh.read()
    assert b"$argon2id$" in seen
    for pw in PASSWORDS + ["First-Pw-9z8y7x", "Second-Pw-6w5v4u"] + TOKENS:
        assert pw.encode() not in seen, pw
    assert TOKENS, "test_tokens made none"


def test_refuses_to_start_without_an_admin(tmp_path, monkeypatch):
    monkeypatch.delenv("CAPSTAN_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("CAPSTAN_ADMIN_PASSWORD", raising=False)
    s = Server(tmp_path / "noadmin", ["--auth"])
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "CAPSTAN_ADMIN_USERNAME" in str(e.value)
    s.stop()


def test_without_auth_nothing_is_asked(server):
    r = requests.get(server.url + "/api/2.0/mlflow/experiments/search?max_results=1", timeout=30)
    assert r.status_code == 200 and "WWW-Authenticate" not in r.headers
    r = requests.post(server.url + "/api/2.0/mlflow/users/create", timeout=30,
                      json={"username": "x", "password": "y"})
    assert r.status_code == 404


RUNNER = """#!/bin/sh
# a scheduled pipeline run's stand-in: calls back into the server with the
# token it was given, and once without one
api="$CAPSTAN_TRACKING_URI/api/2.0/mlflow"
curl -s -o /dev/null -w '%{{http_code}}' -X POST -H "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" \\
    -H 'Content-Type: application/json' -d '{{"name": "made-by-schedule"}}' \\
    "$api/experiments/create" > {out}/with.tmp
curl -s -o /dev/null -w '%{{http_code}}' "$api/experiments/search?max_results=1" > {out}/without.tmp
printf '%s' "${{MLFLOW_TRACKING_USERNAME:-}}" > {out}/user.tmp
for f in with without user; do mv {out}/$f.tmp {out}/$f; done
"""


def test_scheduled_pipelines_call_back_with_the_servers_token(tmp_path):
    """A scheduled run's child gets the server's own token (valid only in
    that process, never stored) as MLFLOW_TRACKING_TOKEN, and none of the
    server's own mlflow credentials."""
    import serving_helpers as sh

    out, repo = tmp_path / "out", tmp_path / "repo"
    out.mkdir()
    repo.mkdir()
    runner = tmp_path / "runner.sh"
    runner.write_text(RUNNER.format(out=out))
    runner.chmod(0o755)
    s = start_with_admin(tmp_path / "data", ["--auth", "--pipeline-runner", str(runner),
                                             "--pipeline-poll-ms", "50"],
                         MLFLOW_TRACKING_USERNAME=ADMIN)  # the server's own: not for children
    try:
        api = "/api/2.0/capstan/pipelines/schedules"
        r = s.api("POST", api + "/create", auth=(ADMIN, ADMIN_PW),
                  json={"name": "cb", "repo": str(repo), "cron": "0 0 1 1 *"})
        assert r.status_code == 200, r.text
        r = s.api("POST", api + "/trigger", auth=(ADMIN, ADMIN_PW), json={"name": "cb"})
        assert r.status_code == 200, r.text
        sh.wait_for(lambda: (out / "user").exists(), what="the scheduled run's calls")
        assert (out / "with").read_text() == "200"
        assert (out / "without").read_text() == "401"
        assert (out / "user").read_text() == ""
        r = s.api("GET", "/api/2.0/mlflow/experiments/get-by-name",
                  params={"experiment_name": "made-by-schedule"}, auth=(ADMIN, ADMIN_PW))
        assert r.status_code == 200, r.text
        assert "capstan_" not in s.read_log()
    finally:
        s.assert_clean_exit(s.stop())


def test_failed_sign_ins_lock_the_name_out(srv):
    """Five wrong passwords in a row: the name is refused (429) for a while,
    even with the right password, before any hashing; others are not."""
    name, pw = unique("guessed"), "Right-Pw-9z8y7x"
    r = srv.api("POST", "/api/2.0/mlflow/users/create", auth=(ADMIN, ADMIN_PW),
                json={"username": name, "password": pw})
    assert r.status_code == 200, r.text
    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    for i in range(5):
        r = srv.api("GET", search, auth=(name, f"wrong-{i}"))
        assert r.status_code == 401, (i, r.text)
    r = srv.api("GET", search, auth=(name, pw))
    assert r.status_code == 429, r.text
    assert r.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert f"Too many failed sign-ins for user '{name}'" in r.json()["message"]
    assert r.headers["Retry-After"] == "30"
    assert srv.api("GET", search, auth=(OWNER, OWNER_PW)).status_code == 200
    assert pw not in srv.read_log()
