#!/bin/sh
# Checks what libcapstan-infer exports: the shared library's dynamic
# symbols are exactly the functions that include/capstan/infer.h declares,
# and every global symbol of the static archive carries the library's
# prefixes (infer_ public, infi_ internal), so that a program embedding it
# with its own get_attr() or gemm_f32() still links.
#   tests/infer/check_symbols.sh build/rel/libcapstan-infer.so build/rel/libcapstan-infer.a
set -u
so=$1 ar=$2
header=include/capstan/infer.h
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

grep -oE '\binfer_[a-z0-9_]+\(' "$header" | tr -d '(' | sort -u > "$tmp/declared"
nm -D --defined-only "$so" | awk '$2 ~ /^[TtWwDdBbRr]$/ {print $3}' | sort -u > "$tmp/exported"
if [ -s "$tmp/declared" ] && cmp -s "$tmp/declared" "$tmp/exported"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "symbols: $so exports other than infer.h declares (< header, > library):"
    diff "$tmp/declared" "$tmp/exported"
fi

nm -g --defined-only "$ar" | awk 'NF == 3 {print $3}' | sort -u > "$tmp/archive"
grep -vE '^(infer_|infi_)' "$tmp/archive" > "$tmp/stray"
if [ -s "$tmp/archive" ] && [ ! -s "$tmp/stray" ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "symbols: global symbols of $ar without the infer_/infi_ prefix:"
    cat "$tmp/stray"
fi

echo "symbols: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
