#!/usr/bin/env bash
# Drift benchmark: `capstan monitor drift` vs Evidently's DataDriftPreset vs the peers' scipy
# loop, side by side, on the peers' 1,000,000 x 28 reference and 100,000 x 28 current.
# Usage: bench/monitor/run.sh [bench.py flags]   (see --help; every flag also has an env var)
#   ROWS=1000000 CUR_ROWS=100000 REPEAT=3 EVIDENTLY_TIMEOUT=1800 TARGETS=capstan,capstan_ks,evidently,scipy
#   BENCH_TMP=/tmp/capstan-bench-monitor (the generated CSVs, ~300 MB, kept for the next run)
# Needs: .venv-evidently (scripts/bootstrap --python), build/rel/capstan, /usr/bin/time,
# and the peers' scripts (../shared/bench/peers, or PEERS=dir).
# Prints the table on stdout (last line: the headline ratios); progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv-evidently/bin/python}"
if [ ! -x "$py" ]; then echo "run.sh: no python at $py (run scripts/bootstrap --python, or set PYTHON)" >&2; exit 2; fi
if [ ! -x /usr/bin/time ]; then echo "run.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; fi
settings=""
for v in ROWS CUR_ROWS REPEAT EVIDENTLY_TIMEOUT TARGETS BENCH_TMP CAPSTAN PEERS; do
  if [ -n "${!v:-}" ]; then settings+="$v=${!v} "; fi
done
export BENCH_COMMAND="${settings}bench/monitor/run.sh${*:+ $*}"
cd "$repo"
exec "$py" "$here/bench.py" "$@"
