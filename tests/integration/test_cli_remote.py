"""capstan experiments / runs / models follow the server: with --tracking-uri
or $MLFLOW_TRACKING_URI they talk to its REST API, and every sub-command
prints exactly what it prints from the local store, on the same data."""
import base64
import http.server
import json
import os
import subprocess
import threading

import mlflow
import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag

from conftest import BIN


def run(*args, env_extra=None, drop_uri=True):
    env = dict(os.environ)
    if drop_uri:  # the mlflow fixture exports MLFLOW_TRACKING_URI
        env.pop("MLFLOW_TRACKING_URI", None)
    env.update(env_extra or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


def local(server, *args, **kw):
    return run(*args, "--data", server.data_dir, **kw)


def remote(server, *args, **kw):
    return run(*args, "--tracking-uri", server.url, **kw)


def same(server, *args, page_size=None):
    """The sub-command both ways (and through the environment variable, with
    pages of page_size): same status, same output. Returns the output."""
    rl, ol, el = local(server, *args)
    assert rl == 0, el
    extra = {"CAPSTAN_CLI_PAGE_SIZE": str(page_size)} if page_size else None
    rr, orr, er = remote(server, *args, env_extra=extra)
    assert rr == 0, er
    assert orr == ol, (args, ol, orr)
    re_, oe, ee = run(*args, env_extra={"MLFLOW_TRACKING_URI": server.url, **(extra or {})})
    assert re_ == 0 and oe == ol, (args, ee)
    return ol


def one_line_error(rc, err, *needles):
    assert rc != 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Sanitizer" not in err and "runtime error" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def data(server, mlflow_client):
    c = mlflow_client
    exps = [c.create_experiment(f"remote-exp{i}") for i in range(5)]
    c.delete_experiment(exps[4])
    runs = []
    for i in range(7):
        r = c.create_run(exps[0], run_name=f"r{i}", tags={"team": "a" if i % 2 else "b"})
        rid = r.info.run_id
        c.log_metric(rid, "score", i * 0.5, step=i)
        c.log_param(rid, "k", str(i))
        if i < 6:
            c.set_terminated(rid)
        runs.append(rid)
    c.log_inputs(runs[3], [DatasetInput(Dataset(name="train", digest="d1g3st", source_type="local",
                                                source="/data/train.csv"),
                                        tags=[InputTag("mlflow.data.context", "training")])])
    c.create_run(exps[1], run_name="other")
    for m in range(5):
        c.create_registered_model(f"remote-model{m}", description=f"model {m}")
    for v in range(3):
        c.create_model_version("remote-model0", f"runs:/{runs[v]}/model", run_id=runs[v])
    c.set_registered_model_alias("remote-model0", "champion", "2")
    c.transition_model_version_stage("remote-model0", "1", "Staging")
    return {"exps": exps, "runs": runs}


def test_experiments_both_ways(server, data):
    out = same(server, "experiments", "list")
    assert "remote-exp3" in out and "remote-exp4" not in out
    assert "remote-exp4" in same(server, "experiments", "list", "--all")
    # pages of two: five experiments and Default need three requests
    listed = json.loads(same(server, "experiments", "list", "--all", "--json", page_size=2))
    assert len(listed) == 6
    assert {e["experiment_id"] for e in listed} >= set(data["exps"])
    out = same(server, "experiments", "list", "--filter", "name LIKE 'remote-exp%'", "--json",
               page_size=1)
    assert len(json.loads(out)) == 4


def test_runs_both_ways(server, data):
    runs = data["runs"]
    out = same(server, "runs", "search", "--experiment", "remote-exp0", "--order-by",
               "metrics.score DESC")
    lines = out.strip().splitlines()
    assert lines[0].split()[-1] == "score"
    assert [l.split()[0] for l in lines[1:]] == runs[::-1]
    got = json.loads(same(server, "runs", "search", "--experiment", "remote-exp0", "--filter",
                          "tags.team = 'a'", "--order-by", "metrics.score ASC", "--json",
                          page_size=1))
    assert [r["info"]["run_id"] for r in got] == [runs[1], runs[3], runs[5]]
    # by ID and by name together; a limit that stops inside the third page of two
    exp1 = data["exps"][1]
    got = json.loads(same(server, "runs", "search", "--experiment", f"remote-exp0,{exp1}",
                          "--max-results", "5", "--order-by", "attributes.run_name ASC",
                          "--json", page_size=2))
    assert [r["info"]["run_name"] for r in got] == ["other", "r0", "r1", "r2", "r3"]
    out = same(server, "runs", "search", "--experiment", "remote-exp0", "--max-results", "3",
               page_size=2)
    assert out.strip().splitlines()[-1] == "(more runs: raise --max-results)"
    assert len(out.strip().splitlines()) == 5
    out = same(server, "runs", "show", runs[3])
    assert "d1g3st" in out and "score" in out and "team" in out
    assert json.loads(same(server, "runs", "show", runs[6], "--json"))["info"]["status"] == "RUNNING"


def test_models_read_both_ways(server, data):
    out = same(server, "models", "list")
    assert "@champion->2" in out and "remote-model4" in out
    assert len(json.loads(same(server, "models", "list", "--json", page_size=2))) >= 5
    got = json.loads(same(server, "models", "list", "--filter", "name LIKE 'remote-model%'",
                          "--json", page_size=3))
    assert [m["name"] for m in got] == [f"remote-model{m}" for m in range(5)]
    out = same(server, "models", "show", "remote-model0")
    assert "remote-model0  model 0" in out
    assert json.loads(same(server, "models", "show", "remote-model0@champion", "--json"))["version"] == "2"
    out = same(server, "models", "show", "remote-model0/1")
    assert "stage Staging" in out
    for fmt in ([], ["--json"], ["--dot"], ["--format", "openlineage"], ["--format", "graph"]):
        out = same(server, "models", "lineage", "remote-model0@champion", *fmt)
        assert out.strip()
    assert data["runs"][1] in same(server, "models", "lineage", "remote-model0/2")


def test_models_write_both_ways(server, mlflow_client, data):
    rl, ol, el = local(server, "models", "alias", "remote-model0", "local-a", "1")
    rr, orr, er = remote(server, "models", "alias", "remote-model0", "remote-a", "1")
    assert rl == 0 and rr == 0, (el, er)
    assert ol == "remote-model0@local-a -> version 1\n"
    assert orr == "remote-model0@remote-a -> version 1\n"
    assert mlflow_client.get_model_version_by_alias("remote-model0", "remote-a").version == "1"
    rl, ol, el = local(server, "models", "promote", "remote-model0", "3", "--stage", "production")
    assert rl == 0 and ol == "remote-model0/3 is now in stage Production\n", el
    rr, orr, er = remote(server, "models", "promote", "remote-model0", "2", "--stage", "production",
                         "--archive-existing")
    assert rr == 0 and orr == "remote-model0/2 is now in stage Production\n", er
    assert mlflow_client.get_model_version("remote-model0", "3").current_stage == "Archived"
    assert mlflow_client.get_model_version("remote-model0", "2").current_stage == "Production"
    out = same(server, "models", "show", "remote-model0/1")
    assert "@local-a" in out and "@remote-a" in out


def test_errors_are_one_line(server, data):
    for cmd in (["experiments", "list"], ["runs", "search"], ["models", "list"]):
        rc, _, err = run(*cmd, "--tracking-uri", "http://127.0.0.1:1")
        one_line_error(rc, err, "cannot reach http://127.0.0.1:1")
    # the server's own message for a 4xx
    rc, _, err = remote(server, "runs", "show", "0123456789abcdef0123456789abcdef")
    line = one_line_error(rc, err, "0123456789abcdef0123456789abcdef", "404")
    assert "RESOURCE_DOES_NOT_EXIST" in line
    rc, _, err = remote(server, "runs", "search", "--experiment", "remote-exp0", "--filter",
                        "metrics.score >>> 1")
    one_line_error(rc, err, "metrics.score", "400")
    rc, _, err = remote(server, "models", "show", "no-such-model")
    one_line_error(rc, err, "no-such-model")
    rc, _, err = remote(server, "models", "alias", "remote-model0", "latest", "1")
    one_line_error(rc, err, "reserved")
    for mode in (local, remote):
        rc, _, err = mode(server, "runs", "search", "--experiment", "no-such-exp")
        one_line_error(rc, err, "No experiment named or numbered 'no-such-exp'")
    for bad in ("ftp://host/x", "databricks://profile", "mysql://u@h/db"):
        rc, _, err = run("experiments", "list", "--tracking-uri", bad)
        assert rc == 2
        one_line_error(rc, err, "unsupported tracking URI scheme", bad)
    rc, _, err = run("models", "list", "--tracking-uri", "http://")
    assert rc == 2
    one_line_error(rc, err, "http://HOST")


def test_local_uri_forms(server, data, tmp_path, monkeypatch):
    """file:, sqlite: and a plain path name the local store, as mlflow's
    client reads them (mlflow: a directory for its file store, a database
    for sqlite:); an explicit --data beats $MLFLOW_TRACKING_URI."""
    d = os.path.abspath(server.data_dir)
    _, want, _ = local(server, "experiments", "list", "--json")
    monkeypatch.chdir(tmp_path)
    rel = os.path.relpath(d, tmp_path)
    for uri in (d, rel, f"file://{d}", f"file:{rel}", f"sqlite:///{d}/capstan.db",
                f"sqlite:///{rel}/capstan.db"):
        rc, out, err = run("experiments", "list", "--json", "--tracking-uri", uri)
        assert rc == 0 and out == want, (uri, err)
        rc, out, err = run("experiments", "list", "--json",
                           env_extra={"MLFLOW_TRACKING_URI": uri})
        assert rc == 0 and out == want, (uri, err)
    rc, out, err = run("experiments", "list", "--json", "--data", d,
                       env_extra={"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"})
    assert rc == 0 and out == want, err


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A stand-in server that records what the CLI sends."""
    seen = []
    status = 200
    pages = {}  # page_token (None: the first) -> its answer

    def do_GET(self):
        self.do_POST()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        token = json.loads(body).get("page_token") if body else None
        if self.status != 200:
            payload = b"<html>denied</html>"
        elif token in self.pages:
            payload = json.dumps(self.pages[token]).encode()
        else:
            payload = json.dumps({"experiments": [{"experiment_id": "7", "name": "seen"}]}).encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *a):
        pass


@pytest.fixture
def recorder():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Recorder.seen.clear()
    _Recorder.status = 200
    _Recorder.pages = {}
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_credentials(recorder):
    srv, url = recorder
    rc, out, err = run("experiments", "list", "--tracking-uri", url + "/",
                       env_extra={"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "p:w",
                                  "MLFLOW_TRACKING_TOKEN": "tok"})
    assert rc == 0 and "seen" in out, err
    method, path, auth, body = _Recorder.seen[-1]
    assert (method, path) == ("POST", "/api/2.0/mlflow/experiments/search")
    assert auth == "Basic " + base64.b64encode(b"ann:p:w").decode()  # mlflow: basic auth first
    assert json.loads(body)["view_type"] == "ACTIVE_ONLY"
    rc, out, err = run("experiments", "list", "--tracking-uri", url,
                       env_extra={"MLFLOW_TRACKING_TOKEN": "tok"})
    assert rc == 0, err
    assert _Recorder.seen[-1][2] == "Bearer tok"
    rc, out, err = run("experiments", "list", "--tracking-uri", url)
    assert rc == 0 and _Recorder.seen[-1][2] is None
    # a GET's fields travel in its query string, escaped
    run("models", "show", "a b&c", "--tracking-uri", url)
    assert _Recorder.seen[-1][:2] == ("GET", "/api/2.0/mlflow/registered-models/get?name=a%20b%26c")
    _Recorder.status = 401  # what an auth proxy answers: no MLflow JSON
    rc, _, err = run("experiments", "list", "--tracking-uri", url)
    one_line_error(rc, err, "HTTP 401", "denied")


def test_pages_are_followed(recorder):
    srv, url = recorder
    exp = lambda i: {"experiment_id": str(i), "name": f"e{i}"}  # noqa: E731
    _Recorder.pages = {None: {"experiments": [exp(1), exp(2)], "next_page_token": "t1"},
                       "t1": {"next_page_token": "t2"},  # an empty page may still go on
                       "t2": {"experiments": [exp(3)]}}
    rc, out, err = run("experiments", "list", "--json", "--tracking-uri", url)
    assert rc == 0, err
    assert [e["name"] for e in json.loads(out)] == ["e1", "e2", "e3"]
    assert [json.loads(b).get("page_token") for _, _, _, b in _Recorder.seen] == [None, "t1", "t2"]
    # a server that hands out the same token again would loop for ever
    _Recorder.pages = {None: {"experiments": [exp(1)], "next_page_token": "t1"},
                       "t1": {"experiments": [exp(2)], "next_page_token": "t1"}}
    rc, _, err = run("experiments", "list", "--tracking-uri", url)
    one_line_error(rc, err, "same next_page_token")
