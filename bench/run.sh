#!/usr/bin/env bash
# Side-by-side timings of menderfs against what a user would run instead,
# printed with ratios.  Run on demand, as root (drop_caches, loop mounts),
# after a release build (scripts/build.sh build); never part of the tests.
#
#   bench/run.sh [--case NAME]... [--rounds N] [--quick] [--work DIR]
#                [--menderfs PATH] [MENDERFS [WORKDIR]]
#
#   --case NAME   run only this case (repeatable, or comma-separated):
#                 main      the speed table: cat fresh / indexed against
#                           tar -xOf | igzip -dc, .verify fresh / indexed
#                           against mender-artifact validate -k, random
#                           4 KiB pread p50/p99 indexed, peak RSS
#                 contents  find and tar of contents/0000/IMAGE against a
#                           loop mount and fuse2fs over data/0000/IMAGE
#                 zeros     a 9 GiB mostly-zero gzip payload: cat against
#                           igzip -dc, .verify against validate
#                 xz        a 96 MiB xz payload: .verify against validate
#                 plain     an uncompressed payload: cat through the mount
#                           against dd of the same bytes from the artifact
#                 extras    single runs: mount against tar -tvf, debugfs
#                           against mender-artifact cat, archivemount,
#                           first read with the index, signing
#                 (default: all of them, in this order)
#   --rounds N    rounds per row and cache state (default 3, or
#                 $BENCH_ROUNDS; 1 with --quick); the sides alternate
#                 A, B, A, B, ...
#   --quick       small sizes (a 96 MiB image, 256 MiB of zeros, 8 MiB of
#                 xz) in WORKDIR/quick and one round, to check this script
#                 in a few minutes, not to measure
#   --work DIR    where the artifacts are made and cached (default
#                 /var/tmp/menderfs-bench); reruns reuse them
#   --menderfs P  the daemon (default build/fs/menderfs)
#
# Every row is measured with a warm page cache (the artifact read once
# before each side) and cold (drop_caches before each side), prints the
# median of the rounds for each side, the rounds themselves and the ratio
# menderfs / baseline next to issue 16's and 15's goals.  "Fresh" mounts
# start with an empty index directory; "indexed" mounts load the index an
# earlier mount saved.  Absolute times drift on a shared machine (other
# builds, other tests on the same cores): read the ratios, which are taken
# within one run with the sides alternating.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
menderfs=$here/../build/fs/menderfs
work=/var/tmp/menderfs-bench
rounds=${BENCH_ROUNDS:-}
quick=0
cases=()
positional=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--case) IFS=, read -r -a more <<< "${2:?--case needs a name}"
		cases+=("${more[@]}"); shift ;;
	--case=*) IFS=, read -r -a more <<< "${1#--case=}"; cases+=("${more[@]}") ;;
	--rounds) rounds=${2:?--rounds needs a number}; shift ;;
	--rounds=*) rounds=${1#--rounds=} ;;
	--quick) quick=1 ;;
	--work) work=${2:?--work needs a directory}; shift ;;
	--work=*) work=${1#--work=} ;;
	--menderfs) menderfs=${2:?--menderfs needs a path}; shift ;;
	--menderfs=*) menderfs=${1#--menderfs=} ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "$0: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) positional+=("$1") ;;
	esac
	shift
done
[ ${#positional[@]} -gt 0 ] && menderfs=${positional[0]}
[ ${#positional[@]} -gt 1 ] && work=${positional[1]}
[ ${#cases[@]} -gt 0 ] || cases=(main contents zeros xz plain extras)
for c in "${cases[@]}"; do
	case "$c" in
	main | contents | zeros | xz | plain | extras) ;;
	*) echo "$0: unknown case $c" >&2; exit 2 ;;
	esac
done
[ -n "$rounds" ] || rounds=$((quick ? 1 : 3))
case "$rounds" in *[!0-9]* | 0) echo "$0: bad --rounds $rounds" >&2; exit 2 ;; esac
[ -x "$menderfs" ] || { echo "$0: no daemon at $menderfs (build it first)" >&2; exit 1; }
menderfs=$(cd "$(dirname "$menderfs")" && pwd)/$(basename "$menderfs")

if [ "$quick" = 1 ]; then
	work=$work/quick
	main_mb=96 zeros_mb=256 xz_mb=8 preads=100
else
	main_mb=1536 zeros_mb=9216 xz_mb=96 preads=300
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)

mnt=$(mktemp -d /tmp/menderfs-bench.XXXXXX)
lmnt=$mnt.loop
fmnt=$mnt.fuse2fs
mkdir -p "$lmnt" "$fmnt"
cleanup() {
	mountpoint -q "$lmnt" && umount "$lmnt"
	mountpoint -q "$fmnt" && fusermount3 -u "$fmnt"
	mountpoint -q "$mnt" && fusermount3 -u "$mnt"
	rmdir "$mnt" "$lmnt" "$fmnt" 2>/dev/null || true
}
trap cleanup EXIT

# ---------------------------------------------------------------- helpers

# timeit CMD...: the wall time of CMD in seconds, in $last_t.
timeit() {
	local t0=$EPOCHREALTIME
	"$@"
	last_t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# verdict RATIO GOAL: whether RATIO is at most GOAL.
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r + 0 <= g + 0) ? "met" : "NOT met" }'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# The artifact the current case reads, read once before each warm side.
art=
warm_up() { cat "$art" > /dev/null; }

# The daemon of the current mount and the highest peak RSS seen, overall
# and in the current case.
peak_kib=0 case_peak_kib=0
daemon_pid() { pgrep -n -f "menderfs .* $mnt\$" || true; }
note_peak() {
	local pid kib
	pid=$(daemon_pid)
	[ -n "$pid" ] || return 0
	kib=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
	[ "${kib:-0}" -gt "$peak_kib" ] && peak_kib=$kib
	[ "${kib:-0}" -gt "$case_peak_kib" ] && case_peak_kib=$kib
	return 0
}

fresh_dir() { rm -rf "$work/index-fresh"; mkdir -p "$work/index-fresh"; }
# mfs INDEX_DIR [OPTION...]: mount $art on $mnt with that index directory.
mfs() {
	local dir=$1
	shift
	"$menderfs" -o "index_dir=$dir,cache_dir=$dir" "$@" "$art" "$mnt"
}
umfs() {
	local pid i
	pid=$(daemon_pid)
	note_peak
	fusermount3 -u "$mnt"
	for i in $(seq 100); do
		[ -n "$pid" ] && [ -d "/proc/$pid" ] || break
		sleep 0.05
	done
}
# wait_index DIR: until the background pass saved its index in DIR.
wait_index() {
	local i
	for i in $(seq 6000); do
		[ -n "$(find "$1" -maxdepth 1 -type f -name '*.idx' 2>/dev/null)" ] && { sleep 0.2; return 0; }
		sleep 0.1
	done
	echo "warning: no index saved in $1 after 600 s" >&2
}
# build_index DIR [OPTION...]: a mount that saves the artifact's index.
build_index() {
	local dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	mfs "$dir" "$@"
	wait_index "$dir"
	umfs
}

# A side of a row is a name X with functions X_start (untimed, after the
# cache was dropped or warmed: mounts), X_run (timed) and X_end (untimed:
# unmounts).  X_start and X_end default to nothing.
noop() { :; }
run_side() {	# run_side X warm|cold: sets $last_t
	local x=$1
	if [ "$2" = cold ]; then drop_caches; else warm_up; fi
	if declare -F "${x}_start" > /dev/null; then "${x}_start"; fi
	timeit "${x}_run"
	if declare -F "${x}_end" > /dev/null; then "${x}_end"; fi
}

header() {
	echo
	echo "== $1"
	printf '%-52s %-4s %9s %9s %6s  %s\n' "row (A / B)" cache "A s" "B s" "A/B" "goal"
}
# row LABEL GOAL A B [C]: LABEL measured warm and cold; the ratios are A/B
# (and A/C, against GOAL's second word).  A side named "-" is skipped and
# shown as such ($skip_why).
skip_why=
row() {
	local label=$1 goal=$2 a=$3 b=$4 c=${5:-}
	local cache r x sides=("$a" "$b")
	[ -n "$c" ] && sides+=("$c")
	for cache in warm cold; do
		local -a ta=() tb=() tc=()
		for r in $(seq "$rounds"); do
			for x in "${sides[@]}"; do
				[ "$x" = - ] && continue
				run_side "$x" "$cache"
				if [ "$x" = "$a" ]; then ta+=("$last_t")
				elif [ "$x" = "$b" ]; then tb+=("$last_t")
				else tc+=("$last_t"); fi
			done
		done
		local ma=- mb=- mc=- rab=- rac=- g1 g2 v1= v2=
		g1=${goal%% *}
		g2=${goal#* }
		[ ${#ta[@]} -gt 0 ] && ma=$(median "${ta[@]}")
		[ ${#tb[@]} -gt 0 ] && mb=$(median "${tb[@]}")
		[ ${#tc[@]} -gt 0 ] && mc=$(median "${tc[@]}")
		if [ "$ma" != - ] && [ "$mb" != - ]; then
			rab=$(ratio "$ma" "$mb")
			[ "$g1" != - ] && v1="<= $g1: $(verdict "$rab" "$g1")"
		fi
		if [ -z "$c" ]; then
			printf '%-52s %-4s %9s %9s %6s  %s\n' "$label" "$cache" "$ma" "$mb" "$rab" "$v1"
		else
			if [ "$ma" != - ] && [ "$mc" != - ]; then
				rac=$(ratio "$ma" "$mc")
				[ "$g2" != - ] && v2="<= $g2: $(verdict "$rac" "$g2")"
			fi
			printf '%-52s %-4s %9s %9s %6s  %s\n' "$label" "$cache" "$ma" "$mb" "$rab" "$v1"
			printf '%-52s %-4s %9s %9s %6s  %s\n' "  the same, A / C" "$cache" "$ma" "$mc" "$rac" "$v2"
			if [ "$ma" = - ] && [ "$mb" != - ] && [ "$mc" != - ]; then
				printf '%-52s %-4s %9s %9s %6s  %s\n' "  baseline alone, C / B" "$cache" "$mc" "$mb" \
					"$(ratio "$mc" "$mb")" ""
			fi
		fi
		local detail="${ta[*]:-skipped: $skip_why} / ${tb[*]:-skipped}"
		[ -n "$c" ] && detail="$detail / ${tc[*]:-skipped}"
		echo "    rounds: $detail"
	done
}
peak_line() {
	local goal=${1:-}
	local mib=$((case_peak_kib / 1024))
	if [ -n "$goal" ]; then
		printf '%-52s %-4s %9s %9s %6s  %s\n' "peak RSS of the daemon over this table" - "$mib MiB" - - \
			"<= $goal MiB: $( [ "$mib" -le "$goal" ] && echo met || echo "NOT met")"
	else
		echo "peak RSS of the daemon in this case: $mib MiB"
	fi
}

# ---------------------------------------------------------------- inputs

main_dir=$work
ensure_main() {
	[ -s "$main_dir/bench.mender" ] && return 0
	echo "making $main_dir/bench.mender (a $main_mb MiB image; log in $work/make.log)"
	"$here/make-artifact.sh" "$main_dir" "$main_mb" >> "$work/make.log" 2>&1
}
# member_offset ART MEMBER FILE: "OFFSET SIZE" of FILE inside the plain
# tar MEMBER of ART, in bytes from the start of ART.
member_offset() {
	python3 - "$@" <<'PY'
import sys, tarfile
art, member, name = sys.argv[1:]
with tarfile.open(art) as outer:
    m = outer.getmember(member)
with open(art, "rb") as f:
    f.seek(m.offset_data)
    with tarfile.open(fileobj=f, mode="r|") as inner:
        for i in inner:
            if i.name == name:
                print(m.offset_data + i.offset_data, i.size)
                break
PY
}
# make_case DIR IMAGE COMPRESSION: DIR/case.mender of that payload, signed.
make_case() {
	local dir=$1 image=$2 comp=$3
	[ -s "$dir/case.mender" ] && return 0
	echo "making $dir/case.mender ($comp; log in $work/make.log)"
	mender-artifact write rootfs-image --compression "$comp" -f "$image" \
		-n bench-case -t bench-device -k "$main_dir/key.pem" \
		-o "$dir/case.mender.tmp" >> "$work/make.log" 2>&1
	mv "$dir/case.mender.tmp" "$dir/case.mender"
}

echo "menderfs: $menderfs"
echo "work dir: $work   rounds: $rounds   cases: ${cases[*]}$( [ "$quick" = 1 ] && echo '   (quick sizes)')"
echo "machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "absolute times drift on a shared machine: read the ratios"

# ---------------------------------------------------------------- sides

payload=data/0000/rootfs.ext4
key=$main_dir/key.pub

# cat of the payload through a fresh / an indexed mount
catf_start() { fresh_dir; mfs "$work/index-fresh"; }
catf_run() { cat "$mnt/$payload" > /dev/null; }
catf_end() { umfs; }
cati_start() { mfs "$work/index"; }
cati_run() { cat "$mnt/$payload" > /dev/null; }
cati_end() { umfs; }
# what a user runs instead
igz_run() { tar -xOf "$art" data/0000.tar.gz | igzip -dc > /dev/null; }
# .verify on a fresh / an indexed mount, and mender-artifact validate
verf_start() { fresh_dir; mfs "$work/index-fresh" -o "verify_key=$key"; }
verf_run() { head -1 "$mnt/.verify" > "$work/verify.out"; }
verf_end() { umfs; }
veri_start() { mfs "$work/index" -o "verify_key=$key"; }
veri_run() { head -1 "$mnt/.verify" > "$work/verify.out"; }
veri_end() { umfs; }
val_run() { mender-artifact validate -k "$key" "$art" > /dev/null 2>&1; }

case_main() {
	art=$main_dir/bench.mender
	payload=data/0000/rootfs.ext4
	echo
	echo "main artifact: $art ($(stat -c %s "$art") bytes), image $(stat -c %s "$main_dir/rootfs.ext4") bytes"
	case_peak_kib=0
	build_index "$work/index"
	header "main: issue 16's table"
	row "cat payload, fresh mount / tar -xOf | igzip -dc" 1.10 catf igz
	row "cat payload, indexed / tar -xOf | igzip -dc" 0.6 cati igz
	row "head -1 .verify, fresh / mender-artifact validate -k" 0.33 verf val
	echo "    .verify said: $(cat "$work/verify.out")"
	row "head -1 .verify, indexed / validate -k" 0.22 veri val
	echo "    .verify said: $(cat "$work/verify.out")"
	local cache r p50s p99s out wrong=0
	for cache in warm cold; do
		p50s=() p99s=()
		for r in $(seq "$rounds"); do
			if [ "$cache" = cold ]; then drop_caches; else warm_up; fi
			mfs "$work/index"
			out=$(python3 "$here/pread-lat.py" "$mnt/$payload" "$preads" "$main_dir/rootfs.ext4")
			umfs
			p50s+=("$(echo "$out" | awk '{ print $2 }')")
			p99s+=("$(echo "$out" | awk '{ print $4 }')")
			wrong=$((wrong + $(echo "$out" | awk '{ print $8 }')))
		done
		local p50 p99
		p50=$(median "${p50s[@]}")
		p99=$(median "${p99s[@]}")
		printf '%-52s %-4s %9s %9s %6s  %s\n' "random 4 KiB pread, indexed: p50 ms" "$cache" "$p50" - - \
			"<= 1 ms: $(verdict "$p50" 1)"
		printf '%-52s %-4s %9s %9s %6s  %s\n' "random 4 KiB pread, indexed: p99 ms" "$cache" "$p99" - - \
			"<= 4 ms: $(verdict "$p99" 4)"
		echo "    rounds ($preads preads each): p50 ${p50s[*]} / p99 ${p99s[*]}"
	done
	[ "$wrong" = 0 ] || echo "    WARNING: $wrong preads differ from the image"
	peak_line 48
}

# contents/: find and tar of the image's files
image_name=rootfs.ext4
cdir() { echo "$mnt/contents/0000/$image_name"; }
count_find() { find "$1" | wc -l > "$work/count.$2"; }
count_tar() { tar -cf - -C "$1" . 2>/dev/null | wc -c > "$work/count.$2"; }
mode=find
measure() {	# measure DIR TAG: the current mode's command on DIR
	if [ "$mode" = find ]; then count_find "$1" "$2"; else count_tar "$1" "$2"; fi
}
cm_idx() { if [ "$cidx" = fresh ]; then fresh_dir; echo "$work/index-fresh"; else echo "$work/index"; fi; }
cmf_start() { mfs "$(cm_idx)"; }
cmf_run() { measure "$(cdir)" menderfs; }
cmf_end() { umfs; }
cloop_start() { mfs "$(cm_idx)"; mount -o ro,loop,noload "$mnt/$payload" "$lmnt"; }
cloop_run() { measure "$lmnt" loop; }
cloop_end() { umount "$lmnt"; umfs; }
cf2_start() { mfs "$(cm_idx)"; fuse2fs -o ro "$mnt/$payload" "$fmnt" > /dev/null 2>&1; }
cf2_run() { measure "$fmnt" fuse2fs; }
cf2_end() { fusermount3 -u "$fmnt"; umfs; }

case_contents() {
	art=$main_dir/bench.mender
	payload=data/0000/$image_name
	case_peak_kib=0
	[ -d "$work/index" ] && [ -n "$(ls "$work/index")" ] || build_index "$work/index"
	local first=cmf have=1
	fresh_dir
	mfs "$work/index-fresh"
	[ -d "$(cdir)" ] || have=0
	umfs
	if [ "$have" = 0 ]; then
		first=-
		skip_why="no contents/ in this build"
	fi
	header "contents: issue 15's rows (A menderfs contents/, B loop mount over menderfs, C fuse2fs -o ro over menderfs)"
	[ "$have" = 1 ] || echo "contents/0000/$image_name: skipped: no contents/ in this build (the B and C sides still run)"
	for cidx in fresh indexed; do
		for mode in find tar; do
			rm -f "$work"/count.*
			if [ "$mode" = find ]; then
				row "find contents/0000/IMAGE | wc -l, $cidx" "1.0 -" "$first" cloop cf2
			else
				row "tar -cf - -C contents/0000/IMAGE . | wc -c, $cidx" "1.0 0.1" "$first" cloop cf2
			fi
			local m l f
			m=$(cat "$work/count.menderfs" 2>/dev/null || echo skipped)
			l=$(cat "$work/count.loop")
			f=$(cat "$work/count.fuse2fs")
			echo "    counts: menderfs $m / loop $l / fuse2fs $f$( [ "$m" = "$l" ] && [ "$l" = "$f" ] && echo '  (equal)')"
		done
	done
	skip_why=
	peak_line
}

# zeros: a 9 GiB mostly-zero payload, gzip
case_zeros() {
	local dir=$work/zeros
	mkdir -p "$dir"
	if [ ! -s "$dir/case.mender" ]; then
		rm -f "$dir/zeros.img"
		truncate -s "${zeros_mb}M" "$dir/zeros.img"
		# 64 KiB of random bytes every 512 MiB (every 64 MiB when quick)
		local step=$((quick ? 64 : 512)) at
		for at in $(seq 0 "$step" $((zeros_mb - 1))); do
			head -c 65536 /dev/urandom | dd of="$dir/zeros.img" bs=1M seek="$at" conv=notrunc iflag=fullblock status=none
		done
		make_case "$dir" "$dir/zeros.img" gzip
		rm -f "$dir/zeros.img"
	fi
	art=$dir/case.mender
	payload=data/0000/zeros.img
	case_peak_kib=0
	echo
	echo "zeros artifact: $art ($(stat -c %s "$art") bytes), payload $zeros_mb MiB"
	header "zeros: mostly-zero gzip payload"
	row "cat payload, fresh mount / tar -xOf | igzip -dc" 1.5 catf igz
	row "head -1 .verify, fresh / validate -k" 0.6 verf val
	echo "    .verify said: $(cat "$work/verify.out")"
	peak_line
}

# xz: a 96 MiB payload of image bytes, xz
case_xz() {
	local dir=$work/xz
	mkdir -p "$dir"
	if [ ! -s "$dir/case.mender" ]; then
		head -c "${xz_mb}M" "$main_dir/rootfs.ext4" > "$dir/xz.img"
		make_case "$dir" "$dir/xz.img" lzma
		rm -f "$dir/xz.img"
	fi
	art=$dir/case.mender
	payload=data/0000/xz.img
	case_peak_kib=0
	echo
	echo "xz artifact: $art ($(stat -c %s "$art") bytes), payload $xz_mb MiB"
	header "xz: a $xz_mb MiB xz payload"
	row "head -1 .verify, fresh / validate -k" 0.8 verf val
	echo "    .verify said: $(cat "$work/verify.out")"
	peak_line
}

# plain: the image uncompressed; read through the mount or straight out
# of the artifact
plain_off= plain_size=
direct_run() {
	dd if="$art" of=/dev/null bs=1M iflag=skip_bytes,count_bytes \
		skip="$plain_off" count="$plain_size" status=none
}
case_plain() {
	local dir=$work/plain
	mkdir -p "$dir"
	make_case "$dir" "$main_dir/rootfs.ext4" none
	art=$dir/case.mender
	payload=data/0000/rootfs.ext4
	read -r plain_off plain_size < <(member_offset "$art" data/0000.tar rootfs.ext4)
	case_peak_kib=0
	echo
	echo "plain artifact: $art ($(stat -c %s "$art") bytes), payload $plain_size bytes at offset $plain_off"
	header "plain: an uncompressed payload"
	row "cat payload, fresh mount / dd from the artifact" 2.0 catf direct
	peak_line
}

# extras: single runs, as before the table existed
case_extras() {
	local t1 t2 t_first t_first_fresh skip
	art=$main_dir/bench.mender
	payload=data/0000/rootfs.ext4
	case_peak_kib=0
	echo
	echo "== extras (single runs)"
	fresh_dir
	drop_caches
	timeit mfs "$work/index-fresh"; t1=$last_t
	umfs
	timeit sh -c "tar -tvf '$art' > /dev/null"; t2=$last_t
	echo "mount: ${t1}s   tar -tvf: ${t2}s   ratio $(ratio "$t1" "$t2")"

	fresh_dir
	drop_caches
	timeit sh -c "'$menderfs' -o index_dir='$work/index-fresh' '$art' '$mnt' &&
		debugfs -R 'cat /bin/ls' '$mnt/$payload' > '$work/ls.menderfs' 2>/dev/null"; t1=$last_t
	umfs
	timeit sh -c "mender-artifact cat '$art:/bin/ls' > '$work/ls.mender-artifact' 2>/dev/null"; t2=$last_t
	local same
	same=$(cmp -s "$work/ls.menderfs" /bin/ls && echo "bytes right" || echo "BYTES DIFFER")
	echo "mount + debugfs cat /bin/ls: ${t1}s   mender-artifact cat: ${t2}s   ratio $(ratio "$t1" "$t2") (goal <= 0.10; $same)"

	[ -d "$work/index" ] && [ -n "$(ls "$work/index")" ] || build_index "$work/index"
	if command -v archivemount > /dev/null; then
		tar -xOf "$art" data/0000.tar.gz > "$work/data.tar.gz"
		archivemount -o readonly "$work/data.tar.gz" "$fmnt"
		echo "archivemount on data/0000.tar.gz, 3 random 4 KiB preads: $(python3 "$here/pread-lat.py" "$fmnt/rootfs.ext4" 3)"
		fusermount3 -u "$fmnt"
		rm -f "$work/data.tar.gz"
	fi

	skip=$(($(stat -c %s "$main_dir/rootfs.ext4") / 4096 * 3 / 4))
	drop_caches
	timeit sh -c "'$menderfs' -o index_dir='$work/index' '$art' '$mnt' &&
		dd if='$mnt/$payload' of=/dev/null bs=4096 count=1 skip=$skip status=none"; t_first=$last_t
	umfs
	fresh_dir
	drop_caches
	timeit sh -c "'$menderfs' -o index_dir='$work/index-fresh' '$art' '$mnt' &&
		dd if='$mnt/$payload' of=/dev/null bs=4096 count=1 skip=$skip status=none"; t_first_fresh=$last_t
	umfs
	echo "mount + first 4 KiB read at 3/4 of the image: with index ${t_first}s   without ${t_first_fresh}s"

	cp "$art" "$work/sign-a.mender"
	cp "$art" "$work/sign-b.mender"
	local sart=$work/sign-a.mender
	"$menderfs" -o "noindex,sign_key=$main_dir/key.pem" "$sart" "$mnt"
	timeit sh -c "echo sign > '$mnt/signature'"; t1=$last_t
	umfs
	timeit mender-artifact sign -f -k "$main_dir/key.pem" "$work/sign-b.mender"; t2=$last_t
	rm -f "$work/sign-a.mender" "$work/sign-b.mender" "$work"/ls.*
	echo "echo sign: ${t1}s   mender-artifact sign -f -k: ${t2}s   ratio $(ratio "$t1" "$t2")"
	peak_line
}

ensure_main
for c in "${cases[@]}"; do
	t_case=$EPOCHREALTIME
	"case_$c"
	echo "(case $c took $(awk -v a="$t_case" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s)"
done
rm -rf "$work/index-fresh" "$work"/count.* "$work/verify.out"
echo
echo "peak RSS of the daemon over everything above: $((peak_kib / 1024)) MiB"
