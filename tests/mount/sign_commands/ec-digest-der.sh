#!/bin/sh
# sign_command for the tests: signs the digest in the environment with the
# EC P-256 key $MENDERFS_TEST_KEY, which gives DER, and prints it as
# base64 wrapped at 64 columns, as many clients print it.
set -e
printf '%s' "$MENDERFS_DIGEST_B64" | openssl base64 -d -A |
	openssl pkeyutl -sign -inkey "$MENDERFS_TEST_KEY" | openssl base64
