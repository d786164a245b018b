#!/usr/bin/env bash
# Serving benchmark: Capstan OIP / invocations against `mlflow models serve` and a FastAPI
# service, one XGBoost model, in one run (called by `make bench-serve`).
# Usage: bench/serve/run.sh [bench.py flags]   (see --help; every flag also has an env var)
#   RUNS=3 DURATION=10s WARMUP=3s CONNS=32,64 THREADS=2 TARGETS=live,oip,inv,oip_b,mlflow,fastapi
#   PACE=1 PACE_CONNS=32 RSS_MODELS=10 BATCHING=auto|off BENCH_TMP=/tmp/capstan-bench-serve
# Needs: the repo's .venv (mlflow, xgboost, onnxmltools, onnxruntime), wrk, build/rel/capstan,
# and for the FastAPI peer Debian's python3-fastapi, uvicorn, uvloop, httptools and xgboost
# (installed here with apt-get when missing and we are root or have sudo; else that row is skipped).
# Prints the table on stdout (last line: the headline ratio); progress and every command on stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
if [ ! -x "$py" ]; then echo "run.sh: no python at $py (set PYTHON or run scripts/bootstrap)" >&2; exit 2; fi
if ! command -v wrk >/dev/null; then echo "run.sh: wrk not found (scripts/bootstrap installs it)" >&2; exit 2; fi

# The FastAPI peer runs on Debian's packages, as ../shared/bench/peers measured it.
deb=(python3-xgboost python3-fastapi python3-uvicorn python3-uvloop python3-httptools)
missing=()
for p in "${deb[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  if [ -z "$SUDO" ] || command -v sudo >/dev/null; then
    echo "+ $SUDO apt-get install -y --no-install-recommends ${missing[*]}" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null || echo "run.sh: apt-get failed; the FastAPI row may be missing" >&2
  else
    echo "run.sh: missing ${missing[*]} and no sudo; the FastAPI row will be missing" >&2
  fi
fi

# Record the exact command line, with the settings that were in the environment.
settings=""
for v in RUNS DURATION WARMUP CONNS THREADS TARGETS BATCHING PACE PACE_CONNS PACE_FRACTION \
         RSS_MODELS TRAIN_ROWS BENCH_TMP CAPSTAN_THREADS MLFLOW_WORKERS FASTAPI_WORKERS DEPLOY_SPEC; do
  if [ -n "${!v:-}" ]; then settings+="$v=${!v} "; fi
done
export BENCH_COMMAND="${settings}bench/serve/run.sh${*:+ $*}"
cd "$repo"
echo "+ $py bench/serve/bench.py $*" >&2
exec "$py" "$here/bench.py" "$@"
