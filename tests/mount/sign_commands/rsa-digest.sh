#!/bin/sh
# sign_command for the tests: signs the digest menderfs gives in its
# environment with the RSA key $MENDERFS_TEST_KEY, as a KMS signs a
# digest (PKCS#1 v1.5 over SHA-256), and prints the raw signature bytes.
set -e
printf '%s' "$MENDERFS_DIGEST_B64" | openssl base64 -d -A |
	openssl pkeyutl -sign -inkey "$MENDERFS_TEST_KEY" -pkeyopt digest:sha256
