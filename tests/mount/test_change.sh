#!/usr/bin/env bash
# The artifact changed behind the mount.  In place (dd conv=notrunc, cp
# over it): the next open, readdir or .verify read notices, the tree
# shows the new artifact as after signing, a file opened before reads EIO,
# and signature never shows the new signature padded with NUL bytes.
# Moved over (mv other A): the mount keeps the file it opened, and
# signing fails with ESTALE.
#
#   test_change.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_sign_artifacts.sh.

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

skip_unless_fuse
for tool in mender-artifact tar sha256sum cmp; do
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

pub() {
	printf '%s/%s.pub.pem\n' "$K" "$1"
}

sha256_of() {
	sha256sum <"$1" | cut -d' ' -f1
}

# listed DIR: the names in DIR but dot files, sorted, each with a space.
listed() {
	find "$1" -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\n' | LC_ALL=C sort | tr '\n' ' '
}

status_of() {
	head -n 1 "$MNT/.verify" 2>/dev/null || echo "(unreadable)"
}

# expect_status LABEL WORD: .verify's first line is "status: WORD".
expect_status() {
	local got
	got=$(status_of)
	if [ "$got" = "status: $2" ]; then
		ok "$1: .verify says '$got'"
	else
		fail "$1: .verify says '$got', want 'status: $2'"
	fi
}

# signature_is LABEL ART: MNT/signature reads exactly ART's manifest.sig
# (or nothing when ART has none), with no NUL byte.
signature_is() {
	local want=$TEST_TMP/want.sig got=$TEST_TMP/got.sig
	tar -xOf "$2" manifest.sig >"$want" 2>/dev/null || : >"$want"
	cat "$MNT/signature" >"$got" 2>/dev/null
	if cmp -s "$want" "$got"; then
		ok "$1: signature reads the artifact's manifest.sig ($(wc -c <"$want") bytes)"
	else
		fail "$1: signature reads $(wc -c <"$got") bytes ($(tr -cd '\0' <"$got" | wc -c) NUL), want $(wc -c <"$want")"
	fi
}

# member_is LABEL ART NAME: MNT/NAME is byte-identical to ART's NAME.
member_is() {
	if cmp -s <(tar -xOf "$2" "$3") "$MNT/$3"; then
		ok "$1: $3 is the new artifact's"
	else
		fail "$1: $3 differs from the new artifact's"
	fi
}

# payload_is LABEL ART FILE: MNT/data/0000/FILE is what ART's payload holds.
payload_is() {
	local member
	member=$(tar -tf "$2" | grep '^data/0000\.tar' | head -n 1)
	if cmp -s <(tar -xOf "$2" "$member" | decompress "$member" | tar -xOf - "$3") \
		"$MNT/data/0000/$3"; then
		ok "$1: data/0000/$3 serves the new bytes"
	else
		fail "$1: data/0000/$3 does not serve the new bytes"
	fi
}

# hold_open FILE READY GO RESULT: open FILE and read its first block, touch
# READY, wait for GO, drop the pages and read at the end of the file; put
# OK or the errno name in RESULT.  HOLD_PID is its process.
HOLD_PID=
hold_open() {
	python3 - "$@" <<'EOF' &
import errno, os, sys, time
path, ready, go, result = sys.argv[1:]
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
os.read(fd, 4096)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.02)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
try:
    os.pread(fd, 4096, max(size - 4096, 0))
    out = "OK"
except OSError as e:
    out = errno.errorcode.get(e.errno, str(e.errno))
os.close(fd)
with open(result, "w") as f:
    f.write(out)
EOF
	HOLD_PID=$!
}

wait_for() {
	local i
	for ((i = 0; i < 400; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# A byte of the payload changed in place, size kept: .verify read after
# it must not say verified, and the tree serves the new bytes.
test_dd_notrunc() {
	local label="dd conv=notrunc" art tampered off
	art=$WORK/dd.mender
	cp "$FIXTURES/signed/rsa2048-gzip.mender" "$art"
	# The same artifact with one byte of the (gzip) payload member
	# flipped near its end: the size stays, the checksum does not.
	tampered=$WORK/dd-tampered.mender
	cp "$art" "$tampered"
	off=$(python3 - "$tampered" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = t.getmember("data/0000.tar.gz")
    print(m.offset_data + m.size - 12)
EOF
	)
	printf '\x00\x00\x00\x00' | dd of="$tampered" bs=1 seek="$off" conv=notrunc status=none
	mount_artifact "$art" "$MNT" -o "verify_key=$(pub rsa2048)" || return
	expect_status "$label: before" verified
	rm -f "$TEST_TMP/ready" "$TEST_TMP/go" "$TEST_TMP/held"
	hold_open "$MNT/data/0000/rootfs.ext4" "$TEST_TMP/ready" "$TEST_TMP/go" "$TEST_TMP/held"
	wait_for "$TEST_TMP/ready"
	touch -d '@1700000100' "$tampered"
	dd if="$tampered" of="$art" bs=64k conv=notrunc status=none
	check "$label: the size is the same" [ "$(stat -c %s "$art")" = "$(stat -c %s "$tampered")" ]
	# The flipped bytes are gzip's trailer: the payload is corrupt.
	expect_status "$label: after" malformed
	touch "$TEST_TMP/go"
	wait_for "$TEST_TMP/held"
	wait "$HOLD_PID"
	check "$label: a file opened before the change reads $(cat "$TEST_TMP/held") (want EIO)" \
		[ "$(cat "$TEST_TMP/held")" = EIO ]
	member_is "$label" "$art" data/0000.tar.gz
	unmount_artifact "$MNT"
}

# cp over it: another artifact altogether, other members, another
# signature (or none).
test_cp_over() {
	local label art new
	label="cp signed over unsigned"
	art=$WORK/cp.mender
	new=$FIXTURES/signed/ec256-lzma.mender
	cp "$FIXTURES/unsigned/gzip.mender" "$art"
	mount_artifact "$art" "$MNT" -o "verify_key=$(pub ec256)" || return
	expect_status "$label: before" unsigned
	signature_is "$label: before" "$art"
	cp "$new" "$art"
	check "$label: ls shows the new members" \
		[ "$(listed "$MNT")" = "contents data header header.tar.xz manifest manifest.sig signature version " ]
	signature_is "$label" "$art"
	expect_status "$label" verified
	member_is "$label" "$art" manifest
	member_is "$label" "$art" header.tar.xz
	payload_is "$label" "$art" rootfs.ext4
	check "$label: sha256sum -c manifest in the mount" \
		bash -c "cd '$MNT' && sha256sum --quiet -c manifest"

	label="cp unsigned over signed"
	cp "$FIXTURES/unsigned/none.mender" "$art"
	signature_is "$label" "$art"
	check "$label: no manifest.sig" [ ! -e "$MNT/manifest.sig" ]
	expect_status "$label" unsigned
	member_is "$label" "$art" header.tar
	payload_is "$label" "$art" rootfs.ext4
	unmount_artifact "$MNT"
}

# An artifact with more payloads than the one mounted: the tree's
# per-payload bookkeeping must grow with it.
test_more_payloads() {
	local label="cp an artifact with two payloads over one with one" art two
	art=$WORK/more.mender
	two=$WORK/two.mender
	cp "$FIXTURES/unsigned/gzip.mender" "$art"
	python3 - "$art" "$two" <<'EOF'
import io, sys, tarfile
src = tarfile.open(sys.argv[1])
out = tarfile.open(sys.argv[2], "w", format=tarfile.USTAR_FORMAT)
for m in src.getmembers():
    data = src.extractfile(m).read()
    out.addfile(m, io.BytesIO(data))
    if m.name.startswith("data/0000"):
        m.name = m.name.replace("0000", "0001")
        out.addfile(m, io.BytesIO(data))
out.close()
EOF
	mount_artifact "$art" "$MNT" || return
	check "$label: before, data/ holds one payload" [ "$(listed "$MNT/data")" = "0000 0000.tar.gz " ]
	cp "$two" "$art"
	check "$label: data/ holds both ($(listed "$MNT/data"))" \
		[ "$(listed "$MNT/data")" = "0000 0000.tar.gz 0001 0001.tar.gz " ]
	check "$label: data/0001/rootfs.ext4 reads" cmp -s "$MNT/data/0000/rootfs.ext4" "$MNT/data/0001/rootfs.ext4"
	head -n 1 "$MNT/.verify" >/dev/null
	unmount_artifact "$MNT"
}

# Changed in place between the open of signature and the write of
# "sign", size and mtime kept: what was judged is not what would be
# copied, so nothing is written (ESTALE) and the file keeps the new bytes.
test_changed_before_sign() {
	local label="changed between open and sign" art tampered off got
	art=$WORK/sign-changed.mender
	cp "$FIXTURES/unsigned/gzip.mender" "$art"
	tampered=$WORK/sign-changed-tampered.mender
	cp "$art" "$tampered"
	off=$(python3 - "$tampered" <<'EOF2'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = t.getmember("data/0000.tar.gz")
    print(m.offset_data + m.size - 12)
EOF2
	)
	printf '\x00\x00\x00\x00' | dd of="$tampered" bs=1 seek="$off" conv=notrunc status=none
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	got=$(python3 - "$MNT/signature" "$art" "$tampered" <<'EOF2'
import errno, os, shutil, sys
sig, art, tampered = sys.argv[1:]
fd = os.open(sig, os.O_WRONLY)
st = os.stat(art)
with open(tampered, "rb") as src, open(art, "r+b") as dst:
    shutil.copyfileobj(src, dst)
os.utime(art, ns=(st.st_atime_ns, st.st_mtime_ns))
try:
    os.write(fd, b"sign\n")
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
try:
    os.close(fd)
except OSError:
    pass
EOF2
	)
	check "$label: write(2) gives $got (want ESTALE)" [ "$got" = ESTALE ]
	check "$label: the artifact holds the new bytes, unsigned" \
		cmp -s "$art" "$tampered"
	unmount_artifact "$MNT"
}

# mv other A: not a change of the mounted file.
test_moved_over() {
	local label="mv other over it" art other sha
	art=$WORK/mv.mender
	other=$WORK/mv-other.mender
	cp "$FIXTURES/unsigned/gzip.mender" "$art"
	cp "$FIXTURES/signed/ec256-lzma.mender" "$other"
	sha=$(sha256_of "$other")
	mount_artifact "$art" "$MNT" -o "sign_key=$K/rsa2048.pem" || return
	rm -f "$TEST_TMP/ready" "$TEST_TMP/go" "$TEST_TMP/held"
	hold_open "$MNT/data/0000/rootfs.ext4" "$TEST_TMP/ready" "$TEST_TMP/go" "$TEST_TMP/held"
	wait_for "$TEST_TMP/ready"
	mv "$other" "$art"
	check "$label: the mount still shows the file it opened" \
		[ "$(listed "$MNT")" = "contents data header header.tar.gz manifest signature version " ]
	check "$label: signature still reads empty" [ -z "$(cat "$MNT/signature")" ]
	expect_status "$label" unsigned
	if echo sign >"$MNT/signature" 2>"$TEST_TMP/write.err"; then
		fail "$label: echo sign exits 0"
	elif grep -qF "Stale file handle" "$TEST_TMP/write.err"; then
		ok "$label: echo sign fails: $(head -n 1 "$TEST_TMP/write.err")"
	else
		fail "$label: echo sign fails, but not with ESTALE: $(head -n 1 "$TEST_TMP/write.err")"
	fi
	check "$label: the file moved in is untouched" [ "$(sha256_of "$art")" = "$sha" ]
	touch "$TEST_TMP/go"
	wait_for "$TEST_TMP/held"
	wait "$HOLD_PID"
	check "$label: a file opened before still reads ($(cat "$TEST_TMP/held"))" \
		[ "$(cat "$TEST_TMP/held")" = OK ]
	unmount_artifact "$MNT"
}

# Written in place with its mtime set back, then hard-linked: the link
# count moved as well as the ctime, and that must not pass for the rename
# test_moved_over makes (there the mounted file loses its last name).
test_linked_after_write() {
	local label="dd, mtime set back, ln" art tampered off
	art=$WORK/ln.mender
	cp "$FIXTURES/signed/rsa2048-gzip.mender" "$art"
	tampered=$WORK/ln-tampered.mender
	cp "$art" "$tampered"
	off=$(python3 - "$tampered" <<'EOF2'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = t.getmember("data/0000.tar.gz")
    print(m.offset_data + m.size - 12)
EOF2
	)
	printf '\x00\x00\x00\x00' | dd of="$tampered" bs=1 seek="$off" conv=notrunc status=none
	mount_artifact "$art" "$MNT" -o "verify_key=$(pub rsa2048)" || return
	expect_status "$label: before" verified
	rm -f "$TEST_TMP/ready" "$TEST_TMP/go" "$TEST_TMP/held"
	hold_open "$MNT/data/0000/rootfs.ext4" "$TEST_TMP/ready" "$TEST_TMP/go" "$TEST_TMP/held"
	wait_for "$TEST_TMP/ready"
	touch -r "$art" "$WORK/ln-times"
	dd if="$tampered" of="$art" bs=64k conv=notrunc status=none
	touch -r "$WORK/ln-times" "$art"
	ln "$art" "$WORK/ln-second-name.mender"
	check "$label: the mtime is as mounted" \
		[ "$(stat -c %y "$art")" = "$(stat -c %y "$WORK/ln-times")" ]
	# The held file's read is the first request after the change: it
	# must notice it itself, not serve new bytes at the old offsets.
	touch "$TEST_TMP/go"
	wait_for "$TEST_TMP/held"
	wait "$HOLD_PID"
	check "$label: a file opened before, read first, reads $(cat "$TEST_TMP/held") (want EIO)" \
		[ "$(cat "$TEST_TMP/held")" = EIO ]
	expect_status "$label: after" malformed
	unmount_artifact "$MNT"
}

# require_signature judges every artifact the mount shows, not only the
# first: an unsigned one copied over it, or one signed by another key,
# serves nothing (EIO, the daemon goes on), a file held open reads EIO,
# and a verified one copied over it again is shown.  The signature is
# never removed (EPERM).
test_required() {
	local label="require_signature, cp unsigned over it" art held
	art=$WORK/req.mender
	cp "$FIXTURES/signed/rsa2048-gzip.mender" "$art"
	mount_artifact "$art" "$MNT" -o "verify_key=$(pub rsa2048)" \
		-o require_signature || return
	expect_status "$label: before" verified
	# truncate reports the failure (a shell's ': >' cannot: it
	# ignores close's status).
	if truncate -s 0 "$MNT/signature" 2>"$TEST_TMP/rm.err"; then
		fail "require_signature: truncate -s 0 signature succeeded"
	else
		check "require_signature: truncate -s 0 signature fails with EPERM ($(cat "$TEST_TMP/rm.err"))" \
			grep -q "not permitted" "$TEST_TMP/rm.err"
	fi
	: >"$MNT/signature" 2>/dev/null
	check "require_signature: the signature stays" \
		tar -tf "$art" manifest.sig
	rm -f "$TEST_TMP/ready" "$TEST_TMP/go" "$TEST_TMP/held"
	hold_open "$MNT/data/0000/rootfs.ext4" "$TEST_TMP/ready" "$TEST_TMP/go" "$TEST_TMP/held"
	wait_for "$TEST_TMP/ready"
	cp "$FIXTURES/unsigned/gzip.mender" "$art"
	check "$label: listing the root fails" not_listable "$MNT"
	check "$label: .verify cannot be read" not_readable "$MNT/.verify"
	check "$label: the manifest cannot be read" not_readable "$MNT/manifest"
	touch "$TEST_TMP/go"
	wait_for "$TEST_TMP/held"
	wait "$HOLD_PID"
	held=$(cat "$TEST_TMP/held")
	check "$label: a file opened before reads $held (want EIO)" [ "$held" = EIO ]
	check "$label: the refusal is logged once" \
		[ "$(grep -c 'cannot be shown' "$(daemon_log "$MNT")")" = 1 ]

	label="require_signature, cp signed by another key over it"
	cp "$FIXTURES/signed/ec256-lzma.mender" "$art"
	check "$label: the manifest cannot be read" not_readable "$MNT/manifest"

	label="require_signature, cp the verified one back"
	cp "$FIXTURES/signed/rsa2048-gzip.mender" "$art"
	expect_status "$label" verified
	member_is "$label" "$art" manifest
	unmount_artifact "$MNT"
}

not_listable() {
	! ls "$1" >/dev/null 2>&1
}

not_readable() {
	! cat "$1" >/dev/null 2>&1
}

daemon_log() {
	printf '%s\n' "${DAEMON_LOG[$1]:-/dev/null}"
}

test_dd_notrunc
test_linked_after_write
test_required
test_changed_before_sign
test_cp_over
test_more_payloads
test_moved_over

finish
