#!/usr/bin/env bash
# Install what is missing, build menderfs with AddressSanitizer and
# UndefinedBehaviorSanitizer (warnings are errors) in build-test/, and run
# the whole test suite. Extra arguments are passed to ctest, e.g.
#
#   scripts/test.sh -R check_outer
#
# Exits with ctest's status. Needs no terminal, so it runs as is in CI.
set -euo pipefail

cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive

bash scripts/install-deps.sh
bash scripts/build.sh build-test \
	-DCMAKE_BUILD_TYPE=Sanitize -DMENDERFS_WERROR=ON

# Serially: the mount tests start daemons and read whole payloads.
status=0
ctest --test-dir build-test --output-on-failure --timeout 900 "$@" \
	</dev/null || status=$?
exit "$status"
