"""Artifact downloads and the run-relative artifact routes, as MLflow's
server answers them: the Content-Type guessed from the name (with types a
browser would run served as text/plain), Content-Disposition in werkzeug's
forms and safe for any name, root_uri in listings, the UI's upload-artifact,
logged-model and model-version artifacts, and "Invalid path" refusals."""
import http.client
import json
import urllib.parse

import mlflow
import pytest
import requests

A = "/api/2.0/mlflow-artifacts/artifacts"


def raw(server, method, path, body=None, headers=()):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for k, v in headers:
        conn.putheader(k, v)
    data = body or b""
    if method in ("PUT", "POST"):
        conn.putheader("Content-Length", str(len(data)))
    conn.endheaders()
    if data:
        conn.send(data)
    resp = conn.getresponse()
    out = resp.status, resp.headers, resp.read()
    conn.close()
    return out


def put_get(server, name, body=b"x"):
    """Uploads name through the proxy and downloads it back: the headers."""
    quoted = urllib.parse.quote(name, safe="")
    status, _, out = raw(server, "PUT", f"{A}/9/dl/{quoted}", body)
    assert status == 200, out
    status, headers, out = raw(server, "GET", f"{A}/9/dl/{quoted}", headers=[("Accept", "text/html")])
    assert status == 200 and out == body
    assert headers["X-Content-Type-Options"] == "nosniff"
    return headers


@pytest.mark.parametrize(("name", "mime"), [
    ("a.txt", "text/plain"),
    ("b.pkl", "application/octet-stream"),
    ("c.png", "image/png"),
    ("C.PNG", "image/png"),
    ("d.pdf", "application/pdf"),
    ("MLmodel", "text/plain"),
    ("mlproject", "text/plain"),
    ("conda.yaml", "text/plain"),
    ("e.webp", "image/webp"),
    ("f.tar.gz", "application/x-tar"),
    ("g.gz", "application/octet-stream"),
    # what a browser would render or run is served as text
    ("page.html", "text/plain"),
    ("pic.svg", "text/plain"),
    ("code.mjs", "text/plain"),
    ("doc.xhtml", "text/plain"),
])
def test_download_content_type(server, mlflow_client, tmp_path, name, mime):
    headers = put_get(server, name)
    assert headers["Content-Type"] == mime
    assert headers["Content-Disposition"] == f"attachment; filename={name}"
    # the run-relative route answers the same
    f = tmp_path / name
    f.write_bytes(b"x")
    mlflow.set_experiment("downloads")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(f))
    r = requests.get(f"{server.url}/get-artifact", params={"run_id": run.info.run_id, "path": name})
    assert r.status_code == 200 and r.content == b"x"
    assert r.headers["Content-Type"] == mime
    assert r.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("name", "disposition"), [
    ("dog+step+20.png", "attachment; filename=dog+step+20.png"),
    ("with space.txt", 'attachment; filename="with space.txt"'),
    ('q"uote.txt', 'attachment; filename="q\\"uote.txt"'),
    ("semi;colon=x.txt", 'attachment; filename="semi;colon=x.txt"'),
    ("caf\u00e9 \u00fc.txt",
     "attachment; filename=\"caf .txt\"; filename*=UTF-8''caf%C3%A9%20%C3%BC.txt"),
])
def test_content_disposition_forms(server, name, disposition):
    headers = put_get(server, name)
    got = headers["Content-Disposition"]
    assert got == disposition.encode("utf-8").decode("latin-1")
    assert "\r" not in got and "\n" not in got


def test_list_artifacts_root_uri(server, mlflow_client, tmp_path):
    (tmp_path / "a.txt").write_text("0")
    (tmp_path / "b.txt").write_text("1")
    mlflow.set_experiment("root-uri")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "a.txt"))
        mlflow.log_artifact(str(tmp_path / "b.txt"), "dir")
    url = f"{server.url}/api/2.0/mlflow/artifacts/list"
    top = requests.get(url, params={"run_id": run.info.run_id}).json()
    assert top == {"files": [{"path": "a.txt", "is_dir": False, "file_size": 1},
                             {"path": "dir", "is_dir": True}],
                   "root_uri": run.info.artifact_uri}
    nested = requests.get(url, params={"run_id": run.info.run_id, "path": "dir"}).json()
    assert nested == {"files": [{"path": "dir/b.txt", "is_dir": False, "file_size": 1}],
                      "root_uri": run.info.artifact_uri}
    # "." names the directory itself (the client lists "<dir>/." for a whole tree)
    assert requests.get(url, params={"run_id": run.info.run_id, "path": "."}).json() == top
    dst = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=".",
                                              dst_path=str(tmp_path / "all"))
    assert open(f"{dst}/dir/b.txt").read() == "1"
    # ... in the proxy's listing too, but '..' never
    rel = run.info.artifact_uri.split(":", 1)[1].lstrip("/")
    status, _, body = raw(server, "GET", f"{A}?path={rel}/./dir")
    assert status == 200 and json.loads(body)["files"][0]["path"] == "b.txt"
    status, _, body = raw(server, "GET", f"{A}?path={rel}/./..")
    assert status == 400, body


def assert_invalid_path(r, rule):
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["message"] == "Invalid path"
    assert rule in body["details"]


def test_invalid_path_answers(server, mlflow_client):
    run_id = mlflow_client.create_run(mlflow_client.create_experiment("paths")).info.run_id
    u = server.url
    for bad, rule in [("../path", "'..'"), ("/etc/passwd", "absolute"), ("a\\b", "backslash")]:
        assert_invalid_path(requests.get(f"{u}/api/2.0/mlflow/artifacts/list",
                                         params={"run_id": run_id, "path": bad}), rule)
        assert_invalid_path(requests.get(f"{u}/get-artifact",
                                         params={"run_id": run_id, "path": bad}), rule)
        # the path is judged before the (missing) model version is looked up
        assert_invalid_path(requests.get(f"{u}/model-versions/get-artifact",
                                         params={"name": "m", "version": 1, "path": bad}), rule)
        assert_invalid_path(requests.post(f"{u}/ajax-api/2.0/mlflow/upload-artifact",
                                          params={"run_uuid": run_id, "path": bad}, data=b"x"),
                            rule)
        assert_invalid_path(requests.get(
            f"{u}/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/files",
            params={"artifact_file_path": bad}), rule)


def test_upload_artifact_handler(server, mlflow_client):
    run_id = mlflow_client.create_run(mlflow_client.create_experiment("ui-upload")).info.run_id
    up = f"{server.url}/ajax-api/2.0/mlflow/upload-artifact"

    def refused(params, data, words):
        r = requests.post(up, params=params, data=data)
        assert r.status_code == 400, r.text
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert words in r.json()["message"]

    refused({}, None, "Request must specify run_uuid.")
    refused({"run_uuid": run_id}, None, "Request must specify path.")
    refused({"run_uuid": run_id, "path": ""}, None, "Request must specify path.")
    refused({"run_uuid": run_id, "path": "t.txt"}, None, "Request must specify data.")
    refused({"run_uuid": run_id, "path": "t.txt"}, b"x" * (10 * 1024 * 1024 + 1),
            "Max size is 10MB")
    r = requests.post(up, params={"run_uuid": run_id, "path": "nested/t.txt"}, data="hello world")
    assert r.status_code == 200, r.text
    r = requests.get(f"{server.url}/get-artifact", params={"run_uuid": run_id, "path": "nested/t.txt"})
    assert r.status_code == 200 and r.text == "hello world"
    assert [f.path for f in mlflow_client.list_artifacts(run_id, "nested")] == ["nested/t.txt"]
    # an unknown run changes nothing
    r = requests.post(up, params={"run_uuid": "0" * 32, "path": "t.txt"}, data="x")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_logged_model_artifacts(server, mlflow_client, tmp_path):
    exp = mlflow_client.create_experiment("logged-model-artifacts")
    model = mlflow_client.create_logged_model(exp)
    src = tmp_path / "m"
    (src / "sub").mkdir(parents=True)
    mlmodel = f"model_id: {model.model_id}\n"
    (src / "MLmodel").write_text(mlmodel)
    (src / "sub" / "w.bin").write_bytes(b"\0\1")
    mlflow_client.log_model_artifacts(model.model_id, str(src))
    base = f"{server.url}/ajax-api/2.0/mlflow/logged-models/{model.model_id}/artifacts"
    r = requests.get(f"{base}/directories")
    assert r.status_code == 200, r.text
    assert r.json() == {"files": [{"path": "MLmodel", "is_dir": False, "file_size": len(mlmodel)},
                                  {"path": "sub", "is_dir": True}],
                        "root_uri": model.artifact_location}
    r = requests.get(f"{base}/directories", params={"artifact_directory_path": "sub"})
    assert r.json()["files"] == [{"path": "sub/w.bin", "is_dir": False, "file_size": 2}]
    r = requests.get(f"{base}/files", params={"artifact_file_path": "MLmodel"})
    assert r.status_code == 200 and model.model_id in r.text
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Content-Disposition"] == "attachment; filename=MLmodel"
    r = requests.get(f"{base}/files")
    assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"
    assert "artifact_file_path" in r.json()["message"]
    r = requests.get(f"{base}/files", params={"artifact_file_path": "nothing"})
    assert r.status_code == 404
    r = requests.get(f"{server.url}/api/2.0/mlflow/logged-models/m-nope/artifacts/directories")
    assert r.status_code == 404


def test_model_version_get_artifact(server, mlflow_client, tmp_path):
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    mlflow.set_experiment("mv-artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "MLmodel"), "model")
    mlflow_client.create_registered_model("MvArt")
    mlflow_client.create_model_version("MvArt", f"runs:/{run.info.run_id}/model", run.info.run_id)
    for prefix in ("/", "//"):  # MLflow's server merges the doubled slash its own test sends
        r = requests.get(f"{server.url}{prefix}model-versions/get-artifact",
                         params={"name": "MvArt", "version": "1", "path": "MLmodel"})
        assert r.status_code == 200, r.text
        assert r.text == "flavors: {}\n"
        assert r.headers["Content-Type"] == "text/plain"
        assert r.headers["Content-Disposition"] == "attachment; filename=MLmodel"
    r = requests.get(f"{server.url}/model-versions/get-artifact",
                     params={"name": "MvArt", "version": "2", "path": "MLmodel"})
    assert r.status_code == 404
