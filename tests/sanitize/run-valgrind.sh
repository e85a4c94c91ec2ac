#!/bin/bash
# The integration and system tests with every lumiplugd they start (and the src/mqtt test driver)
# running under valgrind memcheck: no memory error and no definite leak is allowed.
#
#   tests/sanitize/run-valgrind.sh [MESON-TEST-ARGS...]   default: --suite integration --suite system
#
#   LUMI_BUILD_DIR           the build directory (default build/, as tests/run; created if missing)
#   LUMI_TIMEOUT_MULTIPLIER  how much longer every wait of the tests may take (default 10)
#
# How: the test helpers (tests/lib/daemon.py) put $LUMIPLUGD_WRAPPER in front of the daemon and
# stretch their timeouts by $LUMI_TIMEOUT_MULTIPLIER. Every process writes its own valgrind log
# (build/meson-logs/valgrind/lumiplugd.<pid>.log); afterwards each log is read: an error summary
# above 0, a definite leak, or an error reported by a process that was killed before its summary
# fails the run, and the log is printed. Tests that trace the daemon's own system calls skip
# themselves under a wrapper. Ends with one line
#   "valgrind: N passed, N failed, N skipped; R runs under memcheck (K killed before their leak
#   report), E with errors, L with definite leaks".
set -u -o pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${LUMI_BUILD_DIR:-$top/build}
multiplier=${LUMI_TIMEOUT_MULTIPLIER:-10}

command -v valgrind >/dev/null || { echo "valgrind is not installed (Debian package valgrind)" >&2; exit 2; }
if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" "$top" -Dwerror=true || exit 2
fi
ninja -C "$build" || exit 2
if [ $# -eq 0 ]; then
        set -- --suite integration --suite system
fi

logs=$build/meson-logs/valgrind
rm -rf "$logs"
mkdir -p "$logs"
supp=()
[ -f "$top/tests/sanitize/valgrind.supp" ] && supp=("--suppressions=$top/tests/sanitize/valgrind.supp")
vg=(valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --num-callers=30 "${supp[@]}" "--log-file=$logs/lumiplugd.%p.log")
export LUMIPLUGD_WRAPPER="${vg[*]}"
export LUMI_TIMEOUT_MULTIPLIER=$multiplier
status=0
meson test -C "$build" --print-errorlogs --timeout-multiplier "$multiplier" --logbase valgrind "$@" || status=$?

runs=0 killed=0 with_errors=0 with_leaks=0
for f in "$logs"/*.log; do
        [ -e "$f" ] || continue
        runs=$((runs + 1))
        grep -q '== ERROR SUMMARY:' "$f" || killed=$((killed + 1))      # kill -9 tests: no leak report
        bad=""
        if grep -qE '== ERROR SUMMARY: [1-9]' "$f"; then
                bad="errors"
                with_errors=$((with_errors + 1))
        elif ! grep -q '== ERROR SUMMARY:' "$f" &&
             grep -qE '== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Argument .* of function)' "$f"; then
                bad="errors before it was killed"
                with_errors=$((with_errors + 1))
        fi
        if grep -qE '== +definitely lost: [1-9]' "$f"; then
                bad="${bad:+$bad, }definite leaks"
                with_leaks=$((with_leaks + 1))
        fi
        if [ -n "$bad" ]; then
                status=1
                echo "=== valgrind: $bad in $f"
                head -c 30000 "$f"
        fi
done
if [ $runs -eq 0 ]; then
        echo "valgrind: no process ran under valgrind (is LUMIPLUGD_WRAPPER honoured?)" >&2
        status=1
fi
summary=$(/usr/bin/python3 "$top/tests/lib/test-summary.py" "$build/meson-logs/valgrind.json")
echo "valgrind: $summary; $runs runs under memcheck ($killed killed before their leak report), $with_errors with errors, $with_leaks with definite leaks"
exit $status
