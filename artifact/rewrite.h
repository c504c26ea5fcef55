/*
 * Rewriting an artifact with a new manifest.sig (or none), atomically:
 * the new file is built beside the target, synced, and renamed over it,
 * so on any failure, a full disk or a crash included, the target is
 * either the old file or the complete new one.
 */
#ifndef MFS_REWRITE_H
#define MFS_REWRITE_H

#include <stddef.h>
#include <sys/stat.h>

#include "artifact/artifact.h"

/* Where a rewrite puts its result: a directory, opened once (at
 * start-up), and a name in it that is never followed. */
struct mfs_rewrite_place {
	int dfd;
	char *dir;		/* for messages */
	char *name;
};

/* Opens path's directory (the links on the way to it are followed, now
 * and never again) and keeps its last component as the name.  Returns 0
 * or a negative errno with the reason in err. */
int mfs_rewrite_place_open(const char *path, struct mfs_rewrite_place *p,
			   char *err, size_t errlen);

/* Accepts a place never opened ({ .dfd = -1 }) or already closed. */
void mfs_rewrite_place_close(struct mfs_rewrite_place *p);

/* Writes a copy of a to place in which manifest.sig holds the sig_len
 * bytes of sig, placed right after manifest, replacing any earlier one;
 * sig_len 0 leaves no manifest.sig.  Every other member's bytes are
 * copied unchanged.
 *
 * expect is the file the name must hold (device and inode: the mounted
 * artifact, when it is rewritten in place); NULL lets it hold nothing or
 * any regular file (an output written for the first time).  It is
 * checked before anything is written and again right before the rename;
 * a symlink there, or another file, gives -ESTALE.
 *
 * On success *out_fd (when not NULL) is the new file, open for reading,
 * for the caller to use and close: the name may be replaced by someone
 * else right after the rename.  Returns 0, or a negative errno with the
 * reason in err; the target is then untouched and no temporary file is
 * left. */
int mfs_rewrite_signature(struct mfs_artifact *a, const char *sig,
			  size_t sig_len, const struct mfs_rewrite_place *place,
			  const struct stat *expect, int *out_fd,
			  char *err, size_t errlen);

/* Removes temporary files an interrupted rewrite at place left behind
 * (after a crash).  Called at start-up. */
void mfs_rewrite_cleanup(const struct mfs_rewrite_place *place);

#endif
