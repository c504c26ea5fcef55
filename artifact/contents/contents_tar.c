/*
 * Tars, plain or compressed with gzip, xz, zstd or bzip2, through
 * libarchive.
 *
 * Opening walks the tar once into the node table (names, attributes,
 * xattrs, hard links), keeping each entry's number and, for a plain tar,
 * where its data starts in the source.  A plain tar's files are then read
 * straight from the source at that offset, by many readers at once.
 *
 * A compressed tar has no such offset into the source, and libarchive
 * cannot resume a decoder midway, so its files are read through
 * libarchive: a few decoders (cursors) are kept positioned where their
 * last read stopped, so reading a file from start to end, or the files in
 * tar order, decodes the stream once; a read behind every cursor decodes
 * from the start.  (When the project's seekable stream can read from a
 * source, a compressed tar becomes a plain tar over that stream, with
 * restore points, and this path is left to sparse entries.)  GNU and pax
 * sparse entries go the same way, libarchive filling their holes.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/contents/contents_table_i.h"

#define TAR_BLOCK	(64 * 1024)
/* Enough for a bzip2 tar, whose first block (up to 900 kB) is decoded
 * whole before the first header comes out. */
#define TAR_PROBE_MAX	(2 * 1024 * 1024)
#define TAR_CURSORS	2
/* A compressed tar's small files are kept from the walk that indexes it
 * (which decodes them anyway), so that reading them in any order does
 * not decode the tar again from the start each time. */
#define TAR_SMALL	(64 * 1024)
#define TAR_CACHE_MAX	(32 * 1024 * 1024)

/* tnode flags */
#define TAR_DIRECT	1u	/* data at tnode.data in the source */
#define TAR_CACHED	2u	/* data in tnode.priv */
#define TAR_SPARSE	4u	/* a sparse entry: what its map leaves at
				 * the end is a hole that libarchive does
				 * not fill */

struct tar_reader {
	const struct mfs_contents_source *src;
	uint64_t pos, limit;
	uint8_t buf[TAR_BLOCK];
};

struct tar_cursor {
	struct archive *a;
	struct tar_reader r;		/* what a feeds on */
	uint64_t entry;			/* number of the current header + 1 */
	uint64_t pos;			/* data of that entry consumed */
	bool end;			/* libarchive gave all of its data */
	uint64_t used;			/* when last used, for reuse */
	bool busy;
	uint8_t buf[TAR_BLOCK];
};

struct tar_image {
	struct mfs_contents_table table;
	const struct mfs_contents_source *src;
	bool plain;			/* no compression filter */
	size_t cached;			/* bytes of small files kept */
	pthread_mutex_t lock;		/* the cursors */
	pthread_cond_t idle;
	uint64_t clock;
	struct tar_cursor *cursors[TAR_CURSORS];
};

static la_ssize_t reader_read(struct archive *a, void *data,
			      const void **buf)
{
	struct tar_reader *r = data;
	size_t want = sizeof(r->buf);
	ssize_t n;

	if (r->pos >= r->limit)
		return 0;
	if (want > r->limit - r->pos)
		want = (size_t)(r->limit - r->pos);
	n = r->src->pread(r->src->ctx, r->buf, want, r->pos);
	if (n < 0) {
		archive_set_error(a, (int)-n, "source read failed");
		return -1;
	}
	r->pos += (uint64_t)n;
	*buf = r->buf;
	return n;
}

/* Only a plain tar's data is skipped this way: libarchive decodes past
 * compressed data itself. */
static la_int64_t reader_skip(struct archive *a, void *data,
			      la_int64_t request)
{
	struct tar_reader *r = data;
	uint64_t step = (uint64_t)request;

	if (step > r->limit - r->pos)
		step = r->limit - r->pos;
	r->pos += step;
	return (la_int64_t)step;
}

static struct archive *archive_for(struct tar_reader *r)
{
	struct archive *a = archive_read_new();

	if (!a)
		return NULL;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	archive_read_set_read_callback(a, reader_read);
	archive_read_set_skip_callback(a, reader_skip);
	archive_read_set_callback_data(a, r);
	if (archive_read_open1(a) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

bool mfs_contents_tar_probe(const struct mfs_contents_source *src)
{
	struct tar_reader *r = calloc(1, sizeof(*r));
	struct archive_entry *e;
	struct archive *a = NULL;
	bool yes = false;
	int ret;

	if (!r)
		goto out;
	r->src = src;
	r->limit = src->size < TAR_PROBE_MAX ? src->size : TAR_PROBE_MAX;
	a = archive_for(r);
	if (!a)
		goto out;
	ret = archive_read_next_header(a, &e);
	yes = ret == ARCHIVE_OK || ret == ARCHIVE_WARN;
out:
	if (a)
		archive_read_free(a);
	free(r);
	return yes;
}

/* Names: what GNU tar would extract to, relative to the root.  Leading
 * "/" and "./" go, "." components and doubled slashes too; a name with
 * ".." is never shown. */
static int normalise(const char *in, char *out, size_t len)
{
	size_t o = 0;

	while (*in) {
		const char *end;
		size_t n;

		while (*in == '/')
			in++;
		if (!*in)
			break;
		end = strchr(in, '/');
		n = end ? (size_t)(end - in) : strlen(in);
		if (n == 2 && in[0] == '.' && in[1] == '.')
			return -EINVAL;
		if (!(n == 1 && in[0] == '.')) {
			if (o + n + 2 > len)
				return -EINVAL;
			if (o)
				out[o++] = '/';
			memcpy(out + o, in, n);
			o += n;
		}
		in += n;
	}
	out[o] = '\0';
	return 0;
}

/* The node of path's parent directory, making the directories that the
 * tar names only as parents (mode 0755, owner 0, time 0, as far as the
 * tar tells nothing else).  *base points at the last component. */
static int parent_of(struct mfs_contents_table *t, char *path,
		     const char **base, uint64_t *dir)
{
	uint64_t cur = MFS_CONTENTS_TABLE_ROOT;
	char *p = path, *slash;
	int ret;

	while ((slash = strchr(p, '/'))) {
		struct mfs_contents_dent *d =
			mfs_contents_table_find(t, cur, p, (size_t)(slash - p));
		uint64_t id;

		if (d && S_ISDIR(t->nodes[d->node - 1].mode)) {
			cur = d->node;
		} else {
			ret = mfs_contents_table_add(t, &id);
			if (ret < 0)
				return ret;
			t->nodes[id - 1].mode = S_IFDIR | 0755;
			t->nodes[id - 1].nlink = 2;
			ret = mfs_contents_table_link(t, cur, p,
						      (size_t)(slash - p), id);
			if (ret < 0)
				return ret;
			cur = id;
		}
		p = slash + 1;
	}
	*base = p;
	*dir = cur;
	return 0;
}

static int resolve(struct mfs_contents_table *t, const char *path,
		   uint64_t *node)
{
	uint64_t cur = MFS_CONTENTS_TABLE_ROOT;

	while (*path) {
		const char *slash = strchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : strlen(path);
		struct mfs_contents_dent *d =
			mfs_contents_table_find(t, cur, path, n);

		if (!d)
			return -ENOENT;
		cur = d->node;
		path += n + (slash ? 1 : 0);
	}
	*node = cur;
	return 0;
}

static void set_attrs(struct mfs_contents_tnode *n, struct archive_entry *e)
{
	n->mode = archive_entry_mode(e);
	n->uid = (uint32_t)archive_entry_uid(e);
	n->gid = (uint32_t)archive_entry_gid(e);
	n->mtime.tv_sec = archive_entry_mtime(e);
	n->mtime.tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		n->atime.tv_sec = archive_entry_atime(e);
		n->atime.tv_nsec = archive_entry_atime_nsec(e);
	} else {
		n->atime = n->mtime;
	}
	if (archive_entry_ctime_is_set(e)) {
		n->ctime.tv_sec = archive_entry_ctime(e);
		n->ctime.tv_nsec = archive_entry_ctime_nsec(e);
	} else {
		n->ctime = n->mtime;
	}
	if (n->mtime.tv_nsec < 0 || n->mtime.tv_nsec > 999999999)
		n->mtime.tv_nsec = 0;
	if (n->atime.tv_nsec < 0 || n->atime.tv_nsec > 999999999)
		n->atime.tv_nsec = 0;
	if (n->ctime.tv_nsec < 0 || n->ctime.tv_nsec > 999999999)
		n->ctime.tv_nsec = 0;
	n->rdev = archive_entry_rdev(e);
}

static int add_xattrs(struct mfs_contents_tnode *n, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	int ret;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) ==
	       ARCHIVE_OK) {
		if (!name || !*name || size > 65536)
			continue;
		ret = mfs_contents_table_add_xattr(n, name, value, size);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Copies the data of the entry the walk is at into the node. */
static int keep_small(struct tar_image *img, struct archive *a,
		      struct mfs_contents_tnode *n)
{
	uint8_t *data = malloc(n->size ? n->size : 1);
	size_t done = 0;

	if (!data)
		return -ENOMEM;
	while (done < n->size) {
		la_ssize_t got = archive_read_data(a, data + done,
						   n->size - done);

		if (got == 0 && (n->flags & TAR_SPARSE)) {
			/* The hole at the end of a sparse file. */
			memset(data + done, 0, n->size - done);
			break;
		}
		if (got <= 0) {
			/* Unreadable: the file shows, reading it is EIO. */
			free(data);
			n->error = -EIO;
			return 0;
		}
		done += (size_t)got;
	}
	n->priv = data;
	n->flags |= TAR_CACHED;
	img->cached += n->size;
	return 0;
}

/* One header of the walk into the table.  Entries the table cannot show
 * (unsafe names, hard links to nothing) are left out; only running out
 * of memory or of room ends the walk. */
static int add_entry(struct tar_image *img, struct archive *a,
		     struct archive_entry *e, uint64_t number)
{
	struct mfs_contents_table *t = &img->table;
	struct mfs_contents_tnode *n;
	char path[PATH_MAX];
	const char *base, *name = archive_entry_pathname(e);
	const char *hard = archive_entry_hardlink(e);
	struct mfs_contents_dent *old;
	uint64_t dir, id;
	mode_t type;
	int ret;

	if (!name || normalise(name, path, sizeof(path)) < 0)
		return 0;
	if (!path[0]) {
		/* "./" itself: the root's attributes. */
		if (archive_entry_filetype(e) == AE_IFDIR) {
			set_attrs(&t->nodes[0], e);
			t->nodes[0].nlink = 2;
		}
		return 0;
	}
	ret = parent_of(t, path, &base, &dir);
	if (ret < 0)
		return ret;
	if (hard) {
		char target[PATH_MAX];

		if (normalise(hard, target, sizeof(target)) < 0 ||
		    resolve(t, target, &id) < 0 ||
		    S_ISDIR(t->nodes[id - 1].mode))
			return 0;
		old = mfs_contents_table_find(t, dir, base, strlen(base));
		if (old && old->node == id)
			return 0;
		ret = mfs_contents_table_link(t, dir, base, strlen(base), id);
		if (ret == 0)
			t->nodes[id - 1].nlink++;
		return ret == -EINVAL ? 0 : ret;
	}
	type = archive_entry_filetype(e);
	old = mfs_contents_table_find(t, dir, base, strlen(base));
	if (type == AE_IFDIR && old && S_ISDIR(t->nodes[old->node - 1].mode)) {
		/* A directory named again keeps its entries. */
		set_attrs(&t->nodes[old->node - 1], e);
		return 0;
	}
	switch (type) {
	case AE_IFREG: case AE_IFDIR: case AE_IFLNK: case AE_IFCHR:
	case AE_IFBLK: case AE_IFIFO: case AE_IFSOCK:
		break;
	default:
		return 0;
	}
	ret = mfs_contents_table_add(t, &id);
	if (ret < 0)
		return ret;
	n = &t->nodes[id - 1];
	set_attrs(n, e);
	n->aux = number;
	if (type == AE_IFDIR) {
		n->nlink = 2;
	} else if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);

		if (target && strlen(target) < MFS_CONTENTS_LINK_MAX) {
			n->link = strdup(target);
			if (!n->link)
				return -ENOMEM;
			n->size = strlen(target);
		} else {
			n->error = -EIO;
		}
	} else if (type == AE_IFREG) {
		n->size = archive_entry_size(e) > 0 ?
			  (uint64_t)archive_entry_size(e) : 0;
		if (archive_entry_sparse_count(e) > 0)
			n->flags |= TAR_SPARSE;
		if (img->plain && archive_entry_sparse_count(e) == 0) {
			n->flags |= TAR_DIRECT;
			n->data = (uint64_t)archive_filter_bytes(a, 0);
		} else if (n->size <= TAR_SMALL &&
			   img->cached + n->size <= TAR_CACHE_MAX) {
			ret = keep_small(img, a, n);
			if (ret < 0)
				return ret;
		}
	}
	ret = add_xattrs(n, e);
	if (ret < 0)
		return ret;
	/* A later entry of a name replaces the earlier, as extracting
	 * does. */
	ret = mfs_contents_table_link(t, dir, base, strlen(base), id);
	return ret == -EINVAL ? 0 : ret;
}

static int tar_open(struct mfs_contents *c)
{
	struct tar_image *img = calloc(1, sizeof(*img));
	struct tar_reader *r = NULL;
	struct archive *a = NULL;
	struct archive_entry *e;
	uint64_t number = 0;
	int ret = -ENOMEM;

	if (!img)
		return -ENOMEM;
	c->priv = img;
	pthread_mutex_init(&img->lock, NULL);
	pthread_cond_init(&img->idle, NULL);
	img->src = &c->src;
	ret = mfs_contents_table_init(&img->table);
	if (ret < 0)
		goto out;
	img->table.free_priv = free;
	c->table = &img->table;
	c->root = MFS_CONTENTS_TABLE_ROOT;
	ret = -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto out;
	r->src = &c->src;
	r->limit = c->src.size;
	ret = -EINVAL;
	a = archive_for(r);
	if (!a) {
		mfs_contents_set_error(c, "not a tar libarchive reads");
		goto out;
	}
	img->plain = archive_filter_count(a) == 1;
	for (;;) {
		int r2 = archive_read_next_header(a, &e);

		if (r2 == ARCHIVE_EOF)
			break;
		if (r2 != ARCHIVE_OK && r2 != ARCHIVE_WARN) {
			/* A damaged tar shows the entries before the
			 * damage; one with none is refused. */
			if (number == 0) {
				mfs_contents_set_error(c, "%s",
					archive_error_string(a) ?
					archive_error_string(a) : "bad tar");
				goto out;
			}
			break;
		}
		number++;
		ret = add_entry(img, a, e, number);
		if (ret == -ENOSPC)
			break;
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	if (a)
		archive_read_free(a);
	free(r);
	return ret;
}

static void cursor_free(struct tar_cursor *cur)
{
	if (!cur)
		return;
	if (cur->a)
		archive_read_free(cur->a);
	free(cur);
}

static void tar_close(struct mfs_contents *c)
{
	struct tar_image *img = c->priv;

	if (!img)
		return;
	for (int i = 0; i < TAR_CURSORS; i++)
		cursor_free(img->cursors[i]);
	mfs_contents_table_destroy(&img->table);
	pthread_cond_destroy(&img->idle);
	pthread_mutex_destroy(&img->lock);
	free(img);
	c->priv = NULL;
}

/* Takes the cursor best placed for (entry, off): one on that entry at
 * or before off, else the one furthest before the entry; else a new one,
 * else the least recently used, started over.  Waits while all are busy. */
static struct tar_cursor *cursor_get(struct tar_image *img, uint64_t entry,
				     uint64_t off)
{
	struct tar_cursor *best = NULL, *lru = NULL;
	int empty = -1;

	pthread_mutex_lock(&img->lock);
	for (;;) {
		for (int i = 0; i < TAR_CURSORS; i++) {
			struct tar_cursor *cur = img->cursors[i];

			if (!cur) {
				empty = i;
				continue;
			}
			if (cur->busy)
				continue;
			if (cur->a &&
			    (cur->entry < entry ||
			     (cur->entry == entry && cur->pos <= off)) &&
			    (!best || cur->entry > best->entry ||
			     (cur->entry == best->entry &&
			      cur->pos > best->pos)))
				best = cur;
			if (!lru || cur->used < lru->used)
				lru = cur;
		}
		if (best || empty >= 0 || lru)
			break;
		pthread_cond_wait(&img->idle, &img->lock);
	}
	if (!best && empty >= 0) {
		best = calloc(1, sizeof(*best));
		img->cursors[empty] = best;
	} else if (!best) {
		best = lru;
		if (best->a)
			archive_read_free(best->a);
		best->a = NULL;
	}
	if (best) {
		best->busy = true;
		best->used = ++img->clock;
	}
	pthread_mutex_unlock(&img->lock);
	return best;
}

static void cursor_put(struct tar_image *img, struct tar_cursor *cur,
		       bool broken)
{
	pthread_mutex_lock(&img->lock);
	if (broken && cur->a) {
		archive_read_free(cur->a);
		cur->a = NULL;
	}
	cur->busy = false;
	pthread_cond_broadcast(&img->idle);
	pthread_mutex_unlock(&img->lock);
}

/* Moves cur to byte off of entry number entry: a fresh decoder when it
 * has none, then headers and data skipped (decoded) up to there. */
static int cursor_seek(struct tar_image *img, struct tar_cursor *cur,
		       const struct mfs_contents_tnode *n, uint64_t off)
{
	struct archive_entry *e;

	if (!cur->a) {
		cur->r.src = img->src;
		cur->r.pos = 0;
		cur->r.limit = img->src->size;
		cur->a = archive_for(&cur->r);
		if (!cur->a)
			return -EIO;
		cur->entry = 0;
		cur->pos = 0;
		cur->end = false;
	}
	while (cur->entry < n->aux) {
		int r = archive_read_next_header(cur->a, &e);

		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return -EIO;
		cur->entry++;
		cur->pos = 0;
		cur->end = false;
	}
	while (cur->pos < off && !cur->end) {
		size_t want = off - cur->pos < sizeof(cur->buf) ?
			      (size_t)(off - cur->pos) : sizeof(cur->buf);
		la_ssize_t got = archive_read_data(cur->a, cur->buf, want);

		if (got < 0)
			return -EIO;
		if (got == 0) {
			if (!(n->flags & TAR_SPARSE))
				return -EIO;
			cur->end = true;
		}
		cur->pos += (uint64_t)got;
	}
	if (cur->end)
		cur->pos = off;
	return 0;
}

static ssize_t read_decoded(struct tar_image *img,
			    const struct mfs_contents_tnode *n, uint8_t *buf,
			    size_t len, uint64_t off)
{
	struct tar_cursor *cur = cursor_get(img, n->aux, off);
	size_t done = 0;
	int ret;

	if (!cur)
		return -ENOMEM;
	ret = cursor_seek(img, cur, n, off);
	while (ret == 0 && done < len) {
		la_ssize_t got = 0;

		if (!cur->end)
			got = archive_read_data(cur->a, buf + done,
						len - done);
		if (got == 0 && (n->flags & TAR_SPARSE)) {
			/* The hole at the end of a sparse file. */
			cur->end = true;
			memset(buf + done, 0, len - done);
			got = (la_ssize_t)(len - done);
		} else if (got <= 0) {
			ret = -EIO;
			break;
		}
		done += (size_t)got;
		cur->pos += (uint64_t)got;
	}
	cursor_put(img, cur, ret < 0);
	return ret < 0 && !done ? ret : (ssize_t)done;
}

static ssize_t tar_read(struct mfs_contents *c, uint64_t node, void *buf,
			size_t len, uint64_t off)
{
	struct tar_image *img = c->priv;
	struct mfs_contents_tnode *n = mfs_contents_table_node(&img->table,
							       node);
	int ret;

	if (!n)
		return -ENOENT;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode))
		return -EINVAL;
	if (off >= n->size)
		return 0;
	if (len > n->size - off)
		len = (size_t)(n->size - off);
	if (n->error)
		return n->error;
	if (n->flags & TAR_CACHED) {
		memcpy(buf, (uint8_t *)n->priv + off, len);
		return (ssize_t)len;
	}
	if (!(n->flags & TAR_DIRECT))
		return read_decoded(img, n, buf, len, off);
	if (n->data > c->src.size || off > c->src.size - n->data ||
	    len > c->src.size - n->data - off)
		return -EIO;
	ret = mfs_contents_pread_full(&c->src, buf, len, n->data + off);
	return ret < 0 ? -EIO : (ssize_t)len;
}

static int tar_statfs(struct mfs_contents *c, struct statvfs *st)
{
	struct tar_image *img = c->priv;

	st->f_bsize = 512;
	st->f_frsize = 512;
	st->f_blocks = (c->src.size + 511) / 512;
	st->f_files = img->table.nnodes;
	return 0;
}

const struct mfs_contents_ops mfs_contents_tar_ops = {
	.name = "tar",
	.open = tar_open,
	.close = tar_close,
	.read = tar_read,
	.statfs = tar_statfs,
};
