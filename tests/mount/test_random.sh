#!/usr/bin/env bash
# Random access to a mounted ext4 payload: random preads compared with
# the image, debugfs and a loop mount reading files out of it, and the
# persistent index: saved by the background pass, loaded by the next
# mount, and rebuilt when it is corrupt.
#
#   test_random.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_random_artifacts.sh.

if [ $# -ne 2 ]; then
	echo "usage: $0 MENDERFS FIXTURE_DIR" >&2
	exit 2
fi
MENDERFS=$(realpath "$1")
FIXTURES=$(realpath "$2")

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

skip_unless_fuse

IMAGE=$FIXTURES/rootfs.ext4
MNT=$TEST_TMP/mnt
mkdir -p "$MNT"

# random_preads FILE SEED COUNT: COUNT preads of 1 B..256 KiB at random
# offsets, each compared with the image; prints what differs.
random_preads() {
	python3 - "$1" "$IMAGE" "$2" "$3" <<'PY'
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
ref = os.open(sys.argv[2], os.O_RDONLY)
rng = random.Random(int(sys.argv[3]))
size = os.fstat(ref).st_size
if os.fstat(fd).st_size != size:
    print("size %d, image %d" % (os.fstat(fd).st_size, size))
    sys.exit(1)
bad = 0
for _ in range(int(sys.argv[4])):
    off = rng.randrange(size)
    n = rng.randrange(1, 256 * 1024)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    if os.pread(fd, n, off) != os.pread(ref, n, off):
        print("differs at %d (+%d)" % (off, n))
        bad += 1
sys.exit(1 if bad else 0)
PY
}

not_grep() {	# not_grep PATTERN FILE
	! grep -q "$1" "$2"
}

# wait_for_index DIR: until the background pass saved an index (60 s).
wait_for_index() {
	local i
	for ((i = 0; i < 1200; i++)); do
		compgen -G "$1/*.idx" >/dev/null && return 0
		sleep "$POLL"
	done
	return 1
}

# Some files of the image and their bytes, for debugfs and the loop mount.
sample_files() {
	(cd "$FIXTURES/src" && find . -type f | sort | awk 'NR % 197 == 1')
	echo ./big.txt
}

for c in gzip lzma; do
	art=$FIXTURES/rootfs-$c.mender
	idx=$TEST_TMP/index-$c
	payload=$MNT/data/0000/rootfs.ext4
	echo "--- $c"

	# A fresh mount: no index yet.
	mount_artifact "$art" "$MNT" -o "index_dir=$idx" || continue
	out=$(random_preads "$payload" 1 200 2>&1)
	check "$c: 200 random preads on a fresh mount match the image" \
		test -z "$out"
	[ -z "$out" ] || note "$out"

	bad=0
	while IFS= read -r f; do
		if ! debugfs -R "cat /${f#./}" "$payload" 2>/dev/null |
			cmp -s - "$FIXTURES/src/$f"; then
			bad=$((bad + 1))
			note "debugfs: $f differs"
		fi
	done < <(sample_files)
	check "$c: debugfs cat of $(sample_files | wc -l) files matches" test "$bad" -eq 0

	loop=$TEST_TMP/loop
	mkdir -p "$loop"
	if mount -o loop,ro "$payload" "$loop" 2>"$TEST_TMP/loop.err"; then
		check "$c: loop mount of the image has the same files" \
			diff -r -x lost+found "$FIXTURES/src" "$loop"
		umount "$loop"
	else
		note "loop mount unavailable here: $(cat "$TEST_TMP/loop.err")"
	fi

	check "$c: the background pass saves an index" wait_for_index "$idx"
	unmount_artifact "$MNT"

	# The next mount loads it: no warning, reads stay right, and it runs
	# no pass, so the file is not written again (same inode).
	file=$(compgen -G "$idx/*.idx" | head -n1)
	inode=$(stat -c %i "$file")
	mount_artifact "$art" "$MNT" -o "index_dir=$idx" || continue
	out=$(random_preads "$payload" 2 200 2>&1)
	check "$c: random preads with the index loaded match" test -z "$out"
	[ -z "$out" ] || note "$out"
	log=${DAEMON_LOG[$MNT]}
	check "$c: the saved index is taken without complaint" \
		not_grep "ignoring index" "$log"
	unmount_artifact "$MNT"
	check "$c: the loaded index is not rebuilt" \
		test "$(stat -c %i "$file")" = "$inode"

	# A corrupt index is refused with a warning, reads stay right, and
	# the pass writes a good one in its place.
	size=$(stat -c %s "$file")
	printf '\xff\xff\xff\xff' | dd of="$file" bs=1 seek=$((size / 2)) \
		conv=notrunc status=none
	cp "$file" "$TEST_TMP/corrupt.idx"
	mount_artifact "$art" "$MNT" -o "index_dir=$idx" || continue
	log=${DAEMON_LOG[$MNT]}
	check "$c: a corrupt index is reported" grep -q "ignoring index.*corrupt" "$log"
	out=$(random_preads "$payload" 3 100 2>&1)
	check "$c: random preads after a corrupt index match" test -z "$out"
	# The pass replaces it once it has decoded the payload.
	for ((i = 0; i < 1200; i++)); do
		cmp -s "$file" "$TEST_TMP/corrupt.idx" || break
		sleep "$POLL"
	done
	unmount_artifact "$MNT"
	check "$c: the pass wrote a new index" \
		sh -c '[ -f "$1" ] && ! cmp -s "$1" "$2"' - "$file" \
		"$TEST_TMP/corrupt.idx"
	inode=$(stat -c %i "$file")
	mount_artifact "$art" "$MNT" -o "index_dir=$idx" || continue
	check "$c: the rebuilt index loads cleanly" \
		not_grep "ignoring index" "${DAEMON_LOG[$MNT]}"
	unmount_artifact "$MNT"
	check "$c: the rebuilt index is not rebuilt again" \
		test "$(stat -c %i "$file")" = "$inode"

	# -o noindex leaves no file behind.
	noidx=$TEST_TMP/noindex-$c
	mount_artifact "$art" "$MNT" -o "noindex,index_dir=$noidx" || continue
	head -c 1 "$MNT/.verify" >/dev/null	# waits for the whole pass
	unmount_artifact "$MNT"
	check "$c: -o noindex writes no index" \
		test -z "$(ls -A "$noidx" 2>/dev/null)"
done

finish
