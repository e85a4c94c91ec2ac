#!/bin/sh
# Builds the Debian package from this source tree:
#     packaging/build-deb.sh [--with-source] [OUTDIR]
# gives OUTDIR/lumiplugd_<version>_<arch>.deb and lumiplugd-dbgsym_<version>_<arch>.deb
# (with the .buildinfo and .changes).  OUTDIR defaults to the directory that
# holds the source tree, where dpkg-buildpackage would put them.  --with-source
# also builds the (native) source package, .dsc and .tar.xz, e.g. for lintian.
#
# The tree is copied (tracked and untracked files, without what .gitignore
# excludes, such as build directories) to a temporary directory, where
# packaging/debian becomes debian/; the source tree is never written to.
# DEB_BUILD_OPTIONS passes through: DEB_BUILD_OPTIONS=nocheck skips the tests,
# parallel=N builds on N cores.  Needs debhelper, dpkg-dev and the
# Build-Depends of packaging/debian/control (dpkg-buildpackage lists missing ones).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build_type=-b
if [ "${1:-}" = --with-source ]; then
        build_type=
        shift
fi
outdir=${1:-$(dirname "$top")}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

for tool in dpkg-buildpackage dh dpkg-parsechangelog; do
        if ! command -v "$tool" >/dev/null 2>&1; then
                echo "build-deb: $tool is missing: apt-get install debhelper dpkg-dev" >&2
                exit 1
        fi
done

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
meson_version=$(sed -n "s/^[[:space:]]*version:[[:space:]]*'\([^']*\)'.*/\1/p" "$top/meson.build" | head -n1)
if [ "$version" != "$meson_version" ]; then
        echo "build-deb: packaging/debian/changelog says $version, meson.build says $meson_version" >&2
        exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lumiplugd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
src="$work/lumiplugd-$version"
mkdir "$src"

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Files that exist in the working tree (a deleted tracked file is skipped).
        # shellcheck disable=SC2016
        git -C "$top" ls-files -z --cached --others --exclude-standard |
                (cd "$top" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
                (cd "$top" && tar --null -T - -cf -) | tar -C "$src" -xf -
else
        (cd "$top" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -C "$src" -xf -
fi
if [ -e "$src/debian" ]; then
        echo "build-deb: the source tree has a debian/ of its own; packaging/debian is the one" >&2
        exit 1
fi
cp -a "$top/packaging/debian" "$src/debian"

# shellcheck disable=SC2086
(cd "$src" && dpkg-buildpackage -us -uc $build_type)

found=0
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes "$work"/*.dsc "$work"/*.tar.*; do
        [ -e "$f" ] || continue
        cp "$f" "$outdir/"
        echo "build-deb: $outdir/$(basename "$f")"
        found=1
done
[ $found -eq 1 ] || { echo "build-deb: dpkg-buildpackage produced no package" >&2; exit 1; }
