#!/usr/bin/env bash
# The Debian package: dpkg-buildpackage builds a .deb from a copy of the
# source tree (it writes its results beside the tree, so never beside the
# user's checkout); the .deb holds the daemon, the mount helper, the man page
# and the docs, declares what it needs, and lintian finds no error in it.
# Where nothing else owns the package name, the .deb is installed for real,
# `mount -t fuse.menderfs` mounts the demo artifact through the helper (as
# fstab does), and the package is removed again.
#
#   test_package.sh SOURCE_DIR
#
# Exits 77 (skipped) without dpkg-buildpackage and debhelper.
set -uo pipefail

SRC=$(cd "$1" && pwd)
MENDERFS=/usr/bin/menderfs
# shellcheck source=../mount/lib.sh
. "$SRC/tests/mount/lib.sh"

for tool in dpkg-buildpackage dh lintian git; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool not found; skipping (scripts/install-deps.sh installs it)"
		FINISHED=1
		exit 77
	fi
done

version=$(sed -n '1s/^menderfs (\([^)]*\)).*/\1/p' "$SRC/debian/changelog")
arch=$(dpkg --print-architecture)
deb=$TEST_TMP/menderfs_${version}_${arch}.deb
tree=$TEST_TMP/menderfs-$version

# What git tracks or would track: no build directories, no stale outputs.
mkdir -p "$tree"
(cd "$SRC" && git ls-files -z --cached --others --exclude-standard) |
	(cd "$SRC" && xargs -0 cp --parents -t "$tree" 2>/dev/null)
rm -rf "$tree/debian/menderfs" "$tree/obj-"*

if (cd "$tree" && dpkg-buildpackage -us -uc -b) >"$TEST_TMP/build.log" 2>&1 &&
	[ -f "$deb" ]; then
	ok "dpkg-buildpackage -us -uc -b builds $(basename "$deb")"
else
	fail "dpkg-buildpackage -us -uc -b"
	tail -n 30 "$TEST_TMP/build.log" | sed 's/^/      | /'
	finish
fi

dpkg-deb -c "$deb" | awk '{ print $6 }' >"$TEST_TMP/contents"
for path in ./usr/bin/menderfs ./usr/sbin/mount.fuse.menderfs \
	./usr/share/man/man1/menderfs.1.gz \
	./usr/share/man/man8/mount.fuse.menderfs.8.gz \
	./usr/share/doc/menderfs/README.md.gz \
	./usr/share/doc/menderfs/copyright; do
	check "dpkg-deb -c lists $path" grep -qx -- "$path" "$TEST_TMP/contents"
done

depends=$(dpkg-deb -f "$deb" Depends)
for dep in fuse3 libfuse3-3 libssl3 libarchive13 libisal2 libjson-c5 libzstd1; do
	check "Depends names $dep" \
		grep -qE "(^|, )$dep( |,|$)" <<<"$depends"
done

if lintian --fail-on error "$deb" >"$TEST_TMP/lintian.log" 2>&1; then
	ok "lintian reports no errors"
else
	fail "lintian reports errors"
	note_file "$TEST_TMP/lintian.log"
fi

# The packaged binary runs: extracted, not installed.
dpkg-deb -x "$deb" "$TEST_TMP/root"
check "the packaged menderfs --version prints its version" \
	grep -q "^menderfs version $version" \
	<("$TEST_TMP/root/usr/bin/menderfs" --version 2>&1)

status=$(dpkg-query -W -f='${Status}' menderfs 2>/dev/null || true)
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
	echo "not root or no /dev/fuse: the installed mount helper is not tested"
elif [ -n "$status" ] && [ "$status" != "deinstall ok config-files" ] &&
	[ "$status" != "unknown ok not-installed" ]; then
	echo "a menderfs package is already installed ($status): not replacing it"
else
	if dpkg -i "$deb" >"$TEST_TMP/dpkg.log" 2>&1; then
		ok "dpkg -i installs the package"
		mnt=$TEST_TMP/mnt
		mkdir -p "$mnt"
		if timeout -k 5 30 mount -t fuse.menderfs -o noauto \
			"$SRC/demo/demo.mender" "$mnt" >"$TEST_TMP/mount.log" 2>&1 &&
			mountpoint -q "$mnt"; then
			ok "mount -t fuse.menderfs mounts the demo artifact"
			check "mount -t fuse.menderfs: version is the artifact's" \
				cmp -s <(tar -xOf "$SRC/demo/demo.mender" version) "$mnt/version"
			check "mount -t fuse.menderfs: the mount is nosuid,nodev" \
				grep -qE "on $mnt type fuse.menderfs \\(([^)]*,)?nosuid,nodev[,)]" <(mount)
			check "umount unmounts it" umount "$mnt"
		else
			fail "mount -t fuse.menderfs mounts the demo artifact"
			note_file "$TEST_TMP/mount.log"
		fi
		mountpoint -q "$mnt" && umount -l "$mnt"
		if dpkg -r menderfs >>"$TEST_TMP/dpkg.log" 2>&1; then
			ok "dpkg -r removes the package"
		else
			fail "dpkg -r removes the package"
			note_file "$TEST_TMP/dpkg.log"
		fi
	else
		fail "dpkg -i installs the package"
		note_file "$TEST_TMP/dpkg.log"
	fi
fi

finish
