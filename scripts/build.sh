#!/usr/bin/env bash
# Configure and build menderfs.
#
#   scripts/build.sh [--target NAME] [BUILD_DIR] [extra cmake arguments...]
#
# BUILD_DIR defaults to build/ in the repository root; a relative BUILD_DIR
# given on the command line is relative to the current directory. The build
# type is RelWithDebInfo unless the extra arguments set CMAKE_BUILD_TYPE.
# --target builds only that target (e.g. menderfs), not the test suites.
set -euo pipefail

caller_dir=$PWD
cd "$(dirname "$0")/.."

target=()
if [ $# -gt 1 ] && [ "$1" = --target ]; then
	target=(--target "$2")
	shift 2
fi

build_dir=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	build_dir=$1
	case "$build_dir" in
	/*) ;;
	*) build_dir=$caller_dir/$build_dir ;;
	esac
	shift
fi

build_type=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
for arg in "$@"; do
	case "$arg" in
	-DCMAKE_BUILD_TYPE=* | -DCMAKE_BUILD_TYPE:*=*) build_type=() ;;
	esac
done

cmake -S . -B "$build_dir" "${build_type[@]}" "$@"
cmake --build "$build_dir" -j"$(nproc)" "${target[@]}"
