#!/bin/sh
# Installs the Debian packages listed in tests/deps.txt that are missing. Needs root (or sudo).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
missing=""
for pkg in $(grep -v '^#' "$here/deps.txt" | tr -s ' \n' ' '); do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
        esac
done
# The peer suite runs Zigbee2MQTT on Node.js. Machines of this project come with NodeSource's
# nodejs (which carries npm and conflicts with Debian's npm package): install Debian's only when
# there is no npm at all.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
echo "Installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
