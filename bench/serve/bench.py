#!/usr/bin/env python3
"""Serving benchmark: Capstan's online inference against `mlflow models serve` and a FastAPI
service, on one XGBoost model (100 trees, depth 6, 28 features), in one run.

Targets, all started before the first measurement and left running side by side (idle ones
wait in epoll and cost nothing; the load generator and every server share the same cores):
  live      Capstan GET /v2/health/live: the HTTP ceiling of Capstan's own front end
  oip       Capstan POST /v2/models/xgb/infer (Open Inference Protocol v2, batch 1)
  inv       Capstan POST /invocations (MLflow scoring protocol, {"inputs": [[28 floats]]})
  oip_b     the OIP route of a deployment with dynamic batching (max_batch_size 32,
            max_queue_delay_us 200), when the API accepts that setting
  oip_rows  the OIP route with 1,000 distinct bodies (the reference row, then 999 rows of it
            plus N(0, 1) noise, seed 1) that wrk's Lua rotates through: every other target sends
            one fixed body, which the prediction log stores in a few bytes (it shares prefixes
            with the previous row) and the branch predictor learns; this row shows the cost
  oip_nolog the OIP route of a deployment with the prediction log off ({"log": {"sample": 0}};
            Capstan's default logs every request); both variants live on a second Capstan
            server so that the first keeps exactly one deployment (and a plain /invocations)
  oip_token the OIP route of a third Capstan server started with --auth, each request carrying
            an infer:<deployment> token (`Authorization: Bearer capstan_...`): the cost of a
            required token on the hot path (issue 19's target: < 3% slower than `oip`)
  mlflow    `mlflow models serve` of the same ONNX model (onnx flavor, its defaults)
  fastapi   the peers' FastAPI app (../shared/bench/peers/serve_fastapi.py), XGBoost booster,
            uvicorn 2 workers with uvloop + httptools (Debian packages, as the peers ran it)
  mlserver  MLServer 1.7.1 (Seldon's Open Inference Protocol server, the one KServe runs) with
            its XGBoost runtime, on the same booster (model.json), in a venv of its own
            (requirements-mlserver.txt, made by run.sh); the same OIP body as `oip`

Measurement: wrk -t2 --latency with load.lua (same body bytes for every request), at each
connection count (32, 64); RUNS rounds, each round runs every target once per connection count,
in an order rotated from round to round; the table gives medians over the rounds. Then Capstan
OIP (and its variants) are paced at half of their peak rate (load.lua's per-thread schedule
through wrk's delay() hook) for the p99-at-half-load target, and the ceiling route at OIP's
paced rate for reference. Then a fresh Capstan server gets 10 models registered and deployed, one
request each, and its VmRSS / VmHWM are read.

It reports; it never asserts. Exit status 1 only when the harness could not measure Capstan.
"""

import argparse
import base64
import contextlib
import datetime
import http.client
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PEERS = os.path.abspath(os.path.join(REPO, "..", "shared", "bench", "peers"))
sys.path.insert(0, os.path.join(REPO, "bench", "tracking"))

from servers import (capstan_version, env, free_port, loadavg, log, machine_info,  # noqa: E402
                     memory, process_tree)

LABELS = {
    "live": "capstan GET /v2/health/live (ceiling)",
    "oip": "capstan OIP /v2/models/xgb/infer",
    "inv": "capstan /invocations",
    "oip_rows": "capstan OIP, 1,000 distinct rows",
    "oip_b": "capstan OIP, batching 32/200us",
    "oip_nolog": "capstan OIP, prediction log off",
    "oip_token": "capstan OIP, --auth + infer token",
    "mlflow": "mlflow models serve /invocations",
    "fastapi": "FastAPI+uvicorn (2 workers) /predict",
    "mlserver": "MLServer OIP /v2/models/xgb/infer",
}
ORDER = ["live", "oip", "inv", "oip_rows", "oip_b", "oip_nolog", "oip_token", "mlflow", "fastapi",
         "mlserver"]
SHORT = {"live": "ceiling", "oip": "OIP", "inv": "invocations", "oip_rows": "OIP distinct rows",
         "oip_b": "OIP batched",
         "oip_nolog": "OIP log off", "oip_token": "OIP with token",
         "mlflow": "mlflow", "fastapi": "FastAPI", "mlserver": "MLServer"}
TOL = 1e-5  # a prediction must match XGBoost's own probability this closely
# The --auth server's admin (oip_token), and each server's credentials by port: req() sends them.
ADMIN = ("bench-admin", "bench-admin-pw-5c1e")
CREDS = {}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    a = p.add_argument
    a("--runs", type=int, default=int(env("RUNS", "3")), help="rounds over all targets (RUNS)")
    a("--duration", default=env("DURATION", "10s"), help="each wrk run (DURATION)")
    a("--warmup", default=env("WARMUP", "3s"), help="wrk warm-up per target (WARMUP)")
    a("--conns", default=env("CONNS", "32,64"), help="connection counts (CONNS)")
    a("--threads", type=int, default=int(env("THREADS", "2")), help="wrk threads (THREADS)")
    a("--targets", default=env("TARGETS", ",".join(ORDER)), help="subset of " + ",".join(ORDER))
    a("--batching", default=env("BATCHING", "auto"), choices=["auto", "off"],
      help="auto: add the oip_b target when the deployment API accepts batching (BATCHING)")
    a("--pace", type=int, default=int(env("PACE", "1")), help="1: the half-load p99 run (PACE)")
    a("--pace-conns", type=int, default=int(env("PACE_CONNS", "32")), help="PACE_CONNS")
    a("--pace-fraction", type=float, default=float(env("PACE_FRACTION", "0.5")),
      help="paced rate as a fraction of Capstan OIP's peak req/s (PACE_FRACTION)")
    a("--rss-models", type=int, default=int(env("RSS_MODELS", "10")),
      help="deployments for the memory figure; 0 skips it (RSS_MODELS)")
    a("--train-rows", type=int, default=int(env("TRAIN_ROWS", "1000000")), help="TRAIN_ROWS")
    a("--tmp", default=env("BENCH_TMP", "/tmp/capstan-bench-serve"),
      help="work dir: the model is cached in <tmp>/model, each run uses <tmp>/run-XXXX "
           "(removed at the end unless KEEP_TMP=1 or the run failed) (BENCH_TMP)")
    a("--capstan", default=env("CAPSTAN", os.path.join(REPO, "build", "rel", "capstan")))
    a("--capstan-threads", default=env("CAPSTAN_THREADS", ""), help="--threads for capstan")
    a("--mlflow-workers", default=env("MLFLOW_WORKERS", ""),
      help="-w for mlflow models serve (default: its own default, 1)")
    a("--fastapi-workers", type=int, default=int(env("FASTAPI_WORKERS", "2")))
    a("--mlserver-venv", default=env("MLSERVER_VENV", ""),
      help="the MLServer peer's venv (MLSERVER_VENV; default <tmp>/venv-mlserver, made by "
           "run.sh from requirements-mlserver.txt)")
    a("--mlserver-workers", type=int, default=int(env("MLSERVER_WORKERS", "0")),
      help="MLServer's parallel_workers (MLSERVER_WORKERS; 0: inference in the server process, "
           "the fastest here; see README)")
    a("--mlserver-nthread", default=env("MLSERVER_NTHREAD", "1"),
      help="OMP_NUM_THREADS for MLServer, i.e. XGBoost's threads per prediction "
           "(MLSERVER_NTHREAD; '' leaves it unset: XGBoost then uses every CPU)")
    a("--mlserver-settings", default=env("MLSERVER_SETTINGS", ""),
      help="JSON merged into MLServer's settings.json, e.g. '{\"metrics_endpoint\": "
           "\"/metrics\", \"gzip_enabled\": true}' (MLSERVER_SETTINGS)")
    a("--debian-python", default=env("DEBIAN_PYTHON", "/usr/bin/python3"),
      help="interpreter with the FastAPI peer's Debian packages")
    a("--deploy-spec", default=env("DEPLOY_SPEC", ""),
      help='JSON merged into every deployment\'s create body, e.g. \'{"log": {"sample": 0}}\' '
           "(DEPLOY_SPEC; default: Capstan's defaults)")
    a("--json", default=env("RESULTS_JSON", ""), help="also write every figure here (RESULTS_JSON)")
    a("--keep-tmp", action="store_true", default=env("KEEP_TMP", "") == "1")
    args = p.parse_args(argv)
    args.extra = json.loads(args.deploy_spec) if args.deploy_spec else {}
    args.mlserver_extra = json.loads(args.mlserver_settings) if args.mlserver_settings else {}
    if not args.mlserver_venv:
        args.mlserver_venv = os.path.join(args.tmp, "venv-mlserver")
    args.conns = [int(c) for c in args.conns.split(",") if c.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in args.targets:
        if t not in ORDER:
            p.error(f"unknown target {t}")
    return args


# ---------------------------------------------------------------- processes

LIVE = []  # servers started and not yet stopped


class Proc:
    """One server started in its own session; stopped by its pid's process group, then any
    process of its tree that left the group, by pid."""

    def __init__(self, label, argv, cwd, env_=None):
        self.label, self.argv, self.cwd, self.env = label, argv, cwd, env_
        self.log_path = os.path.join(cwd, f"{label}.log")
        self.proc = None

    def start(self):
        log("+ " + " ".join(shlex.quote(a) for a in self.argv) + f"   (log {self.log_path})")
        with open(self.log_path, "wb") as lf:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=lf,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        LIVE.append(self)
        self.t0 = time.perf_counter()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, check, limit_s=120.0):
        while time.perf_counter() - self.t0 < limit_s:
            if check():
                dt = time.perf_counter() - self.t0
                log(f"  {self.label} ready in {dt:.2f}s (pid {self.pid}, "
                    f"{len(process_tree(self.pid))} processes)")
                return dt
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; "
                                   f"see {self.log_path}: {tail(self.log_path)}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.label} not ready within {limit_s}s; see {self.log_path}")

    def stop(self, grace_s=15.0):
        if self.proc is None:
            return
        pgid = self.pid
        ours = set(process_tree(pgid))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 5)
            while time.monotonic() < deadline:
                self.proc.poll()
                if not process_tree(pgid):
                    break
                time.sleep(0.1)
            else:
                continue
            break
        for p in ours:  # workers that left the group
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        log(f"  stopped {self.label} (pid {pgid})")
        self.proc = None
        if self in LIVE:
            LIVE.remove(self)


def tail(path, n=400):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace").replace("\n", " | ")
    except OSError:
        return ""


def dir_bytes(path):
    n = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                n += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return n


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- HTTP

def req(port, method, path, body=None, timeout=30.0, raw=None, auth=None):
    """Returns (status, parsed JSON or text). body: a JSON-able object; raw: bytes; auth: an
    Authorization value (default: the server's CREDS, if any)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if auth or port in CREDS:
            headers["Authorization"] = auth or CREDS[port]
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as e:
        return None, f"{type(e).__name__}: {e}"
    finally:
        c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def numbers(x):
    if isinstance(x, bool):
        return []
    if isinstance(x, (int, float)):
        return [float(x)]
    if isinstance(x, dict):
        return [v for y in x.values() for v in numbers(y)]
    if isinstance(x, list):
        return [v for y in x for v in numbers(y)]
    return []


def find_state(x):
    """The deployment's status.state, wherever the answer nests it."""
    if isinstance(x, dict):
        st = x.get("status")
        if isinstance(st, dict) and isinstance(st.get("state"), str):
            return st["state"], st
        if isinstance(x.get("state"), str):
            return x["state"], x
        for v in x.values():
            r = find_state(v)
            if r:
                return r
    elif isinstance(x, list):
        for v in x:
            r = find_state(v)
            if r:
                return r
    return None


# ---------------------------------------------------------------- wrk

UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def parse_wrk(text):
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        raise RuntimeError("wrk printed no Requests/sec: " + text[-500:])
    d = {"rps": float(m.group(1))}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    d["requests"] = int(m.group(1)) if m else None
    for q in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        d["p" + q] = float(m.group(1)) * UNIT_MS[m.group(2)] if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    d["socket_errors"] = sum(map(int, m.groups())) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    d["non2xx"] = int(m.group(1)) if m else 0
    return d


WRK_PROCS = []


def wrk(url, conns, duration, threads, method, body_path, rate=None, quiet=False, auth=None):
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}", "--latency", "--timeout", "5s",
            "-s", os.path.join(HERE, "load.lua"), url]
    e = dict(os.environ, BENCH_METHOD=method)
    pre = f"BENCH_METHOD={method} "
    if auth:  # the token stays out of the log
        e["BENCH_AUTHORIZATION"] = auth
        pre += "BENCH_AUTHORIZATION='Bearer capstan_...' "
    if body_path:
        # a .jsonl file holds one body per line, rotated by load.lua
        var = "BENCH_BODIES" if body_path.endswith(".jsonl") else "BENCH_BODY"
        e[var] = body_path
        pre += f"{var}={os.path.basename(body_path)} "
    if rate is not None:  # paced: each thread sends rate/threads per second
        e["BENCH_THREAD_RATE"] = f"{rate / threads:.3f}"
        pre += f"BENCH_THREAD_RATE={rate / threads:.1f} "
    if not quiet:
        log("+ " + pre + " ".join(argv[:-3]) + " bench/serve/load.lua " + url)
    p = subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    WRK_PROCS.append(p)
    try:
        out, _ = p.communicate()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        WRK_PROCS.remove(p)
    d = parse_wrk(out)
    d["raw"] = out
    return d


# ---------------------------------------------------------------- Capstan set-up

def register(port, model_dir, names):
    """Registers the ONNX model under each name with the real mlflow client (version 1)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow
    import mlflow.onnx
    import onnx
    from mlflow.models import Model
    mlflow.set_tracking_uri(f"http://127.0.0.1:{port}")
    for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        os.environ.pop(k, None)
    if port in CREDS:  # the --auth server: the mlflow client signs in as its admin
        os.environ.update(MLFLOW_TRACKING_USERNAME=ADMIN[0], MLFLOW_TRACKING_PASSWORD=ADMIN[1])
    model = onnx.load(os.path.join(model_dir, "model.onnx"))
    sig = Model.load(os.path.join(model_dir, "mlflow_model")).signature
    how = "mlflow.onnx.log_model(registered_model_name=...)"
    for name in names:
        t0 = time.perf_counter()
        try:
            # (the mlflow client prints "View run ..." links on stdout: keep the table clean)
            with contextlib.redirect_stdout(sys.stderr):
                with mlflow.start_run(run_name=f"bench-serve-{name}"):
                    mlflow.onnx.log_model(model, name="model", registered_model_name=name,
                                          signature=sig)
        except Exception as e:  # fall back to a plain artifact + register_model
            log(f"  log_model failed ({type(e).__name__}: {str(e)[:200]}); trying log_artifact "
                f"+ register_model")
            how = "log_artifact + mlflow.register_model(runs:/<id>/model.onnx)"
            with contextlib.redirect_stdout(sys.stderr):
                with mlflow.start_run(run_name=f"bench-serve-{name}") as run:
                    mlflow.log_artifact(os.path.join(model_dir, "model.onnx"))
                mlflow.register_model(f"runs:/{run.info.run_id}/model.onnx", name)
        log(f"  registered {name} version 1 in {time.perf_counter() - t0:.2f}s")
    return how


def deploy(port, name, model, batching=None, extra=None, limit_s=120.0):
    body = {"name": name, "model": model}
    body.update(extra or {})
    if batching:
        body["batching"] = batching
    st, ans = req(port, "POST", "/api/2.0/capstan/deployments", body)
    log(f"  POST /api/2.0/capstan/deployments {json.dumps(body)} -> {st} {str(ans)[:300]}")
    if st != 200:
        raise RuntimeError(f"create deployment {name}: HTTP {st}: {str(ans)[:500]}")
    t0 = time.perf_counter()
    while True:
        st, ans = req(port, "GET", f"/api/2.0/capstan/deployments/{name}")
        state = find_state(ans) if st == 200 else None
        if state and state[0] == "READY":
            return time.perf_counter() - t0, ans
        if state and state[0] in ("FAILED", "ERROR"):
            raise RuntimeError(f"deployment {name} {state[0]}: {str(ans)[:500]}")
        if time.perf_counter() - t0 > limit_s:
            raise RuntimeError(f"deployment {name} not READY within {limit_s}s: {st} "
                               f"{str(ans)[:500]}")
        time.sleep(0.05)


def distinct_bodies(body_path, tmp, n=1000, seed=1):
    """The OIP body, then n-1 bodies of its row plus N(0, 1) noise, one per line."""
    import random
    with open(body_path) as f:
        first = json.load(f)
    row = first["inputs"][0]["data"]
    rnd = random.Random(seed)
    path = os.path.join(tmp, "bodies_oip_rows.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps(first) + "\n")
        for _ in range(n - 1):
            b = json.loads(json.dumps(first))
            b["inputs"][0]["data"] = [float(f"{x + rnd.gauss(0, 1):.7g}") for x in row]
            f.write(json.dumps(b) + "\n")
    return path


def capstan_server(args, tmp, label, auth=False):
    port = free_port()
    data = os.path.join(tmp, label)
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    argv = [args.capstan, "server", "--host", "127.0.0.1", "--port", str(port), "--data", data]
    if args.capstan_threads:
        argv += ["--threads", str(args.capstan_threads)]
    e = None
    if auth:
        argv.append("--auth")
        e = dict(os.environ, CAPSTAN_ADMIN_USERNAME=ADMIN[0], CAPSTAN_ADMIN_PASSWORD=ADMIN[1])
        CREDS[port] = "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode()
    s = Proc(label, argv, tmp, e).start()
    s.port = port
    s.wait_ready(lambda: req(port, "GET", "/health", timeout=2)[0] == 200)
    return s


MLSERVER_MODEL = {"name": "xgb", "implementation": "mlserver_xgboost.XGBoostModel",
                  "parameters": {"version": "1"}}


def mlserver_settings(args, http_port, grpc_port, metrics_port):
    """MLServer's settings.json: what mlserver_server() writes and the header prints."""
    st = {"debug": False,                # no access log, INFO logging (debug: both on)
          "host": "127.0.0.1", "http_port": http_port,
          "grpc_port": grpc_port,        # 1.7.1 always starts gRPC: a free port, unused
          "metrics_endpoint": None,      # no metrics server, no Prometheus middleware
          "metrics_port": metrics_port,  # (used only when MLSERVER_SETTINGS turns them on)
          "gzip_enabled": False,         # no GZip middleware (the answers are < 500 B anyway)
          "parallel_workers": args.mlserver_workers,
          "load_models_at_startup": True}
    st.update(args.mlserver_extra)
    return st


def mlserver_server(args, tmp, mdir):
    """MLServer with the XGBoost runtime on the booster the FastAPI peer serves: a model
    repository <run>/mlserver/ with settings.json and xgb/{model-settings.json, model.json}."""
    exe = os.path.join(args.mlserver_venv, "bin", "mlserver")
    repo_dir = os.path.join(tmp, "mlserver")
    mdl = os.path.join(repo_dir, "xgb")
    os.makedirs(mdl, exist_ok=True)
    # model.json: the runtime's well-known name for a booster saved as XGBoost JSON, which
    # xgb_100.json is (model.py's bst.save_model): the same trained booster, byte for byte.
    shutil.copyfile(os.path.join(mdir, "xgb_100.json"), os.path.join(mdl, "model.json"))
    with open(os.path.join(mdl, "model-settings.json"), "w") as f:
        json.dump(MLSERVER_MODEL, f)
    port, gport, mport = free_port(), free_port(), free_port()
    with open(os.path.join(repo_dir, "settings.json"), "w") as f:
        json.dump(mlserver_settings(args, port, gport, mport), f)
    e = dict(os.environ)
    for k in [k for k in e if k.startswith("MLSERVER_")]:  # ours, not MLServer's env settings
        del e[k]
    if args.mlserver_nthread:
        e["OMP_NUM_THREADS"] = str(args.mlserver_nthread)
    s = Proc("mlserver", [exe, "start", repo_dir], tmp, e).start()
    s.port = port
    s.wait_ready(lambda: req(port, "GET", "/v2/models/xgb/ready", timeout=2)[0] == 200, 180)
    return s


def mlserver_versions(venv):
    py = os.path.join(venv, "bin", "python")
    code = ("import importlib.metadata as m, json\nd = {}\n"
            "for p in ('mlserver', 'mlserver-xgboost', 'xgboost', 'uvloop', 'uvicorn', "
            "'fastapi', 'httptools'):\n"
            "    try: d[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: d[p] = None\n"
            "print(json.dumps(d))")
    try:
        return json.loads(subprocess.run([py, "-c", code], capture_output=True, text=True,
                                         timeout=60).stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


def oip_body(port, name, row, tmp):
    st, meta = req(port, "GET", f"/v2/models/{name}")
    if st != 200 or not isinstance(meta, dict) or not meta.get("inputs"):
        raise RuntimeError(f"GET /v2/models/{name}: {st} {str(meta)[:300]}")
    return oip_body_file(meta["inputs"][0]["name"], row, tmp), meta


def oip_body_file(inp, row, tmp):
    """The OIP v2 request for one row, as every OIP target gets it (same bytes)."""
    path = os.path.join(tmp, f"body_oip_{inp}.json")
    with open(path, "w") as f:
        json.dump({"inputs": [{"name": inp, "shape": [1, len(row)], "datatype": "FP32",
                               "data": row}]}, f)
    return path


def cached_model(args):
    """For the other scripts here (token_cost.py, soak.py): the model, made once by model.py
    and cached in <BENCH_TMP>/model, and the held-out row every body holds: (mdir, row)."""
    mdir = os.path.join(args.tmp, "model")
    subprocess.run([sys.executable, os.path.join(HERE, "model.py"), "--out", mdir, "--rows",
                    str(args.train_rows)], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(mdir, "row.json")) as f:
        return mdir, json.load(f)["row"]


def token_target(args, tmp, mdir, row, meta):
    """oip_token: a third server, with --auth; the deployment xgb-auth called with a token
    of scope infer:xgb-auth (what a machine that only predicts would hold)."""
    ca = capstan_server(args, tmp, "capstan-auth", auth=True)
    register(ca.port, mdir, ["xgb"])
    dt, dep = deploy(ca.port, "xgb-auth", "xgb/1", extra=args.extra)
    meta["deployment_oip_token"] = dep
    st, ans = req(ca.port, "POST", "/api/2.0/capstan/tokens/create",
                  {"name": "bench", "scope": "infer:xgb-auth"})
    if st != 200:
        raise RuntimeError(f"token create: {st} {str(ans)[:300]}")
    bb, _ = oip_body(ca.port, "xgb-auth", row, tmp)
    return {"key": "oip_token", "port": ca.port, "path": "/v2/models/xgb-auth/infer",
            "method": "POST", "body": bb, "proc": ca, "auth": "Bearer " + ans["secret"]}


# ---------------------------------------------------------------- phases

def check_target(t, ref):
    """One request with the body wrk will send; the answer must hold the reference
    probability. Returns a short description."""
    raw = None
    if t["body"]:
        with open(t["body"], "rb") as f:
            raw = f.readline().rstrip(b"\n") if t["body"].endswith(".jsonl") else f.read()
    st, ans = req(t["port"], t["method"], t["path"], raw=raw, auth=t.get("auth"))
    desc = f"{st} {json.dumps(ans)[:160] if not isinstance(ans, str) else ans[:160]}"
    if st != 200:
        raise RuntimeError(f"{t['key']}: {t['method']} {t['path']} -> {desc}")
    if t["key"] != "live" and not any(abs(v - ref) < TOL for v in numbers(ans)):
        raise RuntimeError(f"{t['key']}: answer lacks the reference probability {ref}: {desc}")
    return desc


def measure(args, targets, problems, res):
    """RUNS rounds; each round: every connection count, every target (rotated). Fills res;
    a target whose server dies is reported and dropped, the others go on."""
    for t in targets:
        res[t["key"]] = {c: [] for c in args.conns}
    live = list(targets)
    for t in targets:
        log(f"warm-up {t['key']} ({args.warmup})")
        wrk(t["url"], args.conns[0], args.warmup, args.threads, t["method"], t["body"], quiet=True,
            auth=t.get("auth"))
    for r in range(args.runs):
        for c in args.conns:
            order = live[r % len(live):] + live[:r % len(live)] if live else []
            for t in order:
                if t not in live:
                    continue
                d = wrk(t["url"], c, args.duration, args.threads, t["method"], t["body"],
                        auth=t.get("auth"))
                res[t["key"]][c].append(d)
                log(f"  [{t['key']} c{c} round {r + 1}] {d['rps']:,.0f} req/s  p50 "
                    f"{fmt_ms(d['p50'])}  p99 {fmt_ms(d['p99'])}  non-2xx {d['non2xx']}  "
                    f"socket errors {d['socket_errors']}")
                if d["non2xx"] or d["socket_errors"]:
                    problems.append(f"!!! {t['key']} c{c} round {r + 1}: {d['non2xx']} non-2xx, "
                                    f"{d['socket_errors']} socket errors")
                if not t["proc"].alive():
                    rc = t["proc"].proc.returncode
                    gone = [x["key"] for x in live if x["proc"] is t["proc"]]
                    problems.append(f"!!! the {t['proc'].label} server exited ({rc}) during "
                                    f"{t['key']} c{c} round {r + 1}; dropped {', '.join(gone)}; "
                                    f"log tail: {tail(t['proc'].log_path)}")
                    log(problems[-1])
                    live = [x for x in live if x["proc"] is not t["proc"]]
    return res


def summary(runs):
    if not runs:
        return None
    med = lambda k: statistics.median([x[k] for x in runs if x[k] is not None])  # noqa: E731
    return {"rps": med("rps"), "rps_min": min(x["rps"] for x in runs),
            "rps_max": max(x["rps"] for x in runs), "p50": med("p50"), "p99": med("p99"),
            "p99_max": max(x["p99"] for x in runs), "non2xx": sum(x["non2xx"] for x in runs),
            "socket_errors": sum(x["socket_errors"] for x in runs), "n": len(runs)}


def pace(args, t, peak, problems):
    """PACE_FRACTION x peak req/s, held by load.lua's per-thread schedule: a 3 s warm-up,
    then RUNS runs of DURATION."""
    goal = args.pace_fraction * peak
    c = args.pace_conns
    wrk(t["url"], c, "3s", args.threads, t["method"], t["body"], rate=goal, quiet=True,
        auth=t.get("auth"))
    runs = []
    for r in range(args.runs):
        x = wrk(t["url"], c, args.duration, args.threads, t["method"], t["body"], rate=goal,
                auth=t.get("auth"))
        runs.append(x)
        log(f"  [paced {t['key']} run {r + 1}] {x['rps']:,.0f} req/s ({x['rps'] / peak:.0%} of "
            f"peak, goal {goal:,.0f})  p50 {fmt_ms(x['p50'])}  p99 {fmt_ms(x['p99'])}")
        if x["non2xx"] or x["socket_errors"]:
            problems.append(f"!!! paced {t['key']} run {r + 1}: {x['non2xx']} non-2xx, "
                            f"{x['socket_errors']} socket errors")
    s = summary(runs)
    if s["rps"] < 0.95 * goal:
        problems.append(f"paced {t['key']}: reached {s['rps']:,.0f} req/s of the {goal:,.0f} "
                        f"asked ({s['rps'] / goal:.0%}): the server (or the machine) fell behind")
    s.update({"goal": goal, "peak": peak, "conns": c,
              "runs": [{k: v for k, v in x.items() if k != "raw"} for x in runs]})
    return s


def rss_phase(args, tmp, mdir, ref, row):
    """A fresh server; N models registered and deployed; one request each; VmRSS/VmHWM."""
    out = {"models": args.rss_models}
    s = capstan_server(args, tmp, "capstan-rss")
    try:
        time.sleep(1)
        out["idle"] = {"rss_kb": status_kb(s.pid, "VmRSS"), "hwm_kb": status_kb(s.pid, "VmHWM")}
        names = [f"xgb-{i}" for i in range(args.rss_models)]
        register(s.port, mdir, names)
        out["registered"] = {"rss_kb": status_kb(s.pid, "VmRSS"),
                             "hwm_kb": status_kb(s.pid, "VmHWM")}
        body = None
        load_s = []
        for i, n in enumerate(names):
            dt, _ = deploy(s.port, n, f"{n}/1", extra=args.extra)
            load_s.append(dt)
            if body is None:
                body, _ = oip_body(s.port, n, row, tmp)
            with open(body, "rb") as f:
                raw = f.read()
            st, ans = req(s.port, "POST", f"/v2/models/{n}/infer", raw=raw)
            if st != 200 or not any(abs(v - ref) < TOL for v in numbers(ans)):
                raise RuntimeError(f"infer {n}: {st} {str(ans)[:300]}")
            if i == 0:
                out["one"] = {"rss_kb": status_kb(s.pid, "VmRSS"),
                              "hwm_kb": status_kb(s.pid, "VmHWM")}
        time.sleep(0.5)
        out["all"] = {"rss_kb": status_kb(s.pid, "VmRSS"), "hwm_kb": status_kb(s.pid, "VmHWM"),
                      "tree": memory(s.pid)}
        out["deploy_ready_s"] = load_s
    finally:
        s.stop()
    return out


# ---------------------------------------------------------------- report

def spec_of(dep):
    """The deployment's canonical spec from its GET answer, as one line."""
    if not isinstance(dep, dict):
        return None
    d = dep.get("deployment", dep)
    sp = d.get("spec") if isinstance(d, dict) else None
    return json.dumps(sp if sp is not None else d, separators=(",", ":"))[:400]


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 1 else (f"{v:.2f}" if v < 100 else f"{v:.0f}")


def fmt_x(v):
    if v is None:
        return "-"
    return f"{v:.0f}x" if v >= 100 else (f"{v:.1f}x" if v >= 1 else f"{v:.2f}x")


def mib(kb):
    return "-" if kb is None else f"{kb / 1024:.1f} MiB"


def verdict(ok):
    return "PASS" if ok else "FAIL"


def report(args, meta, S, paced, rss, peers_mem, problems, notes):
    L = []
    m = meta["machine"]
    L.append(f"Capstan serving benchmark, {meta['date']}")
    L.append(f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['mem']}, Linux {m['kernel']}; load "
             f"average {meta['loadavg_start']} at start, {meta.get('loadavg_end', '?')} at end; "
             f"wrk and every server share these CPUs")
    L.append(f"model: {meta['model']}")
    L.append(f"capstan: {meta['capstan_version']}  {meta['capstan_cmd']}")
    spec = spec_of(meta.get("deployment"))
    if spec:
        L.append(f"capstan deployment spec (as the server reports it): {spec}")
    L.append(f"mlflow models serve: mlflow {meta['versions'].get('mlflow')} "
             f"(onnxruntime {meta['versions'].get('onnxruntime')}), {meta['mlflow_cmd']}")
    L.append(f"FastAPI peer: {meta['fastapi_cmd']}; {meta['versions'].get('debian')}")
    if meta.get("mlserver_cmd"):
        L.append(f"MLServer peer: {meta['mlserver_cmd']}")
    L.append(f"load: {meta['versions'].get('wrk')}, -t{args.threads} --latency, {args.duration} "
             f"per run, {args.runs} rounds (targets interleaved), median over rounds; ratio = "
             f"req/s of the row / req/s of the column's target at the same connection count")
    L.append(f"command: {meta['command']}")
    L.append("")
    keys = [k for k in ORDER if k in S]
    if not keys:
        L.append("(no target was measured)")
    bases = [k for k in ("mlflow", "fastapi", "mlserver", "live", "oip") if k in S]
    hdr = (f"| {'target':<38} | conns | {'req/s (min-max)':<24} | p50 ms | p99 ms | errors | "
           + " | ".join(f"/ {SHORT[b]}" for b in bases) + " |")
    if keys:
        L.append(hdr)
        L.append("|---|---:|---:|---:|---:|---:|" + "---:|" * len(bases))
    ratios = {}
    for c in args.conns:
        for k in keys:
            s = S[k].get(c)
            if not s:
                continue
            cells = []
            for b in bases:
                sb = S[b].get(c)
                r = s["rps"] / sb["rps"] if sb and sb["rps"] else None
                ratios.setdefault(k, {}).setdefault(c, {})[b] = r
                cells.append("-" if b == k else (f"{r:.0%}" if b == "live" else fmt_x(r)))
            rng = f"{s['rps']:,.0f} ({s['rps_min']:,.0f}-{s['rps_max']:,.0f})"
            L.append(f"| {LABELS[k]:<38} | {c:>5} | {rng:<24} | {fmt_ms(s['p50']):>6} | "
                     f"{fmt_ms(s['p99']):>6} | {s['non2xx'] + s['socket_errors']:>6} | "
                     + " | ".join(cells) + " |")
    L.append("")
    if paced:
        for k, p in paced.items():
            L.append(f"paced {SHORT[k] if k != 'live' else 'ceiling (at OIP rate, reference)'}: {p['conns']} connections, scheduled at "
                     f"{p['goal']:,.0f} req/s -> {p['rps']:,.0f} req/s ({p['rps'] / p['peak']:.0%} of the "
                     f"{p['peak']:,.0f} req/s peak), median of {p['n']} runs; p50 "
                     f"{fmt_ms(p['p50'])} ms, p99 {fmt_ms(p['p99'])} ms (worst run "
                     f"{fmt_ms(p['p99_max'])} ms), errors {p['non2xx'] + p['socket_errors']}")
    if rss:
        a, o, i = rss.get("all", {}), rss.get("one", {}), rss.get("idle", {})
        per = ((a["rss_kb"] - o["rss_kb"]) / (rss["models"] - 1)
               if a and o and rss["models"] > 1 else None)
        g = rss.get("registered", {})
        L.append(f"memory, capstan with {rss['models']} deployed models (one request each): "
                 f"VmRSS {mib(a.get('rss_kb'))}, VmHWM {mib(a.get('hwm_kb'))}; idle "
                 f"{mib(i.get('rss_kb'))}, {rss['models']} registered and none deployed "
                 f"{mib(g.get('rss_kb'))}, 1 deployed {mib(o.get('rss_kb'))}, "
                 f"+{mib(per)} per further model")
    for k, v in peers_mem.items():
        extra = (f"; data dir {v['data_bytes'] / 1e6:,.0f} MB after the load"
                 if v.get("data_bytes") else "")
        L.append(f"memory after the load, {v['what']}: RSS {mib(v['rss_kb'])}, anonymous "
                 f"{mib(v['rss_anon_kb'])} ({v['nproc']} processes){extra}")
    L.append("")

    def both(k, b):
        return [ratios.get(k, {}).get(c, {}).get(b) for c in args.conns]

    def show(vals, pct=False):
        return ", ".join(f"{c} conns {'-' if v is None else (f'{v:.0%}' if pct else fmt_x(v))}"
                         for c, v in zip(args.conns, vals))

    def judge(vals, need):
        return "n/a" if not vals or None in vals else verdict(all(v >= need for v in vals))
    caps = [k for k in ("oip", "inv", "oip_rows", "oip_b", "oip_nolog", "oip_token") if k in S]
    T = []
    for name, base, need, pct in (("target >= 100x mlflow models serve", "mlflow", 100, False),
                                  ("target >= 10x FastAPI", "fastapi", 10, False),
                                  ("target >= 50x MLServer", "mlserver", 50, False),
                                  ("target >= 60% of Capstan's ceiling", "live", 0.6, True)):
        if base not in S:
            T.append(f"{name}: n/a ({base} not measured)")
            continue
        parts = [f"{SHORT[k]} {show(both(k, base), pct)} {judge(both(k, base), need)}"
                 for k in caps]
        T.append(f"{name}: " + ("; ".join(parts) if parts else "n/a (Capstan not measured)"))
    if "oip_token" in S and "oip" in S:
        v = both("oip_token", "oip")
        pt, po = (paced or {}).get("oip_token"), (paced or {}).get("oip")
        p99 = (f"; paced p99 {fmt_ms(pt['p99'])} ms with, {fmt_ms(po['p99'])} ms without"
               if pt and po else "")
        T.append(f"target < 3% slower with a required token: OIP with token / OIP "
                 f"{show(v, True)} {judge(v, 0.97)}{p99}")
    p = (paced or {}).get("oip")
    if p:
        ok = p["p99"] < 1.0
        T.append(f"target p99 < 1 ms at half of the peak rate: OIP p99 {fmt_ms(p['p99'])} ms at "
                 f"{p['rps']:,.0f} req/s ({p['rps'] / p['peak']:.0%} of peak) {verdict(ok)}")
    else:
        T.append("target p99 < 1 ms at half of the peak rate: n/a (not measured)")
    L += T
    for n in notes:
        L.append("note: " + n)
    for pr in problems:
        L.append("problem: " + pr)
    def ratio_line(label, v):
        if not v or None in v:
            return f"{label} = n/a (not measured; see problems)"
        rest = ", ".join(f"{fmt_x(x)} at {c}" for c, x in zip(args.conns[1:], v[1:]))
        return (f"{label} = {v[0]:.0f}x "
                f"({args.conns[0]} connections{'; ' + rest if rest else ''})")

    if "mlserver" in args.targets:
        L.append(ratio_line("capstan OIP / MLServer", both("oip", "mlserver")))
    # the headline: the last line, read by other programs
    L.append(ratio_line("headline: capstan OIP / mlflow models serve", both("oip", "mlflow")))
    return "\n".join(L), ratios


# ---------------------------------------------------------------- main

def versions(args):
    v = {}
    for pkg in ("mlflow", "onnxruntime", "xgboost", "onnxmltools", "uvicorn", "fastapi"):
        v[pkg] = "?"
        for dist in (pkg, pkg + "-cpu"):  # tests/requirements.txt installs xgboost-cpu
            try:
                v[pkg] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                pass
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
                              "python3-xgboost", "python3-fastapi", "python3-uvicorn",
                              "python3-uvloop", "python3-httptools", "python3-pydantic"],
                             capture_output=True, text=True, timeout=10).stdout
        v["debian"] = "Debian " + ", ".join(out.split("\n")[:-1]).replace("python3-", "")
    except OSError:
        v["debian"] = "?"
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
        v["wrk"] = out.split("[")[0].strip() or "wrk"
    except OSError:
        v["wrk"] = "wrk ?"
    return v


def main(argv):
    args = parse_args(argv)
    problems, notes = [], []
    os.makedirs(args.tmp, exist_ok=True)
    mdir = os.path.join(args.tmp, "model")  # cached across runs
    # This run's servers, logs and bodies: a directory of its own, so that two runs sharing
    # BENCH_TMP never touch each other's servers.
    tmp = tempfile.mkdtemp(prefix="run-", dir=args.tmp)
    main_pid = os.getpid()

    def on_signal(signum, frame):
        if os.getpid() != main_pid:
            os._exit(1)
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": machine_info(), "loadavg_start": loadavg(),
            "command": os.environ.get("BENCH_COMMAND") or " ".join(map(shlex.quote, sys.argv)),
            "versions": versions(args), "settings": {k: v for k, v in vars(args).items()}}
    have_capstan = os.access(args.capstan, os.X_OK)
    meta["capstan_version"] = capstan_version(args.capstan) if have_capstan else "missing"
    meta["capstan_cmd"] = ("capstan server --host 127.0.0.1 --port <p> --data <tmp>/run-X/<dir>"
                           + (f" --threads {args.capstan_threads}" if args.capstan_threads
                              else " (default threads)"))
    mw = ["-w", args.mlflow_workers] if args.mlflow_workers else []
    meta["mlflow_cmd"] = ("mlflow models serve -m <tmp>/model/mlflow_model --env-manager local "
                          "-h 127.0.0.1 -p <p>" + (" " + " ".join(mw) if mw else "")
                          + f" (workers: {args.mlflow_workers or 'default, 1'}; uvicorn from "
                          ".venv: asyncio + h11, access log on, as mlflow starts it)")
    meta["fastapi_cmd"] = (f"uvicorn --app-dir ../shared/bench/peers --workers "
                           f"{args.fastapi_workers} --no-access-log serve_fastapi:app "
                           f"({args.debian_python}; uvicorn picks uvloop + httptools), booster "
                           f"nthread 1 per worker")
    if "mlserver" in args.targets:
        mv = mlserver_versions(args.mlserver_venv)
        meta["versions"]["mlserver_venv"] = mv
        sett = mlserver_settings(args, "<p>", "<p2>", "<p3>")
        meta["mlserver_cmd"] = (
            f"mlserver start <tmp>/run-X/mlserver ({args.mlserver_venv}: "
            + ", ".join(f"{k} {v}" for k, v in mv.items() if v)
            + ("; httptools absent, so uvicorn runs h11" if mv and not mv.get("httptools")
               else "")
            + f"); OMP_NUM_THREADS={args.mlserver_nthread or '(unset)'}; settings.json "
            + json.dumps(sett, separators=(",", ":"))
            + "; xgb/model-settings.json " + json.dumps(MLSERVER_MODEL, separators=(",", ":"))
            + " + xgb/model.json (the FastAPI peer's booster file xgb_100.json)")
    failed = False
    S, paced, rss, peers_mem, raw = {}, {}, None, {}, {}
    try:
        # 1. data, model, bodies (cached in <tmp>/model)
        cmd = [sys.executable, os.path.join(HERE, "model.py"), "--out", mdir, "--rows",
               str(args.train_rows)]
        log("+ " + " ".join(cmd))
        stamp = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                                          text=True).stdout.strip().splitlines()[-1])
        with open(os.path.join(mdir, "row.json")) as f:
            refd = json.load(f)
        ref, row = refd["xgboost"], refd["row"]
        meta["model"] = (f"XGBoost {stamp['xgboost']} hist, 100 trees, depth 6, eta 0.1, "
                         f"binary:logistic, base_score 0.5, trained on {stamp['rows']:,} rows "
                         f"({stamp['data']}, seed {stamp['seed']}), held-out AUC "
                         f"{stamp['auc']:.5f}; ONNX {stamp['onnx_bytes']:,} B (onnxmltools); "
                         f"body: first held-out row, {os.path.getsize(os.path.join(mdir, 'body_inputs.json'))} B, "
                         f"reference probability {ref:.7f}")
        body_inputs = os.path.join(mdir, "body_inputs.json")
        targets = []

        # 2. servers
        want = set(args.targets)
        if want & {"live", "oip", "inv", "oip_rows", "oip_b", "oip_nolog", "oip_token"}:
            if not have_capstan:
                failed = True
                problems.append(f"!!! {args.capstan} missing: `make build/rel/capstan`; no "
                                f"Capstan rows")
            else:
                try:
                    cs = capstan_server(args, tmp, "capstan")
                    register(cs.port, mdir, ["xgb"])
                    dt, dep = deploy(cs.port, "xgb", "xgb/1", extra=args.extra)
                    log(f"  deployment xgb READY after {dt:.2f}s: {json.dumps(dep)[:400]}")
                    meta["deployment"] = dep
                    bo, om = oip_body(cs.port, "xgb", row, tmp)
                    log(f"  GET /v2/models/xgb -> {json.dumps(om)[:300]}")
                    inv_path = "/invocations"
                    st, ans = req(cs.port, "POST", inv_path, raw=open(body_inputs, "rb").read())
                    if st != 200:
                        notes.append(f"POST /invocations with one deployment -> {st} "
                                     f"{str(ans)[:200]}; measured /deployments/xgb/invocations")
                        inv_path = "/deployments/xgb/invocations"
                    rows_path = distinct_bodies(bo, tmp)
                    for k, path, method, body in (("live", "/v2/health/live", "GET", None),
                                                  ("oip", "/v2/models/xgb/infer", "POST", bo),
                                                  ("inv", inv_path, "POST", body_inputs),
                                                  ("oip_rows", "/v2/models/xgb/infer", "POST",
                                                   rows_path)):
                        if k in want:
                            targets.append({"key": k, "port": cs.port, "path": path,
                                            "method": method, "body": body, "proc": cs})
                    # Variants on a second server, so that the first keeps one deployment
                    # (and a plain /invocations): dynamic batching, and the prediction log off.
                    variants = []
                    if "oip_b" in want and args.batching == "auto":
                        variants.append(("oip_b", "xgb-batched", {"batching": {
                            "max_batch_size": 32, "max_queue_delay_us": 200}}))
                    if "oip_nolog" in want:
                        variants.append(("oip_nolog", "xgb-nolog", {"log": {"sample": 0}}))
                    if variants:
                        cb = capstan_server(args, tmp, "capstan-variants")
                        register(cb.port, mdir, ["xgb"])
                        for k, name, spec in variants:
                            try:
                                dt, dep = deploy(cb.port, name, "xgb/1",
                                                 extra=dict(args.extra, **spec))
                                meta[f"deployment_{k}"] = dep
                                key = next(iter(spec))
                                if key not in json.dumps(dep):
                                    notes.append(f"the {name} deployment's description does "
                                                 f"not mention {key}: it may be ignored")
                                bb, _ = oip_body(cb.port, name, row, tmp)
                                targets.append({"key": k, "port": cb.port,
                                                "path": f"/v2/models/{name}/infer",
                                                "method": "POST", "body": bb, "proc": cb})
                            except RuntimeError as e:
                                notes.append(f"{LABELS[k]} not measured: {e}")
                    if "oip_token" in want:
                        targets.append(token_target(args, tmp, mdir, row, meta))
                except Exception as e:
                    failed = True
                    problems.append(f"!!! Capstan serving set-up failed: {type(e).__name__}: "
                                    f"{str(e)[:600]}")
                    log(problems[-1])
                    for s in list(LIVE):
                        if s.label.startswith("capstan"):
                            s.stop()
                    targets = []
        if "mlflow" in want:
            port = free_port()
            e = dict(os.environ, PATH=os.path.dirname(sys.executable) + ":" + os.environ["PATH"],
                     MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
            s = Proc("mlflow", [os.path.join(os.path.dirname(sys.executable), "mlflow"), "models",
                                "serve", "-m", os.path.join(mdir, "mlflow_model"),
                                "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)] + mw,
                     tmp, e).start()
            s.wait_ready(lambda: req(port, "GET", "/ping", timeout=2)[0] == 200, 180)
            targets.append({"key": "mlflow", "port": port, "path": "/invocations",
                            "method": "POST", "body": body_inputs, "proc": s})
        if "fastapi" in want:
            app = os.path.join(PEERS, "serve_fastapi.py")
            if not os.path.exists(app):
                problems.append(f"{app} missing: no FastAPI row")
            else:
                port = free_port()
                e = dict(os.environ, PEERS_MODEL=os.path.join(mdir, "xgb_100.json"),
                         PEERS_NTHREAD="1")
                s = Proc("fastapi", [args.debian_python, "-m", "uvicorn", "--app-dir", PEERS,
                                     "--host", "127.0.0.1", "--port", str(port), "--workers",
                                     str(args.fastapi_workers), "--no-access-log",
                                     "serve_fastapi:app"], tmp, e).start()
                raw_body = open(body_inputs, "rb").read()
                s.wait_ready(lambda: req(port, "POST", "/predict", raw=raw_body,
                                          timeout=2)[0] == 200)
                targets.append({"key": "fastapi", "port": port, "path": "/predict",
                                "method": "POST", "body": body_inputs, "proc": s})
        if "mlserver" in want:
            if not os.access(os.path.join(args.mlserver_venv, "bin", "mlserver"), os.X_OK):
                problems.append(f"{args.mlserver_venv}/bin/mlserver missing (run.sh makes the "
                                f"venv from bench/serve/requirements-mlserver.txt): no MLServer "
                                f"row")
            else:
                try:
                    s = mlserver_server(args, tmp, mdir)
                    # The same OIP body as Capstan's `oip` target (input "input", the ONNX
                    # model's; MLServer's XGBoost runtime takes any name): same bytes.
                    targets.append({"key": "mlserver", "port": s.port,
                                    "path": "/v2/models/xgb/infer", "method": "POST",
                                    "body": oip_body_file("input", row, tmp), "proc": s})
                except RuntimeError as e:
                    problems.append(f"!!! MLServer did not start: {str(e)[:600]}; no MLServer "
                                    f"row (run dir kept for its log)")
                    log(problems[-1])
                    args.keep_tmp = True
                    for x in list(LIVE):
                        if x.label == "mlserver":
                            x.stop()
        targets.sort(key=lambda t: ORDER.index(t["key"]))
        for t in targets:
            t["url"] = f"http://127.0.0.1:{t['port']}{t['path']}"
            log(f"check {t['key']}: {t['method']} {t['url']} -> {check_target(t, ref)}")

        # 3. throughput and latency, interleaved
        res = {}
        try:
            measure(args, targets, problems, res)
        finally:  # keep what was measured, whatever stopped the rounds
            for k, byc in res.items():
                S[k] = {c: summary(v) for c, v in byc.items() if v}
                raw[k] = {c: [{kk: vv for kk, vv in x.items() if kk != "raw"} for x in v]
                          for c, v in byc.items()}
        for t in targets:
            if t["key"] in ("mlflow", "fastapi", "mlserver", "oip") and t["proc"].alive():
                what = {"mlflow": "mlflow models serve (1 model)",
                        "fastapi": f"FastAPI peer ({args.fastapi_workers} workers, 1 model)",
                        "mlserver": f"MLServer (parallel_workers {args.mlserver_workers}, "
                                    f"1 model)",
                        "oip": "capstan (1 deployment)"}[t["key"]]
                peers_mem[t["key"]] = dict(memory(t["proc"].pid), what=what)
                if t["key"] == "oip":  # the prediction log lands in the store
                    peers_mem["oip"]["data_bytes"] = dir_bytes(os.path.join(tmp, "capstan"))

        # 4. p99 at half of the peak rate
        if args.pace:
            for t in targets:
                if t["key"] in ("oip", "oip_b", "oip_nolog", "oip_token") and S.get(t["key"]) \
                        and t["proc"].alive():
                    peak = max(s["rps"] for s in S[t["key"]].values() if s)
                    log(f"pacing {t['key']} at {args.pace_fraction:.0%} of {peak:,.0f} req/s")
                    paced[t["key"]] = pace(args, t, peak, problems)
            # The ceiling at OIP's paced rate: how much of OIP's p99 the machine (wrk, other
            # jobs, the HTTP front) accounts for without any model work.
            tl = [t for t in targets if t["key"] == "live"]
            if tl and "oip" in paced and tl[0]["proc"].alive():
                log("pacing live at the OIP paced rate, for reference")
                paced["live"] = pace(args, tl[0], paced["oip"]["peak"], problems)

        for s in list(LIVE):
            s.stop()
        # 5. memory with N deployments
        if args.rss_models > 0 and have_capstan and S.get("oip"):
            log(f"memory: {args.rss_models} deployments on a fresh server")
            try:
                rss = rss_phase(args, tmp, mdir, ref, row)
            except Exception as e:
                problems.append(f"!!! memory phase failed: {type(e).__name__}: {str(e)[:400]}")
                log(problems[-1])
    except KeyboardInterrupt:
        failed = True
        problems.append("interrupted")
    except Exception as e:
        failed = True
        problems.append(f"!!! harness: {type(e).__name__}: {str(e)[:800]}")
        log(problems[-1])
    finally:
        for p in list(WRK_PROCS):
            if p.poll() is None:
                p.kill()
        for s in list(LIVE):
            s.stop()
    meta["loadavg_end"] = loadavg()
    meta.setdefault("model", "?")
    table, ratios = report(args, meta, S, paced, rss, peers_mem, problems, notes)
    print(table, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "summary": S, "ratios": ratios, "paced": paced, "rss": rss,
                       "peers_mem": peers_mem, "runs": raw, "problems": problems,
                       "notes": notes}, f, indent=1, default=str)
    if args.keep_tmp or failed:
        log(f"kept {tmp} (server logs: {tmp}/*.log)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    cap_keys = {"live", "oip", "inv", "oip_rows", "oip_b", "oip_nolog", "oip_token"}
    capstan_missing = bool(cap_keys & set(args.targets)) and not any(
        S.get(k) for k in cap_keys)
    return 1 if capstan_missing or "interrupted" in problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
