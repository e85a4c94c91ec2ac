#!/bin/sh
# systemd-analyze verify on the configured units, against the built daemon.
#   verify-units.sh UNIT_BUILD_DIR CONFIGURED_DAEMON_PATH BUILT_DAEMON
# The configured units name the installed daemon (e.g. /usr/local/sbin/lumiplugd),
# which verify requires to exist; a copy of each unit names the built one instead.
# Template units are verified as they are and as an instance.  Also checks that
# the sandbox sections of lumiplugd.service and lumiplugd@.service are identical.
set -eu
units=$1 configured=$2 daemon=${3:-}

if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "SKIP: systemd-analyze is not installed (Debian package systemd)"
        exit 77
fi
if [ -z "$daemon" ] || [ ! -x "$daemon" ]; then
        echo "SKIP: the daemon is not built (src/main.c missing?), verify needs ExecStart to exist"
        exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

sandbox() { sed -n '/^# --- sandbox/,/^# --- end sandbox ---$/p' "$1"; }
sandbox "$units/lumiplugd.service" >"$work/sandbox.plain"
sandbox "$units/lumiplugd@.service" >"$work/sandbox.template"
if [ ! -s "$work/sandbox.plain" ]; then
        echo "FAIL: no '# --- sandbox' section in lumiplugd.service"; exit 1
fi
if ! diff -u "$work/sandbox.plain" "$work/sandbox.template"; then
        echo "FAIL: the sandbox sections of lumiplugd.service and lumiplugd@.service differ"; exit 1
fi

for unit in lumiplugd.service lumiplugd.socket lumiplugd-metrics.socket lumiplugd@.service lumiplugd@.socket; do
        if ! grep -q "$configured" "$units/$unit" && [ "${unit%.service}" != "$unit" ]; then
                echo "FAIL: $unit does not start $configured"; exit 1
        fi
        sed "s|$configured|$daemon|g" "$units/$unit" >"$work/$unit"
done
cp "$work/lumiplugd@.service" "$work/lumiplugd@test.service"
cp "$work/lumiplugd@.socket" "$work/lumiplugd@test.socket"

status=0
cd "$work"
for set in "lumiplugd.service lumiplugd.socket lumiplugd-metrics.socket" \
           "lumiplugd@.service lumiplugd@.socket" \
           "lumiplugd@test.service lumiplugd@test.socket"; do
        clean=yes
        # shellcheck disable=SC2046
        out=$(systemd-analyze verify $(for u in $set; do echo "./$u"; done) 2>&1) || clean=no
        [ -z "$out" ] || { echo "$out"; clean=no; }
        if [ $clean = yes ]; then
                echo "verify $set: clean"
        else
                echo "verify $set: NOT CLEAN"; status=1
        fi
done
exit $status
