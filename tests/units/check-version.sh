#!/bin/sh
# Fails when packaging/debian/changelog's version drifts from meson.build's.
#   check-version.sh MESON_VERSION CHANGELOG
# The source format is 3.0 (native): the versions must be equal, no revision.
set -eu
want=$1 changelog=$2
[ -r "$changelog" ] || { echo "FAIL: cannot read $changelog"; exit 1; }
first=$(sed -n '1p' "$changelog")
got=$(printf '%s\n' "$first" | sed -n 's/^lumiplugd (\([^)]*\)) .*$/\1/p')
if [ -z "$got" ]; then
        echo "FAIL: first line of $changelog is not 'lumiplugd (VERSION) ...': $first"; exit 1
fi
if [ "$got" != "$want" ]; then
        echo "FAIL: meson.build says $want, debian/changelog says $got"; exit 1
fi
echo "version $want in meson.build and debian/changelog"
