/*
 * Rewriting an artifact with a new manifest.sig (or none), atomically:
 * the new file is built beside the target, synced, and renamed over it,
 * so on any failure, a full disk or a crash included, the target is
 * either the old file or the complete new one.
 */
#ifndef MFS_REWRITE_H
#define MFS_REWRITE_H

#include <stddef.h>

#include "artifact/artifact.h"

/* Writes a copy of a to target (which may be a->path) in which
 * manifest.sig holds the sig_len bytes of sig, placed right after
 * manifest, replacing any earlier one; sig_len 0 leaves no manifest.sig.
 * Every other member's bytes are copied unchanged.  Returns 0, or a
 * negative errno with the reason in err; the target is then untouched and
 * no temporary file is left. */
int mfs_rewrite_signature(struct mfs_artifact *a, const char *sig,
			  size_t sig_len, const char *target,
			  char *err, size_t errlen);

/* Removes temporary files an interrupted rewrite of target left behind
 * (after a crash).  Called at start-up. */
void mfs_rewrite_cleanup(const char *target);

#endif
