/* The FUSE low-level operations: each maps its inode to a tree node, calls
 * the core, and replies once. */
#ifndef MFS_OPS_H
#define MFS_OPS_H

#include <fuse_lowlevel.h>

#include "artifact/artifact.h"
#include "artifact/tree.h"
#include "artifact/verify_cache.h"
#include "fs/keyring.h"

/* Reached through fuse_req_userdata(): no global state. */
struct mfs_context {
	struct mfs_artifact *artifact;
	struct mfs_tree *tree;
	struct mfs_keyring keyring;
	struct mfs_verify_cache verify;
	struct mfs_key *sign_key;	/* NULL without -o sign_key */
	const char *sign_output;	/* NULL: rewrite the artifact itself */
	const char *index_dir;		/* NULL: no persistent index */
	struct mfs_span_cache *spans;	/* NULL: none */
	pthread_mutex_t sign_lock;	/* one signature change at a time */

	/* Signature files closed after an O_TRUNC open with nothing
	 * written: their removal is decided at release, so requests that
	 * show the signature's state wait for it (see signature_file.c). */
	pthread_mutex_t pending_lock;
	pthread_cond_t settled;
	int pending_truncates;
};

extern const struct fuse_lowlevel_ops mfs_ops;

#endif
