"""Disk full: a server whose data directory (its SQLite store, artifacts and
prediction log) is on a small tmpfs, filled up while it runs. Every write
then gets a clear error (507 RESOURCE_EXHAUSTED naming what was full) or is
stored; what was acknowledged stays; inference goes on answering (its
prediction log entries may be lost meanwhile: they are counted in
capstan_prediction_log_dropped_total, and answering comes first); once
space returns the same server takes writes again without a restart; and
after a clean stop the database passes SQLite's integrity check. Needs
root (mount); the test says so and skips where mounting is not allowed."""
import errno
import os
import sqlite3
import subprocess
import uuid

import numpy as np
import pytest
import requests

import serving_helpers as sh
from conftest import STORE, Server

pytestmark = pytest.mark.skipif(STORE != "sqlite", reason="the store must be on the small disk")

M = "/api/2.0/mlflow"
A = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}): needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(path):
    """Writes path until the disk is full; returns the bytes written."""
    n = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
        try:  # the last partial block
            while f.write(b"\0" * 512):
                n += 512
        except OSError:
            pass
    return n


def is_full_error(r, words):
    body = r.json()
    return (r.status_code == 507 and body["error_code"] == "RESOURCE_EXHAUSTED"
            and words in body["message"])


def metric_keys(srv, run):
    r = srv.api("GET", M + "/runs/get", params={"run_id": run})
    assert r.status_code == 200, r.text
    return {m["key"] for m in r.json()["run"]["data"].get("metrics", [])}


def batch(run, tag, n=1000):
    return {"run_id": run, "metrics": [{"key": f"{tag}-{i}", "value": i, "timestamp": 1, "step": 0}
                                       for i in range(n)]}


def test_disk_full_and_back(small_disk):
    srv = Server(small_disk / "data", []).start()
    try:
        sh.deploy(srv.url, sh.linear_model(0.25), "lin")
        run = srv.api("POST", M + "/runs/create", json={"experiment_id": "0"}).json()
        run = run["run"]["info"]["run_id"]
        acked = set()
        r = srv.api("POST", M + "/runs/log-batch", json=batch(run, "before", 10))
        assert r.status_code == 200, r.text
        acked |= {f"before-{i}" for i in range(10)}
        art = f"{A}/0/{run}/artifacts"
        assert srv.api("PUT", art + "/before.txt", data=b"kept").status_code == 200

        filler = small_disk / "filler"
        assert fill(filler) > 0

        # an upload that cannot fit: a clear 507, and no file left behind
        r = srv.api("PUT", art + "/big.bin", data=os.urandom(1 << 20))
        assert is_full_error(r, "no space left"), r.text
        listed = srv.api("GET", M + "/artifacts/list", params={"run_id": run}).json()
        assert [f["path"] for f in listed.get("files", [])] == ["before.txt"], listed
        # metadata writes: each is stored (200) or refused whole (507); the WAL's
        # slack may take a few before one must grow the file
        refused = None
        for k in range(200):
            r = srv.api("POST", M + "/runs/log-batch", json=batch(run, f"full{k}"))
            if r.status_code == 200:
                acked |= {f"full{k}-{i}" for i in range(1000)}
                continue
            assert is_full_error(r, "disk is full"), r.text
            refused = f"full{k}"
            break
        assert refused, "200 batches of 1,000 metrics fitted in a full 32 MiB disk"
        keys = metric_keys(srv, run)
        assert acked <= keys and not any(k.startswith(refused + "-") for k in keys)
        # inference does not need the disk
        r = sh.oip_infer(requests, srv.url, "lin", [[1.0, 2.0, 3.0]])
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["outputs"][0]["data"],
                                   sh.linear_expect([[1.0, 2.0, 3.0]], 0.25).ravel(), rtol=1e-6)

        # space returns: the same server takes writes again
        filler.unlink()
        r = srv.api("POST", M + "/runs/log-batch", json=batch(run, "after", 10))
        assert r.status_code == 200, r.text
        acked |= {f"after-{i}" for i in range(10)}
        assert srv.api("PUT", art + "/after.txt", data=b"back").status_code == 200
        name = f"after-{uuid.uuid4().hex[:6]}"
        assert srv.api("POST", M + "/experiments/create", json={"name": name}).status_code == 200
        rid = "after-full"
        r = sh.oip_infer(requests, srv.url, "lin", [[3.0, 2.0, 1.0]],
                         headers={"X-Request-Id": rid})
        assert r.status_code == 200, r.text
        sh.wait_for(lambda: any(p.get("request_id") == rid for p in srv.api(
            "GET", "/api/2.0/capstan/predictions", params={"deployment": "lin"}).json().get(
            "predictions", [])), what="the prediction after the disk emptied, in the log")
        assert acked <= metric_keys(srv, run)
        got = srv.api("GET", f"{A}/0/{run}/artifacts/before.txt")
        assert got.status_code == 200 and got.content == b"kept"
    finally:
        srv.assert_clean_exit(srv.stop())
    db = sqlite3.connect(os.path.join(srv.data_dir, "capstan.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = {k for (k,) in db.execute("SELECT DISTINCT m.key FROM metrics m JOIN runs r "
                                         "ON r.rid = m.rid WHERE r.run_uuid = ?", (run,))}
        assert acked <= keys
    finally:
        db.close()
