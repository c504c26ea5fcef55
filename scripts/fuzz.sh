#!/usr/bin/env bash
# Build the libFuzzer harnesses of the core and run each of them.
#
#   scripts/fuzz.sh [SECONDS_PER_HARNESS]      (default 60; 0 replays only)
#   scripts/fuzz.sh --ci                       (what CI runs)
#   FUZZ_HARNESSES="inner index" scripts/fuzz.sh ...   only those harnesses
#
# Configures build-fuzz/ (clang, the core instrumented for libFuzzer, ASan
# and UBSan), builds the harnesses, makes the seed corpora, replays every
# saved reproducer in fuzz/regressions/<harness>/, then fuzzes each harness
# for the given time.  The corpus grows in build-fuzz/fuzz-corpus/ from one
# run to the next; crashes, leaks and timeouts are written to
# build-fuzz/fuzz-crashes/<harness>/, and libFuzzer's output to
# build-fuzz/fuzz-logs/.  Exits non-zero if anything failed.
#
# --ci replays the reproducers, then runs each harness for a fixed number
# of executions (about a minute each here) with a fixed seed, from the
# seeds alone: the same inputs on every run, so CI catches regressions
# without failing at random on a new finding.  Open-ended runs find new
# inputs; what they find is saved under fuzz/regressions/ for CI.  Installs
# nothing: scripts/install-deps.sh provides clang and its runtime.
set -euo pipefail

usage() {
	echo "usage: $0 [SECONDS_PER_HARNESS]" >&2
	exit 2
}

seconds=60
ci=0
if [ $# -gt 1 ]; then
	usage
elif [ $# -eq 1 ]; then
	case "$1" in
	-h | --help)
		echo "usage: $0 [SECONDS_PER_HARNESS | --ci]"
		exit 0
		;;
	--ci) ci=1 ;;
	'' | *[!0-9]*) usage ;;
	esac
	[ "$ci" -eq 1 ] || seconds=$1
fi

cd "$(dirname "$0")/.."
repo=$PWD
build=$repo/build-fuzz
harnesses=(outer inner manifest header_json base64_sig artifact resume index
	contents_ext contents_squashfs contents_tar)
# FUZZ_HARNESSES="a b" runs only those.
if [ -n "${FUZZ_HARNESSES:-}" ]; then
	read -r -a harnesses <<<"$FUZZ_HARNESSES"
fi

# --ci: executions per harness, about a minute each on one core here
# (they differ by two orders of magnitude in speed).
ci_runs() {
	case "$1" in
	outer) echo 1000000 ;;
	inner) echo 20000 ;;
	manifest) echo 2000000 ;;
	header_json) echo 100000 ;;
	base64_sig) echo 2000000 ;;
	artifact) echo 60000 ;;
	resume) echo 1300 ;;
	index) echo 20000 ;;
	contents_ext) echo 40000 ;;
	contents_squashfs) echo 15000 ;;
	contents_tar) echo 30000 ;;
	esac
}

dict_for() {
	case "$1" in
	outer | inner | artifact) echo "$repo/fuzz/dict/tar.dict" ;;
	header_json) echo "$repo/fuzz/dict/json.dict" ;;
	*) ;;
	esac
}

echo "== configuring and building in $build"
cmake -S "$repo" -B "$build" \
	-DCMAKE_C_COMPILER=clang \
	-DCMAKE_BUILD_TYPE=Sanitize \
	-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
	-DMENDERFS_TESTS=OFF \
	-DMENDERFS_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzzers -j"$(nproc)"

echo "== making seeds"
"$repo/fuzz/make-seeds.sh" "$build/fuzz-seeds"
# The index harness forges the index file of this artifact.
export MENDERFS_FUZZ_ARTIFACT=$build/fuzz-seeds/artifact/module-gzip.mender

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

common=(-timeout=10 -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1)
failed=()
summary=()

for h in "${harnesses[@]}"; do
	bin=$build/fuzz/fuzz_$h
	corpus=$build/fuzz-corpus/$h
	crashes=$build/fuzz-crashes/$h
	log=$build/fuzz-logs/$h.log
	regressions=$repo/fuzz/regressions/$h
	dict=$(dict_for "$h")
	extra=()
	mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
	cp -n "$build/fuzz-seeds/$h"/* "$corpus"/ 2>/dev/null || true

	regress=ok
	if [ -d "$regressions" ] &&
	   [ -n "$(find "$regressions" -type f ! -name '*.md' -print -quit)" ]; then
		echo "== $h: replaying $regressions"
		# One process per file, so each failure is named.
		while IFS= read -r -d '' f; do
			if ! "$bin" "${common[@]}" "$f" >"$log.regress" 2>&1; then
				echo "FAIL: $h reproducer still fails: ${f#"$repo"/}" >&2
				grep -m1 -E 'ERROR|check failed|runtime error' \
					"$log.regress" >&2 || true
				regress=fail
			fi
		done < <(find "$regressions" -type f ! -name '*.md' -print0 | sort -z)
		# Once they pass, the reproducers join the corpus (read only:
		# libFuzzer adds new inputs to the first directory only).
		[ "$regress" = fail ] || extra+=("$regressions")
	fi

	if [ "$seconds" -eq 0 ] && [ "$ci" -eq 0 ]; then	# replay only
		result=ok
		if [ "$regress" = fail ]; then
			result="reproducers still fail"
			failed+=("$h")
		fi
		summary+=("$(printf '%-12s %12s        %s' "$h" replayed "$result")")
		continue
	fi
	status=0
	if [ "$ci" -eq 1 ]; then
		# A fresh corpus from the seeds: the same run every time.
		corpus=$build/fuzz-ci-corpus/$h
		rm -rf "$corpus"
		mkdir -p "$corpus"
		# No seeds would fuzz from nothing: fail instead.
		cp "$build/fuzz-seeds/$h"/* "$corpus"/
		echo "== $h: $(ci_runs "$h") executions, seed 1"
		"$bin" "${common[@]}" -seed=1 -runs="$(ci_runs "$h")" \
			-artifact_prefix="$crashes/" ${dict:+"-dict=$dict"} \
			"$corpus" "${extra[@]}" >"$log" 2>&1 || status=$?
	else
		echo "== $h: fuzzing for ${seconds}s"
		"$bin" "${common[@]}" -max_total_time="$seconds" \
			-artifact_prefix="$crashes/" ${dict:+"-dict=$dict"} \
			"$corpus" "${extra[@]}" >"$log" 2>&1 || status=$?
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	result=ok
	if [ "$status" -ne 0 ]; then
		result="FAILED (exit $status; see ${log#"$repo"/})"
		grep -m3 -E 'ERROR|check failed|runtime error|Test unit written' \
			"$log" >&2 || true
		failed+=("$h")
	fi
	if [ "$regress" = fail ]; then
		result="$result; reproducers still fail"
		failed+=("$h")
	fi
	summary+=("$(printf '%-12s %12s execs  %s' "$h" "${execs:-?}" "$result")")
done

if [ "$ci" -eq 1 ]; then
	echo "== summary (fixed executions, seed 1)"
else
	echo "== summary (${seconds}s per harness)"
fi
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}" >&2
	exit 1
fi
