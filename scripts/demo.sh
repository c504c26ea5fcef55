#!/usr/bin/env bash
# Install what is missing, build menderfs, mount the demo artifact and show
# what is in it. The artifact stays mounted so you can look around.
#
#   scripts/demo.sh [MOUNTPOINT]              mount and show (default
#                                              /tmp/menderfs-demo)
#   scripts/demo.sh --unmount [MOUNTPOINT]    unmount it again
set -euo pipefail

caller_dir=$PWD
cd "$(dirname "$0")/.."
repo=$PWD

# debugfs lives in /sbin, which is not in every user's PATH.
PATH=$PATH:/usr/sbin:/sbin

usage() {
	echo "usage: $0 [--unmount] [MOUNTPOINT]" >&2
	exit 2
}

unmount_only=false
mnt=
while [ $# -gt 0 ]; do
	case "$1" in
	--unmount | -u) unmount_only=true ;;
	-h | --help)
		echo "usage: $0 [--unmount] [MOUNTPOINT]"
		exit 0
		;;
	-*) usage ;;
	*)
		[ -z "$mnt" ] || usage
		mnt=$1
		;;
	esac
	shift
done
mnt=${mnt:-/tmp/menderfs-demo}
case "$mnt" in
/*) ;;
*) mnt=$caller_dir/$mnt ;;
esac
# No trailing slash, so the path matches /proc/self/mountinfo.
while [ "${#mnt}" -gt 1 ] && [ "${mnt%/}" != "$mnt" ]; do
	mnt=${mnt%/}
done

artifact=$repo/demo/demo.mender
key=$repo/demo/demo-key.pub

# Not stat(2): that fails on a mount whose daemon has died.
is_mounted() {
	local esc
	esc=$(printf '%s' "$mnt" | sed -e 's/\\/\\134/g' -e 's/ /\\040/g' \
		-e 's/\t/\\011/g')
	# Through the environment: awk -v would undo the escapes.
	MNT_ESC=$esc awk '$5 == ENVIRON["MNT_ESC"] { found = 1 }
		END { exit !found }' /proc/self/mountinfo
}

unmount() {
	is_mounted || return 0
	echo "unmounting $mnt"
	if ! fusermount3 -u "$mnt"; then
		echo "$mnt is busy; detaching it lazily" >&2
		fusermount3 -u -z "$mnt"
	fi
}

if $unmount_only; then
	unmount
	exit 0
fi

bash scripts/install-deps.sh
bash scripts/build.sh --target menderfs

unmount
mkdir -p "$mnt"

# Where the binary lands depends on the CMake layout; take the newest.
bin=
for b in build/menderfs build/fs/menderfs; do
	if [ -x "$b" ] && { [ -z "$bin" ] || [ "$b" -nt "$bin" ]; }; then
		bin=$b
	fi
done
if [ -z "$bin" ]; then
	echo "demo: the build made no menderfs binary" >&2
	exit 1
fi

# Verification keys arrive in a later version; use them when offered.
opts=()
label=$bin
help=$("$repo/$bin" --help 2>&1 || true)
case "$help" in
*verify_key*)
	opts+=(-o "verify_key=$key")
	label="$label -o verify_key=demo/demo-key.pub"
	;;
esac

printf '\n$ %s demo/demo.mender %s\n' "$label" "$mnt"
if ! "$repo/$bin" "${opts[@]}" "$artifact" "$mnt"; then
	echo "demo: mounting $artifact at $mnt failed" >&2
	exit 1
fi

failed=0
heading() {
	printf '\n$ %s\n' "$1"
}
fail() {
	echo "demo: the command above failed" >&2
	failed=1
}

heading "findmnt $mnt"
findmnt "$mnt" || fail

heading "ls -lR $mnt"
ls -lR "$mnt" || fail

heading "cat $mnt/header/header-info"
# header-info is JSON without a trailing newline.
{ cat "$mnt/header/header-info" && echo; } || fail

heading "(cd $mnt && sha256sum -c manifest)"
(cd "$mnt" && sha256sum -c manifest) || fail

img=
for f in "$mnt"/data/0000/*; do
	[ -f "$f" ] && img=$f && break
done
if [ -n "$img" ]; then
	heading "debugfs -R 'ls -l /' $img"
	debugfs -R 'ls -l /' "$img" || fail
else
	echo "demo: no payload file in $mnt/data/0000" >&2
	failed=1
fi

if [ -e "$mnt/.verify" ]; then
	heading "cat $mnt/.verify"
	cat "$mnt/.verify" || fail
fi

again="bash scripts/demo.sh --unmount"
[ "$mnt" = /tmp/menderfs-demo ] || again="$again $(printf '%q' "$mnt")"
cat <<MSG

The demo artifact is still mounted at $mnt; look around.
Unmount it with

    fusermount3 -u $(printf '%q' "$mnt")

or $again
MSG

exit "$failed"
