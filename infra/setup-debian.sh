#!/bin/sh
# Installs the Debian packages ivs-syncd needs to build, run and test.
# Does nothing when every package is present and apt has package lists.
# Needs root to install.
#
# Everything the tests call is here, because the tests fail (not skip) when a
# tool is missing:
#   tests/integration: postgresql (initdb, pg_ctl), postgresql-client (psql),
#     openssl, util-linux (runuser), python3-psycopg2, python3-pytest
#   test_infra.py: systemd (systemd-analyze, systemd-sysusers), groff-base,
#     man-db, python3-yaml, binutils (readelf), libc-bin (ldd), dpkg, and apt
#     (apt-cache, with the bookworm package lists: see below)
#   .ci/run: git;  make valgrind: valgrind;  make lint: clang-format, cppcheck
#   test_observability.py: prometheus (promtool);  test_pooler.py: pgbouncer
#   test_tls.py: nginx-light (the README's nginx snippet), util-linux (prlimit)
#   test_sse.py: chromium (the example page in a headless browser)
set -eu
PKGS="build-essential pkg-config libevent-dev libcurl4-openssl-dev libssl-dev
libjson-c-dev libpq-dev postgresql postgresql-client curl openssl util-linux
python3 python3-psycopg2 python3-pytest python3-yaml groff-base man-db systemd binutils
libc-bin dpkg apt git valgrind
clang libclang-rt-14-dev clang-format cppcheck
prometheus pgbouncer nginx-light chromium"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# test_infra.py checks the Containerfile's packages against the apt lists;
# container images often ship without them.
lists=no
for f in /var/lib/apt/lists/*_Packages*; do
	[ -e "$f" ] && lists=yes && break
done
[ -z "$missing" ] && [ "$lists" = yes ] && exit 0
if [ "$(id -u)" != 0 ]; then
	if [ -n "$missing" ]; then
		echo "setup: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
		exit 1
	fi
	echo "setup: no apt package lists (run as root, or: sudo apt-get update)" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
[ -z "$missing" ] && exit 0
echo "setup: installing$missing"
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
