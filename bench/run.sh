#!/usr/bin/env bash
# Side-by-side timings on a realistic artifact (see make-artifact.sh),
# printed with ratios.  Run on demand, as root, after building:
#
#   bench/run.sh [MENDERFS] [WORKDIR]
#
# Absolute times drift on a shared machine; read the ratios.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
menderfs=${1:-$here/../build/fs/menderfs}
work=${2:-/var/tmp/menderfs-bench}
art=$work/bench.mender
mnt=$(mktemp -d)
trap 'fusermount3 -u "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT

[ -s "$art" ] || "$here/make-artifact.sh" "$work"

seconds() {	# seconds CMD...: wall time of CMD, output discarded
	local t0 t1
	t0=$(date +%s.%N)
	"$@" > /dev/null
	t1=$(date +%s.%N)
	python3 -c "print(round($t1 - $t0, 3))"
}
ratio() { python3 -c "print(round($1 / $2, 2))"; }
mountit() { "$menderfs" "$@" "$art" "$mnt"; }
umountit() { fusermount3 -u "$mnt"; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

echo "artifact: $art ($(stat -c %s "$art") bytes)"

drop_caches
t_mount=$(seconds mountit)
umountit
t_tar=$(seconds tar -tvf "$art")
echo "mount: ${t_mount}s   tar -tvf: ${t_tar}s"

drop_caches
mountit
t_cat=$(seconds cat "$mnt/data/0000/rootfs.ext4")
umountit
t_igzip=$(seconds sh -c "tar -xOf '$art' data/0000.tar.gz | igzip -dc")
echo "cat payload: ${t_cat}s   tar|igzip -dc: ${t_igzip}s   ratio $(ratio "$t_cat" "$t_igzip")"

mountit -o "verify_key=$work/key.pub"
t_verify=$(seconds head -1 "$mnt/.verify")
umountit
t_validate=$(seconds mender-artifact validate -k "$work/key.pub" "$art")
echo ".verify: ${t_verify}s   mender-artifact validate -k: ${t_validate}s   ratio $(ratio "$t_verify" "$t_validate")"

mountit
t_debugfs=$(seconds debugfs -R 'cat /bin/ls' "$mnt/data/0000/rootfs.ext4")
umountit
t_macat=$(seconds mender-artifact cat "$art:/bin/ls")
echo "debugfs cat /bin/ls: ${t_debugfs}s   mender-artifact cat: ${t_macat}s   ratio $(ratio "$t_debugfs" "$t_macat")"

mountit
cat "$mnt/data/0000/rootfs.ext4" > /dev/null	# one pass leaves checkpoints
python3 - "$mnt/data/0000/rootfs.ext4" <<'PY'
import os, random, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
random.seed(1)
lat = []
for _ in range(300):
    off = random.randrange(0, size - 4096) & ~4095
    os.posix_fadvise(fd, off, 4096, os.POSIX_FADV_DONTNEED)
    t = time.perf_counter()
    os.pread(fd, 4096, off)
    lat.append(time.perf_counter() - t)
lat.sort()
print("300 random 4 KiB preads: p50 %.2f ms  p99 %.2f ms" % (lat[150] * 1e3, lat[296] * 1e3))
PY
echo "peak RSS of menderfs: $(grep VmHWM /proc/"$(pgrep -nf "menderfs.*$art")"/status | awk '{print $2, $3}')"
umountit

cp "$art" "$work/sign-a.mender"
cp "$art" "$work/sign-b.mender"
"$menderfs" -o "sign_key=$work/key.pem" "$work/sign-a.mender" "$mnt"
t_sign=$(seconds sh -c "echo sign > '$mnt/signature'")
umountit
t_masign=$(seconds mender-artifact sign -k "$work/key.pem" "$work/sign-b.mender")
rm -f "$work/sign-a.mender" "$work/sign-b.mender"
echo "echo sign: ${t_sign}s   mender-artifact sign -k: ${t_masign}s   ratio $(ratio "$t_sign" "$t_masign")"
