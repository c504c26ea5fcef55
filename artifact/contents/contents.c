/*
 * Recognising an image and handing node calls to its reader.  The mode
 * rule of SPEC ("permission bits as stored less the write bits") is
 * applied here, once, for every reader.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/contents/contents_i.h"
#include "artifact/contents/contents_table_i.h"

/* The ext superblock is at 1024; its magic at 56 within it. */
#define EXT_MAGIC_OFF	(1024 + 56)
#define EXT_MAGIC	0xEF53
#define SQUASHFS_MAGIC	"hsqs"

int mfs_contents_pread_full(const struct mfs_contents_source *src, void *buf,
			    size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = src->pread(src->ctx, (char *)buf + done,
				       len - done, off + done);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

void mfs_contents_set_error(struct mfs_contents *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

ssize_t mfs_contents_copy_out(void *buf, size_t len, const void *value,
			      size_t size)
{
	if (size > SSIZE_MAX)
		return -E2BIG;
	if (len == 0)
		return (ssize_t)size;
	if (len < size)
		return -ERANGE;
	if (size)
		memcpy(buf, value, size);
	return (ssize_t)size;
}

int mfs_contents_probe(const struct mfs_contents_source *src)
{
	uint8_t head[EXT_MAGIC_OFF + 2];
	size_t have = 0;
	ssize_t n;

	while (have < sizeof(head) && have < src->size) {
		n = src->pread(src->ctx, head + have, sizeof(head) - have,
			       have);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have >= 4 && memcmp(head, SQUASHFS_MAGIC, 4) == 0)
		return MFS_CONTENTS_SQUASHFS;
	if (have >= sizeof(head) &&
	    (head[EXT_MAGIC_OFF] | head[EXT_MAGIC_OFF + 1] << 8) == EXT_MAGIC)
		return MFS_CONTENTS_EXT;
	if (mfs_contents_tar_probe(src))
		return MFS_CONTENTS_TAR;
	return MFS_CONTENTS_NONE;
}

const char *mfs_contents_kind_name(enum mfs_contents_kind kind)
{
	switch (kind) {
	case MFS_CONTENTS_EXT:
		return "ext";
	case MFS_CONTENTS_SQUASHFS:
		return "squashfs";
	case MFS_CONTENTS_TAR:
		return "tar";
	default:
		return "none";
	}
}

static const struct mfs_contents_ops *ops_of(enum mfs_contents_kind kind)
{
	switch (kind) {
	case MFS_CONTENTS_EXT:
		return &mfs_contents_ext_ops;
	case MFS_CONTENTS_SQUASHFS:
		return &mfs_contents_squashfs_ops;
	case MFS_CONTENTS_TAR:
		return &mfs_contents_tar_ops;
	default:
		return NULL;
	}
}

int mfs_contents_open(const struct mfs_contents_source *src,
		      enum mfs_contents_kind kind, struct mfs_contents **out,
		      char *errbuf, size_t errlen)
{
	struct mfs_contents *c = NULL;
	int ret;

	if (kind == MFS_CONTENTS_NONE) {
		ret = mfs_contents_probe(src);
		if (ret < 0)
			goto out;
		kind = (enum mfs_contents_kind)ret;
	}
	ret = -EINVAL;
	if (!ops_of(kind)) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen,
				 "neither a filesystem nor a tar");
		goto out;
	}
	ret = -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	c->ops = ops_of(kind);
	c->kind = kind;
	c->src = *src;
	ret = c->ops->open(c);
	if (ret < 0) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: %s", c->ops->name,
				 c->err[0] ? c->err : strerror(-ret));
		goto out;
	}
	*out = c;
	c = NULL;
	ret = 0;
out:
	mfs_contents_close(c);
	return ret;
}

void mfs_contents_close(struct mfs_contents *c)
{
	if (!c)
		return;
	c->ops->close(c);
	free(c);
}

enum mfs_contents_kind mfs_contents_kind(const struct mfs_contents *c)
{
	return c->kind;
}

uint64_t mfs_contents_root(const struct mfs_contents *c)
{
	return c->root;
}

int mfs_contents_lookup(struct mfs_contents *c, uint64_t dir,
			const char *name, uint64_t *node)
{
	size_t len = strlen(name);

	if (len == 0 || len > NAME_MAX || strchr(name, '/'))
		return -ENOENT;
	if (!c->ops->lookup)
		return mfs_contents_table_lookup(c->table, dir, name, node);
	return c->ops->lookup(c, dir, name, node);
}

int mfs_contents_getattr(struct mfs_contents *c, uint64_t node,
			 struct stat *st)
{
	int ret;

	if (!c->ops->getattr)
		ret = mfs_contents_table_getattr(c->table, node, st);
	else
		ret = c->ops->getattr(c, node, st);
	if (ret < 0)
		return ret;
	/* Read-only, and nothing added: an audit sees 0600 and set-id bits
	 * as the image stores them. */
	st->st_mode &= ~(mode_t)(S_IWUSR | S_IWGRP | S_IWOTH);
	st->st_ino = node;
	return 0;
}

int mfs_contents_readdir(struct mfs_contents *c, uint64_t dir, size_t i,
			 char *name, uint64_t *node, mode_t *type)
{
	if (!c->ops->readdir)
		return mfs_contents_table_readdir(c->table, dir, i, name, node,
						  type);
	return c->ops->readdir(c, dir, i, name, node, type);
}

ssize_t mfs_contents_read(struct mfs_contents *c, uint64_t node, void *buf,
			  size_t len, uint64_t off)
{
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (off > (uint64_t)INT64_MAX)
		return 0;
	return c->ops->read(c, node, buf, len, off);
}

ssize_t mfs_contents_readlink(struct mfs_contents *c, uint64_t node,
			      char *buf, size_t len)
{
	if (len == 0)
		return -ENAMETOOLONG;
	if (!c->ops->readlink)
		return mfs_contents_table_readlink(c->table, node, buf, len);
	return c->ops->readlink(c, node, buf, len);
}

ssize_t mfs_contents_listxattr(struct mfs_contents *c, uint64_t node,
			       char *buf, size_t len)
{
	if (!c->ops->listxattr)
		return mfs_contents_table_listxattr(c->table, node, buf, len);
	return c->ops->listxattr(c, node, buf, len);
}

ssize_t mfs_contents_getxattr(struct mfs_contents *c, uint64_t node,
			      const char *name, void *buf, size_t len)
{
	if (!c->ops->getxattr)
		return mfs_contents_table_getxattr(c->table, node, name, buf,
						   len);
	return c->ops->getxattr(c, node, name, buf, len);
}

int mfs_contents_statfs(struct mfs_contents *c, struct statvfs *st)
{
	memset(st, 0, sizeof(*st));
	st->f_namemax = NAME_MAX;
	st->f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	return c->ops->statfs(c, st);
}
