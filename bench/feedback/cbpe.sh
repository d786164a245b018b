#!/usr/bin/env bash
# CBPE benchmark: feedback/cbpe.h (a release build of tests/feedback/cbpe_main)
# vs nannyml 0.13.1's CBPE on the same rows, side by side.
# Usage: bench/feedback/cbpe.sh     env: REF_ROWS=1000000 CHUNKS=100 CHUNK=10000 REPEAT=3
#   NANNYML_PY (default .venv-nannyml/bin/python, else ../main/.venv-nannyml's)
#   PYTHON (numpy, for the data; default .venv/bin/python, else ../main/.venv's)
# Both sides time fit + estimate of every reference and analysis chunk (all six
# metrics), not the reading of the rows; the best of REPEAT runs for C, one for
# nannyml. Prints both times, the ratio, and the largest difference of any number.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
pick() { for p in "$@"; do if [ -x "$p" ]; then echo "$p"; return; fi; done; echo "$1"; }
nml="${NANNYML_PY:-$(pick "$repo/.venv-nannyml/bin/python" /work/main/.venv-nannyml/bin/python)}"
py="${PYTHON:-$(pick "$repo/.venv/bin/python" /work/main/.venv/bin/python)}"
for p in "$nml" "$py"; do
  if [ ! -x "$p" ]; then echo "cbpe.sh: no python at $p (run scripts/bootstrap, or set NANNYML_PY/PYTHON)" >&2; exit 2; fi
done
out="$repo/build/rel/bench/feedback"
mkdir -p "$out"
# The driver with the release flags (-O2), only the modules it uses.
cc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -I"$repo" -I"$repo/include" \
  -o "$out/cbpe_main" "$repo/tests/feedback/cbpe_main.c" "$repo"/feedback/cbpe.c \
  "$repo/feedback/isotonic.c" "$repo/base/buf.c" "$repo/base/error.c" -lm
export BENCH_COMMAND="${REF_ROWS:+REF_ROWS=$REF_ROWS }${CHUNKS:+CHUNKS=$CHUNKS }${CHUNK:+CHUNK=$CHUNK }bench/feedback/cbpe.sh"
exec "$py" "$here/cbpe_bench.py" --driver "$out/cbpe_main" --nannyml "$nml" \
  --peer "$repo/tests/feedback/nannyml_cbpe.py" --tmp "$out"
