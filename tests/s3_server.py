"""A throwaway S3 server for one test session: SeaweedFS's `weed server -s3`.

A real S3 implementation that checks SigV4 signatures, so a client that signs
wrongly is refused as it would be by AWS. weed is built once by
scripts/bootstrap and cached outside the clone, in
${CAPSTAN_CACHE:-~/.cache/capstan}/seaweedfs-<version>/weed, the version being
the one line of tests/seaweedfs.version (which the bootstrap reads too).

Everything (master, volume server, filer, S3 gateway, their gRPC ports) listens
on free ports of 127.0.0.1 only, keeps its data in a fresh directory under /tmp
and logs to weed.log there; one identity (access_key, secret_key) may do
everything. stop() kills it and removes everything.

    with S3Server() as s3:
        s3.create_bucket("artifacts")
        s3.client().put_object(Bucket="artifacts", Key="k", Body=b"v")
        # s3.endpoint == "http://127.0.0.1:PORT", s3.region == "us-east-1"
"""
import atexit
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSION_FILE = os.path.join(ROOT, "tests", "seaweedfs.version")


def weed_version():
    with open(VERSION_FILE) as f:
        return f.read().strip()


def weed_path():
    """Where scripts/bootstrap puts weed (the same rule as there)."""
    cache = os.environ.get("CAPSTAN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                            "capstan")
    return os.path.join(cache, f"seaweedfs-{weed_version()}", "weed")


def free_ports(n):
    """n distinct free loopback ports (held together while chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class _PortTaken(Exception):
    pass


class S3Server:
    REGION = "us-east-1"
    # master.toml: a bucket is a collection, and each collection's first write
    # grows this many volumes (7 by default): one keeps a bucket cheap, so a
    # test may make many.
    MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\n"

    def __init__(self, weed=None, start_timeout=90):
        self.weed = weed or weed_path()
        if not os.access(self.weed, os.X_OK):
            raise RuntimeError(f"SeaweedFS (the S3 test server) is not built: no {self.weed}; "
                               "scripts/bootstrap builds it once (Go, ~11 min)")
        self.start_timeout = start_timeout
        self.access_key = "capstan" + secrets.token_hex(6)
        self.secret_key = secrets.token_urlsafe(30)
        self.region = self.REGION
        self.dir = None
        self.proc = None
        self.port = None
        self.endpoint = None
        self.argv = None
        self.startup_s = None
        self._grpc_ports = []

    # -- lifecycle --

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="capstan-s3-", dir="/tmp")
        os.mkdir(os.path.join(self.dir, "data"))
        with open(os.path.join(self.dir, "identities.json"), "w") as f:
            json.dump({"identities": [{
                "name": "capstan",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}, f)
        with open(os.path.join(self.dir, "master.toml"), "w") as f:
            f.write(self.MASTER_TOML)
        atexit.register(self.stop)  # an interrupted session leaves no server behind
        t0 = time.monotonic()
        try:
            for attempt in range(3):  # a free port can be taken before weed binds it
                try:
                    self._spawn()
                    self._wait_ready()
                    break
                except _PortTaken:
                    self._kill()
                    if attempt == 2:
                        raise RuntimeError("weed server: its ports were taken three times"
                                           + self._log_tail())
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def _spawn(self):
        (self.port, master, volume, filer,
         *self._grpc_ports) = free_ports(8)
        g_master, g_volume, g_filer, g_s3 = self._grpc_ports
        d = self.dir
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.argv = [
            self.weed, "-logtostderr", f"-config_dir={d}", "server",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={d}/data",
            f"-master.port={master}", f"-master.port.grpc={g_master}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}", f"-volume.port.grpc={g_volume}",
            "-volume.max=100", "-volume.preStopSeconds=0",
            f"-filer.port={filer}", f"-filer.port.grpc={g_filer}",
            f"-filer.localSocket={d}/filer.sock",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={g_s3}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={d}/identities.json", f"-s3.localSocket={d}/s3.sock",
            # A PUT into a missing bucket is NoSuchBucket, as on AWS.
            "-s3.autoCreateBucket=false",
        ]
        # HOME and TMPDIR: weed reads ~/.seaweedfs/*.toml and keeps
        # scratch files in the temporary directory; neither is shared.
        env = dict(os.environ, HOME=d, TMPDIR=d)
        with open(os.path.join(d, "weed.log"), "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=d, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def _wait_ready(self):
        """Polls (with a deadline, not a synchronisation) until a signed
        request is answered and an object can be written: the gateway starts
        seconds after the filer, and the master lends no volume until the
        volume server has reported in."""
        from botocore.exceptions import BotoCoreError, ClientError

        c = self.client(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=30)
        probe = "capstan-probe-" + secrets.token_hex(4)
        deadline = time.monotonic() + self.start_timeout
        step, made, last = "ListBuckets", False, None
        while True:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                if "address already in use" in tail:
                    raise _PortTaken()
                raise RuntimeError(f"weed server exited with status {self.proc.returncode} "
                                   f"while starting{tail}")
            try:
                step = "ListBuckets"
                c.list_buckets()
                if not made:
                    step = "CreateBucket"
                    c.create_bucket(Bucket=probe)
                    made = True
                step = "PutObject"
                c.put_object(Bucket=probe, Key="probe", Body=b"probe")
                step = "DeleteObject"
                c.delete_object(Bucket=probe, Key="probe")
                step = "DeleteBucket"
                c.delete_bucket(Bucket=probe)
                return
            except ClientError as e:
                # A CreateBucket answered after the client gave up on it.
                if e.response["Error"]["Code"] == "BucketAlreadyOwnedByYou":
                    made = True
                last = f"{step}: {e}"
            except BotoCoreError as e:
                last = f"{step}: {e}"
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed server: S3 not ready in {self.start_timeout} s "
                                   f"(last: {last}){self._log_tail()}")
            time.sleep(0.1)  # polling with a deadline

    def _log_tail(self, n=4000):
        try:
            with open(os.path.join(self.dir, "weed.log"), errors="replace") as f:
                return "\nweed.log:\n" + f.read()[-n:]
        except (OSError, TypeError):
            return ""

    def _kill(self):
        if self.proc is None:
            return
        # SIGKILL, not SIGTERM: on SIGTERM weed stops its volume server first,
        # then its filer spends 15 s failing to flush a metadata log there;
        # nothing of a throwaway server is worth keeping.
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        # weed puts its gRPC sockets in /tmp whatever TMPDIR says.
        for name, port in zip(("master", "volume", "filer", "s3"), self._grpc_ports):
            try:
                os.unlink(f"/tmp/seaweedfs-{name}-grpc-{port}.sock")
            except OSError:
                pass

    def stop(self):
        self._kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- using it --

    def client(self, access_key=None, secret_key=None, **config):
        """A boto3 S3 client for this server (path-style addressing, SigV4);
        access_key/secret_key override the server's identity (to be refused),
        config goes to botocore.config.Config."""
        import boto3
        from botocore.config import Config

        s3_config = dict(config.pop("s3", {}))
        s3_config.setdefault("addressing_style", "path")
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(signature_version="s3v4", s3=s3_config, **config))

    def create_bucket(self, name):
        self.client().create_bucket(Bucket=name)
        return name
