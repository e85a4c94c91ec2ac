#!/bin/sh
# The test suite against a build with AddressSanitizer + UndefinedBehaviorSanitizer: the daemon, the
# simulator and every unit test are instrumented; any report fails the test that triggered it (UBSan
# halts on the first error, LeakSanitizer runs at every exit). The package suite is left out (it
# builds a .deb of its own, once is enough: tests/run).
#
#   tests/sanitize/run-asan.sh [MESON-TEST-ARGS...]     e.g. --suite unit
#
#   LUMI_ASAN_BUILD_DIR   build directory (default build-asan/ in the source tree; created if missing)
#
# Ends with one line "asan+ubsan: N passed, N failed, N skipped"; exits non-zero on any failure.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${LUMI_ASAN_BUILD_DIR:-$top/build-asan}
if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" "$top" -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build"
if [ $# -eq 0 ]; then
        set -- --suite unit --suite sim --suite integration --suite system --suite control --suite ota \
                --suite chaos --suite peer
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
status=0
# sanitized binaries are slower: more time for each test
meson test -C "$build" --print-errorlogs --timeout-multiplier 3 --logbase asan "$@" || status=$?
/usr/bin/python3 "$top/tests/lib/test-summary.py" "$build/meson-logs/asan.json" "asan+ubsan"
exit $status
