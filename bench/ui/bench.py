"""UI benchmark: Capstan's runs table vs the MLflow UI (`mlflow server`) on
the same 100,000 runs, measured in Chromium (measure.mjs).

Both stores get bench/tracking's data set (dataset.Generator, seed 42: 10
params, 10 metrics, 5 tags per run; m2 unique, so a sort by m2 has one
answer) written straight into each server's own SQLite schema: MLflow's with
bench/tracking's load_mlflow_sqlite, Capstan's with tests/e2e/bigdata.py
(REST would take hours for MLflow and minutes for Capstan). Each server is
started on an empty store first so it creates its schema and the experiment
(through REST), stopped, loaded, and started again; then measured alone.

Figures (ms, in the browser, from navigation start to the run name on screen):
  first table render  - cold cache: experiment's runs page, default order
                        (newest first), until the newest run's name shows
  sorted page         - the same page deep-linked sorted by metrics.m2
                        ascending, in a new tab (assets cached), until the
                        lowest-m2 run's name shows
Median of REPS repetitions.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "tracking"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import servers  # noqa: E402  (bench/tracking)
from dataset import Generator, load_mlflow_sqlite  # noqa: E402
from bigdata import load_capstan_sqlite  # noqa: E402
from servers import Client, Server, free_port, log, start, stop  # noqa: E402


def env(name, default):
    return os.environ.get(name, default)


def parse():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--runs", type=int, default=int(env("RUNS", "100000")))
    a.add_argument("--reps", type=int, default=int(env("REPS", "3")))
    a.add_argument("--mlflow-reps", type=int, default=int(env("MLFLOW_REPS", "1")),
                   help="repetitions for MLflow (each can take minutes at 100k runs)")
    a.add_argument("--seed", type=int, default=int(env("SEED", "42")))
    a.add_argument("--timeout", type=float, default=float(env("UI_TIMEOUT", "300")), help="seconds per page load")
    a.add_argument("--servers", default=env("SERVERS", "capstan,mlflow"))
    a.add_argument("--capstan", default=env("CAPSTAN_BIN", os.path.join(REPO, "build", "rel", "capstan")))
    a.add_argument("--mlflow", default=env("MLFLOW", os.path.join(REPO, ".venv", "bin", "mlflow")))
    a.add_argument("--shots", default=env("SHOTS", os.path.join(REPO, "build", "bench-ui")))
    return a.parse_args()


def lowest_m2(gen):
    best = min(range(gen.nruns), key=lambda i: ((i * gen.a) % gen.nruns))
    return gen.run(best)["name"]


def prepare(kind, args, gen, tmp):
    port = free_port()
    if kind == "mlflow":
        argv = [args.mlflow, "server", "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db", "--host", "127.0.0.1",
                "--port", str(port)]
    else:
        argv = [args.capstan, "server", "--host", "127.0.0.1", "--port", str(port), "--data", f"{tmp}/data"]
    srv = Server(kind, argv, tmp, port)
    start(srv)
    c = Client(port)
    exp = c.ok("POST", "experiments/create", {"name": "bench-ui"})["experiment_id"]
    c.close()
    stop(srv)
    if kind == "mlflow":
        load_mlflow_sqlite(f"{tmp}/mlflow.db", exp, gen, log=log)
    else:
        load_capstan_sqlite(f"{tmp}/data/capstan.db", exp, gen, log=log)
    start(srv)
    return srv, exp


def main():
    args = parse()
    os.makedirs(args.shots, exist_ok=True)
    gen = Generator(args.runs, args.seed)
    newest = gen.run(args.runs - 1)["name"]
    low = lowest_m2(gen)
    results, meta = {}, {}
    for kind in [s for s in args.servers.split(",") if s]:
        with tempfile.TemporaryDirectory(prefix=f"capstan-bench-ui-{kind}-") as tmp:
            log(f"{kind}: loading {args.runs} runs")
            srv, exp = prepare(kind, args, gen, tmp)
            try:
                base = f"http://127.0.0.1:{srv.port}"
                if kind == "mlflow":
                    first = f"{base}/#/experiments/{exp}/runs"
                    sorted_url = f"{base}/#/experiments/{exp}/runs?orderByKey=metrics.%60m2%60&orderByAsc=true"
                else:
                    first = f"{base}/#/experiments/{exp}"
                    sorted_url = f"{base}/#/experiments/{exp}?order=metrics.m2&dir=asc"
                reps = args.mlflow_reps if kind == "mlflow" else args.reps
                spec = {"reps": reps, "timeout_ms": int(args.timeout * 1000), "shots": args.shots,
                        "targets": [{"label": kind, "first_url": first, "first_name": newest,
                                     "sorted_url": sorted_url, "sorted_name": low}]}
                log(f"{kind}: measuring in Chromium ({reps} reps)")
                p = subprocess.run(["node", os.path.join(HERE, "measure.mjs"), json.dumps(spec)],
                                   capture_output=True, text=True, timeout=reps * 2 * args.timeout + 120)
                sys.stderr.write(p.stderr)
                lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
                if p.returncode != 0 or not lines:
                    raise RuntimeError(f"measure.mjs failed ({p.returncode}): {p.stdout[-2000:]} {p.stderr[-2000:]}")
                results.update(json.loads(lines[-1]))
            finally:
                stop(srv)
        meta[kind] = servers.capstan_version(args.capstan) if kind == "capstan" else mlflow_version(args.mlflow)
    report(args, results, meta)


def mlflow_version(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except OSError:
        return "?"


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def cell(xs, timeout_ms):
    """The median, or '>timeout' when no sample finished in time."""
    return f"{med(xs):.0f}" if xs else f">{timeout_ms:.0f}"


def report(args, res, meta):
    tmo = args.timeout * 1000
    print(f"bench/ui: {args.runs} runs, {chromium_version()}, median of {args.reps} (Capstan) / "
          f"{args.mlflow_reps} (MLflow) repetitions, ms in the browser; timeout {tmo:.0f} ms per page")
    print(f"machine: {servers.machine_info()}")
    for k, v in meta.items():
        print(f"{k}: {v}")
    print(f"{'measure':<40}{'mlflow':>12}{'capstan':>12}{'ratio':>10}")
    heads = []
    for key, label in [("first", "first table render (cold cache)"), ("sorted", "sorted page, metrics.m2 ASC (warm)")]:
        ms, cs = res.get("mlflow", {}).get(key, []), res.get("capstan", {}).get(key, [])
        m = med(ms) if ms else (tmo if "mlflow" in res else float("nan"))
        c = med(cs) if cs else float("nan")
        ratio = m / c if c == c and c > 0 and m == m else float("nan")
        r = f"{'>' if not ms and 'mlflow' in res else ''}{ratio:.1f}x"
        heads.append(f"{key} {r}")
        print(f"{label:<40}{cell(ms, tmo):>12}{cell(cs, tmo):>12}{r:>10}")
    for k, v in res.items():
        print(f"  {k} samples: first {v['first']} sorted {v['sorted']}" + (f" errors {v['errors']}" if v["errors"] else ""))
    print(f"headline: Capstan's UI is faster: {', '.join(heads)} (MLflow UI time / Capstan UI time, median)")


def chromium_version():
    try:
        return subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
