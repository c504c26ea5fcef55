/*
 * Standard base64 (RFC 4648 section 4, with padding), as Mender writes
 * manifest.sig: one line, no newline.
 */
#ifndef MFS_BASE64_H
#define MFS_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text mfs_b64_decode accepts (a signature is well under 2 KiB;
 * this leaves room for RSA 16384 and line breaks). */
#define MFS_B64_MAX_TEXT (64 * 1024)

/* Encodes len bytes as one line without a newline.  On success *out is
 * a NUL-terminated malloc'd string ("" for len 0).  Returns 0, -ENOMEM
 * or -EOVERFLOW. */
int mfs_b64_encode(const void *data, size_t len, char **out);

/* Decodes len characters of text.  On success *out is malloc'd (never
 * NULL, even for no bytes), *outlen its length, and *canonical (when
 * canonical is not NULL) tells whether text is exactly what
 * mfs_b64_encode gives for those bytes.
 *
 * What is accepted: the standard alphabet in groups of four with
 * correct '=' padding.  Line breaks ("\n" or "\r\n") anywhere, including
 * a trailing newline, are skipped, so a signature a tool wrapped or
 * ended with a newline still decodes and still verifies -- Go's
 * decoder, which the Mender client uses, does the same -- but it is
 * flagged non-canonical.  So is padding whose unused bits are not zero.
 * Any other character (spaces, tabs, URL-safe '-' and '_', NUL, bytes
 * >= 0x80), missing or misplaced padding, or text longer than
 * MFS_B64_MAX_TEXT is rejected with -EINVAL and the reason in err.
 * Empty text decodes to no bytes. */
int mfs_b64_decode(const char *text, size_t len, uint8_t **out, size_t *outlen,
		   bool *canonical, char *err, size_t errlen);

#endif
