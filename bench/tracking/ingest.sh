#!/usr/bin/env bash
# log-batch ingest against the storage ceilings, in one run (issue 22, item 4).
# Usage: bench/tracking/ingest.sh   (also `make bench-ingest`)
#   DURATION=10s CONNS=32 ROUNDS=2: each round measures, in this order, plain
#   SQLite, the store without HTTP, and log-batch through the server (wrk, the
#   tracking benchmark's load), so that the three share the machine's state.
# Prints metric rows/s for each and the ratios; the figure the issue asks for
# is HTTP / plain (target >= 0.5).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
ceiling="$repo/build/rel/bench/tracking/ingest_ceiling"
[ -x "$ceiling" ] || { echo "ingest.sh: build $ceiling first (make bench-ingest)" >&2; exit 2; }
dur="${DURATION:-10s}"
secs="${dur%s}"
rounds="${ROUNDS:-2}"
tmp="$(mktemp -d /tmp/capstan-ingest-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
echo "ingest vs storage ceilings, $(date -u '+%Y-%m-%d %H:%M') UTC, git $(git -C "$repo" rev-parse --short HEAD)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: DURATION=$dur CONNS=${CONNS:-32} ROUNDS=$rounds bench/tracking/ingest.sh"
printf '%-6s %14s %14s %14s %10s %10s\n' round "plain rows/s" "store rows/s" "http rows/s" http/plain http/store
for r in $(seq "$rounds"); do
  mkdir -p "$tmp/$r"
  line="$("$ceiling" "$tmp/$r" "$secs" "${CONNS:-32}" 100 2>/dev/null | sed -n 's/^CEILING //p')"
  SERVERS=capstan PHASES=logbatch DURATION="$dur" WARMUP=2s RESULTS_JSON="$tmp/$r/http.json" \
    "$here/run.sh" >/dev/null 2>"$tmp/$r/http.log" || { cat "$tmp/$r/http.log" >&2; exit 1; }
  "$py" - "$line" "$tmp/$r/http.json" "$r" <<'PY'
import json, sys
c = json.loads(sys.argv[1]); h = json.load(open(sys.argv[2]))
lb = h["results"]["capstan"]["logbatch"]
http = lb["points_s"]
problems = h.get("problems") or []
print(f"{sys.argv[3]:<6} {c['plain_rows_per_s']:>14,.0f} {c['store_rows_per_s']:>14,.0f} {http:>14,.0f}"
      f" {http / c['plain_rows_per_s']:>10.2f} {http / c['store_rows_per_s']:>10.2f}")
for p in problems:
    print("  problem:", p)
PY
done
