#!/usr/bin/env bash
# Signing when things go wrong: a disk too full for the rewrite, and the
# daemon killed (SIGKILL) in the middle of rewriting a 400 MB artifact.  In
# both the original artifact must stay byte-identical, and no temporary file
# may be left beside it.
#
#   test_sign_crash.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_sign_artifacts.sh.  The
# full-disk cases mount a small tmpfs, so they need root; without it they
# are skipped (and said so).

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

skip_unless_fuse
for tool in mender-artifact openssl tar sha256sum; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool not found; skipping"
		FINISHED=1
		exit 77
	fi
done

K=$FIXTURES/keys
MNT=$TEST_TMP/mnt
DISK=$TEST_TMP/disk
mkdir -p "$MNT" "$DISK"

# The tmpfs is unmounted before lib.sh's cleanup, which will not remove a
# directory that has something mounted under it.
release_disk() {
	if mountpoint -q "$DISK"; then
		umount "$DISK" || umount -l "$DISK"
	fi
}
crash_status=0
trap 'crash_status=$?; release_disk; (exit $crash_status); on_exit' EXIT

sha256_of() {
	sha256sum <"$1" | cut -d' ' -f1
}

# names DIR: the names in DIR, dot files too, on one line.
names() {
	find "$1" -mindepth 1 -maxdepth 1 -printf '%f ' | sed 's/ $//'
}

# temp_files DIR NAME: what a rewrite of DIR/NAME may leave behind.
temp_files() {
	find "$1" -mindepth 1 -maxdepth 1 -name ".$2.menderfs-*" -printf '%f '
}

# errno_write TEXT: write TEXT to MNT/signature in one write(2) after an
# open as a redirection does it; prints OK or the errno name.
errno_write() {
	python3 - "$MNT/signature" "$1" <<'EOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
try:
    os.write(fd, sys.argv[2].encode())
    result = "OK"
except OSError as e:
    result = errno.errorcode.get(e.errno, str(e.errno))
try:
    os.close(fd)
except OSError:
    pass
print(result)
EOF
}

# used_kib DIR: kibibytes used on DIR's file system.
used_kib() {
	df -k --output=used "$1" | tail -n 1 | tr -d ' '
}

# validate [-k PUB] ART: mender-artifact validate, output in validate.out.
validate() {
	timeout -k 5 300 mender-artifact validate "$@" >"$TEST_TMP/validate.out" 2>&1
}

# ---- a full disk ----------------------------------------------------------------

test_full_disk() {
	local label="full disk" art sha got used want=$FIXTURES/src/disk.bin
	if ! mount -t tmpfs -o size=5m,mode=0755 tmpfs "$DISK" 2>"$TEST_TMP/mount.err"; then
		echo "skipping the full-disk cases: cannot mount a tmpfs ($(cat "$TEST_TMP/mount.err"))"
		return
	fi
	# 3 MiB of incompressible payload, --compression none: the artifact
	# fits on the 5 MiB tmpfs once, not twice.
	art=$DISK/disk.mender
	cp "$FIXTURES/big/disk.mender" "$art"
	sha=$(sha256_of "$art")
	used=$(used_kib "$DISK")
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" -o "verify_key=$(pub rsa2048)" || {
		release_disk
		return
	}
	if echo sign >"$MNT/signature" 2>"$TEST_TMP/write.err"; then
		fail "$label: echo sign > signature succeeded on a full disk"
	elif grep -qF "Input/output error" "$TEST_TMP/write.err"; then
		ok "$label: echo sign fails: $(head -n 1 "$TEST_TMP/write.err")"
	else
		fail "$label: echo sign fails, but not with EIO"
		note_file "$TEST_TMP/write.err"
	fi
	got=$(errno_write sign)
	check "$label: write(2) of 'sign' gives $got (want EIO)" [ "$got" = EIO ]
	check "$label: the artifact is byte-identical" [ "$(sha256_of "$art")" = "$sha" ]
	check "$label: nothing but the artifact in its directory ($(names "$DISK"))" \
		[ "$(names "$DISK")" = disk.mender ]
	check "$label: the space is given back ($(used_kib "$DISK") KiB used, $used before)" \
		[ "$(used_kib "$DISK")" = "$used" ]
	check "$label: still mounted" mountpoint -q "$MNT"
	check "$label: the payload reads back byte-identical" cmp -s "$MNT/data/0000/disk.bin" "$want"
	check "$label: signature is still empty" [ -z "$(cat "$MNT/signature")" ]
	check "$label: .verify still says unsigned" \
		[ "$(head -n 1 "$MNT/.verify")" = "status: unsigned" ]

	# With room, the same mount signs.
	if mount -o remount,size=16m "$DISK"; then
		if echo sign >"$MNT/signature" 2>"$TEST_TMP/write.err"; then
			ok "$label: with room again, echo sign exits 0"
		else
			fail "$label: with room again, echo sign fails"
			note_file "$TEST_TMP/write.err"
		fi
		check "$label: .verify says verified" \
			[ "$(head -n 1 "$MNT/.verify")" = "status: verified" ]
		sha=$(sha256_of "$art")
		# Back to too small for a copy: removing the signature fails at
		# release, where close(2) has long returned; the artifact
		# must stay signed and whole.
		if mount -o remount,size=5m "$DISK"; then
			: >"$MNT/signature"
			check "$label: removal on a full disk: the artifact is byte-identical" \
				[ "$(sha256_of "$art")" = "$sha" ]
			check "$label: removal on a full disk: .verify still says verified" \
				[ "$(head -n 1 "$MNT/.verify")" = "status: verified" ]
			check "$label: removal on a full disk: signature still shown" \
				[ -n "$(cat "$MNT/signature")" ]
			check "$label: removal on a full disk: nothing but the artifact ($(names "$DISK"))" \
				[ "$(names "$DISK")" = disk.mender ]
		else
			fail "$label: cannot shrink the tmpfs back to 5 MiB"
		fi
	else
		fail "$label: cannot grow the tmpfs"
	fi
	unmount_artifact "$MNT"
	if validate -k "$(pub rsa2048)" "$art"; then
		ok "$label: signed in the end: mender-artifact validate -k rsa2048.pub.pem passes"
	else
		fail "$label: mender-artifact validate -k rsa2048.pub.pem fails"
		note_file "$TEST_TMP/validate.out"
	fi
	release_disk

	# sign_output on a file system without room for it.
	label="full disk, sign_output"
	if ! mount -t tmpfs -o size=2m,mode=0755 tmpfs "$DISK"; then
		fail "$label: cannot mount a tmpfs"
		return
	fi
	art=$TEST_TMP/disk.mender
	cp "$FIXTURES/big/disk.mender" "$art"
	sha=$(sha256_of "$art")
	if mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" -o "sign_output=$DISK/out.mender"; then
		got=$(errno_write sign)
		check "$label: write(2) of 'sign' gives $got (want EIO)" [ "$got" = EIO ]
		check "$label: the artifact is byte-identical" [ "$(sha256_of "$art")" = "$sha" ]
		check "$label: no output and no temporary file ($(names "$DISK"))" \
			[ -z "$(names "$DISK")" ]
		check "$label: the space is given back" [ "$(used_kib "$DISK")" = 0 ]
		check "$label: the payload reads back byte-identical" \
			cmp -s "$MNT/data/0000/disk.bin" "$want"
		check "$label: signature is still empty" [ -z "$(cat "$MNT/signature")" ]
		unmount_artifact "$MNT"
	fi
	release_disk
}

pub() {
	printf '%s/%s.pub.pem\n' "$K" "$1"
}

# ---- the daemon killed during the rewrite --------------------------------------------

# rewriting PID DIR NAME: what shows that PID is writing a new DIR/NAME: an
# open file in DIR other than NAME (an O_TMPFILE shows as "DIR/#INODE
# (deleted)"), or a file .NAME.menderfs-* in DIR.
rewriting() {
	local fd link
	for fd in /proc/"$1"/fd/*; do
		link=$(readlink "$fd" 2>/dev/null) || continue
		case $link in
		"$2/$3") ;;
		"$2"/*)
			printf 'open file %s\n' "${link#"$2"/}"
			return 0
			;;
		esac
	done
	[ -n "$(temp_files "$2" "$3")" ] && {
		printf 'temporary file %s\n' "$(temp_files "$2" "$3")"
		return 0
	}
	return 1
}

# write_bytes PID: bytes PID has caused to be written (/proc/PID/io).
write_bytes() {
	awk '$1 == "write_bytes:" { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0
}

# kill_during_rewrite WHEN: start "echo sign" on a copy of the 400 MB
# artifact and kill -9 the daemon when WHEN: "early" as soon as the new
# file appears, "late" once it has been written in full (the sync and the
# rename are what is left).
kill_during_rewrite() {
	local when=$1 label="kill -9 ($1)" dir art sha pid echo_pid t0 seen='' size
	local base_bytes target echo_rc left status
	dir=$TEST_TMP/crash-$when
	mkdir -p "$dir"
	art=$dir/crash.mender
	cp --reflink=auto "$FIXTURES/big/crash.mender" "$art"
	sha=$(cat "$FIXTURES/big/crash.mender.sha256")
	size=$(stat -c %s "$art")
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	pid=$(daemon_pid "$MNT")
	base_bytes=$(write_bytes "$pid")
	target=$((base_bytes + size))

	t0=$EPOCHREALTIME
	(echo sign >"$MNT/signature") 2>"$TEST_TMP/write.err" &
	echo_pid=$!
	# Poll for up to ~20 s.
	for ((i = 0; i < 4000; i++)); do
		if [ "$when" = early ]; then
			seen=$(rewriting "$pid" "$dir" crash.mender) && break
		elif [ "$(write_bytes "$pid")" -ge "$target" ]; then
			seen="$(($(write_bytes "$pid") - base_bytes)) bytes written"
			break
		fi
		kill -0 "$echo_pid" 2>/dev/null || break
		sleep 0.005
	done
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	status=$?
	unset 'DAEMON_PID[$MNT]' 'DAEMON_LOG[$MNT]'
	note "killed after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }') s; saw: ${seen:-nothing}"
	wait "$echo_pid"
	echo_rc=$?
	fusermount3 -u -z "$MNT" 2>/dev/null

	check "$label: the daemon died of SIGKILL (status $status)" [ "$status" = 137 ]
	if [ -z "$seen" ]; then
		fail "$label: no rewrite seen before the kill (echo exited $echo_rc)"
	elif [ "$echo_rc" -eq 0 ]; then
		fail "$label: echo sign had already succeeded: the kill came too late"
	else
		ok "$label: killed during the rewrite ($seen); echo fails: $(head -n 1 "$TEST_TMP/write.err")"
	fi
	local unchanged=no
	if [ "$(sha256_of "$art")" = "$sha" ]; then
		unchanged=yes
		ok "$label: the artifact is byte-identical (sha256)"
	elif [ "$when" = late ] && [ "$(tar -tf "$art" | tr '\n' ' ')" = \
		"version manifest manifest.sig header.tar data/0000.tar " ] &&
		validate -k "$(pub rsa2048)" "$art"; then
		# The kill came after the rename (a fast sync): the rewrite had
		# completed, only the reply was lost.  Still atomic.
		ok "$label: the kill came after the rename: the artifact is the whole signed one"
	else
		fail "$label: the artifact changed"
		tar -tf "$art" >"$TEST_TMP/members" 2>&1
		note "it now holds: $(tr '\n' ' ' <"$TEST_TMP/members")"
	fi
	# Where O_TMPFILE works nothing is left; elsewhere a named temporary
	# file may be, for the next start to remove (checked below).
	left=$(names "$dir")
	[ "$left" = crash.mender ] || note "left beside the artifact after the kill: $left"

	# What a crash between naming the new file and renaming it would leave
	# (and an unrelated file that must stay): the next start cleans up.
	echo "an interrupted rewrite" >"$dir/.crash.mender.menderfs-Ab12Cd"
	echo "not ours" >"$dir/crash.mender.notes"
	if mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem"; then
		check "$label: mounted again: no .crash.mender.menderfs-* beside it ($(names "$dir"))" \
			[ -z "$(temp_files "$dir" crash.mender)" ]
		check "$label: mounted again: other files are left alone" [ -e "$dir/crash.mender.notes" ]
		if [ "$unchanged" = yes ]; then
			check "$label: mounted again: signature is empty" [ -z "$(cat "$MNT/signature")" ]
		fi
		check "$label: mounted again: the payload has its size" \
			[ "$(stat -c %s "$MNT/data/0000/crash.bin" 2>/dev/null)" = 400000000 ]
		unmount_artifact "$MNT"
	fi
	rm -rf "$dir"
}

SECTION_START=
section() {
	[ -n "$SECTION_START" ] && echo "    ($((SECONDS - SECTION_START)) s)"
	SECTION_START=$SECONDS
	[ $# -gt 0 ] && echo "--- $1"
	return 0
}

section "full disk"
test_full_disk
section "kill -9 during the rewrite of a 400 MB artifact"
kill_during_rewrite early
kill_during_rewrite late
section

release_disk
finish
