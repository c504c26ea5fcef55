#!/usr/bin/env bash
# The format rules the Mender client enforces, tested the way an attacker
# would break them: each artifact of make_format_artifacts.sh is signed
# correctly, every checksum right, and breaks one rule.  For each: the first
# line of .verify, the tree (a name twice in one tar serves EIO), the same
# verdict on a second mount (which loads the saved index), and
# -o require_signature refusing to mount.  Where mender-artifact validate
# decides otherwise, the report must say so on a "mender-artifact:" line.
#
#   test_format.sh MENDERFS FIXTURE_DIR

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

skip_unless_fuse

KEY=$FIXTURES/keys/key.pub.pem
MNT=$TEST_TMP/mnt
REPORT=$TEST_TMP/report
mkdir -p "$MNT"
declare -A VALIDATE=()
while IFS=$'\t' read -r f v; do
	VALIDATE[$f]=$v
done <"$FIXTURES/validate.tsv"

# report ART: with MNT mounted, .verify into $REPORT.
report() {
	if ! timeout -k 5 120 cat "$MNT/.verify" >"$REPORT" 2>"$TEST_TMP/read.err"; then
		fail "$1: reading .verify failed"
		note_file "$TEST_TMP/read.err"
		: >"$REPORT"
	fi
}

# expect_status LABEL WORD: the report's first line is "status: WORD".
expect_status() {
	local got
	got=$(head -n 1 "$REPORT")
	if [ "$got" = "status: $2" ]; then
		ok "$1: $got"
	else
		fail "$1: want 'status: $2', got '$got'"
		note_file "$REPORT"
	fi
}

# expect_line LABEL ERE: some line of the report matches ERE whole.
expect_line() {
	if grep -qxE -- "$2" "$REPORT"; then
		ok "$1: report has a line '$2'"
	else
		fail "$1: no report line matches '$2'"
		note_file "$REPORT"
	fi
}

# eio LABEL PATH: reading PATH fails with EIO.
eio() {
	local err
	if err=$(timeout -k 5 60 cat "$2" 2>&1 >/dev/null); then
		fail "$1: reading ${2#"$MNT"/} succeeded; want EIO"
	elif [[ $err == *"Input/output error"* ]]; then
		ok "$1: reading ${2#"$MNT"/} gives EIO"
	else
		fail "$1: reading ${2#"$MNT"/}: want EIO, got: $err"
	fi
}

# crosscheck LABEL FILE: a verdict other than verified where
# mender-artifact validate passes comes with a "mender-artifact:" line.
crosscheck() {
	local v=${VALIDATE[$2]:-} status
	status=$(head -n 1 "$REPORT")
	if [ "$v" = pass ] && [ "$status" != "status: verified" ]; then
		expect_line "$1 (mender-artifact validate passes it)" \
			'mender-artifact: accepts .+'
	fi
}

# refused LABEL ART [OPTION...]: -o require_signature refuses to mount ART,
# one line on stderr.
refused() {
	local rc
	try_mount "$2" "$MNT" -o "verify_key=$KEY" -o require_signature "${@:3}"
	rc=$?
	if [ "$rc" -eq 1 ] && [ "$MOUNT_STATUS" -ne 0 ] &&
		grep -qE 'refusing to mount: ' "$MOUNT_LOG"; then
		ok "$1: require_signature refuses: $(head -n 1 "$MOUNT_LOG" | cut -c1-160)"
	else
		[ "$rc" -eq 0 ] && unmount_artifact "$MNT" >/dev/null
		fail "$1: require_signature did not refuse (try_mount $rc, status ${MOUNT_STATUS:-})"
		note_file "$MOUNT_LOG"
	fi
}

# case_of FILE WORD [CHECK...]: mount FILE (relative to FIXTURES) with the
# key, want WORD, run each CHECK (a function name) while mounted; then the
# same on a second mount (the index saved by the first is loaded), then
# require_signature unless WORD is verified.
case_of() {
	local file=$1 word=$2 round c
	shift 2
	for round in first second; do
		ROUND=$round
		touch "$TEST_TMP/mounted"
		mount_artifact "$FIXTURES/$file" "$MNT" -o "verify_key=$KEY" || return
		report "$file"
		expect_status "$file ($round mount)" "$word"
		for c; do
			"$c" "$file ($round mount)"
		done
		crosscheck "$file ($round mount)" "$file"
		unmount_artifact "$MNT"
	done
	[ "$word" = verified ] || refused "$file" "$FIXTURES/$file"
}

# Checks run while mounted (called by name, hence the directive).
# shellcheck disable=SC2317
{
dup_eio() {
	eio "$1" "$MNT/data/0000/rootfs.ext4"
	expect_line "$1" 'structure: data/0000/rootfs\.ext4 appears twice.*'
	[ "$ROUND" = first ] && index_saved "$1"
}
# index_saved LABEL: the pass saves its index (the walk completed), so the
# second mount loads its entries from the file, not from the tar.
index_saved() {
	local i idx=$XDG_CACHE_HOME/menderfs
	for ((i = 0; i < 200; i++)); do
		if [ -n "$(find "$idx" -name '*.idx' -newer "$TEST_TMP/mounted" 2>/dev/null)" ]; then
			ok "$1: the pass saved the index the second mount loads"
			return
		fi
		sleep "$POLL"
	done
	fail "$1: no index saved within 10 s"
}
header_dup() {
	if timeout -k 5 60 cat "$MNT/header/headers/0000/meta-data" >/dev/null 2>&1; then
		fail "$1: header/headers/0000/meta-data is served"
	else
		ok "$1: header/headers/0000/meta-data is not served"
	fi
	expect_line "$1" 'mender-artifact: accepts .+'
}
good_served() {
	if [ "$(cat "$MNT/data/0000/rootfs.ext4" 2>/dev/null)" = "good rootfs" ]; then
		ok "$1: rootfs.ext4 serves the signed bytes"
	else
		fail "$1: rootfs.ext4 does not serve the signed bytes"
	fi
}
unsigned_lines() {
	expect_line "$1" 'unsigned: manifest-augment'
	expect_line "$1" 'unsigned: header-augment\.tar\.gz'
	expect_line "$1" 'unsigned: data/0000/added\.bin'
}
}

test_control() {
	case_of good.mender verified good_served
	# mender-artifact validate agrees.
	check "good.mender: mender-artifact validate passes" [ "${VALIDATE[good.mender]}" = pass ]
	if try_mount "$FIXTURES/good.mender" "$MNT" -o "verify_key=$KEY" -o require_signature; then
		ok "good.mender: require_signature mounts"
		unmount_artifact "$MNT"
	else
		fail "good.mender: require_signature refuses"
		note_file "$MOUNT_LOG"
	fi
}

test_duplicates() {
	local f
	for f in tampered-first good-first three dot-slash pax-path gnu-longname; do
		case_of "dup/$f.mender" malformed dup_eio
	done
	case_of dup/header.mender malformed header_dup

	# The copies lie past the 32 MiB the walk at mount reads: the name is
	# resolved (stat) before the pass meets the second copy, then .verify
	# waits for the pass, and from then on the name serves EIO.
	mount_artifact "$FIXTURES/dup/after-big.mender" "$MNT" -o "verify_key=$KEY" || return
	stat "$MNT/data/0000/rootfs.ext4" >/dev/null 2>&1
	report dup/after-big.mender
	expect_status "dup/after-big.mender (resolved before the walk met the copy)" malformed
	eio "dup/after-big.mender (after .verify)" "$MNT/data/0000/rootfs.ext4"
	unmount_artifact "$MNT"
	# require_signature judges after the whole walk, with no index to
	# have found the copies before.
	refused "dup/after-big.mender (noindex)" "$FIXTURES/dup/after-big.mender" -o noindex
	# Afresh: the first round walks the tar, the second loads the index.
	rm -rf "${XDG_CACHE_HOME:?}/menderfs"
	case_of dup/after-big.mender malformed dup_eio
}

test_layout() {
	local f
	for f in type-info-first extra-sub-header global-pax name-space name-tab \
		name-long-101 name-long-91; do
		case_of "layout/$f.mender" malformed
	done
	case_of layout/name-long-90.mender verified
}

test_augment() {
	local f
	for f in manifest-only header-only script; do
		case_of "augment/$f.mender" malformed
	done
	case_of augment/well-formed.mender verified unsigned_lines
	refused augment/well-formed.mender "$FIXTURES/augment/well-formed.mender"
}

# no_key_status FILE WORD: mounted without any key, .verify says WORD.
no_key_status() {
	mount_artifact "$FIXTURES/$1" "$MNT" || return
	report "$1"
	expect_status "$1 (no key)" "$2"
	unmount_artifact "$MNT"
}

# meta-mender's test_signed_updates: where the device installs (success),
# .verify says verified with the key, no-keys or unsigned without one;
# where it refuses, the word says why.
test_signed_updates() {
	local k key
	for k in RSA EC; do
		key=$FIXTURES/keys/key.pub.pem
		[ $k = EC ] && key=$FIXTURES/keys/ec.pub.pem
		KEY=$key case_of "mender/test_signed_updates-$k-signed.mender" verified
		no_key_status "mender/test_signed_updates-$k-signed.mender" no-keys
		KEY=$key case_of "mender/test_signed_updates-$k-incorrectly-signed.mender" invalid-signature
		KEY=$key case_of "mender/test_signed_updates-$k-checksum-wrong.mender" checksum-mismatch
		KEY=$key case_of "mender/test_signed_updates-$k-header-checksum-wrong.mender" checksum-mismatch
		KEY=$key case_of mender/test_signed_updates-not-signed.mender unsigned
	done
	no_key_status mender/test_signed_updates-not-signed.mender unsigned
}

# Mender's own suites (see make_format_artifacts.sh's cmd_mender).
test_mender() {
	local f
	for f in no-header data-before-header manifest-after-header header-info-not-json; do
		case_of "mender/TestReadBrokenArtifact-$f.mender" malformed
	done
	for f in missing-file unlisted-file wrong-checksum; do
		case_of "mender/TestReadBrokenArtifact-$f.mender" checksum-mismatch
	done
	case_of mender/TestReadBrokenArtifact-no-payload.mender malformed
	case_of mender/TestReadBrokenArtifact-too-many-files.mender checksum-mismatch
	case_of mender/TestReadBrokenArtifact-augmented-broken-checksum.mender checksum-mismatch
	# mender-artifact: "file already exists"; the client would take one
	# of the two checksums, one of them unsigned.
	case_of mender/TestReadBrokenArtifact-conflicting-checksums.mender malformed
	# mender-artifact: "checksum missing for file: 'version'"; only
	# header-augment and payload files may be listed unsigned.
	case_of mender/TestReadBrokenArtifact-version-in-augment.mender malformed
	# No version member first: not an artifact, refused at start-up.
	if try_mount "$FIXTURES/mender/TestReadBrokenArtifact-no-version.mender" "$MNT"; then
		fail "TestReadBrokenArtifact-no-version: mounted"
		unmount_artifact "$MNT"
	elif grep -q "first member is 'manifest', not 'version'" "$MOUNT_LOG"; then
		ok "TestReadBrokenArtifact-no-version: refused at start-up: $(head -n 1 "$MOUNT_LOG")"
	else
		fail "TestReadBrokenArtifact-no-version: refused, but not for the version"
		note_file "$MOUNT_LOG"
	fi
	case_of mender/TestReadSigned-signed.mender verified
	case_of mender/TestReadSigned-unsigned.mender unsigned
	case_of mender/TestReadSigned-wrong-key.mender invalid-signature
	case_of mender/TestReadSigned-garbage-signature.mender invalid-signature
	# The client takes an ECDSA signature in DER as well as raw r||s;
	# mender-artifact validate 3.9 only raw (its verdict differs: fail).
	KEY=$FIXTURES/keys/ec.pub.pem case_of mender/TestReadSigned-ecdsa-der.mender verified
	mount_artifact "$FIXTURES/mender/TestReadSigned-signed.mender" "$MNT" || return
	report TestReadSigned-signed
	expect_status "mender/TestReadSigned-signed.mender (no key)" no-keys
	unmount_artifact "$MNT"
	test_signed_updates
	# validate reads type-info and meta-data in any order; the client
	# wants type-info first ("Unexpected entry ... expected: type-info").
	case_of mender/header_test-meta-data-before-type-info.mender malformed
	for f in TestHeaderIndexError TestHeaderFilesOutOfOrder TestHeaderMetaDataSingleSpacePayload \
		TestHeaderMetaDataSingleBracketPayload TestHeaderMetaDataParsingTopLevelKeys; do
		case_of "mender/header_test-$f.mender" malformed
	done
	case_of mender/parser_test-TestParseMultipleFilesInPayload.mender verified
	case_of mender/parser_test-TestParseEmptyPayloadArtifact.mender verified
	KEY=$FIXTURES/keys/ec.pub.pem case_of mender/parser_test-TestParseTopLevelSignedECKey.mender verified
	if try_mount "$FIXTURES/mender/parser_test-TestParseMumboJumbo.mender" "$MNT"; then
		fail "parser_test-TestParseMumboJumbo: mounted"
		unmount_artifact "$MNT"
	else
		ok "parser_test-TestParseMumboJumbo: refused at start-up: $(head -n 1 "$MOUNT_LOG")"
	fi
}

test_control
test_duplicates
test_layout
test_augment
test_mender
finish
