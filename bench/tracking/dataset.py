"""The search data set: a deterministic generator and two loaders.

Run i is generated from its own seeded random.Random, so any process can make
any run without generating the others, and both servers get identical runs:
  name  run-000000 ...        user bench, status FINISHED
  start_time T0 + i*1000 ms, end_time start_time + 500
  params p0..p9  (p1 = optimizer, one of OPTIMIZERS: the search filter's param)
  metrics m0..m9 (one point each, step 0; m1 uniform in [0,1): the filter's metric;
                  m2 unique across runs: the sort key, so the top 100 has no ties)
  tags   t0..t4  (+ mlflow.runName, which MLflow's server sets on runs/create)

MLflow's store is filled directly through sqlite3 in MLflow's own schema (REST
would take hours); Capstan's through its REST API (runs/create, runs/log-batch,
runs/update) over keep-alive connections from several processes.
"""

import math
import multiprocessing
import random
import sqlite3
import time

T0 = 1_700_000_000_000
OPTIMIZERS = ["adam", "sgd", "rmsprop", "adagrad", "lbfgs"]
LEARNING_RATES = ["0.1", "0.03", "0.01", "0.003", "0.001"]
NPARAMS, NMETRICS, NTAGS = 10, 10, 5


def _scramble_factor(n):
    a = int(n * 0.6180339887) | 1
    while math.gcd(a, n) != 1:
        a += 2
    return a


class Generator:
    def __init__(self, nruns, seed):
        self.nruns = nruns
        self.seed = seed
        self.a = _scramble_factor(nruns)

    def run(self, i):
        rng = random.Random(self.seed * 1_000_003 + i)
        start = T0 + i * 1000
        params = [("p0", rng.choice(LEARNING_RATES)), ("p1", rng.choice(OPTIMIZERS))]
        for j in range(2, NPARAMS):
            params.append((f"p{j}", f"{j}-{rng.randrange(10 ** (j % 4 + 1))}"))
        metrics = []
        for j in range(NMETRICS):
            v = round(rng.random(), 6)
            if j == 2:
                v = ((i * self.a) % self.nruns + 0.5) / self.nruns
            metrics.append((f"m{j}", v, start + 100 + j, 0))
        tags = [(f"t{j}", f"t{j}-{rng.randrange(20)}") for j in range(NTAGS)]
        return {
            "name": f"run-{i:06d}",
            "uuid": f"{rng.getrandbits(128):032x}",
            "start": start,
            "end": start + 500,
            "params": params,
            "metrics": metrics,
            "tags": tags,
        }


def queries():
    """The search variants, rotated through by the latency loop."""
    return [{"filter": f"metrics.m1 > 0.5 AND params.p1 = '{opt}'",
             "order_by": ["metrics.m2 DESC"], "max_results": 100} for opt in OPTIMIZERS]


# ---- MLflow: direct sqlite3 load ---------------------------------------------------------

def load_mlflow_sqlite(db_path, experiment_id, gen, batch=5000, log=print):
    """Bulk-insert gen's runs into MLflow's (already migrated) SQLite database.

    The experiment must already exist (created through the REST API so that its row is
    exactly what MLflow writes); the runs mirror what runs/create + log-batch + update
    would store: source_type UNKNOWN, empty source fields, lifecycle 'active', status
    FINISHED, artifact_uri = <experiment artifact_location>/<run_uuid>/artifacts,
    one metrics row per point and the same values in latest_metrics, and the
    mlflow.runName tag.
    """
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA synchronous=OFF")
    (loc,) = con.execute("SELECT artifact_location FROM experiments WHERE experiment_id=?",
                         (int(experiment_id),)).fetchone()
    t0 = time.perf_counter()
    for lo in range(0, gen.nruns, batch):
        runs, params, metrics, latest, tags = [], [], [], [], []
        for i in range(lo, min(lo + batch, gen.nruns)):
            r = gen.run(i)
            u = r["uuid"]
            runs.append((u, r["name"], "UNKNOWN", "", "", "bench", "FINISHED", r["start"],
                         r["end"], "", "active", f"{loc}/{u}/artifacts", int(experiment_id), None))
            params.extend((k, v, u) for k, v in r["params"])
            for k, v, ts, step in r["metrics"]:
                metrics.append((k, v, ts, u, step, 0))
                latest.append((k, v, ts, step, 0, u))
            tags.extend((k, v, u) for k, v in r["tags"])
            tags.append(("mlflow.runName", r["name"], u))
        con.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id, deleted_time) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
        con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                        "VALUES (?,?,?,?,?,?)", metrics)
        con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, "
                        "run_uuid) VALUES (?,?,?,?,?,?)", latest)
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
        con.commit()
    n = con.execute("SELECT count(*) FROM runs WHERE experiment_id=?",
                    (int(experiment_id),)).fetchone()[0]
    con.close()
    log(f"  mlflow: inserted {n} runs via sqlite3 in {time.perf_counter() - t0:.1f}s")
    return n


# ---- Capstan (or any MLflow-compatible server): REST load --------------------------------

def _rest_worker(args):
    from servers import Client
    port, experiment_id, nruns, seed, worker, nworkers = args
    gen = Generator(nruns, seed)
    c = Client(port)
    done, errors = 0, []
    for i in range(worker, nruns, nworkers):
        r = gen.run(i)
        steps = [
            ("runs/create", lambda: {"experiment_id": experiment_id, "run_name": r["name"],
                                     "user_id": "bench", "start_time": r["start"],
                                     "tags": [{"key": k, "value": v} for k, v in r["tags"]]}),
            ("runs/log-batch", lambda: {"run_id": run_id,
                                        "params": [{"key": k, "value": v} for k, v in r["params"]],
                                        "metrics": [{"key": k, "value": v, "timestamp": ts,
                                                     "step": st}
                                                    for k, v, ts, st in r["metrics"]]}),
            ("runs/update", lambda: {"run_id": run_id, "run_uuid": run_id, "status": "FINISHED",
                                     "end_time": r["end"]}),
        ]
        run_id = None
        for path, body in steps:
            b = body()
            status, resp, _ = c.call("POST", path, b)
            if status != 200 or not isinstance(resp, dict):
                errors.append(f"POST {path} {str(b)[:200]} -> {status} {str(resp)[:300]}")
                break
            if path == "runs/create":
                run_id = resp["run"]["info"]["run_id"]
        else:
            done += 1
        if len(errors) > 20:
            break
    c.close()
    return done, errors


def load_rest(port, experiment_id, gen, procs=4, log=print):
    t0 = time.perf_counter()
    tasks = [(port, experiment_id, gen.nruns, gen.seed, w, procs) for w in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        results = pool.map(_rest_worker, tasks)
    done = sum(d for d, _ in results)
    errors = [e for _, errs in results for e in errs]
    dt = time.perf_counter() - t0
    log(f"  capstan: created {done} runs via REST in {dt:.1f}s "
        f"({3 * done / dt:.0f} requests/s over {procs} connections)")
    return done, errors, dt
