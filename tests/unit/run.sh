#!/bin/sh
# Runs each cmocka unit-test binary and prints one closing summary line
# ("N passed, N failed") so CI can read the total.
passed=0; failed=0; status=0
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ]; then
        status=1
        [ -z "$f" ] && failed=$((failed + 1)) && echo "unit: $t exited with $rc"
    fi
done
echo "unit: $passed passed, $failed failed"
exit $status
