"""capstan experiments / runs: the same data without Python."""
import json
import subprocess

import mlflow

from conftest import BIN


def cli(server, *args):
    out = subprocess.run([BIN, *args, "--data", server.data_dir], capture_output=True, text=True,
                         timeout=60)
    return out.returncode, out.stdout, out.stderr


def test_cli_commands(server, mlflow_client):
    exp = mlflow.set_experiment("cli-exp2")
    ids = []
    for i in range(3):
        with mlflow.start_run(run_name=f"cli{i}") as r:
            mlflow.log_metric("score", i)
            mlflow.log_param("k", str(i))
            ids.append(r.info.run_id)
    rc, out, err = cli(server, "experiments", "list")
    assert rc == 0, err
    assert "cli-exp2" in out and "Default" in out
    rc, out, err = cli(server, "runs", "search", "--experiment", "cli-exp2", "--filter",
                       "metrics.score >= 1", "--order-by", "metrics.score DESC", "--json")
    assert rc == 0, err
    assert [r["info"]["run_id"] for r in json.loads(out)] == [ids[2], ids[1]]
    rc, out, err = cli(server, "runs", "search", "--experiment", "cli-exp2", "--order-by",
                       "metrics.score ASC")
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[:2] == ["RUN", "ID"]
    assert [l.split()[0] for l in lines[1:]] == ids
    rc, out, err = cli(server, "runs", "show", ids[1])
    assert rc == 0, err
    assert ids[1] in out and "score" in out and "cli1" in out
    rc, out, err = cli(server, "runs", "search", "--experiment", "cli-exp2", "--filter", "metrics.score >>> 1")
    assert rc != 0 and "metrics.score" in err
    rc, out, err = cli(server, "runs", "show", "0123456789abcdef0123456789abcdef")
    assert rc != 0 and "not found" in err.lower()


def test_thread_options_are_checked(tmp_path):
    for cmd in (["server", "--data", str(tmp_path)], ["serve", "--registry", "http://127.0.0.1:1"]):
        for bad in (["--http-threads", "0"], ["--http-threads", "x"], ["--threads", "0"],
                    ["--http-threads", "2000"]):
            out = subprocess.run([BIN, *cmd, "--port", "0", *bad], capture_output=True, text=True,
                                 timeout=60)
            assert out.returncode == 2, (cmd, bad, out.stderr)
            assert "--http-threads" in out.stderr and "1024" in out.stderr, out.stderr
