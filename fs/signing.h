/* Changing the artifact's signature: sign with sign_key or through
 * sign_command, install a signature made elsewhere, or remove it; then
 * show the rewritten artifact.  Each call completes (or fails, leaving everything as it
 * was) before it returns. */
#ifndef MFS_SIGNING_H
#define MFS_SIGNING_H

#include <stddef.h>

#include "fs/ops.h"

/* text is everything written to the signature file through one open so
 * far.  "sign" (a trailing newline allowed) signs with sign_key, or
 * through sign_command (its failure, time-out or a signature no key
 * verifies is -EIO); a base64 signature that a configured key verifies
 * is installed.  Returns 0 when
 * it was acted on, 1 when it is not complete yet but may become one of
 * those (nothing done), or -ENOKEY (no key to sign or judge with),
 * -EINVAL (it cannot become either), -EROFS (a version 2 artifact),
 * -EBADMSG (the artifact is malformed or fails its own checksums),
 * -ESTALE (the file at the artifact's path is not the one mounted), -EIO
 * (the rewrite failed).  Details are logged. */
int mfs_signing_write(struct mfs_context *ctx, const char *text, size_t len);

/* Removes manifest.sig.  Returns 0, -EROFS, -ESTALE or -EIO. */
int mfs_signing_remove(struct mfs_context *ctx);

#endif
