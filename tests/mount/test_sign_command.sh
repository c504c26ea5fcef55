#!/usr/bin/env bash
# Signing through -o sign_command=PATH: programs that sign the digest in
# their environment (RSA, raw bytes; ECDSA, DER in base64) or the manifest
# on their standard input, and ones that fail, hang or sign with another
# key.  What was signed is checked with mender-artifact validate -k and
# .verify; what was refused leaves the artifact byte for byte as it was.
#
#   test_sign_command.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_sign_artifacts.sh; the
# programs are in tests/mount/sign_commands/.

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
CMDS=$HERE/sign_commands

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

skip_unless_fuse
for tool in mender-artifact openssl sha256sum base64; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool not found; skipping"
		FINISHED=1
		exit 77
	fi
done

K=$FIXTURES/keys
MNT=$TEST_TMP/mnt
WORK=$TEST_TMP/work
mkdir -p "$MNT" "$WORK"
# The time-out, shortened for the hanging program (the default is 60 s).
TIMEOUT_S=3

sha256_of() {
	sha256sum <"$1" | cut -d' ' -f1
}

# fresh NAME: a private copy of the unsigned gzip artifact.
fresh() {
	cp "$FIXTURES/unsigned/gzip.mender" "$WORK/$1"
	printf '%s\n' "$WORK/$1"
}

first_line() {
	head -n 1 "$1" 2>/dev/null || echo "(unreadable)"
}

# sign_ok LABEL KEY PUB CMD SIGBYTES: mounting with CMD (signing with KEY),
# `echo sign` succeeds, the tree shows it, mender-artifact validate -k PUB
# accepts the file, and manifest.sig holds SIGBYTES bytes (64 for ECDSA:
# the DER the program gave stored as r||s).
sign_ok() {
	local label=$1 key=$2 pub=$3 cmd=$4 bytes=$5 art got
	art=$(fresh "$label.mender")
	export MENDERFS_TEST_KEY=$key
	mount_artifact "$art" "$MNT" -o verify_key="$pub" \
		-o sign_command="$cmd" || return
	if (echo sign >"$MNT/signature") 2>"$TEST_TMP/echo.err"; then
		ok "$label: echo sign succeeds"
	else
		fail "$label: echo sign failed: $(cat "$TEST_TMP/echo.err")"
		note_file "${DAEMON_LOG[$MNT]}"
	fi
	got=$(first_line "$MNT/.verify")
	check "$label: .verify says verified (got '$got')" \
		test "$got" = "status: verified"
	got=$(base64 -d <"$MNT/manifest.sig" 2>/dev/null | wc -c)
	check "$label: manifest.sig holds $bytes bytes (got $got)" \
		test "$got" -eq "$bytes"
	unmount_artifact "$MNT"
	if timeout -k 5 120 mender-artifact validate -k "$pub" "$art" \
		>"$TEST_TMP/validate.out" 2>&1; then
		ok "$label: mender-artifact validate -k accepts it"
	else
		fail "$label: mender-artifact validate -k refuses it"
		note_file "$TEST_TMP/validate.out"
	fi
}

# ---- signing that works --------------------------------------------------------

sign_ok rsa-digest "$K/rsa2048.pem" "$K/rsa2048.pub.pem" "$CMDS/rsa-digest.sh" 256
sign_ok ec-digest-der "$K/ec256.pem" "$K/ec256.pub.pem" "$CMDS/ec-digest-der.sh" 64
sign_ok rsa-stdin "$K/rsa3072.pem" "$K/rsa3072.pub.pem" "$CMDS/rsa-stdin.sh" 384

# A relative path is taken from the directory menderfs was started in,
# and still works once the daemon has moved to /.
art=$(fresh relative.mender)
export MENDERFS_TEST_KEY=$K/rsa2048.pem
cd "$CMDS" || exit 1
mount_artifact "$art" "$MNT" -o verify_key="$K/rsa2048.pub.pem" \
	-o sign_command=./rsa-digest.sh
cd - >/dev/null || exit 1
if mountpoint -q "$MNT"; then
	check "relative sign_command: echo sign succeeds" \
		sh -c "echo sign >'$MNT/signature'"
	unmount_artifact "$MNT"
fi

# ---- signing that must fail, leaving the artifact as it was --------------------

export MENDERFS_SIGN_COMMAND_TIMEOUT=$TIMEOUT_S
export MENDERFS_TEST_PIDFILE=$TEST_TMP/hang.pids

# refused LABEL CMD KEY WANT_LOG: with CMD signing with KEY and rsa2048's
# public key to verify, echo sign fails with EIO within the time-out and
# a margin, the daemon's log holds WANT_LOG, .verify still says unsigned
# and the artifact is byte for byte as it was.
refused() {
	local label=$1 cmd=$2 key=$3 want=$4 art before after start took got
	art=$(fresh "$label.mender")
	before=$(sha256_of "$art")
	export MENDERFS_TEST_KEY=$key
	mount_artifact "$art" "$MNT" -o verify_key="$K/rsa2048.pub.pem" \
		-o sign_command="$cmd" || return
	start=$(date +%s)
	if (echo sign >"$MNT/signature") 2>"$TEST_TMP/echo.err"; then
		fail "$label: echo sign succeeded"
	elif grep -q 'Input/output error' "$TEST_TMP/echo.err"; then
		ok "$label: echo sign fails with EIO"
	else
		fail "$label: echo sign failed otherwise: $(cat "$TEST_TMP/echo.err")"
	fi
	took=$(($(date +%s) - start))
	check "$label: the failure came within $((TIMEOUT_S + 5)) s (took $took s)" \
		test "$took" -le $((TIMEOUT_S + 5))
	if grep -qF -- "$want" "${DAEMON_LOG[$MNT]}"; then
		ok "$label: the daemon's log says '$want'"
	else
		fail "$label: the daemon's log lacks '$want'"
		note_file "${DAEMON_LOG[$MNT]}"
	fi
	got=$(first_line "$MNT/.verify")
	check "$label: .verify still says unsigned (got '$got')" \
		test "$got" = "status: unsigned"
	check "$label: signature still empty" test ! -s "$MNT/signature"
	unmount_artifact "$MNT"
	after=$(sha256_of "$art")
	check "$label: the artifact is unchanged" test "$before" = "$after"
}

refused fail "$CMDS/fail.sh" "$K/rsa2048.pem" \
	"sign_command: signing server: permission denied for key release-2026"
refused other-key "$CMDS/rsa-digest.sh" "$K/other.pem" \
	"no configured key verifies"
rm -f "$MENDERFS_TEST_PIDFILE"
refused hang "$CMDS/hang.sh" "$K/rsa2048.pem" "timed out after $TIMEOUT_S s"
# The program (reaped by the daemon: not even a zombie) and the child it
# started (killed with its group; init reaps it) are gone.
read -r leader child <"$MENDERFS_TEST_PIDFILE" 2>/dev/null
left=
for ((i = 0; i < 40; i++)); do
	left=
	if [ -n "${leader:-}" ] && [ -e "/proc/$leader" ]; then
		left="$left $leader"
	fi
	if [ -n "${child:-}" ] && daemon_alive "$child"; then
		left="$left $child"
	fi
	[ -z "$left" ] && break
	sleep "$POLL"
done
check "hang: the program ran (pid file written)" test -s "$MENDERFS_TEST_PIDFILE"
check "hang: nothing it started is left (left:${left:- none})" test -z "$left"

# While the program hangs, the mount goes on serving readers.
art=$(fresh readers.mender)
mount_artifact "$art" "$MNT" -o verify_key="$K/rsa2048.pub.pem" \
	-o sign_command="$CMDS/hang.sh"
if mountpoint -q "$MNT"; then
	(echo sign >"$MNT/signature") 2>/dev/null &
	signer=$!
	# Readiness, not a sleep: the program has written its pid file.
	rm -f "$MENDERFS_TEST_PIDFILE"
	for ((i = 0; i < 200; i++)); do
		[ -s "$MENDERFS_TEST_PIDFILE" ] && break
		sleep 0.05
	done
	# A clean descriptor set: neither /dev/fuse nor the artifact.
	read -r leader child <"$MENDERFS_TEST_PIDFILE"
	held=$(ls -l "/proc/$leader/fd/" 2>&1 | grep -E 'fuse|\.mender')
	check "the program holds none of the daemon's files (${held:-none})" \
		test -z "$held"
	start=$(date +%s%N)
	got=$(timeout 10 head -n 1 "$MNT/.verify")
	timeout 10 cat "$MNT/manifest" "$MNT/signature" >/dev/null
	rc=$?
	took=$((($(date +%s%N) - start) / 1000000))
	check "readers during a hanging sign_command are served (${took} ms)" \
		test "$rc" -eq 0 -a "$got" = "status: unsigned" -a "$took" -lt 2000
	wait "$signer"
	unmount_artifact "$MNT"
fi
unset MENDERFS_SIGN_COMMAND_TIMEOUT MENDERFS_TEST_PIDFILE

# ---- start-up checks -------------------------------------------------------------

# startup_refused LABEL WANT OPTION...: menderfs exits 1 before mounting,
# with one line on stderr holding WANT.
startup_refused() {
	local label=$1 want=$2 lines
	shift 2
	art=$(fresh startup.mender)
	try_mount "$art" "$MNT" "$@"
	lines=$(grep -vc '^$' "$MOUNT_LOG")
	if [ "$MOUNT_STATUS" = 1 ] && [ "$lines" -eq 1 ] &&
		grep -qF -- "$want" "$MOUNT_LOG"; then
		ok "$label: refused at start-up: $(cat "$MOUNT_LOG")"
	else
		fail "$label: status $MOUNT_STATUS, $lines lines, want exit 1 and '$want'"
		note_file "$MOUNT_LOG"
		if mountpoint -q "$MNT"; then
			unmount_artifact "$MNT"
		fi
	fi
}

printf '#!/bin/sh\nexit 0\n' >"$WORK/not-executable.sh"
chmod 0644 "$WORK/not-executable.sh"
startup_refused missing "sign_command $WORK/no-such-program: cannot run it: No such file or directory" \
	-o verify_key="$K/rsa2048.pub.pem" -o sign_command="$WORK/no-such-program"
startup_refused not-executable "cannot execute it: Permission denied" \
	-o verify_key="$K/rsa2048.pub.pem" -o sign_command="$WORK/not-executable.sh"
startup_refused directory "not a regular file" \
	-o verify_key="$K/rsa2048.pub.pem" -o sign_command="$WORK"
startup_refused with-sign_key "sign_key and sign_command exclude each other" \
	-o sign_key="$K/rsa2048.pem" -o sign_command="$CMDS/rsa-digest.sh"
startup_refused no-verify-key "sign_command needs a key to check what it returns" \
	-o sign_command="$CMDS/rsa-digest.sh"

finish
