#!/usr/bin/env bash
# Install the Debian 12 packages menderfs needs to build, test and demo.
# Only missing packages are installed; when nothing is missing this is a
# quick no-op that does not touch the network.
#
#   scripts/install-deps.sh           build, test and demo dependencies
#   scripts/install-deps.sh --bench   the same, plus the benchmark tools
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(
	# build
	build-essential cmake pkg-config
	libfuse3-dev libarchive-dev libssl-dev zlib1g-dev liblzma-dev
	libzstd-dev libisal-dev libjson-c-dev
	# run
	fuse3
	# test: unit tests, fixtures, PKCS#11 signing, sanitizer builds
	check mender-artifact e2fsprogs softhsm2 opensc libengine-pkcs11-openssl
	zstd xz-utils isal openssl python3 clang libclang-rt-14-dev valgrind
	# man page checks
	mandoc
	# the Debian package test (tests/package)
	dpkg-dev debhelper lintian git
	# contents/: the filesystem and archive readers, and the tools that
	# make and inspect their test fixtures
	libext2fs-dev libsquashfs-dev squashfs-tools squashfs-tools-ng bzip2
	attr libcap2-bin
)
bench_packages=(archivemount
	# bench/run.sh: igzip, mender-artifact, mke2fs, and fuse2fs for the
	# contents/ baseline
	isal mender-artifact e2fsprogs fuse2fs util-linux)

usage() {
	echo "usage: $0 [--bench]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--bench) packages+=("${bench_packages[@]}") ;;
	-h | --help)
		echo "usage: $0 [--bench]"
		exit 0
		;;
	*) usage ;;
	esac
	shift
done

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "$0: missing packages: ${missing[*]}" >&2
	echo "$0: not root and sudo is not available; install them as root" >&2
	exit 1
fi

echo "installing: ${missing[*]}"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends "${missing[@]}"
