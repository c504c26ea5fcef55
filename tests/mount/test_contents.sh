#!/usr/bin/env bash
# contents/: the files inside payload images, compared entry by entry with
# a loop mount of the image (as root, where loop devices work) or the tree
# it was made from, with Python's tarfile for tars, and with diff, find,
# grep and sha256sum run over the mount.
#
#   test_contents.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_contents_artifacts.sh.

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")
COMPARE=$(dirname "$(realpath "$0")")/contents_compare.py

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

skip_unless_fuse
for tool in getfattr diff find sha256sum timeout; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool not found; skipping"
		FINISHED=1
		exit 77
	fi
done

SRC=$FIXTURES/src
IMG=$FIXTURES/img
MNT=$TEST_TMP/mnt
MNT2=$TEST_TMP/mnt2
LOOP=$TEST_TMP/loop
mkdir -p "$MNT" "$MNT2" "$LOOP"
LOOPED=

# compare DESC ARGS...: contents_compare.py ARGS, one ok or fail.
compare() {
	local desc=$1 out
	shift
	out=$TEST_TMP/compare.out
	if python3 "$COMPARE" "$@" >"$out" 2>&1; then
		ok "$desc: $(tail -n 1 "$out")"
	else
		fail "$desc"
		note_file "$out"
	fi
}

# loop_ref IMAGE: mounts IMAGE read-only on $LOOP as the reference; false
# where loop devices cannot be used (not root, no /dev/loop*).
loop_ref() {
	[ "$(id -u)" -eq 0 ] || return 1
	mount -o loop,ro "$1" "$LOOP" 2>/dev/null || return 1
	LOOPED=1
}

loop_unref() {
	if [ -n "$LOOPED" ]; then
		umount "$LOOP"
		LOOPED=
	fi
}

trap 'loop_unref; on_exit' EXIT

# sums DIR: "SHA256  PATH" of every regular file under DIR, sorted by path.
sums() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z |
		xargs -0 sha256sum)
}

# ---- ext4, gzip and lzma ----------------------------------------------------
for art in ext4-gzip ext4-lzma; do
	if ! mount_artifact "$FIXTURES/$art.mender" "$MNT"; then
		continue
	fi
	C=$MNT/contents/0000/rootfs.ext4
	got=$(ls -A "$MNT/contents/0000" 2>&1)
	check "$art: contents/0000 lists the image (got '$got')" \
		[ "$got" = rootfs.ext4 ]
	if loop_ref "$IMG/rootfs.ext4"; then
		compare "$art: every entry as a loop mount shows it" \
			dir "$LOOP" "$C"
		loop_unref
	else
		note "no loop mount here: comparing with the source tree"
	fi
	# mke2fs -d keeps whole seconds of the source's times.
	compare "$art: every entry as in the tree mke2fs -d packed" \
		dir "$SRC" "$C" --seconds --extra lost+found
	want=$(sums "$SRC")
	got=$(sums "$C" | grep -v ' ./lost+found/')
	check "$art: sha256sum over contents/ equals the source tree's" \
		[ "$want" = "$got" ]
	want=$( (cd "$SRC" && find . | LC_ALL=C sort) )
	got=$( (cd "$C" && find . | grep -v '^./lost+found' | LC_ALL=C sort) )
	check "$art: find lists every name" [ "$want" = "$got" ]
	got=$(cd "$C" && grep -rl hosted.mender.io . 2>&1)
	check "$art: grep -r finds etc/mender/mender.conf (got '$got')" \
		[ "$got" = ./etc/mender/mender.conf ]
	got=$(stat -c '%A %u:%g' "$C/etc/shadow" "$C/bin/suid-tool" \
		"$C/usr/lib/big.so" "$C/owned" "$C/dev/fifo" "$C/dev/null-dev" \
		2>&1 | tr '\n' ' ')
	check "$art: modes stored less the write bits, set-id kept (got '$got')" \
		[ "$got" = "-r-------- 0:0 -r-sr-xr-x 0:0 -r-xr-xr-x 0:0 -r--r--r-- 1000:1000 pr--r--r-- 0:0 cr--r--r-- 0:0 " ]
	got=$(stat -c '%t:%T' "$C/dev/null-dev")
	check "$art: the device node is 1:3 (got '$got')" [ "$got" = 1:3 ]
	got=$(readlink "$C/abs-link")
	check "$art: readlink gives the target verbatim (got '$got')" \
		[ "$got" = /etc/mender/mender.conf ]
	want=$(cd "$SRC" && getfattr -h -d -m - bin/ping etc/labelled 2>&1)
	got=$(cd "$C" && getfattr -h -d -m - bin/ping etc/labelled 2>&1)
	check "$art: getfattr -d -m - shows the capability and user.* as in the source" \
		[ "$want" = "$got" ]
	want=$(dumpe2fs -h "$IMG/rootfs.ext4" 2>/dev/null |
	       awk -F: '/^Block count/ { gsub(/ /, "", $2); print $2 }')
	got=$(stat -f -c %b "$C")
	check "$art: statfs gives the image's block count (want $want, got $got)" \
		[ "$want" = "$got" ]
	if touch "$C/new" 2>"$TEST_TMP/err" ||
	   ! grep -q 'Read-only file system' "$TEST_TMP/err"; then
		fail "$art: creating a file in contents/ is not EROFS"
		note_file "$TEST_TMP/err"
	else
		ok "$art: creating a file in contents/ gives EROFS"
	fi
	if (: >>"$C/owned") 2>"$TEST_TMP/err" ||
	   ! grep -q 'Read-only file system' "$TEST_TMP/err"; then
		fail "$art: writing a file of contents/ is not EROFS"
		note_file "$TEST_TMP/err"
	else
		ok "$art: writing a file of contents/ gives EROFS"
	fi
	got=$(cd "$MNT" && sha256sum -c manifest 2>&1)
	check "$art: sha256sum -c manifest still passes at the root" \
		[ "$(printf '%s\n' "$got" | grep -vc ': OK$')" = 0 ]
	# After contents/ was read: .verify judges the payload files only.
	cp "$MNT/.verify" "$TEST_TMP/verify.$art"
	unmount_artifact "$MNT"
done

# ---- -o nocontents, and .verify the same either way -------------------------
if mount_artifact "$FIXTURES/ext4-gzip.mender" "$MNT" -o nocontents; then
	got=$(ls -A "$MNT" | tr '\n' ' ')
	check "nocontents: the root has no contents/ (got '$got')" \
		[ "${got/contents/}" = "$got" ]
	check "nocontents: contents/ is not found" \
		[ ! -e "$MNT/contents" ]
	cat "$MNT/.verify" >"$TEST_TMP/verify.without"
	check "nocontents: .verify reads the same as with contents/ shown" \
		cmp -s "$TEST_TMP/verify.ext4-gzip" "$TEST_TMP/verify.without"
	unmount_artifact "$MNT"
fi

# ---- squashfs ---------------------------------------------------------------
if mount_artifact "$FIXTURES/squashfs.mender" "$MNT"; then
	C=$MNT/contents/0000/rootfs.sqfs
	if loop_ref "$IMG/rootfs.sqfs"; then
		compare "squashfs: every entry as a loop mount shows it" \
			dir "$LOOP" "$C"
		loop_unref
	fi
	# squashfs keeps whole seconds.
	compare "squashfs: every entry as in the tree mksquashfs packed" \
		dir "$SRC" "$C" --seconds
	check "squashfs: sha256sum over contents/ equals the source tree's" \
		[ "$(sums "$SRC")" = "$(sums "$C")" ]
	unmount_artifact "$MNT"
fi

# ---- tar and tar.gz in a module payload -------------------------------------
if mount_artifact "$FIXTURES/tar.mender" "$MNT"; then
	got=$(ls -A "$MNT/contents/0000" | tr '\n' ' ')
	check "tar: contents/0000 lists both tars (got '$got')" \
		[ "$got" = "update.tar update.tar.gz " ]
	compare "tar: every entry as Python's tarfile reads it" \
		tar "$IMG/update.tar" "$MNT/contents/0000/update.tar"
	compare "tar.gz: every entry as Python's tarfile reads it" \
		tar "$IMG/update.tar.gz" "$MNT/contents/0000/update.tar.gz"
	check "tar: sha256sum over contents/ equals the source tree's" \
		[ "$(sums "$SRC")" = "$(sums "$MNT/contents/0000/update.tar.gz")" ]
	unmount_artifact "$MNT"
fi

# ---- diff -r between two releases -------------------------------------------
# diff -r reports special files it does not compare ("File X is a fifo
# while file Y is a fifo"); those are no difference.
if mount_artifact "$FIXTURES/ext4-gzip.mender" "$MNT" &&
   mount_artifact "$FIXTURES/ext4-b.mender" "$MNT2"; then
	(cd "$TEST_TMP" && diff -r --no-dereference mnt/contents mnt2/contents) \
		>"$TEST_TMP/diff.out" 2>&1
	got=$(grep -E '^(diff |Only in )' "$TEST_TMP/diff.out" | LC_ALL=C sort |
	      tr '\n' '|')
	want="Only in mnt/contents/0000/rootfs.ext4/many: file-17.bin|Only in mnt2/contents/0000/rootfs.ext4/usr/lib: added.txt|diff -r --no-dereference mnt/contents/0000/rootfs.ext4/etc/mender/mender.conf mnt2/contents/0000/rootfs.ext4/etc/mender/mender.conf|"
	check "diff -r of two artifacts' contents/ names exactly the three files" \
		[ "$got" = "$want" ]
	others=$(grep -vE '^(diff |Only in |File .* is a (fifo|character special file) while file .* is a (fifo|character special file)$|[0-9,]+c[0-9,]+$|[<>-] |---$)' \
		 "$TEST_TMP/diff.out")
	check "diff -r says nothing else (got '$others')" [ -z "$others" ]
	[ "$got" = "$want" ] || note_file "$TEST_TMP/diff.out"
	unmount_artifact "$MNT2"
	unmount_artifact "$MNT"
fi

# ---- a damaged image --------------------------------------------------------
if mount_artifact "$FIXTURES/damaged.mender" "$MNT"; then
	C=$MNT/contents/0000/damaged.ext4
	# Every file reads whole or fails with EIO; nothing hangs.
	timeout 120 bash -c '
		find "$1" 2>/dev/null | while IFS= read -r f; do
			[ -f "$f" ] && ! [ -L "$f" ] || continue
			if cat "$f" >/dev/null 2>"$2"; then
				echo read
			elif grep -q "Input/output error" "$2"; then
				echo eio
			else
				echo "other: $f: $(cat "$2")"
			fi
		done' _ "$C" "$TEST_TMP/cat.err" >"$TEST_TMP/damaged.out"
	status=$?
	check "damaged: walking and reading everything ends within 120 s (status $status)" \
		[ "$status" -eq 0 ]
	others=$(grep -c '^other' "$TEST_TMP/damaged.out")
	check "damaged: every file reads or fails with EIO ($(sort "$TEST_TMP/damaged.out" | uniq -c | tr '\n' ' '))" \
		[ "$others" -eq 0 ]
	find "$C" >/dev/null 2>"$TEST_TMP/find.err"
	# A directory entry whose inode is garbage may say "directory" while
	# the inode says otherwise: ENOTDIR, as clean as EIO.
	others=$(grep -vE "Input/output error|Not a directory" "$TEST_TMP/find.err")
	check "damaged: find fails only with EIO, on $(wc -l <"$TEST_TMP/find.err") directories (others: '$others')" \
		[ -z "$others" ]
	got=$(cat "$C/owned" 2>&1)
	check "damaged: an undamaged file still reads (got '$got')" \
		[ "$got" = owned ]
	check "damaged: the daemon still serves the root" \
		[ -s "$MNT/manifest" ]
	unmount_artifact "$MNT"
fi

# ---- signing, and a change on disk, with contents/ in use -------------------
cp "$FIXTURES/ext4-gzip.mender" "$TEST_TMP/sign.mender"
if openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$TEST_TMP/key.pem" 2>/dev/null &&
   mount_artifact "$TEST_TMP/sign.mender" "$MNT" -o sign_key="$TEST_TMP/key.pem"; then
	C=$MNT/contents/0000/rootfs.ext4
	want=$(sha256sum <"$SRC/usr/lib/big.so")
	got=$(sha256sum <"$C/usr/lib/big.so")
	check "signing: contents/ reads before signing" [ "$want" = "$got" ]
	if echo sign >"$MNT/signature" 2>"$TEST_TMP/err"; then
		ok "signing: echo sign > signature"
	else
		fail "signing: echo sign > signature"
		note_file "$TEST_TMP/err"
	fi
	got=$(sha256sum <"$C/usr/lib/deep/er/still/leaf.txt")
	check "signing: contents/ reads the same after the rewrite" \
		[ "$(sha256sum <"$SRC/usr/lib/deep/er/still/leaf.txt")" = "$got" ]
	got=$(head -n 1 "$MNT/.verify")
	check "signing: .verify judges the signed artifact (got '$got')" \
		[ "$got" = "status: verified" ]
	unmount_artifact "$MNT"
fi

cp "$FIXTURES/ext4-gzip.mender" "$TEST_TMP/change.mender"
if mount_artifact "$TEST_TMP/change.mender" "$MNT"; then
	C=$MNT/contents/0000/rootfs.ext4
	exec 3<"$C/etc/mender/mender.conf"
	# In place, behind the mount: another release under the same name.
	cat "$FIXTURES/ext4-b.mender" >"$TEST_TMP/change.mender"
	ls "$MNT" >/dev/null
	if cat <&3 >/dev/null 2>"$TEST_TMP/err"; then
		fail "change on disk: a contents/ file opened before reads on"
	elif grep -q 'Input/output error' "$TEST_TMP/err"; then
		ok "change on disk: a contents/ file opened before reads EIO"
	else
		fail "change on disk: a contents/ file opened before fails, but not with EIO"
		note_file "$TEST_TMP/err"
	fi
	exec 3<&-
	got=$(grep ServerURL "$C/etc/mender/mender.conf" 2>&1)
	check "change on disk: contents/ shows the new artifact (got '$got')" \
		[ "$got" = '  "ServerURL": "https://example.com"' ]
	check "change on disk: the file removed in the new release is gone" \
		[ ! -e "$C/many/file-17.bin" ]
	unmount_artifact "$MNT"
fi

loop_unref
finish
