#!/bin/sh
# sign_command for the tests: signs the manifest read from standard input
# with $MENDERFS_TEST_KEY and prints base64 on one line; fails unless
# MENDERFS_DIGEST_HEX is the SHA-256 of what came on standard input.
set -e
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat >"$tmp"
got=$(sha256sum <"$tmp" | cut -d' ' -f1)
if [ "$got" != "$MENDERFS_DIGEST_HEX" ]; then
	echo "digest $MENDERFS_DIGEST_HEX is not that of stdin ($got)" >&2
	exit 3
fi
openssl dgst -sha256 -sign "$MENDERFS_TEST_KEY" <"$tmp" | openssl base64 -A
