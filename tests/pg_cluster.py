"""A throwaway PostgreSQL cluster for one test session.

initdb into a fresh directory under /tmp, the server on a free loopback port
(and a Unix socket in the same directory), a role `capstan` with a password
and databases made on demand. stop() shuts it down and removes everything.

The cluster runs with fsync=off: a crash would lose it, which no test needs
and which makes every commit cheap. The durability the store claims on a
real PostgreSQL is that server's own settings, not this one's.

initdb refuses to run as root (CI's user): then the cluster's programs run
as `nobody`, which owns the directory.

    cluster = PgCluster().start()
    cluster.create_database("t1")
    uri = cluster.uri("t1")   # postgresql://capstan:...@127.0.0.1:PORT/t1
    cluster.stop()
"""
import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time


def pg_bindir():
    """The newest /usr/lib/postgresql/<version>/bin (Debian keeps initdb and
    pg_ctl off PATH); None when PostgreSQL is not installed."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        m = re.search(r"/postgresql/(\d+)/bin$", d)
        if m and os.access(os.path.join(d, "initdb"), os.X_OK):
            found.append((int(m.group(1)), d))
    return max(found)[1] if found else None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    USER = "capstan"

    def __init__(self, bindir=None):
        self.bindir = bindir or pg_bindir()
        if not self.bindir:
            raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                               "scripts/bootstrap --system installs it")
        self.password = secrets.token_hex(12)
        self.dir = None
        self.port = None
        self.running = False

    # -- running the cluster's programs --

    def _as_owner(self, argv):
        if os.geteuid() == 0:
            return ["runuser", "-u", "nobody", "--"] + argv
        return argv

    def _run(self, prog, *args, owner=True, check=True, timeout=120):
        argv = [os.path.join(self.bindir, prog), *args]
        if owner:
            argv = self._as_owner(argv)
        r = subprocess.run(argv, cwd=self.dir, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{prog} failed ({r.returncode}): {r.stdout}{r.stderr}{self._log_tail()}")
        return r

    def _log_tail(self):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return "\nserver.log:\n" + f.read()[-4000:]
        except OSError:
            return ""

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def psql(self, sql, dbname="postgres"):
        """Runs sql as the superuser over the Unix socket; returns stdout
        (unaligned, tuples only)."""
        r = self._run("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                      "-p", str(self.port), "-U", "postgres", "-d", dbname, "-c", sql, owner=False)
        return r.stdout

    # -- lifecycle --

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="capstan-pg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        # The superuser signs in over the socket (trust); TCP asks every role
        # for its password, so a wrong one is refused as on a real server.
        self._run("initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8", "--locale=C",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        for attempt in range(3):  # a free port can be taken before the server binds it
            self.port = free_port()
            opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            r = self._run("pg_ctl", "start", "-D", self.data, "-l",
                          os.path.join(self.dir, "server.log"), "-w", "-t", "60", "-o", opts,
                          check=False)
            if r.returncode == 0:
                break
        else:
            raise RuntimeError(f"pg_ctl start failed: {r.stdout}{r.stderr}{self._log_tail()}")
        self.running = True
        atexit.register(self.stop)  # an interrupted session leaves no server behind
        self._wait_ready()
        self.psql(f"CREATE ROLE {self.USER} LOGIN PASSWORD '{self.password}'")
        return self

    def _wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            r = self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "5",
                          owner=False, check=False)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL not ready in {timeout} s{self._log_tail()}")
            time.sleep(0.05)  # polling with a deadline, not a synchronisation

    def create_database(self, name, icu_locale=None):
        """A database owned by capstan; icu_locale gives it that ICU default
        collation (e.g. "und", where 'a' < 'B', as in most real servers')
        instead of the cluster's bytewise C."""
        extra = (f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'"
                 if icu_locale else "")
        self.psql(f'CREATE DATABASE "{name}" OWNER {self.USER}{extra}')
        return self.uri(name)

    def uri(self, dbname, password=None, port=None):
        pw = self.password if password is None else password
        return f"postgresql://{self.USER}:{pw}@127.0.0.1:{port or self.port}/{dbname}"

    def restart(self):
        """pg_ctl restart -m fast: every client connection is cut (as in a
        failover or a server upgrade); the options of the first start are
        kept (postmaster.opts)."""
        self._run("pg_ctl", "restart", "-D", self.data, "-m", "fast", "-w", "-t", "60",
                  "-l", os.path.join(self.dir, "server.log"))

    def stop(self):
        if self.running:
            self._run("pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w", check=False)
            self.running = False
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
