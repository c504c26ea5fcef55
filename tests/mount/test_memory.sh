#!/usr/bin/env bash
# Memory bounded by the number of files: payloads of a million zero-byte
# files (one, and four of them) and one of long names are mounted, their
# .verify read and the whole tree walked, and the daemon's peak resident
# size (VmHWM) must stay under 128 MiB, as SPEC's "What users measure"
# has it.  A million files is over the caps (131072 entries and 8 MiB of
# names in all payloads, menderfs(1)): the walk stops at a cap, shows what
# it found before it, and .verify says malformed and names the cap.
#
#   test_memory.sh MENDERFS FIXTURE_DIR [REFERENCE_MENDERFS]
#
# FIXTURE_DIR is the output of tests/fixtures/make_memory_artifacts.sh.
# A sanitizer build keeps shadow memory and quarantine that no user's
# daemon has, so the bound is for the daemon users run: when MENDERFS is
# a sanitizer build, REFERENCE_MENDERFS (a RelWithDebInfo build of the
# same tree) is the one measured, and MENDERFS runs the same walks for
# correctness (no sanitizer report, exit 0).

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR [REFERENCE_MENDERFS]" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")
REFERENCE=${3:+$(realpath "$3")}
HERE=$(cd "$(dirname "$0")" && pwd)

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

skip_unless_fuse

MNT=$TEST_TMP/mnt
mkdir -p "$MNT"
LIMIT_KIB=$((128 * 1024))
MAX_ENTRIES=131072
MAX_NAME_BYTES=$((8 * 1024 * 1024))

# hwm PID: the peak resident size of PID in KiB.
hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# walk ART LABEL FILES CAP MEASURE: mount ART, read .verify (which waits
# for the walk, so what is listed afterwards is whole), list data/0000,
# count the files under data/ (FILES are shown before the cap stopped the
# walk), find over the tree; when MEASURE is 1, hold the peak under
# LIMIT_KIB.  CAP is the text .verify names the cap by.
walk() {
	local art=$1 label=$2 files=$3 cap=$4 measure=$5 pid line count peak
	mount_artifact "$art" "$MNT" || return
	pid=$(daemon_pid "$MNT")
	line=$(head -n 1 "$MNT/.verify")
	check "$label: .verify says '$line' (want 'status: malformed')" \
		[ "$line" = "status: malformed" ]
	if grep -q "^reason: .*$cap" "$MNT/.verify"; then
		ok "$label: .verify's reason names the cap"
	else
		fail "$label: .verify's reason does not say '$cap'"
		note "$(grep -m 1 '^reason:' "$MNT/.verify")"
	fi
	count=$(ls -f "$MNT/data/0000" | wc -l)
	check "$label: data/0000 lists $count names" [ "$count" -gt 2 ]
	# The payload files that stat (the manifest also names a file in
	# payloads the walk never reached: listed, but not there).
	count=$(find "$MNT/data" -mindepth 2 -type f -size 0 2>/dev/null | wc -l)
	check "$label: $count files under data/ (want $files)" [ "$count" -eq "$files" ]
	count=$(find "$MNT" | wc -l)
	check "$label: find walks $count paths" [ "$count" -gt "$files" ]
	peak=$(hwm "$pid")
	if [ "$measure" -eq 1 ]; then
		if [ "$peak" -gt 0 ] && [ "$peak" -lt "$LIMIT_KIB" ]; then
			ok "$label: peak RSS $peak KiB, under $LIMIT_KIB KiB"
		else
			fail "$label: peak RSS $peak KiB, want under $LIMIT_KIB KiB"
		fi
	else
		echo "      ($label: peak RSS $peak KiB, not bounded: sanitizer build)"
	fi
	unmount_artifact "$MNT"
}

# every MEASURE: the three artifacts (the sanitizer build, for its
# reports, skips the first: the second walks the same payload further).
every() {
	[ "$1" -eq 1 ] &&
		walk "$FIXTURES/many-1.mender" "one payload of 10^6 files" \
			"$MAX_ENTRIES" "more than $MAX_ENTRIES entries" "$1"
	walk "$FIXTURES/many-4.mender" "four payloads of 10^6 files" \
		"$MAX_ENTRIES" "more than $MAX_ENTRIES entries" "$1"
	walk "$FIXTURES/long-1.mender" "131072 names of 80 bytes" \
		$((MAX_NAME_BYTES / 80)) "more than $MAX_NAME_BYTES bytes of names" "$1"
}

if [ -z "$REFERENCE" ]; then
	every 1
else
	every 0
	MENDERFS=$REFERENCE
	every 1
fi

finish
