#!/usr/bin/env bash
# Serving benchmark: Capstan OIP / invocations against `mlflow models serve`, a FastAPI
# service and MLServer, one XGBoost model, in one run (called by `make bench-serve`).
# Usage: bench/serve/run.sh [bench.py flags]   (see --help; every flag also has an env var)
#   RUNS=3 DURATION=10s WARMUP=3s CONNS=32,64 THREADS=2 TARGETS=live,oip,inv,oip_b,mlflow,fastapi,mlserver
#   PACE=1 PACE_CONNS=32 RSS_MODELS=10 BATCHING=auto|off BENCH_TMP=/tmp/capstan-bench-serve
# Needs: the repo's .venv (mlflow, xgboost, onnxmltools, onnxruntime), wrk, build/rel/capstan,
# and for the FastAPI peer Debian's python3-fastapi, uvicorn, uvloop, httptools and xgboost
# (installed here with apt-get when missing and we are root or have sudo; else that row is skipped),
# and for the MLServer peer a venv of its own ($MLSERVER_VENV, default $BENCH_TMP/venv-mlserver)
# made here from bench/serve/requirements-mlserver.txt with pip, only when the target is selected.
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

# The MLServer peer: its own venv, (re)made when requirements-mlserver.txt changes (one given in
# MLSERVER_VENV is used as it is), only when the mlserver target is selected (TARGETS or
# --targets; the default set includes it).
targets="${TARGETS:-mlserver}"
prev=""
for a in "$@"; do
  case "$a" in --targets=*) targets="${a#--targets=}" ;; esac
  if [ "$prev" = --targets ]; then targets="$a"; fi
  prev="$a"
done
user_venv="${MLSERVER_VENV:-}"
if [[ ",$targets," == *,mlserver,* && -n "$user_venv" ]]; then
  # a venv of the caller's: used as it is, never rebuilt here
  [ -x "$MLSERVER_VENV/bin/mlserver" ] || echo "run.sh: no $MLSERVER_VENV/bin/mlserver; the MLServer row will be missing" >&2
elif [[ ",$targets," == *,mlserver,* ]]; then
  venv="${BENCH_TMP:-/tmp/capstan-bench-serve}/venv-mlserver"
  reqs="$here/requirements-mlserver.txt"
  want="$(sha256sum "$reqs" | cut -d' ' -f1)"
  if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "+ $py -m venv $venv && $venv/bin/pip install -r $reqs   (MLServer peer, ~1 min)" >&2
    rm -rf "$venv"
    if "$py" -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs" >&2
    then
      echo "$want" > "$venv/.requirements.sha256"
    else
      echo "run.sh: the MLServer venv could not be made; the MLServer row will be missing" >&2
      rm -rf "$venv"
    fi
  fi
  export MLSERVER_VENV="$venv"
fi

# Record the exact command line, with the settings that were in the environment.
settings=""
for v in RUNS DURATION WARMUP CONNS THREADS TARGETS BATCHING PACE PACE_CONNS PACE_FRACTION \
         RSS_MODELS TRAIN_ROWS BENCH_TMP CAPSTAN_THREADS MLFLOW_WORKERS FASTAPI_WORKERS DEPLOY_SPEC \
         MLSERVER_WORKERS MLSERVER_NTHREAD MLSERVER_SETTINGS; do
  if [ -n "${!v:-}" ]; then settings+="$v=${!v} "; fi
done
if [ -n "${user_venv:-}" ]; then settings+="MLSERVER_VENV=$user_venv "; fi
export BENCH_COMMAND="${settings}bench/serve/run.sh${*:+ $*}"
cd "$repo"
echo "+ $py bench/serve/bench.py $*" >&2
exec "$py" "$here/bench.py" "$@"
