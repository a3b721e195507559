#!/bin/sh
# Builds infra/container/Containerfile with Podman (`make image`), with no
# container registry needed: the debian:12-slim base is made locally with
# mmdebstrap (Debian 12 minbase, with the slim images' dpkg excludes) and
# imported as localhost/debian:12-slim, then passed as DEBIAN_IMAGE.
#
#   sh infra/container/build-image.sh          build the image
#   sh infra/container/build-image.sh --probe  exit 0 when this machine can build
#                                              (installs podman and mmdebstrap
#                                              with apt-get when root), else 1
#
# Environment: IMAGE (default localhost/ivs-syncd; tagged :$GIT_REV and :latest),
# GIT_REV (default: git rev-parse --short HEAD), BASE_IMAGE (default
# localhost/debian:12-slim), BASE_TAR (default build/image/debian-bookworm.tar, kept
# so that later runs are fast; delete it to pick up newer Debian packages),
# MIRROR (default http://deb.debian.org).
set -eu
cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-localhost/ivs-syncd}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian:12-slim}
BASE_TAR=${BASE_TAR:-build/image/debian-bookworm.tar}
MIRROR=${MIRROR:-http://deb.debian.org}
GIT_REV=${GIT_REV:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}

have() { command -v "$1" >/dev/null 2>&1; }

probe() {
	if ! have podman || ! have mmdebstrap; then
		if [ "$(id -u)" = 0 ] && have apt-get; then
			echo "image: installing podman and mmdebstrap"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				podman mmdebstrap uidmap fuse-overlayfs >/dev/null 2>&1 ||
				{ echo "image: cannot install podman and mmdebstrap with apt-get"; return 1; }
		else
			echo "image: podman and mmdebstrap are needed (apt-get install podman mmdebstrap)"
			return 1
		fi
	fi
	if ! out=$(podman info 2>&1); then
		echo "image: podman does not work here: $(printf '%s\n' "$out" | tail -n 1)"
		return 1
	fi
	if [ "$(id -u)" != 0 ]; then
		# image-test extracts the image and runs it under chroot(8)
		echo "image: building and testing the image needs root (chroot, podman storage)"
		return 1
	fi
	return 0
}

if [ "${1:-}" = --probe ]; then
	probe
	exit $?
fi
[ $# = 0 ] || { echo "usage: $0 [--probe]" >&2; exit 2; }
if ! have podman || ! have mmdebstrap; then
	echo "image: podman and mmdebstrap are needed (apt-get install podman mmdebstrap)" >&2
	exit 1
fi

if ! podman image exists "$BASE_IMAGE"; then
	if [ ! -s "$BASE_TAR" ]; then
		echo "image: making $BASE_TAR with mmdebstrap (Debian 12 minbase)"
		mkdir -p "$(dirname "$BASE_TAR")"
		# Like the official image: merged-/usr the way debootstrap does it (no
		# usrmerge package, and no perl that it pulls in); what debian:12-slim
		# leaves out (debuerreotype's slimify) as dpkg excludes; and its apt
		# "docker-clean" settings (no .deb files or package caches kept). Both are
		# written into the image, so later apt-get installs obey them too.
		clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true'
		mmdebstrap --variant=minbase --format=tar --quiet \
			--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
			--aptopt="DPkg::Post-Invoke { \"$clean\"; }" \
			--aptopt="APT::Update::Post-Invoke { \"$clean\"; }" \
			--aptopt='Dir::Cache::pkgcache ""' \
			--aptopt='Dir::Cache::srcpkgcache ""' \
			--aptopt='Binary::apt::APT::Keep-Downloaded-Packages "false"' \
			--aptopt='Acquire::Languages "none"' \
			--dpkgopt='path-exclude=/usr/share/doc/*' \
			--dpkgopt='path-include=/usr/share/doc/*/copyright' \
			--dpkgopt='path-exclude=/usr/share/man/*' \
			--dpkgopt='path-exclude=/usr/share/groff/*' \
			--dpkgopt='path-exclude=/usr/share/info/*' \
			--dpkgopt='path-exclude=/usr/share/lintian/*' \
			--dpkgopt='path-exclude=/usr/share/linda/*' \
			--dpkgopt='path-exclude=/usr/share/locale/*' \
			--dpkgopt='path-include=/usr/share/locale/locale.alias' \
			bookworm "$BASE_TAR.part" \
			"deb $MIRROR/debian bookworm main" \
			"deb $MIRROR/debian bookworm-updates main" \
			"deb $MIRROR/debian-security bookworm-security main"
		mv "$BASE_TAR.part" "$BASE_TAR"
	fi
	echo "image: importing $BASE_TAR as $BASE_IMAGE"
	podman import --quiet "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi

echo "image: building $IMAGE:$GIT_REV from $BASE_IMAGE"
# --isolation chroot: RUN steps need no OCI runtime (podman run does not work
# everywhere, e.g. where crun's setrlimit is refused). Docker format: the OCI
# image format has no HEALTHCHECK.
podman build --isolation chroot --pull=never --format docker \
	-f infra/container/Containerfile \
	--ignorefile infra/container/Containerfile.dockerignore \
	--build-arg DEBIAN_IMAGE="$BASE_IMAGE" \
	--build-arg GIT_REV="$GIT_REV" \
	-t "$IMAGE:$GIT_REV" -t "$IMAGE:latest" .
size=$(podman image inspect --format '{{.Size}}' "$IMAGE:$GIT_REV")
echo "image: $IMAGE:$GIT_REV built, $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }')"
