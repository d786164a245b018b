"""store_db_pg.c (the PostgreSQL driver) against a real PostgreSQL: a
throwaway cluster (tests/pg_cluster.py) and the ASan build of
tests/pg/db_check_main.c, one process per check (make test-integration
builds it and passes PG_CHECK_BIN). Each check must print "ok CHECK", exit 0
and leave no sanitizer report."""
import os
import subprocess

import pytest

from pg_cluster import PgCluster, free_port, pg_bindir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PG_CHECK_BIN", os.path.join(ROOT, "build", "asan", "tests", "pg",
                                                  "db_check_main"))

pytestmark = [
    pytest.mark.skipif(pg_bindir() is None,
                       reason="PostgreSQL is not installed (scripts/bootstrap --system)"),
]

DB_CHECKS = ["placeholders", "ints", "doubles", "text", "blobs", "changes", "errors", "ddl",
             "collation", "budget", "variants", "writers", "readers"]


@pytest.fixture(scope="module")
def cluster():
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"{BIN} is missing: make build/asan/tests/pg/db_check_main")
    c = PgCluster().start()
    # A linguistic default collation, so that the bytewise order the
    # collation check wants comes from the driver's COLLATE "C".
    c.create_database("dbcheck", icu_locale="und")
    yield c
    c.stop()


def run_check(name, *uris):
    r = subprocess.run([BIN, name, *uris], capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert f"ok {name}" in r.stdout, out
    assert "Sanitizer" not in out and "runtime error" not in out, out
    return r.stdout


@pytest.mark.parametrize("name", DB_CHECKS)
def test_driver(cluster, name):
    run_check(name, cluster.uri("dbcheck"))


def test_connect_errors(cluster):
    out = run_check("connect_errors", cluster.uri("dbcheck", password="wrongpassword"),
                    cluster.uri("dbcheck", port=free_port()))
    # the messages name the database and the server, never the password
    assert "database 'dbcheck' at 127.0.0.1:" in out
    assert "wrongpassword" not in out and cluster.password not in out
