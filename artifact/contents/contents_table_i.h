/*
 * The node table of the readers that index a whole image at open (tar,
 * squashfs): nodes with their attributes, directory entries, and a hash
 * of (directory, name) for lookups.  Built by one thread at open, then
 * only read, so lookups take no lock.  Node n is nodes[n - 1]; the root
 * directory is node 1.
 */
#ifndef MFS_CONTENTS_TABLE_I_H
#define MFS_CONTENTS_TABLE_I_H

#include <stdint.h>
#include <sys/types.h>

#include "artifact/contents/contents_i.h"

#define MFS_CONTENTS_TABLE_ROOT 1

struct mfs_contents_xattr {
	char *name;
	void *value;
	size_t size;
};

struct mfs_contents_tnode {
	mode_t mode;			/* type and permission bits as stored */
	uint32_t uid, gid, nlink;
	uint64_t size;
	uint64_t rdev;
	struct timespec atime, mtime, ctime;
	char *link;			/* a symlink's target */
	struct mfs_contents_xattr *xattrs;
	uint32_t nxattrs;
	uint32_t nkids, kids_cap;
	uint32_t *kids;			/* a directory's entries (dents) */
	int error;			/* negative errno: unreadable */
	uint32_t flags;			/* the reader's own */
	/* The reader's own: where the data is. */
	uint64_t data;
	uint64_t aux;
	void *priv;
};

struct mfs_contents_dent {
	char *name;
	uint32_t dir;			/* node ids */
	uint32_t node;
	uint32_t hnext;			/* dent index + 1 in the hash chain */
};

struct mfs_contents_table {
	struct mfs_contents_tnode *nodes;
	size_t nnodes, nodes_cap;
	struct mfs_contents_dent *dents;
	size_t ndents, dents_cap;
	uint32_t *buckets;		/* dent index + 1, 0 for none */
	size_t nbuckets;		/* a power of two */
	void (*free_priv)(void *priv);
};

/* Makes the root directory (mode 0755, owner 0). 0 or -ENOMEM. */
int mfs_contents_table_init(struct mfs_contents_table *t);
void mfs_contents_table_destroy(struct mfs_contents_table *t);

/* NULL for a number that is no node. */
struct mfs_contents_tnode *mfs_contents_table_node(struct mfs_contents_table *t,
						   uint64_t id);

/* A new zeroed node (nlink 1).  -ENOSPC past MFS_CONTENTS_NODES_MAX,
 * -ENOMEM.  Pointers to nodes move when one is added. */
int mfs_contents_table_add(struct mfs_contents_table *t, uint64_t *id);

/* The dent of name (len bytes) in dir, or NULL. */
struct mfs_contents_dent *
mfs_contents_table_find(struct mfs_contents_table *t, uint64_t dir,
			const char *name, size_t len);

/* Enters node as name in dir (a directory node); an existing entry of
 * that name is pointed at node instead.  -ENOSPC past
 * MFS_CONTENTS_DIR_MAX entries, -EINVAL for a name that is empty, ".",
 * "..", longer than NAME_MAX or holds '/', -ENOMEM. */
int mfs_contents_table_link(struct mfs_contents_table *t, uint64_t dir,
			    const char *name, size_t len, uint64_t node);

/* Adds an xattr to a node (copies both). 0 or -ENOMEM. */
int mfs_contents_table_add_xattr(struct mfs_contents_tnode *n,
				 const char *name, const void *value,
				 size_t size);

/* The node calls answered from the table alone. */
int mfs_contents_table_lookup(struct mfs_contents_table *t, uint64_t dir,
			      const char *name, uint64_t *node);
int mfs_contents_table_getattr(struct mfs_contents_table *t, uint64_t node,
			       struct stat *st);
int mfs_contents_table_readdir(struct mfs_contents_table *t, uint64_t dir,
			       size_t i, char *name, uint64_t *node,
			       mode_t *type);
ssize_t mfs_contents_table_readlink(struct mfs_contents_table *t,
				    uint64_t node, char *buf, size_t len);
ssize_t mfs_contents_table_listxattr(struct mfs_contents_table *t,
				     uint64_t node, char *buf, size_t len);
ssize_t mfs_contents_table_getxattr(struct mfs_contents_table *t,
				    uint64_t node, const char *name,
				    void *buf, size_t len);

#endif
