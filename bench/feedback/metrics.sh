#!/usr/bin/env bash
# Model-quality metrics: feedback/metrics.h (fb_cls_compute, fb_rank_binary,
# fb_reg_compute) vs scikit-learn's functions on the same 1,000,000 labelled
# predictions (a binary classifier with probabilities, a regressor), side by
# side with the ratio; both sides' numbers are checked equal at 1e-9 first.
#   ROWS=1000000 REPEAT=5 PYTHON=/path/to/venv/bin/python bench/feedback/metrics.sh
# Needs the release objects (`make`) and a Python with numpy and scikit-learn
# (default: the repository's .venv). Data is generated in a temporary folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
if [ ! -x "$py" ]; then echo "metrics.sh: no python at $py (set PYTHON)" >&2; exit 2; fi
settings=""
for v in ROWS REPEAT; do
  if [ -n "${!v:-}" ]; then settings+="$v=${!v} "; fi
done
export BENCH_COMMAND="${settings}bench/feedback/metrics.sh"
cd "$repo"
make -s build/rel/feedback/metrics.o build/rel/feedback/metrics_rank.o \
  build/rel/base/buf.o build/rel/base/error.o
out="$repo/build/rel/bench/feedback"
mkdir -p "$out"
cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I. -o "$out/bench_metrics" \
  "$here/bench_metrics.c" build/rel/feedback/metrics.o build/rel/feedback/metrics_rank.o \
  build/rel/base/buf.o build/rel/base/error.o -lm
exec "$py" "$here/bench.py" "$out/bench_metrics"
