"""100,000 runs for the browser test and bench/ui, written straight into
Capstan's SQLite schema.

Logging 100k runs through REST takes about 4 minutes on the release build
(bench/tracking measured ~1,250 requests/s, 3 requests a run) and much longer
under ASan, which is too slow for `make test`. So the server creates its
database and the experiment (through REST), is stopped, the runs are
inserted with sqlite3 in one transaction exactly as runs/create + log-batch +
update would store them, and the server is started again on that file:
everything the UI then shows comes through Capstan's own server. The loader
checks the columns it writes still exist, so a schema change fails loudly.

Runs come from a generator with .nruns and .run(i) -> {name, uuid, start,
end, params, metrics [(key, value, ts, step)], tags}; bench/ui passes
bench/tracking's Generator so both servers get the same data.
"""
import random
import sqlite3
import time

T0 = 1_700_000_000_000


class SmallGenerator:
    """3 params, 3 metrics (m2 unique across runs: a tie-free sort key), 1 tag."""

    def __init__(self, nruns, seed=7):
        self.nruns = nruns
        self.seed = seed
        self.a = 48271 if nruns % 48271 else 48611

    def run(self, i):
        rng = random.Random(self.seed * 1_000_003 + i)
        start = T0 + i * 1000
        m2 = ((i * self.a) % self.nruns + 0.5) / self.nruns
        return {"name": f"run-{i:06d}", "uuid": f"{rng.getrandbits(128):032x}", "start": start, "end": start + 500,
                "params": [("p0", rng.choice(["0.1", "0.01", "0.001"])), ("p1", rng.choice(["adam", "sgd"])),
                           ("p2", str(rng.randrange(100)))],
                "metrics": [("m0", round(rng.random(), 6), start + 100, 0), ("m1", round(rng.random(), 6), start + 101, 0),
                            ("m2", m2, start + 102, 0)],
                "tags": [("t0", f"t0-{rng.randrange(20)}")]}

    def lowest_m2(self, k):
        """Names of the k runs with the smallest m2, in order."""
        inv = {(i * self.a) % self.nruns: i for i in range(self.nruns)} if self.nruns <= 200_000 else None
        return [f"run-{inv[r]:06d}" for r in range(k)]


WANT = {"runs": {"rid", "run_uuid", "name", "experiment_id", "user_id", "status", "start_time", "end_time",
                 "lifecycle_stage", "artifact_uri"},
        "params": {"rid", "key", "value"}, "tags": {"rid", "key", "value"},
        "metrics": {"rid", "key", "step", "timestamp", "value", "is_nan"},
        "latest_metrics": {"rid", "key", "value", "step", "timestamp", "is_nan"}}


def load_capstan_sqlite(db_path, experiment_id, gen, batch=20000, log=print):
    con = sqlite3.connect(db_path)
    for table, cols in WANT.items():
        have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        missing = cols - have
        if missing:
            raise RuntimeError(f"Capstan's schema changed: {table} lacks {sorted(missing)}; update tests/e2e/bigdata.py")
    (loc,) = con.execute("SELECT artifact_location FROM experiments WHERE experiment_id=?", (int(experiment_id),)).fetchone()
    base = (con.execute("SELECT max(rid) FROM runs").fetchone()[0] or 0) + 1
    t0 = time.perf_counter()
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    for lo in range(0, gen.nruns, batch):
        runs, params, metrics, latest, tags = [], [], [], [], []
        for i in range(lo, min(lo + batch, gen.nruns)):
            r = gen.run(i)
            rid = base + i
            runs.append((rid, r["uuid"], r["name"], int(experiment_id), "bench", "FINISHED", r["start"], r["end"], "active",
                         f"{loc}/{r['uuid']}/artifacts"))
            params.extend((rid, k, v) for k, v in r["params"])
            for k, v, ts, step in r["metrics"]:
                metrics.append((rid, k, step, ts, v, 0))
                latest.append((rid, k, v, step, ts, 0))
            tags.extend((rid, k, v) for k, v in r["tags"])
            tags.append((rid, "mlflow.runName", r["name"]))
        con.executemany("INSERT INTO runs (rid, run_uuid, name, experiment_id, user_id, status, start_time, end_time, "
                        "lifecycle_stage, artifact_uri) VALUES (?,?,?,?,?,?,?,?,?,?)", runs)
        con.executemany("INSERT INTO params (rid, key, value) VALUES (?,?,?)", params)
        con.executemany("INSERT INTO metrics (rid, key, step, timestamp, value, is_nan) VALUES (?,?,?,?,?,?)", metrics)
        con.executemany("INSERT INTO latest_metrics (rid, key, value, step, timestamp, is_nan) VALUES (?,?,?,?,?,?)", latest)
        con.executemany("INSERT INTO tags (rid, key, value) VALUES (?,?,?)", tags)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    n = con.execute("SELECT count(*) FROM runs WHERE experiment_id=?", (int(experiment_id),)).fetchone()[0]
    con.close()
    log(f"  capstan: inserted {n} runs via sqlite3 in {time.perf_counter() - t0:.1f}s")
    return n
