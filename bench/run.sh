#!/usr/bin/env bash
# Side-by-side timings on a realistic artifact (see make-artifact.sh),
# each against what a user would run instead, printed with ratios.  Run
# on demand, as root, after building (a release build: scripts/build.sh):
#
#   bench/run.sh [MENDERFS] [WORKDIR]
#
# "Fresh" mounts start with an empty index directory (a scratch one, so
# the index step 1 saves is kept for the later steps), so they pay for the
# first decode; "indexed" mounts load the index step 1 saved.
# Absolute times drift on a shared machine; read the ratios.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
menderfs=${1:-$here/../build/fs/menderfs}
work=${2:-/var/tmp/menderfs-bench}
art=$work/bench.mender
index=$work/index
mnt=$(mktemp -d)
trap 'fusermount3 -u "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT

[ -s "$art" ] || "$here/make-artifact.sh" "$work"
image=$work/rootfs.ext4
payload=data/0000/rootfs.ext4

seconds() {	# seconds CMD...: wall time of CMD, output discarded
	local t0 t1
	t0=$(date +%s.%N)
	"$@" > /dev/null
	t1=$(date +%s.%N)
	python3 -c "print(round($t1 - $t0, 3))"
}
ratio() { python3 -c "print(round($1 / $2, 2))"; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
# Steps 1 and 2 run this many times, alternating with what they are
# compared with, and print the medians: single runs drift by 20 % here.
rounds=${BENCH_ROUNDS:-3}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# The daemon of the current mount, and the highest peak RSS seen.
peak_kib=0
daemon_pid() { pgrep -nf "menderfs.*$art" || pgrep -nf "menderfs.*$work"; }
note_peak() {
	local kib
	kib=$(awk '/VmHWM/ {print $2}' /proc/"$(daemon_pid)"/status)
	[ "$kib" -gt "$peak_kib" ] && peak_kib=$kib
	return 0
}
scratch=$work/index-scratch
fresh_index() { rm -rf "$index"; mkdir -p "$index"; }
fresh_scratch() { rm -rf "$scratch"; mkdir -p "$scratch"; }
mountit() { "$menderfs" -o "index_dir=$index" "$@" "$art" "$mnt"; }
mount_scratch() { "$menderfs" -o "index_dir=$scratch" "$@" "$art" "$mnt"; }
umountit() { note_peak; fusermount3 -u "$mnt"; sleep 0.2; }
rss_now() { awk '/VmHWM/ {print int($2 / 1024) " MiB"}' /proc/"$(daemon_pid)"/status; }
# Waits until the background pass saved the index (or 300 s passed).
wait_index() {
	local i
	for i in $(seq 3000); do
		[ -n "$(ls "$index")" ] && return 0
		sleep 0.1
	done
	echo "warning: no index saved" >&2
}

echo "artifact: $art ($(stat -c %s "$art") bytes), image $(stat -c %s "$image") bytes"
echo "machine: $(nproc) cores, $(uname -r)"
echo

# 0. Mounting is a walk over the members, like listing them.
fresh_scratch
drop_caches
t_mount=$(seconds mount_scratch)
umountit
t_tar=$(seconds tar -tvf "$art")
echo "0. mount: ${t_mount}s   tar -tvf: ${t_tar}s"

# 1. Sequential read of the image on a fresh mount, then with the index.
cats=() igzips=()
for round in $(seq "$rounds"); do
	fresh_index
	drop_caches
	mountit
	cats+=("$(seconds cat "$mnt/$payload")")
	wait_index
	umountit
	drop_caches
	igzips+=("$(seconds sh -c "tar -xOf '$art' data/0000.tar.gz | igzip -dc")")
done
t_cat=$(median "${cats[@]}")
t_igzip=$(median "${igzips[@]}")
mountit
t_cat2=$(seconds cat "$mnt/$payload")
umountit
echo "1. cat image, fresh mount: ${t_cat}s   tar -xOf | igzip -dc: ${t_igzip}s   (medians of $rounds: ${cats[*]} / ${igzips[*]})"
echo "   ratio $(ratio "$t_cat" "$t_igzip") (goal <= 1.15)"
echo "   cat image, index loaded: ${t_cat2}s   ratio $(ratio "$t_cat2" "$t_igzip") (goal < 1)"

# 2. Verification on a fresh mount.
verifies=() validates=()
for round in $(seq "$rounds"); do
	fresh_scratch
	drop_caches
	mount_scratch -o "verify_key=$work/key.pub"
	verifies+=("$(seconds head -1 "$mnt/.verify")")
	status=$(head -1 "$mnt/.verify")
	umountit
	drop_caches
	validates+=("$(seconds mender-artifact validate -k "$work/key.pub" "$art")")
done
t_verify=$(median "${verifies[@]}")
t_validate=$(median "${validates[@]}")
echo "2. head -1 .verify (${status}): ${t_verify}s   mender-artifact validate -k: ${t_validate}s   (medians of $rounds: ${verifies[*]} / ${validates[*]})"
echo "   ratio $(ratio "$t_verify" "$t_validate") (goal <= 0.35)"

# 3. One file out of the image: mount + debugfs vs mender-artifact cat.
fresh_scratch
drop_caches
t_debugfs=$(seconds sh -c "'$menderfs' -o index_dir='$scratch' '$art' '$mnt' &&
	debugfs -R 'cat /bin/ls' '$mnt/$payload' > '$work/ls.menderfs'")
umountit
t_macat=$(seconds sh -c "mender-artifact cat '$art:/bin/ls' > '$work/ls.mender-artifact'")
same=$(cmp -s "$work/ls.menderfs" /bin/ls && echo "bytes right" || echo "BYTES DIFFER")
echo "3. mount + debugfs cat /bin/ls: ${t_debugfs}s   mender-artifact cat: ${t_macat}s   ratio $(ratio "$t_debugfs" "$t_macat") (goal <= 0.10; $same)"

# 4. Random 4 KiB preads once indexed, and a few through archivemount.
random_reads() {	# random_reads FILE COUNT: latency percentiles
	python3 - "$1" "$2" "$image" <<'PY'
import os, random, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
ref = os.open(sys.argv[3], os.O_RDONLY)
count = int(sys.argv[2])
size = os.fstat(fd).st_size
random.seed(1)
lat, bad = [], 0
for _ in range(count):
    off = random.randrange(0, size - 4096) & ~4095
    os.posix_fadvise(fd, off, 4096, os.POSIX_FADV_DONTNEED)
    t = time.perf_counter()
    data = os.pread(fd, 4096, off)
    lat.append(time.perf_counter() - t)
    bad += data != os.pread(ref, 4096, off)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3
print("%d random 4 KiB preads: p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d wrong)"
      % (count, p(0.5), p(0.99), lat[-1] * 1e3, bad))
PY
}
mountit
echo "4. menderfs, index loaded: $(random_reads "$mnt/$payload" 300)"
umountit
if command -v archivemount > /dev/null; then
	amnt=$(mktemp -d)
	tar -xOf "$art" data/0000.tar.gz > "$work/data.tar.gz"
	archivemount -o readonly "$work/data.tar.gz" "$amnt"
	echo "   archivemount on data/0000.tar.gz: $(random_reads "$amnt/rootfs.ext4" 3)"
	fusermount3 -u "$amnt"
	rmdir "$amnt"
	rm -f "$work/data.tar.gz"
fi

# 6. A second mount with the index: time to the first random read.
skip=$(($(stat -c %s "$image") / 4096 * 3 / 4))
drop_caches
t_first=$(seconds sh -c "'$menderfs' -o index_dir='$index' '$art' '$mnt' &&
	dd if='$mnt/$payload' of=/dev/null bs=4096 count=1 skip=$skip status=none")
umountit
fresh_scratch
drop_caches
t_first_fresh=$(seconds sh -c "'$menderfs' -o index_dir='$scratch' '$art' '$mnt' &&
	dd if='$mnt/$payload' of=/dev/null bs=4096 count=1 skip=$skip status=none")
umountit
echo "6. mount + first 4 KiB read at 3/4 of the image: with index ${t_first}s   without ${t_first_fresh}s"

# Signing, for completeness.
cp "$art" "$work/sign-a.mender"
cp "$art" "$work/sign-b.mender"
"$menderfs" -o "noindex,sign_key=$work/key.pem" "$work/sign-a.mender" "$mnt"
t_sign=$(seconds sh -c "echo sign > '$mnt/signature'")
umountit
t_masign=$(seconds mender-artifact sign -f -k "$work/key.pem" "$work/sign-b.mender")
rm -f "$work/sign-a.mender" "$work/sign-b.mender" "$work"/ls.*
rm -rf "$scratch"
echo "   echo sign: ${t_sign}s   mender-artifact sign -f -k: ${t_masign}s   ratio $(ratio "$t_sign" "$t_masign")"

# 5. Memory.
echo "5. peak RSS of menderfs over all of the above: $((peak_kib / 1024)) MiB (goal <= 64 MiB)"
