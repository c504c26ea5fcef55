#!/usr/bin/env bash
# Hostile artifacts: every 512-byte truncation and a few hundred single-bit
# flips of a small signed artifact, unsafe names, links and devices in the
# payload, members out of order, trailing data, header compression bombs and
# tar size fields that lie.  Each one must either be refused at start-up
# (non-zero exit, one "menderfs: FILE: reason" line on stderr, nothing
# mounted) or mount with a non-"verified" .verify unless it truly verifies;
# and never crash, hang, leak, trip a sanitizer, show a link, a device or an
# unsafe name, or touch anything outside the mount.
#
#   test_hostile.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_hostile_artifacts.sh.
# Verdicts on the damaged copies of the signed artifact are cross-checked
# with "mender-artifact validate -k KEY".

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

skip_unless_fuse
if ! command -v mender-artifact >/dev/null 2>&1; then
	echo "mender-artifact not found; skipping"
	FINISHED=1
	exit 77
fi

KEY=$FIXTURES/keys/key.pub.pem

# The daemons run three directories deep inside a canary tree, and mount
# below it, so a name that escaped ("../evil", "../../../x") would land in
# the canary, which must not change.
CANARY=$TEST_TMP/canary
WORKDIR=$CANARY/a/b/cwd
MNT=$WORKDIR/mnt
mkdir -p "$MNT"
cd "$WORKDIR" || exit 1

PASSWD_SUM=$(sha256sum </etc/passwd 2>/dev/null)
PASSWD_SIZE=$(stat -c %s /etc/passwd 2>/dev/null || echo 0)

# outside_state: what an escape could change, as text: the canary tree
# (not crossing into the mount), the root directory, /etc/passwd.
outside_state() {
	(cd "$TEST_TMP" && find canary -xdev -printf '%y %p\n' | LC_ALL=C sort)
	ls -A /
	printf 'passwd %s\n' "$PASSWD_SUM"
}
OUTSIDE=$TEST_TMP/outside.expected
outside_state >"$OUTSIDE"

# ---- running one case ------------------------------------------------------------------
#
# run_case ARTIFACT [CHECK] -- [OPTION...]: mount ARTIFACT, read everything,
# read .verify, run CHECK (a function adding to PROBLEMS) while mounted,
# unmount.  Sets OUTCOME (refused, hung, or .verify's status word), REASON
# (the stderr line or .verify's reason), and PROBLEMS (what went wrong
# whatever the outcome).

OUTCOME=
REASON=
PROBLEMS=()
LOG=

# stop_daemon: what lib.sh's unmount_artifact does, reporting into PROBLEMS
# so that each case prints a single line.
stop_daemon() {
	local pid=${DAEMON_PID[$MNT]:-} i status
	if [ -z "$pid" ]; then
		PROBLEMS+=("no daemon of ours serves the mount")
		return
	fi
	if ! fusermount3 -u "$MNT" 2>"$TEST_TMP/fusermount.err"; then
		PROBLEMS+=("fusermount3 -u failed: $(cat "$TEST_TMP/fusermount.err")")
		fusermount3 -u -z "$MNT" 2>/dev/null
	fi
	for ((i = 0; i < EXIT_POLLS; i++)); do
		daemon_alive "$pid" || break
		sleep "$POLL"
	done
	if daemon_alive "$pid"; then
		PROBLEMS+=("daemon still running 20 s after unmount; killed")
		kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid"
	status=$?
	unset 'DAEMON_PID[$MNT]' 'DAEMON_LOG[$MNT]'
	[ "$status" -eq 0 ] || PROBLEMS+=("daemon exit status $status after unmount, want 0")
}

# read_everything: cat every file, bounded; EIO (a damaged member) and
# ENOENT (a listed file the tar lacks) are fair answers, nothing else is.
read_everything() {
	local rc others
	timeout -k 5 60 find "$MNT" -type f -exec cat {} + >/dev/null 2>"$TEST_TMP/read.err"
	rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		PROBLEMS+=("reading every file did not finish within 60 s")
	fi
	others=$(grep -v -e 'Input/output error$' -e 'No such file or directory$' \
		"$TEST_TMP/read.err" | head -n 3)
	[ -z "$others" ] || PROBLEMS+=("unexpected read errors: $others")
}

# safe_tree: only directories and regular files, and none holding
# /etc/passwd's bytes.
safe_tree() {
	local odd leaked
	odd=$(timeout -k 5 30 find "$MNT" ! -type f ! -type d -printf '%y %P\n' 2>/dev/null |
		head -n 3)
	[ -z "$odd" ] || PROBLEMS+=("the tree shows what is neither file nor directory: $odd")
	if [ "$PASSWD_SIZE" -gt 0 ]; then
		leaked=$(timeout -k 5 30 find "$MNT" -type f -size "${PASSWD_SIZE}c" \
			-exec cmp -s /etc/passwd {} \; -printf '%P\n' 2>/dev/null | head -n 3)
		[ -z "$leaked" ] || PROBLEMS+=("serves /etc/passwd's bytes: $leaked")
	fi
}

run_case() {
	local art=$1 check='' rc lines first verify=()
	shift
	if [ "${1:-}" != -- ]; then
		check=$1
		shift
	fi
	shift # --
	OUTCOME=
	REASON=
	PROBLEMS=()
	try_mount "$art" "$MNT" "$@"
	rc=$?
	LOG=$MOUNT_LOG
	case $rc in
	2)
		OUTCOME=hung
		PROBLEMS+=("neither mounted nor exited within 10 s")
		;;
	1)
		OUTCOME=refused
		lines=$(wc -l <"$LOG")
		first=$(head -n 1 "$LOG")
		REASON=$first
		[ "$MOUNT_STATUS" -ne 0 ] || PROBLEMS+=("exited 0 without mounting")
		[ "$MOUNT_STATUS" -lt 128 ] || PROBLEMS+=("killed by signal $((MOUNT_STATUS - 128))")
		[ "$lines" -eq 1 ] || PROBLEMS+=("$lines lines on stderr, want 1")
		[[ $first == "menderfs: $art: "?* ]] || PROBLEMS+=("stderr is not 'menderfs: $art: reason'")
		! mountpoint -q "$MNT" || PROBLEMS+=("something is mounted")
		;;
	0)
		read_everything
		daemon_alive "$(daemon_pid "$MNT")" ||
			PROBLEMS+=("the daemon died while its files were read")
		mapfile -t verify < <(timeout -k 5 60 head -n 2 "$MNT/.verify" 2>&1)
		if [[ ${verify[0]:-} =~ ^status:\ ([a-z-]+)$ ]]; then
			OUTCOME=${BASH_REMATCH[1]}
			REASON=${verify[1]#reason: }
			[ "$OUTCOME" != verified ] || REASON=
		else
			OUTCOME=unreadable
			PROBLEMS+=(".verify does not start with 'status: WORD': ${verify[*]}")
		fi
		safe_tree
		[ -z "$check" ] || "$check"
		stop_daemon
		;;
	esac
	! sanitizer_report "$LOG" || PROBLEMS+=("sanitizer report in the daemon's stderr")
	[ "$(outside_state)" = "$(cat "$OUTSIDE")" ] ||
		PROBLEMS+=("something changed outside the mount: $(outside_state | diff "$OUTSIDE" - | head -n 4)")
}

# judge LABEL ALLOWED...: one ok/FAIL line for the case just run; ALLOWED
# are the outcomes accepted (refused, malformed, verified, ...).
judge() {
	local label=$1 want allowed=0 IFS=' '
	shift
	for want; do
		[ "$OUTCOME" != "$want" ] || allowed=1
	done
	if [ "$allowed" -eq 1 ] && [ ${#PROBLEMS[@]} -eq 0 ]; then
		ok "$label: $OUTCOME${REASON:+ ($REASON)}"
		return 0
	fi
	if [ "$allowed" -eq 1 ]; then
		fail "$label: $OUTCOME${REASON:+ ($REASON)}, but:"
	else
		IFS='|'
		fail "$label: $OUTCOME${REASON:+ ($REASON)}; want $*"
	fi
	[ ${#PROBLEMS[@]} -eq 0 ] || note "${PROBLEMS[@]}"
	note_file "$LOG"
	return 1
}

# validates ARTIFACT: mender-artifact validate -k KEY accepts it.
validates() {
	mender-artifact validate -k "$KEY" "$1" >/dev/null 2>&1
}

# ---- truncation ------------------------------------------------------------------------------
#
# A cut that loses any member byte must be refused or mounted "malformed".
# A cut at or past the end of the last member's padding loses only the
# end-of-archive blocks: every member is whole, the signature and every
# checksum hold, and libarchive and Go's archive/tar (so mender-artifact
# validate and the Mender client) read such a tar to its end without
# complaint; GNU tar lists it with exit status 0 (warning only about a lone
# zero block).  It is not the truncation SPEC calls malformed: no byte the
# artifact is made of is missing, so it verifies, as validate says.
test_truncation() {
	local name length complete v
	while IFS=$'\t' read -r name length complete; do
		run_case "$FIXTURES/truncated/$name" -- -o "verify_key=$KEY"
		v=fails
		validates "$FIXTURES/truncated/$name" && v=passes
		if [ "$complete" = yes ] && [ "$v" = passes ]; then
			judge "cut at $length bytes (members whole, validate $v)" verified
		else
			judge "cut at $length bytes (validate $v)" refused malformed
		fi
	done <"$FIXTURES/truncated/index.tsv"
}

# ---- bit flips ------------------------------------------------------------------------------
#
# The fixture script says what each flip does to the bytes the manifest
# covers (index.tsv's EFFECT):
#   damaging    never "verified": the manifest, its signature, version or
#               header.tar.gz changed, or a payload no longer decompresses
#               to the same files
#   trailer     never "verified" either: only the payload's gzip CRC-32 or
#               ISIZE changed.  menderfs reads a gzip member to its end and
#               checks the trailer, so the member is corrupt ("malformed");
#               mender-artifact validate stops at the tar's end-of-archive
#               and never reads the trailer, so it passes.  Among the flips
#               this is the one disagreement, and menderfs is the stricter.
#   inert       the payload still decompresses to the same bytes (gzip MTIME,
#               OS, FTEXT, bits deflate skips): the same verdict as validate
#   structural  the outer tar's headers, padding or end blocks: the same
#               verdict as validate (a flip in a header breaks its checksum
#               for both readers; one in padding, or in the two bytes that
#               end the checksum field, changes nothing for either)
# And for all: "verified" only if validate passes, and otherwise a
# non-verified word that fits the damage, or a refusal.
test_flips() {
	local name off bit region effect v label
	local -A count=()
	while IFS=$'\t' read -r name off bit region effect; do
		run_case "$FIXTURES/flips/$name" -- -o "verify_key=$KEY"
		v=fails
		validates "$FIXTURES/flips/$name" && v=passes
		label="${name%.mender} (byte $off bit $bit, $region, $effect, validate $v)"
		count[$OUTCOME]=$((${count[$OUTCOME]:-0} + 1))
		case $effect/$v in
		damaging/* | trailer/* | */fails)
			judge "$label" refused malformed checksum-mismatch invalid-signature
			;;
		*/passes)
			judge "$label" verified
			;;
		esac
	done <"$FIXTURES/flips/index.tsv"
	echo "      outcomes: $(for o in "${!count[@]}"; do printf '%s %s, ' "$o" "${count[$o]}"; done)"
}

# ---- names ----------------------------------------------------------------------------------

# Paths a mount of these artifacts may show, besides payload files.
STANDARD='version|manifest|manifest\.sig|header\.tar\.gz|data|data/0000|data/0000\.tar\.gz'
STANDARD+='|header|header/header-info|header/headers|header/headers/0000'
STANDARD+='|header/headers/0000/(type-info|meta-data)|signature|\.verify'
STANDARD+='|contents|contents/0000'
PAYLOAD_FILES=

# only_expected_paths: every path in the mount is a standard one or
# data/0000/ followed by one of PAYLOAD_FILES (an ERE alternation).  (Passed
# by name to run_case, hence the directive.)
# shellcheck disable=SC2317
only_expected_paths() {
	local extra
	extra=$(timeout -k 5 30 find "$MNT" -mindepth 1 -printf '%P\n' |
		grep -vxE "($STANDARD)|data/0000/($PAYLOAD_FILES)" | head -n 5)
	[ -z "$extra" ] || PROBLEMS+=("unexpected paths: $(printf '%s ' "$extra" | cut -c1-300)")
	# Hiding the hostile names must not hide the safe ones too.
	[ -z "$PAYLOAD_FILES" ] || [ -n "$(timeout -k 5 30 find "$MNT/data/0000" -type f)" ] ||
		PROBLEMS+=("no payload file is shown")
}

# hostile_names ARTIFACT SAFE_FILES: malformed, and nothing but the
# standard paths and data/0000/SAFE_FILES shown.
hostile_names() {
	local shown=${2//\\/}
	PAYLOAD_FILES=$2
	run_case "$FIXTURES/names/$1.mender" only_expected_paths -- -o "verify_key=$KEY"
	judge "names: $1 (shows only data/0000/{${shown//|/,}})" malformed
}

test_names() {
	# Inside the payload tar; the manifest lists each name with its right
	# checksum, so the name is the only fault.
	hostile_names payload-dotdot 'good\.txt'
	hostile_names payload-absolute 'good\.txt'
	hostile_names payload-empty-name 'good\.txt'
	hostile_names payload-dot 'good\.txt'
	hostile_names payload-control-char 'good\.txt'
	hostile_names payload-path-max-gnu 'good\.txt'
	hostile_names payload-path-max-pax 'good\.txt'
	hostile_names payload-name-256-gnu 'good\.txt'
	hostile_names payload-name-300-pax 'good\.txt'
	# Two entries named same.txt: which one a tool extracts differs, so
	# neither is served (listed, but EIO; test_format.sh reads it).
	hostile_names payload-duplicate 'other\.txt|same\.txt'
	# A file "clash", then "clash/inner.txt": the first stays.
	hostile_names payload-file-then-dir 'clash'
	# Inside header.tar.gz.
	hostile_names header-unsafe 'good\.txt'
	hostile_names header-long 'good\.txt'
	# Outer members: after a sound artifact, or standing in for a
	# required member under a name that only looks right.
	hostile_names outer-dotdot 'good\.txt'
	hostile_names outer-absolute 'good\.txt'
	hostile_names outer-empty-name 'good\.txt'
	hostile_names outer-path-max 'good\.txt'
	hostile_names outer-name-300 'good\.txt'
	hostile_names outer-data-dotdot 'good\.txt'
	hostile_names outer-dot-manifest 'good\.txt'
	PAYLOAD_FILES=
	run_case "$FIXTURES/names/outer-data-via-dotdot.mender" only_expected_paths -- \
		-o "verify_key=$KEY"
	judge "names: outer-data-via-dotdot (no payload shown)" malformed
}

# ---- links, devices, FIFOs ------------------------------------------------------------------
#
# menderfs shows payload files and the directories their names imply,
# nothing else: a symbolic link, hard link, device or FIFO entry is not
# shown under any name (not even one the manifest lists), never followed,
# and reported as "malformed" ("data/0000/NAME is not a regular file").
# So no readlink, no device node, no /etc/passwd through the mount.

# link_not_shown: the special entry's name is neither listed nor found;
# good.txt reads back.
# shellcheck disable=SC2317
link_not_shown() {
	local name=$SPECIAL_NAME
	if find "$MNT/data/0000" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
		grep -qxF -e "$name"; then
		PROBLEMS+=("data/0000 lists $name")
	fi
	if [ -e "$MNT/data/0000/$name" ] || [ -L "$MNT/data/0000/$name" ]; then
		PROBLEMS+=("data/0000/$name is shown ($(stat -c '%F, %s bytes' "$MNT/data/0000/$name"))")
	fi
	cmp -s "$MNT/data/0000/good.txt" <(printf 'good\n') ||
		PROBLEMS+=("data/0000/good.txt does not read back")
}

special() {
	SPECIAL_NAME=$2
	run_case "$FIXTURES/special/$1.mender" link_not_shown -- -o "verify_key=$KEY"
	judge "special: $1 (data/0000/$2 not shown)" malformed
}

test_special() {
	special symlink-absolute passwd
	special symlink-relative up
	# The manifest lists the link with /etc/passwd's checksum.
	special symlink-listed passwd
	# Listed with the target's bytes (what tar -x would give).
	special hardlink link
	# Listed as empty (what a reader ignoring the link type would serve).
	special hardlink-outside link
	special chardev null
	special blockdev sda
	special fifo pipe
}

# ---- structure -------------------------------------------------------------------------------

# reads_cut_short: the payload file whose size field lies is not served
# as a whole file; the honest one is.
# shellcheck disable=SC2317
reads_cut_short() {
	cmp -s "$MNT/data/0000/other.txt" <(printf 'other\n') ||
		PROBLEMS+=("data/0000/other.txt does not read back")
	if timeout -k 5 30 cat "$MNT/data/0000/good.txt" >/dev/null 2>&1; then
		PROBLEMS+=("data/0000/good.txt reads whole, though its tar entry runs past the end")
	fi
}

structure() {
	local name=$1 check=''
	shift
	if [ "${1:-}" != -- ]; then
		check=$1
		shift
	fi
	shift
	if [ -n "$check" ]; then
		run_case "$FIXTURES/structure/$name.mender" "$check" -- -o "verify_key=$KEY"
	else
		run_case "$FIXTURES/structure/$name.mender" -- -o "verify_key=$KEY"
	fi
	judge "structure: $name" "$@"
}

test_structure() {
	structure manifest-before-version -- refused
	# The signed artifact's members reordered or dropped: signature and
	# checksums intact, only the structure wrong.
	structure data-before-header -- malformed
	structure signature-before-manifest -- malformed
	structure no-manifest -- malformed
	structure no-header -- malformed
	structure no-payload -- malformed
	# validate accepts data/0000.tar.gz twice (it reads one), and data
	# after the end-of-archive blocks (it stops there).  SPEC makes both
	# malformed: a second copy is ambiguous, and trailing bytes are
	# outside what the signature vouches for.
	structure payload-twice -- malformed
	structure trailing-garbage -- malformed
	structure trailing-tar -- malformed
	# Zero blocks after the end are a tar's own record padding (GNU tar
	# pads to 10 KiB): still verified, as validate says.
	if validates "$FIXTURES/structure/trailing-zeros.mender"; then
		structure trailing-zeros -- verified
	else
		fail "structure: trailing-zeros: mender-artifact validate rejects it"
	fi
	# Header bombs: a few KiB of gzip past the 16 MiB header limit.
	structure header-bomb-one-file -- malformed
	structure header-bomb-many-files -- malformed
	structure header-bomb-zeros -- malformed
	structure header-bomb-pax -- malformed
	structure header-bomb-longname -- malformed
	# Size fields larger than the file: an outer member ...
	structure outer-size-past-end -- malformed
	structure outer-size-octal-max -- malformed
	structure outer-size-base256 -- malformed
	# ... and a payload entry.
	structure payload-size-past-end reads_cut_short -- malformed
	structure payload-size-octal-max reads_cut_short -- malformed
}

SECONDS=0
echo "--- truncation at every 512-byte boundary"
test_truncation
echo "--- single-bit flips"
test_flips
echo "--- unsafe names"
test_names
echo "--- links, devices, FIFOs"
test_special
echo "--- structure"
test_structure
echo "--- took $SECONDS s"

finish
