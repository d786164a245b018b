"""A capstan process for the test suites (tests/integration, tests/e2e): a
free port, its output in a log file, ready once a GET answers 200, stopped
with a signal, and expected to exit cleanly (status 0, no sanitizer
report). One copy for every suite that starts the real binary."""
import os
import signal
import socket
import subprocess
import time

import requests


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CapstanProcess:
    """`binary command --port P *args`; ready when GET ready_path is 200.
    log_path may name the port as {port}."""

    def __init__(self, binary, command, log_path, args=(), ready_path="/health",
                 start_timeout=30):
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [binary, command, "--port", str(self.port), *args]
        self.log_path = str(log_path).replace("{port}", str(self.port))
        self.ready_path = ready_path
        self.start_timeout = start_timeout
        self.env = {}       # added to the environment at start
        self.proc = None

    def start(self):
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        env = dict(os.environ)
        env.update(self.env)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[1]} exited early:\n{self.read_log()}")
            try:
                if requests.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv[1]} did not start:\n{self.read_log()}")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()

    def assert_clean_exit(self, rc):
        log = self.read_log()
        assert "Sanitizer" not in log and "runtime error" not in log, log[-20000:]
        assert rc == 0, f"{self.argv[1]} exited with {rc}:\n{log[-20000:]}"

    def api(self, method, path, **kw):
        return requests.request(method, self.url + path, timeout=60, **kw)


class CapstanServer(CapstanProcess):
    """`capstan server` on a temporary data directory (its log inside it)."""

    def __init__(self, binary, data_dir, extra_args=(), start_timeout=30):
        self.data_dir = str(data_dir)
        self.extra_args = list(extra_args)
        super().__init__(binary, "server", os.path.join(self.data_dir, "server.log"),
                         ["--data", self.data_dir, *self.extra_args],
                         start_timeout=start_timeout)
