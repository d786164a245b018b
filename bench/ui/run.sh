#!/usr/bin/env bash
# UI benchmark: Capstan's runs table vs the MLflow UI on the same 100,000
# runs, measured in Chromium. Table on stdout (last line: the headline ratio),
# progress on stderr. Settings: RUNS=100000 REPS=3 SERVERS=capstan,mlflow
# CAPSTAN_BIN=build/rel/capstan UI_TIMEOUT=300 (seconds per page load).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$py" ] || { echo "run.sh: no python at $py (run scripts/bootstrap)" >&2; exit 2; }
[ -d "$repo/tests/e2e/node_modules/playwright-core" ] || "$repo/scripts/bootstrap-web"
cd "$repo"
exec "$py" "$here/bench.py" "$@"
