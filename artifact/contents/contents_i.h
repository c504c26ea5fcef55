/*
 * Inside contents/: the handle, the interface every reader implements,
 * and the helpers they share.  Nothing outside artifact/contents/
 * includes this.
 */
#ifndef MFS_CONTENTS_I_H
#define MFS_CONTENTS_I_H

#include <stdbool.h>
#include <stdio.h>

#include "artifact/contents/contents.h"

struct mfs_contents;

/* One reader: contents.c checks arguments and applies the mode rule;
 * the reader answers with the image's own values.  A reader that indexes
 * the image into a node table (contents_table_i.h) sets c->table and
 * leaves NULL the calls the table answers alone. */
struct mfs_contents_ops {
	const char *name;
	/* Sets c->priv and c->root; fills c->err on failure.  close must
	 * undo a failed open's partial state too. */
	int (*open)(struct mfs_contents *c);
	void (*close)(struct mfs_contents *c);
	int (*lookup)(struct mfs_contents *c, uint64_t dir, const char *name,
		      uint64_t *node);
	int (*getattr)(struct mfs_contents *c, uint64_t node, struct stat *st);
	int (*readdir)(struct mfs_contents *c, uint64_t dir, size_t i,
		       char *name, uint64_t *node, mode_t *type);
	ssize_t (*read)(struct mfs_contents *c, uint64_t node, void *buf,
			size_t len, uint64_t off);
	ssize_t (*readlink)(struct mfs_contents *c, uint64_t node, char *buf,
			    size_t len);
	ssize_t (*listxattr)(struct mfs_contents *c, uint64_t node, char *buf,
			     size_t len);
	ssize_t (*getxattr)(struct mfs_contents *c, uint64_t node,
			    const char *name, void *buf, size_t len);
	int (*statfs)(struct mfs_contents *c, struct statvfs *st);
};

struct mfs_contents {
	const struct mfs_contents_ops *ops;
	enum mfs_contents_kind kind;
	struct mfs_contents_source src;
	uint64_t root;
	void *priv;
	struct mfs_contents_table *table;
	char err[256];
};

extern const struct mfs_contents_ops mfs_contents_ext_ops;
extern const struct mfs_contents_ops mfs_contents_squashfs_ops;
extern const struct mfs_contents_ops mfs_contents_tar_ops;

/* Reads exactly len bytes at off: -EIO when the source is short. */
int mfs_contents_pread_full(const struct mfs_contents_source *src, void *buf,
			    size_t len, uint64_t off);

/* Records why open failed (printf-style) for mfs_contents_open's errbuf. */
void mfs_contents_set_error(struct mfs_contents *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True when the tar reader (libarchive) takes the source's first bytes
 * as a tar, plain or compressed; reads at most about a MiB. */
bool mfs_contents_tar_probe(const struct mfs_contents_source *src);

/* Copies an xattr value out the way getxattr(2) does. */
ssize_t mfs_contents_copy_out(void *buf, size_t len, const void *value,
			      size_t size);

#endif
