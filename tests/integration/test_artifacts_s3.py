"""The artifact store on S3 (issue 22, item 2): `capstan server
--artifacts-destination s3://bucket/prefix` against a real S3 server that
checks SigV4 signatures (SeaweedFS, tests/s3_server.py), read back with an
independent S3 client (boto3). Objects land under the prefix and nowhere
else; a large upload streams as a multipart upload without the server's
memory growing with it; a failed upload leaves no object and no pending
upload; listings follow continuation tokens; deletes remove trees; and each
bad configuration is a clear error at start. The suites that exercise the
artifact proxy in general run against S3 too (make test-integration-s3)."""
import hashlib
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

import mlflow
import pytest
import requests
from mlflow.tracking import MlflowClient

import serving_helpers as sh
from conftest import BIN, S3_BUCKET, Server, s3_env, s3_server

A = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def s3():
    return s3_server()


@pytest.fixture(scope="module")
def s3_client(s3):
    return s3.client()


@pytest.fixture(scope="module")
def srv(s3, tmp_path_factory):
    d = tmp_path_factory.mktemp("s3srv")
    s = Server(d, ["--artifacts-destination", f"s3://{S3_BUCKET}/mod-{os.getpid()}/arts"])
    s.env.update(s3_env(s3))
    s.start()
    s.prefix = f"mod-{os.getpid()}/arts"
    yield s
    s.assert_clean_exit(s.stop())


def keys_under(client, prefix):
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def test_objects_land_under_the_prefix(srv, s3_client):
    r = requests.put(f"{srv.url}{A}/1/run/artifacts/dir/a b.txt", data=b"hello s3")
    assert r.status_code == 200, r.text
    got = s3_client.get_object(Bucket=S3_BUCKET, Key=f"{srv.prefix}/1/run/artifacts/dir/a b.txt")
    assert got["Body"].read() == b"hello s3"
    r = requests.get(f"{srv.url}{A}/1/run/artifacts/dir/a b.txt")
    assert r.status_code == 200 and r.content == b"hello s3"
    r = requests.get(f"{srv.url}{A}", params={"path": "1/run/artifacts"})
    assert r.json() == {"files": [{"path": "dir", "is_dir": True}]}
    r = requests.get(f"{srv.url}{A}", params={"path": "1/run/artifacts/dir"})
    assert r.json()["files"] == [{"path": "a b.txt", "is_dir": False, "file_size": 8}]
    r = requests.get(f"{srv.url}{A}/1/run/artifacts/dir/missing.txt")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # an empty object sends no body chunk at all: the stream must still end
    assert requests.put(f"{srv.url}{A}/1/run/artifacts/empty", data=b"").status_code == 200
    r = requests.get(f"{srv.url}{A}/1/run/artifacts/empty")
    assert r.status_code == 200 and r.content == b"" and r.headers["Content-Length"] == "0"


@pytest.mark.parametrize("name", ["plus+sign.txt", "ünï cödé.txt", "semi;colon=eq&amp.txt",
                                  "tilde~star*(paren)!.txt", "100%.txt"])
def test_names_that_need_encoding(srv, s3_client, name):
    # the signature covers the key as S3 decodes it: every byte that is
    # not unreserved must be encoded once, the same way on both sides
    url = f"{srv.url}{A}/enc/{urllib.parse.quote(name)}"
    assert requests.put(url, data=name.encode()).status_code == 200
    got = s3_client.get_object(Bucket=S3_BUCKET, Key=f"{srv.prefix}/enc/{name}")
    assert got["Body"].read() == name.encode()
    assert requests.get(url).content == name.encode()
    listed = requests.get(f"{srv.url}{A}", params={"path": "enc"}).json()["files"]
    assert name in [f["path"] for f in listed]


def test_traversal_writes_nothing_outside_the_prefix(srv, s3_client):
    before = keys_under(s3_client, "")
    for path in ["../../outside", "0/%2e%2e/%2e%2e/outside", "0/a%00b", "/abs"]:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request("PUT", f"{A}/{path}", body=b"x")   # as sent: no client normalising
        r = conn.getresponse()
        assert r.status == 400, (path, r.read())
        conn.close()
    assert keys_under(s3_client, "") == before


def test_mlflow_client_round_trip(srv, tmp_path):
    mlflow.set_tracking_uri(srv.url)
    try:
        client = MlflowClient(srv.url)
        exp = client.create_experiment("s3-round-trip")
        run = client.create_run(exp)
        src = tmp_path / "src"
        (src / "sub").mkdir(parents=True)
        (src / "one.txt").write_text("one")
        (src / "sub" / "two.bin").write_bytes(os.urandom(70000))
        client.log_artifacts(run.info.run_id, str(src), "tree")
        listed = sorted(f.path for f in client.list_artifacts(run.info.run_id, "tree"))
        assert listed == ["tree/one.txt", "tree/sub"]
        out = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="tree",
                                                  dst_path=str(tmp_path / "dst"))
        assert open(os.path.join(out, "one.txt")).read() == "one"
        assert open(os.path.join(out, "sub", "two.bin"), "rb").read() == \
            (src / "sub" / "two.bin").read_bytes()
    finally:
        mlflow.set_tracking_uri(None)


def test_delete_removes_a_tree(srv, s3_client):
    for p in ["t/a.txt", "t/sub/b.txt", "t/sub/deeper/c.txt", "tx/keep.txt"]:
        assert requests.put(f"{srv.url}{A}/del/{p}", data=p.encode()).status_code == 200
    r = requests.delete(f"{srv.url}{A}/del/t")
    assert r.status_code == 200, r.text
    assert keys_under(s3_client, f"{srv.prefix}/del/") == [f"{srv.prefix}/del/tx/keep.txt"]
    r = requests.delete(f"{srv.url}{A}/del/t")
    assert r.status_code == 404


def test_listing_follows_continuation_tokens(srv, s3_client):
    # S3 answers at most 1000 keys a page
    n = 1003
    for i in range(n):
        s3_client.put_object(Bucket=S3_BUCKET, Key=f"{srv.prefix}/many/f{i:05d}", Body=b"z")
    s3_client.put_object(Bucket=S3_BUCKET, Key=f"{srv.prefix}/many/d/inner", Body=b"z")
    r = requests.get(f"{srv.url}{A}", params={"path": "many"})
    files = r.json()["files"]
    assert len(files) == n + 1
    assert files[0] == {"path": "d", "is_dir": True}
    assert [f["path"] for f in files[1:]] == [f"f{i:05d}" for i in range(n)]


class Pattern:
    """size bytes of a repeatable pseudo-random stream, read in chunks, with
    its SHA-256 computed on the way."""

    def __init__(self, size, chunk=1 << 20):
        self.size, self.chunk, self.sent = size, chunk, 0
        self.block = hashlib.shake_256(b"capstan").digest(chunk)
        self.sha = hashlib.sha256()

    def __iter__(self):
        i = 0
        while self.sent < self.size:
            n = min(self.chunk, self.size - self.sent)
            data = i.to_bytes(8, "little") + self.block[8:n] if n >= 8 else self.block[:n]
            self.sha.update(data)
            self.sent += n
            i += 1
            yield data

    def __len__(self):
        return self.size


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_one_gigabyte_streams_both_ways(srv, s3_client):
    size = 1 << 30
    base = peak_rss_kb(srv.proc.pid)
    body = Pattern(size)
    # a sized iterable: requests sends Content-Length, http.client iterates
    r = requests.put(f"{srv.url}{A}/big/blob.bin", data=body, timeout=600)
    assert r.status_code == 200, r.text
    head = s3_client.head_object(Bucket=S3_BUCKET, Key=f"{srv.prefix}/big/blob.bin")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith("-128"), head["ETag"]  # 128 parts of 8 MiB
    down = hashlib.sha256()
    got = 0
    with requests.get(f"{srv.url}{A}/big/blob.bin", stream=True, timeout=600) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(1 << 20):
            down.update(chunk)
            got += len(chunk)
    assert got == size and down.hexdigest() == body.sha.hexdigest()
    grown_mb = (peak_rss_kb(srv.proc.pid) - base) / 1024
    # the server holds one 8 MiB part at a time; 1 GiB in memory would show
    assert grown_mb < 256, f"peak RSS grew by {grown_mb:.0f} MB for a 1 GiB artifact"
    assert requests.delete(f"{srv.url}{A}/big").status_code == 200


def test_an_interrupted_upload_leaves_nothing(srv, s3_client):
    key = f"{srv.prefix}/cut/half.bin"
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("PUT", f"{A}/cut/half.bin")
    conn.putheader("Content-Length", str(40 << 20))
    conn.endheaders()
    sent = 0
    chunk = os.urandom(1 << 20)
    while sent < (20 << 20):   # more than two parts, then the client goes away
        conn.send(chunk)
        sent += len(chunk)
    # as a crashed peer does: a reset. A plain close (FIN) queued behind
    # unread body bytes is not seen by libmicrohttpd 0.9.75's edge-triggered
    # epoll loop until the connection's 120 s idle timeout, which then
    # aborts the upload the same way.
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()

    def settled():
        ups = s3_client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=key).get("Uploads", [])
        return not ups and not keys_under(s3_client, key)

    sh.wait_for(settled, what="the interrupted upload to be aborted")
    r = requests.get(f"{srv.url}{A}/cut/half.bin")
    assert r.status_code == 404


def start_fails(tmp_path, args, env):
    full = dict(os.environ)
    full.update(env)
    p = subprocess.run([BIN, "server", "--port", "0", "--data", str(tmp_path), *args],
                       capture_output=True, text=True, env=full, timeout=120)
    assert p.returncode != 0, p.stderr
    return p.stderr


def test_bad_configuration_is_a_clear_error_at_start(s3, tmp_path):
    ok = s3_env(s3)
    dest = ["--artifacts-destination", f"s3://{S3_BUCKET}/x"]
    err = start_fails(tmp_path, ["--artifacts-destination", "s3://no-such-bucket-here/x"], ok)
    assert "The bucket 'no-such-bucket-here' does not exist" in err, err
    err = start_fails(tmp_path, dest, {**ok, "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert "refused the request's signature: check AWS_SECRET_ACCESS_KEY" in err, err
    err = start_fails(tmp_path, dest, {**ok, "AWS_ACCESS_KEY_ID": "nobody"})
    assert "does not know the access key 'nobody'" in err, err
    err = start_fails(tmp_path, ["--artifacts-destination", "gs://bucket/x"], ok)
    assert "Unsupported artifact destination 'gs://bucket/x'" in err, err
    err = start_fails(tmp_path, dest, {**ok, "AWS_ACCESS_KEY_ID": ""})
    assert "needs credentials: set AWS_ACCESS_KEY_ID" in err, err
    err = start_fails(tmp_path, [*dest, "--s3-endpoint-url", "http://127.0.0.1:1"], ok)
    assert "cannot be reached" in err, err


def test_clock_skew_is_a_clear_error_at_start(s3, tmp_path):
    # libfaketime moves this process's clock 20 minutes back: past SigV4's
    # 15-minute window. The sanitizers' runtime must come first among the
    # preloaded libraries unless told not to check.
    env = {**s3_env(s3), "FAKETIME": "-20m", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
           "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=0"}
    err = start_fails(tmp_path, ["--artifacts-destination", f"s3://{S3_BUCKET}/x"], env)
    assert "clock is" in err and "behind the S3 server's" in err, err


def open_download(port, path):
    """A GET whose body the caller reads from the returned socket file."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(f"GET {A}/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    f = sock.makefile("rb")
    status = f.readline()
    assert b" 200 " in status, status
    while f.readline() not in (b"\r\n", b""):
        pass
    return sock, f


def test_a_download_cut_by_the_client(srv):
    # downloads stream from S3 as they arrive: the client going away ends
    # the transfer, and the next download is whole
    body = os.urandom(24 << 20)
    assert requests.put(f"{srv.url}{A}/cutdown/blob.bin", data=body).status_code == 200
    sock, f = open_download(srv.port, "cutdown/blob.bin")
    assert len(f.read(1 << 20)) == 1 << 20
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    f.close()
    sock.close()
    r = requests.get(f"{srv.url}{A}/cutdown/blob.bin")
    assert r.status_code == 200 and r.content == body


def test_stopping_while_a_download_waits_for_s3(s3, tmp_path):
    # S3 stops answering mid-download (SIGSTOP): the connection waits,
    # suspended, with nothing to send; the server must still stop cleanly
    # (libmicrohttpd refuses to stop with a suspended connection) and
    # leave no thread or leak behind.
    s = Server(tmp_path / "srv", ["--artifacts-destination", f"s3://{S3_BUCKET}/stopping"])
    s.env.update(s3_env(s3))
    s.start()
    body = os.urandom(64 << 20)
    assert requests.put(f"{s.url}{A}/blob.bin", data=body).status_code == 200
    sock, f = open_download(s.port, "blob.bin")
    # 1 MiB read, then the client pauses: the server's ring and the socket
    # buffers fill and the transfer from S3 stalls mid-object (64 MiB is far
    # more than those buffers hold); S3 is frozen there, and the client
    # drains what is buffered, so that the server runs dry and suspends
    got = [len(f.read(1 << 20))]
    frozen = threading.Event()

    def drain():
        frozen.wait()
        try:
            while True:
                b = f.read1(1 << 16)
                if not b:
                    return
                got.append(len(b))
        except OSError:
            return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    time.sleep(0.5)   # not for correctness: lets the buffers fill first
    os.kill(s3.proc.pid, signal.SIGSTOP)
    try:
        frozen.set()
        s.assert_clean_exit(s.stop())
    finally:
        os.kill(s3.proc.pid, signal.SIGCONT)
    reader.join(timeout=60)
    sock.close()
    assert sum(got) < len(body)


def test_replicas_share_one_bucket(s3, tmp_path):
    # what one replica writes, another reads, lists and deletes: the
    # bucket is the only state (the metadata store is the other test's)
    dest = ["--artifacts-destination", f"s3://{S3_BUCKET}/shared-{os.getpid()}"]
    made = [Server(tmp_path / f"r{i}", dest) for i in range(2)]
    for s in made:
        s.env.update(s3_env(s3))
        s.start()
    try:
        a, b = made
        assert requests.put(f"{a.url}{A}/x/one.txt", data=b"from a").status_code == 200
        assert requests.get(f"{b.url}{A}/x/one.txt").content == b"from a"
        assert requests.get(f"{b.url}{A}", params={"path": "x"}).json()["files"] == \
            [{"path": "one.txt", "is_dir": False, "file_size": 6}]
        assert requests.delete(f"{b.url}{A}/x").status_code == 200
        assert requests.get(f"{a.url}{A}/x/one.txt").status_code == 404
    finally:
        for s in made:
            s.assert_clean_exit(s.stop())


def test_dataset_objects_on_s3(s3, s3_client, tmp_path):
    # `capstan data` with --datasets-destination s3://: objects named by
    # content land in the bucket once each, get is byte-identical, and gc
    # refuses (its lock would not reach other machines on the bucket)
    prefix = f"ds-{os.getpid()}"
    env = dict(os.environ, **s3_env(s3))

    def data(*args, check=True):
        p = subprocess.run([BIN, "data", *args, "--data", str(tmp_path / "d"), "--json",
                            "--datasets-destination", f"s3://{S3_BUCKET}/{prefix}"],
                           capture_output=True, text=True, timeout=300, env=env)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    src = tmp_path / "src"
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(300_000), "sub/c.bin": b"alpha\n",
             "empty": b"", "big.bin": os.urandom(12 << 20)}   # big: a multipart upload
    for rel, content in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(content)
    v1 = json.loads(data("add", str(src), "--name", "ds", "-m", "first").stdout)
    assert v1["version"] == 1 and v1["files"] == 5
    objects = [k for k in keys_under(s3_client, f"{prefix}/objects/")]
    # four distinct contents (a.txt and sub/c.bin are one object) plus the manifest
    assert len(objects) == 5, objects
    again = json.loads(data("add", str(src), "--name", "ds").stdout)
    assert again["unchanged"] is True
    data("get", "ds@1", "--out", str(tmp_path / "out"))
    for rel, content in files.items():
        assert (tmp_path / "out" / rel).read_bytes() == content, rel
    (src / "a.txt").write_bytes(b"changed\n")
    data("add", str(src), "--name", "ds")
    d = json.loads(data("diff", "ds@1", "ds@2").stdout)
    assert [e["path"] for e in d["changed"]] == ["a.txt"]
    p = data("gc", check=False)
    assert p.returncode != 0 and "gc of an S3 dataset store is not possible yet" in p.stderr
