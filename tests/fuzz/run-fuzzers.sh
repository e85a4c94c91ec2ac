#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in their own build directory and runs each
# for SECONDS (default 60) over its seed corpus and dictionary.
#
#   tests/fuzz/run-fuzzers.sh [SECONDS [TARGET...]]
#   LUMI_FUZZ_JOBS=2 tests/fuzz/run-fuzzers.sh 14400      # every target for 4 hours, two at a time
#
#   LUMI_FUZZ_BUILD  build directory        (default /tmp/lumiplugd-fuzz-build; created if missing)
#   LUMI_FUZZ_OUT    scratch directory      (default a new /tmp/lumiplugd-fuzz-XXXXXX)
#   LUMI_FUZZ_JOBS   targets run at once    (default 1)
#
# The targets are every libFuzzer executable of the build directory (meson's targets named fuzz-*,
# except the fuzz-*-replay corpus replays): a target added to tests/fuzz/meson.build is run without
# an edit here. TARGET names one (e.g. mt-frame) to run only those. Inputs are at most 512 bytes
# (radio frames), more for file parsers; tests/fuzz/<target>.options may add libFuzzer flags
# (e.g. -max_len=4096) and tests/fuzz/<target>.dict is its dictionary.
#
# Per target, under LUMI_FUZZ_OUT/<target>/: corpus/ (everything libFuzzer found; the repository's
# corpus is only read), new/ (the inputs that add coverage over the repository's corpus, after a
# merge: copy worthwhile ones into tests/fuzz/corpus/<target>/), crashes/ and fuzz.log.
# Exits non-zero if any target crashed, leaked, timed out or ran out of memory, and prints each such
# input (path, size, base64 and a hex dump) with the sanitizer's first lines, so it can be recreated
# from a CI log alone: `base64 -d > input`, reproduce with BUILD/tests/fuzz/fuzz-<target> input, and
# after a fix keep it as a regression test in tests/fuzz/corpus/<target>/ (replayed by the unit suite).
set -u -o pipefail

seconds=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${LUMI_FUZZ_BUILD:-/tmp/lumiplugd-fuzz-build}
jobs=${LUMI_FUZZ_JOBS:-1}

case $seconds in
        ''|*[!0-9]*) echo "usage: $0 [SECONDS [TARGET...]]" >&2; exit 2 ;;
esac

setup_log=$(mktemp)
trap 'rm -f "$setup_log"' EXIT
if [ ! -f "$build/build.ninja" ]; then
        CC=clang meson setup "$build" "$src" -Dfuzz=true -Dbuildtype=debugoptimized >"$setup_log" 2>&1 || {
                cat "$setup_log" >&2
                exit 2
        }
else
        meson configure "$build" -Dfuzz=true >/dev/null || exit 2
fi
# reconfigure now if a meson.build changed (a new target), so that the listing below knows it
ninja -C "$build" build.ninja >"$build/fuzz-ninja.log" 2>&1 || { cat "$build/fuzz-ninja.log" >&2; exit 2; }

# name<TAB>path of every libFuzzer target meson knows in this build directory
list_targets() {
        meson introspect --targets "$build" | /usr/bin/python3 -c '
import json, sys
for t in json.load(sys.stdin):
    name = t["name"]
    if t["type"] == "executable" and name.startswith("fuzz-") and not name.endswith("-replay"):
        print(name[len("fuzz-"):] + "\t" + t["filename"][0])'
}
declare -A binary_of=()
while IFS=$'\t' read -r name path; do
        binary_of[$name]=$path
done < <(list_targets)
if [ ${#binary_of[@]} -eq 0 ]; then
        echo "no fuzz targets in $build (configured with -Dfuzz=true and clang?)" >&2
        exit 2
fi

if [ $# -gt 0 ]; then
        targets=("$@")
else
        mapfile -t targets < <(printf '%s\n' "${!binary_of[@]}" | sort)
fi
for t in "${targets[@]}"; do
        if [ -z "${binary_of[$t]:-}" ]; then
                echo "$t: no such fuzz target (there are: $(printf '%s\n' "${!binary_of[@]}" | sort | tr '\n' ' '))" >&2
                exit 2
        fi
done
outputs=()
for t in "${targets[@]}"; do
        outputs+=("$(realpath -m --relative-to="$build" "${binary_of[$t]}")")
done
ninja -C "$build" "${outputs[@]}" >"$build/fuzz-ninja.log" 2>&1 || {
        cat "$build/fuzz-ninja.log" >&2
        exit 2
}

out=${LUMI_FUZZ_OUT:-$(mktemp -d /tmp/lumiplugd-fuzz-XXXXXX)}
mkdir -p "$out" && out=$(cd "$out" && pwd)
echo "fuzzing ${#targets[@]} target(s) for ${seconds}s each, $jobs at a time; results in $out"

# Bigger inputs only where the parsed thing is a file
max_len_of() {
        case $1 in
                devdb-load|z2m-yaml|z2m-import|config) echo 32768 ;;
                mt-frame|plug-request) echo 4096 ;;
                *) echo 512 ;;          # radio frames and coordinator answers: at most 250 bytes
        esac
}

run_target() {
        local t=$1 bin=${binary_of[$1]} dir="$out/$1" seeds="$src/tests/fuzz/corpus/$1"
        local dict=() options=() corpora=("$dir/corpus") status

        mkdir -p "$dir/corpus" "$dir/crashes" "$dir/new"
        [ -f "$src/tests/fuzz/$t.dict" ] && dict=("-dict=$src/tests/fuzz/$t.dict")
        # tests/fuzz/<target>.options: more libFuzzer flags, e.g. -max_len=4096 (they come last, so win)
        [ -f "$src/tests/fuzz/$t.options" ] && read -r -a options < <(grep -v '^#' "$src/tests/fuzz/$t.options" | tr '\n' ' ')
        # a new target may have no seeds in the repository yet
        [ -d "$seeds" ] && corpora+=("$seeds")
        (cd "$dir" && "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len="$(max_len_of "$t")" \
                -print_final_stats=1 -artifact_prefix="$dir/crashes/" "${dict[@]}" "${options[@]}" \
                "${corpora[@]}" >"$dir/fuzz.log" 2>&1)
        status=$?

        # New coverage relative to the repository's corpus, minimised
        local base
        base=$(mktemp -d "$dir/merge-XXXXXX")
        cp "$seeds"/* "$base"/ 2>/dev/null
        (cd "$dir" && "$bin" -merge=1 -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$dir/crashes/" \
                "$base" "$dir/corpus" >"$dir/merge.log" 2>&1)
        for f in "$base"/*; do
                [ -e "$f" ] || continue
                [ -e "$seeds/$(basename "$f")" ] || mv "$f" "$dir/new/"
        done
        rm -rf "$base"

        local done_line execs speed
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/fuzz.log" | tail -1)
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log")
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log")
        printf '%-14s exit %-3s runs %-10s exec/s %-7s %s; new inputs: %s\n' "$t" "$status" "${execs:-?}" \
                "${speed:-?}" "$(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+')" \
                "$(ls "$dir/new" | wc -l)"
        return $status
}

failed=0
running=0
for t in "${targets[@]}"; do
        run_target "$t" &
        running=$((running + 1))
        if [ $running -ge "$jobs" ]; then
                wait -n || failed=1
                running=$((running - 1))
        fi
done
while [ $running -gt 0 ]; do
        wait -n || failed=1
        running=$((running - 1))
done

for t in "${targets[@]}"; do
        for f in "$out/$t/crashes"/*; do
                [ -e "$f" ] || continue
                failed=1
                echo "FINDING $t: $f ($(stat -c %s "$f") bytes)"
                grep -m1 -E 'ERROR: |runtime error|property broken|ERROR: libFuzzer' "$out/$t/fuzz.log" | sed 's/^/    /'
                grep -m8 -E '^ *#[0-9]+ 0x' "$out/$t/fuzz.log" | sed 's/^/    /'
                echo "    base64 (recreate with: base64 -d > input):"
                base64 -w 76 "$f" | head -c 20000 | sed 's/^/    /'
                echo
                echo "    hex dump:"
                od -A x -t x1z -v "$f" | head -n 256 | sed 's/^/    /'
                echo "    reproduce: ${binary_of[$t]} <input>; after the fix: cp input tests/fuzz/corpus/$t/"
        done
done
[ $failed -eq 0 ] && echo "no findings" || echo "FINDINGS: see above and $out/<target>/fuzz.log"
exit $failed
