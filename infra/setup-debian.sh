#!/bin/sh
# Installs the Debian packages ivs-syncd needs to build, run and test.
# Does nothing when every package is present. Needs root to install.
set -eu
PKGS="build-essential pkg-config libevent-dev libcurl4-openssl-dev libssl-dev
libjson-c-dev libpq-dev postgresql postgresql-client curl openssl
python3 python3-psycopg2 python3-pytest python3-yaml groff-base man-db systemd binutils
clang libclang-rt-14-dev clang-format cppcheck pgbouncer"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "setup: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
