#!/usr/bin/env bash
# Model registry benchmark: Capstan vs `mlflow server` (SQLite), side by side.
# Usage: bench/registry/run.sh [bench.py flags]   (see --help; every flag also has an env var)
#   MODELS=1000 VERSIONS=100 QUERIES=300 WARMUP=30 LOAD_PROCS=8 SERVERS=mlflow,capstan
# Needs: the repo's .venv (mlflow), build/rel/capstan (else MLflow only).
# Prints the table on stdout (last line: the headline ratios); progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
if [ ! -x "$py" ]; then echo "run.sh: no python at $py (set PYTHON or create .venv)" >&2; exit 2; fi
# Record the exact command line, with the settings that were in the environment.
settings=""
for v in MODELS VERSIONS QUERIES WARMUP QUERY_CAP QUERY_KINDS SEED LOAD_PROCS IDLE_SETTLE \
         SERVERS MLFLOW_WORKERS CAPSTAN_THREADS; do
  if [ -n "${!v:-}" ]; then settings+="$v=${!v} "; fi
done
export BENCH_COMMAND="${settings}bench/registry/run.sh${*:+ $*}"
cd "$repo"
exec "$py" "$here/bench.py" "$@"
