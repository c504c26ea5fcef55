#!/usr/bin/env bash
# Command line, refusals, and damaged or hostile artifacts.
#
#   test_cli.sh MENDERFS FIXTURE_DIR
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

GOOD=$FIXTURES/good/rootfs-gzip.mender
MNT=$TEST_TMP/mnt
mkdir -p "$MNT"

# run_cli NAME ARG...: run menderfs synchronously (bounded), leaving
# $TEST_TMP/NAME.out, NAME.err and CLI_STATUS.
run_cli() {
	local name=$1
	shift
	timeout -k 5 20 "$MENDERFS" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err"
	CLI_STATUS=$?
}

# line_of PATTERN FILE: number of the first line matching PATTERN, or 0.
line_of() {
	local n
	n=$(grep -n -m1 -E -e "$1" "$2" | cut -d: -f1)
	echo "${n:-0}"
}

test_help() {
	local opt name n_ours n_fuse order missing=()
	for opt in --help -h; do
		name=help$opt
		run_cli "$name" "$opt"
		check "$opt exits 0 (got $CLI_STATUS)" [ "$CLI_STATUS" -eq 0 ]
		for name in verify_key mender_conf sign_key sign_output require_signature; do
			grep -q "$name" "$TEST_TMP/help$opt.out" || missing+=("$name")
		done
		if [ ${#missing[@]} -eq 0 ]; then
			ok "$opt lists menderfs's options on stdout"
		else
			fail "$opt stdout lacks: ${missing[*]}"
			note_file "$TEST_TMP/help$opt.out"
		fi
		n_ours=$(line_of 'verify_key' "$TEST_TMP/help$opt.out")
		n_fuse=$(line_of 'foreground' "$TEST_TMP/help$opt.out")
		order=0
		if [ "$n_ours" -gt 0 ] && [ "$n_fuse" -gt "$n_ours" ]; then
			order=1
		fi
		check "$opt prints libfuse's options after menderfs's (lines $n_ours, $n_fuse)" \
			[ "$order" -eq 1 ]
		check "$opt shows the usage line" grep -qiE 'usage:.*menderfs.*ARTIFACT.*MOUNTPOINT' \
			"$TEST_TMP/help$opt.out"
		check "$opt mounts nothing" not_mounted "$MNT"
		missing=()
	done
}

test_version() {
	local opt
	for opt in --version -V; do
		run_cli version "$opt"
		check "$opt exits 0 (got $CLI_STATUS)" [ "$CLI_STATUS" -eq 0 ]
		if grep -qE 'menderfs.*[0-9]+\.[0-9]+' "$TEST_TMP/version.out" &&
			grep -qi 'fuse' "$TEST_TMP/version.out"; then
			ok "$opt prints menderfs's and libfuse's versions"
		else
			fail "$opt output lacks 'menderfs X.Y' or the FUSE version"
			note_file "$TEST_TMP/version.out"
			note_file "$TEST_TMP/version.err"
		fi
		# Piped, as a user's `| head -1` sees it: ours first.
		check "$opt prints 'menderfs version X.Y.Z' on its first line" \
			grep -qE '^menderfs version [0-9]+\.[0-9]+' <(head -n 1 "$TEST_TMP/version.out")
	done
}

not_mounted() {
	! mountpoint -q "$1"
}

# usage_error DESC ARG...: exit 1, usage on stderr, nothing mounted.
usage_error() {
	local desc=$1
	shift
	run_cli usage "$@"
	if [ "$CLI_STATUS" -eq 1 ] && grep -qi 'usage' "$TEST_TMP/usage.err" && not_mounted "$MNT"; then
		ok "$desc: exit 1 with usage on stderr"
	else
		fail "$desc: want exit 1 and usage on stderr; got status $CLI_STATUS"
		note "command: menderfs $*"
		note_file "$TEST_TMP/usage.err"
	fi
}

# unknown_option DESC SHOWN ARG...: exit 1, nothing mounted, and stderr is
# the one line "menderfs: unknown option 'SHOWN' (menderfs --help lists
# them)" (it was libfuse's line and the two of the usage).
unknown_option() {
	local desc=$1 shown=$2 want
	shift 2
	want="menderfs: unknown option '$shown' (menderfs --help lists them)"
	run_cli usage "$@"
	if [ "$CLI_STATUS" -eq 1 ] && not_mounted "$MNT" &&
		[ "$(cat "$TEST_TMP/usage.err")" = "$want" ]; then
		ok "$desc: exit 1 with one line: $want"
	else
		fail "$desc: want exit 1 and the one line: $want; got status $CLI_STATUS"
		note "command: menderfs $*"
		note_file "$TEST_TMP/usage.err"
	fi
}

test_usage_errors() {
	usage_error "no arguments"
	usage_error "only the artifact" "$GOOD"
	unknown_option "unknown long option" --no-such-option --no-such-option "$GOOD" "$MNT"
	unknown_option "unknown short option" -Q -Q "$GOOD" "$MNT"
	unknown_option "unknown -o option" bogus -o bogus "$GOOD" "$MNT"
	unknown_option "unknown -o option quoting a PIN" 'pkcs11:pin-value=***' \
		-o pkcs11:pin-value=1234 "$GOOD" "$MNT"
	usage_error "three operands" "$GOOD" "$MNT" "$MNT"
}

# refused DESC ARTIFACT [OPTION...]: the daemon must exit non-zero before
# mounting, with exactly one stderr line "menderfs: ARTIFACT: reason".
refused() {
	refused_naming "$1" "$2" "$2" "${@:3}"
}

# refused_naming DESC FILE ARTIFACT [OPTION...]: likewise, the line naming FILE.
refused_naming() {
	local desc=$1 file=$2 art=$3 rc
	shift 3
	try_mount "$art" "$MNT" "$@"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "$desc: mounted, but must be refused"
		unmount_artifact "$MNT"
		return
	fi
	if [ "$rc" -eq 2 ]; then
		fail "$desc: neither mounted nor exited within 10 s"
		return
	fi
	expect_one_line "$desc" "$file"
}

# expect_one_line DESC FILE: after a refusal, check the status, the one
# "menderfs: FILE: reason" line, and that nothing is mounted.
expect_one_line() {
	local desc=$1 file=$2 lines first problems=()
	lines=$(wc -l <"$MOUNT_LOG")
	first=$(head -n 1 "$MOUNT_LOG")
	[ "$MOUNT_STATUS" -ne 0 ] || problems+=("exit status 0")
	[ "$lines" -eq 1 ] || problems+=("$lines lines on stderr, want 1")
	[[ $first == "menderfs: $file: "?* ]] || problems+=("no line 'menderfs: $file: reason'")
	not_mounted "$MNT" || problems+=("something is mounted")
	! sanitizer_report "$MOUNT_LOG" || problems+=("sanitizer report")
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$desc: refused (status $MOUNT_STATUS): $(head -n1 "$MOUNT_LOG")"
	else
		fail "$desc: refused, but: ${problems[*]}"
		note_file "$MOUNT_LOG"
	fi
}

test_refusals() {
	local art key
	refused "missing file" "$TEST_TMP/no-such.mender"
	mkdir -p "$TEST_TMP/a-directory.mender"
	refused "a directory" "$TEST_TMP/a-directory.mender"
	for art in "$FIXTURES"/bad/*.mender; do
		refused "$(basename "$art")" "$art"
	done
	# Keys and signature policy: refused at start-up too.
	refused_naming "verify_key that does not exist" "$TEST_TMP/no-such-key.pem" "$GOOD" \
		-o "verify_key=$TEST_TMP/no-such-key.pem"
	refused_naming "verify_key that is not a key" "$FIXTURES/src/meta.json" "$GOOD" \
		-o "verify_key=$FIXTURES/src/meta.json"
	refused_naming "verify_key of an unsupported type (Ed25519)" \
		"$FIXTURES/keys/ed25519.pub.pem" "$GOOD" -o "verify_key=$FIXTURES/keys/ed25519.pub.pem"
	# sign_key is read at start-up too, not at the first signing.
	for key in no-such-key.pem rsa.pub.pem ed25519.pem rsa1024.pem ec384.pem; do
		refused_naming "sign_key $key" "$FIXTURES/keys/$key" "$GOOD" \
			-o "sign_key=$FIXTURES/keys/$key"
	done
	refused "require_signature, unsigned artifact" "$GOOD" \
		-o require_signature -o "verify_key=$FIXTURES/keys/rsa.pub.pem"
	refused "require_signature, signed with another key" \
		"$FIXTURES/good/rootfs-lzma-signed.mender" \
		-o require_signature -o "verify_key=$FIXTURES/keys/other.pub.pem"
	if mount_artifact "$FIXTURES/good/rootfs-lzma-signed.mender" "$MNT" \
		-o require_signature -o "verify_key=$FIXTURES/keys/rsa.pub.pem"; then
		unmount_artifact "$MNT"
	fi
	# Not our format of message, but it must fail without mounting.
	try_mount "$GOOD" "$TEST_TMP/no-such-dir"
	case $? in
	0)
		fail "missing mountpoint: mounted?"
		unmount_artifact "$TEST_TMP/no-such-dir"
		;;
	1) check "missing mountpoint: non-zero exit (got $MOUNT_STATUS)" [ "$MOUNT_STATUS" -ne 0 ] ;;
	*) fail "missing mountpoint: neither failed nor mounted within 10 s" ;;
	esac
}

# -s keeps its libfuse meaning (one thread serves every request): the
# background pass, decoding ahead and .verify must not wait on a request
# thread that is busy waiting for them.
test_single_threaded() {
	local art=$FIXTURES/good/rootfs-lzma-signed.mender
	mount_artifact "$art" "$MNT" -s -o "verify_key=$FIXTURES/keys/rsa.pub.pem" ||
		return
	walk_reads "$MNT" "-s"
	check "-s: .verify says verified" \
		timeout 60 grep -qx "status: verified" "$MNT/.verify"
	unmount_artifact "$MNT"
}

# walk_reads MNT DESC: read every file under MNT, each bounded by a timeout;
# a read may fail, but not hang, and the daemon must survive.
walk_reads() {
	local mnt=$1 desc=$2 f rc hung=() errors=0 n=0 pid
	pid=$(daemon_pid "$mnt")
	while IFS= read -r -d '' f; do
		n=$((n + 1))
		timeout -k 5 20 cat "$f" >/dev/null 2>&1
		rc=$?
		case $rc in
		0) ;;
		124 | 137) hung+=("${f#"$mnt"/}") ;;
		*) errors=$((errors + 1)) ;;
		esac
	done < <(timeout -k 5 20 find "$mnt" -type f -print0)
	if [ ${#hung[@]} -eq 0 ]; then
		ok "$desc: $n files read, $errors with an error, none hung"
	else
		fail "$desc: reads hung: ${hung[*]}"
	fi
	check "$desc: the daemon is alive after reading everything" daemon_alive "$pid"
}

# expect_malformed MNT DESC: .verify must report the artifact malformed.
expect_malformed() {
	local got
	got=$(timeout -k 5 20 head -n 1 "$1/.verify" 2>&1)
	check "$2: .verify says 'status: malformed' (got '$got')" [ "$got" = "status: malformed" ]
}

# damaged DESC ARTIFACT [CHECK...]: refused with one clear line, or mounted
# and then: no read hangs, no crash, .verify says malformed, each CHECK MNT
# DESC passes, and unmount leaves exit status 0.
damaged() {
	local desc=$1 art=$2 rc c
	shift 2
	try_mount "$art" "$MNT"
	rc=$?
	case $rc in
	1)
		expect_one_line "$desc" "$art"
		return
		;;
	2)
		fail "$desc: neither mounted nor exited within 10 s"
		return
		;;
	esac
	ok "$desc: mounted"
	walk_reads "$MNT" "$desc"
	expect_malformed "$MNT" "$desc"
	for c in "$@"; do
		"$c" "$MNT" "$desc"
	done
	unmount_artifact "$MNT"
}

# no_unsafe_paths MNT DESC: nothing named after the hostile members, no ".."
# component and nothing that escaped through one.  (Passed by name to
# damaged(), hence the directive.)
# shellcheck disable=SC2317
no_unsafe_paths() {
	local mnt=$1 desc=$2 found p escaped=()
	found=$(cd "$mnt" && find . -mindepth 1 \( -name evil -o -name evil2 -o -name abs \
		-o -name '..' -o -name '*/*' \) -print)
	if [ -z "$found" ]; then
		ok "$desc: find shows no ../evil, /abs or evil2"
	else
		fail "$desc: unsafe entries exposed:"
		note "$found"
	fi
	for p in "$mnt/data/evil" "$mnt/evil" "$mnt/data/evil2" "$mnt/abs" "$mnt/data/0000/abs" \
		"$mnt/data/0000/../evil" "$mnt/data/0000/sub/../../evil2"; do
		if [ -e "$p" ]; then
			escaped+=("$p")
		fi
	done
	check "$desc: no lookup reaches evil, evil2 or abs ${escaped[*]}" [ ${#escaped[@]} -eq 0 ]
}

# no_duplicate_exposed MNT DESC: the duplicated payload name is not exposed.
# shellcheck disable=SC2317
no_duplicate_exposed() {
	check "$2: the duplicated name same.txt is not exposed" [ ! -e "$1/data/0000/same.txt" ]
}

# nothing_escaped: no file from the hostile payloads appeared outside.
nothing_escaped() {
	local p found=()
	for p in "$TEST_TMP/evil" "$TEST_TMP/evil2" "$TEST_TMP/abs" /evil /evil2 \
		"$(dirname "$FIXTURES")/evil" "$FIXTURES/evil" "$FIXTURES/odd/evil" "$PWD/evil"; do
		if [ -e "$p" ] && [ -z "${PREEXISTING[$p]:-}" ]; then
			found+=("$p")
		fi
	done
	if [ -e /abs ] && [ -z "${PREEXISTING[/abs]:-}" ]; then
		found+=(/abs)
	fi
	check "no evil, evil2 or abs file appeared outside the mount ${found[*]}" [ ${#found[@]} -eq 0 ]
}

test_damaged() {
	local art p
	declare -gA PREEXISTING=()
	for p in /evil /evil2 /abs "$(dirname "$FIXTURES")/evil" "$FIXTURES/evil" "$PWD/evil"; do
		if [ -e "$p" ]; then
			PREEXISTING[$p]=1
		fi
	done
	for art in "$FIXTURES"/odd/truncated-*.mender "$FIXTURES"/odd/duplicate-member.mender; do
		damaged "$(basename "$art")" "$art"
	done
	damaged unsafe-names.mender "$FIXTURES/odd/unsafe-names.mender" no_unsafe_paths
	damaged duplicate-payload.mender "$FIXTURES/odd/duplicate-payload.mender" \
		no_duplicate_exposed
	nothing_escaped
}

# "mount -t fuse.menderfs ARTIFACT MNT" runs "mount.fuse3 ARTIFACT MNT -t
# menderfs -o OPTS", which runs menderfs from PATH and lets it daemonize.
# mount(8) gives its helpers a fixed PATH, so call the helper as it would, with
# the build directory on PATH.  mount.fuse3 passes dev,suid unless the fstab
# line says otherwise; the mount must still be nosuid,nodev (SPEC).
test_mount_helper() {
	local helper pattern i gone=0
	pattern=$(printf 'menderfs %s %s' "$GOOD" "$MNT" | sed 's/[][\.*^$+?(){}|]/\\&/g')
	helper=$(command -v mount.fuse3 || echo /sbin/mount.fuse3)
	if [ ! -x "$helper" ]; then
		echo "mount.fuse3 not found; the mount helper path is not tested"
		return
	fi
	if ! PATH="$(dirname "$MENDERFS"):$PATH" timeout -k 5 20 \
		"$helper" "$GOOD" "$MNT" -t menderfs -o noauto,dev,suid >"$TEST_TMP/mount.out" 2>&1; then
		fail "mount.fuse3 ARTIFACT MNT -t menderfs -o noauto,dev,suid"
		note_file "$TEST_TMP/mount.out"
		fusermount3 -u -z "$MNT" 2>/dev/null
		return
	fi
	if mountpoint -q "$MNT" && cmp -s <(tar -xOf "$GOOD" version) "$MNT/version"; then
		ok "mount.fuse3 (mount -t fuse.menderfs) mounts the artifact"
	else
		fail "mount.fuse3 (mount -t fuse.menderfs): not mounted, or version differs"
	fi
	check "mount.fuse3: mount lists '$GOOD on $MNT type fuse.menderfs'" \
		grep -qF "$GOOD on $MNT type fuse.menderfs" <(mount)
	check "mount.fuse3 -o dev,suid: the mount is still nosuid,nodev" \
		grep -qE "on $MNT type fuse.menderfs \\(([^)]*,)?nosuid,nodev[,)]" <(mount)
	check "mount.fuse3: fusermount3 -u unmounts" fusermount3 -u "$MNT"
	for ((i = 0; i < EXIT_POLLS; i++)); do
		if ! pgrep -f "$pattern" >/dev/null; then
			gone=1
			break
		fi
		sleep "$POLL"
	done
	check "mount.fuse3: the daemon exits after unmount" [ "$gone" -eq 1 ]
	fusermount3 -u -z "$MNT" 2>/dev/null
}

# Daemonized, the log goes to syslog, which names the program itself: a line
# reads "menderfs[PID]: MESSAGE", not "menderfs[PID]: menderfs: MESSAGE\n".
# Where no syslog daemon listens (/dev/log absent, as in CI containers) the
# test listens there itself for the daemon's lifetime; it makes the daemon log
# by writing a signature that no key verifies.
test_syslog() {
	local listener ready=0 i sig
	if [ -e /dev/log ]; then
		echo "/dev/log exists (a syslog daemon listens): syslog lines not tested"
		return
	fi
	python3 - "$TEST_TMP/syslog.records" "$TEST_TMP/syslog.ready" <<'PY' &
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("/dev/log")
open(sys.argv[2], "w").close()
sock.settimeout(30)
try:
    with open(sys.argv[1], "wb") as out:
        while True:
            record = sock.recv(65536)
            if record == b"STOP":
                break
            out.write(repr(record).encode() + b"\n")
            out.flush()
except socket.timeout:
    pass
finally:
    os.unlink("/dev/log")
PY
	listener=$!
	for ((i = 0; i < MOUNT_POLLS; i++)); do
		[ -e "$TEST_TMP/syslog.ready" ] && { ready=1; break; }
		sleep "$POLL"
	done
	if [ "$ready" -ne 1 ]; then
		fail "syslog: could not listen on /dev/log"
		kill "$listener" 2>/dev/null
		return
	fi
	if ! timeout -k 5 20 "$MENDERFS" -o "verify_key=$FIXTURES/keys/rsa.pub.pem" \
		"$GOOD" "$MNT" 2>"$TEST_TMP/syslog-mount.err"; then
		fail "syslog: menderfs (daemonized) mounts"
		note_file "$TEST_TMP/syslog-mount.err"
	else
		sig=$(head -c 256 /dev/urandom | base64 -w0)
		printf '%s' "$sig" >"$MNT/signature" 2>/dev/null
		fusermount3 -u "$MNT"
	fi
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"STOP", "/dev/log")' 2>/dev/null
	wait "$listener"
	if grep -q 'menderfs\[[0-9]*\]: ' "$TEST_TMP/syslog.records"; then
		ok "syslog: the daemon logs as menderfs[PID]"
	else
		fail "syslog: no record from menderfs[PID]"
		note_file "$TEST_TMP/syslog.records"
	fi
	check "syslog: no record repeats the 'menderfs: ' prefix" \
		not_grep ']: menderfs: ' "$TEST_TMP/syslog.records"
	check "syslog: no record ends with a newline" \
		not_grep "\\\\n'$" "$TEST_TMP/syslog.records"
}

not_grep() {
	! grep -q -- "$1" "$2"
}

echo "--- help and version"
test_help
test_version
echo "--- usage errors"
test_usage_errors
echo "--- refusals"
test_refusals
test_single_threaded
echo "--- damaged and hostile artifacts"
test_damaged
echo "--- mount helper"
test_mount_helper
echo "--- syslog"
test_syslog

finish
