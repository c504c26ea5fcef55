#!/usr/bin/env bash
# Signing through MNT/signature: "echo sign" with -o sign_key (PEM keys in
# every accepted format, and keys on a SoftHSM2 token through PKCS#11),
# -o sign_output, external signatures, removal, errors, and readers running
# while the artifact is swapped under them.  Every result is checked with
# the real tools: mender-artifact validate -k, openssl dgst -verify, and
# tar -xOf and cmp for the members that must not change.
#
#   test_sign.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_sign_artifacts.sh.  The
# crash and full-disk cases are in test_sign_crash.sh.

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

skip_unless_fuse
for tool in mender-artifact openssl tar sha256sum base64 cmp; do
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

# Bytes in a decoded manifest.sig: the RSA modulus, or raw r||s for P-256.
declare -A SIG_BYTES=([rsa2048]=256 [rsa3072]=384 [ec256]=64 [other]=256 [other-ec]=64
	[p11-rsa]=256 [p11-ec]=64)
# A key of the same kind that signed nothing here.
declare -A WRONG_KEY=([rsa2048]=other [rsa3072]=other [ec256]=other-ec [p11-rsa]=other
	[p11-ec]=other-ec)

# The environment a daemon holding a PKCS#11 key needs under ASan: libp11
# leaks its methods at exit (see tests/crypto/lsan.supp), and libcrypto
# needs the slow unwinder for the suppressions to match.
P11_LSAN="suppressions=$HERE/../crypto/lsan.supp"
P11_ASAN="fast_unwind_on_malloc=0"

# ---- small helpers -------------------------------------------------------------

# base NAME: the key pair a key file belongs to (rsa3072.pkcs8 -> rsa3072).
base() {
	printf '%s\n' "${1%%.*}"
}

pub() {
	printf '%s/%s.pub.pem\n' "$K" "$(base "$1")"
}

sha256_of() {
	sha256sum <"$1" | cut -d' ' -f1
}

# work_copy SRC NAME: a private copy of fixture SRC at $WORK/NAME.
work_copy() {
	cp "$1" "$WORK/$2"
	printf '%s\n' "$WORK/$2"
}

# first_line FILE: the first line of FILE, or "(unreadable)".
first_line() {
	head -n 1 "$1" 2>/dev/null || echo "(unreadable)"
}

# expect_status LABEL WORD: .verify's first line is "status: WORD".
expect_status() {
	local got
	got=$(first_line "$MNT/.verify")
	if [ "$got" = "status: $2" ]; then
		ok "$1: .verify says '$got'"
	else
		fail "$1: .verify says '$got', want 'status: $2'"
		note_file "$MNT/.verify"
	fi
}

# expect_unchanged LABEL ART SHA: ART's bytes still hash to SHA.
expect_unchanged() {
	if [ "$(sha256_of "$2")" = "$3" ]; then
		ok "$1: the artifact is byte-identical"
	else
		fail "$1: the artifact changed"
	fi
}

# tree_state OUT: everything the mount shows except signature, manifest.sig
# and .verify: type, mode, size, mtime and path, then each file's sha256.
tree_state() {
	(
		cd "$MNT" || exit 1
		find . -mindepth 1 \( -path ./signature -o -path ./manifest.sig -o -path ./.verify \) \
			-prune -o -printf '%y %m %s %T@ %P\n' | LC_ALL=C sort
		find . -mindepth 1 \( -path ./signature -o -path ./manifest.sig -o -path ./.verify \) \
			-prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	) >"$1" 2>&1
}

# expect_same_tree LABEL BEFORE: the tree, but for the three files that
# change with the signature, is what tree_state saved in BEFORE.
expect_same_tree() {
	tree_state "$TEST_TMP/state.after"
	if diff -u "$2" "$TEST_TMP/state.after" >"$TEST_TMP/state.diff"; then
		ok "$1: nothing else in the tree changed ($(grep -c '^f ' "$2") files)"
	else
		fail "$1: the tree changed beyond signature, manifest.sig and .verify"
		note_file "$TEST_TMP/state.diff"
	fi
}

# signature_shown LABEL ART: MNT/signature and MNT/manifest.sig both hold
# exactly ART's manifest.sig, and stat gives its size.
signature_shown() {
	local label=$1 art=$2 problems=()
	tar -xOf "$art" manifest.sig >"$TEST_TMP/stored.sig" 2>/dev/null ||
		problems+=("ART has no manifest.sig")
	cat "$MNT/signature" >"$TEST_TMP/shown.sig" 2>/dev/null || problems+=("signature unreadable")
	cmp -s "$TEST_TMP/stored.sig" "$TEST_TMP/shown.sig" ||
		problems+=("signature differs from the stored manifest.sig")
	cmp -s "$TEST_TMP/stored.sig" "$MNT/manifest.sig" ||
		problems+=("manifest.sig differs from the stored one")
	[ "$(stat -c %s "$MNT/signature")" = "$(wc -c <"$TEST_TMP/stored.sig")" ] ||
		problems+=("stat size of signature $(stat -c %s "$MNT/signature")")
	[ -s "$TEST_TMP/stored.sig" ] || problems+=("empty")
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$label: signature and manifest.sig show the stored manifest.sig"
	else
		fail "$label: ${problems[*]}"
	fi
}

# unsigned_shown LABEL: signature reads empty, stat says 0, manifest.sig is
# not there (not in ls either).
unsigned_shown() {
	local problems=()
	[ -z "$(cat "$MNT/signature" 2>&1)" ] || problems+=("signature reads non-empty")
	[ "$(stat -c %s "$MNT/signature")" = 0 ] || problems+=("stat size of signature is not 0")
	[ ! -e "$MNT/manifest.sig" ] || problems+=("manifest.sig exists")
	! listed manifest.sig || problems+=("readdir shows manifest.sig")
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$1: signature is empty, no manifest.sig"
	else
		fail "$1: ${problems[*]}"
	fi
}

# The writes the cases make, as a user types them; a failure's message
# is left in write.err.
echo_sign() {
	echo sign >"$MNT/signature" 2>"$TEST_TMP/write.err"
}
# shellcheck disable=SC2317 # called through check
printf_sign() {
	printf sign >"$MNT/signature" 2>"$TEST_TMP/write.err"
}
colon_truncate() {
	: >"$MNT/signature" 2>"$TEST_TMP/write.err"
}
cat_signature() {
	cat "$1" >"$MNT/signature" 2>"$TEST_TMP/write.err"
}

# has_member ART NAME: ART holds a member NAME.
# shellcheck disable=SC2317 # called through check
has_member() {
	tar -tf "$1" | grep -x "$2" >/dev/null
}

# shellcheck disable=SC2317 # called through check
lacks_member() {
	! has_member "$@"
}

# listed NAME: readdir of the mount's root shows NAME.
listed() {
	[ -n "$(find "$MNT" -mindepth 1 -maxdepth 1 -name "$1")" ]
}

# names DIR: the names in DIR, dot files too, on one line.
names() {
	find "$1" -mindepth 1 -maxdepth 1 -printf '%f ' | sed 's/ $//'
}

# SLOW: seconds after which a write to signature counts as hung.  Signing
# these small artifacts takes well under a second, even under ASan.
SLOW=5

# took_long LABEL T0: fail if more than SLOW seconds passed since T0
# ($EPOCHREALTIME).
took_long() {
	local dt
	dt=$(awk -v a="$2" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	if awk -v d="$dt" -v s="$SLOW" 'BEGIN { exit !(d > s) }'; then
		fail "$1: the write took $dt s"
	fi
}

# shell_write LABEL TEXT_FILE WANT: "cat TEXT_FILE > MNT/signature" in a
# shell (an external command: the shell opens, dups and closes before cat
# writes); WANT is OK or the strerror text the command must print.  It must
# not take longer than SLOW seconds.
shell_write() {
	local label=$1 text=$2 want=$3 rc t0=$EPOCHREALTIME
	cat_signature "$text"
	rc=$?
	took_long "$label" "$t0"
	if [ "$want" = OK ]; then
		if [ "$rc" -eq 0 ]; then
			ok "$label: the write exits 0"
		else
			fail "$label: the write exits $rc"
			note_file "$TEST_TMP/write.err"
		fi
	elif [ "$rc" -ne 0 ] && grep -qF "$want" "$TEST_TMP/write.err"; then
		ok "$label: the write fails: $(head -n 1 "$TEST_TMP/write.err")"
	else
		fail "$label: exit status $rc, want a failure saying '$want'"
		note_file "$TEST_TMP/write.err"
	fi
}

# errno_write LABEL TEXT_FILE WANT: open MNT/signature as a redirection does
# (O_WRONLY|O_CREAT|O_TRUNC), write TEXT_FILE in one write(2), close; the
# write must give WANT (OK, or an errno name such as ENOKEY).
errno_write() {
	local got
	got=$(python3 - "$MNT/signature" "$2" <<'EOF'
import errno, os, sys
with open(sys.argv[2], "rb") as f:
    data = f.read()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
try:
    os.write(fd, data)
    result = "OK"
except OSError as e:
    result = errno.errorcode.get(e.errno, str(e.errno))
try:
    os.close(fd)
except OSError as e:
    result += " (close: " + errno.errorcode.get(e.errno, str(e.errno)) + ")"
print(result)
EOF
	)
	if [ "$got" = "$3" ]; then
		ok "$1: write(2) gives $got"
	else
		fail "$1: write(2) gives $got, want $3"
	fi
}

# text_file TEXT: TEXT in a file, for the writers above.
text_file() {
	printf '%s' "$1" >"$TEST_TMP/text"
	printf '%s\n' "$TEST_TMP/text"
}

# openssl_sig KEY FILE OUT [-A]: "openssl dgst -sha256 -sign KEY FILE |
# openssl base64 [-A]" into OUT: an ECDSA signature in DER, as openssl makes it.
openssl_sig() {
	openssl dgst -sha256 -sign "$1" "$2" | openssl base64 ${4:+"$4"} >"$3"
}

# ---- checks on the artifact file --------------------------------------------------

# members_kept LABEL ORIG NEW SIGNED: NEW's members are ORIG's, in order,
# without any manifest.sig, and with one right after manifest if SIGNED is
# yes; each of them byte-identical, with the same tar header fields.
members_kept() {
	local label=$1 orig=$2 new=$3 signed=$4 name want=() got=() bad=()
	while IFS= read -r name; do
		[ "$name" = manifest.sig ] && continue
		want+=("$name")
		[ "$name" = manifest ] && [ "$signed" = yes ] && want+=(manifest.sig)
	done < <(tar -tf "$orig")
	if ! mapfile -t got < <(tar -tf "$new" 2>"$TEST_TMP/tar.err") || [ -s "$TEST_TMP/tar.err" ]; then
		fail "$label: tar -tf complains about the new artifact"
		note_file "$TEST_TMP/tar.err"
		return
	fi
	if [ "${want[*]}" = "${got[*]}" ]; then
		ok "$label: tar -tf: ${got[*]}"
	else
		fail "$label: tar -tf gives '${got[*]}', want '${want[*]}'"
		return
	fi
	for name in "${want[@]}"; do
		[ "$name" = manifest.sig ] && continue
		cmp -s <(tar -xOf "$orig" "$name") <(tar -xOf "$new" "$name") || bad+=("$name")
	done
	if [ ${#bad[@]} -eq 0 ]; then
		ok "$label: every other member byte-identical (tar -xOf, cmp)"
	else
		fail "$label: members changed: ${bad[*]}"
	fi
	if diff <(tar --numeric-owner --full-time -tvf "$orig" | grep -v ' manifest\.sig$') \
		<(tar --numeric-owner --full-time -tvf "$new" | grep -v ' manifest\.sig$') \
		>"$TEST_TMP/members.diff"; then
		ok "$label: their modes, owners, sizes and mtimes are kept (tar -tvf)"
	else
		fail "$label: tar -tvf differs for members other than manifest.sig"
		note_file "$TEST_TMP/members.diff"
	fi
}

# sig_member_ok LABEL ART KEY: manifest.sig is standard base64 on one line
# with no newline, of as many bytes as KEY's signatures have, in a member of
# mode 0644, owner 0:0, mtime 0 (menderfs.1).
sig_member_ok() {
	local label=$1 art=$2 key n want problems=() hdr
	key=$(base "$3")
	want=${SIG_BYTES[$key]}
	tar -xOf "$art" manifest.sig >"$TEST_TMP/member.sig"
	grep -qE '^[A-Za-z0-9+/]+={0,2}$' "$TEST_TMP/member.sig" ||
		problems+=("not one line of standard base64")
	[ "$(tail -c 1 "$TEST_TMP/member.sig" | od -An -c | tr -d ' ')" != '\n' ] ||
		problems+=("ends in a newline")
	n=$(base64 -d <"$TEST_TMP/member.sig" 2>/dev/null | wc -c)
	[ "$n" = "$want" ] || problems+=("decodes to $n bytes, want $want")
	hdr=$(python3 - "$art" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:") as t:
    m = t.getmember("manifest.sig")
    print("%o %d:%d %d" % (m.mode, m.uid, m.gid, m.mtime))
EOF
	)
	[ "$hdr" = "644 0:0 0" ] || problems+=("member header mode uid:gid mtime is '$hdr', want '644 0:0 0'")
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$label: manifest.sig is one base64 line of $n bytes, member 0644 0:0 mtime 0"
	else
		fail "$label: manifest.sig: ${problems[*]}"
	fi
}

# openssl_verifies PUB ART: ART's manifest.sig verifies ART's manifest with
# openssl dgst -verify (raw r||s turned back into DER for ECDSA).
openssl_verifies() {
	local d=$TEST_TMP/ov
	rm -rf "$d"
	mkdir -p "$d"
	tar -xOf "$2" manifest >"$d/manifest" 2>/dev/null || return 1
	tar -xOf "$2" manifest.sig 2>/dev/null | base64 -d >"$d/sig" 2>/dev/null || return 1
	if [ "$(wc -c <"$d/sig")" = 64 ]; then
		python3 - "$d/sig" <<'EOF' || return 1
import sys
raw = open(sys.argv[1], "rb").read()
def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b
body = der_int(raw[:32]) + der_int(raw[32:])
open(sys.argv[1], "wb").write(b"\x30" + bytes([len(body)]) + body)
EOF
	fi
	openssl dgst -sha256 -verify "$1" -signature "$d/sig" "$d/manifest" >/dev/null 2>&1
}

# validate [-k PUB] ART: mender-artifact validate, output in validate.out.
validate() {
	timeout -k 5 120 mender-artifact validate "$@" >"$TEST_TMP/validate.out" 2>&1
}

is_zstd() {
	tar -tf "$1" | grep '\.zst$' >/dev/null
}

# verifies_with LABEL ART KEY: the signature verifies with KEY's public key,
# by mender-artifact validate -k (not for zstd, which Debian's 3.9 cannot
# read) and by openssl, and with neither for another key of that kind.
verifies_with() {
	local label=$1 art=$2 key wrong
	key=$(base "$3")
	wrong=$(pub "${WRONG_KEY[$key]}")
	if is_zstd "$art"; then
		note "(zstd: mender-artifact 3.9 cannot read it; openssl and .verify judge it)"
	else
		if validate -k "$(pub "$key")" "$art"; then
			ok "$label: mender-artifact validate -k $key.pub.pem passes"
		else
			fail "$label: mender-artifact validate -k $key.pub.pem fails"
			note_file "$TEST_TMP/validate.out"
		fi
		if validate -k "$wrong" "$art"; then
			fail "$label: mender-artifact validate -k $(basename "$wrong") passes too"
		else
			ok "$label: mender-artifact validate -k $(basename "$wrong") fails"
		fi
	fi
	check "$label: openssl dgst -verify $key.pub.pem accepts manifest.sig" \
		openssl_verifies "$(pub "$key")" "$art"
	if openssl_verifies "$wrong" "$art"; then
		fail "$label: openssl dgst -verify $(basename "$wrong") accepts it too"
	else
		ok "$label: openssl dgst -verify $(basename "$wrong") refuses it"
	fi
}

# one_signature LABEL ART: exactly one manifest.sig member.
one_signature() {
	local n
	n=$(tar -tf "$2" | grep -cx manifest.sig)
	check "$1: exactly one manifest.sig member ($n)" [ "$n" = 1 ]
}

# ---- the cases ---------------------------------------------------------------------------

# roundtrip LABEL KIND KEY SIGN_KEY: sign unsigned/KIND.mender with
# -o sign_key=SIGN_KEY (a file or a pkcs11: URI holding KEY) through the
# mount, and check the mount and the file.  The environment of the call
# reaches the daemon.
roundtrip() {
	local label=$1 kind=$2 key=$3 sign_key=$4 src art ino
	src=$FIXTURES/unsigned/$kind.mender
	art=$(work_copy "$src" "$kind-$key.mender")
	ino=$(stat -c %i "$art")
	mount_artifact "$art" "$MNT" -o "sign_key=$sign_key" -o "verify_key=$(pub "$key")" || return
	tree_state "$TEST_TMP/state.before"
	# A lookup that fails now must not hide manifest.sig later.
	unsigned_shown "$label: before"
	if echo sign >"$MNT/signature" 2>"$TEST_TMP/write.err"; then
		ok "$label: echo sign > signature exits 0"
	else
		fail "$label: echo sign > signature fails"
		note_file "$TEST_TMP/write.err"
	fi
	signature_shown "$label" "$art"
	expect_status "$label" verified
	check "$label: readdir shows manifest.sig" listed manifest.sig
	expect_same_tree "$label" "$TEST_TMP/state.before"
	unmount_artifact "$MNT"

	check "$label: the artifact was replaced (new inode)" [ "$(stat -c %i "$art")" != "$ino" ]
	members_kept "$label" "$src" "$art" yes
	sig_member_ok "$label" "$art" "$key"
	verifies_with "$label" "$art" "$key"
	rm -f "$art"
}

test_roundtrips() {
	local kind key
	for kind in gzip lzma none module bootstrap augmented zstd; do
		for key in rsa2048 rsa3072 rsa3072.pkcs8 ec256 ec256.pkcs8; do
			roundtrip "$kind, $key" "$kind" "$key" "$K/$key.pem"
		done
	done
}

test_pkcs11() {
	local module uri conf=$FIXTURES/softhsm/softhsm2.conf
	module=$(cat "$FIXTURES/softhsm/module")
	# RFC 7512's form: pin-value and module-path as query attributes.
	uri="pkcs11:token=menderfs-sign;object=p11-rsa;type=private?pin-value=1234&module-path=$module"
	SOFTHSM2_CONF=$conf LSAN_OPTIONS=$P11_LSAN ASAN_OPTIONS=$P11_ASAN \
		roundtrip "gzip, pkcs11 RSA, module-path in the URI" gzip p11-rsa "$uri"
	SOFTHSM2_CONF=$conf LSAN_OPTIONS=$P11_LSAN ASAN_OPTIONS=$P11_ASAN \
		roundtrip "zstd, pkcs11 RSA, module-path in the URI" zstd p11-rsa "$uri"
	# The short form, the module from the environment.
	uri="pkcs11:token=menderfs-sign;object=p11-ec;pin-value=1234"
	SOFTHSM2_CONF=$conf LSAN_OPTIONS=$P11_LSAN ASAN_OPTIONS=$P11_ASAN PKCS11_MODULE_PATH=$module \
		roundtrip "lzma, pkcs11 EC, PKCS11_MODULE_PATH" lzma p11-ec "$uri"
	SOFTHSM2_CONF=$conf LSAN_OPTIONS=$P11_LSAN ASAN_OPTIONS=$P11_ASAN PKCS11_MODULE_PATH=$module \
		roundtrip "module, pkcs11 EC, PKCS11_MODULE_PATH" module p11-ec "$uri"
}

# No PIN is ever shown: not in a start-up error, not in the daemon's
# command line (/proc/PID/cmdline, what ps shows); a PIN in a file
# (pin-source=file:) is the way for scripts.
test_pin_secrecy() {
	local label module uri conf=$FIXTURES/softhsm/softhsm2.conf art pid cmdline
	module=$(cat "$FIXTURES/softhsm/module")
	art=$(work_copy "$FIXTURES/unsigned/gzip.mender" pin.mender)

	label="a wrong pin-value"
	uri="pkcs11:token=menderfs-sign;object=p11-rsa;pin-value=98765?module-path=$module"
	if SOFTHSM2_CONF=$conf LSAN_OPTIONS=$P11_LSAN ASAN_OPTIONS=$P11_ASAN \
		try_mount "$art" "$MNT" -o "sign_key=$uri"; then
		fail "$label: mounted"
		unmount_artifact "$MNT"
	else
		check "$label: refused, saying why ($(head -n 1 "$MOUNT_LOG"))" [ -s "$MOUNT_LOG" ]
		if grep -q 98765 "$MOUNT_LOG"; then
			fail "$label: stderr shows the PIN"
			note_file "$MOUNT_LOG"
		else
			ok "$label: stderr does not show the PIN"
		fi
		check "$label: stderr says pin-value=***" grep -qF 'pin-value=***' "$MOUNT_LOG"
	fi

	# A blank ends what redaction masks, so a PIN holding one unescaped
	# would show its tail: refused, and its tail not shown either.
	label="a pin-value with a blank in it"
	uri="pkcs11:token=menderfs-sign;object=p11-rsa;pin-value=98 765?module-path=$module"
	if SOFTHSM2_CONF=$conf LSAN_OPTIONS=$P11_LSAN ASAN_OPTIONS=$P11_ASAN \
		try_mount "$art" "$MNT" -o "sign_key=$uri"; then
		fail "$label: mounted"
		unmount_artifact "$MNT"
	elif grep -q 765 "$MOUNT_LOG"; then
		fail "$label: stderr shows part of the PIN"
		note_file "$MOUNT_LOG"
	else
		ok "$label: refused, without any of the PIN ($(head -n 1 "$MOUNT_LOG"))"
	fi

	label="a pin-value in an option libfuse does not know"
	if try_mount "$art" "$MNT" -o "sign_kye=pkcs11:token=menderfs-sign;pin-value=98765"; then
		fail "$label: mounted"
		unmount_artifact "$MNT"
	elif grep -q 98765 "$MOUNT_LOG"; then
		fail "$label: stderr shows the PIN"
		note_file "$MOUNT_LOG"
	else
		ok "$label: refused, without the PIN ($(head -n 1 "$MOUNT_LOG"))"
	fi

	label="pin-value on the command line"
	uri="pkcs11:token=menderfs-sign;object=p11-rsa;pin-value=1234?module-path=$module"
	SOFTHSM2_CONF=$conf LSAN_OPTIONS=$P11_LSAN ASAN_OPTIONS=$P11_ASAN \
		mount_artifact "$art" "$MNT" -o "sign_key=$uri" || return
	pid=$(daemon_pid "$MNT")
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	if [[ $cmdline == *pin-value=1234* ]]; then
		fail "$label: /proc/PID/cmdline shows it: $cmdline"
	else
		ok "$label: /proc/PID/cmdline does not show it"
	fi
	check "$label: /proc/PID/cmdline says pin-value=***" grep -qF 'pin-value=***' "/proc/$pid/cmdline"
	check "$label: echo sign still signs" echo_sign
	unmount_artifact "$MNT"

	label="pin-source=file:"
	printf '1234\n' >"$TEST_TMP/pin"
	chmod 0600 "$TEST_TMP/pin"
	uri="pkcs11:token=menderfs-sign;object=p11-rsa;pin-source=file:$TEST_TMP/pin?module-path=$module"
	SOFTHSM2_CONF=$conf LSAN_OPTIONS=$P11_LSAN ASAN_OPTIONS=$P11_ASAN \
		mount_artifact "$art" "$MNT" -o "sign_key=$uri" || return
	check "$label: echo sign signs" echo_sign
	unmount_artifact "$MNT"
	verifies_with "$label" "$art" p11-rsa
}

# resign LABEL SIGNED OLD NEW: re-sign a fixture signed by OLD with NEW.
resign() {
	local label=$1 src=$FIXTURES/signed/$2 old=$3 new=$4 art first
	art=$(work_copy "$src" "resign-$2")
	mount_artifact "$art" "$MNT" -o "sign_key=$K/$new.pem" -o "verify_key=$(pub "$new")" || return
	signature_shown "$label: before" "$art"
	expect_status "$label: before" invalid-signature
	tree_state "$TEST_TMP/state.before"
	check "$label: echo sign > signature exits 0" echo_sign
	signature_shown "$label" "$art"
	expect_status "$label" verified
	expect_same_tree "$label" "$TEST_TMP/state.before"
	first=$(cat "$MNT/signature")
	# Again, in the same mount: printf, no newline.
	check "$label: printf sign > signature exits 0" printf_sign
	signature_shown "$label: signed twice" "$art"
	expect_status "$label: signed twice" verified
	if [ "${SIG_BYTES[$(base "$new")]}" = 64 ]; then
		# ECDSA signatures are randomised: a second one differs.
		check "$label: the second ECDSA signature is a new one" \
			[ "$(cat "$MNT/signature")" != "$first" ]
	fi
	unmount_artifact "$MNT"
	members_kept "$label" "$src" "$art" yes
	one_signature "$label" "$art"
	sig_member_ok "$label" "$art" "$new"
	verifies_with "$label" "$art" "$new"
	if validate -k "$(pub "$old")" "$art"; then
		fail "$label: mender-artifact validate -k $old.pub.pem (the old key) still passes"
	else
		ok "$label: mender-artifact validate -k $old.pub.pem (the old key) fails"
	fi
}

test_resign() {
	resign "re-sign rsa2048-gzip with ec256" rsa2048-gzip.mender rsa2048 ec256
	resign "re-sign ec256-lzma with rsa3072 (PKCS#8)" ec256-lzma.mender ec256 rsa3072.pkcs8
}

test_sign_output() {
	local label="sign_output" src=$FIXTURES/unsigned/none.mender orig out sha dir
	orig=$(work_copy "$src" so-orig.mender)
	dir=$WORK/so-out
	out=$dir/signed.mender
	mkdir -p "$dir"
	echo "an older file, to be replaced" >"$out"
	sha=$(sha256_of "$orig")
	mount_artifact "$orig" "$MNT" -o "sign_key=$K/ec256.pkcs8.pem" -o "sign_output=$out" \
		-o "verify_key=$(pub ec256)" || return
	tree_state "$TEST_TMP/state.before"
	check "$label: echo sign > signature exits 0" echo_sign
	expect_unchanged "$label: ARTIFACT after signing" "$orig" "$sha"
	signature_shown "$label: the mount shows the output" "$out"
	expect_status "$label" verified
	expect_same_tree "$label" "$TEST_TMP/state.before"
	check "$label: the output is a signed artifact (validate -k ec256)" \
		validate -k "$(pub ec256)" "$out"

	# The mount now serves the output: removing the signature rewrites it.
	check "$label: ': > signature' exits 0" colon_truncate
	expect_status "$label: removed" unsigned
	unsigned_shown "$label: removed"
	check "$label: the output has no manifest.sig now" \
		lacks_member "$out" manifest.sig
	expect_unchanged "$label: ARTIFACT after removing" "$orig" "$sha"
	check "$label: echo sign again exits 0" echo_sign
	signature_shown "$label: signed again" "$out"
	unmount_artifact "$MNT"

	expect_unchanged "$label: ARTIFACT at the end" "$orig" "$sha"
	check "$label: ARTIFACT is still unsigned" lacks_member "$orig" manifest.sig
	members_kept "$label" "$orig" "$out" yes
	sig_member_ok "$label" "$out" ec256
	verifies_with "$label" "$out" ec256
	check "$label: nothing but the output in its directory ($(names "$dir"))" \
		[ "$(names "$dir")" = signed.mender ]
}

# Files first read after a rewrite come from the new artifact: header/
# files used to point into the old one's memory, freed at the swap.
test_read_after_swap() {
	local label="read after a swap" art exp=$TEST_TMP/swap-expect f bad=0
	local compared=0
	art=$(work_copy "$FIXTURES/unsigned/gzip.mender" swap.mender)
	rm -rf "$exp"
	mkdir -p "$exp/header"
	check "$label: tar unpacks the artifact" tar -C "$exp" -xf "$art"
	check "$label: tar unpacks its header" \
		tar -C "$exp/header" -xzf "$exp/header.tar.gz"
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	check "$label: echo sign exits 0" echo_sign
	check "$label: ': > signature' exits 0" colon_truncate
	while IFS= read -r f; do
		cmp -s "$exp/header/$f" "$MNT/header/$f" || bad=$((bad + 1))
		compared=$((compared + 1))
	done < <(cd "$exp/header" && find . -type f)
	# header-info, type-info and meta-data at least.
	check "$label: header files read only after two swaps are right ($compared)" \
		test "$bad" -eq 0 -a "$compared" -ge 3
	check "$label: manifest read after two swaps is right" cmp -s "$exp/manifest" "$MNT/manifest"
	unmount_artifact "$MNT"
}

test_owner_mode() {
	local label="owner and mode" art want=1234:5678:640 got
	art=$(work_copy "$FIXTURES/unsigned/gzip.mender" owned.mender)
	chown 1234:5678 "$art"
	chmod 0640 "$art"
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	check "$label: echo sign exits 0" echo_sign
	got=$(stat -c %u:%g:%a "$art")
	check "$label: after signing: $got (want $want)" [ "$got" = "$want" ]
	openssl_sig "$K/rsa3072.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A
	# rsa3072 is not configured: refused, nothing changes.
	errno_write "$label: a signature by an unconfigured key" "$TEST_TMP/ext.sig" EINVAL
	got=$(stat -c %u:%g:%a "$art")
	check "$label: after a refused signature: $got" [ "$got" = "$want" ]
	openssl_sig "$K/rsa2048.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A
	shell_write "$label: external signature by sign_key's key" "$TEST_TMP/ext.sig" OK
	got=$(stat -c %u:%g:%a "$art")
	check "$label: after installing an external signature: $got" [ "$got" = "$want" ]
	check "$label: ': > signature' exits 0" colon_truncate
	expect_status "$label: removed" unsigned
	got=$(stat -c %u:%g:%a "$art")
	check "$label: after removing the signature: $got" [ "$got" = "$want" ]
	unmount_artifact "$MNT"
	check "$label: unsigned at the end" lacks_member "$art" manifest.sig
}

test_errors() {
	local label art sha src=$FIXTURES/signed/rsa2048-gzip.mender stored t0

	# No key at all.
	label="no sign_key"
	art=$(work_copy "$src" nokey.mender)
	sha=$(sha256_of "$art")
	mount_artifact "$art" "$MNT" || return
	if echo_sign; then
		fail "$label: echo sign > signature exits 0"
	elif grep -qF "Required key not available" "$TEST_TMP/write.err"; then
		ok "$label: echo sign fails: $(head -n 1 "$TEST_TMP/write.err")"
	else
		fail "$label: echo sign fails, but not with ENOKEY"
		note_file "$TEST_TMP/write.err"
	fi
	shell_write "$label: cat of 'sign'" "$(text_file $'sign\n')" "Required key not available"
	errno_write "$label: sign" "$(text_file $'sign\n')" ENOKEY
	expect_unchanged "$label" "$art" "$sha"
	signature_shown "$label" "$art"
	unmount_artifact "$MNT"

	# verify_key but no sign_key: "sign" still has no key; signatures
	# are judged by the verify_key.
	label="verify_key only"
	art=$(work_copy "$src" verifyonly.mender)
	sha=$(sha256_of "$art")
	mount_artifact "$art" "$MNT" -o "verify_key=$(pub rsa2048)" -o "verify_key=$(pub ec256)" || return
	errno_write "$label: sign" "$(text_file $'sign\n')" ENOKEY
	shell_write "$label: garbage" "$(text_file $'this is not a signature\n')" "Invalid argument"
	errno_write "$label: garbage" "$(text_file $'this is not a signature\n')" EINVAL
	expect_unchanged "$label: after refusals" "$art" "$sha"
	expect_status "$label: after refusals" verified
	signature_shown "$label: after refusals" "$art"
	# An ECDSA signature in DER from openssl, by a configured verify_key:
	# installed, stored as raw r||s.
	tree_state "$TEST_TMP/state.before"
	openssl_sig "$K/ec256.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A
	shell_write "$label: openssl dgst -sign ec256 | openssl base64 -A" "$TEST_TMP/ext.sig" OK
	signature_shown "$label: EC installed" "$art"
	expect_status "$label: EC installed" verified
	expect_same_tree "$label: EC installed" "$TEST_TMP/state.before"
	# Wrapped base64 with a final newline, as openssl base64 writes it
	# without -A: installed in the canonical form.
	openssl_sig "$K/rsa2048.pem" "$MNT/manifest" "$TEST_TMP/ext.sig"
	shell_write "$label: RSA signature, wrapped base64" "$TEST_TMP/ext.sig" OK
	signature_shown "$label: RSA installed" "$art"
	check "$label: stored as the one-line form of what was written" \
		[ "$(tr -d '\n' <"$TEST_TMP/ext.sig")" = "$(cat "$MNT/signature")" ]
	expect_status "$label: RSA installed" verified
	unmount_artifact "$MNT"
	members_kept "$label" "$src" "$art" yes
	sig_member_ok "$label" "$art" rsa2048
	verifies_with "$label" "$art" rsa2048

	label="verify_key ec256, external"
	art=$(work_copy "$FIXTURES/unsigned/lzma.mender" ext-ec.mender)
	mount_artifact "$art" "$MNT" -o "verify_key=$(pub ec256)" || return
	t0=$EPOCHREALTIME
	if openssl dgst -sha256 -sign "$K/ec256.pem" "$MNT/manifest" |
		openssl base64 -A >"$MNT/signature"; then
		ok "$label: openssl dgst -sign | openssl base64 -A > signature exits 0"
	else
		fail "$label: openssl dgst -sign | openssl base64 -A > signature fails"
	fi
	took_long "$label: openssl dgst -sign | openssl base64 -A > signature" "$t0"
	signature_shown "$label" "$art"
	expect_status "$label" verified
	unmount_artifact "$MNT"
	members_kept "$label" "$FIXTURES/unsigned/lzma.mender" "$art" yes
	sig_member_ok "$label" "$art" ec256
	verifies_with "$label" "$art" ec256

	# sign_key and a verify_key: signatures by other keys are refused.
	label="sign_key ec256 + verify_key rsa3072"
	art=$(work_copy "$src" wrongkeys.mender)
	sha=$(sha256_of "$art")
	stored=$(tar -xOf "$art" manifest.sig)
	mount_artifact "$art" "$MNT" -o "sign_key=$K/ec256.pem" -o "verify_key=$(pub rsa3072)" || return
	# Could still become base64: the write takes it, close(2) says
	# it never became a signature, and nothing changes.
	errno_write "$label: garbage" "$(text_file 'garbage')" "OK (close: EINVAL)"
	errno_write "$label: 'sign now'" "$(text_file $'sign now\n')" EINVAL
	head -c 256 /dev/urandom | base64 -w0 >"$TEST_TMP/random.sig"
	errno_write "$label: base64 of 256 random bytes" "$TEST_TMP/random.sig" EINVAL
	openssl_sig "$K/other.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A
	shell_write "$label: valid signature by an unconfigured RSA key" "$TEST_TMP/ext.sig" \
		"Invalid argument"
	errno_write "$label: valid signature by an unconfigured RSA key" "$TEST_TMP/ext.sig" EINVAL
	openssl_sig "$K/other-ec.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A
	errno_write "$label: valid signature by an unconfigured EC key" "$TEST_TMP/ext.sig" EINVAL
	# The signature the artifact has (rsa2048's) is not configured either.
	errno_write "$label: the artifact's own signature, key not configured" \
		"$(text_file "$stored")" EINVAL
	expect_unchanged "$label: after refusals" "$art" "$sha"
	signature_shown "$label: after refusals" "$art"
	expect_status "$label: after refusals" invalid-signature
	# A signature sign_key's public half verifies is taken.
	openssl_sig "$K/ec256.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A
	errno_write "$label: ECDSA (DER) by sign_key's key" "$TEST_TMP/ext.sig" OK
	signature_shown "$label: installed" "$art"
	unmount_artifact "$MNT"
	members_kept "$label" "$src" "$art" yes
	sig_member_ok "$label" "$art" ec256
	verifies_with "$label" "$art" ec256
}

# removal LABEL SRC HOW VERIFY_KEY: remove the signature of a copy of SRC
# with HOW ("colon" for ": > signature", "truncate" for truncate -s 0).
removal() {
	local label=$1 src=$2 how=$3 key=$4 art
	art=$(work_copy "$src" "removal-$how.mender")
	mount_artifact "$art" "$MNT" -o "verify_key=$(pub "$key")" || return
	expect_status "$label: before" verified
	tree_state "$TEST_TMP/state.before"
	case $how in
	colon) check "$label: ': > signature' exits 0" colon_truncate ;;
	truncate) check "$label: truncate -s 0 signature exits 0" truncate -s 0 "$MNT/signature" ;;
	esac
	# The very next command sees the result.
	expect_status "$label" unsigned
	unsigned_shown "$label"
	expect_same_tree "$label" "$TEST_TMP/state.before"
	unmount_artifact "$MNT"
	members_kept "$label" "$src" "$art" no
	if validate "$art"; then
		ok "$label: mender-artifact validate (no key) passes"
	else
		fail "$label: mender-artifact validate (no key) fails"
		note_file "$TEST_TMP/validate.out"
	fi
}

test_removal() {
	local art sha
	removal "': > signature'" "$FIXTURES/signed/rsa2048-gzip.mender" colon rsa2048
	removal "truncate -s 0 signature" "$FIXTURES/signed/ec256-lzma.mender" truncate ec256
	# Nothing to remove: nothing changes.
	art=$(work_copy "$FIXTURES/unsigned/none.mender" removal-unsigned.mender)
	sha=$(sha256_of "$art")
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	check "unsigned, ': > signature' exits 0" colon_truncate
	unsigned_shown "unsigned, ': > signature'"
	expect_unchanged "unsigned, ': > signature'" "$art" "$sha"
	unmount_artifact "$MNT"
}

# reader FILE SHA256 STOP LOG: read FILE through the mount and hash it, again
# and again until STOP exists (at least once); one line per pass in LOG:
# "START END ok|bad|error:...".  Each pass first drops FILE's pages from the
# page cache (POSIX_FADV_DONTNEED), or every pass after the first would be
# served by the kernel without asking the daemon.
reader() {
	python3 - "$@" <<'EOF'
import hashlib, os, sys, time
path, want, stop, log = sys.argv[1:]
with open(log, "w") as out:
    while True:
        t0 = time.time()
        h = hashlib.sha256()
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                while True:
                    chunk = os.read(fd, 1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
            finally:
                os.close(fd)
            result = "ok" if h.hexdigest() == want else "bad"
        except OSError as e:
            result = "error:" + (e.strerror or str(e)).replace(" ", "_")
        out.write("%.6f %.6f %s\n" % (t0, time.time(), result))
        out.flush()
        if os.path.exists(stop):
            break
EOF
}

# change OP: one change of the signature (sign, external, remove), its name
# added to OPS, with ":FAILED" if it failed.
change() {
	local rc
	case $1 in
	sign) echo_sign ;;
	external)
		openssl_sig "$K/ec256.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A &&
			cat_signature "$TEST_TMP/ext.sig"
		;;
	remove) colon_truncate ;;
	esac
	rc=$?
	if [ "$rc" -eq 0 ]; then OPS+=("$1"); else OPS+=("$1:FAILED"); fi
}

test_concurrency() {
	local label="4 readers while signing" src=$FIXTURES/big/stream.mender art stop i
	local pids=() passes bad overlap t0 t1 want
	local expect_ops="sign external remove sign sign external remove sign"
	want=$(sha256_of "$FIXTURES/src/stream.bin")
	art=$(work_copy "$src" stream.mender)
	stop=$TEST_TMP/readers.stop
	rm -f "$stop"
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" -o "verify_key=$(pub ec256)" || return
	for i in 1 2 3 4; do
		reader "$MNT/data/0000/stream.bin" "$want" "$stop" "$TEST_TMP/reader.$i" &
		pids+=($!)
	done
	# Let every reader finish a pass before the first change.
	for i in 1 2 3 4; do
		while [ ! -s "$TEST_TMP/reader.$i" ] && kill -0 "${pids[i - 1]}" 2>/dev/null; do
			sleep 0.05
		done
	done
	OPS=()
	t0=$EPOCHREALTIME
	for i in $expect_ops; do
		change "$i"
	done
	t1=$EPOCHREALTIME
	touch "$stop"
	wait "${pids[@]}"
	check "$label: every change succeeded (${OPS[*]})" [ "${OPS[*]}" = "$expect_ops" ]
	signature_shown "$label" "$art"
	# The last change signed with sign_key, whose public half judges
	# .verify after the verify keys (SPEC, options).
	expect_status "$label" verified
	unmount_artifact "$MNT"

	passes=$(cat "$TEST_TMP"/reader.* | wc -l)
	bad=$(cat "$TEST_TMP"/reader.* | awk '$3 != "ok" { n++ } END { print n + 0 }')
	# Passes that were running while the changes were made.
	overlap=$(awk -v a="$t0" -v b="$t1" '$1 < b && $2 > a { n++ } END { print n + 0 }' \
		"$TEST_TMP"/reader.*)
	if [ "$bad" = 0 ] && [ "$passes" -ge 4 ]; then
		ok "$label: $passes passes, every one byte-correct (sha256)"
	else
		fail "$label: $passes passes, $bad with wrong bytes or errors"
		note "$(cat "$TEST_TMP"/reader.* | awk '$3 != "ok"' | head -n 5)"
	fi
	check "$label: $overlap passes overlapped the changes ($(awk -v a="$t0" -v b="$t1" \
		'BEGIN { printf "%.2f", b - a }') s)" [ "$overlap" -ge 4 ]
	members_kept "$label" "$src" "$art" yes
	verifies_with "$label" "$art" rsa2048
}

# ---- files replaced behind the mount ----------------------------------------------

# as_nobody CMD...: run CMD as the unprivileged user nobody.
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# expect_estale LABEL: echo sign fails with ESTALE, in the shell's words
# and as write(2)'s errno.
expect_estale() {
	if echo_sign; then
		fail "$1: echo sign > signature exits 0"
	elif grep -qF "Stale file handle" "$TEST_TMP/write.err"; then
		ok "$1: echo sign fails: $(head -n 1 "$TEST_TMP/write.err")"
	else
		fail "$1: echo sign fails, but not with ESTALE"
		note_file "$TEST_TMP/write.err"
	fi
	errno_write "$1: sign" "$(text_file $'sign\n')" ESTALE
}

# The artifact's owner swaps in a symlink to a file only root may read or
# write; root's daemon signs: the file behind the link must not become the
# artifact (owner and mode kept would leave it root's).  The same for a
# symlink planted at sign_output.
test_symlink_swap() {
	local label sticky art secret sha_secret
	if ! command -v setpriv >/dev/null || [ "$(id -u)" != 0 ]; then
		echo "skipping the symlink cases: they need root and setpriv"
		return
	fi
	chmod o+x "$TEST_TMP"
	sticky=$TEST_TMP/sticky
	mkdir -p "$sticky"
	chmod 1777 "$sticky"
	secret=$TEST_TMP/root-only
	printf 'root:secret:line\n' >"$secret"
	chmod 0600 "$secret"
	sha_secret=$(sha256_of "$secret")

	label="artifact replaced by its owner with a symlink"
	art=$sticky/a.mender
	cp "$FIXTURES/unsigned/gzip.mender" "$art"
	chown nobody:nogroup "$art"
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	check "$label: nobody replaces the artifact with a symlink" \
		as_nobody ln -sfn "$secret" "$art"
	expect_estale "$label"
	check "$label: the root-only file is byte-identical" \
		[ "$(sha256_of "$secret")" = "$sha_secret" ]
	check "$label: the root-only file is still root's, 0600" \
		[ "$(stat -c %u:%a "$secret")" = 0:600 ]
	check "$label: the symlink is still there" [ -L "$art" ]
	check "$label: the mount still shows the unsigned artifact" \
		[ -z "$(cat "$MNT/signature")" ]
	unmount_artifact "$MNT"

	label="sign_output planted as a symlink"
	rm -f "$art"
	art=$WORK/so-link.mender
	cp "$FIXTURES/unsigned/gzip.mender" "$art"
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" \
		-o "sign_output=$sticky/out.mender" || return
	check "$label: nobody plants a symlink at sign_output" \
		as_nobody ln -s "$secret" "$sticky/out.mender"
	expect_estale "$label"
	check "$label: the root-only file is byte-identical" \
		[ "$(sha256_of "$secret")" = "$sha_secret" ]
	check "$label: the symlink is still there" [ -L "$sticky/out.mender" ]
	check "$label: nothing else in the directory ($(names "$sticky"))" \
		[ "$(names "$sticky")" = out.mender ]
	unmount_artifact "$MNT"
	rm -f "$sticky/out.mender"
}

# sign_output is checked before mounting: a directory that does not exist,
# or a symlink at its name, is refused with one line naming it.
test_sign_output_startup() {
	local label art dir
	art=$(work_copy "$FIXTURES/unsigned/gzip.mender" so-start.mender)
	dir=$WORK/so-start
	mkdir -p "$dir"

	label="sign_output in a directory that does not exist"
	if try_mount "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" \
		-o "sign_output=$dir/missing/out.mender"; then
		fail "$label: mounted"
		unmount_artifact "$MNT"
	else
		check "$label: refused at start-up ($(head -n 1 "$MOUNT_LOG"))" \
			grep -qF "$dir/missing" "$MOUNT_LOG"
	fi

	label="sign_output is a symlink at start-up"
	ln -s "$art" "$dir/link.mender"
	if try_mount "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" \
		-o "sign_output=$dir/link.mender"; then
		fail "$label: mounted"
		unmount_artifact "$MNT"
	else
		check "$label: refused at start-up ($(head -n 1 "$MOUNT_LOG"))" \
			grep -qF "symlink" "$MOUNT_LOG"
	fi
	rm -rf "$dir"
}

# mv other.mender A behind the mount: signing must not replace the file
# that took A's name with the old artifact, signed.
test_replaced() {
	local label="artifact replaced by mv" art other sha_other
	art=$(work_copy "$FIXTURES/unsigned/gzip.mender" replaced.mender)
	other=$(work_copy "$FIXTURES/unsigned/lzma.mender" other.mender)
	sha_other=$(sha256_of "$other")
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	mv "$other" "$art"
	expect_estale "$label"
	expect_unchanged "$label: the file moved in" "$art" "$sha_other"
	check "$label: the mount still shows the artifact it mounted" \
		cmp -s "$MNT/manifest" <(tar -xOf "$FIXTURES/unsigned/gzip.mender" manifest)
	unmount_artifact "$MNT"
	rm -f "$art"
}

# ---- the writing rules ---------------------------------------------------------------

# split_write LABEL WANT PIECE...: open MNT/signature as a redirection
# does, write each PIECE (a file's contents) in a write(2) of its own on
# that one descriptor, close; WANT is what each write and the close gave,
# e.g. "OK OK close:OK" or "EINVAL close:OK".  Stops at the first failing
# write, as a shell's writer would.
split_write() {
	local label=$1 want=$2 got
	shift 2
	got=$(python3 - "$MNT/signature" "${SPLIT_FLAGS:-trunc}" "$@" <<'PY'
import errno, os, sys
path, mode, pieces = sys.argv[1], sys.argv[2], sys.argv[3:]
flags = os.O_WRONLY | os.O_CREAT
flags |= os.O_APPEND if mode == "append" else os.O_TRUNC
fd = os.open(path, flags)
out = []
for piece in pieces:
    with open(piece, "rb") as f:
        data = f.read()
    try:
        n = os.write(fd, data)
        out.append("OK" if n == len(data) else "SHORT")
    except OSError as e:
        out.append(errno.errorcode.get(e.errno, str(e.errno)))
        break
try:
    os.close(fd)
    out.append("close:OK")
except OSError as e:
    out.append("close:" + errno.errorcode.get(e.errno, str(e.errno)))
print(" ".join(out))
PY
	)
	if [ "$got" = "$want" ]; then
		ok "$label: $got"
	else
		fail "$label: $got, want $want"
	fi
}

# piece NAME TEXT: TEXT in the file $TEST_TMP/piece.NAME, whose name it
# prints.
piece() {
	printf '%s' "$2" >"$TEST_TMP/piece.$1"
	printf '%s\n' "$TEST_TMP/piece.$1"
}

test_write_rules() {
	local label art sha sig half i bad=0 other
	art=$(work_copy "$FIXTURES/signed/rsa2048-gzip.mender" rules.mender)
	mount_artifact "$art" "$MNT" -o "sign_key=$K/ec256.pem" -o "verify_key=$(pub rsa2048)" || return

	label="'sign' in two writes"
	split_write "$label" "OK OK close:OK" "$(piece a si)" "$(piece b $'gn\n')"
	check "$label: the artifact is signed by sign_key now" validate -k "$(pub ec256)" "$art"

	label="a signature in two writes"
	openssl_sig "$K/rsa2048.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A
	sig=$(cat "$TEST_TMP/ext.sig")
	half=$((${#sig} / 2))
	split_write "$label" "OK OK close:OK" "$(piece a "${sig:0:half}")" "$(piece b "${sig:half}")"
	check "$label: the artifact holds it" validate -k "$(pub rsa2048)" "$art"
	check "$label: signature reads it back" [ "$(cat "$MNT/signature")" = "$sig" ]

	label="'sign' then its newline in a write of its own"
	split_write "$label" "OK OK close:OK" "$(piece a sign)" "$(piece b $'\n')"
	check "$label: signed by sign_key" validate -k "$(pub ec256)" "$art"

	label="echo sign >> signature"
	if echo sign >>"$MNT/signature" 2>"$TEST_TMP/write.err"; then
		ok "$label: exits 0"
	else
		fail "$label: fails: $(head -n 1 "$TEST_TMP/write.err")"
	fi
	SPLIT_FLAGS=append split_write "$label, two writes" "OK OK close:OK" \
		"$(piece a si)" "$(piece b $'gn\n')"
	check "$label: signed by sign_key" validate -k "$(pub ec256)" "$art"

	label="text that cannot become one"
	# 'sign' is complete after the first write, and acted on there.
	split_write "$label: 'sign' then 'x'" "OK EINVAL close:OK" "$(piece a sign)" "$(piece b x)"
	sha=$(sha256_of "$art")
	split_write "$label: 'si' then 'gn now'" "OK EINVAL close:OK" "$(piece a si)" \
		"$(piece b 'gn now')"
	split_write "$label: 'sign x'" "EINVAL close:OK" "$(piece a 'sign x')"
	expect_unchanged "$label" "$art" "$sha"

	# Nothing changes, and close(2) says so.
	label="text incomplete at close"
	split_write "$label: 'si'" "OK close:EINVAL" "$(piece a si)"
	split_write "$label: half a signature" "OK close:EINVAL" "$(piece a "${sig:0:half}")"
	expect_unchanged "$label" "$art" "$sha"
	signature_shown "$label" "$art"

	label="': > signature' has finished when close returns"
	for i in $(seq 1 20); do
		echo sign >"$MNT/signature" || bad=$((bad + 1))
		: >"$MNT/signature"
		if tar -tf "$art" | grep -qx manifest.sig; then
			bad=$((bad + 1))
		fi
	done
	check "$label: tar -tf right after shows no manifest.sig, $((20 - bad)) times of 20" \
		[ "$bad" = 0 ]
	unmount_artifact "$MNT"

	label="truncate -s 0 reports a failed rewrite"
	art=$(work_copy "$FIXTURES/signed/rsa2048-gzip.mender" trunc.mender)
	other=$(work_copy "$FIXTURES/unsigned/lzma.mender" trunc-other.mender)
	sha=$(sha256_of "$other")
	mount_artifact "$art" "$MNT" -o "verify_key=$(pub rsa2048)" || return
	mv "$other" "$art"
	if truncate -s 0 "$MNT/signature" 2>"$TEST_TMP/write.err"; then
		fail "$label: truncate -s 0 exits 0"
	else
		ok "$label: truncate fails: $(head -n 1 "$TEST_TMP/write.err")"
	fi
	expect_unchanged "$label: the file moved in" "$art" "$sha"
	unmount_artifact "$MNT"
	rm -f "$art"
}

# A write that fails changes nothing: not even an O_TRUNC open's removal.
test_failed_write() {
	local label="a 70000-byte write" art sha
	art=$(work_copy "$FIXTURES/signed/rsa2048-gzip.mender" big-write.mender)
	sha=$(sha256_of "$art")
	head -c 70000 /dev/zero | tr '\0' A >"$TEST_TMP/big.txt"
	mount_artifact "$art" "$MNT" -o "sign_key=$K/ec256.pem" || return
	shell_write "$label: cat > signature" "$TEST_TMP/big.txt" "Invalid argument"
	expect_unchanged "$label: after cat" "$art" "$sha"
	signature_shown "$label: after cat" "$art"
	errno_write "$label: write(2)" "$TEST_TMP/big.txt" EINVAL
	expect_unchanged "$label: after write(2)" "$art" "$sha"
	unmount_artifact "$MNT"
}

# never_signed LABEL ART WANT_ERRNO WANT_TEXT WANT_LOG: echo sign and an
# external signature on ART both fail, the artifact unchanged.
never_signed() {
	local label=$1 art sha
	art=$(work_copy "$2" "broken-$(basename "$2")")
	sha=$(sha256_of "$art")
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	shell_write "$label: echo sign" "$(text_file $'sign\n')" "$4"
	errno_write "$label: sign" "$(text_file $'sign\n')" "$3"
	openssl_sig "$K/rsa2048.pem" "$MNT/manifest" "$TEST_TMP/ext.sig" -A
	errno_write "$label: a valid signature by sign_key's key" "$TEST_TMP/ext.sig" "$3"
	expect_unchanged "$label" "$art" "$sha"
	if [ -n "$5" ]; then
		if grep -qF "$5" "${DAEMON_LOG[$MNT]}"; then
			ok "$label: the log says why: $(grep -F "$5" "${DAEMON_LOG[$MNT]}" | head -n 1)"
		else
			fail "$label: the log does not say '$5'"
			note_file "${DAEMON_LOG[$MNT]}"
		fi
	fi
	unmount_artifact "$MNT"
}

test_never_sign_broken() {
	never_signed "checksum-mismatch" "$FIXTURES/broken/mismatch.mender" EBADMSG \
		"Bad message" checksum-mismatch
	never_signed "malformed (data after the archive)" "$FIXTURES/broken/trailing.mender" \
		EBADMSG "Bad message" malformed
	never_signed "version 2" "$FIXTURES/broken/v2.mender" EROFS "Read-only file system" ""
}

# Two signers at once, with a reader: every change succeeds and completes
# whole, one after the other; what is left verifies.
test_concurrent_signers() {
	local label="two signers and a reader at once" art want stop pids=() i bad=0
	local src=$FIXTURES/big/stream.mender
	want=$(sha256_of "$FIXTURES/src/stream.bin")
	art=$(work_copy "$src" signers.mender)
	stop=$TEST_TMP/signers.stop
	rm -f "$stop"
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" -o "verify_key=$(pub ec256)" || return
	reader "$MNT/data/0000/stream.bin" "$want" "$stop" "$TEST_TMP/signers.reader" &
	pids+=($!)
	for i in 1 2; do
		(
			for _ in 1 2 3 4; do
				echo sign >"$MNT/signature" || echo "sign failed" >>"$TEST_TMP/signers.bad"
				: >"$MNT/signature" || echo "removal failed" >>"$TEST_TMP/signers.bad"
			done
			echo sign >"$MNT/signature" || echo "sign failed" >>"$TEST_TMP/signers.bad"
		) &
		pids+=($!)
	done
	wait "${pids[@]:1}"
	touch "$stop"
	wait "${pids[0]}"
	[ -e "$TEST_TMP/signers.bad" ] && bad=$(wc -l <"$TEST_TMP/signers.bad")
	check "$label: every change succeeded ($bad failed)" [ "$bad" = 0 ]
	check "$label: every read byte-correct" \
		[ -z "$(awk '$3 != "ok"' "$TEST_TMP/signers.reader")" ]
	signature_shown "$label" "$art"
	unmount_artifact "$MNT"
	members_kept "$label" "$src" "$art" yes
	verifies_with "$label" "$art" rsa2048
	check "$label: nothing but the artifact in its directory" \
		[ -z "$(find "$WORK" -name '.signers.mender.menderfs-*')" ]
}

# section TITLE: start a group of cases; the next section (or finish_sections)
# prints how long the group took.
SECTION_START=
section() {
	[ -n "$SECTION_START" ] && echo "    ($((SECONDS - SECTION_START)) s)"
	SECTION_START=$SECONDS
	[ $# -gt 0 ] && echo "--- $1"
	return 0
}

section "files replaced behind the mount"
test_symlink_swap
test_sign_output_startup
test_replaced
section "the writing rules"
test_write_rules
test_failed_write
section "never signing what is broken"
test_never_sign_broken
section "round trips: every kind of artifact, every key format"
test_roundtrips
section "PKCS#11 keys on a SoftHSM2 token"
test_pkcs11
test_pin_secrecy
section "re-signing a signed artifact with another key"
test_resign
section "sign_output"
test_sign_output
section "owner and mode"
test_owner_mode
section "reading after a swap"
test_read_after_swap
section "refusals and external signatures"
test_errors
section "removing the signature"
test_removal
section "readers while signing"
test_concurrency
test_concurrent_signers
section

finish
