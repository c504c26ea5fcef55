#!/usr/bin/env bash
# Install what is missing, then test menderfs in three ways:
#
# 1. a RelWithDebInfo build (warnings are errors) in build-rel/, the
#    build users get, running the core unit suites (check_*);
# 2. the stream, index and decoder suites of that build under valgrind's
#    memcheck, which sees inside the libraries the sanitizers do not
#    instrument (ISA-L, liblzma, libzstd), with MENDERFS_TEST_QUICK set
#    so the largest loops take fewer rounds;
# 3. an AddressSanitizer and UndefinedBehaviorSanitizer build in
#    build-test/ running the whole test suite, last, so the output ends
#    with ctest's summary line.
#
# Extra arguments are passed to the last ctest and mean a targeted run,
# which skips steps 1 and 2, e.g.
#
#   scripts/test.sh -R check_outer
#
# Each step's time is printed.  Exits non-zero if any step failed, with
# ctest's status when only the last one did.  Needs no terminal, so it
# runs as is in CI.
set -euo pipefail

cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive

# The suites valgrind runs: the seekable stream and its restore points,
# the index file, the decoders, the span cache.
valgrind_suites=(check_stream check_index_file check_compression
		 check_span_cache)

# timed NAME COMMAND...: runs it and prints how long it took.
timed() {
	local name=$1 start=$SECONDS status=0
	shift
	"$@" || status=$?
	echo "== $name: $((SECONDS - start)) s (exit $status)"
	return "$status"
}

# memcheck SUITE: the suite in build-rel/ under valgrind.  In one process
# (CK_FORK=no), so that valgrind follows every test; definite leaks and
# every memory error fail it.  Of check_index_file, the "index" case
# (saving, loading, reading back): its "pass" case only decodes the same
# payloads again, at valgrind's speed.
memcheck() {
	local only=()
	[ "$1" != check_index_file ] || only=(CK_RUN_CASE=index)
	(cd build-rel/tests &&
	 env "${only[@]}" CK_FORK=no MENDERFS_TEST_QUICK=1 \
		valgrind -q --error-exitcode=1 \
		--leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite "./$1" </dev/null)
}

bash scripts/install-deps.sh

failed=()
if [ $# -eq 0 ]; then
	timed "RelWithDebInfo build" bash scripts/build.sh build-rel \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMENDERFS_WERROR=ON ||
		failed+=("RelWithDebInfo build")
	if [ ${#failed[@]} -eq 0 ]; then
		timed "RelWithDebInfo unit suites" \
			ctest --test-dir build-rel -R '^check_' \
			--output-on-failure --timeout 900 </dev/null ||
			failed+=("RelWithDebInfo unit suites")
		for suite in "${valgrind_suites[@]}"; do
			timed "valgrind $suite" memcheck "$suite" ||
				failed+=("valgrind $suite")
		done
	fi
fi

timed "Sanitize build" bash scripts/build.sh build-test \
	-DCMAKE_BUILD_TYPE=Sanitize -DMENDERFS_WERROR=ON
# Said before the last ctest, whose summary line ends the output.
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED before the sanitizer suite: ${failed[*]}"
fi
# Serially: the mount tests start daemons and read whole payloads.
status=0
start=$SECONDS
ctest --test-dir build-test --output-on-failure --timeout 900 "$@" \
	</dev/null || status=$?
if [ ${#failed[@]} -gt 0 ] && [ "$status" -eq 0 ]; then
	status=1
fi
# On stderr: stdout ends with ctest's summary.
echo "== Sanitize suite: $((SECONDS - start)) s (exit $status)" >&2
exit "$status"
