#!/usr/bin/env bash
# Keys and permissions: who may sign through a shared mount, and where a
# loaded private key must never show up.
#
#   test_keys.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_sign_artifacts.sh.
#
# 1. allow_other: menderfs always asks for default_permissions, so the
#    kernel applies the modes the tree shows.  Another user reads the
#    artifact but cannot sign, remove the signature or chmod signature
#    (0644, owned by the daemon's user); root, the owner, can sign.
# 2. A daemon holding sign_key is not dumpable (prctl(PR_SET_DUMPABLE, 0)):
#    the kernel then gives its /proc files to root, and even its own user
#    cannot read /proc/PID/environ.  The daemon runs as an unprivileged
#    user so that this is visible; the same daemon without sign_key is the
#    control case.  Root sets the mount up (with user_id= of that user) and
#    passes the /dev/fuse descriptor as the mount point /dev/fd/N, as
#    libfuse allows: fusermount3 opens /dev/fuse as the calling user (some
#    systems keep it 0600), and root could not poll a user mount that
#    lacks allow_other.
# 3. The key's bytes (PEM lines, a slice of its DER form) are in no file of
#    the tree, before or after signing, nor in the daemon's stderr, even
#    with -d.
# 4. Keys and policy as SPEC's options table and a device have them: an RSA
#    verify key of 1024 bits or more is accepted (marked weak under 2048),
#    alone or in a list; sign_key still needs RSA 2048; a mender.conf with
#    no key option mounts with no keys; sign_key's public half judges
#    .verify after the verify keys.
# 5. ECDSA signatures as r||s and as DER of each common length verify, the
#    report names the form, and says where mender-artifact validate
#    refuses what the client accepts.

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
for tool in setpriv openssl sha256sum truncate mender-artifact; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool not found; skipping"
		FINISHED=1
		exit 77
	fi
done
# The unprivileged user the other side of sections 1 to 3 runs as; without
# it (or without root) only section 4 runs.
RUN_AS=nobody
USER_CASES=
if ! RUN_UID=$(id -u "$RUN_AS" 2>/dev/null) || ! RUN_GID=$(id -g "$RUN_AS" 2>/dev/null); then
	USER_CASES="no user $RUN_AS"
elif [ "$(id -u)" != 0 ]; then
	USER_CASES="not root: cannot switch to $RUN_AS"
fi

K=$FIXTURES/keys
DAEMON=$MENDERFS
MNT=$TEST_TMP/mnt
WORK=$TEST_TMP/work
mkdir -p "$MNT" "$WORK"
# The other user has to reach the mount point and its own files below.
chmod 0711 "$TEST_TMP"

# as_user CMD...: run CMD as RUN_AS, no supplementary groups.
as_user() {
	setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups "$@"
}

sha256_of() {
	sha256sum <"$1" | cut -d' ' -f1
}

first_line() {
	head -n 1 "$1" 2>/dev/null || echo "(unreadable)"
}

# key_patterns KEY OUT: fixed strings that only a copy of KEY holds: the
# PEM label and every full 64-character base64 line of the file.
key_patterns() {
	{
		echo "PRIVATE KEY"
		grep -E '^[A-Za-z0-9+/]{64}$' "$1"
	} >"$2"
}

# key_line40 KEY: 40 characters from the middle of a middle line of KEY.
key_line40() {
	grep -E '^[A-Za-z0-9+/]{64}$' "$1" |
		awk '{ l[NR] = $0 } END { print substr(l[int((NR + 1) / 2)], 13, 40) }'
}

# grep_tree LABEL DIR PATTERNS [as_user]: grep -r over DIR finds none of
# the fixed strings in PATTERNS and reads every file without an error.
grep_tree() {
	local label=$1 dir=$2 pats=$3 rc n runner=()
	[ $# -gt 3 ] && runner=(as_user)
	# contents/ keeps the image's own owners and modes (a root-only
	# lost+found): not every user may read it, by design.
	n=$(find "$dir" -path "$dir/contents" -prune -o -type f -print | wc -l)
	"${runner[@]}" grep -rlF --exclude-dir=contents -f "$pats" "$dir" \
		>"$TEST_TMP/grep.out" 2>"$TEST_TMP/grep.err"
	rc=$?
	if [ "$rc" -eq 1 ] && [ "$n" -gt 5 ]; then
		ok "$label: no file of the tree ($n files) holds the key (grep -rF, $(wc -l <"$pats") strings)"
	elif [ "$rc" -eq 0 ]; then
		fail "$label: the key is in the tree: $(tr '\n' ' ' <"$TEST_TMP/grep.out")"
	else
		fail "$label: grep -r over the tree ($n files) exits $rc"
		note_file "$TEST_TMP/grep.err"
	fi
}

# grep_log LABEL LOG PATTERNS: the daemon's stderr holds none of them.
grep_log() {
	if grep -qF -f "$3" "$2"; then
		fail "$1: the daemon's stderr holds the key"
		note "$(grep -nF -f "$3" "$2" | head -n 3)"
	else
		ok "$1: the daemon's stderr ($(wc -l <"$2") lines) does not hold the key"
	fi
}

# der_check LABEL DIR KEY: no file below DIR holds 32 bytes from the
# middle of KEY's DER encoding (private material, not the public modulus),
# and every file could be read.
der_check() {
	local label=$1 out rc
	if ! openssl pkey -in "$3" -outform DER -out "$TEST_TMP/key.der" 2>"$TEST_TMP/der.err"; then
		fail "$label: openssl pkey cannot convert the key"
		note_file "$TEST_TMP/der.err"
		return
	fi
	out=$(python3 - "$2" "$TEST_TMP/key.der" 2>&1 <<'EOF'
import os, sys
der = open(sys.argv[2], "rb").read()
needle = der[len(der) // 2:len(der) // 2 + 32]
def give_up(e):
    print("cannot read: %s" % e)
    sys.exit(2)
n = 0
for root, dirs, files in os.walk(sys.argv[1], onerror=give_up):
    for name in files:
        path = os.path.join(root, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            give_up(e)
        n += 1
        if needle in data:
            print(path)
            sys.exit(1)
print(n)
EOF
	)
	rc=$?
	case $rc in
	0) ok "$label: none of $out files holds 32 bytes of the key's DER form" ;;
	1) fail "$label: $out holds the key's DER bytes" ;;
	*) fail "$label: the DER check could not read the tree: $out" ;;
	esac
}

# sanitizer_summary LOG: what a sanitizer report says and where, which
# note_file does not reach in a -d log.
sanitizer_summary() {
	grep -E -A3 'ERROR: AddressSanitizer|runtime error:|^SUMMARY:' "$1" | head -n 12 |
		sed 's/^/      | /'
}

# user_write LABEL WANT SCRIPT: SCRIPT (run by bash as RUN_AS, $1 is the
# signature file) must fail with the message WANT.
user_write() {
	local label=$1 want=$2 script=$3 rc
	as_user bash -c "$script" bash "$MNT/signature" >/dev/null 2>"$TEST_TMP/write.err"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -qF "$want" "$TEST_TMP/write.err"; then
		ok "$label as $RUN_AS fails: $(head -n 1 "$TEST_TMP/write.err")"
	else
		fail "$label as $RUN_AS: exit status $rc, want a failure saying '$want'"
		note_file "$TEST_TMP/write.err"
	fi
}

# ---- 4: keys and policy as a device judges them ------------------------------------------

# device_case LABEL ART STATUS PATTERN OPTION...: ART mounts with OPTION...,
# .verify starts "status: STATUS" and, unless PATTERN is "", has a line
# matching the extended regex PATTERN.
device_case() {
	local label=$1 art=$2 want=$3 pat=$4 got
	shift 4
	if ! try_mount "$art" "$MNT" "$@"; then
		fail "$label: not mounted (exit status $MOUNT_STATUS): $(head -n 1 "$MOUNT_LOG")"
		return
	fi
	cat "$MNT/.verify" >"$TEST_TMP/device.verify" 2>&1
	got=$(first_line "$TEST_TMP/device.verify")
	if [ "$got" = "status: $want" ] &&
		{ [ -z "$pat" ] || grep -qE -- "$pat" "$TEST_TMP/device.verify"; }; then
		ok "$label: mounts, .verify says '$got'${pat:+ and has /$pat/}"
	else
		fail "$label: .verify says '$got', want 'status: $want'${pat:+ and a line /$pat/}"
		note_file "$TEST_TMP/device.verify"
	fi
	unmount_artifact "$MNT"
}

# device_refused LABEL NAMED OPTION...: the daemon exits non-zero before
# mounting with one line on stderr naming NAMED.
device_refused() {
	local label=$1 named=$2
	shift 2
	try_mount "$FIXTURES/unsigned/gzip.mender" "$MNT" "$@"
	case $? in
	0)
		fail "$label: mounted, want a refusal"
		unmount_artifact "$MNT" >/dev/null
		;;
	1)
		if [ "$MOUNT_STATUS" -ne 0 ] && [ "$(wc -l <"$MOUNT_LOG")" -eq 1 ] &&
			grep -qF -- "$named" "$MOUNT_LOG"; then
			ok "$label: refused: $(head -n 1 "$MOUNT_LOG")"
		else
			fail "$label: exit status $MOUNT_STATUS, want one line naming $named"
			note_file "$MOUNT_LOG"
		fi
		;;
	*) fail "$label: neither mounted nor exited" ;;
	esac
}

# The smallest inputs that break each rule of SPEC's options table, made
# here by openssl and mender-artifact as a release engineer would: a
# 1024-bit RSA key (what mender-artifact's own reader tests sign with; its
# validate and the client accept it), a mender.conf with no key option (a
# device's ordinary configuration), and a mount whose only key is sign_key.
test_device_keys() {
	local d=$WORK/device sig1024 art
	mkdir -p "$d"
	if ! { openssl genrsa -traditional -out "$d/rsa1024.pem" 1024 2>/dev/null &&
		openssl pkey -in "$d/rsa1024.pem" -pubout -out "$d/rsa1024.pub.pem" &&
		openssl genrsa -traditional -out "$d/other1024.pem" 1024 2>/dev/null &&
		openssl pkey -in "$d/other1024.pem" -pubout -out "$d/other1024.pub.pem" &&
		openssl genrsa -traditional -out "$d/rsa512.pem" 512 2>/dev/null &&
		openssl pkey -in "$d/rsa512.pem" -pubout -out "$d/rsa512.pub.pem"; }; then
		fail "openssl cannot make the RSA 1024 and 512 keys"
		return
	fi
	sig1024=$d/rsa1024-signed.mender
	if ! mender-artifact write rootfs-image -t qemux86-64 -n release-1024 \
		-f "$FIXTURES/src/rootfs.ext4" -k "$d/rsa1024.pem" -o "$sig1024" \
		>"$TEST_TMP/ma.log" 2>&1; then
		fail "mender-artifact cannot sign with an RSA 1024 key"
		note_file "$TEST_TMP/ma.log"
		return
	fi
	# The control: Mender's own tool accepts this key and this signature.
	check "mender-artifact validate -k rsa1024.pub.pem accepts it" \
		mender-artifact validate -k "$d/rsa1024.pub.pem" "$sig1024"

	device_case "verify_key RSA 1024" "$sig1024" verified \
		"^key: $d/rsa1024.pub.pem \(RSA 1024, weak\): verified$" \
		-o "verify_key=$d/rsa1024.pub.pem"
	device_case "verify_key of another RSA 1024 key" "$sig1024" invalid-signature \
		"^key: $d/other1024.pub.pem \(RSA 1024, weak\): rejected: " \
		-o "verify_key=$d/other1024.pub.pem"
	device_case "verify_key rsa2048, then RSA 1024" "$sig1024" verified \
		"^verified-by: $d/rsa1024.pub.pem$" \
		-o "verify_key=$K/rsa2048.pub.pem" -o "verify_key=$d/rsa1024.pub.pem"
	device_case "an RSA 1024 key in the list does not stop rsa2048 verifying" \
		"$FIXTURES/signed/rsa2048-gzip.mender" verified "^verified-by: $K/rsa2048.pub.pem$" \
		-o "verify_key=$d/rsa1024.pub.pem" -o "verify_key=$K/rsa2048.pub.pem"
	printf '{"ArtifactVerifyKeys": ["%s", "%s"]}\n' "$d/other1024.pub.pem" \
		"$d/rsa1024.pub.pem" >"$d/keys1024.conf"
	device_case "mender_conf ArtifactVerifyKeys of two RSA 1024 keys" "$sig1024" verified \
		"^verified-by: $d/rsa1024.pub.pem$" -o "mender_conf=$d/keys1024.conf"
	device_refused "verify_key RSA 512" "$d/rsa512.pub.pem" -o "verify_key=$d/rsa512.pub.pem"
	# sign_key keeps its own rule: what menderfs writes must be strong.
	device_refused "sign_key RSA 1024" "$d/rsa1024.pem" -o "sign_key=$d/rsa1024.pem"

	# A device's mender.conf often names no key: it installs unsigned
	# artifacts and cannot judge signed ones.
	printf '{"ServerURL": "https://hosted.mender.io", "RootfsPartA": "/dev/mmcblk0p2"}\n' \
		>"$d/nokey.conf"
	device_case "mender_conf without a key option, signed artifact" \
		"$FIXTURES/signed/rsa2048-gzip.mender" no-keys "^signature: not-checked$" \
		-o "mender_conf=$d/nokey.conf"
	device_case "mender_conf without a key option, unsigned artifact" \
		"$FIXTURES/unsigned/gzip.mender" unsigned "" -o "mender_conf=$d/nokey.conf"
	device_refused "require_signature with a mender_conf naming no key" "require_signature" \
		-o "mender_conf=$d/nokey.conf" -o require_signature

	# sign_key alone: its public half judges .verify.
	art=$d/sign-here.mender
	cp "$FIXTURES/unsigned/gzip.mender" "$art"
	if mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem"; then
		if echo sign 2>"$TEST_TMP/write.err" >"$MNT/signature"; then
			ok "sign_key only: echo sign > signature exits 0"
		else
			fail "sign_key only: echo sign fails"
			note_file "$TEST_TMP/write.err"
		fi
		cat "$MNT/.verify" >"$TEST_TMP/device.verify"
		if [ "$(first_line "$TEST_TMP/device.verify")" = "status: verified" ] &&
			grep -qx "verified-by: $K/rsa2048.pem" "$TEST_TMP/device.verify"; then
			ok "sign_key only: after signing .verify says verified by $K/rsa2048.pem"
		else
			fail "sign_key only: after signing .verify says '$(first_line "$TEST_TMP/device.verify")'"
			note_file "$TEST_TMP/device.verify"
		fi
		unmount_artifact "$MNT"
	fi
	device_case "sign_key only, an artifact another key signed" \
		"$FIXTURES/signed/ec256-lzma.mender" invalid-signature \
		"^key: $K/rsa2048.pem \(RSA 2048\): rejected: " -o "sign_key=$K/rsa2048.pem"
	device_case "require_signature with only sign_key, an artifact it signed" \
		"$FIXTURES/signed/rsa2048-gzip.mender" verified "" \
		-o "sign_key=$K/rsa2048.pem" -o require_signature
	device_case "verify_key before sign_key" "$FIXTURES/signed/rsa2048-gzip.mender" verified \
		"^verified-by: $K/rsa2048.pub.pem$" \
		-o "sign_key=$K/rsa2048.pem" -o "verify_key=$K/rsa2048.pub.pem"
}

# ---- 5: ECDSA signatures in both forms the client accepts ---------------------------------

# add_signature SRC SIG OUT: OUT is SRC with manifest.sig (the base64 of
# the binary signature SIG) right after manifest, as Mender's tools place
# it; the other members are copied as they are.
add_signature() {
	python3 - "$@" <<'EOF2'
import base64, io, sys, tarfile
src, sigfile, out = sys.argv[1:4]
text = base64.b64encode(open(sigfile, "rb").read())
i = tarfile.open(src)
o = tarfile.open(out, "w", format=tarfile.USTAR_FORMAT)
for m in i.getmembers():
    if m.name == "manifest.sig":
        continue
    o.addfile(m, i.extractfile(m))
    if m.name == "manifest":
        s = tarfile.TarInfo("manifest.sig")
        s.size, s.mode, s.mtime = len(text), m.mode, m.mtime
        s.uid, s.gid, s.uname, s.gname = m.uid, m.gid, m.uname, m.gname
        o.addfile(s, io.BytesIO(text))
o.close()
EOF2
}

# encoding_case LABEL ART STATUS ENCODING MA OPTION...: .verify says
# STATUS, its line is exactly "signature-encoding: ENCODING", and it has a
# "mender-artifact: " line matching the extended regex MA, or none if MA
# is "".
encoding_case() {
	local label=$1 art=$2 want=$3 enc=$4 ma=$5 got problems=()
	shift 5
	if ! try_mount "$art" "$MNT" "$@"; then
		fail "$label: not mounted (exit status $MOUNT_STATUS): $(head -n 1 "$MOUNT_LOG")"
		return
	fi
	cat "$MNT/.verify" >"$TEST_TMP/enc.verify" 2>&1
	unmount_artifact "$MNT" >/dev/null || fail "$label: unmount"
	got=$(first_line "$TEST_TMP/enc.verify")
	[ "$got" = "status: $want" ] || problems+=("'$got', want 'status: $want'")
	grep -qx "signature-encoding: $enc" "$TEST_TMP/enc.verify" ||
		problems+=("no line 'signature-encoding: $enc'")
	if [ -n "$ma" ]; then
		grep -qE "^mender-artifact: $ma" "$TEST_TMP/enc.verify" ||
			problems+=("no line /^mender-artifact: $ma/")
	elif grep -q '^mender-artifact: ' "$TEST_TMP/enc.verify"; then
		problems+=("a mender-artifact: line, want none")
	fi
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$label: $got, signature-encoding: $enc${ma:+, mender-artifact: /$ma/}"
	else
		fail "$label: ${problems[*]}"
		note_file "$TEST_TMP/enc.verify"
	fi
}

# What an HSM or a cloud KMS returns is DER, 70 to 72 bytes for P-256 as
# often as not (the AWS Nitro artifact of mender-artifact's own tests is
# one); mender-artifact writes r||s, 64 bytes.  The client takes both;
# mender-artifact validate 3.9 takes r||s only, and the report says so.
test_ecdsa_encodings() {
	local d=$WORK/ecdsa unsigned=$FIXTURES/unsigned/gzip.mender i l n want
	mkdir -p "$d"
	tar -xOf "$unsigned" manifest >"$d/manifest"
	# openssl's DER signatures of the manifest, until one of each common
	# length is found (71 bytes half the time, 70 and 72 a quarter each).
	for ((i = 0; i < 200; i++)); do
		openssl dgst -sha256 -sign "$K/ec256.pem" -out "$d/sig" "$d/manifest" || break
		l=$(stat -c %s "$d/sig")
		[ -e "$d/der$l" ] || mv "$d/sig" "$d/der$l"
		[ -e "$d/der70" ] && [ -e "$d/der71" ] && [ -e "$d/der72" ] && break
	done
	for l in 70 71 72; do
		if [ ! -e "$d/der$l" ] || ! add_signature "$unsigned" "$d/der$l" "$d/der$l.mender"; then
			fail "cannot make an artifact with a $l-byte DER signature"
			continue
		fi
		# The control: mender-artifact 3.9 refuses it, the client (OpenSSL)
		# does not.
		if mender-artifact validate -k "$K/ec256.pub.pem" "$d/der$l.mender" >"$TEST_TMP/ma.out" 2>&1; then
			note "mender-artifact validate accepts the $l-byte DER signature"
			want=""
		else
			want="refuses an ECDSA signature in DER of $l bytes"
		fi
		check "openssl verifies the $l-byte DER signature" \
			openssl dgst -sha256 -verify "$K/ec256.pub.pem" -signature "$d/der$l" \
			-out /dev/null "$d/manifest"
		encoding_case "DER of $l bytes" "$d/der$l.mender" verified "canonical der" "$want" \
			-o "verify_key=$K/ec256.pub.pem"
	done
	if [ -e "$d/der71.mender" ]; then
		encoding_case "DER of 71 bytes, no key" "$d/der71.mender" no-keys "canonical der" \
			"refuses an ECDSA signature in DER of 71 bytes"
		encoding_case "DER of 71 bytes, another key" "$d/der71.mender" invalid-signature \
			"canonical der" "" -o "verify_key=$K/other-ec.pub.pem"
		# One byte after the DER: OpenSSL, as the client, refuses it.
		{ cat "$d/der71"; printf '\0'; } >"$d/der71z"
		add_signature "$unsigned" "$d/der71z" "$d/der71z.mender"
		encoding_case "DER of 71 bytes and a trailing byte" "$d/der71z.mender" \
			invalid-signature "canonical" "" -o "verify_key=$K/ec256.pub.pem"
	fi
	# r||s as mender-artifact writes it; RSA has no ECDSA form.
	n=$FIXTURES/signed/ec256-lzma.mender
	check "mender-artifact validate accepts its own r||s signature" \
		mender-artifact validate -k "$K/ec256.pub.pem" "$n"
	encoding_case "r||s of 64 bytes" "$n" verified "canonical raw" "" \
		-o "verify_key=$K/ec256.pub.pem"
	encoding_case "r||s of 64 bytes, no key" "$n" no-keys "canonical raw" ""
	encoding_case "RSA" "$FIXTURES/signed/rsa2048-gzip.mender" verified "canonical" "" \
		-o "verify_key=$K/rsa2048.pub.pem"
}

# ---- 1 and 3: allow_other, a root daemon --------------------------------------------

test_allow_other() {
	local label="allow_other" key=$K/rsa3072.pem art sha f n log line40
	# Signed by rsa2048, so that a removal or a new signature would show.
	art=$WORK/allow-other.mender
	cp "$FIXTURES/signed/rsa2048-gzip.mender" "$art"
	sha=$(sha256_of "$art")
	mount_artifact "$art" "$MNT" -o "allow_other,sign_key=$key,verify_key=$K/rsa3072.pub.pem" ||
		return
	log=$MOUNT_LOG

	for f in version manifest .verify; do
		if as_user cat "$MNT/$f" >"$TEST_TMP/user.read" 2>"$TEST_TMP/user.err" &&
			cmp -s "$TEST_TMP/user.read" "$MNT/$f" && [ -s "$TEST_TMP/user.read" ]; then
			ok "$label: $RUN_AS reads $f ($(wc -c <"$TEST_TMP/user.read") bytes, as root does)"
		else
			fail "$label: $RUN_AS cannot read $f ($(stat -c '%U %a' "$MNT/$f"))"
			note_file "$TEST_TMP/user.err"
		fi
	done
	# Inside contents/ the image's own modes apply (SPEC): not compared.
	(cd "$MNT" && find . -mindepth 1 -path './contents/*/*/*' -prune -o \
		-printf '%P\n' | LC_ALL=C sort) >"$TEST_TMP/root.list"
	(cd "$MNT" && as_user find . -mindepth 1 -path './contents/*/*/*' -prune -o \
		-printf '%P\n' 2>"$TEST_TMP/user.err" |
		LC_ALL=C sort) >"$TEST_TMP/user.list"
	n=$(wc -l <"$TEST_TMP/root.list")
	if [ "$n" -gt 5 ] && [ ! -s "$TEST_TMP/user.err" ] &&
		cmp -s "$TEST_TMP/root.list" "$TEST_TMP/user.list"; then
		ok "$label: $RUN_AS lists the whole tree ($n entries, as root does)"
	else
		fail "$label: $RUN_AS's find over the tree differs from root's"
		diff "$TEST_TMP/root.list" "$TEST_TMP/user.list" >"$TEST_TMP/list.diff"
		note_file "$TEST_TMP/list.diff"
		note_file "$TEST_TMP/user.err"
	fi
	check "$label: signature is mode $(stat -c %a "$MNT/signature") (want 644)" \
		[ "$(stat -c %a "$MNT/signature")" = 644 ]

	cat "$MNT/.verify" >"$TEST_TMP/verify.before"
	cat "$MNT/signature" >"$TEST_TMP/sig.before"
	check "$label: before: .verify says '$(first_line "$TEST_TMP/verify.before")'" \
		[ "$(first_line "$TEST_TMP/verify.before")" = "status: invalid-signature" ]
	# shellcheck disable=SC2016 # expanded by the other user's shell
	{
		user_write "$label: echo sign > signature" "Permission denied" 'echo sign >"$1"'
		user_write "$label: ': > signature'" "Permission denied" ': >"$1"'
		user_write "$label: truncate -s 0 signature" "Permission denied" 'truncate -s 0 "$1"'
		user_write "$label: chmod 0666 signature" "Operation not permitted" 'chmod 0666 "$1"'
	}
	check "$label: after the refused writes: the artifact is byte-identical (sha256)" \
		[ "$(sha256_of "$art")" = "$sha" ]
	check "$label: after the refused writes: .verify is unchanged" \
		cmp -s "$TEST_TMP/verify.before" "$MNT/.verify"
	check "$label: after the refused writes: signature is unchanged" \
		cmp -s "$TEST_TMP/sig.before" "$MNT/signature"
	check "$label: after the refused writes: signature is still mode 644" \
		[ "$(stat -c %a "$MNT/signature")" = 644 ]

	# 3: nothing of the loaded key in the tree, before and after signing.
	key_patterns "$key" "$TEST_TMP/key.pats"
	line40=$(key_line40 "$key")
	check "$label: the 40-character probe '$line40' is in the key file itself" \
		grep -qF -- "$line40" "$key"
	grep_tree "$label: key loaded" "$MNT" "$TEST_TMP/key.pats"

	if echo sign 2>"$TEST_TMP/write.err" >"$MNT/signature"; then
		ok "$label: root (the owner) signs: echo sign > signature exits 0"
	else
		fail "$label: root cannot sign"
		note_file "$TEST_TMP/write.err"
	fi
	check "$label: signed: .verify says '$(first_line "$MNT/.verify")'" \
		[ "$(first_line "$MNT/.verify")" = "status: verified" ]
	check "$label: signed: the signature changed" \
		[ "$(cat "$MNT/signature")" != "$(cat "$TEST_TMP/sig.before")" ]
	check "$label: signed: the artifact was rewritten" [ "$(sha256_of "$art")" != "$sha" ]

	if grep -rqF -- "$line40" "$MNT" 2>"$TEST_TMP/grep.err"; then
		fail "$label: signed: grep -rF '$line40' finds the key in the tree"
	elif [ -s "$TEST_TMP/grep.err" ]; then
		fail "$label: signed: grep -rF over the tree failed"
		note_file "$TEST_TMP/grep.err"
	else
		ok "$label: signed: grep -rF of a 40-character line of the key finds nothing"
	fi
	grep_tree "$label: signed" "$MNT" "$TEST_TMP/key.pats"
	der_check "$label: signed" "$MNT" "$key"
	unmount_artifact "$MNT" || sanitizer_summary "$log"
	grep_log "$label" "$log" "$TEST_TMP/key.pats"
}

# ---- 2: a daemon of an unprivileged user ------------------------------------------------

# The helper that stands in for MENDERFS: root mounts the last argument as
# a FUSE file system of RUN_AS, then becomes RUN_AS and runs the daemon on
# /dev/fd/N, in the same process (so lib.sh waits for the daemon itself).
# With --probe it only mounts and unmounts.
write_user_helper() {
	cat >"$TEST_TMP/user_mount.py" <<'EOF'
import ctypes, os, sys

MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2
daemon, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
args = sys.argv[4:]
probe = args[0] == "--probe"
if probe:
    args = args[1:]
artifact, mnt = args[-2], args[-1]
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open("/dev/fuse", os.O_RDWR)
# What fusermount3 would pass for this user, plus what menderfs asks for;
# allow_other lets the test (root) poll and unmount it.
opts = "fd=%d,rootmode=40000,user_id=%d,group_id=%d,default_permissions,allow_other" % (
    fd, uid, gid)
if libc.mount(artifact.encode(), mnt.encode(), b"fuse.menderfs",
              MS_NOSUID | MS_NODEV, opts.encode()) != 0:
    sys.exit("mount %s: %s" % (mnt, os.strerror(ctypes.get_errno())))
if probe:
    libc.umount2(mnt.encode(), MNT_DETACH)
    sys.exit(0)
os.set_inheritable(fd, True)
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
os.execv(daemon, [daemon] + args[:-1] + ["/dev/fd/%d" % fd])
EOF
	{
		echo '#!/bin/sh'
		printf 'exec %q %q %q %q %q "$@"\n' "$(command -v python3)" \
			"$TEST_TMP/user_mount.py" "$DAEMON" "$RUN_UID" "$RUN_GID"
	} >"$TEST_TMP/menderfs-as-user"
	chmod 0755 "$TEST_TMP/menderfs-as-user"
}

# proc_owner PID: the owner the kernel gives /proc/PID/status.
proc_owner() {
	stat -c %U "/proc/$1/status" 2>/dev/null || echo "(gone)"
}

# user_daemon_ok LABEL MNT: the daemon serving MNT answers RUN_AS, and is
# menderfs running as RUN_AS (not the helper before its exec).
user_daemon_ok() {
	local label=$1 mnt=$2 pid uid exe
	pid=$(daemon_pid "$mnt")
	if ! timeout -k 2 20 setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups \
		stat "$mnt/version" >/dev/null 2>"$TEST_TMP/stat.err"; then
		fail "$label: $RUN_AS cannot stat its own mount"
		note_file "$TEST_TMP/stat.err"
		return 1
	fi
	uid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
	if [ "$uid" = "$RUN_UID" ] && [ "$exe" = "$DAEMON" ]; then
		ok "$label: the daemon (pid $pid) runs as $RUN_AS (uid $uid)"
		return 0
	fi
	fail "$label: pid $pid is '$exe' with uid '$uid', want $DAEMON as $RUN_UID"
	return 1
}

test_user_daemon() {
	local label udir umnt key pid log rc
	write_user_helper
	udir=$TEST_TMP/user
	umnt=$udir/mnt
	mkdir -p "$udir" "$umnt"
	key=$udir/sign.pem
	cp "$K/rsa2048.pem" "$key"
	cp "$K/rsa2048.pub.pem" "$udir/verify.pem"
	cp "$FIXTURES/unsigned/gzip.mender" "$udir/signed-here.mender"
	cp "$FIXTURES/unsigned/gzip.mender" "$udir/control.mender"
	chmod 0600 "$key"
	chown -R "$RUN_UID:$RUN_GID" "$udir"
	chmod 0700 "$udir"
	key_patterns "$key" "$TEST_TMP/user-key.pats"

	if ! "$TEST_TMP/menderfs-as-user" --probe "$udir/control.mender" "$umnt" \
		2>"$TEST_TMP/probe.err"; then
		note "no FUSE mount for $RUN_AS here ($(head -n 1 "$TEST_TMP/probe.err")):" \
			"skipping the unprivileged daemon"
		return
	fi
	MENDERFS=$TEST_TMP/menderfs-as-user

	label="$RUN_AS's daemon with sign_key"
	# -d: the most the daemon ever logs.
	if mount_artifact "$udir/signed-here.mender" "$umnt" -d -o noindex \
		-o "sign_key=$key,verify_key=$udir/verify.pem" &&
		user_daemon_ok "$label" "$umnt"; then
		log=$MOUNT_LOG
		pid=$(daemon_pid "$umnt")
		check "$label: not dumpable: /proc/$pid/status is owned by $(proc_owner "$pid") (want root)" \
			[ "$(proc_owner "$pid")" = root ]
		as_user head -c 1 "/proc/$pid/environ" >/dev/null 2>"$TEST_TMP/environ.err"
		rc=$?
		check "$label: $RUN_AS cannot read its /proc/$pid/environ ($(head -n 1 "$TEST_TMP/environ.err"))" \
			[ "$rc" -ne 0 ]
		# The owner may sign: the key works from this daemon.  The tree
		# is read for the first time after that, as a user would.
		# shellcheck disable=SC2016 # expanded by RUN_AS's shell
		if as_user bash -c 'echo sign >"$1"' bash "$umnt/signature" 2>"$TEST_TMP/write.err"; then
			ok "$label: $RUN_AS (the owner) signs through its mount"
		else
			fail "$label: $RUN_AS cannot sign through its own mount"
			note_file "$TEST_TMP/write.err"
		fi
		check "$label: signed: .verify says '$(first_line "$umnt/.verify")'" \
			[ "$(first_line "$umnt/.verify")" = "status: verified" ]
		check "$label: signed: still not dumpable ($(proc_owner "$pid"))" \
			[ "$(proc_owner "$pid")" = root ]
		grep_tree "$label: signed" "$umnt" "$TEST_TMP/user-key.pats" as_user
		der_check "$label: signed" "$umnt" "$key"
		unmount_artifact "$umnt" || sanitizer_summary "$log"
		grep_log "$label (-d)" "$log" "$TEST_TMP/user-key.pats"
	elif [ -n "$(daemon_pid "$umnt")" ]; then
		unmount_artifact "$umnt"
	fi

	# The control case: no sign_key, an ordinary dumpable process, whose
	# /proc files belong to its user.
	label="$RUN_AS's daemon without sign_key"
	if mount_artifact "$udir/control.mender" "$umnt" -o noindex \
		-o "verify_key=$udir/verify.pem" && user_daemon_ok "$label" "$umnt"; then
		pid=$(daemon_pid "$umnt")
		check "$label: dumpable: /proc/$pid/status is owned by $(proc_owner "$pid") (want $RUN_AS)" \
			[ "$(proc_owner "$pid")" = "$RUN_AS" ]
		if as_user head -c 1 "/proc/$pid/environ" >/dev/null 2>"$TEST_TMP/environ.err"; then
			ok "$label: $RUN_AS reads its /proc/$pid/environ"
		else
			fail "$label: $RUN_AS cannot read its /proc/$pid/environ"
			note_file "$TEST_TMP/environ.err"
		fi
		unmount_artifact "$umnt"
	elif [ -n "$(daemon_pid "$umnt")" ]; then
		unmount_artifact "$umnt"
	fi
	MENDERFS=$DAEMON
}

echo "--- keys and policy as on a device"
test_device_keys
echo "--- ECDSA signatures: raw and DER"
test_ecdsa_encodings
if [ -n "$USER_CASES" ]; then
	echo "$USER_CASES: skipping the allow_other and unprivileged daemon cases"
else
	echo "--- allow_other: who may sign; the key is not in the tree"
	test_allow_other
	echo "--- a daemon of $RUN_AS: not dumpable with sign_key"
	test_user_daemon
fi

finish
