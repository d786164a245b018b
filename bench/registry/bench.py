#!/usr/bin/env python3
"""Model registry benchmark: Capstan vs `mlflow server` (SQLite), side by side in one run.

Data: MODELS registered models x VERSIONS versions (each with a source, a run_id and
2 tags), alias `champion` on every model. MLflow is loaded with sqlite3 straight into
its own tables, Capstan through its REST API. Both are restarted on the loaded store
and queried from a keep-alive client, QUERIES timed requests per query after a warm-up:
  (1) GET model-versions/search?filter=name='<model>'&max_results=100
  (2) GET model-versions/search?filter=run_id='<run>'
  (3) GET registered-models/alias?name=<model>&alias=champion
Answers are checked against the generator and between the servers. It reports
p50/p95/mean latencies, the ratios, load time, start-up time and RSS; it never asserts.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(REPO, "bench", "tracking"))  # servers.py (read-only import)

import dataset  # noqa: E402
from servers import (LIVE, Client, Server, capstan_version, env, free_port, loadavg, log,  # noqa: E402
                     machine_info, start, stop)

QUERY_KINDS = ["search_name", "search_run", "alias"]
LABELS = {
    "search_name": "search_model_versions name=  (100 rows)",
    "search_run": "search_model_versions run_id= (1 row)",
    "alias": "get-by-alias (registered-models/alias)",
}



def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    a = p.add_argument
    a("--models", type=int, default=int(env("MODELS", "1000")), help="registered models (MODELS)")
    a("--versions", type=int, default=int(env("VERSIONS", "100")),
      help="versions per model (VERSIONS)")
    a("--queries", type=int, default=int(env("QUERIES", "300")),
      help="timed requests per query kind and server (QUERIES)")
    a("--warmup", type=int, default=int(env("WARMUP", "30")),
      help="untimed requests per query kind first (WARMUP)")
    a("--query-cap", type=float, default=float(env("QUERY_CAP", "120")),
      help="stop a query kind's timed loop after this many seconds (QUERY_CAP)")
    a("--kinds", default=env("QUERY_KINDS", ",".join(QUERY_KINDS)),
      help="query kinds (QUERY_KINDS): search_name,search_run,alias")
    a("--seed", type=int, default=int(env("SEED", "42")))
    a("--load-procs", type=int, default=int(env("LOAD_PROCS", "8")),
      help="client processes loading Capstan through REST (LOAD_PROCS)")
    a("--idle-settle", type=float, default=float(env("IDLE_SETTLE", "3")),
      help="seconds after start-up before the idle RSS sample (IDLE_SETTLE)")
    a("--servers", default=env("SERVERS", "mlflow,capstan"), help="which servers (SERVERS)")
    a("--mlflow", default=env("MLFLOW_BIN", os.path.join(REPO, ".venv", "bin", "mlflow")))
    a("--mlflow-workers", default=env("MLFLOW_WORKERS", ""),
      help="--workers for mlflow server (MLFLOW_WORKERS; default: MLflow's own default)")
    a("--capstan", default=env("CAPSTAN_BIN", os.path.join(REPO, "build", "rel", "capstan")))
    a("--capstan-threads", default=env("CAPSTAN_THREADS", ""),
      help="--threads for capstan (CAPSTAN_THREADS; default: Capstan's own default)")
    a("--json", default=env("RESULTS_JSON", ""), help="also write the figures as JSON here")
    a("--keep-tmp", action="store_true", default=env("KEEP_TMP", "0") == "1")
    args = p.parse_args(argv)
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in args.kinds if k not in QUERY_KINDS]
    if bad:
        p.error(f"unknown query kinds {bad}")
    if args.models < 1 or args.versions < 1 or args.queries < 1:
        p.error("MODELS, VERSIONS and QUERIES must be >= 1")
    return args



# ---- servers ------------------------------------------------------------------------------


def make_server(kind, args, workdir):
    port = free_port()
    os.makedirs(workdir, exist_ok=True)
    if kind == "mlflow":
        argv = [args.mlflow, "server", "--backend-store-uri",
                f"sqlite:///{os.path.join(workdir, 'mlflow.db')}",
                "--host", "127.0.0.1", "--port", str(port)]
        if args.mlflow_workers:
            argv += ["--workers", args.mlflow_workers]
    else:
        argv = [args.capstan, "server", "--host", "127.0.0.1", "--port", str(port),
                "--data", os.path.join(workdir, "data")]
        if args.capstan_threads:
            argv += ["--threads", args.capstan_threads]
    e = dict(os.environ)
    e.pop("MLFLOW_TRACKING_URI", None)
    # cwd = the temp dir: MLflow puts ./mlartifacts there.
    return Server(kind, argv, workdir, port, env=e)



def mem(server):
    m = server.memory()
    log(f"  {server.label} RSS {m['rss_kb'] / 1024:.1f} MiB over {m['nproc']} processes")
    return m


# ---- queries ------------------------------------------------------------------------------

def q(s):
    return urllib.parse.quote(s, safe="")


def make_query(kind, gen, k):
    """(path, expected answer) of the k-th query of a kind. Expected answers are lists of
    (model name, version) in the order MLflow's default ordering gives them
    (last_updated_timestamp DESC, name ASC, version DESC)."""
    if kind == "search_name":
        i = dataset.name_query_model(gen, k)
        n = gen.name(i)
        path = f"model-versions/search?filter={q(f'name={chr(39)}{n}{chr(39)}')}&max_results=100"
        return path, [(n, v) for v in range(gen.nversions, max(0, gen.nversions - 100), -1)], i
    if kind == "search_run":
        i, v = dataset.run_query_version(gen, k)
        path = f"model-versions/search?filter={q(f'run_id={chr(39)}{gen.run_id(i, v)}{chr(39)}')}"
        return path, [(gen.name(i), v)], i
    i = dataset.alias_query_model(gen, k)
    n = gen.name(i)
    return (f"registered-models/alias?name={q(n)}&alias={dataset.ALIAS}",
            [(n, gen.champion(i))], i)


def versions_of(kind, resp):
    if not isinstance(resp, dict):
        return None
    if kind == "alias":
        mvs = [resp["model_version"]] if "model_version" in resp else []
    else:
        mvs = resp.get("model_versions", [])
    return mvs


def check_fields(gen, mv):
    """Differences between a returned version and the generator's (core fields only)."""
    try:
        n, v = mv.get("name"), int(mv.get("version"))
        i = int(n.split("-")[1])
    except (AttributeError, TypeError, ValueError, IndexError):
        return [f"unparsable version {str(mv)[:200]}"]
    want = {"source": gen.source(i, v), "run_id": gen.run_id(i, v), "status": "READY",
            "current_stage": "None",
            "tags": sorted(gen.version_tags(i, v))}
    got = {"source": mv.get("source"), "run_id": mv.get("run_id"), "status": mv.get("status"),
           "current_stage": mv.get("current_stage"),
           "tags": sorted((t.get("key"), t.get("value")) for t in mv.get("tags", []))}
    return [f"{n} v{v} {f}: got {got[f]!r}, expected {want[f]!r}" for f in want if got[f] != want[f]]


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def run_queries(server, kind, args, gen, problems):
    c = Client(server.port, timeout=300)
    label = server.label
    errors = 0
    first_error = None
    wrong = 0
    shapes = {}

    def one(k, timed):
        nonlocal errors, first_error, wrong
        path, expected, _ = make_query(kind, gen, k)
        status, resp, dt = c.call("GET", path)
        if status != 200:
            errors += 1
            if first_error is None:
                first_error = f"GET {path} -> {status} {str(resp)[:300]}"
            return dt, None
        mvs = versions_of(kind, resp) or []
        got = [(mv.get("name"), int(mv.get("version", -1))) for mv in mvs]
        if got != expected:
            wrong += 1
            if wrong <= 3:
                problems.append(f"!!! {label} {kind}: GET /api/2.0/mlflow/{path} returned "
                                f"{got[:5]}{'...' if len(got) > 5 else ''} ({len(got)} versions), "
                                f"expected {expected[:5]}{'...' if len(expected) > 5 else ''} "
                                f"({len(expected)})")
        if timed and k < 5 or not timed and k == args.queries:  # a few field-by-field checks
            for d in (check_fields(gen, mv) for mv in mvs[:3]):
                for x in d[:3]:
                    problems.append(f"!!! {label} {kind}: {x}")
            if mvs:
                shapes.setdefault("keys", sorted(mvs[0].keys()))
                shapes.setdefault("sample", mvs[0])
        if kind != "alias":
            shapes.setdefault("next_page_token", "next_page_token" in resp)
        return dt, got

    for k in range(args.queries, args.queries + args.warmup):
        one(k, False)
    lat, answers = [], []
    t_end = time.perf_counter() + args.query_cap
    for k in range(args.queries):
        dt, got = one(k, True)
        lat.append(dt)
        answers.append(got)
        if time.perf_counter() > t_end and k >= 2:
            problems.append(f"{label} {kind}: stopped after {k + 1} timed requests "
                            f"(QUERY_CAP {args.query_cap:.0f}s)")
            break
    c.close()
    if errors:
        problems.append(f"!!! {label} {kind}: {errors} non-200 responses; first: {first_error}")
    if wrong > 3:
        problems.append(f"!!! {label} {kind}: {wrong} wrong answers in all")
    ms = [x * 1000 for x in lat]
    out = {"n": len(ms), "p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95),
           "mean_ms": statistics.fmean(ms), "max_ms": max(ms), "errors": errors, "wrong": wrong,
           "answers": answers, "keys": shapes.get("keys"), "sample": shapes.get("sample"),
           "next_page_token": shapes.get("next_page_token")}
    log(f"  {label} {kind}: p50 {out['p50_ms']:.2f} ms, p95 {out['p95_ms']:.2f} ms, "
        f"mean {out['mean_ms']:.2f} ms over {len(ms)} requests")
    return out


def bench_server(kind, args, tmp, gen, problems):
    r = {}
    wd = os.path.join(tmp, kind)
    if kind == "mlflow":
        s = make_server(kind, args, wd)
        r["startup_empty_s"] = start(s)
        stop(s)
        _, nv, dt = dataset.load_mlflow_sqlite(os.path.join(wd, "mlflow.db"), gen, log=log)
        r["load"] = {"how": "sqlite3", "seconds": dt, "versions": nv}
    else:
        s = make_server(kind, args, wd)
        r["startup_empty_s"] = start(s)
        models, versions, errors, dt, nreq = dataset.load_rest(s.port, gen, args.load_procs, log=log)
        r["load"] = {"how": "REST", "seconds": dt, "versions": versions, "models": models,
                     "requests": nreq, "procs": args.load_procs}
        for e in errors[:5]:
            problems.append(f"!!! capstan load: {e}")
        if not s.alive():
            problems.append(f"!!! capstan died during the REST load (exit {s.proc.returncode}); "
                            f"log {s.log_path}")
        r["mem_after_load"] = mem(s)
        stop(s)
    s = make_server(kind, args, wd)
    r["startup_loaded_s"] = start(s)
    time.sleep(args.idle_settle)
    r["mem_idle_loaded"] = mem(s)
    r["queries"] = {}
    for qk in args.kinds:
        r["queries"][qk] = run_queries(s, qk, args, gen, problems)
        if not s.alive():
            problems.append(f"!!! {kind} died during {qk} (exit {s.proc.returncode}); "
                            f"log {s.log_path}")
            break
    r["mem_after_queries"] = mem(s)
    stop(s)
    try:
        r["disk_bytes"] = sum(os.path.getsize(os.path.join(d, f))
                              for d, _, fs in os.walk(wd) for f in fs
                              if f.endswith((".db", ".db-wal", ".db-shm")))
    except OSError:
        r["disk_bytes"] = None
    return r


# ---- report -------------------------------------------------------------------------------

def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def fmt_ms(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def ratio(a, b):
    return None if a is None or b is None or b <= 0 else a / b


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.0f}x" if x >= 10 else f"{x:.1f}x"


def mib(m):
    if m is None:
        return None
    return f"{m['rss_kb'] / 1024:.1f} ({m['rss_anon_kb'] / 1024:.1f} anon) MiB"


def verdict(x, pred):
    return "n/a" if x is None else "met" if pred(x) else "NOT met"


def report(res, args, meta, problems, notes):
    M, C = res.get("mlflow", {}), res.get("capstan", {})
    L = []
    nv = args.models * args.versions
    L.append(f"Capstan model registry benchmark vs MLflow {meta['mlflow_version']} (SQLite), "
             f"{meta['date']}")
    L.append(f"data: {args.models} models x {args.versions} versions = {nv} versions "
             f"(source, run_id, 2 tags each; alias '{dataset.ALIAS}' on every model)")
    m = meta["machine"]
    L.append(f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['mem']}, Linux {m['kernel']}; "
             f"load average {meta['loadavg_start']} at start, {meta['loadavg_end']} at end")
    L.append(f"capstan: {meta['capstan_version']}  {meta['capstan_cmd']}")
    L.append(f"mlflow:  {meta['mlflow_cmd']}  (workers: {meta['mlflow_workers']})")
    L.append(f"client: Python http.client, one keep-alive connection, sequential; "
             f"{args.warmup} warm-up + {args.queries} timed requests per query; "
             f"latency = send to last byte read, ms; ratio = mlflow / capstan")
    L.append(f"command: {meta['command']}")
    L.append("")
    w0 = 42
    L.append(f"{'':<{w0}}{'mlflow p50':>11}{'p95':>9}{'mean':>9}{'capstan p50':>13}{'p95':>8}"
             f"{'mean':>8}{'ratio p50':>11}{'p95':>7}{'mean':>7}")
    ratios = {}
    for qk in args.kinds:
        a, b = get(M, "queries", qk), get(C, "queries", qk)
        rs = [ratio(get(a, f), get(b, f)) for f in ("p50_ms", "p95_ms", "mean_ms")]
        ratios[qk] = rs
        L.append(f"{LABELS[qk]:<{w0}}{fmt_ms(get(a, 'p50_ms')):>11}{fmt_ms(get(a, 'p95_ms')):>9}"
                 f"{fmt_ms(get(a, 'mean_ms')):>9}{fmt_ms(get(b, 'p50_ms')):>13}"
                 f"{fmt_ms(get(b, 'p95_ms')):>8}{fmt_ms(get(b, 'mean_ms')):>8}"
                 f"{fmt_ratio(rs[0]):>11}{fmt_ratio(rs[1]):>7}{fmt_ratio(rs[2]):>7}")
    L.append("")
    w1 = 42

    def row(label, a, b, rt=""):
        L.append(f"{label:<{w1}}{a:>26}{b:>26}{rt:>10}")

    row("", "mlflow", "capstan", "ratio")

    def load_txt(x):
        if not x:
            return "-"
        if x["how"] == "sqlite3":
            return f"{x['seconds']:.1f} s (sqlite3)"
        return f"{x['seconds']:.1f} s (REST)"
    row("load", load_txt(M.get("load")), load_txt(C.get("load")))
    cl = C.get("load")
    if cl:
        row("  capstan REST load rate", "", f"{cl['requests'] / cl['seconds']:.0f} req/s", "")
    s_e = [get(X, "startup_empty_s") for X in (M, C)]
    s_l = [get(X, "startup_loaded_s") for X in (M, C)]
    row("start-up, empty store", *[f"{x:.2f} s" if x is not None else "-" for x in s_e],
        fmt_ratio(ratio(*s_e)))
    row(f"start-up, {nv} versions", *[f"{x:.2f} s" if x is not None else "-" for x in s_l],
        fmt_ratio(ratio(*s_l)))
    row("RSS after REST load", "-", mib(C.get("mem_after_load")) or "-")
    mi = [get(X, "mem_idle_loaded") for X in (M, C)]
    row("RSS idle, loaded (process tree)", mib(mi[0]) or "-", mib(mi[1]) or "-",
        fmt_ratio(ratio(*(x["rss_kb"] if x else None for x in mi))))
    mq = [get(X, "mem_after_queries") for X in (M, C)]
    row("RSS after the queries", mib(mq[0]) or "-", mib(mq[1]) or "-",
        fmt_ratio(ratio(*(x["rss_kb"] if x else None for x in mq))))
    row("processes", *[str(x["nproc"]) if x else "-" for x in mq])
    db = [get(X, "disk_bytes") for X in (M, C)]
    row("database on disk", *[f"{x / 1048576:.1f} MiB" if x else "-" for x in db])
    L.append("")
    t = []
    for qk, what in (("search_name", "search_model_versions"), ("alias", "get-by-alias")):
        if qk in ratios:
            t.append(f"{what} >= 50x: {verdict(ratios[qk][0], lambda x: x >= 50)}")
            t.append(f"{what} p50 < 5 ms: "
                     f"{verdict(get(C, 'queries', qk, 'p50_ms'), lambda x: x < 5)}")
    L.append("targets (reported, not asserted): " + "; ".join(t))
    if problems:
        L.append("problems:")
        L.extend(f"  - {p}" for p in problems)
    else:
        L.append("problems: none (every answer matched the generator and the other server)")
    if notes:
        L.append("notes:")
        L.extend(f"  - {n}" for n in notes)
    hs = []
    if "search_name" in ratios:
        hs.append(f"search_model_versions {fmt_ratio(ratios['search_name'][0])}")
    if "alias" in ratios:
        hs.append(f"get-by-alias {fmt_ratio(ratios['alias'][0])}")
    if "search_run" in ratios:
        hs.append(f"search by run_id {fmt_ratio(ratios['search_run'][0])}")
    L.append(f"headline: {', '.join(hs)} faster (p50)")
    return "\n".join(L), ratios


def compare(res, args, problems, notes):
    for qk in args.kinds:
        a = get(res, "mlflow", "queries", qk)
        b = get(res, "capstan", "queries", qk)
        if not a or not b:
            continue
        diff = [k for k, (x, y) in enumerate(zip(a["answers"], b["answers"]))
                if x is not None and y is not None and x != y]
        if diff:
            k = diff[0]
            problems.append(f"!!! mlflow and capstan disagree on {len(diff)} {qk} queries; first: "
                            f"{make_query(qk, Generator_of(args), k)[0]}: mlflow "
                            f"{a['answers'][k][:5]} vs capstan {b['answers'][k][:5]}")
        if a.get("keys") and b.get("keys") and a["keys"] != b["keys"]:
            only_m = sorted(set(a["keys"]) - set(b["keys"]))
            only_c = sorted(set(b["keys"]) - set(a["keys"]))
            notes.append(f"{qk} response fields: only mlflow has {only_m or 'none'}, only capstan "
                         f"has {only_c or 'none'}")
        if a.get("next_page_token") != b.get("next_page_token"):
            problems.append(f"{qk}: next_page_token present: mlflow {a.get('next_page_token')}, "
                            f"capstan {b.get('next_page_token')}")


def Generator_of(args):
    return dataset.Generator(args.models, args.versions, args.seed)


def main(argv):
    args = parse_args(argv)
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    problems, notes = [], []
    if "capstan" in kinds and not os.access(args.capstan, os.X_OK):
        problems.append(f"capstan binary {args.capstan} missing: build it with "
                        f"`make build/rel/capstan`; Capstan columns are empty")
        kinds.remove("capstan")
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": machine_info(),
        "mlflow_version": importlib.metadata.version("mlflow"),
        "capstan_version": capstan_version(args.capstan) if "capstan" in kinds else "n/a",
        "mlflow_workers": args.mlflow_workers or "MLflow default (4)",
        "mlflow_cmd": "mlflow server --backend-store-uri sqlite:///<tmp>/mlflow.db "
                      "--host 127.0.0.1 --port <p>"
                      + (f" --workers {args.mlflow_workers}" if args.mlflow_workers else ""),
        "capstan_cmd": "capstan server --host 127.0.0.1 --port <p> --data <tmp>/data"
                       + (f" --threads {args.capstan_threads}" if args.capstan_threads
                          else " (default threads)"),
        "command": os.environ.get("BENCH_COMMAND") or " ".join(shlex.quote(a) for a in sys.argv),
        "settings": dict(vars(args)),
        "loadavg_start": loadavg(),
    }
    tmp = tempfile.mkdtemp(prefix="capstan-bench-registry-", dir="/tmp")
    log(f"temp dir {tmp}; servers: {', '.join(kinds)}; {args.models} models x {args.versions} "
        f"versions")
    main_pid = os.getpid()

    def on_signal(signum, frame):
        if os.getpid() != main_pid:  # a forked loader process
            os._exit(1)
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    gen = Generator_of(args)
    res = {}
    failed = False
    try:
        for k in kinds:
            log(f"{k}:")
            try:
                res[k] = bench_server(k, args, tmp, gen, problems)
            except Exception as e:  # report and go on with the other server
                failed = True
                problems.append(f"!!! {k} phase aborted: {type(e).__name__}: {e}")
                log(problems[-1])
            finally:
                for s in list(LIVE):
                    stop(s)
        compare(res, args, problems, notes)
    except KeyboardInterrupt:
        failed = True
        problems.append("interrupted")
    finally:
        for s in list(LIVE):
            stop(s)
    meta["loadavg_end"] = loadavg()
    table, ratios = report(res, args, meta, problems, notes)
    print(table, flush=True)
    if args.json:
        slim = json.loads(json.dumps(res, default=str))
        for r in slim.values():
            for qv in (r.get("queries") or {}).values():
                qv.pop("answers", None)
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "ratios": ratios, "problems": problems, "notes": notes,
                       "results": slim},
                      f, indent=1, default=str)
    if args.keep_tmp or failed:
        log(f"kept {tmp} (logs: */mlflow.log, */capstan.log)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
