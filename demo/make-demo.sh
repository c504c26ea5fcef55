#!/usr/bin/env bash
# Regenerate the demo artifact: demo.mender, a signed rootfs-image artifact
# holding a tiny ext4 file system, and its DEMO key pair (demo-key.pem,
# demo-key.pub). The keys are kept when they exist; pass --new-keys to
# generate a fresh pair.
#
# Needs: openssl, mke2fs (e2fsprogs), mender-artifact.
set -euo pipefail

cd "$(dirname "$0")"

new_keys=false
case "${1:-}" in
'') ;;
--new-keys) new_keys=true ;;
*)
	echo "usage: $0 [--new-keys]" >&2
	exit 2
	;;
esac

# Fixed times and ids, so the ext4 image is the same on every run.
export SOURCE_DATE_EPOCH=1704067200 # 2024-01-01 00:00:00 UTC
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
stamp=202401010000

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Key pair. mender-artifact 3.9 reads RSA private keys in PKCS#1 form.
if $new_keys || [ ! -e demo-key.pem ]; then
	openssl genrsa -traditional -out demo-key.pem 3072
	openssl pkey -in demo-key.pem -pubout -out demo-key.pub
fi
chmod 0644 demo-key.pem demo-key.pub

# The root file system.
root=$work/rootfs
mkdir -p "$root/etc" "$root/bin" "$root/var/log"

cat >"$root/etc/os-release" <<'OS'
NAME="Demo Linux"
VERSION="1.0"
ID=demo
PRETTY_NAME="Demo Linux 1.0"
HOME_URL="https://example.com/demo-linux"
OS

echo demo-device >"$root/etc/hostname"
echo "artifact_name=demo-1.0" >"$root/etc/mender-artifact-info"

cat >"$root/README" <<'TXT'
This is the root file system of the menderfs demo artifact.

It is a 2 MiB ext4 image made with mke2fs -d from a few text files, packed
as a rootfs-image payload by mender-artifact and signed with a demo key.
TXT

cat >"$root/bin/hello" <<'SH'
#!/bin/sh
. /etc/os-release
echo "Hello from $PRETTY_NAME"
SH
chmod 0755 "$root/bin/hello"

find "$root" -exec touch -h -t "$stamp" {} +

mke2fs -q -F -t ext4 -b 1024 \
	-L demo-rootfs -U 6d656e64-6572-4673-8000-64656d6f0001 \
	-E root_owner=0:0,hash_seed=6d656e64-6572-4673-8000-64656d6f0002 \
	-d "$root" "$work/rootfs.ext4" 2M >/dev/null

# A state script, so that header/scripts/ has something to show.
cat >"$work/ArtifactInstall_Leave_50_demo" <<'SH'
#!/bin/sh
echo "demo-1.0 installed" >&2
SH
chmod 0755 "$work/ArtifactInstall_Leave_50_demo"

# mender-artifact stores the files' own mtimes in the tars.
touch -t "$stamp" "$work/rootfs.ext4" "$work/ArtifactInstall_Leave_50_demo"

rm -f demo.mender
mender-artifact write rootfs-image \
	--no-progress \
	-f "$work/rootfs.ext4" \
	-n demo-1.0 \
	-t demo-device \
	-s "$work/ArtifactInstall_Leave_50_demo" \
	-k demo-key.pem \
	-o demo.mender

mender-artifact validate -k demo-key.pub demo.mender
