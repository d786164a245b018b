"""The registry data set: a deterministic generator and two loaders.

Model i (0-based) is `model-%04d`, with one tag (team) and versions 1..V. Version v of
model i is generated from (seed, i, v) alone, so any process can make any version and
both servers get identical data:
  run_id   md5("seed:i:v") in hex (32 chars, unique per version)
  source   mlflow-artifacts:/0/<run_id>/artifacts/model   (storage_location = source)
  tags     framework (sklearn/onnx/pytorch/xgboost), val_auc ("0.500".."0.999")
  status   READY, current_stage None
Every model has the alias `champion` on version champion(i).

MLflow's store is filled directly through sqlite3 in MLflow's own schema (REST would take
far too long); Capstan's through its REST API (registered-models/create,
model-versions/create, registered-models/alias) from several processes, each owning
whole models so that version numbers are assigned in order.
"""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time

T0 = 1_700_000_000_000
FRAMEWORKS = ["sklearn", "onnx", "pytorch", "xgboost"]
ALIAS = "champion"


class Generator:
    def __init__(self, nmodels, nversions, seed):
        self.nmodels = nmodels
        self.nversions = nversions
        self.seed = seed

    @staticmethod
    def name(i):
        return f"model-{i:04d}"

    def model_tags(self, i):
        return [("team", f"team-{i % 10}")]

    def run_id(self, i, v):
        return hashlib.md5(f"{self.seed}:{i}:{v}".encode()).hexdigest()

    def source(self, i, v):
        return f"mlflow-artifacts:/0/{self.run_id(i, v)}/artifacts/model"

    def version_tags(self, i, v):
        h = int(hashlib.md5(f"tags:{self.seed}:{i}:{v}".encode()).hexdigest()[:8], 16)
        return [("framework", FRAMEWORKS[h % len(FRAMEWORKS)]),
                ("val_auc", f"{0.5 + (h >> 8) % 500 / 1000:.3f}")]

    def champion(self, i):
        return (i * 37 + self.seed) % self.nversions + 1

    def created(self, i, v):
        """Creation time (ms) of version v (v = 0: the model itself)."""
        return T0 + (i * (self.nversions + 1) + v) * 1000


# ---- the queries and their expected answers ------------------------------------------------

def name_query_model(gen, k):
    return (k * 389 + 17) % gen.nmodels


def run_query_version(gen, k):
    return (k * 613 + 5) % gen.nmodels, (k * 37 + 11) % gen.nversions + 1


def alias_query_model(gen, k):
    return (k * 271 + 3) % gen.nmodels


# ---- MLflow: direct sqlite3 load ---------------------------------------------------------

def load_mlflow_sqlite(db_path, gen, batch_models=50, log=print):
    """Bulk-insert gen's models into MLflow's (already migrated, empty) SQLite database,
    as registered-models/create, model-versions/create and registered-models/alias
    through MLflow's REST API store them: workspace 'default', description '',
    user_id NULL, current_stage 'None', status READY, status_message NULL, run_link '',
    storage_location = source, last_updated = creation time, the model's
    last_updated = its newest version's creation time."""
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA synchronous=OFF")
    have = con.execute("SELECT count(*) FROM registered_models").fetchone()[0]
    if have:
        raise RuntimeError(f"{db_path} already holds {have} registered models")
    t0 = time.perf_counter()
    V = gen.nversions
    for lo in range(0, gen.nmodels, batch_models):
        models, mtags, versions, vtags, aliases = [], [], [], [], []
        for i in range(lo, min(lo + batch_models, gen.nmodels)):
            n = gen.name(i)
            models.append((n, gen.created(i, 0), gen.created(i, V), "", "default"))
            mtags.extend((k, val, n, "default") for k, val in gen.model_tags(i))
            for v in range(1, V + 1):
                src = gen.source(i, v)
                t = gen.created(i, v)
                versions.append((n, v, t, t, "", None, "None", src, gen.run_id(i, v), "READY",
                                 None, "", src, "default"))
                vtags.extend((k, val, n, v, "default") for k, val in gen.version_tags(i, v))
            aliases.append((ALIAS, gen.champion(i), n, "default"))
        con.executemany("INSERT INTO registered_models (name, creation_time, last_updated_time, "
                        "description, workspace) VALUES (?,?,?,?,?)", models)
        con.executemany('INSERT INTO registered_model_tags ("key", value, name, workspace) '
                        "VALUES (?,?,?,?)", mtags)
        con.executemany("INSERT INTO model_versions (name, version, creation_time, "
                        "last_updated_time, description, user_id, current_stage, source, "
                        "run_id, status, status_message, run_link, storage_location, workspace) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", versions)
        con.executemany('INSERT INTO model_version_tags ("key", value, name, version, workspace) '
                        "VALUES (?,?,?,?,?)", vtags)
        con.executemany("INSERT INTO registered_model_aliases (alias, version, name, workspace) "
                        "VALUES (?,?,?,?)", aliases)
        con.commit()
    nm = con.execute("SELECT count(*) FROM registered_models").fetchone()[0]
    nv = con.execute("SELECT count(*) FROM model_versions").fetchone()[0]
    con.close()
    dt = time.perf_counter() - t0
    log(f"  mlflow: inserted {nm} models, {nv} versions via sqlite3 in {dt:.1f}s")
    return nm, nv, dt


# ---- Capstan (or any MLflow-compatible server): REST load --------------------------------

def _rest_worker(args):
    from servers import Client
    port, nmodels, nversions, seed, worker, nworkers = args
    gen = Generator(nmodels, nversions, seed)
    c = Client(port)
    models = versions = 0
    errors = []

    def post(path, body):
        status, resp, _ = c.call("POST", path, body)
        if status != 200 or not isinstance(resp, dict):
            errors.append(f"POST {path} {str(body)[:200]} -> {status} {str(resp)[:300]}")
            return None
        return resp

    for i in range(worker, nmodels, nworkers):
        n = gen.name(i)
        if post("registered-models/create",
                {"name": n, "tags": [{"key": k, "value": v} for k, v in gen.model_tags(i)]}) is None:
            break
        models += 1
        for v in range(1, nversions + 1):
            r = post("model-versions/create",
                     {"name": n, "source": gen.source(i, v), "run_id": gen.run_id(i, v),
                      "tags": [{"key": k, "value": val} for k, val in gen.version_tags(i, v)]})
            if r is None:
                break
            got = r.get("model_version", {}).get("version")
            if str(got) != str(v):
                errors.append(f"model-versions/create {n}: expected version {v}, got {got!r}")
                break
            versions += 1
        if errors:
            break
        if post("registered-models/alias",
                {"name": n, "alias": ALIAS, "version": str(gen.champion(i))}) is None:
            break
    c.close()
    return models, versions, errors


def load_rest(port, gen, procs=8, log=print):
    """Runs `procs` worker processes (this file as a script; plain subprocesses, not a
    multiprocessing pool, so no lock or signal handler is inherited across fork)."""
    t0 = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--rest-worker",
                                 json.dumps([port, gen.nmodels, gen.nversions, gen.seed, w, procs])],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
               for w in range(procs)]
    results = []
    for p in workers:
        out, _ = p.communicate()
        try:
            results.append(json.loads(out))
        except ValueError:
            results.append([0, 0, [f"load worker {p.pid} exited {p.returncode}: {out[-300:]!r}"]])
    models = sum(r[0] for r in results)
    versions = sum(r[1] for r in results)
    errors = [e for r in results for e in r[2]]
    dt = time.perf_counter() - t0
    nreq = 2 * models + versions
    log(f"  capstan: created {models} models, {versions} versions via REST in {dt:.1f}s "
        f"({nreq / dt:.0f} requests/s over {procs} connections)")
    return models, versions, errors, dt, nreq


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--rest-worker":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tracking"))
    print(json.dumps(_rest_worker(json.loads(sys.argv[2]))), flush=True)
