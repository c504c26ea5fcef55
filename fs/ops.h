/* The FUSE low-level operations: each maps its inode to a tree node, calls
 * the core, and replies once. */
#ifndef MFS_OPS_H
#define MFS_OPS_H

#include <fuse_lowlevel.h>

#include "artifact/artifact.h"
#include "artifact/mount.h"
#include "artifact/tree.h"
#include "artifact/verify_cache.h"
#include "fs/keyring.h"

struct mfs_signature_handle;

/* Reached through fuse_req_userdata(): no global state. */
struct mfs_context {
	struct mfs_artifact *artifact;	/* the one opened at start-up */
	struct mfs_tree *tree;
	struct mfs_mount mount;		/* every change of what tree shows */
	struct mfs_keyring keyring;
	struct mfs_verify_cache verify;
	struct mfs_key *sign_key;	/* NULL without -o sign_key */
	const char *sign_command;	/* absolute; NULL without it */
	const char *index_dir;		/* NULL: no persistent index */
	struct mfs_span_cache *spans;	/* NULL: none */
	struct fuse_session *se;	/* to tell the kernel what changed */
	/* Open handles of the signature file: those whose release the
	 * kernel never sent, as the mount went away, are freed at exit. */
	pthread_mutex_t sig_handles_lock;
	struct mfs_signature_handle *sig_handles;
};

extern const struct fuse_lowlevel_ops mfs_ops;

#endif
