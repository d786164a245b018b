"""Several `capstan server` processes on one PostgreSQL database (issue 22's
replicas): writes from all of them land exactly once, a rule that reads
before it writes (unique experiment names, version numbers) holds across
processes, and what one writes the other reads at once. And the start-up
errors of a bad --backend-store-uri. A throwaway cluster from
tests/pg_cluster.py; the real mlflow client."""
import os
import subprocess
import threading

import pytest
import requests
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import serving_helpers as sh
from conftest import BIN, Server
from pg_cluster import PgCluster, free_port, pg_bindir

pytestmark = pytest.mark.skipif(pg_bindir() is None,
                                reason="PostgreSQL is not installed (scripts/bootstrap --system)")


@pytest.fixture(scope="module")
def cluster():
    c = PgCluster().start()
    yield c
    c.stop()


@pytest.fixture
def two_servers(cluster, tmp_path, request):
    name = "rep_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    cluster.create_database(name)
    uri = cluster.uri(name)
    made = [Server(tmp_path / f"s{i}", ["--backend-store-uri", uri]).start() for i in range(2)]
    yield made
    for s in made:
        s.assert_clean_exit(s.stop())


def run_threads(fns):
    errors = []

    def wrap(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def test_batches_from_two_servers_are_all_stored_once(two_servers):
    a, b = (MlflowClient(s.url) for s in two_servers)
    exp = a.create_experiment("replicas")
    shared = a.create_run(exp).info.run_id
    own = [c.create_run(exp).info.run_id for c in (a, b)]

    def writer(client, tag, run_ids):
        def go():
            for step in range(30):
                for rid in run_ids:
                    client.log_batch(rid, metrics=[
                        Metric(f"m{k}", step * 10 + k, 1000 + step, step) for k in range(5)
                    ] + [Metric(f"{tag}_only", step, 1000 + step, step)])
        return go

    errors = run_threads([writer(a, "a", [shared, own[0]]), writer(b, "b", [shared, own[1]])])
    assert errors == []
    for reader in (a, b):
        for rid in (shared, *own):
            hist = reader.get_metric_history(rid, "m3")
            # both servers logged the same 30 points on the shared run: one
            # copy each (identical points are one point)
            assert [(m.step, m.value) for m in hist] == [(s, s * 10 + 3) for s in range(30)]
        run = reader.get_run(shared)
        assert run.data.metrics["m4"] == 294
        assert run.data.metrics["a_only"] == 29 and run.data.metrics["b_only"] == 29
        assert len(reader.get_metric_history(own[0], "a_only")) == 30
        assert reader.get_metric_history(own[0], "b_only") == []


def test_a_rule_checked_before_writing_holds_across_servers(two_servers):
    a, b = (MlflowClient(s.url) for s in two_servers)
    outcomes = []

    def create(client):
        def go():
            try:
                outcomes.append(client.create_experiment("only-one"))
            except MlflowException as e:
                outcomes.append(e.error_code)
        return go

    for _ in range(3):
        assert run_threads([create(a), create(b)]) == []
    ids = [o for o in outcomes if o != "RESOURCE_ALREADY_EXISTS"]
    assert len(ids) == 1 and outcomes.count("RESOURCE_ALREADY_EXISTS") == 5

    a.create_registered_model("shared-model")
    versions = []

    def register(client):
        def go():
            for _ in range(10):
                versions.append(int(client.create_model_version(
                    "shared-model", "mlflow-artifacts:/x").version))
        return go

    assert run_threads([register(a), register(b)]) == []
    assert sorted(versions) == list(range(1, 21))


def test_what_one_server_writes_the_other_reads(two_servers):
    a, b = (MlflowClient(s.url) for s in two_servers)
    a.create_registered_model("seen")
    a.create_model_version("seen", "mlflow-artifacts:/x")
    a.create_model_version("seen", "mlflow-artifacts:/y")
    a.set_registered_model_alias("seen", "champion", "1")
    assert b.get_model_version_by_alias("seen", "champion").version == "1"
    b.set_registered_model_alias("seen", "champion", "2")
    assert a.get_model_version_by_alias("seen", "champion").version == "2"
    found = b.search_registered_models("name = 'seen'")
    assert [m.name for m in found] == ["seen"]


def start_fails(tmp_path, uri):
    p = subprocess.run([BIN, "server", "--data", str(tmp_path), "--port", str(free_port()),
                        "--backend-store-uri", uri], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0, p.stderr
    assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p.stderr


def test_bad_database_configuration_is_a_clear_error_at_start(cluster, tmp_path):
    cluster.create_database("badconf")
    good = cluster.uri("badconf")
    wrong = cluster.uri("badconf", password="not-the-password")
    err = start_fails(tmp_path / "a", wrong)
    assert "password authentication failed" in err and "not-the-password" not in err, err
    closed = free_port()
    err = start_fails(tmp_path / "b", f"postgresql://capstan:x@127.0.0.1:{closed}/db")
    assert "127.0.0.1" in err and str(closed) in err, err
    err = start_fails(tmp_path / "c", good.rsplit("/", 1)[0] + "/no_such_db")
    assert "no_such_db" in err, err
    err = start_fails(tmp_path / "d", "mysql://h/db")
    assert "Unsupported store URI" in err, err


LEADS = "this server now runs the work that must run on one server"


def wait_for_log(server, text):
    return sh.wait_for(lambda: text in server.read_log(), what=f"{text!r} in the log")


def test_the_once_only_work_moves_when_its_server_dies(cluster, tmp_path):
    """The lease (lease/): the first server holds it, the second waits; the
    holder killed with SIGKILL, the second takes over once the lease's time
    runs out; a server stopped cleanly gives it up to a newcomer at once."""
    cluster.create_database("lease")
    args = ["--backend-store-uri", cluster.uri("lease"), "--lease-ttl-ms", "6000"]
    a = Server(tmp_path / "a", args).start()
    assert LEADS in a.read_log()
    b = Server(tmp_path / "b", args).start()
    try:
        assert LEADS not in b.read_log()
        a.kill()
        assert wait_for_log(b, LEADS), b.read_log()[-3000:]
        c = Server(tmp_path / "c", args).start()
        assert LEADS not in c.read_log()
        b.assert_clean_exit(b.stop())
        assert wait_for_log(c, LEADS), c.read_log()[-3000:]
        c.assert_clean_exit(c.stop())
    finally:
        for s in (a, b):
            if s.proc is not None:
                s.kill()


def test_a_restarted_database_is_reconnected(cluster, tmp_path):
    """PostgreSQL restarts (every connection cut): a request that meets a
    dead connection gets 503 TEMPORARILY_UNAVAILABLE, never a crash; the
    store reconnects and nothing acknowledged before is lost."""
    cluster.create_database("restart")
    srv = Server(tmp_path / "s", ["--backend-store-uri", cluster.uri("restart")]).start()
    try:
        client = MlflowClient(srv.url)
        exp = client.create_experiment("before")
        run = client.create_run(exp).info.run_id
        client.log_batch(run, metrics=[Metric("m", 1.0, 1000, 0)])
        cluster.restart()
        # Each pooled connection, idle when the server went, notices that at
        # its next transaction and reconnects first (a read borrows any of the
        # pool's, so keep asking); a 503 is allowed only for a command lost on
        # a connection that died under it.
        codes = []
        for i in range(40):
            r = srv.api("POST", "/api/2.0/mlflow/runs/log-batch",
                        json={"run_id": run, "metrics": [
                            {"key": "m", "value": float(i + 2), "timestamp": 2000 + i, "step": i + 1}]})
            g = srv.api("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run})
            codes.append((r.status_code, g.status_code))
            for resp in (r, g):
                assert resp.status_code in (200, 503), (resp.status_code, resp.text)
                if resp.status_code == 503:
                    assert resp.json()["error_code"] == "TEMPORARILY_UNAVAILABLE", resp.text
        assert codes[-10:] == [(200, 200)] * 10, codes
        hist = client.get_metric_history(run, "m")
        acked = {1.0} | {float(i + 2) for i, (w, _) in enumerate(codes) if w == 200}
        assert {m.value for m in hist} >= acked
        assert client.get_experiment(exp).name == "before"
    finally:
        srv.assert_clean_exit(srv.stop())


def test_two_servers_monitor_and_alert_once(cluster, tmp_path):
    """One deployment served by two servers on one database (artifacts in one
    shared directory): every row of both lands in exactly one stored window,
    and the drift alert fires once, delivered once: the live monitor and
    alert delivery run on the lease's holder only."""
    import http.server

    import test_monitor_live as ml

    ml.Receiver.got.clear()
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ml.Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    cluster.create_database("mon2")
    args = ["--backend-store-uri", cluster.uri("mon2"), "--artifacts-destination",
            str(tmp_path / "artifacts"), *ml.ARGS]
    a = Server(tmp_path / "a", args).start()
    b = Server(tmp_path / "b", args).start()
    try:
        ml.deploy_with_baseline(a, "mon")
        rule = {"name": "drift", "deployment": "mon", "metric": "dataset_drift", "op": "==",
                "threshold": 1, "for": 1, "window": 1,
                "webhook": f"http://127.0.0.1:{hook.server_address[1]}/hook"}
        assert a.api("POST", "/api/2.0/capstan/monitor/alerts/rules", json=rule).status_code == 200
        sh.wait_for(lambda: b.api("GET", "/v2/models/mon/ready").status_code == 200,
                    what="the deployment on the second server")
        ml.send(a, ml.shifted_request, 0)
        ml.send(b, ml.shifted_request, 100)
        total = 2 * ml.REQUESTS * ml.ROWS_PER_REQUEST
        sh.wait_for(lambda: ml.rows_in(ml.base_windows(a)) >= total, what="both servers' rows")
        windows = ml.base_windows(b)
        assert ml.rows_in(windows) == total
        starts = [w["start_ms"] for w in windows]
        assert len(starts) == len(set(starts)), starts

        def delivered():
            ev = a.api("GET", "/api/2.0/capstan/monitor/alerts/events",
                       params={"deployment": "mon"}).json()["events"]
            return ev if ev and all(e["delivery"] == "delivered" for e in ev) else None

        events = sh.wait_for(delivered, what="the alert's delivery")
        assert [e["state"] for e in events] == ["firing"], events
        assert len(ml.hooks("firing")) == 1
    finally:
        hook.shutdown()
        for s in (a, b):
            s.assert_clean_exit(s.stop())


HAPROXY = "/usr/sbin/haproxy"


def haproxy_config(ports, front, work):
    """deploy/haproxy.cfg with its server lines and binds on loopback: one
    line per replica, nothing else changed (the retry and redispatch rules
    are what is tested)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "deploy", "haproxy.cfg")) as f:
        cfg = f.read()
    servers = "".join(f"    server capstan-{i + 1} 127.0.0.1:{p}\n" for i, p in enumerate(ports))
    cfg = cfg.replace("    server capstan-1 capstan-1:5000\n    server capstan-2 capstan-2:5000\n",
                      servers)
    cfg = cfg.replace("bind :5000", f"bind 127.0.0.1:{front}")
    cfg = cfg.replace("bind :8404", f"bind 127.0.0.1:{free_port()}")
    assert servers in cfg, "deploy/haproxy.cfg's server lines moved: update this test"
    path = os.path.join(work, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    return path


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="haproxy is not installed")
def test_three_replicas_behind_haproxy_lose_no_acknowledged_write(cluster, tmp_path):
    """Three servers on one database behind deploy/haproxy.cfg. Writers log
    batches and create runs through HAProxy while the replica holding the
    lease is killed (SIGKILL), then another, then both restart. Every
    acknowledged batch is stored with all its points, every acknowledged
    run exists exactly once, reads never fail (a GET whose replica died is
    retried elsewhere), and the once-only work moved to the survivor."""
    cluster.create_database("ha")
    args = ["--backend-store-uri", cluster.uri("ha"), "--artifacts-destination",
            str(tmp_path / "artifacts"), "--lease-ttl-ms", "3000", "--monitor-windows", "off"]
    reps = [Server(tmp_path / f"r{i}", args).start() for i in range(3)]
    front = free_port()
    hap = subprocess.Popen([HAPROXY, "-f", haproxy_config([r.port for r in reps], front, tmp_path),
                            "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{front}"
    stop = threading.Event()
    acked, runs_acked, failed_reads, errors = [], [], [], []
    lock = threading.Lock()
    try:
        def health():
            try:
                return requests.get(url + "/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        sh.wait_for(health, what="haproxy's /health")
        exp = requests.post(url + "/api/2.0/mlflow/experiments/create",
                            json={"name": "ha"}, timeout=30).json()["experiment_id"]

        def writer(w):
            rid = requests.post(url + "/api/2.0/mlflow/runs/create",
                                json={"experiment_id": exp}, timeout=30).json()["run"]["info"]["run_id"]
            step = 0
            while not stop.is_set():
                step += 1
                body = {"run_id": rid, "metrics": [
                    {"key": f"k{j}", "value": step * 100 + j, "timestamp": step, "step": step}
                    for j in range(10)]}
                try:
                    ok = requests.post(url + "/api/2.0/mlflow/runs/log-batch", json=body,
                                       timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                tag = f"w{w}-{step}"
                try:
                    r = requests.post(url + "/api/2.0/mlflow/runs/create", timeout=30, json={
                        "experiment_id": exp, "tags": [{"key": "attempt", "value": tag}]})
                    run_ok = r.status_code == 200
                except requests.RequestException:
                    run_ok = False
                try:
                    gr = requests.get(url + "/api/2.0/mlflow/runs/get", params={"run_id": rid},
                                      timeout=30)
                    g = gr.status_code if gr.status_code == 200 else (gr.status_code, gr.text[:200])
                except requests.RequestException as e:
                    g = str(e)
                with lock:
                    if ok:
                        acked.append((rid, step))
                    if run_ok:
                        runs_acked.append(tag)
                    if g != 200:
                        failed_reads.append(g)

        def progress(n):
            """Waits until the writers have n more acknowledged batches."""
            with lock:
                target = len(acked) + n

            def done():
                with lock:
                    return len(acked) >= target

            sh.wait_for(done, timeout=120, what=f"{n} more acknowledged batches")

        def guarded(w):
            try:
                writer(w)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=guarded, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        progress(20)
        leader = next(r for r in reps if LEADS in r.read_log())
        others = [r for r in reps if r is not leader]
        leader.kill()
        progress(20)
        others[0].kill()
        progress(20)
        assert wait_for_log(others[1], LEADS), "the once-only work did not move"
        leader.start()
        others[0].start()
        progress(20)
        stop.set()
        for t in threads:
            t.join()
        assert errors == [] and failed_reads == [], (errors, failed_reads[:5])

        by_run = {}
        for rid, step in acked:
            by_run.setdefault(rid, set()).add(step)
        reader = reps[1]
        for rid, steps in by_run.items():
            for j in (0, 9):
                got = requests.get(reader.url + "/api/2.0/mlflow/metrics/get-history",
                                   params={"run_id": rid, "metric_key": f"k{j}"},
                                   timeout=60).json()["metrics"]
                stored = [m["step"] for m in got]
                assert len(stored) == len(set(stored))
                assert steps <= set(stored), sorted(steps - set(stored))[:5]
                assert all(m["value"] == m["step"] * 100 + j for m in got)
        found = {}
        token = None
        while True:
            r = requests.post(reader.url + "/api/2.0/mlflow/runs/search", timeout=60, json={
                "experiment_ids": [exp], "max_results": 1000, "page_token": token}).json()
            for run in r.get("runs", []):
                for t in run["data"].get("tags", []):
                    if t["key"] == "attempt":
                        found[t["value"]] = found.get(t["value"], 0) + 1
            token = r.get("next_page_token")
            if not token:
                break
        assert all(found.get(tag) == 1 for tag in runs_acked), \
            [(t, found.get(t)) for t in runs_acked if found.get(t) != 1][:5]
        assert all(n == 1 for n in found.values())
    finally:
        stop.set()
        hap.kill()
        hap.wait()
        for r in reps:
            if r.proc is not None:
                r.assert_clean_exit(r.stop())
