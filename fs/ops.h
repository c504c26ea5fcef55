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
};

extern const struct fuse_lowlevel_ops mfs_ops;

#endif
