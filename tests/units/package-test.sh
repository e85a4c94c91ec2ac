#!/bin/sh
# The Debian package, end to end, on this machine (issue 8):
#   builds it (source and binary) with packaging/build-deb.sh, runs lintian (no
#   error, warning or info tag that is not overridden), installs it with dpkg, checks files, the
#   conffile's owner and mode, the system user, the state directory, that
#   nothing is enabled, `systemd-analyze verify` of the installed units and
#   `lumiplugd --check-config` (as _lumiplugd) on the shipped conffile; then
#   reinstalls over an edited conffile and a state file (both kept), removes
#   (config, state and user kept) and purges (all gone).
#     package-test.sh SOURCE_ROOT
# It changes the system, so it runs only as root, with LUMIPLUGD_PACKAGE_TEST=1,
# and never where a lumiplugd package is already installed.  The package is
# purged at the end, also on failure.  DEB_BUILD_OPTIONS defaults to nocheck
# (the unit suite runs on its own).
set -u
top=$1

skip() { echo "SKIP: $*"; exit 77; }
[ "${LUMIPLUGD_PACKAGE_TEST:-}" = 1 ] ||
        skip "set LUMIPLUGD_PACKAGE_TEST=1 to build, install and purge the package on this machine"
[ "$(id -u)" = 0 ] || skip "installing a package needs root"
for tool in dpkg-buildpackage dh lintian systemd-analyze runuser; do
        command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (apt-get install debhelper devscripts lintian)"
done
state=$(dpkg-query -W -f='${db:Status-Status}' lumiplugd 2>/dev/null || true)
case "$state" in
""|not-installed) ;;
*) skip "a lumiplugd package is on this machine ($state): not touching it" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/lumiplugd-pkgtest.XXXXXX")
cleanup() {
        if dpkg-query -W lumiplugd >/dev/null 2>&1; then
                dpkg --purge lumiplugd >/dev/null 2>&1 || true
        fi
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failures=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() {        # check DESCRIPTION COMMAND...
        what=$1; shift
        if "$@"; then ok "$what"; else fail "$what"; fi
}
is() {           # is DESCRIPTION GOT WANT
        if [ "$2" = "$3" ]; then ok "$1: $2"; else fail "$1: got '$2', want '$3'"; fi
}

# --- build and lintian
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS-nocheck}"
if ! "$top/packaging/build-deb.sh" --with-source "$work/out" >"$work/build.log" 2>&1; then
        tail -n 40 "$work/build.log"
        echo "FAIL: packaging/build-deb.sh"
        exit 1
fi
version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
deb="$work/out/lumiplugd_${version}_${arch}.deb"
check "built $(basename "$deb")" test -f "$deb"
check "built the -dbgsym package" test -f "$work/out/lumiplugd-dbgsym_${version}_${arch}.deb"

echo "--- lintian -I --show-overrides"
lintian -I --show-overrides "$work/out/lumiplugd_${version}_${arch}.changes" >"$work/lintian.log" 2>&1
lintian_rc=$?
grep -v 'running with root privileges' "$work/lintian.log"
tags=$(grep -E '^[EWI]: ' "$work/lintian.log" || true)
if [ $lintian_rc -ne 0 ] && [ $lintian_rc -ne 2 ] && [ -z "$tags" ]; then
        fail "lintian failed to run (exit $lintian_rc)"
elif [ -n "$tags" ]; then
        fail "lintian: $(printf '%s\n' "$tags" | wc -l) error/warning/info tag(s) not overridden"
else
        ok "lintian: no error, warning or info tag left"
fi

# --- install
echo "--- dpkg -i"
if ! dpkg -i "$deb" >"$work/install.log" 2>&1; then
        cat "$work/install.log"
        echo "FAIL: dpkg -i"
        exit 1
fi
conf=/etc/lumiplugd/lumiplugd.ini
for f in /usr/sbin/lumiplugd /usr/bin/lumiplugctl /usr/share/man/man1/lumiplugctl.1.gz \
         /usr/share/man/man8/lumiplugd.8.gz /usr/share/man/man5/lumiplugd.ini.5.gz \
         /lib/systemd/system/lumiplugd.service /lib/systemd/system/lumiplugd.socket \
         /lib/systemd/system/lumiplugd-metrics.socket /lib/systemd/system/lumiplugd@.service /lib/systemd/system/lumiplugd@.socket \
         /usr/lib/sysusers.d/lumiplugd.conf /usr/lib/tmpfiles.d/lumiplugd.conf "$conf"; do
        check "package ships $f" sh -c "dpkg -L lumiplugd | grep -qx '$f' && test -e '$f'"
done
check "/usr/sbin/lumiplugd is executable" test -x /usr/sbin/lumiplugd
is "lumiplugctl --version" "$(/usr/bin/lumiplugctl --version 2>&1)" "lumiplugctl $version"
# nothing listens yet (the socket is not enabled): "not running", exit status 3
/usr/bin/lumiplugctl --socket "$work/no-such-socket" status >/dev/null 2>&1
is "lumiplugctl status without a daemon: exit status" "$?" 3
check "$conf is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}\n' lumiplugd | grep -q ' $conf '"
is "owner and mode of $conf" "$(stat -c '%U:%G %a' "$conf" 2>&1)" "root:_lumiplugd 640"
check "user _lumiplugd exists" sh -c "getent passwd _lumiplugd >/dev/null"
uid=$(getent passwd _lumiplugd | cut -d: -f3)
check "_lumiplugd is a system user (uid ${uid:-?} < 1000)" test "${uid:-1000}" -lt 1000
is "login shell of _lumiplugd" "$(getent passwd _lumiplugd | cut -d: -f7)" "/usr/sbin/nologin"
check "_lumiplugd is in group dialout" sh -c "id -nG _lumiplugd | tr ' ' '\n' | grep -qx dialout"
is "owner and mode of /var/lib/lumiplugd" "$(stat -c '%U:%G %a' /var/lib/lumiplugd 2>&1)" "_lumiplugd:_lumiplugd 750"
for link in /etc/systemd/system/multi-user.target.wants/lumiplugd.service \
            /etc/systemd/system/sockets.target.wants/lumiplugd.socket \
            /etc/systemd/system/sockets.target.wants/lumiplugd-metrics.socket; do
        check "not enabled on first install: no $link" test ! -e "$link" -a ! -L "$link"
done

echo "--- systemd-analyze verify (installed units)"
cp /lib/systemd/system/lumiplugd@.service "$work/lumiplugd@pkgtest.service"
cp /lib/systemd/system/lumiplugd@.socket "$work/lumiplugd@pkgtest.socket"
out=$(systemd-analyze verify /lib/systemd/system/lumiplugd.service /lib/systemd/system/lumiplugd.socket \
        /lib/systemd/system/lumiplugd-metrics.socket \
        "$work/lumiplugd@pkgtest.service" "$work/lumiplugd@pkgtest.socket" 2>&1)
rc=$?
[ -z "$out" ] || echo "$out"
check "systemd-analyze verify is clean" test $rc -eq 0 -a -z "$out"

echo "--- lumiplugd --check-config on the shipped conffile, as _lumiplugd"
runuser -u _lumiplugd -- /usr/sbin/lumiplugd --check-config -c "$conf"
rc=$?
check "lumiplugd --check-config $conf (exit $rc)" test $rc -eq 0

# --- upgrade (reinstall) keeps an edited conffile, its mode and the state
echo "# edited by package-test" >>"$conf"
echo marker >/var/lib/lumiplugd/package-test
if dpkg -i --force-confold "$deb" >"$work/reinstall.log" 2>&1; then ok "dpkg -i again (upgrade path)"
else cat "$work/reinstall.log"; fail "dpkg -i again (upgrade path)"; fi
check "upgrade keeps the edited $conf" grep -q '^# edited by package-test$' "$conf"
is "owner and mode of $conf after upgrade" "$(stat -c '%U:%G %a' "$conf" 2>&1)" "root:_lumiplugd 640"
check "upgrade keeps the state" test -f /var/lib/lumiplugd/package-test

# --- remove keeps config, state and user
if dpkg -r lumiplugd >"$work/remove.log" 2>&1; then ok "dpkg -r"; else cat "$work/remove.log"; fail "dpkg -r"; fi
check "remove takes /usr/sbin/lumiplugd" test ! -e /usr/sbin/lumiplugd
check "remove takes /usr/bin/lumiplugctl" test ! -e /usr/bin/lumiplugctl
check "remove takes the units" test ! -e /lib/systemd/system/lumiplugd.service
check "remove keeps $conf" test -f "$conf"
check "remove keeps the state" test -f /var/lib/lumiplugd/package-test
check "remove keeps the user" sh -c "getent passwd _lumiplugd >/dev/null"

# --- purge takes everything
if dpkg --purge lumiplugd >"$work/purge.log" 2>&1; then ok "dpkg --purge"; else cat "$work/purge.log"; fail "dpkg --purge"; fi
check "purge takes /etc/lumiplugd" test ! -e /etc/lumiplugd
check "purge takes /var/lib/lumiplugd" test ! -e /var/lib/lumiplugd
check "purge takes the user" sh -c '! getent passwd _lumiplugd'
check "purge takes the group" sh -c '! getent group _lumiplugd'
check "purge takes the stat override" sh -c "! dpkg-statoverride --list '$conf' >/dev/null"
check "dpkg forgets the package" sh -c '! dpkg-query -W lumiplugd >/dev/null 2>&1'

echo "--- $failures failure(s)"
[ $failures -eq 0 ]
