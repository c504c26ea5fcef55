# shellcheck shell=bash
# Helpers for the menderfs mount tests.  Source it after setting MENDERFS to
# the daemon binary; call finish at the end.
#
# Every daemon runs in the foreground (-f) as a child of the test, so that the
# test can wait for it, require exit status 0 after unmounting, and read its
# stderr for sanitizer reports.  Readiness is polled (mountpoint + daemon
# alive), never assumed after a sleep.  An EXIT trap unmounts and kills
# whatever is left.

set -uo pipefail

PASSED=0
FAILED=0
FINISHED=0
declare -A DAEMON_PID=()
declare -A DAEMON_LOG=()
MOUNT_LOG=
MOUNT_STATUS=

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/menderfs-test.XXXXXX")
# Persistent indexes go to the test's own cache, not the user's.
export XDG_CACHE_HOME="$TEST_TMP/cache"

# Poll interval and bounds (in polls) for mounting and for exiting.
POLL=0.05
MOUNT_POLLS=200
EXIT_POLLS=400

ok() {
	PASSED=$((PASSED + 1))
	printf 'ok: %s\n' "$*"
}

fail() {
	FAILED=$((FAILED + 1))
	printf 'FAIL: %s\n' "$*"
}

# note TEXT: detail for the check just reported.
note() {
	printf '      %s\n' "$@"
}

# note_file FILE: show a file's contents (a daemon log, a diff) indented.
note_file() {
	if [ -s "$1" ]; then
		head -n 40 "$1" | sed 's/^/      | /'
	fi
}

# check DESC CMD...: ok when CMD succeeds, fail otherwise.
check() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		fail "$desc"
	fi
}

# skip_unless_fuse: exit 77 (ctest: skipped) when FUSE cannot be used here.
skip_unless_fuse() {
	local tool
	if [ ! -c /dev/fuse ]; then
		echo "no /dev/fuse; skipping"
		FINISHED=1
		exit 77
	fi
	for tool in fusermount3 mountpoint python3; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "$tool not found; skipping"
			FINISHED=1
			exit 77
		fi
	done
}

# daemon_alive PID: true while PID runs (a zombie counts as dead).
daemon_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# sanitizer_report LOG: true if LOG holds a sanitizer report.
sanitizer_report() {
	grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ERROR: ThreadSanitizer' "$1"
}

# try_mount ARTIFACT MNT [OPTION...]: start "menderfs -f OPTION... ARTIFACT MNT"
# and wait until it has mounted (return 0), exited (return 1, MOUNT_STATUS
# holds its exit status) or neither within ~10 s (return 2, daemon killed).
# MOUNT_LOG is the daemon's stderr in every case.
try_mount() {
	local art=$1 mnt=$2 pid i
	shift 2
	MOUNT_LOG=$(mktemp -p "$TEST_TMP" daemon.XXXXXX.log)
	MOUNT_STATUS=
	"$MENDERFS" -f "$@" "$art" "$mnt" 2>"$MOUNT_LOG" &
	pid=$!
	DAEMON_PID[$mnt]=$pid
	DAEMON_LOG[$mnt]=$MOUNT_LOG
	for ((i = 0; i < MOUNT_POLLS; i++)); do
		if ! daemon_alive "$pid"; then
			wait "$pid"
			MOUNT_STATUS=$?
			unset 'DAEMON_PID[$mnt]' 'DAEMON_LOG[$mnt]'
			# It may have died after mounting.
			if mountpoint -q "$mnt"; then
				fusermount3 -u -z "$mnt" 2>/dev/null
			fi
			return 1
		fi
		if mountpoint -q "$mnt" && daemon_alive "$pid"; then
			return 0
		fi
		sleep "$POLL"
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	MOUNT_STATUS=timeout
	unset 'DAEMON_PID[$mnt]' 'DAEMON_LOG[$mnt]'
	if mountpoint -q "$mnt"; then
		fusermount3 -u -z "$mnt" 2>/dev/null
	fi
	return 2
}

# mount_artifact ARTIFACT MNT [OPTION...]: mount, counting ok/fail.
mount_artifact() {
	local art=$1 mnt=$2 rc
	try_mount "$@"
	rc=$?
	case $rc in
	0)
		ok "mount $(basename "$art")"
		return 0
		;;
	1) fail "mount $(basename "$art"): daemon exited with status $MOUNT_STATUS before mounting" ;;
	*) fail "mount $(basename "$art"): not mounted after 10 s" ;;
	esac
	note "command: $MENDERFS -f ${*:3} $art $mnt"
	note_file "$MOUNT_LOG"
	return 1
}

# daemon_pid MNT: pid of the daemon serving MNT.
daemon_pid() {
	printf '%s\n' "${DAEMON_PID[$1]:-}"
}

# unmount_artifact MNT: fusermount3 -u, then require the daemon to exit 0
# with no sanitizer report on its stderr.  Counts one ok or fail.
unmount_artifact() {
	local mnt=$1 pid log status i problems=()
	pid=${DAEMON_PID[$mnt]:-}
	log=${DAEMON_LOG[$mnt]:-}
	if [ -z "$pid" ]; then
		fail "unmount $mnt: no daemon of ours serves it"
		return 1
	fi
	if ! fusermount3 -u "$mnt" 2>"$TEST_TMP/fusermount.err"; then
		problems+=("fusermount3 -u failed: $(cat "$TEST_TMP/fusermount.err")")
		fusermount3 -u -z "$mnt" 2>/dev/null
	fi
	for ((i = 0; i < EXIT_POLLS; i++)); do
		daemon_alive "$pid" || break
		sleep "$POLL"
	done
	if daemon_alive "$pid"; then
		problems+=("daemon still running 20 s after unmount; killed")
		kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid"
	status=$?
	unset 'DAEMON_PID[$mnt]' 'DAEMON_LOG[$mnt]'
	if [ "$status" -ne 0 ]; then
		problems+=("daemon exit status $status, expected 0")
	fi
	if sanitizer_report "$log"; then
		problems+=("sanitizer report in the daemon's stderr")
	fi
	if [ ${#problems[@]} -eq 0 ]; then
		ok "unmount $mnt, daemon exits 0"
		return 0
	fi
	fail "unmount $mnt"
	note "${problems[@]}"
	note_file "$log"
	return 1
}

# decompress NAME: decompress stdin to stdout according to NAME's suffix.
decompress() {
	case $1 in
	*.gz) gzip -dc ;;
	*.xz) xz -dc ;;
	*.zst) zstd -dc ;;
	*.tar) cat ;;
	*)
		echo "decompress: unknown suffix: $1" >&2
		return 1
		;;
	esac
}

cleanup() {
	local mnt pid left=0
	for mnt in "${!DAEMON_PID[@]}"; do
		pid=${DAEMON_PID[$mnt]}
		fusermount3 -u -z "$mnt" 2>/dev/null
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		unset 'DAEMON_PID[$mnt]'
	done
	# Never recurse into something still mounted.
	if findmnt -rn -o TARGET | grep -qF "$TEST_TMP"; then
		left=1
	fi
	if [ "$left" -eq 0 ]; then
		rm -rf "$TEST_TMP"
	else
		echo "left $TEST_TMP in place: something is still mounted under it" >&2
	fi
}

on_exit() {
	local status=$?
	cleanup
	if [ "$FINISHED" -eq 0 ]; then
		fail "test script ended early (status $status)"
		printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
		exit 1
	fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# finish: clean up, print the closing line, exit non-zero if anything failed.
finish() {
	cleanup
	FINISHED=1
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	if [ "$FAILED" -ne 0 ]; then
		exit 1
	fi
	exit 0
}
