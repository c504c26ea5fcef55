#!/usr/bin/env bash
# Modes, as SPEC's "The tree" has them: a file's mode is its permission
# bits from the tar, less the write and set-id bits, plus read for
# everyone (0755 shows as 0555, 0600 as 0444); directories are 0555.
#
#   test_modes.sh MENDERFS
#
# The artifact is made here by mender-artifact, which keeps each payload
# file's mode and each state script's mode in its tars (Python's tarfile
# reads them back, so the expected modes come from the artifact, not from
# this script's idea of it).  The modes are the smallest set that tells
# the rule apart from its neighbours: an executable (0755), a private
# file (0600), a set-uid program (04755), execute only (0111), nothing
# (0000), a plain file (0644), a state script (0700).

if [ $# -ne 1 ]; then
	echo "usage: $0 MENDERFS" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

skip_unless_fuse
if ! command -v mender-artifact >/dev/null 2>&1; then
	echo "mender-artifact not found; skipping"
	FINISHED=1
	exit 77
fi

SRC=$TEST_TMP/src
MNT=$TEST_TMP/mnt
mkdir -p "$SRC" "$MNT"
ART=$TEST_TMP/modes.mender

make_file() {
	printf '%s\n' "$1" >"$SRC/$1"
	chmod "$2" "$SRC/$1"
}
make_file run.sh 0755
make_file secret 0600
make_file suid 04755
make_file xonly 0111
make_file nothing 0000
make_file plain 0644
printf '#!/bin/sh\nexit 0\n' >"$SRC/ArtifactInstall_Enter_00"
chmod 0700 "$SRC/ArtifactInstall_Enter_00"
if ! (cd "$SRC" && mender-artifact write module-image -T modes -t dev -n modes-1 \
	-f run.sh -f secret -f suid -f xonly -f nothing -f plain \
	-s ArtifactInstall_Enter_00 -o "$ART") >"$TEST_TMP/ma.log" 2>&1; then
	fail "mender-artifact write module-image"
	note_file "$TEST_TMP/ma.log"
	finish
fi

# want_modes: "PATH MODE" for every file and directory the tree shows from
# the tars, MODE as SPEC computes it from the tar's mode.
python3 - "$ART" >"$TEST_TMP/want" <<'EOF'
import io, sys, tarfile

def shown(mode):
    return (mode & 0o555) | 0o444

outer = tarfile.open(sys.argv[1])
for m in outer.getmembers():
    print("%s %04o" % (m.name, shown(m.mode)))
    inner = None
    if m.name == "header.tar.gz":
        inner = "header"
    elif m.name.startswith("data/") and m.name.endswith(".tar.gz"):
        inner = m.name[:-len(".tar.gz")]
    if inner is None:
        continue
    t = tarfile.open(fileobj=io.BytesIO(outer.extractfile(m).read()), mode="r:gz")
    for e in t.getmembers():
        if e.isfile():
            print("%s/%s %04o" % (inner, e.name, shown(e.mode)))
print("data 0555")
print("data/0000 0555")
print("header 0555")
print("header/scripts 0555")
print("header/headers 0555")
print("header/headers/0000 0555")
EOF

# The rule's own examples, so a wrong reading of the tar cannot pass.
for line in "data/0000/run.sh 0555" "data/0000/secret 0444" "data/0000/suid 0555" \
	"data/0000/xonly 0555" "data/0000/nothing 0444" "data/0000/plain 0444" \
	"header/scripts/ArtifactInstall_Enter_00 0544" "manifest 0444"; do
	check "the rule gives '$line' for this artifact" grep -qxF "$line" "$TEST_TMP/want"
done

if mount_artifact "$ART" "$MNT"; then
	while read -r path want; do
		got=$(stat -c %04a "$MNT/$path" 2>&1)
		if [ "$got" = "$want" ]; then
			ok "$path: mode $got"
		else
			fail "$path: mode $got, want $want"
		fi
	done <"$TEST_TMP/want"
	# Whatever the tar says, nothing is writable or set-id but signature.
	find "$MNT" \( -perm /7222 ! -name signature \) -printf '%P %m\n' >"$TEST_TMP/writable"
	check "no file but signature is writable or set-id" [ ! -s "$TEST_TMP/writable" ]
	note_file "$TEST_TMP/writable"
	unmount_artifact "$MNT"
fi

finish
