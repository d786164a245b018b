#!/usr/bin/env bash
# log-batch ingest and run search: Capstan on SQLite vs Capstan on PostgreSQL,
# side by side in one run (issue 22's scale-out benchmark).
# Usage: bench/scaleout/ingest.sh   (DURATION=10s ROUNDS=2 CONNS=32)
# PostgreSQL is a throwaway cluster (tests/pg_cluster.py) on this machine,
# with fsync=off as in the tests: the figure is the store's own cost
# (statements, round trips, the writer lock), not the disk's. SQLite runs
# with its usual synchronous=FULL. Both servers are the same build/rel/capstan;
# the load is the tracking benchmark's (bench/tracking/run.sh, wrk).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
dur="${DURATION:-10s}"
rounds="${ROUNDS:-2}"
tmp="$(mktemp -d /tmp/capstan-scaleout-XXXXXX)"
cleanup() { [ -n "${pgpid:-}" ] && kill "$pgpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# The cluster lives as long as this python process (it stops it on exit).
mkfifo "$tmp/uri"
# One database per server start: each phase wants an empty store.
"$py" - "$repo/tests" "$tmp/uri" "$((3 * rounds))" <<'PY' &
import signal, sys, time
sys.path.insert(0, sys.argv[1])
from pg_cluster import PgCluster
c = PgCluster().start()
uris = []
for i in range(int(sys.argv[3])):
    c.create_database(f"bench{i}")
    uris.append(c.uri(f"bench{i}"))
open(sys.argv[2], "w").write(" ".join(uris) + "\n")
signal.signal(signal.SIGTERM, lambda *a: (c.stop(), sys.exit(0)))
while True:
    time.sleep(3600)
PY
pgpid=$!
read -r -a pguris < "$tmp/uri"
echo "scale-out ingest, $(date -u '+%Y-%m-%d %H:%M') UTC, git $(git -C "$repo" rev-parse --short HEAD)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg); $("$py" -c 'import sys; sys.path.insert(0, "'"$repo"'/tests"); from pg_cluster import pg_bindir; print(pg_bindir())')"
echo "command: DURATION=$dur ROUNDS=$rounds bench/scaleout/ingest.sh"
printf '%-6s %-10s %14s %10s %14s %12s\n' round store "metric rows/s" "p99 ms" "search p50 ms" "search p95"
db=0
phase() { # store phase json
  if [ "$1" = postgresql ]; then
    export CAPSTAN_BACKEND_STORE_URI="${pguris[$db]}"; db=$((db + 1))
  else
    unset CAPSTAN_BACKEND_STORE_URI
  fi
  SERVERS=capstan PHASES="$2" RUNS="${RUNS:-5000}" DURATION="$dur" WARMUP=2s RESULTS_JSON="$3" \
    "$repo/bench/tracking/run.sh" >/dev/null 2>"$3.log" || { cat "$3.log" >&2; exit 1; }
}
# mlflow server on PostgreSQL: log-batch only (its search phase loads MLflow's
# SQLite file directly); needs psycopg2 in the venv.
mlflow_pg() { # round json
  # SQLAlchemy picks its psycopg (3) dialect for postgresql://: name psycopg2
  MLFLOW_BACKEND_STORE_URI="${pguris[$db]/postgresql:/postgresql+psycopg2:}" SERVERS=mlflow \
    PHASES=logbatch DURATION="$dur" \
    WARMUP=2s RESULTS_JSON="$2" "$repo/bench/tracking/run.sh" >/dev/null 2>"$2.log" \
    || { cat "$2.log" >&2; exit 1; }
  db=$((db + 1))
  "$py" - "$2" "$1" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
l = h["results"]["mlflow"]["logbatch"]
p99 = l["wrk"]["latency_us"]["p99"] / 1000
print(f"{sys.argv[2]:<6} {'mlflow-pg':<10} {l['points_s']:>14,.0f} {p99:>10.2f} {'-':>14} {'-':>12}")
for p in h.get("problems") or []:
    print("  problem:", p)
PY
}
have_psycopg=$("$py" -c 'import psycopg2' 2>/dev/null && echo 1 || echo 0)
[ "$have_psycopg" = 1 ] || echo "(mlflow server on PostgreSQL skipped: $py cannot import psycopg2;" \
  "pip install psycopg2-binary)"
for r in $(seq "$rounds"); do
  [ "$have_psycopg" = 1 ] && mlflow_pg "$r" "$tmp/$r-mlflow-pg.json"
  for store in sqlite postgresql; do
    # logbatch and search each on an empty store of their own
    phase "$store" logbatch "$tmp/$r-$store-lb.json"
    phase "$store" search "$tmp/$r-$store-s.json"
    "$py" - "$tmp/$r-$store-lb.json" "$tmp/$r-$store-s.json" "$r" "$store" <<'PY'
import json, sys
lb = json.load(open(sys.argv[1])); se = json.load(open(sys.argv[2]))
l = lb["results"]["capstan"]["logbatch"]
s = se["results"]["capstan"]["search"]["search"]
p99 = l["wrk"]["latency_us"]["p99"] / 1000
print(f"{sys.argv[3]:<6} {sys.argv[4]:<10} {l['points_s']:>14,.0f} {p99:>10.2f} {s['p50_ms']:>14.2f} {s['p95_ms']:>12.2f}")
for p in (lb.get("problems") or []) + (se.get("problems") or []):
    print("  problem:", p)
PY
  done
  # the round's ratios, from the three result files
  "$py" - "$tmp/$r" <<'PY'
import json, os, sys
def rows(name, kind):
    f = f"{sys.argv[1]}-{name}.json"
    return json.load(open(f))["results"][kind]["logbatch"]["points_s"] if os.path.exists(f) else None
lite, pg, mlf = rows("sqlite-lb", "capstan"), rows("postgresql-lb", "capstan"), rows("mlflow-pg", "mlflow")
line = f"       log-batch ratios: capstan-pg/sqlite {pg / lite:.2f}"
if mlf:
    line += f", capstan-pg/mlflow-pg {pg / mlf:.1f}"
print(line)
PY
done
