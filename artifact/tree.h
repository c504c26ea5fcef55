/*
 * The directory tree a mount shows, as a table of nodes whose index + 1 is
 * the inode number (so the root is FUSE's inode 1).  Built at open from the
 * member table, the header files and the manifest's payload names; payload
 * files the tar holds beyond those are added as the payload walk finds
 * them.  Every call is safe from many threads; nodes are never removed, so
 * an inode number stays valid for the life of the tree.
 *
 * This is the whole read side of the file system, FUSE-free: fs/ only
 * translates requests into these calls.
 */
#ifndef MFS_TREE_H
#define MFS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "artifact/artifact.h"

#define MFS_TREE_ROOT 1

/* Names the tree reserves at its root for virtual files. */
#define MFS_SIGNATURE_NAME	"signature"
#define MFS_VERIFY_NAME		".verify"
#define MFS_CONTENTS_NAME	"contents"

/* mfs_tree_build_flags(): show no contents/. */
#define MFS_TREE_NOCONTENTS	1u

struct mfs_tree;

/* The tree borrows the artifact, which must outlive it. */
int mfs_tree_build(struct mfs_artifact *a, struct mfs_tree **out);
int mfs_tree_build_flags(struct mfs_artifact *a, unsigned flags,
			 struct mfs_tree **out);

/* Accepts NULL. */
void mfs_tree_destroy(struct mfs_tree *t);

/* The inode of name in directory dir: 0, -ENOENT or -ENOTDIR. */
int mfs_tree_lookup(struct mfs_tree *t, uint64_t dir, const char *name,
		    uint64_t *ino);

/* Fills st (st_ino, st_mode, st_nlink, st_size, st_mtime, st_blocks).
 * For a payload file this may walk the payload tar up to it. */
int mfs_tree_getattr(struct mfs_tree *t, uint64_t ino, struct stat *st);

/* Child number i (0-based) of directory dir: its inode, its type
 * (S_IFDIR or S_IFREG; inside contents/ any S_IF*), and its name copied into name (NAME_MAX + 1
 * bytes).  Never walks a payload.  Returns 1, 0 past the last child, or a
 * negative errno. */
int mfs_tree_child(struct mfs_tree *t, uint64_t dir, size_t i,
		   uint64_t *ino, mode_t *type, char *name);

/* Reads a file's bytes.  Returns the byte count or a negative errno. */
ssize_t mfs_tree_read(struct mfs_tree *t, uint64_t ino, void *buf,
		      size_t len, uint64_t off);

/*
 * contents/NNNN/FILE/: the files inside a payload file that holds a
 * filesystem or an archive (artifact/contents/contents.h).  The payload
 * files of contents/NNNN are probed (first bytes) on the first lookup or
 * listing of it, and an image is opened on the first lookup or listing
 * inside it, then kept until the tree shows another artifact.  Nodes
 * inside an image answer every call above with their own attributes
 * (owner, type, mode as stored less the write bits) and these:
 */

/* A symlink's target: its length, or -EINVAL for other nodes. */
ssize_t mfs_tree_readlink(struct mfs_tree *t, uint64_t ino, char *buf,
			  size_t len);

/* listxattr(2), getxattr(2); the tree's own nodes have none. */
ssize_t mfs_tree_listxattr(struct mfs_tree *t, uint64_t ino, char *buf,
			   size_t len);
ssize_t mfs_tree_getxattr(struct mfs_tree *t, uint64_t ino, const char *name,
			  void *buf, size_t len);

/* The image's statfs for a node inside one (or its root); 1 for any
 * other node. */
int mfs_tree_statfs(struct mfs_tree *t, uint64_t ino, struct statvfs *st);

/* Which virtual file a node is, if any: the daemon serves these itself. */
enum mfs_virtual {
	MFS_VIRTUAL_NONE,
	MFS_VIRTUAL_SIGNATURE,
	MFS_VIRTUAL_VERIFY,
};

enum mfs_virtual mfs_tree_virtual(struct mfs_tree *t, uint64_t ino);

/* True for nodes whose contents or presence change when the artifact is
 * rewritten (signature, .verify, manifest.sig): not to be cached. */
int mfs_tree_is_mutable(struct mfs_tree *t, uint64_t ino);

/* The artifact the tree shows now (and the generation it belongs to),
 * held so it is not swapped out until mfs_tree_unpin().  Do not call
 * other mfs_tree_* functions meanwhile. */
struct mfs_artifact *mfs_tree_pin(struct mfs_tree *t, uint64_t *generation);
void mfs_tree_unpin(struct mfs_tree *t);

/* Counts swaps: a result computed under one generation is stale after. */
uint64_t mfs_tree_generation(struct mfs_tree *t);

/* Shows a instead of the current artifact, once no call is using the
 * current one.  a must be a rewrite of its signature: the same members,
 * names, sizes and times, the same manifest and header files, but for
 * manifest.sig; anything else is refused (-EIO, the tree unchanged).
 * Returns 0 with the previous artifact in *old for the caller to close. */
int mfs_tree_swap(struct mfs_tree *t, struct mfs_artifact *a,
		  struct mfs_artifact **old);

/* Shows a, another artifact altogether (the mounted file changed on
 * disk), once no call is using the current one: every node but the root
 * goes stale (reads give -EIO, the rest -ESTALE) and a's nodes take fresh
 * inodes under the root.  *old is the previous artifact for the caller to
 * close; a is shown even when this fails (-ENOMEM: part of it). */
int mfs_tree_replace(struct mfs_tree *t, struct mfs_artifact *a,
		     struct mfs_artifact **old);

/* True for the nodes that accept writes; all others answer EROFS. */
int mfs_tree_is_writable(struct mfs_tree *t, uint64_t ino);

#endif
