#!/usr/bin/env bash
# Verify keys on a PKCS#11 token: -o verify_key=pkcs11:URI naming a public
# key object or a certificate object judges .verify as a PEM verify key
# does.  The token is SoftHSM2, its objects imported with pkcs11-tool
# (OpenSC) from keys made by openssl; the artifacts are signed by
# mender-artifact with the PEM private keys of the same pairs, so what is
# checked is that a key read from the token verifies what Mender's tool
# signed.
#
#   test_pkcs11.sh MENDERFS
#
# Everything is made here, in the test's own directory:
#   keys      rsa3072.pem (PKCS#1, as mender-artifact 3.9 wants), ec256.pem
#             (SEC1), other-rsa.pem and other-ec.pem (sign nothing); a
#             self-signed certificate of each of the first two
#   token     "menderfs-verify", PIN 1234: rsa3072 and ec256 (public key
#             objects), rsa3072-cert and ec256-cert (certificate objects,
#             ids 03 and 04), other-rsa and other-ec (public key objects),
#             ec256-sign (the EC private key and its public key, id 07)
#   artifacts rsa3072.mender and ec256.mender (rootfs-image signed by
#             mender-artifact -k), unsigned.mender
#
# Also: a URI naming no object, or a module that is not there, fails at
# start-up with one line naming the URI with its PIN shown as
# pin-value=***; require_signature takes a token key; a token private key
# signs and a token public key verifies in one daemon; under -d the log
# says which PKCS#11 glue read the key and why (here the engine, as Debian
# 12 packages no pkcs11 provider).

if [ $# -ne 1 ]; then
	echo "usage: $0 MENDERFS" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

skip_unless_fuse
for tool in mender-artifact openssl softhsm2-util pkcs11-tool tar; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool not found; skipping"
		FINISHED=1
		exit 77
	fi
done
MODULE=${SOFTHSM2_MODULE:-}
if [ -z "$MODULE" ]; then
	for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so \
		/usr/lib64/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
		if [ -f "$m" ]; then
			MODULE=$m
			break
		fi
	done
fi
if [ -z "$MODULE" ]; then
	echo "libsofthsm2.so not found (set SOFTHSM2_MODULE); skipping"
	FINISHED=1
	exit 77
fi

# libp11 leaks its methods at exit, and a few blocks per public key load
# (see tests/crypto/lsan.supp); libcrypto needs the slow unwinder for the
# suppressions to match; the list of those used would add lines to the
# one-line start-up errors.  Every daemon here holds a PKCS#11 key.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$HERE/../crypto/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

FX=$TEST_TMP/fx
MNT=$TEST_TMP/mnt
mkdir -p "$FX/tokens" "$MNT"
TOKEN=menderfs-verify
PIN=1234

# quiet CMD...: run CMD, showing its output only when it fails.
quiet() {
	if ! "$@" >"$TEST_TMP/quiet.log" 2>&1; then
		cat "$TEST_TMP/quiet.log"
		echo "fixture step failed: $*"
		FINISHED=1
		exit 1
	fi
}

# ---- fixtures -----------------------------------------------------------------

make_fixtures() {
	local k id label kind file
	quiet openssl genrsa -traditional -out "$FX/rsa3072.pem" 3072
	quiet openssl genrsa -traditional -out "$FX/other-rsa.pem" 3072
	for k in ec256 other-ec; do
		quiet openssl ecparam -name prime256v1 -genkey -noout -out "$FX/$k.pem"
	done
	for k in rsa3072 ec256 other-rsa other-ec; do
		quiet openssl pkey -in "$FX/$k.pem" -pubout -out "$FX/$k.pub.pem"
		quiet openssl pkey -in "$FX/$k.pem" -pubout -outform DER -out "$FX/$k.pub.der"
	done
	for k in rsa3072 ec256; do
		quiet openssl req -x509 -new -key "$FX/$k.pem" -subj "/CN=menderfs $k" \
			-days 30 -outform DER -out "$FX/$k.crt.der"
	done
	quiet openssl pkey -in "$FX/ec256.pem" -outform DER -out "$FX/ec256.der"

	cat >"$FX/softhsm2.conf" <<CONF
directories.tokendir = $FX/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
	export SOFTHSM2_CONF=$FX/softhsm2.conf
	quiet softhsm2-util --init-token --free --label "$TOKEN" --pin "$PIN" --so-pin 4321
	# id label kind file
	while read -r id label kind file; do
		quiet pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --pin "$PIN" \
			--write-object "$FX/$file" --type "$kind" --id "$id" --label "$label"
	done <<OBJECTS
01 rsa3072 pubkey rsa3072.pub.der
02 ec256 pubkey ec256.pub.der
03 rsa3072-cert cert rsa3072.crt.der
04 ec256-cert cert ec256.crt.der
05 other-rsa pubkey other-rsa.pub.der
06 other-ec pubkey other-ec.pub.der
07 ec256-sign privkey ec256.der
07 ec256-sign pubkey ec256.pub.der
OBJECTS
	rm -f "$FX/ec256.der"

	head -c 65536 /dev/urandom >"$FX/rootfs.img"
	for k in rsa3072 ec256; do
		quiet mender-artifact write rootfs-image -t test-device -n "release-$k" \
			-f "$FX/rootfs.img" -k "$FX/$k.pem" -o "$FX/$k.mender"
		quiet mender-artifact validate -k "$FX/$k.pub.pem" "$FX/$k.mender"
	done
	quiet mender-artifact write rootfs-image -t test-device -n unsigned \
		-f "$FX/rootfs.img" -o "$FX/unsigned.mender"
}

# ---- helpers ---------------------------------------------------------------------

# uri ATTRS: a URI of the test token.
uri() {
	printf 'pkcs11:token=%s;%s\n' "$TOKEN" "$1"
}

# no_pin LABEL FILE: FILE never shows the PIN as a pin-value.
no_pin() {
	if grep -qF "pin-value=$PIN" "$2"; then
		fail "$1: the PIN is shown"
		note_file "$2"
	else
		ok "$1: no pin-value=$PIN"
	fi
}

# judged LABEL ART WANT LINE OPTION...: mount ART with OPTION..., and
# .verify's first line is "status: WANT" and it has the line LINE (empty:
# none checked); neither .verify nor the daemon's stderr shows the PIN.
judged() {
	local label=$1 art=$2 want=$3 line=$4 got log shown=
	shift 4
	[ -z "$line" ] || shown=" and a line \"$line\""
	mount_artifact "$FX/$art" "$MNT" "$@" || return
	log=$MOUNT_LOG
	cat "$MNT/.verify" >"$TEST_TMP/verify.out" 2>&1
	got=$(head -n 1 "$TEST_TMP/verify.out")
	if [ "$got" = "status: $want" ] &&
		{ [ -z "$line" ] || grep -qxF -- "$line" "$TEST_TMP/verify.out"; }; then
		ok "$label: .verify says '$got'$shown"
	else
		fail "$label: .verify says '$got', want 'status: $want'$shown"
		note_file "$TEST_TMP/verify.out"
	fi
	no_pin "$label: .verify" "$TEST_TMP/verify.out"
	unmount_artifact "$MNT"
	no_pin "$label: the daemon's stderr" "$log"
}

# refused LABEL WANT OPTION...: the daemon exits non-zero before mounting,
# with one line on stderr that holds WANT (fixed string) and no PIN.
refused() {
	local label=$1 want=$2
	shift 2
	try_mount "$FX/rsa3072.mender" "$MNT" "$@"
	case $? in
	0)
		fail "$label: mounted, want a refusal"
		unmount_artifact "$MNT" >/dev/null
		return
		;;
	1)
		if [ "$MOUNT_STATUS" -ne 0 ] && [ "$(wc -l <"$MOUNT_LOG")" -eq 1 ] &&
			grep -qF -- "$want" "$MOUNT_LOG"; then
			ok "$label: refused: $(head -n 1 "$MOUNT_LOG")"
		else
			fail "$label: exit status $MOUNT_STATUS, want one line holding '$want'"
			note_file "$MOUNT_LOG"
		fi
		;;
	*) fail "$label: neither mounted nor exited" ;;
	esac
	no_pin "$label: stderr" "$MOUNT_LOG"
}

# ---- the cases ---------------------------------------------------------------------

# Public key objects, the module from PKCS11_MODULE_PATH or the URI.
test_public_objects() {
	local u
	u=$(uri "object=rsa3072;type=public")
	PKCS11_MODULE_PATH=$MODULE judged "RSA 3072 public key object, PKCS11_MODULE_PATH" \
		rsa3072.mender verified "key: $u (RSA 3072): verified" -o "verify_key=$u"
	# RFC 7512's query form, with a PIN the public object does not need.
	u=$(uri "object=ec256;type=public")
	judged "EC P-256 public key object, module-path and pin-value in the URI" \
		ec256.mender verified "key: $u (EC P-256): verified" \
		-o "verify_key=$u?pin-value=$PIN&module-path=$MODULE"
	# No type: the object's label alone.
	u=$(uri "object=ec256")
	PKCS11_MODULE_PATH=$MODULE judged "EC P-256 public key object by label, no type" \
		ec256.mender verified "verified-by: $u" -o "verify_key=$u"
}

# Certificate objects: the certificate's key verifies.
test_certificates() {
	local u
	u=$(uri "object=rsa3072-cert;type=cert")
	PKCS11_MODULE_PATH=$MODULE judged "RSA 3072 certificate object, type=cert" \
		rsa3072.mender verified "key: $u (RSA 3072): verified" -o "verify_key=$u"
	# By id, no type: no public key object has it, the certificate does.
	u=$(uri "id=%04")
	PKCS11_MODULE_PATH=$MODULE judged "EC P-256 certificate object by id, no type" \
		ec256.mender verified "key: $u (EC P-256): verified" -o "verify_key=$u"
}

# A wrong key, alone and ahead of the right one (Mender's ArtifactVerifyKeys
# rule: tried in order, the first that verifies wins).
test_wrong_keys() {
	local wrong right
	wrong=$(uri "object=other-rsa;type=public")
	PKCS11_MODULE_PATH=$MODULE judged "RSA: another key's object" \
		rsa3072.mender invalid-signature "" -o "verify_key=$wrong"
	wrong=$(uri "object=other-ec;type=public")
	PKCS11_MODULE_PATH=$MODULE judged "EC: another key's object" \
		ec256.mender invalid-signature "" -o "verify_key=$wrong"
	# An EC key against an RSA signature.
	PKCS11_MODULE_PATH=$MODULE judged "an EC object against an RSA signature" \
		rsa3072.mender invalid-signature "" -o "verify_key=$(uri "object=ec256-cert")"
	right=$(uri "object=ec256;type=public")
	PKCS11_MODULE_PATH=$MODULE judged "a wrong object, then the right one" \
		ec256.mender verified "verified-by: $right" \
		-o "verify_key=$wrong" -o "verify_key=$right"
	PKCS11_MODULE_PATH=$MODULE judged "a wrong PEM file, then the right object" \
		rsa3072.mender verified "verified-by: $(uri "object=rsa3072")" \
		-o "verify_key=$FX/other-rsa.pub.pem" -o "verify_key=$(uri "object=rsa3072")"
	PKCS11_MODULE_PATH=$MODULE judged "unsigned, with a token key: a failure, as on a device" \
		unsigned.mender unsigned "" -o "verify_key=$right"
}

# Start-up errors: one line naming the URI, its PIN hidden.
test_refusals() {
	local u
	u=$(uri "object=nothing")
	PKCS11_MODULE_PATH=$MODULE refused "no such object" \
		"menderfs: $u;pin-value=***: no public key or certificate object on the PKCS#11 token matches" \
		-o "verify_key=$u;pin-value=$PIN"
	PKCS11_MODULE_PATH=$MODULE refused "no such certificate (type=cert)" \
		"no certificate object on the PKCS#11 token matches" \
		-o "verify_key=$(uri "object=rsa3072;type=cert")"
	PKCS11_MODULE_PATH=$MODULE refused "no such token" \
		"no public key or certificate object" \
		-o "verify_key=pkcs11:token=no-such-token;object=rsa3072"
	refused "a module that is not there" \
		"pin-value=***&module-path=$MODULE.missing: cannot use the PKCS#11 module: No such file or directory" \
		-o "verify_key=$(uri "object=rsa3072")?pin-value=$PIN&module-path=$MODULE.missing"
	PKCS11_MODULE_PATH=$MODULE refused "a private key object named as a verify key" \
		"type=private is not a public key or certificate" \
		-o "verify_key=$(uri "object=ec256-sign;type=private")"
	PKCS11_MODULE_PATH=$MODULE refused "require_signature, another key's object" \
		"refusing to mount: invalid-signature" -o require_signature \
		-o "verify_key=$(uri "object=other-rsa")"
}

test_require_signature() {
	PKCS11_MODULE_PATH=$MODULE judged "require_signature with a certificate object" \
		rsa3072.mender verified "" -o require_signature \
		-o "verify_key=$(uri "object=rsa3072-cert")"
}

# mender.conf's keys are files, as the client reads them: SPEC gives URIs
# to verify_key and sign_key only.
test_mender_conf() {
	local conf=$TEST_TMP/mender.conf
	printf '{"ArtifactVerifyKey": "%s"}\n' "$(uri "object=rsa3072;pin-value=$PIN")" >"$conf"
	PKCS11_MODULE_PATH=$MODULE refused "mender.conf naming a pkcs11: URI (a file name there)" \
		"$(uri "object=rsa3072;pin-value=***"): cannot open: No such file or directory" \
		-o "mender_conf=$conf"
}

# A token private key signs, a token public key object of the same pair
# verifies, in one daemon; mender-artifact accepts the result.
test_sign_and_verify() {
	local art=$TEST_TMP/signed.mender sign verify log label="sign_key and verify_key on one token"
	cp "$FX/unsigned.mender" "$art"
	sign=$(uri "object=ec256-sign;type=private;pin-value=$PIN")
	verify=$(uri "object=ec256;type=public")
	PKCS11_MODULE_PATH=$MODULE mount_artifact "$art" "$MNT" \
		-o "sign_key=$sign" -o "verify_key=$verify" || return
	if echo sign >"$MNT/signature" 2>"$TEST_TMP/write.err"; then
		ok "$label: echo sign > signature exits 0"
	else
		fail "$label: echo sign > signature fails"
		note_file "$TEST_TMP/write.err"
	fi
	cat "$MNT/.verify" >"$TEST_TMP/verify.out" 2>&1
	if [ "$(head -n 1 "$TEST_TMP/verify.out")" = "status: verified" ] &&
		grep -qxF "verified-by: $verify" "$TEST_TMP/verify.out"; then
		ok "$label: .verify says verified, by the public key object"
	else
		fail "$label: .verify does not say verified by $verify"
		note_file "$TEST_TMP/verify.out"
	fi
	no_pin "$label: .verify" "$TEST_TMP/verify.out"
	log=$MOUNT_LOG
	unmount_artifact "$MNT"
	no_pin "$label: the daemon's stderr" "$log"
	if mender-artifact validate -k "$FX/ec256.pub.pem" "$art" >"$TEST_TMP/ma.log" 2>&1; then
		ok "$label: mender-artifact validate -k ec256.pub.pem accepts it"
	else
		fail "$label: mender-artifact validate refuses it"
		note_file "$TEST_TMP/ma.log"
	fi
}

# Under -d the log names the glue and the reason, for the verify key and
# for sign_key; without it, nothing.
test_debug_log() {
	local u s why want log
	u=$(uri "object=rsa3072;type=public")
	s=$(uri "object=ec256-sign;type=private")
	if openssl list -providers 2>/dev/null | grep -qi pkcs11; then
		why=
	else
		why="engine: no OpenSSL provider handles pkcs11: URIs"
	fi
	PKCS11_MODULE_PATH=$MODULE mount_artifact "$FX/rsa3072.mender" "$MNT" -d \
		-o "verify_key=$u" -o "sign_key=$s;pin-value=$PIN" || return
	log=$MOUNT_LOG
	unmount_artifact "$MNT"
	for want in "menderfs: $u: read through the pkcs11 $why" \
		"menderfs: $s: read through the pkcs11 $why"; do
		if grep -qF -- "$want" "$log"; then
			ok "-d: the log says $(grep -F -- "$want" "$log" | head -n 1)"
		else
			fail "-d: no line '$want...' in the log"
			note_file "$log"
		fi
	done
	no_pin "-d: the daemon's stderr" "$log"
	PKCS11_MODULE_PATH=$MODULE mount_artifact "$FX/rsa3072.mender" "$MNT" \
		-o "verify_key=$u" -o "sign_key=$s;pin-value=$PIN" || return
	log=$MOUNT_LOG
	unmount_artifact "$MNT"
	if grep -qF "read through the pkcs11" "$log"; then
		fail "without -d: the choice is logged"
		note_file "$log"
	else
		ok "without -d: the choice is not logged"
	fi
}

make_fixtures
test_public_objects
test_certificates
test_wrong_keys
test_refusals
test_require_signature
test_mender_conf
test_sign_and_verify
test_debug_log
finish
