#!/usr/bin/env bash
# Load and robustness: many concurrent readers at random offsets, hundreds
# of mount/unmount cycles with the daemon's descriptors and memory watched,
# signing while readers stream the payload, and readers killed in the middle
# of a read.  Every byte read through the mount is compared with the file
# that went into the artifact; every daemon must exit 0 with no sanitizer
# report (lib.sh's unmount_artifact).
#
#   test_load.sh MENDERFS FIXTURE_DIR
#
# FIXTURE_DIR is the output of tests/fixtures/make_load_artifacts.sh.
# LOAD_CYCLES (default 200) sets the number of mount/unmount cycles.

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
for tool in mender-artifact sha256sum cmp timeout; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool not found; skipping"
		FINISHED=1
		exit 77
	fi
done

CYCLES=${LOAD_CYCLES:-200}
SRC=$FIXTURES/src
KEY=$FIXTURES/keys/rsa3072.pem
PUB=$FIXTURES/keys/rsa3072.pub.pem
MNT=$TEST_TMP/mnt
mkdir -p "$MNT"

# A reader that takes longer than this is taken to hang.
READ_TIMEOUT=240

sha256_of() {
	sha256sum <"$1" | cut -d' ' -f1
}

# note_lines TEXT: detail of several lines, each indented like note's.
note_lines() {
	[ -n "$1" ] && printf '%s\n' "$1" | sed 's/^/      /'
	return 0
}

# first_line FILE: the first line of FILE, or "(unreadable)".
first_line() {
	timeout -k 5 60 head -n 1 "$1" 2>/dev/null || echo "(unreadable)"
}

# private_copy SRC DIR: a copy of fixture SRC alone in the new directory DIR,
# so that anything the daemon leaves beside it shows.
private_copy() {
	mkdir -p "$2"
	cp "$1" "$2/"
	printf '%s/%s\n' "$2" "$(basename "$1")"
}

# only_file LABEL DIR NAME: DIR holds NAME and nothing else (no temporary
# file of a rewrite left behind).
only_file() {
	local extra
	extra=$(cd "$2" && find . -mindepth 1 ! -name "$3" -printf '%P\n')
	if [ -z "$extra" ]; then
		ok "$1: nothing left beside the artifact"
	else
		fail "$1: left beside the artifact: $(echo "$extra" | head -n 5 | tr '\n' ' ')"
	fi
}

# our_daemons: pids of live processes whose command line names a path under
# this test's temporary directory (daemons of this test only).
our_daemons() {
	local d pid cmd
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = "$$" ] && continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
		if [[ $cmd == "$MENDERFS "* && $cmd == *" $TEST_TMP/"* ]] &&
			daemon_alive "$pid"; then
			printf '%s ' "$pid"
		fi
	done
}

# our_mounts: lines of /proc/mounts for mount points under TEST_TMP.
our_mounts() {
	grep -F " $TEST_TMP/" /proc/mounts
}

# ---- 1. concurrent random and sequential readers ------------------------------

# readers MNTDIR ORIGDIR RANDOM SEQUENTIAL PREADS SEED: RANDOM threads each do
# PREADS preads of 1 B .. 1 MiB (log-uniform) at random offsets, some across
# the end of the file, over every file of ORIGDIR as MNTDIR shows it, while
# SEQUENTIAL threads read whole files from start to end until the random
# ones are done.  Each read is compared byte for byte with the original.
# Before each read the range is dropped from the page cache, so the daemon
# serves it.  Prints one summary line; exit 0 when every byte matched.
readers() {
	timeout -k 5 "$READ_TIMEOUT" python3 - "$@" <<'EOF'
import os, random, sys, threading

mnt, orig, n_random, n_seq, n_preads, seed = sys.argv[1:]
n_random, n_seq, n_preads, seed = int(n_random), int(n_seq), int(n_preads), int(seed)
names = sorted(os.listdir(orig))
data = {n: open(os.path.join(orig, n), "rb").read() for n in names}
lock = threading.Lock()
problems = []
stats = {"preads": 0, "pread_bytes": 0, "passes": 0, "seq_bytes": 0, "eof": 0}
done = threading.Event()

def problem(text):
    with lock:
        problems.append(text)

def add(key, n):
    with lock:
        stats[key] += n

def read_at(fd, off, length):
    """pread until LENGTH bytes or end of file (short reads are legal)."""
    parts = []
    while length > 0:
        b = os.pread(fd, length, off)
        if not b:
            break
        parts.append(b)
        off += len(b)
        length -= len(b)
    return b"".join(parts)

def random_reader(k):
    rng = random.Random(seed * 1000 + k)
    fds = {n: os.open(os.path.join(mnt, n), os.O_RDONLY) for n in names}
    try:
        for i in range(n_preads):
            name = rng.choice(names)
            want_all = data[name]
            size = len(want_all)
            length = int(2 ** rng.uniform(0, 20))
            where = rng.random()
            if where < 0.1:
                off = max(0, size - rng.randrange(1, length + 2))
            elif where < 0.12:
                off = size + rng.randrange(0, 3)
            else:
                off = rng.randrange(0, size + 1)
            fd = fds[name]
            try:
                os.posix_fadvise(fd, off, length, os.POSIX_FADV_DONTNEED)
                got = read_at(fd, off, length)
            except OSError as e:
                problem("%s pread(%d, %d): %s" % (name, length, off, e))
                return
            want = want_all[off:off + length]
            if got != want:
                diff = next((j for j in range(min(len(got), len(want)))
                             if got[j] != want[j]), min(len(got), len(want)))
                problem("%s pread(len %d, off %d): %d bytes, want %d; "
                        "first difference at offset %d" %
                        (name, length, off, len(got), len(want), off + diff))
                return
            if off >= size:
                add("eof", 1)
            add("preads", 1)
            add("pread_bytes", len(got))
    finally:
        for fd in fds.values():
            os.close(fd)

def sequential_reader(k):
    rng = random.Random(seed * 1000 + 500 + k)
    passes = 0
    while passes == 0 or not done.is_set():
        name = rng.choice(names)
        want = data[name]
        try:
            fd = os.open(os.path.join(mnt, name), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                pos = 0
                while True:
                    b = os.read(fd, 128 * 1024)
                    if not b:
                        break
                    if b != want[pos:pos + len(b)]:
                        problem("%s: sequential read at %d: wrong bytes" % (name, pos))
                        return
                    pos += len(b)
            finally:
                os.close(fd)
        except OSError as e:
            problem("%s: sequential read: %s" % (name, e))
            return
        if pos != len(want):
            problem("%s: sequential read ended at %d of %d" % (name, pos, len(want)))
            return
        passes += 1
        add("passes", 1)
        add("seq_bytes", pos)

rand = [threading.Thread(target=random_reader, args=(k,)) for k in range(n_random)]
seq = [threading.Thread(target=sequential_reader, args=(k,)) for k in range(n_seq)]
for t in rand + seq:
    t.start()
for t in rand:
    t.join()
done.set()
for t in seq:
    t.join()
print("%d preads (%d MiB, %d at or past the end), %d whole-file passes (%d MiB)" %
      (stats["preads"], stats["pread_bytes"] >> 20, stats["eof"], stats["passes"],
       stats["seq_bytes"] >> 20))
for p in problems[:10]:
    print("problem: " + p)
sys.exit(1 if problems or stats["preads"] != n_random * n_preads else 0)
EOF
}

test_readers() {
	local name=$1 preads=$2 label out rc
	label="$name: 16 random readers and 4 sequential readers"
	mount_artifact "$FIXTURES/$name.mender" "$MNT" || return
	out=$(readers "$MNT/data/0000" "$SRC/module" 16 4 "$preads" 7 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$label: every byte matches (${out%%$'\n'*})"
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "$label: still reading after $READ_TIMEOUT s (hang?)"
	else
		fail "$label: status $rc"
		note_lines "$(echo "$out" | head -n 12)"
	fi
	if daemon_alive "$(daemon_pid "$MNT")"; then
		ok "$name: the daemon survived the readers"
	else
		fail "$name: the daemon died under the readers"
	fi
	unmount_artifact "$MNT"
}

# ---- 2. mount/unmount cycles and resource use --------------------------------

# cache_files: the files under XDG_CACHE_HOME, sorted.
cache_files() {
	[ -d "${XDG_CACHE_HOME:-}" ] || return 0
	(cd "$XDG_CACHE_HOME" && find . -type f -printf '%P\n') | LC_ALL=C sort
}

count_lines() {
	[ -n "$1" ] && printf '%s\n' "$1" | wc -l || echo 0
}

# one_cycle ART I: mount, read small.bin and .verify's first line, unmount.
# Prints what went wrong, nothing when all went well; returns non-zero then.
one_cycle() {
	local art=$1 i=$2 rc line
	try_mount "$art" "$MNT"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "cycle $i: mount failed (try_mount $rc, status $MOUNT_STATUS)"
		head -n 20 "$MOUNT_LOG"
		return 1
	fi
	CYCLE_PIDS+=("$(daemon_pid "$MNT")")
	rc=0
	if ! timeout -k 5 60 cmp -s "$MNT/data/0000/small.bin" "$SRC/module/small.bin"; then
		echo "cycle $i: data/0000/small.bin differs from the original"
		rc=1
	fi
	line=$(first_line "$MNT/.verify")
	if [ "$line" != "status: unsigned" ]; then
		echo "cycle $i: .verify starts '$line', want 'status: unsigned'"
		rc=1
	fi
	# unmount_artifact counts an ok or a fail per call; the caller reports
	# all cycles as one case, so its lines are kept only when it fails.
	if ! unmount_artifact "$MNT" >"$TEST_TMP/cycle.out"; then
		echo "cycle $i:"
		cat "$TEST_TMP/cycle.out"
		rc=1
	fi
	return "$rc"
}

test_cycles() {
	local dir=$TEST_TMP/cycles art i failures=0 passed=$PASSED failed=$FAILED
	local t0 leftover half=$((CYCLES / 2)) cache_half=
	art=$(private_copy "$FIXTURES/module-gzip.mender" "$dir")
	CYCLE_PIDS=()
	: >"$TEST_TMP/cycles.err"
	t0=$SECONDS
	for ((i = 1; i <= CYCLES; i++)); do
		if ! one_cycle "$art" "$i" >>"$TEST_TMP/cycles.err" 2>&1; then
			failures=$((failures + 1))
			# A broken daemon fails every cycle; stop after a few.
			[ "$failures" -lt 5 ] || break
		fi
		[ "$i" -eq "$half" ] && cache_half=$(cache_files)
	done
	PASSED=$passed
	FAILED=$failed
	if [ "$failures" -eq 0 ]; then
		ok "$CYCLES mount/read/unmount cycles: right bytes, 'status: unsigned', every daemon exits 0 with no sanitizer report ($((SECONDS - t0)) s)"
	else
		fail "mount/unmount cycles: $failures failed (of $((i > CYCLES ? CYCLES : i)) run)"
		note_file "$TEST_TMP/cycles.err"
	fi

	leftover=$(our_mounts)
	if [ -z "$leftover" ]; then
		ok "cycles: no mount of ours left in /proc/mounts"
	else
		fail "cycles: still mounted: $leftover"
	fi
	leftover=
	for i in "${CYCLE_PIDS[@]}"; do
		daemon_alive "$i" && leftover+="$i "
	done
	leftover+=$(our_daemons)
	if [ -z "$leftover" ]; then
		ok "cycles: no daemon process left (${#CYCLE_PIDS[@]} started)"
	else
		fail "cycles: daemon processes still running: $leftover"
	fi
	only_file "cycles" "$dir" "$(basename "$art")"
	# Whatever the daemon keeps in its cache directory (lib.sh points
	# XDG_CACHE_HOME into TEST_TMP), the second half of the cycles must
	# not add to it.
	leftover=$(cache_files)
	if [ "$leftover" = "$cache_half" ]; then
		ok "cycles: the cache directory holds the same $(count_lines "$leftover") files after cycle $half and cycle $CYCLES"
	else
		fail "cycles: the cache directory changed between cycle $half and cycle $CYCLES"
		note_lines "$(diff <(echo "$cache_half") <(echo "$leftover") | head -n 10)"
	fi
}

# churn MNTDIR COUNT SEED: COUNT times open a file of the mount, read from it
# (a random 64 KiB of a payload, dropped from the page cache first so the
# daemon serves it, or the whole of a small file), close it.
churn() {
	timeout -k 5 "$READ_TIMEOUT" python3 - "$@" <<'EOF'
import os, random, sys
mnt, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
small = [".verify", "signature", "manifest", "version", "header/header-info",
         "header/headers/0000/type-info"]
payloads = sorted("data/0000/" + n for n in os.listdir(os.path.join(mnt, "data/0000")))
for i in range(count):
    name = rng.choice(small + payloads)
    fd = os.open(os.path.join(mnt, name), os.O_RDONLY)
    try:
        if name in small:
            while os.read(fd, 65536):
                pass
        else:
            size = os.fstat(fd).st_size
            off = rng.randrange(0, size)
            os.posix_fadvise(fd, off, 65536, os.POSIX_FADV_DONTNEED)
            os.pread(fd, 65536, off)
    finally:
        os.close(fd)
EOF
}

# usage PID: "FDS RSS_KIB" of process PID.
usage() {
	local fds rss
	fds=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null)
	printf '%s %s\n' "$fds" "${rss:-0}"
}

test_resources() {
	local pid start middle end fds0 rss0 fds1 rss1 fds2 rss2 label limit=8192
	label="2000 open/read/close in one mount"
	# ASan keeps freed memory in quarantine (256 MiB by default), which
	# would read as growth; with the quarantine off, RSS shows what the
	# daemon really holds.  Other builds ignore the variable.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
		mount_artifact "$FIXTURES/module-gzip.mender" "$MNT" || return
	pid=$(daemon_pid "$MNT")
	# Warm-up: every payload read through once (so every checkpoint of
	# the stream exists), then the mix below, so that caches, decoders
	# and the allocator's pools are in place before the first sample.
	cat "$MNT"/data/0000/* >/dev/null || fail "$label: warm-up reads failed"
	churn "$MNT" 1000 1 || fail "$label: warm-up reads failed"
	start=$(usage "$pid")
	churn "$MNT" 1000 2 || fail "$label: reads failed (first half)"
	middle=$(usage "$pid")
	churn "$MNT" 1000 3 || fail "$label: reads failed (second half)"
	end=$(usage "$pid")
	read -r fds0 rss0 <<<"$start"
	read -r fds1 rss1 <<<"$middle"
	read -r fds2 rss2 <<<"$end"
	if [ "$fds0" -gt 0 ] && [ "$fds0" = "$fds1" ] && [ "$fds1" = "$fds2" ]; then
		ok "$label: the daemon's open descriptors stay at $fds0"
	else
		fail "$label: the daemon's open descriptors went $fds0 -> $fds1 -> $fds2"
	fi
	if [ "$rss0" -gt 0 ] && [ $((rss1 - rss0)) -lt "$limit" ] &&
		[ $((rss2 - rss0)) -lt "$limit" ]; then
		ok "$label: RSS ${rss0} -> ${rss1} -> ${rss2} KiB, growth under $limit KiB"
	else
		fail "$label: RSS ${rss0} -> ${rss1} -> ${rss2} KiB, grew by $limit KiB or more"
	fi
	unmount_artifact "$MNT"
}

# ---- 3. signing while readers stream -------------------------------------------

# streamer FILE SHA256 STOP LOG: hash FILE through the mount again and again
# (page cache dropped first) until STOP exists; one line per pass in LOG:
# "START END ok|bad|error:..." (times from the epoch).
streamer() {
	python3 - "$@" <<'EOF'
import hashlib, os, sys, time
path, want, stop, log = sys.argv[1:]
with open(log, "w") as out:
    while not os.path.exists(stop):
        t0 = time.time()
        h = hashlib.sha256()
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                while True:
                    b = os.read(fd, 1 << 20)
                    if not b:
                        break
                    h.update(b)
            finally:
                os.close(fd)
            result = "ok" if h.hexdigest() == want else "bad:" + h.hexdigest()
        except OSError as e:
            result = "error:" + (e.strerror or str(e)).replace(" ", "_")
        out.write("%.6f %.6f %s\n" % (t0, time.time(), result))
        out.flush()
EOF
}

# passes_after LOG T: passes in LOG that started after time T.
passes_after() {
	awk -v t="$2" '$1 > t { n++ } END { print n + 0 }' "$1" 2>/dev/null || echo 0
}

sign_now() {
	echo sign >"$MNT/signature"
}

test_sign_under_readers() {
	local label="sign while 4 readers stream rootfs.ext4" dir=$TEST_TMP/sign art
	local want stop i pids=() t0 t1 n rc passes bad overlap waited line
	want=$(sha256_of "$SRC/rootfs.ext4")
	art=$(private_copy "$FIXTURES/rootfs-gzip.mender" "$dir")
	stop=$TEST_TMP/streamers.stop
	mount_artifact "$art" "$MNT" -o "sign_key=$KEY,verify_key=$PUB" || return
	for i in 1 2 3 4; do
		streamer "$MNT/data/0000/rootfs.ext4" "$want" "$stop" "$TEST_TMP/streamer.$i" &
		pids+=($!)
	done
	# Sign once every reader has finished a pass, so that all of them are
	# streaming (the file open, its pages coming from the daemon).
	for i in 1 2 3 4; do
		while [ ! -s "$TEST_TMP/streamer.$i" ] && kill -0 "${pids[i - 1]}" 2>/dev/null; do
			sleep 0.05
		done
	done
	t0=$EPOCHREALTIME
	sign_now
	rc=$?
	t1=$EPOCHREALTIME
	check "$label: 'echo sign > signature' exits 0 ($(awk -v a="$t0" -v b="$t1" \
		'BEGIN { printf "%.2f", b - a }') s)" [ "$rc" -eq 0 ]
	# Let each reader complete a pass that began after the swap.
	for ((waited = 0; waited < 2400; waited++)); do
		n=0
		for i in 1 2 3 4; do
			if [ "$(passes_after "$TEST_TMP/streamer.$i" "$t1")" -gt 0 ] ||
				! kill -0 "${pids[i - 1]}" 2>/dev/null; then
				n=$((n + 1))
			fi
		done
		[ "$n" -eq 4 ] && break
		sleep 0.05
	done
	touch "$stop"
	wait "${pids[@]}"
	line=$(first_line "$MNT/.verify")
	if [ "$line" = "status: verified" ]; then
		ok "$label: .verify says '$line'"
	else
		fail "$label: .verify says '$line', want 'status: verified'"
		note_file "$MNT/.verify"
	fi
	unmount_artifact "$MNT"

	passes=$(cat "$TEST_TMP"/streamer.* | wc -l)
	bad=$(cat "$TEST_TMP"/streamer.* | awk '$3 != "ok" { n++ } END { print n + 0 }')
	overlap=$(awk -v a="$t0" -v b="$t1" '$1 < b && $2 > a { n++ } END { print n + 0 }' \
		"$TEST_TMP"/streamer.*)
	n=0
	for i in 1 2 3 4; do
		[ "$(passes_after "$TEST_TMP/streamer.$i" "$t1")" -gt 0 ] && n=$((n + 1))
	done
	if [ "$bad" -eq 0 ] && [ "$n" -eq 4 ]; then
		ok "$label: $passes passes, every sha256 equals the original's"
	else
		fail "$label: $passes passes, $bad wrong or failed, $n of 4 readers read after the swap"
		note_lines "$(cat "$TEST_TMP"/streamer.* | awk '$3 != "ok"' | head -n 5)"
	fi
	check "$label: $overlap passes were running while it signed" [ "$overlap" -ge 4 ]
	if mender-artifact validate -k "$PUB" "$art" >"$TEST_TMP/validate.out" 2>&1; then
		ok "$label: mender-artifact validate -k passes"
	else
		fail "$label: mender-artifact validate -k fails"
		note_file "$TEST_TMP/validate.out"
	fi
	only_file "$label" "$dir" "$(basename "$art")"
}

# ---- 4. readers killed mid-read ------------------------------------------------

# big_reader FILE ORIG READY: forever, drop FILE's pages and read 16 MiB at
# a random offset in one read(2), comparing with ORIG; write its own pid to
# READY before the first read (the pid of "big_reader &" is the subshell's,
# and killing that would leave python reading).  Exits 1 on wrong bytes or
# an error.
big_reader() {
	python3 - "$@" <<'EOF'
import mmap, os, random, sys
path, orig, ready = sys.argv[1:]
with open(orig, "rb") as f:
    want = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
fd = os.open(path, os.O_RDONLY)
rng = random.Random()
with open(ready + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(ready + ".tmp", ready)
while True:
    off = rng.randrange(0, len(want))
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    got = os.pread(fd, 16 << 20, off)
    if got != want[off:off + len(got)] or not got:
        print("wrong bytes at %d" % off)
        sys.exit(1)
EOF
}

# drop_cache FILE: drop FILE's pages from the page cache.
drop_cache() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
}

test_killed_readers() {
	local label="readers killed mid-read" big cpid ppid round cat_hit=0 py_hit=0
	local problems=() ready got want i pypid
	big=$MNT/data/0000/rootfs.ext4
	want=$(sha256_of "$SRC/rootfs.ext4")
	mount_artifact "$FIXTURES/rootfs-gzip.mender" "$MNT" || return
	for round in 1 2 3 4 5 6 7 8 9 10; do
		ready=$TEST_TMP/big_reader.$round
		big_reader "$big" "$SRC/rootfs.ext4" "$ready" >"$TEST_TMP/big_reader.out" 2>&1 &
		ppid=$!
		for ((i = 0; i < 200; i++)); do
			[ -e "$ready" ] || ! kill -0 "$ppid" 2>/dev/null && break
			sleep 0.05
		done
		# The python reader keeps dropping the file's pages, so each of
		# cat's passes goes to the daemon.
		drop_cache "$big"
		cat "$big" "$big" "$big" "$big" >/dev/null &
		cpid=$!
		# The point is to kill them while their reads are in flight.
		sleep 0.2
		pypid=$(cat "$ready" 2>/dev/null)
		kill -0 "$cpid" 2>/dev/null && cat_hit=$((cat_hit + 1))
		if [ -n "$pypid" ] && kill -0 "$pypid" 2>/dev/null; then
			py_hit=$((py_hit + 1))
		else
			problems+=("round $round: the python reader stopped before the kill: $(head -c 200 "$TEST_TMP/big_reader.out")")
		fi
		# A process killed inside a FUSE request leaves only when the
		# daemon has answered the request.  (stderr: no "Killed" job
		# notices in the log.)
		{
			kill -9 "$cpid" ${pypid:+"$pypid"}
			for ((i = 0; i < 400; i++)); do
				kill -0 "$cpid" || kill -0 "$ppid" || break
				sleep 0.05
			done
			if kill -0 "$cpid" || kill -0 "$ppid"; then
				problems+=("round $round: a killed reader is still there after 20 s (an unanswered request?)")
				break
			fi
			wait "$cpid" "$ppid"
		} 2>/dev/null
		if ! daemon_alive "$(daemon_pid "$MNT")"; then
			problems+=("round $round: the daemon died")
			break
		fi
	done
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$label: 10 rounds of kill -9 (cat still reading in $cat_hit, python blocked in a 16 MiB read in $py_hit)"
	else
		fail "$label: ${problems[*]}"
	fi
	drop_cache "$big"
	got=$(timeout -k 5 "$READ_TIMEOUT" sha256sum <"$big" | cut -d' ' -f1)
	if [ "$got" = "$want" ]; then
		ok "$label: afterwards the whole image reads back with the original sha256"
	else
		fail "$label: afterwards the image's sha256 is '$got', want $want"
	fi
	unmount_artifact "$MNT"
}

# section TITLE: start a group of cases; the next section (or a bare
# "section") prints how long the group took.
SECTION_START=
section() {
	[ -n "$SECTION_START" ] && echo "    ($((SECONDS - SECTION_START)) s)"
	SECTION_START=$SECONDS
	[ $# -gt 0 ] && echo "--- $1"
	return 0
}

section "concurrent readers"
test_readers module-gzip 300
test_readers module-xz 200
section "mount/unmount cycles"
test_cycles
section "descriptors and memory over 2000 opens"
test_resources
section "signing while readers stream"
test_sign_under_readers
section "readers killed mid-read"
test_killed_readers
section

finish
