/*
 * Signing the manifest as mender-artifact does: SHA-256, RSA PKCS#1
 * v1.5 or ECDSA P-256 as raw r||s, base64 on one line.
 */
#ifndef MFS_SIGN_H
#define MFS_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"

/* Size of an ECDSA P-256 signature as written: r and s, 32 bytes each. */
#define MFS_SIG_EC_RAW_LEN 64

/* Signs msg with a private key.  On success *sig is malloc'd: the RSA
 * signature (the key's size in bytes), or r||s for EC, always
 * MFS_SIG_EC_RAW_LEN bytes.  The signature is checked against the key's
 * public half before it is returned, so a token that signs with a key
 * other than the one it reports is caught here.  Returns 0, -EINVAL for
 * a public key, -EIO when signing fails, -ENOMEM. */
int mfs_sig_sign_raw(const struct mfs_key *key, const void *msg,
		     size_t msglen, uint8_t **sig, size_t *siglen,
		     char *err, size_t errlen);

/* mfs_sig_sign_raw, then base64: *b64 is a malloc'd NUL-terminated
 * line with no newline, what manifest.sig holds. */
int mfs_sig_sign(const struct mfs_key *key, const void *msg, size_t msglen,
		 char **b64, char *err, size_t errlen);

#endif
