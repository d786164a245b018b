"""POST /api/2.0/capstan/monitor/drift: the drift report over artifacts
already in Capstan (logged by the real mlflow client, named by runs:/ and
mlflow-artifacts:/ URIs) and over inline data, each the same report, to the
last bit, as `capstan monitor drift --json` gives on the same files (whose
agreement with Evidently test_monitor_drift.py checks). The refused requests
are data in cases/monitor_errors.json."""
import json
import subprocess

import numpy as np
import requests

from conftest import BIN

URL = "/api/2.0/capstan/monitor/drift"


def frames(seed):
    """A reference and a drifted current frame: floats, a small-int column,
    text categories, missing cells."""
    rng = np.random.default_rng(seed)

    def frame(n, shift):
        x = rng.normal(shift, 1.0, n)
        x[rng.random(n) < 0.05] = np.nan
        k = rng.integers(0, 4 + int(shift), n)
        c = rng.choice(["red", "green", "blue"] if not shift else ["red", "blue", "violet"], n)
        return {"x": x, "k": k, "c": c}

    return frame(400, 0.0), frame(300, 1.0)


def write_csv(path, f):
    with open(path, "w") as out:
        out.write("x,k,c\n")
        for x, k, c in zip(f["x"], f["k"], f["c"]):
            out.write(f"{'' if np.isnan(x) else repr(float(x))},{int(k)},{c}\n")


def cli_report(ref, cur, *extra):
    p = subprocess.run([BIN, "monitor", "drift", "--reference", str(ref), "--current", str(cur),
                        "--json", *extra], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def api_report(server, body):
    r = requests.post(server.url + URL, json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_artifacts_by_uri_give_the_cli_report(server, mlflow_client, tmp_path):
    ref_f, cur_f = frames(11)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    write_csv(ref, ref_f)
    write_csv(cur, cur_f)
    exp = mlflow_client.create_experiment("monitor-api")
    run = mlflow_client.create_run(exp).info.run_id
    mlflow_client.log_artifact(run, str(ref), "data")
    mlflow_client.log_artifact(run, str(cur), "data")
    want = cli_report(ref, cur)
    got = api_report(server, {"reference": {"uri": f"runs:/{run}/data/ref.csv"},
                              "current": {"uri": f"runs:/{run}/data/cur.csv"}})
    assert got == want
    assert [c["column"] for c in got["columns"]] == ["x", "k", "c"]
    assert got["dataset_drift"] is True
    # the same artifact by its store URI, with options as the CLI has them
    root = mlflow_client.get_run(run).info.artifact_uri  # mlflow-artifacts:/<exp>/<run>/artifacts
    want = cli_report(ref, cur, "--stattest", "psi", "--threshold-column", "x=0.2",
                      "--columns", "x,c", "--drift-share", "0.75")
    got = api_report(server, {"reference": {"uri": f"{root}/data/ref.csv"},
                              "current": {"uri": f"runs:/{run}/data/cur.csv"},
                              "stattest": "psi", "threshold_per_column": {"x": 0.2},
                              "columns": ["x", "c"], "drift_share": 0.75})
    assert got == want


def test_inline_data_gives_the_cli_report(server, tmp_path):
    ref_f, cur_f = frames(12)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    write_csv(ref, ref_f)
    write_csv(cur, cur_f)
    want = cli_report(ref, cur, "--categorical", "k", "--stattest-column", "c=TVD")
    opts = {"categorical": ["k"], "stattest_per_column": {"c": "TVD"}}
    got = api_report(server, {"reference": {"csv": ref.read_text()},
                              "current": {"csv": cur.read_text()}, **opts})
    assert got == want
    # a frame in pandas' split form: None for a missing cell, as JSON has it
    split = lambda f: {"columns": ["x", "k", "c"],
                       "data": [[None if np.isnan(x) else float(x), int(k), str(c)]
                                for x, k, c in zip(f["x"], f["k"], f["c"])]}
    got = api_report(server, {"reference": split(ref_f), "current": split(cur_f), **opts})
    assert got == want


def test_npy_artifact_with_named_columns(server, mlflow_client, tmp_path):
    rng = np.random.default_rng(5)
    ref = rng.normal(0, 1, (500, 3))
    cur = rng.normal(0.3, 1, (200, 3))
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "cur.npy", cur)
    exp = mlflow_client.create_experiment("monitor-npy")
    run = mlflow_client.create_run(exp).info.run_id
    mlflow_client.log_artifact(run, str(tmp_path / "ref.npy"))
    mlflow_client.log_artifact(run, str(tmp_path / "cur.npy"))
    want = cli_report(tmp_path / "ref.npy", tmp_path / "cur.npy", "--columns", "a,b,c")
    names = ["a", "b", "c"]
    got = api_report(server, {"reference": {"uri": f"runs:/{run}/ref.npy", "names": names},
                              "current": {"uri": f"runs:/{run}/cur.npy", "names": names}})
    assert got == want
    assert [c["column"] for c in got["columns"]] == names
