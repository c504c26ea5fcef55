#!/usr/bin/env bash
# Make the seed corpora of the fuzz harnesses with the real tools.
#
#   fuzz/make-seeds.sh OUTDIR
#
# Writes OUTDIR/<harness>/ for every harness (outer, inner, manifest,
# header_json, base64_sig, artifact, resume, index), replacing what was
# there.  The seeds
# are Mender Artifacts written by mender-artifact (rootfs-image,
# module-image, bootstrap-artifact; gzip, lzma and none; version 2 and 3;
# signed with RSA and EC; with an augmented header), artifacts assembled
# with GNU tar around zstd, xz and pax payloads, the members of all of
# them, tars of every format GNU tar writes, compressed with gzip, xz and
# zstd, and signatures from `openssl dgst`.  Every seed is small: the
# payloads are a few KiB.  The keys that sign them are made here and
# thrown away.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi

for tool in mender-artifact tar gzip xz zstd openssl sha256sum base64; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$0: $tool not found (scripts/install-deps.sh installs it)" >&2
		exit 1
	fi
done

mkdir -p "$1"
out=$(cd "$1" && pwd)
harnesses=(outer inner manifest header_json base64_sig artifact resume index)
for h in "${harnesses[@]}"; do
	rm -rf "${out:?}/$h"
	mkdir -p "$out/$h"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Reproducible tars: fixed owner and time, names in the order given, no
# padding to 10 KiB records.
T0=1700000000
tar_opts=(--owner=0 --group=0 --numeric-owner "--mtime=@$T0" --sort=none -b 1)

# ma ARGS...: mender-artifact, quiet unless it fails.
ma() {
	local log=$work/ma.log
	if ! mender-artifact "$@" >"$log" 2>&1; then
		cat "$log" >&2
		echo "$0: mender-artifact $* failed" >&2
		exit 1
	fi
}

# The payload files.
src=$work/src
mkdir -p "$src/tree/etc"
seq 1 700 >"$src/rootfs.img"
printf 'hello from a fuzz seed\n' >"$src/hello.txt"
head -c 1500 /dev/zero | tr '\0' 'z' >"$src/zeros.bin"
printf 'key=value\n' >"$src/tree/etc/app.conf"
printf '{"answer": 42, "list": [1, 2.5, "x", null, true]}\n' >"$src/meta.json"
printf '#!/bin/sh\nexit 0\n' >"$src/ArtifactInstall_Enter_00"
# A path longer than ustar's 100-byte name field.
long_file='a-directory-with-a-rather-long-name-to-need-more-than-one-hundred-bytes/and-then-some-more/deep-file-name-that-is-also-long.txt'
mkdir -p "$src/$(dirname "$long_file")"
printf 'deep\n' >"$src/$long_file"

# Throwaway signing keys, in the PKCS#1 and SEC1 forms mender-artifact
# reads.
openssl genrsa -traditional -out "$work/rsa.key" 2048 2>/dev/null
openssl ecparam -genkey -name prime256v1 -noout -out "$work/ec.key"

# Artifacts written by mender-artifact.
arts=$work/arts
mkdir -p "$arts"
common=(-t fuzz-device)
for c in gzip lzma none; do
	ma write rootfs-image "${common[@]}" -n "rootfs-$c" -f "$src/rootfs.img" \
		--compression "$c" -o "$arts/rootfs-$c.mender"
	ma write module-image "${common[@]}" -n "module-$c" -T script \
		-f "$src/hello.txt" -f "$src/zeros.bin" -m "$src/meta.json" \
		-s "$src/ArtifactInstall_Enter_00" --compression "$c" \
		-o "$arts/module-$c.mender"
done
ma write rootfs-image "${common[@]}" -n rootfs-v2 -f "$src/rootfs.img" \
	-v 2 -o "$arts/rootfs-v2.mender"
ma write bootstrap-artifact "${common[@]}" -n bootstrap \
	-o "$arts/bootstrap.mender"
ma write module-image "${common[@]}" -n empty-module -T dummy \
	-o "$arts/module-empty.mender"
ma write rootfs-image "${common[@]}" -n signed-rsa -f "$src/hello.txt" \
	-k "$work/rsa.key" -o "$arts/signed-rsa.mender"
ma write module-image "${common[@]}" -n signed-ec -T script \
	-f "$src/hello.txt" -k "$work/ec.key" -o "$arts/signed-ec.mender"
ma write module-image "${common[@]}" -n augmented -T script \
	-f "$src/hello.txt" --augment-type script \
	--augment-file "$src/zeros.bin" -k "$work/rsa.key" \
	-o "$arts/augmented.mender"

# Compressors for craft: stdin to stdout.
to_gzip() { gzip -n -c; }
to_xz() { xz -c; }
to_zstd() { zstd -q -c; }

# craft NAME SUFFIX COMPRESSOR TAR_ARGS...: an artifact assembled by hand
# around a data tar made of TAR_ARGS (run in $src), its header the one
# mender-artifact wrote for rootfs-none, every member compressed with
# COMPRESSOR (one of the functions above) and named with SUFFIX.
craft() {
	local name=$1 suffix=$2 compressor=$3
	local dir=$work/craft-$name
	shift 3
	mkdir -p "$dir/data" "$dir/files"
	tar -mxf "$arts/rootfs-none.mender" -C "$dir" version header.tar
	"$compressor" <"$dir/header.tar" >"$dir/header.tar$suffix"
	tar -cf "$dir/data.tar" "${tar_opts[@]}" -C "$src" "$@"
	"$compressor" <"$dir/data.tar" >"$dir/data/0000.tar$suffix"
	tar -mxf "$dir/data.tar" -C "$dir/files"
	(
		cd "$dir"
		{
			sha256sum version "header.tar$suffix"
			(cd files && find . -type f | sed 's|^\./||' | sort |
				while read -r f; do
					printf '%s  data/0000/%s\n' \
						"$(sha256sum <"$f" | cut -d' ' -f1)" "$f"
				done)
		} | sort -k2 >manifest
		tar -cf "$arts/$name.mender" --format=ustar "${tar_opts[@]}" \
			version manifest "header.tar$suffix" "data/0000.tar$suffix"
	)
}
craft crafted-zstd .zst to_zstd rootfs.img hello.txt
craft crafted-xz .xz to_xz tree/etc/app.conf hello.txt
craft crafted-pax .gz to_gzip --format=pax "$long_file" rootfs.img
craft crafted-dirs .gz to_gzip tree hello.txt

# Plain tars of every format GNU tar writes: long names, links, a
# directory; some also compressed.  (Sparse files are not here: the core
# misreads them, see regressions/README.md; add them back once fixed.)
tars=$work/tars
mkdir -p "$tars"
ln -sf hello.txt "$src/link-to-hello"
ln -f "$src/hello.txt" "$src/hard-to-hello"
for fmt in v7 ustar gnu oldgnu pax; do
	members=(hello.txt tree link-to-hello hard-to-hello)
	case "$fmt" in
	gnu | pax) members+=(a-directory-with-a-rather-long-name-to-need-more-than-one-hundred-bytes) ;;
	esac
	tar -cf "$tars/$fmt.tar" --format=$fmt "${tar_opts[@]}" -C "$src" \
		"${members[@]}"
done
# A tar without its end-of-archive blocks, and an empty one.
head -c 1024 "$tars/ustar.tar" >"$tars/cut.tar"
head -c 1024 /dev/zero >"$tars/empty.tar"

# Compressed streams: of tars, concatenated gzip members, and no tar.
for t in "$tars"/ustar.tar "$tars"/pax.tar "$tars"/gnu.tar; do
	b=$(basename "$t" .tar)
	gzip -n -c "$t" >"$out/inner/$b.tar.gz"
	xz -c "$t" >"$out/inner/$b.tar.xz"
	zstd -q -c "$t" >"$out/inner/$b.tar.zst"
done
{ gzip -n -c "$tars/v7.tar" | head -c 200; } >"$out/inner/cut.tar.gz"
{ head -c 512 "$tars/ustar.tar" | gzip -n -c
  tail -c +513 "$tars/ustar.tar" | gzip -n -c; } >"$out/inner/two-members.tar.gz"
gzip -n -c "$src/hello.txt" >"$out/inner/hello.gz"
xz --check=crc32 -c "$src/hello.txt" >"$out/inner/hello-crc32.xz"
zstd -q --no-check -c "$src/zeros.bin" >"$out/inner/zeros-nocheck.zst"
cp "$tars"/*.tar "$out/inner/"
for t in "$tars"/*.tar; do
	cp "$t" "$out/outer/tar-$(basename "$t")"
done

# Everything inside the artifacts.
ex=$work/extract
for a in "$arts"/*.mender; do
	b=$(basename "$a" .mender)
	cp "$a" "$out/artifact/$b.mender"
	cp "$a" "$out/outer/$b.mender"
	rm -rf "$ex"
	mkdir -p "$ex"
	tar -mxf "$a" -C "$ex"
	cp "$ex/manifest" "$out/manifest/$b"
	[ ! -f "$ex/manifest-augment" ] ||
		cp "$ex/manifest-augment" "$out/manifest/$b-augment"
	[ ! -f "$ex/manifest.sig" ] || cp "$ex/manifest.sig" "$out/base64_sig/$b"
	for m in "$ex"/header*.tar* "$ex"/data/*.tar*; do
		[ -f "$m" ] || continue
		cp "$m" "$out/inner/$b-$(basename "$m")"
	done
	# header_json: byte 0 is the version bit and the payload count.
	version=$(sed -n 's/.*"version": *\([0-9]\).*/\1/p' "$ex/version")
	payloads=$(find "$ex" -path "$ex/data/*.tar*" | wc -l)
	config=$(( (version == 2 ? 1 : 0) | (payloads & 3) << 1 ))
	cfg=$(printf '\\0%03o' "$config")
	for h in "$ex"/header.tar*; do
		{ printf '%b' "$cfg"; cat "$h"; } >"$out/header_json/$b-tar$(basename "$h" | sed 's/^header\.tar//')"
	done
	mkdir -p "$ex/h"
	tar -mxf "$ex"/header.tar* -C "$ex/h"
	{
		printf '%b' "$cfg"
		cat "$ex/h/header-info"
		i=0
		while [ -f "$ex/h/headers/$(printf %04d $i)/type-info" ] ||
		      [ -f "$ex/h/headers/$(printf %04d $i)/meta-data" ]; do
			d=$ex/h/headers/$(printf %04d $i)
			printf '\n--\n'
			[ ! -f "$d/type-info" ] || cat "$d/type-info"
			printf '\n--\n'
			[ ! -f "$d/meta-data" ] || cat "$d/meta-data"
			i=$((i + 1))
		done
	} >"$out/header_json/$b-files"
done

# Signatures from openssl over the manifest the harness verifies, with
# keys it does not hold: well-formed, and never valid.
printf '%s  %s\n' \
	4ec2a4bb31e1aa1b6ef7a53e6ad5a1eaf0c0ab2fd2ec3d4fe1b2ab1e4e2e1a1d \
	data/0000/rootfs.img >"$work/fixed-manifest"
for k in rsa ec; do
	openssl dgst -sha256 -sign "$work/$k.key" -out "$work/$k.sig" \
		"$work/fixed-manifest"
	base64 -w0 "$work/$k.sig" >"$out/base64_sig/openssl-$k"
	base64 -w64 "$work/$k.sig" >"$out/base64_sig/openssl-$k-wrapped"
	cp "$work/$k.sig" "$out/base64_sig/openssl-$k-binary"
done
printf '' >"$out/base64_sig/empty"
printf 'QQ==' >"$out/base64_sig/one-byte"

# A manifest line with a name the tree must not show.
printf '%064d  ../escape\n' 0 >"$out/manifest/unsafe-name"

# resume: edits of a real gzip restore point (fuzz_resume.c): point,
# what, cut length, out and in moves, then (offset, XOR) patches of its
# resume data: the bit count and value (0, 1), the member CRC (4), the
# member length (8), the window length (16), window bytes.
r=$out/resume
printf '\0\0\0\0\0\0\0\0' >"$r/point-0"
printf '\1\0\0\0\0\0\0\0' >"$r/point-1"
printf '\0\0\0\0\0\0\0\0\0\0\10' >"$r/bits-8"
printf '\1\0\0\0\0\0\0\0\1\0\1' >"$r/bit-value"
printf '\0\0\0\0\0\0\0\0\4\0\1' >"$r/member-crc"
printf '\0\0\0\0\0\0\0\0\10\0\1' >"$r/member-length"
printf '\0\0\0\0\0\0\0\0\20\0\1' >"$r/window-length"
printf '\0\0\0\0\0\0\0\0\22\0\1' >"$r/window-length-huge"
printf '\1\0\0\0\0\0\0\0\0\1\377\0\2\377\0\3\377' >"$r/window-bytes"
printf '\0\1\31\0\0\0\0\0' >"$r/cut"
printf '\1\2\0\0\0\360\0\0' >"$r/out-moved"
printf '\0\4\0\0\0\0\1\0' >"$r/in-moved"
printf '\1\10\0\0\0\0\0\0' >"$r/crc-flipped"

# index: edits of a real index file's body (fuzz_index.c): byte 0 bit 0
# cuts it at the u16 after it, then (offset, XOR) patches: the payload
# count (0), the first member's offset (4), its entry count (20), the
# first name's length (24), bytes further on.
i=$out/index
printf '\0\0\0' >"$i/unchanged"
printf '\1\0\0' >"$i/empty"
printf '\1\100\0' >"$i/cut-64"
printf '\1\0\1' >"$i/cut-256"
printf '\0\0\0\0\0\1' >"$i/payload-count"
printf '\0\0\0\4\0\1' >"$i/member-offset"
printf '\0\0\0\24\0\1' >"$i/entry-count"
printf '\0\0\0\30\0\200' >"$i/name-length"
printf '\0\0\0\0\1\1\100\1\40\200\1\4' >"$i/further-on"

for h in "${harnesses[@]}"; do
	printf '%-12s %3d seeds\n' "$h" "$(find "$out/$h" -type f | wc -l)"
done

# contents/: small images (at most 256 KiB, fuzz.sh's -max_len) for the
# reader harnesses (contents_ext, contents_squashfs, contents_tar), made
# from one small tree with every
# kind of entry: nested directories, a sparse file, an empty file,
# symlinks, a hard link, a FIFO, odd modes and a user.* xattr where the
# filesystem under $work takes one.
for tool in mke2fs mksquashfs bzip2; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$0: $tool not found (scripts/install-deps.sh installs it)" >&2
		exit 1
	fi
done
contents_harnesses=(contents_ext contents_squashfs contents_tar)
for h in "${contents_harnesses[@]}"; do
	rm -rf "${out:?}/$h"
	mkdir -p "$out/$h"
done
ct=$work/contents-tree
mkdir -p "$ct/etc/app" "$ct/usr/lib/deep" "$ct/dir with space"
printf 'root:*:19000:0:99999:7:::\n' >"$ct/etc/shadow"
chmod 0600 "$ct/etc/shadow"
printf '#!/bin/sh\nexit 0\n' >"$ct/usr/lib/tool"
chmod 04755 "$ct/usr/lib/tool"
head -c 3000 /dev/zero | tr '\0' 'c' >"$ct/usr/lib/deep/data.bin"
seq 1 2000 >"$ct/etc/app/numbers.txt"
: >"$ct/empty"
truncate -s 70000 "$ct/sparse"
printf 'x' | dd of="$ct/sparse" bs=1 seek=40000 conv=notrunc status=none
ln -s ../etc/shadow "$ct/usr/rel-link"
ln -s /etc/passwd "$ct/abs-link"
ln -s does/not/exist "$ct/dangling"
ln "$ct/usr/lib/tool" "$ct/usr/lib/tool-hardlink"
mkfifo "$ct/fifo"
setfattr -n user.comment -v 'seed' "$ct/etc/shadow" 2>/dev/null || true
for i in $(seq 1 60); do printf '%d\n' "$i" >"$ct/usr/lib/deep/f$i"; done
touch -h -d @$T0 "$ct" "$ct"/* 2>/dev/null || true

for fs in ext2 ext3 ext4; do
	mke2fs -q -F -t "$fs" -b 1024 -N 128 -d "$ct" \
		"$out/contents_ext/$fs.img" 256k >/dev/null 2>&1
done
mke2fs -q -F -t ext4 -b 1024 -N 128 -O inline_data,^has_journal -d "$ct" \
	"$out/contents_ext/inline.img" 256k >/dev/null 2>&1
for comp in gzip xz zstd lzo lz4; do
	mksquashfs "$ct" "$out/contents_squashfs/$comp.sqfs" -noappend \
		-quiet -no-progress -comp "$comp" -b 4096 >/dev/null 2>&1 ||
		rm -f "$out/contents_squashfs/$comp.sqfs"
done
for fmt in ustar gnu pax; do
	sparse=()
	[ "$fmt" = ustar ] || sparse=(--sparse)
	tar -cf "$work/contents-$fmt.tar" --format=$fmt "${sparse[@]}" \
		"${tar_opts[@]}" -C "$ct" .
	cp "$work/contents-$fmt.tar" "$out/contents_tar/$fmt.tar"
done
gzip -n -c "$work/contents-pax.tar" >"$out/contents_tar/pax.tar.gz"
xz -c "$work/contents-gnu.tar" >"$out/contents_tar/gnu.tar.xz"
zstd -q -c "$work/contents-ustar.tar" >"$out/contents_tar/ustar.tar.zst"
bzip2 -c "$work/contents-ustar.tar" >"$out/contents_tar/ustar.tar.bz2"

for h in "${contents_harnesses[@]}"; do
	printf '%-18s %3d seeds\n' "$h" "$(find "$out/$h" -type f | wc -l)"
done
