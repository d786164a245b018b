"""Replays the attack corpus, tests/attacks/*.json: one file per case, every
class of MLflow's security advisories (artifact path traversal in each
encoding, local file read through a model version's source, SSRF, DNS
rebinding, CSRF, scripts in served artifacts) and the ways around
authentication and permissions (no or wrong credentials, a READ user
writing, a token out of scope, expired or revoked, the /ajax-api alias,
case and encoding tricks in paths), against a `capstan server --auth`
holding an experiment, a run with artifacts, a registered model, two
deployments, a dataset and a pipeline schedule. Adding a case needs no
code.

Each case: {"name", "class", "advisories": [...], "as": who sends it,
"request": {"method", "path", "raw_path"?: send the path byte for byte,
"headers"?, "json"? | "body"?}, "expect": {"status", "shape"?: "mlflow"
(default: {"error_code", "message"}) | "oip" ({"error"}) | "raw",
"error_code"?, "message"?: a piece of the message (or its details),
"headers"?: {name: a piece of its value}, "header_absent"?: {name: [pieces
it must not hold]}, "no_fetch"?: the canary HTTP listener saw nothing}}.
After every case: no answer holds the canary file's text, and the store
(as an admin reads it: experiments, runs, models, versions, deployments,
datasets, schedules, users, tokens, permissions) and the files under the
artifact root and the canary directory are exactly as before.

Placeholders in paths and bodies: {exp}, {run}, {model}, {dep}, {dep2},
{dataset}, {schedule}, {foreign_run} (a run of an experiment whose
artifact_location is the canary directory), {canary_dir}, {data_dir},
{listener} (the port of an HTTP listener that counts what reaches it).
"as": anonymous, admin, owner, reader (the default permission, READ),
outsider (NO_PERMISSIONS on the owner's objects), bad-password,
empty-password, admin-capitals, malformed-basic, token-read (the reader's
read token), token-infer-other (infer:{dep2}), token-revoked,
token-expired, token-made-up, token-huge."""
import base64
import hashlib
import http.client
import http.server
import json
import os
import sqlite3
import subprocess
import threading

import pytest

import conftest
import serving_helpers as sh
from conftest import BIN, STORE
from test_auth import (ADMIN, ADMIN_PW, OWNER, OWNER_PW, READER, READER_PW, environment,
                       start_with_admin)

CASES_DIR = os.path.join(os.path.dirname(__file__), "..", "attacks")
CANARY = "CANARY-7d41e0c2-not-for-any-client"
OUTSIDER, OUTSIDER_PW = "outsider", "Outsider-Pw-8e7f6a"
A = "/api/2.0/mlflow-artifacts/artifacts"
M = "/api/2.0/mlflow"
C = "/api/2.0/capstan"
X = [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]


def load_cases():
    out = []
    for name in sorted(os.listdir(CASES_DIR)):
        if name.endswith(".json"):
            with open(os.path.join(CASES_DIR, name)) as f:
                out.append(pytest.param(json.load(f), id=name[:-5]))
    return out


class Listener:
    """An HTTP server on loopback that answers 200 and counts what reaches it:
    the server must never be made to fetch from it."""

    def __init__(self):
        hits = self.hits = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(CANARY.encode())

            do_POST = do_GET

            def log_message(self, *a):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


class World:
    """The server and what the cases attack (see the module's docstring)."""

    def __init__(self, root):
        self.root = root
        self.canary_dir = root / "canary"
        self.canary_dir.mkdir()
        (self.canary_dir / "secret.txt").write_text(CANARY)
        self.listener = Listener()
        self.srv = start_with_admin(root / "data", ["--auth"])
        self.tokens = {}
        self.fx = {"canary_dir": str(self.canary_dir), "data_dir": self.srv.data_dir,
                   "listener": str(self.listener.port)}

    def call(self, method, path, who=(ADMIN, ADMIN_PW), **kw):
        return self.srv.api(method, path, auth=who, **kw)

    def build(self, tmp):
        own = (OWNER, OWNER_PW)
        for user, pw in ((OWNER, OWNER_PW), (READER, READER_PW), (OUTSIDER, OUTSIDER_PW)):
            ok(self.call("POST", M + "/users/create", json={"username": user, "password": pw}))
        exp = ok(self.call("POST", M + "/experiments/create", own, json={"name": "attack-exp"}))
        exp = exp["experiment_id"]
        run = ok(self.call("POST", M + "/runs/create", own, json={"experiment_id": exp}))
        run = run["run"]["info"]["run_id"]
        ok(self.call("POST", M + "/runs/log-metric", own,
                     json={"run_id": run, "key": "m", "value": 1.5, "timestamp": 1}))
        for f, data in (("page.html", "<script>alert(document.cookie)</script>"),
                        ("img.svg", '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
                        ("note.txt", "<html><script>alert(2)</script></html>"),
                        ("data.csv", "a,b\n1,2\n3,4\n")):
            ok(self.call("PUT", f"{A}/{exp}/{run}/artifacts/{f}", own, data=data.encode()))
        self.fx.update(exp=exp, run=run, model="attack-model", dep="attack-dep",
                       dep2="attack-dep2", dataset="attack-ds", schedule="attack-sched")
        self.register_model(exp)
        for d in ("attack-dep", "attack-dep2"):
            ok(self.call("POST", C + "/deployments", own, json={"name": d, "model": "attack-model/1"}))
        self.foreign_and_ssrf()
        self.dataset_and_schedule(tmp)
        self.outsider_grants()
        self.make_tokens()

    def register_model(self, exp):
        with environment(MLFLOW_TRACKING_USERNAME=OWNER, MLFLOW_TRACKING_PASSWORD=OWNER_PW), \
                sh.tracking_uri(self.srv.url):
            assert sh.register(sh.linear_model(0.5), "attack-model", experiment_id=exp) == "1"

    def foreign_and_ssrf(self):
        e = ok(self.call("POST", M + "/experiments/create",
                         json={"name": "foreign", "artifact_location": f"file://{self.canary_dir}"}))
        r = ok(self.call("POST", M + "/runs/create", json={"experiment_id": e["experiment_id"]}))
        self.fx["foreign_run"] = r["run"]["info"]["run_id"]
        # where that run's artifacts would be: the canary, ready to be read
        fdir = self.canary_dir / self.fx["foreign_run"] / "artifacts"
        fdir.mkdir(parents=True)
        (fdir / "secret.txt").write_text(CANARY)
        ok(self.call("POST", M + "/registered-models/create", json={"name": "ssrf-model"}))
        ok(self.call("POST", M + "/model-versions/create",
                     json={"name": "ssrf-model",
                           "source": f"http://127.0.0.1:{self.listener.port}/model"}))

    def dataset_and_schedule(self, tmp):
        src = tmp / "ds"
        src.mkdir()
        (src / "rows.csv").write_text("a,b\n1,2\n")
        store = (["--backend-store-uri", conftest.pg_uri_for(self.srv.data_dir)]
                 if STORE == "postgresql" else [])
        p = subprocess.run([BIN, "data", "add", str(src), "--name", "attack-ds", "--data",
                            self.srv.data_dir, *store], capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        repo = tmp / "repo"
        repo.mkdir()
        (repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n")
        ok(self.call("POST", C + "/pipelines/schedules/create",
                     json={"name": "attack-sched", "repo": str(repo), "cron": "0 0 1 1 *"}))

    def outsider_grants(self):
        ok(self.call("POST", M + "/registered-models/create", (OUTSIDER, OUTSIDER_PW),
                     json={"name": "outsider-model"}))
        for kind, res in (("experiment", self.fx["exp"]), ("registered_model", "attack-model"),
                          ("deployment", "attack-dep"), ("dataset", "attack-ds")):
            ok(self.call("POST", "/api/3.0/mlflow/users/permissions/grant",
                         json={"username": OUTSIDER, "resource_type": kind, "resource_id": res,
                               "permission": "NO_PERMISSIONS"}))

    def make_tokens(self):
        rd = (READER, READER_PW)

        def tok(name, **kw):
            return ok(self.call("POST", C + "/tokens/create", rd, json={"name": name, **kw}))

        self.tokens["token-read"] = tok("read", scope="read")["secret"]
        self.tokens["token-infer-other"] = tok("infer", scope="infer:attack-dep2")["secret"]
        t = tok("revoked")
        ok(self.call("DELETE", C + "/tokens/delete", rd, json={"id": t["token"]["id"]}))
        self.tokens["token-revoked"] = t["secret"]
        t = tok("expired", expires_in_days=1)
        self.expire(t["token"]["id"])
        self.tokens["token-expired"] = t["secret"]
        self.tokens["token-made-up"] = "capstan_" + "A" * 43
        self.tokens["token-huge"] = "capstan_" + "A" * 10000

    def expire(self, token_id):
        """Moves a token's expiry into the past in the database (as time passing would)."""
        sql = f"UPDATE auth_tokens SET expires_at = 1 WHERE id = {int(token_id)}"
        if STORE == "postgresql":
            db = conftest.pg_uri_for(self.srv.data_dir).rsplit("/", 1)[1]
            conftest._pg.psql(sql, dbname=db)
        else:
            with sqlite3.connect(os.path.join(self.srv.data_dir, "capstan.db")) as c:
                c.execute(sql)

    # -- what a case must leave as it was --

    def snapshot(self):
        get = lambda path, **p: ok(self.call("GET", path, params=p))  # noqa: E731
        exps = get(M + "/experiments/search", max_results=1000, view_type="ALL")["experiments"]
        ids = [e["experiment_id"] for e in exps]
        runs = ok(self.call("POST", M + "/runs/search", json={
            "experiment_ids": ids, "run_view_type": "ALL", "max_results": 1000})).get("runs", [])
        s = {"experiments": sorted(json.dumps(e, sort_keys=True) for e in exps),
             "runs": sorted(json.dumps(r, sort_keys=True) for r in runs),
             "models": get(M + "/registered-models/search", max_results=1000),
             "versions": get(M + "/model-versions/search", max_results=1000),
             "deployments": sorted((d["name"], json.dumps(d["spec"], sort_keys=True),
                                    d["updated_at"]) for d in get(C + "/deployments")["deployments"]),
             "datasets": get(C + "/datasets/list"),
             "schedules": sorted((x["name"], json.dumps(x, sort_keys=True))
                                 for x in get(C + "/pipelines/schedules/list")["schedules"])}
        for u in (ADMIN, OWNER, READER, OUTSIDER, "mallory"):
            r = self.call("GET", M + "/users/get", params={"username": u})
            s["user " + u] = r.json() if r.status_code == 200 else r.status_code
            r = self.call("GET", C + "/tokens/list", params={"username": u})
            s["tokens " + u] = r.json() if r.status_code == 200 else r.status_code
        for u in (OWNER, READER, OUTSIDER):
            for kind, res in (("experiment", self.fx["exp"]), ("registered_model", "attack-model"),
                              ("deployment", "attack-dep"), ("dataset", "attack-ds"),
                              ("pipeline", "attack-sched")):
                s[f"perm {u} {kind}"] = get("/api/3.0/mlflow/users/permissions/get", username=u,
                                            resource_type=kind, resource_id=res)
        s["files"] = self.files()
        return s

    def files(self):
        out = {}
        for top in (os.path.join(self.srv.data_dir, "artifacts"), str(self.canary_dir)):
            for d, _, names in os.walk(top):
                for n in names:
                    p = os.path.join(d, n)
                    with open(p, "rb") as f:
                        out[p] = hashlib.sha256(f.read()).hexdigest()
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("attacks"))
    try:
        w.build(tmp_path_factory.mktemp("attack-src"))
        w.before = w.snapshot()
        yield w
        w.srv.assert_clean_exit(w.srv.stop())
    finally:
        w.listener.close()


def expand(v, fx):
    if isinstance(v, dict):
        return {k: expand(x, fx) for k, x in v.items()}
    if isinstance(v, list):
        return [expand(x, fx) for x in v]
    if isinstance(v, str):
        for k, x in fx.items():
            v = v.replace("{" + k + "}", x)
    return v


def credentials(world, who):
    basic = lambda u, p: "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()  # noqa: E731
    users = {"admin": (ADMIN, ADMIN_PW), "owner": (OWNER, OWNER_PW),
             "reader": (READER, READER_PW), "outsider": (OUTSIDER, OUTSIDER_PW),
             "bad-password": (OWNER, "wrong-" + OWNER_PW), "empty-password": (OWNER, ""),
             "admin-capitals": (ADMIN.upper(), ADMIN_PW)}
    if who == "anonymous":
        return None
    if who in users:
        return basic(*users[who])
    if who == "malformed-basic":
        return "Basic !!!not-base64!!!"
    return "Bearer " + world.tokens[who]


def send(world, req, who):
    """The request as written: http.client leaves the path alone (no
    normalising of dot segments, doubled slashes or escapes)."""
    fx = world.fx
    path = expand(req["path"], fx)
    headers = expand(req.get("headers", {}), fx)
    body = None
    if "json" in req:
        body = json.dumps(expand(req["json"], fx)).encode()
        headers.setdefault("Content-Type", "application/json")
    elif "body" in req:
        body = req["body"].encode()
    auth = credentials(world, who)
    if auth:
        headers["Authorization"] = auth
    conn = http.client.HTTPConnection("127.0.0.1", world.srv.port, timeout=60)
    try:
        conn.putrequest(req["method"], path, skip_host="Host" in headers,
                        skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body is not None or req["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def check_answer(exp, status, headers, body):
    assert status == exp["status"], (status, body[:400])
    assert CANARY.encode() not in body, "the answer holds the canary file's text"
    for k, piece in exp.get("headers", {}).items():
        assert piece.lower() in headers.get(k.lower(), "").lower(), (k, headers)
    for k, pieces in exp.get("header_absent", {}).items():
        for piece in pieces:
            assert piece.lower() not in headers.get(k.lower(), "").lower(), (k, headers)
    shape = exp.get("shape", "mlflow")
    if shape == "raw":
        return
    doc = json.loads(body) if body else {}
    if shape == "oip":
        assert isinstance(doc.get("error"), str) and doc["error"], doc
        return
    if status != 200:
        assert isinstance(doc.get("error_code"), str) and isinstance(doc.get("message"), str), doc
    if "error_code" in exp:
        assert doc["error_code"] == exp["error_code"], doc
    if "message" in exp:
        assert exp["message"] in doc.get("message", "") + " " + doc.get("details", ""), doc


@pytest.mark.parametrize("case", load_cases())
def test_attack(world, case):
    hits = len(world.listener.hits)
    status, headers, body = send(world, case["request"], case["as"])
    exp = case["expect"]
    try:
        check_answer(exp, status, headers, body)
        if exp.get("no_fetch"):
            assert len(world.listener.hits) == hits, world.listener.hits[hits:]
    finally:
        after = world.snapshot()
        changed = {k for k in set(after) | set(world.before) if after.get(k) != world.before.get(k)}
        world.before = after  # the next case compares with what is there now
    assert not changed, f"{case['name']} changed {sorted(changed)}"


def test_corpus_covers_the_advisories():
    """Every advisory class the issue names has at least one case."""
    cases = [c.values[0] for c in load_cases()]
    named = {a for c in cases for a in c["advisories"]}
    for cve in ("CVE-2023-1177", "CVE-2023-2780", "CVE-2023-6015", "CVE-2023-6909",
                "CVE-2024-1483", "CVE-2024-1560", "CVE-2024-1594", "CVE-2024-3848",
                "CVE-2024-3573", "CVE-2026-2614"):
        assert cve in named, cve
    classes = {c["class"] for c in cases}
    for cls in ("server-side request forgery", "DNS rebinding", "cross-site request forgery",
                "cross-site scripting through served artifacts",
                "authentication and permission bypass"):
        assert cls in classes, cls
    whos = {c["as"] for c in cases}
    assert {"anonymous", "bad-password", "reader", "outsider", "token-read", "token-infer-other",
            "token-revoked", "token-expired"} <= whos
    assert any(c["request"]["path"].startswith("/ajax-api/") for c in cases)
