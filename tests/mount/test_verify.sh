#!/usr/bin/env bash
# Verification: MNT/.verify, -o verify_key, -o mender_conf and
# -o require_signature, on artifacts signed by mender-artifact and by openssl
# and on tampered ones.  Every verdict is cross-checked with
# "mender-artifact validate [-k PUBLIC] ARTIFACT" where that tool can read
# the artifact: "status: verified" if and only if validate passes.
#
#   test_verify.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_verify_artifacts.sh.

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

K=$FIXTURES/keys
BADKEYS=$FIXTURES/badkeys
CONF=$FIXTURES/conf
MNT=$TEST_TMP/mnt
REPORT=$TEST_TMP/report
mkdir -p "$MNT"

declare -A KEY_TYPE=([rsa2048]="RSA 2048" [rsa3072]="RSA 3072" [ec256]="EC P-256"
	[other]="RSA 2048" [other-ec]="EC P-256")
# A key of the same kind that did not sign.
declare -A WRONG_KEY=([rsa2048]=other [rsa3072]=other [ec256]=other-ec)
# The signature-encoding line of what mender-artifact signs with each key:
# ECDSA as r||s, "raw".
declare -A ENCODING=([rsa2048]=canonical [rsa3072]=canonical [ec256]="canonical raw")

# pub NAME: the public key file of key NAME.
pub() {
	printf '%s/%s.pub.pem\n' "$K" "$1"
}

# re TEXT: TEXT with the ERE metacharacters escaped.
re() {
	printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'
}

# short TEXT: TEXT without the fixture directory, for test names.
short() {
	local s=${1//"$K/"/}
	s=${s//"$FIXTURES/"/}
	printf '%s' "${s//.pub.pem/}"
}

# ---- what the options configure -------------------------------------------------

# conf_keys CONF: the key paths a mender.conf names, one per line.
conf_keys() {
	python3 - "$1" <<'EOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        conf = json.load(f)
except (OSError, ValueError):
    sys.exit(0)
if not isinstance(conf, dict):
    sys.exit(0)
one, many = conf.get("ArtifactVerifyKey"), conf.get("ArtifactVerifyKeys")
for k in ([one] if isinstance(one, str) else []) + (many if isinstance(many, list) else []):
    print(k)
EOF
}

# configured_keys OPTION...: the keys menderfs is given, in the order it
# tries them (verify_key options first, then mender_conf's), into KEYS.
configured_keys() {
	local want_o=0 arg item items conf=() k
	KEYS=()
	for arg; do
		if [ "$want_o" -eq 1 ]; then
			IFS=, read -r -a items <<<"$arg"
			for item in "${items[@]}"; do
				case $item in
				verify_key=*) KEYS+=("${item#verify_key=}") ;;
				mender_conf=*) conf+=("${item#mender_conf=}") ;;
				esac
			done
		fi
		want_o=0
		[ "$arg" = -o ] && want_o=1
	done
	for arg in "${conf[@]}"; do
		while IFS= read -r k; do
			KEYS+=("$k")
		done < <(conf_keys "$arg")
	done
}

# ---- reading the report ---------------------------------------------------------------

# read_report LABEL: with MNT mounted, save .verify in $REPORT.  Reading it twice must give the same bytes, and
# stat must then show their count as its size.
read_report() {
	local label=$1 size n problems=()
	rm -f "$REPORT" "$REPORT.2"
	if ! timeout -k 5 120 cat "$MNT/.verify" >"$REPORT" 2>"$TEST_TMP/read.err"; then
		fail "$label: reading .verify failed"
		note_file "$TEST_TMP/read.err"
		return 1
	fi
	timeout -k 5 120 cat "$MNT/.verify" >"$REPORT.2" 2>/dev/null ||
		problems+=("the second read failed")
	cmp -s "$REPORT" "$REPORT.2" || problems+=("the second read gave other bytes")
	n=$(wc -c <"$REPORT")
	# What ls -l shows.
	size=$(stat -c %s "$MNT/.verify")
	[ "$size" = "$n" ] || problems+=("stat says $size bytes after reading $n")
	[ "$n" -gt 0 ] || problems+=("empty")
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$label: .verify reads the same $n bytes twice; its size is $size"
	else
		fail "$label: .verify: ${problems[*]}"
	fi
	return 0
}

# layout_problem REPORT KEY...: say what breaks the report's line order
# (status, reason unless verified, structure, a mender-artifact line and
# unsigned lines when there are, signature, signature-encoding
# when signed, one key line per KEY in order, verified-by when the signature
# verified, manifest-order, entries), or nothing.
layout_problem() {
	local -a L
	local i=1 n status sig key rest
	mapfile -t L <"$1"
	shift
	if ! [[ ${L[0]:-} =~ ^status:\ (verified|unsigned|invalid-signature|checksum-mismatch|malformed|no-keys)$ ]]; then
		echo "line 1 is not 'status: WORD': '${L[0]:-}'"
		return
	fi
	status=${BASH_REMATCH[1]}
	if [ "$status" != verified ]; then
		if ! [[ ${L[i]:-} =~ ^reason:\ [^\ ] ]]; then
			echo "line $((i + 1)): want 'reason: ...', got '${L[i]:-}'"
			return
		fi
		i=$((i + 1))
	fi
	if ! [[ ${L[i]:-} =~ ^structure:\ [^\ ] ]]; then
		echo "line $((i + 1)): want 'structure: ...', got '${L[i]:-}'"
		return
	fi
	i=$((i + 1))
	# Where mender-artifact validate differs, and what is not signed.
	if [[ ${L[i]:-} =~ ^mender-artifact:\ accepts\ [^\ ] ]]; then
		i=$((i + 1))
	fi
	while [[ ${L[i]:-} =~ ^unsigned:\ [^\ ] ]]; do
		i=$((i + 1))
	done
	if ! [[ ${L[i]:-} =~ ^signature:\ (verified|none|invalid|not-checked)$ ]]; then
		echo "line $((i + 1)): want 'signature: verified|none|invalid|not-checked', got '${L[i]:-}'"
		return
	fi
	sig=${BASH_REMATCH[1]}
	i=$((i + 1))
	if [ "$sig" != none ]; then
		if ! [[ ${L[i]:-} =~ ^signature-encoding:\ [^\ ] ]]; then
			echo "line $((i + 1)): want 'signature-encoding: ...', got '${L[i]:-}'"
			return
		fi
		i=$((i + 1))
		# Where mender-artifact validate would decide otherwise.
		while [[ ${L[i]:-} =~ ^mender-artifact:\ [^\ ] ]]; do
			i=$((i + 1))
		done
	fi
	for key; do
		rest=${L[i]:-}
		if [[ $rest != "key: $key ("* ]]; then
			echo "line $((i + 1)): want 'key: $key (TYPE): ...', got '$rest'"
			return
		fi
		rest=${rest#"key: $key "}
		if ! [[ $rest =~ ^\((RSA\ [0-9]+(,\ weak)?|EC\ P-256)\):\ (verified|rejected:\ .+|not-tried)$ ]]; then
			echo "line $((i + 1)): bad key line '${L[i]}'"
			return
		fi
		i=$((i + 1))
	done
	if [ "$sig" = verified ]; then
		if ! [[ ${L[i]:-} =~ ^verified-by:\ [^\ ] ]]; then
			echo "line $((i + 1)): want 'verified-by: PATH', got '${L[i]:-}'"
			return
		fi
		i=$((i + 1))
	fi
	if ! [[ ${L[i]:-} =~ ^manifest-order:\ (sorted|unsorted)$ ]]; then
		echo "line $((i + 1)): want 'manifest-order: sorted|unsorted', got '${L[i]:-}'"
		return
	fi
	i=$((i + 1))
	if [ "$i" -ge ${#L[@]} ]; then
		echo "no entry lines after manifest-order"
		return
	fi
	for ((n = i; n < ${#L[@]}; n++)); do
		if ! [[ ${L[n]} =~ ^.+:\ (ok|mismatch|missing|unlisted|unreadable)$ ]]; then
			echo "line $((n + 1)): not 'NAME: ok|mismatch|missing|unlisted|unreadable': '${L[n]}'"
			return
		fi
		if [ "$status" = verified ] && [ "${BASH_REMATCH[1]}" != ok ]; then
			echo "verified, but line $((n + 1)) says '${L[n]}'"
			return
		fi
	done
	if [ "$status" = verified ] && [ "$sig" != verified ]; then
		echo "verified, but 'signature: $sig'"
	fi
}

# entries REPORT: the lines after manifest-order.
entries() {
	sed -n '/^manifest-order: /,$p' "$1" | tail -n +2
}

# expected_entries LINE...: one whole-line ERE per entry line .verify must
# hold: for each name in the manifest, then in manifest-augment, in their
# order, "NAME: ok", unless a LINE "NAME: RESULT" (or "~NAME: RE", NAME
# escaped) says otherwise; then the LINEs "NAME: unlisted" for names neither
# manifest lists.
expected_entries() {
	local name line result listed=" "
	while read -r _ name; do
		result=ok
		for line; do
			if [[ $line == "$name: "* ]]; then
				result=$(re "${line#"$name: "}")
			elif [[ $line == "~$(re "$name"): "* ]]; then
				result=${line#"~$(re "$name"): "}
			fi
		done
		printf '%s: %s\n' "$(re "$name")" "$result"
		listed+="$name "
	done < <(cat "$REPORT.manifest" "$REPORT.manifest-augment" 2>/dev/null)
	for line; do
		if [[ $line =~ ^(.+):\ unlisted$ ]] && [[ $listed != *" ${BASH_REMATCH[1]} "* ]]; then
			re "$line"
			echo
		fi
	done
}

# entries_problem LINE...: say how the entry lines differ from
# expected_entries LINE..., or nothing.
entries_problem() {
	local -a wanted found
	local i
	mapfile -t wanted < <(expected_entries "$@")
	mapfile -t found < <(entries "$REPORT")
	if [ ${#wanted[@]} -ne ${#found[@]} ]; then
		echo "${#found[@]} entry lines, want ${#wanted[@]}:"
		printf '  want /%s/\n' "${wanted[@]}"
		return
	fi
	for ((i = 0; i < ${#wanted[@]}; i++)); do
		if ! [[ ${found[i]} =~ ^${wanted[i]}$ ]]; then
			echo "entry $((i + 1)) is '${found[i]}', want /${wanted[i]}/"
			return
		fi
	done
}

# opts_label OPTION...: the options, short, without the -o.
opts_label() {
	local arg label=
	for arg; do
		[ "$arg" = -o ] || label+=" $(short "$arg")"
	done
	printf '%s' "$label"
}

# ---- mender-artifact -------------------------------------------------------------------

# validate [-k KEY] ARTIFACT: mender-artifact validate, output in
# $TEST_TMP/validate.out.
validate() {
	timeout -k 5 120 mender-artifact validate "$@" >"$TEST_TMP/validate.out" 2>&1
}

# crosscheck LABEL ARTIFACT STATUS KEY...: mender-artifact validate must pass
# if and only if menderfs said "verified".  validate takes one -k, so with
# several keys it passes when it passes with any of them (the
# ArtifactVerifyKeys rule).
crosscheck() {
	local label=$1 art=$2 status=$3 want=fail got=fail k how
	shift 3
	if [[ $(tar -tf "$art" 2>/dev/null) == *.zst* ]]; then
		# mender-artifact 3.9 (Debian) cannot read zstd members: validate
		# fails with "Invalid structure ... wrong element: header.tar.zst"
		# whatever the signature, so it has no verdict to compare.
		return
	fi
	[ "$status" = verified ] && want=pass
	if [ $# -eq 0 ]; then
		how="without -k"
		validate "$art" && got=pass
		if [ "$status" = unsigned ]; then
			# Disagreement, by design.  Without -k, validate checks
			# only the checksums of an unsigned artifact and passes it
			# (exit 0, "validated successfully"); menderfs says
			# "unsigned", because SPEC's "verified" needs a configured
			# key that verifies a signature.  (Of a signed artifact,
			# validate without -k says "missing verifier" and fails,
			# as menderfs's "no-keys" is not "verified" either.)
			want=pass
		fi
	else
		how="with -k $(short "$*")"
		for k; do
			validate -k "$k" "$art" && got=pass
		done
	fi
	if [ "$got" = "$want" ]; then
		ok "$label: mender-artifact validate $how: ${got}ed (menderfs: $status)"
	else
		fail "$label: mender-artifact validate $how ${got}ed, menderfs says $status"
		note_file "$TEST_TMP/validate.out"
	fi
}

# ---- the driver ----------------------------------------------------------------------------

# expect ARTIFACT STATUS [OPTION...] [-- LINE...]: mount ARTIFACT with the
# OPTIONs and check .verify: the first line is exactly "status: STATUS", the
# layout holds for the configured keys, every LINE is there ("~RE": a line
# matches the ERE RE whole; "!PREFIX": no line starts with PREFIX), the entry
# lines are the manifests' names in order ("ok" unless a LINE says
# otherwise), manifest-order tells the truth; then the cross-check.
expect() {
	local art=$1 status=$2 opts=() lines=() label line first problem order got
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	lines=("$@")
	label="$(short "$art")$(opts_label "${opts[@]}")"
	configured_keys "${opts[@]}"

	# The manifests, as the artifact holds them.
	rm -f "$REPORT.manifest" "$REPORT.manifest-augment"
	tar -xOf "$art" manifest >"$REPORT.manifest"
	if [[ $(tar -tf "$art") == *manifest-augment* ]]; then
		tar -xOf "$art" manifest-augment >"$REPORT.manifest-augment"
	fi

	mount_artifact "$art" "$MNT" "${opts[@]}" || return
	read_report "$label"
	unmount_artifact "$MNT"
	[ -s "$REPORT" ] || return

	first=$(head -n 1 "$REPORT")
	if [ "$first" = "status: $status" ]; then
		ok "$label: $first"
	else
		fail "$label: first line '$first', want 'status: $status'"
		note_file "$REPORT"
	fi
	problem=$(layout_problem "$REPORT" "${KEYS[@]}")
	if [ -z "$problem" ]; then
		ok "$label: report layout, ${#KEYS[@]} key line(s)"
	else
		fail "$label: report layout: $problem"
		note_file "$REPORT"
	fi
	for line in "${lines[@]}"; do
		case $line in
		'~'*) grep -qxE -e "${line#\~}" "$REPORT" ;;
		'!'*) ! awk -v p="${line#!}" 'index($0, p) == 1 { n++ } END { exit !n }' "$REPORT" ;;
		*) grep -qxF -e "$line" "$REPORT" ;;
		esac
		got=$?
		if [ "$got" -eq 0 ]; then
			ok "$label: '$line'"
		else
			fail "$label: no line '$line' in .verify"
			note_file "$REPORT"
		fi
	done
	problem=$(entries_problem "${lines[@]}")
	if [ -z "$problem" ]; then
		ok "$label: one line per manifest entry, in manifest order"
	else
		fail "$label: entry lines: $problem"
		note_file "$REPORT"
	fi
	order=unsorted
	if awk '{ print $2 }' "$REPORT.manifest" | LC_ALL=C sort -C -u; then
		order=sorted
	fi
	check "$label: 'manifest-order: $order'" grep -qxF "manifest-order: $order" "$REPORT"
	crosscheck "$label" "$art" "$status" "${KEYS[@]}"
}

# ---- refusals ------------------------------------------------------------------------------

# refused DESC LINE_RE ARTIFACT OPTION...: menderfs must exit 1 before
# mounting, with one stderr line matching the ERE LINE_RE whole.
refused() {
	local desc=$1 line_re=$2 art=$3 rc lines problems=()
	shift 3
	try_mount "$art" "$MNT" "$@"
	rc=$?
	case $rc in
	0)
		fail "$desc: mounted, but must be refused"
		unmount_artifact "$MNT"
		return
		;;
	2)
		fail "$desc: neither mounted nor exited within 10 s"
		return
		;;
	esac
	lines=$(wc -l <"$MOUNT_LOG")
	[ "$MOUNT_STATUS" -eq 1 ] || problems+=("exit status $MOUNT_STATUS, want 1")
	[ "$lines" -eq 1 ] || problems+=("$lines lines on stderr, want 1")
	head -n 1 "$MOUNT_LOG" | grep -qxE -e "$line_re" ||
		problems+=("stderr does not match '$line_re'")
	! mountpoint -q "$MNT" || problems+=("something is mounted")
	! sanitizer_report "$MOUNT_LOG" || problems+=("sanitizer report")
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$desc: refused: $(head -n 1 "$MOUNT_LOG")"
	else
		fail "$desc: ${problems[*]}"
		note_file "$MOUNT_LOG"
	fi
}

# refused_key DESC KEYFILE OPTION...: a start-up refusal naming KEYFILE.
refused_key() {
	local desc=$1 file=$2
	shift 2
	refused "$desc" "menderfs: $(re "$file"): .+" "$FIXTURES/signed/rsa2048-gzip.mender" "$@"
}

# refused_unverified WORD ARTIFACT OPTION...: require_signature refuses with
# "menderfs: ARTIFACT: refusing to mount: WORD: reason", and
# mender-artifact validate agrees that the artifact does not verify.
refused_unverified() {
	local word=$1 art=$2
	shift 2
	refused "require_signature $(short "$art")$(opts_label "$@")" \
		"menderfs: $(re "$art"): refusing to mount: $word: .+" "$art" -o require_signature "$@"
	configured_keys "$@"
	crosscheck "require_signature $(short "$art")" "$art" "$word" "${KEYS[@]}"
}

# ---- the cases ------------------------------------------------------------------------------

test_signed_matrix() {
	local k c art w
	for k in rsa2048 rsa3072 ec256; do
		w=${WRONG_KEY[$k]}
		for c in gzip lzma none; do
			art=$FIXTURES/signed/$k-$c.mender
			expect "$art" verified -o "verify_key=$(pub "$k")" -- \
				"structure: ok" "signature: verified" "signature-encoding: ${ENCODING[$k]}" \
				"key: $(pub "$k") (${KEY_TYPE[$k]}): verified" \
				"verified-by: $(pub "$k")" "!reason:"
			expect "$art" invalid-signature -o "verify_key=$(pub "$w")" -- \
				"structure: ok" "signature: invalid" "signature-encoding: ${ENCODING[$k]}" \
				"~key: $(re "$(pub "$w")") \($(re "${KEY_TYPE[$w]}")\): rejected: .+" \
				"~reason: .+" "!verified-by:"
			expect "$art" no-keys -- \
				"structure: ok" "signature: not-checked" "signature-encoding: ${ENCODING[$k]}" \
				"~reason: .+" "!key:" "!verified-by:"
		done
	done
}

test_key_order() {
	local k w art
	for k in rsa2048 rsa3072 ec256; do
		w=${WRONG_KEY[$k]}
		art=$FIXTURES/signed/$k-gzip.mender
		# The first key fails, the second verifies: verified-by names it.
		expect "$art" verified -o "verify_key=$(pub "$w")" -o "verify_key=$(pub "$k")" -- \
			"~key: $(re "$(pub "$w")") \($(re "${KEY_TYPE[$w]}")\): rejected: .+" \
			"key: $(pub "$k") (${KEY_TYPE[$k]}): verified" "verified-by: $(pub "$k")"
		# The first verifies: the second is not tried.
		expect "$art" verified -o "verify_key=$(pub "$k")" -o "verify_key=$(pub "$w")" -- \
			"key: $(pub "$k") (${KEY_TYPE[$k]}): verified" \
			"key: $(pub "$w") (${KEY_TYPE[$w]}): not-tried" "verified-by: $(pub "$k")"
	done
	# Keys of the other kind are rejected too, and one -o may carry both.
	expect "$FIXTURES/signed/ec256-none.mender" verified \
		-o "verify_key=$(pub rsa3072),verify_key=$(pub ec256)" -- \
		"~key: $(re "$(pub rsa3072)") \(RSA 3072\): rejected: .+" \
		"verified-by: $(pub ec256)"
	expect "$FIXTURES/signed/rsa3072-lzma.mender" invalid-signature \
		-o "verify_key=$(pub ec256)" -o "verify_key=$(pub rsa2048)" -- \
		"~key: $(re "$(pub ec256)") \(EC P-256\): rejected: .+" \
		"~key: $(re "$(pub rsa2048)") \(RSA 2048\): rejected: .+"
}

test_unsigned() {
	local c
	for c in gzip none; do
		expect "$FIXTURES/unsigned/$c.mender" unsigned -- \
			"~reason: .+" "structure: ok" "signature: none" "!signature-encoding:" \
			"!key:" "!verified-by:"
		# With keys configured, unsigned is a failure, and no key is tried.
		expect "$FIXTURES/unsigned/$c.mender" unsigned \
			-o "verify_key=$(pub rsa2048)" -o "verify_key=$(pub ec256)" -- \
			"signature: none" "!signature-encoding:" \
			"key: $(pub rsa2048) (RSA 2048): not-tried" \
			"key: $(pub ec256) (EC P-256): not-tried" "!verified-by:"
	done
}

test_tampered() {
	local t=$FIXTURES/tampered right other
	right=$(pub rsa2048)
	other=$(pub other)

	# A payload byte flipped inside an uncompressed data/0000.tar: the tar
	# parses, the signature over the manifest still verifies, the payload
	# file's checksum does not match.
	expect "$t/flip-none.mender" checksum-mismatch -o "verify_key=$right" -- \
		"structure: ok" "signature: verified" "verified-by: $right" \
		"data/0000/rootfs.ext4: mismatch" "~reason: .*data/0000/rootfs\.ext4.*"
	# The signature outranks the checksums ...
	expect "$t/flip-none.mender" invalid-signature -o "verify_key=$other" -- \
		"signature: invalid" "data/0000/rootfs.ext4: mismatch"
	# ... and a mismatch outranks "no-keys".
	expect "$t/flip-none.mender" checksum-mismatch -- \
		"signature: not-checked" "data/0000/rootfs.ext4: mismatch"

	# A byte flipped in the middle of the deflate stream of data/0000.tar.gz:
	# the stream still inflates, to different bytes, and its CRC-32 trailer
	# no longer matches (gzip -t: "crc error").  menderfs's decoder stops
	# there, so the gzip member is corrupt: "malformed", naming it, and the
	# payload file is unreadable (or, had the whole file been read before the
	# trailer, a mismatch).  mender-artifact validate reports "rootfs.ext4:
	# invalid checksum" instead: it compares the checksum as soon as the
	# file's bytes are streamed, before gzip checks its trailer.  Both refuse
	# the artifact; menderfs's word is the SPEC's for a damaged member.
	expect "$t/flip-gzip.mender" malformed -o "verify_key=$right" -- \
		"~structure: .*data/0000\.tar\.gz.*" "~reason: .*data/0000\.tar\.gz.*" \
		"signature: verified" "~data/0000/rootfs\.ext4: (unreadable|mismatch)"
	expect "$t/flip-gzip.mender" malformed -- \
		"~structure: .*data/0000\.tar\.gz.*" "signature: not-checked" \
		"~data/0000/rootfs\.ext4: (unreadable|mismatch)"

	# header.tar.gz rewritten (another artifact name), manifest and
	# signature kept.
	expect "$t/header.mender" checksum-mismatch -o "verify_key=$right" -- \
		"structure: ok" "signature: verified" "verified-by: $right" \
		"header.tar.gz: mismatch" "~reason: .*header\.tar\.gz.*"
	expect "$t/header.mender" checksum-mismatch -- \
		"signature: not-checked" "header.tar.gz: mismatch"

	# The payload changed and the manifest updated to match, the old
	# manifest.sig kept: every checksum matches, the signature does not.
	expect "$t/manifest.mender" invalid-signature -o "verify_key=$right" -- \
		"structure: ok" "signature: invalid" \
		"~key: $(re "$right") \(RSA 2048\): rejected: .+" "!verified-by:"
	expect "$t/manifest.mender" invalid-signature -o "verify_key=$other" -o "verify_key=$right" -- \
		"~key: $(re "$other") \(RSA 2048\): rejected: .+" \
		"~key: $(re "$right") \(RSA 2048\): rejected: .+"
	expect "$t/manifest.mender" no-keys -- "signature: not-checked"
}

test_kinds() {
	local kinds=$FIXTURES/kinds
	expect "$kinds/module.mender" verified -o "verify_key=$(pub ec256)" -- \
		"verified-by: $(pub ec256)" "data/0000/one.bin: ok" "data/0000/empty: ok"
	expect "$kinds/module.mender" verified -o "verify_key=$(pub other-ec)" -o "verify_key=$(pub ec256)" -- \
		"~key: $(re "$(pub other-ec)") \(EC P-256\): rejected: .+" "verified-by: $(pub ec256)"
	expect "$kinds/module.mender" invalid-signature -o "verify_key=$(pub rsa2048)" -- \
		"signature: invalid"
	expect "$kinds/bootstrap.mender" verified -o "verify_key=$(pub rsa3072)" -- \
		"verified-by: $(pub rsa3072)" "header.tar.gz: ok"
	expect "$kinds/bootstrap.mender" no-keys -- "signature: not-checked"
	# The signature covers manifest, which does not list manifest-augment's
	# names: those are checked against manifest-augment, after manifest's,
	# and named as unsigned.
	expect "$kinds/augmented.mender" verified -o "verify_key=$(pub rsa2048)" -- \
		"verified-by: $(pub rsa2048)" "header-augment.tar.gz: ok" \
		"data/0000/augment.bin: ok" "data/0000/note.txt: ok" \
		"unsigned: manifest-augment" "unsigned: header-augment.tar.gz" \
		"unsigned: data/0000/augment.bin" "unsigned: data/0000/note.txt"
	expect "$kinds/augmented.mender" invalid-signature -o "verify_key=$(pub other)" -- \
		"signature: invalid"

	# zstd, signed with openssl (mender-artifact cannot cross-check these).
	expect "$kinds/zstd-rsa.mender" verified -o "verify_key=$(pub rsa2048)" -- \
		"verified-by: $(pub rsa2048)" "header.tar.zst: ok" "data/0000/one.bin: ok"
	expect "$kinds/zstd-rsa.mender" verified -o "verify_key=$(pub ec256)" -o "verify_key=$(pub rsa2048)" -- \
		"~key: $(re "$(pub ec256)") \(EC P-256\): rejected: .+" "verified-by: $(pub rsa2048)"
	expect "$kinds/zstd-ec.mender" verified -o "verify_key=$(pub ec256)" -- \
		"verified-by: $(pub ec256)" "header.tar.zst: ok"
	expect "$kinds/zstd-ec.mender" invalid-signature -o "verify_key=$(pub other-ec)" -- \
		"signature: invalid"
	expect "$kinds/zstd-ec.mender" no-keys -- "signature: not-checked"

	# The same openssl signing on gzip members, which mender-artifact reads:
	# it accepts these signatures too.
	expect "$kinds/openssl-rsa.mender" verified -o "verify_key=$(pub rsa2048)" -- \
		"signature-encoding: canonical"
	# openssl's DER signature stored as r||s, as mender-artifact reads it.
	expect "$kinds/openssl-ec.mender" verified -o "verify_key=$(pub ec256)" -- \
		"signature-encoding: canonical raw" "!mender-artifact:"
	expect "$kinds/openssl-ec.mender" invalid-signature -o "verify_key=$(pub other-ec)" -- \
		"signature: invalid"
	# Wrapped base64 with a final newline: valid, but not as Mender writes it.
	expect "$kinds/openssl-wrapped.mender" verified -o "verify_key=$(pub rsa2048)" -- \
		"signature-encoding: non-canonical"
}

test_mender_conf() {
	local art=$FIXTURES/signed/rsa2048-gzip.mender bad

	# ArtifactVerifyKeys [other, rsa2048]: the second verifies.
	expect "$art" verified -o "mender_conf=$CONF/second-key.conf" -- \
		"~key: $(re "$(pub other)") \(RSA 2048\): rejected: .+" \
		"key: $(pub rsa2048) (RSA 2048): verified" "verified-by: $(pub rsa2048)"
	expect "$FIXTURES/signed/ec256-gzip.mender" invalid-signature \
		-o "mender_conf=$CONF/second-key.conf" -- "signature: invalid" "!verified-by:"
	expect "$FIXTURES/unsigned/none.mender" unsigned -o "mender_conf=$CONF/second-key.conf" -- \
		"key: $(pub other) (RSA 2048): not-tried"
	expect "$FIXTURES/tampered/flip-none.mender" checksum-mismatch \
		-o "mender_conf=$CONF/second-key.conf" -- "verified-by: $(pub rsa2048)" \
		"data/0000/rootfs.ext4: mismatch"
	# ArtifactVerifyKey: one key.
	expect "$FIXTURES/signed/ec256-lzma.mender" verified -o "mender_conf=$CONF/one-key.conf" -- \
		"verified-by: $(pub ec256)"
	# verify_key and mender_conf together: all three keys, in order.
	expect "$FIXTURES/signed/rsa2048-none.mender" verified \
		-o "verify_key=$(pub ec256)" -o "mender_conf=$CONF/second-key.conf" -- \
		"~key: $(re "$(pub ec256)") \(EC P-256\): rejected: .+" "verified-by: $(pub rsa2048)"

	refused "mender_conf with both ArtifactVerifyKey and ArtifactVerifyKeys" \
		"menderfs: $(re "$CONF/both.conf"): .+" "$art" -o "mender_conf=$CONF/both.conf"
	# A device's mender.conf often names no key: no keys, as on it.
	expect "$art" no-keys -o "mender_conf=$CONF/neither.conf" -- "signature: not-checked"
	expect "$FIXTURES/unsigned/none.mender" unsigned -o "mender_conf=$CONF/neither.conf" -- \
		"signature: none"
	refused "mender_conf that is not JSON" \
		"menderfs: $(re "$CONF/not-json.conf"): .+" "$art" -o "mender_conf=$CONF/not-json.conf"
	refused "mender_conf that does not exist" \
		"menderfs: $(re "$TEST_TMP/no-such.conf"): .+" "$art" -o "mender_conf=$TEST_TMP/no-such.conf"
	bad=$TEST_TMP/bad-key.conf
	printf '{"ArtifactVerifyKeys": ["%s", "%s"]}\n' "$(pub rsa2048)" "$BADKEYS/rsa512.pub.pem" >"$bad"
	refused_key "mender_conf naming an RSA 512 key" "$BADKEYS/rsa512.pub.pem" \
		-o "mender_conf=$bad"
}

test_bad_keys() {
	local key
	for key in "$BADKEYS"/*.pem; do
		refused_key "verify_key $(basename "$key")" "$key" -o "verify_key=$key"
	done
	refused_key "verify_key of a private key" "$K/rsa2048.pem" -o "verify_key=$K/rsa2048.pem"
	refused_key "verify_key that does not exist" "$TEST_TMP/no-such.pem" \
		-o "verify_key=$TEST_TMP/no-such.pem"
	refused_key "a bad second verify_key" "$BADKEYS/ec384.pub.pem" \
		-o "verify_key=$(pub rsa2048)" -o "verify_key=$BADKEYS/ec384.pub.pem"
}

test_require_signature() {
	local good=$FIXTURES/signed/ec256-gzip.mender got

	refused_unverified unsigned "$FIXTURES/unsigned/gzip.mender" -o "verify_key=$(pub rsa2048)"
	refused_unverified checksum-mismatch "$FIXTURES/tampered/flip-none.mender" \
		-o "verify_key=$(pub rsa2048)"
	refused_unverified checksum-mismatch "$FIXTURES/tampered/header.mender" \
		-o "verify_key=$(pub rsa2048)"
	refused_unverified malformed "$FIXTURES/tampered/flip-gzip.mender" \
		-o "verify_key=$(pub rsa2048)"
	refused_unverified invalid-signature "$FIXTURES/tampered/manifest.mender" \
		-o "verify_key=$(pub rsa2048)"
	refused_unverified invalid-signature "$good" -o "verify_key=$(pub rsa2048)"
	refused_unverified invalid-signature "$good" -o "mender_conf=$CONF/second-key.conf"
	# Without a key nothing can verify: refused before looking at the file.
	refused "require_signature without a key" "menderfs: .+" "$good" -o require_signature

	if mount_artifact "$good" "$MNT" -o require_signature -o "verify_key=$(pub ec256)"; then
		got=$(head -n 1 "$MNT/.verify")
		check "require_signature mounts a verified artifact ($got)" \
			[ "$got" = "status: verified" ]
		check "grep -qx 'status: verified' MNT/.verify" grep -qx 'status: verified' "$MNT/.verify"
		if (: >"$MNT/.verify") 2>/dev/null; then
			fail ".verify can be truncated"
		else
			ok ".verify cannot be written"
		fi
		unmount_artifact "$MNT"
	fi
	if mount_artifact "$FIXTURES/signed/rsa2048-lzma.mender" "$MNT" -o require_signature \
		-o "mender_conf=$CONF/second-key.conf"; then
		check "require_signature with mender_conf mounts a verified artifact" \
			grep -qx 'status: verified' "$MNT/.verify"
		unmount_artifact "$MNT"
	fi
}

echo "--- signed by mender-artifact: each key, each compression"
test_signed_matrix
echo "--- several keys"
test_key_order
echo "--- unsigned"
test_unsigned
echo "--- tampered"
test_tampered
echo "--- module, bootstrap, augmented, zstd, openssl-signed"
test_kinds
echo "--- mender_conf"
test_mender_conf
echo "--- bad keys"
test_bad_keys
echo "--- require_signature"
test_require_signature


# ---- .verify's size --------------------------------------------------------------

# Once the background pass has hashed every payload, the report costs no
# decoding, and .verify has its size before anyone reads it: tar, which
# reads st_size bytes, stores it whole (it stored it empty).
verify_size() {
	local art=$FIXTURES/signed/rsa2048-gzip.mender size=0 i
	mount_artifact "$art" "$MNT" -o verify_key="$(pub rsa2048)" -o noindex || return
	for ((i = 0; i < MOUNT_POLLS; i++)); do
		size=$(stat -c %s "$MNT/.verify")
		[ "$size" -gt 0 ] && break
		sleep "$POLL"
	done
	check ".verify has a size before it is read (got $size)" test "$size" -gt 0
	tar -cf "$TEST_TMP/verify.tar" -C "$MNT" .verify
	tar -xOf "$TEST_TMP/verify.tar" .verify >"$TEST_TMP/verify.from-tar"
	cat "$MNT/.verify" >"$TEST_TMP/verify.read"
	check "tar -cf of the mount stores .verify whole ($(wc -c <"$TEST_TMP/verify.from-tar") of $(wc -c <"$TEST_TMP/verify.read") bytes)" \
		cmp -s "$TEST_TMP/verify.from-tar" "$TEST_TMP/verify.read"
	unmount_artifact "$MNT"
}
verify_size


# The man page gives the key lines in the form .verify prints them:
# "key: PATH (TYPE): verified" (it said "key: PATH (TYPE: verified ...)").
man_key_line() {
	local page art line form
	page=$(dirname "$0")/../../man/menderfs.1
	if ! command -v man >/dev/null 2>&1; then
		return
	fi
	art=$FIXTURES/signed/rsa2048-gzip.mender
	mount_artifact "$art" "$MNT" -o verify_key="$(pub rsa2048)" || return
	line=$(grep -m1 '^key: ' "$MNT/.verify")
	unmount_artifact "$MNT"
	form=${line//"$(pub rsa2048)"/PATH}
	form=${form/(RSA 2048)/(TYPE)}
	if MANWIDTH=200 man -l "$page" 2>/dev/null | grep -qF -- "$form | rejected: why | not-tried"; then
		ok "the man page gives the key line as printed: $form"
	else
		fail "the man page's key line differs from the output '$line'"
		note "$(MANWIDTH=200 man -l "$page" 2>/dev/null | grep -F 'key: PATH')"
	fi
}
man_key_line

finish
