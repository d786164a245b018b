"""Artifact proxy path safety: every traversal form MLflow's advisories list
is refused with 400 for upload, download, delete and list, and nothing
outside the artifact root is read, written or removed."""
import http.client
import json
import os

import pytest

from conftest import ARTIFACTS

A = "/api/2.0/mlflow-artifacts/artifacts"

TRAVERSALS = [
    "../../etc/passwd",
    "0/../../../etc/passwd",
    "0/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "0/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "0/%252e%252e/%252e%252e/etc/passwd",
    "0/..%5c..%5cetc%5cpasswd",
    "0\\..\\..\\etc\\passwd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "0/a%00b",
    "0/./x",
]


def raw(server, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    data = body or b""
    if method in ("PUT", "POST", "DELETE"):
        conn.putheader("Content-Length", str(len(data)))
    conn.endheaders()
    if data:
        conn.send(data)
    resp = conn.getresponse()
    out = resp.status, dict(resp.getheaders()), resp.read()
    conn.close()
    return out


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_traversal_refused(server, method, path):
    status, headers, body = raw(server, method, f"{A}/{path}", b"payload" if method == "PUT" else None)
    assert status == 400, (status, body)
    err = json.loads(body)
    assert err["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "artifact path" in err["message"].lower() or "path" in err["message"].lower()


@pytest.mark.parametrize("path", ["../..", "/etc", "0/../../", "..%2f..", "0/%2e%2e"])
def test_list_traversal_refused(server, path):
    status, _, body = raw(server, "GET", f"{A}?path={path}")
    assert status == 400, body
    assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"


def test_upload_download_headers(server):
    status, _, _ = raw(server, "PUT", f"{A}/0/run/artifacts/page.html", b"<script>alert(1)</script>")
    assert status == 200
    status, headers, body = raw(server, "GET", f"{A}/0/run/artifacts/page.html")
    assert status == 200 and body == b"<script>alert(1)</script>"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].startswith("attachment")
    assert not headers["Content-Type"].startswith("text/html")
    status, _, body = raw(server, "GET", f"{A}?path=0/run/artifacts")
    assert json.loads(body) == {"files": [{"path": "page.html", "is_dir": False, "file_size": 25}]}
    # a file, or a missing path, lists as empty
    assert json.loads(raw(server, "GET", f"{A}?path=0/run/artifacts/page.html")[2]) == {"files": []}
    assert json.loads(raw(server, "GET", f"{A}?path=0/nothing/here")[2]) == {"files": []}
    status, _, _ = raw(server, "DELETE", f"{A}/0/run/artifacts/page.html")
    assert status == 200
    status, _, body = raw(server, "GET", f"{A}/0/run/artifacts/page.html")
    assert status == 404 and json.loads(body)["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.skipif(ARTIFACTS == "s3", reason="symlinks are a local directory's (S3 has none): make test-integration covers this")
def test_symlink_leaving_root_refused(server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary.txt"
    canary.write_text("keep me")
    root = os.path.join(server.data_dir, "artifacts")
    os.makedirs(os.path.join(root, "7"), exist_ok=True)
    link = os.path.join(root, "7", "escape")
    if not os.path.islink(link):
        os.symlink(str(outside), link)
    for method in ("GET", "PUT", "DELETE"):
        status, _, body = raw(server, method, f"{A}/7/escape/canary.txt", b"x" if method == "PUT" else None)
        assert status == 400, (method, status, body)
    status, _, body = raw(server, "GET", f"{A}?path=7/escape")
    assert status == 400, body
    assert canary.read_text() == "keep me"
    assert sorted(os.listdir(outside)) == ["canary.txt"]
    # a relative link that stays inside the root is followed
    os.makedirs(os.path.join(root, "7", "real"), exist_ok=True)
    with open(os.path.join(root, "7", "real", "f.txt"), "w") as f:
        f.write("inside")
    inner = os.path.join(root, "7", "inner")
    if not os.path.islink(inner):
        os.symlink("real", inner)
    status, _, body = raw(server, "GET", f"{A}/7/inner/f.txt")
    assert status == 200 and body == b"inside"
    # an absolute link is refused even when it points inside: the root may move
    absolute = os.path.join(root, "7", "absolute")
    if not os.path.islink(absolute):
        os.symlink(os.path.join(root, "7", "real"), absolute)
    status, _, body = raw(server, "GET", f"{A}/7/absolute/f.txt")
    assert status == 400, body
