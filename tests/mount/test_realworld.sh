#!/usr/bin/env bash
# Real artifacts that nobody here made: every artifact of a folder of
# artifacts copied from public repositories (Mender's test data, an
# artifact signed in an AWS Nitro HSM with a DER signature, module and
# single-file artifacts of third parties, antmicro's rdfm tool), mounted
# and judged as a Mender client would.
#
#   test_realworld.sh MENDERFS [DIR]
#
# DIR (or $MENDERFS_REALWORLD_DIR, which wins) holds the artifacts, a
# keys/ folder and SOURCES.md saying where each came from.  The folder is
# not part of this repository; when it is absent the test is skipped.
#
# For every artifact:
# 1. It mounts; every outer member, and every file of header.tar* and of
#    each data/NNNN.tar*, is byte-identical to what Python's tarfile
#    extracts, and the tree holds no file the tars do not.
# 2. `sha256sum -c manifest` inside the mount passes (version 3).
# 3. The verdict is the client's: without a key, `no-keys` for a signed
#    artifact and `unsigned` for an unsigned one; with a key, `unsigned`
#    for an unsigned one (a failure, as on a device with keys); for a
#    signed one `verified` with the key SOURCES.md names and
#    `invalid-signature` with another.
# Artifacts whose version member says another format than "mender" (rdfm's
# own "rdfm" format) are not Mender Artifacts: the client refuses them
# ("format" must be "mender"), and SPEC has menderfs refuse such a file at
# start-up with one line naming it; that refusal is what is checked.
# rdfm's older .rdfm files say "mender" and are ordinary version 3
# artifacts (their delta payloads are files like any other: menderfs shows
# and checks their bytes, and applying a delta is the update module's
# business), so they are judged as the rest.

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 MENDERFS [DIR]" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
RW=${MENDERFS_REALWORLD_DIR:-${2:-}}
HERE=$(cd "$(dirname "$0")" && pwd)

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

if [ -z "$RW" ] || [ ! -d "$RW" ] || [ ! -f "$RW/SOURCES.md" ]; then
	echo "no real-world artifacts at '${RW:-(none given)}' (set MENDERFS_REALWORLD_DIR" \
		"to a folder of .mender files with keys/ and SOURCES.md); skipping"
	FINISHED=1
	exit 77
fi
RW=$(realpath "$RW")
skip_unless_fuse
for tool in sha256sum openssl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool not found; skipping"
		FINISHED=1
		exit 77
	fi
done

MNT=$TEST_TMP/mnt
mkdir -p "$MNT"
KEYS=$RW/keys

# The key that signed each signed artifact, from SOURCES.md's key table
# ("P-256 public key of the AWS Nitro HSM that signed a0-signed-nitro__133724c",
# "public key for a0-signed-nitro__a74faca").  A signed artifact missing
# here fails: its verdict with the right key cannot be checked.
declare -A RIGHT_KEY=(
	[mender-artifact__a0-signed-nitro__133724c.mender]=mender-artifact__tests-data-ec__3e9a9fe.pem
	[mender-artifact__a0-signed-nitro__a74faca.mender]=mender-artifact__tests-data-ec__efa0ea6.pem
)
# Keys that signed none of them: an RSA 2048 and a P-256 public key of
# meta-mender's test_signed_updates, and mender-artifact's reader-test RSA
# 1024 keys (a device may hold such a key: it must load and reject), the
# second with exponent 65539, which that test expects to fail.
WRONG_KEYS=(meta-mender__test-public-RSA__1d6c582.pem meta-mender__test-public-EC__a4632c3.pem
	mender-artifact__areader-reader_test-PublicKey.pem
	mender-artifact__areader-reader_test-PublicKeyError.pem)

# tree_matches ARTIFACT MNT: Python's tarfile against the mount.  Prints
# one line of counts; exit 1 with the differences listed.
tree_matches() {
	python3 - "$1" "$2" <<'EOF'
import io, os, subprocess, sys, tarfile

art, mnt = sys.argv[1], sys.argv[2]
problems, files = [], 0

def files_under(top):
    out = set()
    for root, dirs, names in os.walk(top):
        if root == mnt:
            dirs[:] = [d for d in dirs if d != "contents"]
        for n in names:
            p = os.path.join(root, n)
            if os.path.isfile(p):
                out.add(os.path.relpath(p, mnt))
    return out

def same(rel, data):
    global files
    files += 1
    try:
        with open(os.path.join(mnt, rel), "rb") as f:
            got = f.read()
    except OSError as e:
        problems.append("%s: %s" % (rel, e))
        return
    if got != data:
        problems.append("%s: %d bytes in the mount, %d from tarfile" % (rel, len(got), len(data)))

def inner_tar(name, data):
    if name.endswith(".zst"):
        data = subprocess.run(["zstd", "-dc"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:*")

want = set()
outer = tarfile.open(art)
for m in outer.getmembers():
    if not m.isfile():
        continue
    data = outer.extractfile(m).read()
    same(m.name, data)
    want.add(m.name)
    base = m.name.split(".tar")[0] if ".tar" in m.name else None
    if base is None or not (base in ("header", "header-augment") or base.startswith("data/")):
        continue
    t = inner_tar(m.name, data)
    for e in t.getmembers():
        if not e.isfile():
            continue
        rel = os.path.normpath(os.path.join(base, e.name))
        same(rel, t.extractfile(e).read())
        want.add(rel)

got = files_under(mnt) - {"signature", ".verify"}
for rel in sorted(got - want):
    problems.append("%s: in the mount, not in the tars" % rel)
for rel in sorted(want - got):
    problems.append("%s: in the tars, not in the mount" % rel)
print("%d files byte-identical to tarfile's, %d in the tree" % (files, len(got)))
for p in problems[:10]:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF
}

# version_format ARTIFACT: the "format" of its version member.
version_format() {
	python3 - "$1" <<'EOF'
import json, sys, tarfile
try:
    t = tarfile.open(sys.argv[1])
    print(json.loads(t.extractfile("version").read()).get("format", ""))
except Exception as e:
    print("unreadable: %s" % e)
EOF
}

# verdict LABEL ART WANT OPTION...: mounted with OPTION..., .verify's first
# line is "status: WANT".
verdict() {
	local label=$1 art=$2 want=$3 got
	shift 3
	if ! try_mount "$art" "$MNT" -o noindex "$@"; then
		fail "$label: not mounted (status $MOUNT_STATUS): $(head -n 1 "$MOUNT_LOG")"
		return 1
	fi
	cat "$MNT/.verify" >"$TEST_TMP/verify" 2>&1
	got=$(head -n 1 "$TEST_TMP/verify")
	if [ "$got" = "status: $want" ]; then
		ok "$label: $got"
	else
		fail "$label: '$got', want 'status: $want'"
		note_file "$TEST_TMP/verify"
	fi
	unmount_artifact "$MNT" >/dev/null || fail "$label: unmount"
	[ "$got" = "status: $want" ]
}

# sig_form NAME REPORT: the signature-encoding line names the form of
# NAME's manifest.sig as Python decodes it (RSA: none; 64 bytes: raw; else
# der), and a DER one has the mender-artifact: line.
sig_form() {
	local name=$1 report=$2 len want ma=""
	len=$(python3 -c 'import base64, sys, tarfile
print(len(base64.b64decode(tarfile.open(sys.argv[1]).extractfile("manifest.sig").read())))' \
		"$RW/$name")
	if [ "$len" -ge 128 ]; then
		want=canonical
	elif [ "$len" -eq 64 ]; then
		want="canonical raw"
	else
		want="canonical der"
		ma="mender-artifact: refuses an ECDSA signature in DER of $len bytes"
	fi
	local what="'signature-encoding: $want'"
	[ -n "$ma" ] && what+=" and '$ma ...'"
	if grep -qx "signature-encoding: $want" "$report" &&
		{ [ -z "$ma" ] || grep -q "^$ma " "$report"; }; then
		ok "$name: a $len-byte signature: $what"
	else
		fail "$name: a $len-byte signature: want $what"
		note_file "$report"
	fi
}

N_ART=0
N_MOUNTED=0
N_VERIFIED=0
N_UNSIGNED=0
N_REFUSED=0
SKIPPED=()

check_one() {
	local art=$1 name fmt signed=0 key wrong
	name=$(basename "$art")
	N_ART=$((N_ART + 1))
	fmt=$(version_format "$art")
	if [ "$fmt" != mender ]; then
		# Not a Mender Artifact (rdfm's own format): refused before
		# mounting, with one line naming the file.
		try_mount "$art" "$MNT" -o noindex
		if [ $? -eq 1 ] && [ "$(wc -l <"$MOUNT_LOG")" -eq 1 ] &&
			grep -qF "$name" "$MOUNT_LOG" && grep -q format "$MOUNT_LOG"; then
			ok "$name: format '$fmt' refused at start-up: $(cat "$MOUNT_LOG")"
			N_REFUSED=$((N_REFUSED + 1))
		else
			fail "$name: format '$fmt': want one line naming the file and the format"
			note_file "$MOUNT_LOG"
			[ -n "$(daemon_pid "$MNT")" ] && unmount_artifact "$MNT"
		fi
		return
	fi

	if ! try_mount "$art" "$MNT" -o noindex; then
		fail "$name: not mounted (status $MOUNT_STATUS)"
		note_file "$MOUNT_LOG"
		return
	fi
	N_MOUNTED=$((N_MOUNTED + 1))
	if tree_matches "$art" "$MNT" >"$TEST_TMP/tree.out" 2>&1; then
		ok "$name: $(head -n 1 "$TEST_TMP/tree.out")"
	else
		fail "$name: the tree differs from tarfile's extraction"
		note_file "$TEST_TMP/tree.out"
	fi
	if [ -f "$MNT/manifest" ]; then
		if (cd "$MNT" && sha256sum --quiet -c manifest) >"$TEST_TMP/sha.out" 2>&1; then
			ok "$name: sha256sum -c manifest passes ($(wc -l <"$MNT/manifest") entries)"
		else
			fail "$name: sha256sum -c manifest"
			note_file "$TEST_TMP/sha.out"
		fi
	else
		fail "$name: no manifest in a version 3 artifact's mount"
	fi
	[ -e "$MNT/manifest.sig" ] && signed=1
	unmount_artifact "$MNT" >/dev/null || fail "$name: unmount"

	if [ "$signed" -eq 0 ]; then
		verdict "$name without a key" "$art" unsigned &&
			verdict "$name with a key" "$art" unsigned \
				-o "verify_key=$KEYS/${WRONG_KEYS[1]}" &&
			N_UNSIGNED=$((N_UNSIGNED + 1))
		return
	fi
	key=${RIGHT_KEY[$name]:-}
	verdict "$name without a key" "$art" no-keys
	if [ -z "$key" ]; then
		fail "$name: signed, and no key for it is known (see SOURCES.md)"
		SKIPPED+=("$name: no key known")
		return
	fi
	for wrong in "${WRONG_KEYS[@]}"; do
		verdict "$name with $wrong" "$art" invalid-signature -o "verify_key=$KEYS/$wrong"
	done
	if verdict "$name with $key" "$art" verified -o "verify_key=$KEYS/$key"; then
		N_VERIFIED=$((N_VERIFIED + 1))
	fi
	# The report names the ECDSA form; a DER one (the Nitro HSM's) is
	# what mender-artifact 3.9 refuses ("invalid ecdsa key size"), and
	# the report says so.
	sig_form "$name" "$TEST_TMP/verify"
	# The right key after a wrong one: the client tries them in order.
	verdict "$name with ${WRONG_KEYS[1]}, then $key" "$art" verified \
		-o "verify_key=$KEYS/${WRONG_KEYS[1]}" -o "verify_key=$KEYS/$key"
}

shopt -s nullglob
for art in "$RW"/*.mender "$RW"/*.rdfm; do
	check_one "$art"
done
check "found artifacts in $RW ($N_ART)" [ "$N_ART" -gt 0 ]
echo "real-world: $N_ART artifacts; $N_MOUNTED mounted and compared; $N_VERIFIED signed" \
	"ones verified with their key; $N_UNSIGNED unsigned ones judged unsigned;" \
	"$N_REFUSED refused as not Mender Artifacts; ${#SKIPPED[@]} skipped${SKIPPED[*]:+: ${SKIPPED[*]}}"
finish
