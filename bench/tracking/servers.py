"""Start, watch and stop the servers for the tracking and registry benchmarks,
and describe the run (machine, versions): the harness both share.

Each server runs in its own session (process group) so that stopping it also
stops every helper process it spawned (uvicorn workers, job runners, ...).
Memory is measured over the whole process tree: the root, every descendant,
and anything still in the root's process group.
"""

import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _proc_table():
    """pid -> (ppid, pgid) for every live process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: split after the last ')'.
        rest = stat[stat.rfind(")") + 2:].split()
        if rest[0] == "Z":  # zombies hold no memory
            continue
        table[int(name)] = (int(rest[1]), int(rest[2]))
    return table


def process_tree(root):
    table = _proc_table()
    pids = {p for p, (_, pgid) in table.items() if pgid == root}
    if root in table:
        pids.add(root)
    changed = True
    while changed:
        changed = False
        for p, (ppid, _) in table.items():
            if ppid in pids and p not in pids:
                pids.add(p)
                changed = True
    return sorted(pids)


def _status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def memory(root):
    """Sums over the tree, in KiB: RSS, its anonymous part (heap; the rest is mapped
    files, e.g. an mmapped database, and shared memory) and PSS where readable."""
    pids = process_tree(root)
    rss = sum(_status_kb(p, "VmRSS") for p in pids)
    anon = sum(_status_kb(p, "RssAnon") for p in pids)
    pss_vals = [_pss_kb(p) for p in pids]
    pss = sum(v for v in pss_vals if v is not None) if all(v is not None for v in pss_vals) else None
    return {"rss_kb": rss, "rss_anon_kb": anon, "pss_kb": pss, "nproc": len(pids)}


def health_ok(port, timeout=1.0):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
        c.close()
        return r.status == 200
    except (OSError, http.client.HTTPException):
        return False


class Server:
    """One server process (group). `start` returns exec -> first 200 /health in seconds."""

    def __init__(self, label, argv, cwd, port, env=None, log_path=None):
        self.label = label
        self.argv = argv
        self.cwd = cwd
        self.port = port
        self.env = env
        self.log_path = log_path or os.path.join(cwd, f"{label}.log")
        self.proc = None

    def start(self, limit_s=180.0, poll_s=0.005):
        log = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = t0 + limit_s
        while time.perf_counter() < deadline:
            if health_ok(self.port, timeout=2.0):
                return time.perf_counter() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} before "
                                   f"answering /health; see {self.log_path}")
            time.sleep(poll_s)
        self.stop()
        raise RuntimeError(f"{self.label}: no 200 from /health within {limit_s}s; see {self.log_path}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def memory(self):
        return memory(self.pid)

    def stop(self, grace_s=20.0):
        if self.proc is None:
            return
        pgid = self.proc.pid
        leftovers = set(process_tree(pgid))
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            self.proc.poll()
            if not process_tree(pgid):
                break
            time.sleep(0.1)
        for sig_target in [pgid]:
            try:
                os.killpg(sig_target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Helpers that left the group but were ours at the start.
        for p in leftovers:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None


class Client:
    """Keep-alive JSON client for the MLflow REST API."""

    def __init__(self, port, timeout=600.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def call(self, method, path, body=None):
        """Returns (status, parsed JSON or raw text, seconds)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(2):
            if self.conn is None:
                self._connect()
            try:
                t0 = time.perf_counter()
                self.conn.request(method, "/api/2.0/mlflow/" + path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                dt = time.perf_counter() - t0
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return r.status, parsed, dt

    def ok(self, method, path, body=None):
        status, parsed, _ = self.call(method, path, body)
        if status != 200 or not isinstance(parsed, dict):
            raise RuntimeError(f"{method} {path} -> {status}: {str(parsed)[:500]}")
        return parsed

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---- run description and server lifecycle shared by the benchmarks ----

# Servers started and not yet stopped, for the benchmarks' cleanup on a signal.
LIVE = []


def env(name, default):
    return os.environ.get(name, default)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_info():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "mem": mem,
            "kernel": platform.release(), "python": platform.python_version()}


def capstan_version(binary):
    try:
        out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10)
        v = (out.stdout or out.stderr).strip().splitlines()
        ver = v[0] if v else "?"
    except OSError:
        ver = "?"
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        head = ""
    return f"{ver} (git {head or 'no commit'})"


def start(server):
    dt = server.start()
    LIVE.append(server)
    log(f"  {server.label} up on :{server.port} in {dt:.3f}s (pid {server.pid})")
    return dt


def stop(server):
    server.stop()
    if server in LIVE:
        LIVE.remove(server)
