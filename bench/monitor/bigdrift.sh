#!/usr/bin/env bash
# Bounded-memory drift: `capstan monitor drift --max-memory MiB` on a 10,000,000 x 100 reference
# (~8 GB CSV) and a 1,000,000 x 100 current (~0.8 GB), then Evidently's DataDriftPreset on the
# same files under an address-space cap and a time limit. Each run is one process under
# /usr/bin/time -v (wall, peak RSS). Data: bench/monitor/gen_wide.c (90 float columns, f1 with
# 1% empty cells, 5 integer, 5 categorical; the current's f0..f19 shifted), written once to
# BENCH_TMP and kept (never in the repository).
#   ROWS=10000000 CUR_ROWS=1000000 BUDGETS="1024" EVIDENTLY_AS=16G EVIDENTLY_TIMEOUT=1200
#   TARGETS="capstan evidently" BENCH_TMP=/tmp/capstan-bench-wide bench/monitor/bigdrift.sh
# Prints one line per run: target, budget, rc, wall s, peak RSS MiB, groups, what happened.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rows="${ROWS:-10000000}" cur_rows="${CUR_ROWS:-1000000}"
tmp="${BENCH_TMP:-/tmp/capstan-bench-wide}"
capstan="${CAPSTAN:-$repo/build/rel/capstan}"
evpy="${EVIDENTLY_PYTHON:-$repo/.venv-evidently/bin/python}"
mkdir -p "$tmp"
cc -std=c17 -O2 -Wall -Wextra -Werror -o "$tmp/gen_wide" "$here/gen_wide.c" -lm
ref="$tmp/ref_$rows.csv" cur="$tmp/cur_$cur_rows.csv"
[ -f "$ref" ] || { "$tmp/gen_wide" "$rows" 42 > "$ref.part" && mv "$ref.part" "$ref"; }
[ -f "$cur" ] || { "$tmp/gen_wide" "$cur_rows" 7 --shift > "$cur.part" && mv "$cur.part" "$cur"; }

field() { sed -n "s/^\s*$1: //p" "$2"; }
report() { # target budget rc timefile note
  local wall rss
  wall=$(field "Elapsed (wall clock) time (h:mm:ss or m:ss)" "$4" | awk -F: '{s=0; for(i=1;i<=NF;i++) s=s*60+$i; print s}')
  rss=$(field "Maximum resident set size (kbytes)" "$4")
  echo "$1 budget=$2 rc=$3 wall_s=$wall peak_rss_mib=$((rss / 1024)) $5"
}

for t in ${TARGETS:-capstan evidently}; do
  if [ "$t" = capstan ]; then
    for b in ${BUDGETS:-1024}; do
      out="$tmp/capstan_$b"
      rc=0
      /usr/bin/time -v -o "$out.time" "$capstan" monitor drift --reference "$ref" --current "$cur" \
        --json --html "$out.html" --max-memory "$b" > "$out.json" 2> "$out.err" || rc=$?
      report capstan "$b" "$rc" "$out.time" "$(grep -o 'in [0-9]* groups' "$out.err" || echo whole)"
    done
  else
    out="$tmp/evidently" rc=0
    cols=$(head -1 "$ref" | tr -d '\r')
    /usr/bin/time -v -o "$out.time" timeout "${EVIDENTLY_TIMEOUT:-1200}" \
      prlimit --as="$(numfmt --from=iec "${EVIDENTLY_AS:-16G}")" \
      "$evpy" "$here/peer_evidently.py" "$ref" "$cur" "$out.json" "$cols" \
      > "$out.out" 2> "$out.err" || rc=$?
    note=$(grep -o 'MemoryError\|Killed\|Unable to allocate[^"]*' "$out.err" | head -1 || true)
    [ "$rc" = 124 ] && note="timed out after ${EVIDENTLY_TIMEOUT:-1200} s"
    report evidently "as=${EVIDENTLY_AS:-16G}" "$rc" "$out.time" "${note:-finished}"
  fi
done
