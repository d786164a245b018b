#!/bin/sh
# setup_peers.sh - creates .venv-bench-trees (repository root) with the
# compiled tree engines bench_trees.py compares Capstan against: lleaves 1.3
# (which pins llvmlite 0.44, older than the llvmlite the main .venv may
# carry, hence a venv of its own) and tl2cgen 1.0 with the treelite it reads.
# Idempotent: reruns only top up. The venv writes its own .gitignore ("*"),
# so git never sees it whatever the top-level .gitignore says.
#
#   sh bench/infer/setup_peers.sh [PYTHON]
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV="$ROOT/.venv-bench-trees"
PY=${1:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
printf '*\n' > "$VENV/.gitignore"
"$VENV/bin/python" -m pip install -q --upgrade pip
# treelite 4.1 is the release tl2cgen 1.0 was built against (both 2024)
"$VENV/bin/python" -m pip install -q \
    'lleaves==1.3.*' 'llvmlite==0.44.*' 'tl2cgen==1.0.*' 'treelite==4.1.*' \
    'numpy<2.3' 'scipy'
"$VENV/bin/python" -c 'import lleaves, llvmlite, tl2cgen, treelite; print("lleaves", lleaves.__version__ if hasattr(lleaves, "__version__") else "?", "llvmlite", llvmlite.__version__, "tl2cgen", tl2cgen.__version__, "treelite", treelite.__version__)'
