#!/usr/bin/env bash
# Tracking benchmark: Capstan vs `mlflow server` (SQLite), side by side.
# Usage: bench/tracking/run.sh [bench.py flags]   (see --help; every flag also has an env var)
#   RUNS=100000 DURATION=15s WARMUP=3s CONNS=32 QUERIES=200 SEARCH_CAP=120 SERVERS=mlflow,capstan
# Needs: .venv with mlflow (the repo's), wrk, build/rel/capstan (else MLflow only).
# Prints the table on stdout (last line: the headline ratios); progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
if [ ! -x "$py" ]; then echo "run.sh: no python at $py (set PYTHON or create .venv)" >&2; exit 2; fi
if ! command -v "${WRK:-wrk}" >/dev/null; then echo "run.sh: wrk not found" >&2; exit 2; fi
# Record the exact command line, with the size settings that were in the environment.
settings=""
for v in RUNS DURATION WARMUP CONNS WRK_THREADS POOL_RUNS QUERIES SEARCH_CAP MIN_QUERIES \
         SEARCH_WARMUP SEED LOAD_PROCS PHASES \
         IDLE_SETTLE SERVERS MLFLOW_WORKERS CAPSTAN_THREADS METRICS_PER_REQUEST; do
  if [ -n "${!v:-}" ]; then settings+="$v=${!v} "; fi
done
export BENCH_COMMAND="${settings}bench/tracking/run.sh${*:+ $*}"
cd "$repo"
exec "$py" "$here/bench.py" "$@"
