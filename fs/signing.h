/* Changing the artifact's signature: sign with sign_key, install a
 * signature made elsewhere, or remove it; then show the rewritten
 * artifact.  Each call completes (or fails, leaving everything as it
 * was) before it returns. */
#ifndef MFS_SIGNING_H
#define MFS_SIGNING_H

#include <stddef.h>

#include "fs/ops.h"

/* text is what was written to the signature file: "sign" (a trailing
 * newline allowed) signs with sign_key; anything else must be a base64
 * signature that a configured key verifies.  Returns 0, -ENOKEY (no key
 * to sign or judge with), -EINVAL (neither "sign" nor a signature that
 * verifies), or -EIO (the rewrite failed; details logged). */
int mfs_signing_write(struct mfs_context *ctx, const char *text, size_t len);

/* Removes manifest.sig.  Returns 0 or -EIO. */
int mfs_signing_remove(struct mfs_context *ctx);

#endif
