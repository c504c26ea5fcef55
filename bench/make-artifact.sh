#!/usr/bin/env bash
# Makes a realistic rootfs artifact for the benchmarks: an ext4 image of
# SIZE_MB filled by mke2fs -d from system directories, packed by
# mender-artifact (gzip unless COMPRESSION says otherwise).
#
#   bench/make-artifact.sh OUTDIR [SIZE_MB]
#
# Writes OUTDIR/rootfs.ext4, OUTDIR/bench.mender, OUTDIR/key.pem and
# OUTDIR/key.pub (the artifact is signed with the RSA key).
set -euo pipefail

out=${1:?usage: make-artifact.sh OUTDIR [SIZE_MB]}
size_mb=${2:-1536}
compression=${COMPRESSION:-gzip}
mkdir -p "$out"

if [ ! -s "$out/key.pem" ]; then
	openssl genrsa -traditional -out "$out/key.pem" 3072 2>/dev/null
	openssl pkey -in "$out/key.pem" -pubout -out "$out/key.pub"
fi

if [ ! -s "$out/rootfs.ext4" ]; then
	# Fill about 80 % of the image with real files: /usr's binaries,
	# libraries and data compress like a real root file system does.
	# Whole second-level entries are copied while they fit the budget.
	stage=$(mktemp -d "$out/stage.XXXXXX")
	trap 'rm -rf "$stage"' EXIT
	budget=$((size_mb * 1024 * 8 / 10))
	used=0
	for entry in /usr/lib/* /usr/bin /usr/sbin /usr/share/*; do
		[ -e "$entry" ] || continue
		size=$(du -sk "$entry" 2>/dev/null | cut -f1)
		[ $((used + size)) -le "$budget" ] || continue
		mkdir -p "$stage$(dirname "$entry")"
		cp -a "$entry" "$stage$entry" 2>/dev/null || true
		used=$((used + size))
	done
	mkdir -p "$stage/bin"
	cp /bin/ls "$stage/bin/ls"
	truncate -s "${size_mb}M" "$out/rootfs.ext4"
	mke2fs -q -F -t ext4 -d "$stage" -E root_owner=0:0 "$out/rootfs.ext4"
fi

rm -f "$out/bench.mender"
mender-artifact write rootfs-image --compression "$compression" \
	-f "$out/rootfs.ext4" -n bench-1 -t bench-device \
	-k "$out/key.pem" -o "$out/bench.mender" >/dev/null
ls -l "$out/bench.mender"
