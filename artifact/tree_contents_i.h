/*
 * The images of contents/: payload files whose bytes hold a filesystem or
 * an archive, each opened on first use and kept until the tree shows
 * another artifact.  Private to the tree (tree.c, tree_contents.c).
 *
 * A node inside an image has an inode number made of the image's slot and
 * the reader's node number, so hard links (one reader node) are one inode
 * and a number stays valid for the life of the mount: slots are never
 * reused, and a reader numbers the nodes of the same bytes the same way
 * every time it opens them.
 */
#ifndef MFS_TREE_CONTENTS_I_H
#define MFS_TREE_CONTENTS_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "artifact/contents/contents.h"

/* Tree nodes are numbered from 1 by the thousand; contents nodes live far
 * above: bit 62, the slot in bits 32..61, the reader's node (32 bits) in
 * the rest. */
#define MFS_CONTENTS_INO_BASE	(UINT64_C(1) << 62)
#define MFS_CONTENTS_SLOT_MAX	((UINT64_C(1) << 30) - 1)

struct tree_image {
	struct mfs_contents_source src;	/* ctx: this image */
	void *tree;			/* the tree, for src's pread */
	uint64_t file_ino;		/* the payload file's tree node */
	enum mfs_contents_kind kind;	/* as probed */
	uint64_t root_ino;		/* its NODE_IMAGE, in the tree */
	size_t slot;			/* its own number */

	pthread_mutex_t lock;		/* opening */
	struct mfs_contents *c;		/* NULL until first used */
	int err;			/* a refused open: not tried again */
	bool stale;			/* of an artifact no longer shown */
};

struct tree_images {
	struct tree_image **slots;	/* slot s is slots[s - 1] */
	size_t count, capacity;
};

static inline bool tree_contents_is_ino(uint64_t ino)
{
	return ino >= MFS_CONTENTS_INO_BASE;
}

static inline uint64_t tree_contents_ino(size_t slot, uint64_t node)
{
	return MFS_CONTENTS_INO_BASE | ((uint64_t)slot << 32) |
	       (node & 0xffffffffu);
}

static inline size_t tree_contents_slot(uint64_t ino)
{
	return (size_t)((ino & ~MFS_CONTENTS_INO_BASE) >> 32);
}

static inline uint64_t tree_contents_node(uint64_t ino)
{
	return ino & 0xffffffffu;
}

/* Adds an image; returns its slot (from 1), or 0 without memory or slots.
 * The caller holds the tree's write lock. */
size_t tree_images_add(struct tree_images *im, void *tree, uint64_t file_ino,
		       uint64_t size, enum mfs_contents_kind kind,
		       ssize_t (*pread)(void *, void *, size_t, uint64_t));

/* The image in slot, or NULL.  The caller holds the tree's lock (either
 * way): the table may grow, the images themselves never move. */
struct tree_image *tree_images_at(struct tree_images *im, size_t slot);

/* The open handle of an image, opening it on first use.  Returns 0,
 * -ESTALE for an image of an artifact no longer shown, or the reader's
 * error (-EIO for an image it refuses). */
int tree_image_handle(struct tree_image *img, struct mfs_contents **c);

/* Closes every handle (they reopen on next use), and with stale marks
 * every image as of an artifact no longer shown.  No call may be using
 * them: the caller holds the tree's swap lock exclusively. */
void tree_images_close(struct tree_images *im, bool stale);

void tree_images_destroy(struct tree_images *im);

#endif
