#!/usr/bin/env bash
# Mount every good fixture and compare the tree with what tar extracts.
#
#   test_tree.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_artifacts.sh.

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

skip_unless_fuse

# expect_tree ARTIFACT DIR: extract ARTIFACT into DIR as menderfs should show
# it: the outer members as they are, and each compressed tar member NAME.tar*
# unpacked into NAME/ (header/, header-augment/, data/0000/).  Root keeps the
# tar's modes and mtimes on extraction.
expect_tree() {
	local art=$1 dir=$2 member inner
	mkdir -p "$dir"
	tar -C "$dir" -xpf "$art" || return 1
	while IFS= read -r member; do
		case $member in
		header.tar* | header-augment.tar* | data/[0-9][0-9][0-9][0-9].tar*)
			inner=${member%.tar*}
			mkdir -p "$dir/$inner"
			decompress "$member" <"$dir/$member" | tar -C "$dir/$inner" -xpf - || return 1
			;;
		esac
	done < <(tar -tf "$art")
}

# listing DIR: "TYPE PATH" for everything under DIR, sorted; of contents/
# only the directories of the images, not what they hold (test_contents.sh).
listing() {
	(cd "$1" && find . -mindepth 1 \( -path './contents/*/*/*' -prune \) \
		-o -printf '%y %P\n') | LC_ALL=C sort
}

# contents_expected EXP: the contents/ entries the tree shows for the
# extracted artifact EXP: a directory per payload, and one per payload
# file whose bytes hold an ext2/3/4 or squashfs image (their magic) or a
# tar (Python's tarfile).
contents_expected() {
	python3 - "$1" <<'PY'
import os, sys, tarfile
data = os.path.join(sys.argv[1], 'data')
if not os.path.isdir(data):
    sys.exit(0)
print('d contents')
for p in sorted(os.listdir(data)):
    d = os.path.join(data, p)
    if not os.path.isdir(d):
        continue
    print('d contents/%s' % p)
    for dirpath, _, files in os.walk(d):
        for f in files:
            full = os.path.join(dirpath, f)
            with open(full, 'rb') as fh:
                head = fh.read(1082)
            if (head[1080:1082] == b'\x53\xef' or head[:4] == b'hsqs' or
                    tarfile.is_tarfile(full)):
                print('d contents/%s/%s' % (p, os.path.relpath(full, d)))
PY
}

# compare_files MNT EXP: every regular file of EXP is in MNT with the same
# bytes, size, mode and mtime.  Every file's mode is its tar mode less the
# write and set-id bits, plus read for everyone (SPEC, "The tree"), so that
# with allow_other (and the default_permissions menderfs sets) every user
# can read the manifest and a payload's programs stay executable.
compare_files() {
	local mnt=$1 exp=$2 rel bad_bytes=() bad_meta=() n=0 want got mode size mtime
	while IFS= read -r -d '' rel; do
		n=$((n + 1))
		if ! cmp -s "$exp/$rel" "$mnt/$rel"; then
			bad_bytes+=("$rel")
			continue
		fi
		read -r mode size mtime < <(stat -c '%a %s %Y' "$exp/$rel")
		mode=$(((8#$mode & 8#555) | 8#444))
		want=$(printf '%o %s %s' "$mode" "$size" "$mtime")
		got=$(stat -c '%a %s %Y' "$mnt/$rel" 2>&1)
		if [ "$want" != "$got" ]; then
			bad_meta+=("$rel: mode size mtime want '$want' got '$got'")
		fi
	done < <(cd "$exp" && find . -type f -printf '%P\0')
	if [ ${#bad_bytes[@]} -eq 0 ]; then
		ok "$NAME: $n files byte-identical to tar's extraction"
	else
		fail "$NAME: ${#bad_bytes[@]} of $n files differ from tar's extraction"
		note "${bad_bytes[@]:0:10}"
	fi
	if [ ${#bad_meta[@]} -eq 0 ]; then
		ok "$NAME: sizes, modes and mtimes match"
	else
		fail "$NAME: ${#bad_meta[@]} files with wrong size, mode or mtime"
		note "${bad_meta[@]:0:10}"
	fi
}

# expect_erofs DESC CMD...: CMD must fail with "Read-only file system".
expect_erofs() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && [[ $out == *"Read-only file system"* ]]; then
		ok "$NAME: $desc: EROFS"
	else
		fail "$NAME: $desc: want failure with 'Read-only file system', got status $rc: $out"
	fi
}

# These two run through expect_erofs.
# shellcheck disable=SC2317
write_to() {
	echo x >"$1"
}

# shellcheck disable=SC2317
append_to() {
	echo x >>"$1"
}

check_read_only() {
	local mnt=$1 payload
	payload=$(cd "$mnt" && find data -mindepth 2 -type f -print -quit)
	expect_erofs "touch new file" touch "$mnt/new-file"
	expect_erofs "touch new file in header/" touch "$mnt/header/new-file"
	expect_erofs "touch existing" touch "$mnt/version"
	expect_erofs "echo x > version" write_to "$mnt/version"
	expect_erofs "echo x >> manifest" append_to "$mnt/manifest"
	expect_erofs "echo x > .verify" write_to "$mnt/.verify"
	expect_erofs "truncate header-info" truncate -s 0 "$mnt/header/header-info"
	expect_erofs "mkdir" mkdir "$mnt/new-dir"
	expect_erofs "mkdir in data/" mkdir "$mnt/data/new-dir"
	expect_erofs "rm version" rm -f "$mnt/version"
	expect_erofs "rmdir header" rmdir "$mnt/header"
	expect_erofs "mv manifest" mv "$mnt/manifest" "$mnt/manifest.old"
	expect_erofs "ln -s" ln -s version "$mnt/link"
	expect_erofs "ln" ln "$mnt/version" "$mnt/hardlink"
	expect_erofs "chmod" chmod 0644 "$mnt/version"
	expect_erofs "chmod dir" chmod 0755 "$mnt/header"
	expect_erofs "chown" chown 1:1 "$mnt/manifest"
	expect_erofs "mkfifo" mkfifo "$mnt/fifo"
	if [ -n "$payload" ]; then
		expect_erofs "echo x > $payload" write_to "$mnt/$payload"
		expect_erofs "rm $payload" rm -f "$mnt/$payload"
	fi
}

# status_line MNT: first line of .verify.
status_line() {
	timeout -k 5 20 head -n 1 "$1/.verify" 2>&1
}

check_rootfs_image() {
	local mnt=$1 exp=$2 img f a b off
	img=$mnt/data/0000/rootfs.ext4
	for f in etc/hostname etc/os-release usr/bin/blob; do
		if debugfs -R "cat /$f" "$img" 2>/dev/null | cmp -s - "$FIXTURES/src/rootfs/$f"; then
			ok "$NAME: debugfs reads /$f from the mounted ext4 image"
		else
			fail "$NAME: debugfs cat /$f from the mounted image differs from the source"
		fi
	done
	# Random reads, backwards and forwards.
	for off in 900 3 511 1023 64; do
		a=$(dd if="$img" bs=4096 skip="$off" count=3 status=none | sha256sum)
		b=$(dd if="$exp/data/0000/rootfs.ext4" bs=4096 skip="$off" count=3 status=none | sha256sum)
		if [ "$a" != "$b" ]; then
			fail "$NAME: dd bs=4096 skip=$off count=3 differs"
			return
		fi
	done
	ok "$NAME: random dd reads of the image match"
}

check_concurrent_reads() {
	local mnt=$1 exp=$2 rel=$3 want i pids=() bad=0
	want=$(sha256sum <"$exp/$rel")
	for i in 1 2 3 4 5 6 7 8; do
		(sha256sum <"$mnt/$rel" >"$TEST_TMP/concurrent.$i") &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || bad=1
	done
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(cat "$TEST_TMP/concurrent.$i")" = "$want" ] || bad=1
	done
	check "$NAME: 8 concurrent readers of $rel get the right bytes" [ "$bad" -eq 0 ]
}

test_fixture() {
	local art=$1 mnt exp before want got sigfile
	NAME=$(basename "$art" .mender)
	mnt=$TEST_TMP/mnt-$NAME
	exp=$TEST_TMP/exp-$NAME
	mkdir -p "$mnt"
	if ! expect_tree "$art" "$exp"; then
		fail "$NAME: could not extract the fixture with tar"
		return
	fi
	before=$(sha256sum <"$art")

	mount_artifact "$art" "$mnt" || return

	if mount | grep -qF "$art on $mnt type fuse.menderfs"; then
		ok "$NAME: mount lists '$art on $mnt type fuse.menderfs'"
	else
		fail "$NAME: mount does not list '$art on $mnt type fuse.menderfs'"
		note "$(mount | grep -F "$mnt")"
	fi

	# The listing: exactly the extracted tree plus the virtual files.
	{
		listing "$exp"
		printf 'f signature\nf .verify\n'
		contents_expected "$exp"
	} | LC_ALL=C sort >"$TEST_TMP/want.list"
	listing "$mnt" >"$TEST_TMP/got.list"
	if diff -u "$TEST_TMP/want.list" "$TEST_TMP/got.list" >"$TEST_TMP/list.diff"; then
		ok "$NAME: the tree lists exactly the expected $(wc -l <"$TEST_TMP/want.list") entries"
	else
		fail "$NAME: the tree's entries differ from the expected set (-want +got)"
		note_file "$TEST_TMP/list.diff"
	fi

	compare_files "$mnt" "$exp"

	got=$(find "$mnt" \( -path "$mnt/contents/*/*/*" -prune \) -o \
		-type d ! -perm 0555 -printf '%m %p\n')
	if [ -z "$got" ]; then
		ok "$NAME: every directory has mode 0555"
	else
		fail "$NAME: directories whose mode is not 0555:"
		note "$got"
	fi

	if (cd "$mnt" && sha256sum --quiet --strict -c manifest) >"$TEST_TMP/sum.out" 2>&1; then
		ok "$NAME: cd MNT && sha256sum -c manifest"
	else
		fail "$NAME: cd MNT && sha256sum -c manifest"
		note_file "$TEST_TMP/sum.out"
	fi
	if [ -e "$exp/manifest-augment" ]; then
		if (cd "$mnt" && sha256sum --quiet --strict -c manifest-augment) >"$TEST_TMP/sum.out" 2>&1; then
			ok "$NAME: cd MNT && sha256sum -c manifest-augment"
		else
			fail "$NAME: cd MNT && sha256sum -c manifest-augment"
			note_file "$TEST_TMP/sum.out"
		fi
	fi

	sigfile=$exp/manifest.sig
	if [ ! -e "$sigfile" ]; then
		sigfile=/dev/null
	fi
	want=$(stat -c %s "$sigfile")
	got=$(stat -c %s "$mnt/signature" 2>&1)
	if cmp -s "$sigfile" "$mnt/signature" && [ "$got" = "$want" ]; then
		ok "$NAME: signature reads as manifest.sig's text ($want bytes)"
	else
		fail "$NAME: signature does not read as manifest.sig's text ($want bytes; st_size $got)"
	fi

	if [ -e "$exp/manifest.sig" ]; then
		want="status: no-keys"
	else
		want="status: unsigned"
	fi
	got=$(status_line "$mnt")
	check "$NAME: .verify starts with '$want' (got '$got')" [ "$got" = "$want" ]

	if ls -lR "$mnt" >/dev/null 2>"$TEST_TMP/ls.err"; then
		ok "$NAME: ls -lR of the tree succeeds"
	else
		fail "$NAME: ls -lR of the tree reports errors"
		note_file "$TEST_TMP/ls.err"
	fi

	if [ -e "$exp/data/0000/rootfs.ext4" ]; then
		check_rootfs_image "$mnt" "$exp"
	fi
	if [ -e "$exp/data/0000/big.bin" ]; then
		check_concurrent_reads "$mnt" "$exp" data/0000/big.bin
	fi

	check_read_only "$mnt"
	if cmp -s "$exp/version" "$mnt/version" && listing "$mnt" | cmp -s - "$TEST_TMP/got.list"; then
		ok "$NAME: tree unchanged after the refused writes"
	else
		fail "$NAME: tree changed after the refused writes"
	fi

	unmount_artifact "$mnt"
	check "$NAME: the artifact file is unchanged" [ "$(sha256sum <"$art")" = "$before" ]
	rm -rf "$exp"
}

# With keys: the signed fixture verifies with its key, not with another.
test_verify_keys() {
	local art=$FIXTURES/good/rootfs-lzma-signed.mender mnt=$TEST_TMP/mnt-keys got
	NAME=rootfs-lzma-signed
	mkdir -p "$mnt"
	if mount_artifact "$art" "$mnt" -o "verify_key=$FIXTURES/keys/rsa.pub.pem"; then
		got=$(status_line "$mnt")
		check "$NAME: with verify_key=rsa.pub.pem .verify says 'status: verified' (got '$got')" \
			[ "$got" = "status: verified" ]
		unmount_artifact "$mnt"
	fi
	if mount_artifact "$art" "$mnt" -o "verify_key=$FIXTURES/keys/other.pub.pem"; then
		got=$(status_line "$mnt")
		check "$NAME: with another key .verify says 'status: invalid-signature' (got '$got')" \
			[ "$got" = "status: invalid-signature" ]
		unmount_artifact "$mnt"
	fi
}

shopt -s nullglob
fixtures=("$FIXTURES"/good/*.mender)
if [ ${#fixtures[@]} -lt 8 ]; then
	fail "expected at least 8 good fixtures in $FIXTURES/good, found ${#fixtures[@]}"
fi
for art in "${fixtures[@]}"; do
	echo "--- $(basename "$art")"
	test_fixture "$art"
done
echo "--- verify keys"
test_verify_keys


# A directory's link count is 2 plus its subdirectories (find and du
# rely on it; it was always 2).
test_link_counts() {
	local art=${fixtures[0]} mnt=$TEST_TMP/mnt-links bad= d want got
	mkdir -p "$mnt"
	mount_artifact "$art" "$mnt" || return
	while IFS= read -r d; do
		want=$((2 + $(find "$d" -mindepth 1 -maxdepth 1 -type d | wc -l)))
		got=$(stat -c %h "$d")
		[ "$got" -eq "$want" ] || bad="$bad ${d#"$mnt"}:$got/$want"
	done < <(find "$mnt" -type d)
	check "directories link 2 + their subdirectories (wrong:${bad:- none})" test -z "$bad"
	unmount_artifact "$mnt"
}
echo "--- link counts"
test_link_counts

finish
