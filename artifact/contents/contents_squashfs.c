/*
 * squashfs through libsquashfs (squashfs-tools-ng), over an sqfs_file_t
 * of ours whose reads go to the source.
 *
 * Opening walks the directory tree once into the node table (a squashfs
 * is small in metadata next to its data: an image of /usr holds about a
 * hundred bytes per file), keeping each regular file's inode, whose block
 * list is what the data reader needs.  Hard links share an inode number
 * and so one node.  libsquashfs readers keep a block cache and a
 * decompressor each and are not thread-safe: file data goes through a
 * few data readers, each with its own compressor and lock, so that
 * readers proceed in parallel up to that many.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_reader.h>

#include "artifact/contents/contents_table_i.h"

#define SQ_DATA_READERS	2
/* Key-value pairs one inode's xattrs hold at most. */
#define SQ_XATTRS_MAX	1024
/* Inode numbers looked up for hard links at most; beyond, each entry is
 * its own node. */
#define SQ_INODE_MAP_MAX (4u << 20)
/* Block lists kept: one file's at most (a 128 GiB file of 128 KiB
 * blocks) and all files' together.  A crafted inode claiming a larger
 * file shows, and reads EIO; the memory stays bounded. */
#define SQ_BLOCKS_ONE_MAX	(4u << 20)
#define SQ_BLOCKS_ALL_MAX	(64u << 20)

struct sq_file {
	sqfs_file_t base;		/* first: libsquashfs casts to it */
	const struct mfs_contents_source *src;
};

struct sq_data {
	pthread_mutex_t lock;
	sqfs_compressor_t *cmp;
	sqfs_data_reader_t *rd;
};

struct sq_image {
	struct mfs_contents_table table;
	struct sq_file file;
	sqfs_super_t super;
	sqfs_compressor_config_t cfg;
	struct sq_data data[SQ_DATA_READERS];
	unsigned next;			/* data reader to try first */
	pthread_mutex_t next_lock;
};

static int sq_read_at(sqfs_file_t *base, sqfs_u64 offset, void *buffer,
		      size_t size)
{
	struct sq_file *f = (struct sq_file *)base;

	if (offset > f->src->size || size > f->src->size - offset)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	if (mfs_contents_pread_full(f->src, buffer, size, offset) < 0)
		return SQFS_ERROR_IO;
	return 0;
}

static int sq_write_at(sqfs_file_t *base, sqfs_u64 offset, const void *buffer,
		       size_t size)
{
	return SQFS_ERROR_UNSUPPORTED;
}

static sqfs_u64 sq_get_size(const sqfs_file_t *base)
{
	return ((const struct sq_file *)base)->src->size;
}

static int sq_truncate(sqfs_file_t *base, sqfs_u64 size)
{
	return SQFS_ERROR_UNSUPPORTED;
}

/* The file lives inside the image and is never destroyed through
 * libsquashfs, which only borrows it. */
static void sq_file_destroy(sqfs_object_t *obj)
{
}

static int sq_errno(int sqfs_err)
{
	return sqfs_err == SQFS_ERROR_ALLOC ? -ENOMEM : -EIO;
}

static mode_t sq_type(const sqfs_inode_generic_t *inode)
{
	switch (inode->base.type) {
	case SQFS_INODE_DIR: case SQFS_INODE_EXT_DIR: return S_IFDIR;
	case SQFS_INODE_FILE: case SQFS_INODE_EXT_FILE: return S_IFREG;
	case SQFS_INODE_SLINK: case SQFS_INODE_EXT_SLINK: return S_IFLNK;
	case SQFS_INODE_BDEV: case SQFS_INODE_EXT_BDEV: return S_IFBLK;
	case SQFS_INODE_CDEV: case SQFS_INODE_EXT_CDEV: return S_IFCHR;
	case SQFS_INODE_FIFO: case SQFS_INODE_EXT_FIFO: return S_IFIFO;
	case SQFS_INODE_SOCKET: case SQFS_INODE_EXT_SOCKET: return S_IFSOCK;
	default: return 0;
	}
}

static int add_xattrs(sqfs_xattr_reader_t *xr, const sqfs_inode_generic_t *in,
		      struct mfs_contents_tnode *n)
{
	sqfs_xattr_entry_t *key = NULL;
	sqfs_xattr_value_t *val = NULL;
	sqfs_xattr_id_t desc;
	sqfs_u32 idx;
	int ret = 0;

	if (!xr || sqfs_inode_get_xattr_index(in, &idx) || idx == 0xFFFFFFFF)
		return 0;
	if (sqfs_xattr_reader_get_desc(xr, idx, &desc) ||
	    sqfs_xattr_reader_seek_kv(xr, &desc))
		return 0;
	for (sqfs_u32 i = 0; i < desc.count && i < SQ_XATTRS_MAX; i++) {
		const char *prefix;
		char name[512];

		if (sqfs_xattr_reader_read_key(xr, &key) ||
		    sqfs_xattr_reader_read_value(xr, key, &val))
			break;
		prefix = sqfs_get_xattr_prefix(key->type &
					       SQFS_XATTR_PREFIX_MASK);
		/* libsquashfs restores the prefix ("user." ...) in front of
		 * the key, leaving size that of the key without it. */
		if (prefix && strncmp((char *)key->key, prefix,
				      strlen(prefix)) == 0)
			snprintf(name, sizeof(name), "%.*s",
				 (int)(strlen(prefix) + key->size),
				 (char *)key->key);
		else
			snprintf(name, sizeof(name), "%s%.*s",
				 prefix ? prefix : "", (int)key->size,
				 (char *)key->key);
		ret = mfs_contents_table_add_xattr(n, name, val->value,
						   val->size);
		sqfs_free(key);
		sqfs_free(val);
		key = NULL;
		val = NULL;
		if (ret < 0)
			break;
	}
	sqfs_free(key);
	sqfs_free(val);
	return ret;
}

/* The attributes of inode in into node n; keeps a regular file's inode. */
static int set_attrs(struct sq_image *img, sqfs_id_table_t *ids,
		     sqfs_xattr_reader_t *xr, sqfs_inode_generic_t *in,
		     struct mfs_contents_tnode *n)
{
	sqfs_u32 uid = 0, gid = 0, devno = 0;
	sqfs_u64 size = 0;

	n->mode = sq_type(in) | (in->base.mode & 07777);
	if (sqfs_id_table_index_to_id(ids, in->base.uid_idx, &uid) ||
	    sqfs_id_table_index_to_id(ids, in->base.gid_idx, &gid))
		n->error = -EIO;
	n->uid = uid;
	n->gid = gid;
	n->mtime.tv_sec = in->base.mod_time;
	n->atime = n->mtime;
	n->ctime = n->mtime;
	switch (in->base.type) {
	case SQFS_INODE_DIR:
		n->nlink = in->data.dir.nlink;
		break;
	case SQFS_INODE_EXT_DIR:
		n->nlink = in->data.dir_ext.nlink;
		break;
	case SQFS_INODE_FILE:
		n->nlink = 1;
		break;
	case SQFS_INODE_EXT_FILE:
		n->nlink = in->data.file_ext.nlink;
		break;
	case SQFS_INODE_SLINK: case SQFS_INODE_EXT_SLINK:
		n->nlink = in->data.slink.nlink;
		n->size = in->data.slink.target_size;
		if (n->size < MFS_CONTENTS_LINK_MAX &&
		    n->size <= in->payload_bytes_used) {
			n->link = strndup((const char *)in->extra, n->size);
			if (!n->link)
				return -ENOMEM;
		} else {
			n->error = -EIO;
		}
		break;
	case SQFS_INODE_BDEV: case SQFS_INODE_CDEV:
		n->nlink = in->data.dev.nlink;
		devno = in->data.dev.devno;
		break;
	case SQFS_INODE_EXT_BDEV: case SQFS_INODE_EXT_CDEV:
		n->nlink = in->data.dev_ext.nlink;
		devno = in->data.dev_ext.devno;
		break;
	case SQFS_INODE_FIFO: case SQFS_INODE_SOCKET:
		n->nlink = in->data.ipc.nlink;
		break;
	case SQFS_INODE_EXT_FIFO: case SQFS_INODE_EXT_SOCKET:
		n->nlink = in->data.ipc_ext.nlink;
		break;
	}
	/* The kernel's new_decode_dev(). */
	n->rdev = makedev((devno & 0xfff00) >> 8,
			  (devno & 0xff) | ((devno >> 12) & 0xfff00));
	if (S_ISREG(n->mode)) {
		sqfs_inode_get_file_size(in, &size);
		n->size = size;
	}
	return add_xattrs(xr, in, n);
}

struct sq_walk {
	sqfs_inode_generic_t **queue;	/* directory inodes to list */
	uint64_t *queue_node;
	size_t head, tail, cap;
	uint32_t *by_number;		/* inode number -> node id */
	size_t numbers;
	size_t kept;			/* bytes of block lists kept */
	/* Directory listings met, by where they are (block and offset):
	 * a crafted entry pointing back at an ancestor's listing, under
	 * whatever inode number, is that directory's node, not walked
	 * again. */
	uint64_t *dir_keys;		/* key + 1, 0 for empty */
	uint32_t *dir_nodes;
	size_t dir_cap, dir_count;
};

static uint64_t dir_key(const sqfs_inode_generic_t *in)
{
	if (in->base.type == SQFS_INODE_EXT_DIR)
		return (uint64_t)in->data.dir_ext.start_block << 16 |
		       in->data.dir_ext.offset;
	return (uint64_t)in->data.dir.start_block << 16 | in->data.dir.offset;
}

static uint32_t *dir_slot(struct sq_walk *w, uint64_t key)
{
	size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull) & (w->dir_cap - 1);

	while (w->dir_keys[i] && w->dir_keys[i] != key + 1)
		i = (i + 1) & (w->dir_cap - 1);
	w->dir_keys[i] = key + 1;
	return &w->dir_nodes[i];
}

/* The node already holding the listing at key, or 0 after noting that
 * node holds it. */
static int dir_seen(struct sq_walk *w, uint64_t key, uint64_t node,
		    uint64_t *seen)
{
	uint32_t *slot;

	if (w->dir_count * 2 >= w->dir_cap) {
		size_t cap = w->dir_cap ? w->dir_cap * 2 : 1024;
		uint64_t *keys = calloc(cap, sizeof(*keys));
		uint32_t *nodes = calloc(cap, sizeof(*nodes));
		struct sq_walk old = *w;

		if (!keys || !nodes) {
			free(keys);
			free(nodes);
			return -ENOMEM;
		}
		w->dir_keys = keys;
		w->dir_nodes = nodes;
		w->dir_cap = cap;
		for (size_t i = 0; i < old.dir_cap; i++)
			if (old.dir_keys[i])
				*dir_slot(w, old.dir_keys[i] - 1) =
					old.dir_nodes[i];
		free(old.dir_keys);
		free(old.dir_nodes);
	}
	slot = dir_slot(w, key);
	*seen = *slot;
	if (!*slot) {
		*slot = (uint32_t)node;
		w->dir_count++;
	}
	return 0;
}

static int queue_push(struct sq_walk *w, sqfs_inode_generic_t *in,
		      uint64_t node)
{
	if (w->tail == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		void *q = realloc(w->queue, cap * sizeof(*w->queue));

		if (!q)
			return -ENOMEM;
		w->queue = q;
		q = realloc(w->queue_node, cap * sizeof(*w->queue_node));
		if (!q)
			return -ENOMEM;
		w->queue_node = q;
		w->cap = cap;
	}
	w->queue[w->tail] = in;
	w->queue_node[w->tail] = node;
	w->tail++;
	return 0;
}

/* Lists one directory into the table, queueing its subdirectories.  A
 * damaged listing keeps the entries before the damage. */
static int walk_dir(struct sq_image *img, sqfs_dir_reader_t *dr,
		    sqfs_id_table_t *ids, sqfs_xattr_reader_t *xr,
		    struct sq_walk *w, sqfs_inode_generic_t *dir,
		    uint64_t dir_node)
{
	struct mfs_contents_table *t = &img->table;
	sqfs_dir_entry_t *ent = NULL;
	sqfs_inode_generic_t *in = NULL;
	int ret = 0;

	if (sqfs_dir_reader_open_dir(dr, dir, 0))
		return 0;
	for (size_t count = 0; count < MFS_CONTENTS_DIR_MAX; count++) {
		sqfs_u32 number;
		uint64_t id = 0;
		bool fresh = true;

		if (sqfs_dir_reader_read(dr, &ent) != 0)
			break;
		if (sqfs_dir_reader_get_inode(dr, &in) || !sq_type(in))
			goto next;
		number = in->base.inode_number;
		if (number && number < w->numbers && w->by_number[number]) {
			/* A hard link, or a crafted directory named twice:
			 * one node, listed (and walked) once. */
			id = w->by_number[number];
			fresh = false;
		} else {
			ret = mfs_contents_table_add(t, &id);
			if (ret < 0)
				goto out;
			ret = set_attrs(img, ids, xr, in,
					mfs_contents_table_node(t, id));
			if (ret < 0)
				goto out;
			if (number && number < w->numbers)
				w->by_number[number] = (uint32_t)id;
		}
		ret = mfs_contents_table_link(t, dir_node, (char *)ent->name,
					      strlen((char *)ent->name), id);
		if (ret == -EINVAL)
			ret = 0;
		if (ret < 0)
			goto out;
		if (fresh && S_ISDIR(t->nodes[id - 1].mode)) {
			uint64_t seen = 0;

			ret = dir_seen(w, dir_key(in), id, &seen);
			if (ret < 0)
				goto out;
			if (seen) {
				/* Shown as the directory it repeats. */
				ret = mfs_contents_table_link(t, dir_node,
					(char *)ent->name,
					strlen((char *)ent->name), seen);
				if (ret < 0 && ret != -EINVAL)
					goto out;
				ret = 0;
				goto next;
			}
			ret = queue_push(w, in, id);
			if (ret < 0)
				goto out;
			in = NULL;
		} else if (fresh && S_ISREG(t->nodes[id - 1].mode)) {
			size_t list = in->payload_bytes_used;

			if (list > SQ_BLOCKS_ONE_MAX ||
			    w->kept + list > SQ_BLOCKS_ALL_MAX) {
				t->nodes[id - 1].error = -EIO;
			} else {
				w->kept += list;
				t->nodes[id - 1].priv = in;
				in = NULL;
			}
		}
next:
		sqfs_free(in);
		sqfs_free(ent);
		in = NULL;
		ent = NULL;
	}
out:
	sqfs_free(in);
	sqfs_free(ent);
	return ret;
}

static int walk(struct mfs_contents *c, sqfs_compressor_t *cmp)
{
	struct sq_image *img = c->priv;
	struct mfs_contents_table *t = &img->table;
	sqfs_dir_reader_t *dr = NULL;
	sqfs_id_table_t *ids = NULL;
	sqfs_xattr_reader_t *xr = NULL;
	sqfs_inode_generic_t *root = NULL;
	struct sq_walk w = { 0 };
	int ret = -ENOMEM;

	ids = sqfs_id_table_create(0);
	dr = sqfs_dir_reader_create(&img->super, cmp, &img->file.base, 0);
	if (!ids || !dr)
		goto out;
	ret = -EINVAL;
	if (sqfs_id_table_read(ids, &img->file.base, &img->super, cmp)) {
		mfs_contents_set_error(c, "unreadable id table");
		goto out;
	}
	if (!(img->super.flags & SQFS_FLAG_NO_XATTRS) &&
	    img->super.xattr_id_table_start != 0xFFFFFFFFFFFFFFFFull) {
		xr = sqfs_xattr_reader_create(0);
		if (xr && sqfs_xattr_reader_load(xr, &img->super,
						 &img->file.base, cmp)) {
			/* Without the xattr table the files still show. */
			sqfs_destroy(xr);
			xr = NULL;
		}
	}
	if (sqfs_dir_reader_get_root_inode(dr, &root) ||
	    sq_type(root) != S_IFDIR) {
		mfs_contents_set_error(c, "unreadable root directory");
		goto out;
	}
	ret = -ENOMEM;
	w.numbers = img->super.inode_count < SQ_INODE_MAP_MAX ?
		    (size_t)img->super.inode_count + 1 : SQ_INODE_MAP_MAX;
	w.by_number = calloc(w.numbers, sizeof(*w.by_number));
	if (!w.by_number)
		goto out;
	ret = set_attrs(img, ids, xr, root, &t->nodes[0]);
	if (ret < 0)
		goto out;
	if (root->base.inode_number < w.numbers)
		w.by_number[root->base.inode_number] = MFS_CONTENTS_TABLE_ROOT;
	{
		uint64_t seen;

		ret = dir_seen(&w, dir_key(root), MFS_CONTENTS_TABLE_ROOT,
			       &seen);
		if (ret < 0)
			goto out;
	}
	ret = queue_push(&w, root, MFS_CONTENTS_TABLE_ROOT);
	if (ret < 0)
		goto out;
	root = NULL;
	while (w.head < w.tail) {
		sqfs_inode_generic_t *dir = w.queue[w.head];

		w.queue[w.head] = NULL;
		ret = walk_dir(img, dr, ids, xr, &w, dir,
			       w.queue_node[w.head]);
		sqfs_free(dir);
		w.head++;
		/* Out of room for nodes: what is there is shown. */
		if (ret == -ENOSPC)
			ret = 0;
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	for (size_t i = w.head; i < w.tail; i++)
		sqfs_free(w.queue[i]);
	free(w.queue);
	free(w.queue_node);
	free(w.by_number);
	free(w.dir_keys);
	free(w.dir_nodes);
	sqfs_free(root);
	if (xr)
		sqfs_destroy(xr);
	if (dr)
		sqfs_destroy(dr);
	if (ids)
		sqfs_destroy(ids);
	return ret;
}

static int new_compressor(struct sq_image *img, sqfs_compressor_t **out)
{
	sqfs_compressor_t *cmp = NULL;

	if (sqfs_compressor_create(&img->cfg, &cmp))
		return -EINVAL;
	if ((img->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS) &&
	    cmp->read_options(cmp, &img->file.base)) {
		sqfs_destroy(cmp);
		return -EINVAL;
	}
	*out = cmp;
	return 0;
}

/* libsquashfs allocates the fragment table and the xattr id table whole,
 * sized by counts the image gives (16 bytes an entry), before reading
 * them: a crafted count asks for gigabytes.  Each fragment and each xattr
 * set belongs to a file, so neither count exceeds the inodes; and each
 * inode, fragment and xattr set takes at least a byte of the image. */
static int tables_sane(struct mfs_contents *c, struct sq_image *img)
{
	const sqfs_super_t *sb = &img->super;
	sqfs_xattr_id_table_t xt;

	if (sb->inode_count > c->src.size ||
	    sb->fragment_entry_count > sb->inode_count) {
		mfs_contents_set_error(c, "more inodes or fragments than the "
				       "image holds");
		return -EINVAL;
	}
	if ((sb->flags & SQFS_FLAG_NO_XATTRS) ||
	    sb->xattr_id_table_start == 0xFFFFFFFFFFFFFFFFull)
		return 0;
	if (mfs_contents_pread_full(&c->src, &xt, sizeof(xt),
				    sb->xattr_id_table_start) < 0 ||
	    le32toh(xt.xattr_ids) > sb->inode_count) {
		/* Without xattrs the files still show. */
		img->super.flags |= SQFS_FLAG_NO_XATTRS;
	}
	return 0;
}

static void free_inode(void *p)
{
	sqfs_free(p);
}

static int sq_open(struct mfs_contents *c)
{
	struct sq_image *img = calloc(1, sizeof(*img));
	sqfs_compressor_t *cmp = NULL;
	int ret;

	if (!img)
		return -ENOMEM;
	c->priv = img;
	pthread_mutex_init(&img->next_lock, NULL);
	for (int i = 0; i < SQ_DATA_READERS; i++)
		pthread_mutex_init(&img->data[i].lock, NULL);
	img->file.base.base.destroy = sq_file_destroy;
	img->file.base.read_at = sq_read_at;
	img->file.base.write_at = sq_write_at;
	img->file.base.get_size = sq_get_size;
	img->file.base.truncate = sq_truncate;
	img->file.src = &c->src;
	ret = mfs_contents_table_init(&img->table);
	if (ret < 0)
		goto out;
	img->table.free_priv = free_inode;
	c->table = &img->table;
	c->root = MFS_CONTENTS_TABLE_ROOT;
	ret = -EINVAL;
	if (sqfs_super_read(&img->super, &img->file.base)) {
		mfs_contents_set_error(c, "bad superblock");
		goto out;
	}
	ret = tables_sane(c, img);
	if (ret < 0)
		goto out;
	ret = -EINVAL;
	if (sqfs_compressor_config_init(&img->cfg, img->super.compression_id,
					img->super.block_size,
					SQFS_COMP_FLAG_UNCOMPRESS) ||
	    new_compressor(img, &cmp)) {
		mfs_contents_set_error(c, "unsupported compressor %u",
				       img->super.compression_id);
		goto out;
	}
	ret = walk(c, cmp);
	if (ret < 0)
		goto out;
	for (int i = 0; i < SQ_DATA_READERS; i++) {
		struct sq_data *d = &img->data[i];

		ret = new_compressor(img, &d->cmp);
		if (ret < 0)
			goto out;
		ret = -ENOMEM;
		d->rd = sqfs_data_reader_create(&img->file.base,
						img->super.block_size, d->cmp,
						0);
		if (!d->rd)
			goto out;
		/* Without a fragment table, files in fragments read EIO. */
		sqfs_data_reader_load_fragment_table(d->rd, &img->super);
	}
	ret = 0;
out:
	if (cmp)
		sqfs_destroy(cmp);
	return ret;
}

static void sq_close(struct mfs_contents *c)
{
	struct sq_image *img = c->priv;

	if (!img)
		return;
	for (int i = 0; i < SQ_DATA_READERS; i++) {
		if (img->data[i].rd)
			sqfs_destroy(img->data[i].rd);
		if (img->data[i].cmp)
			sqfs_destroy(img->data[i].cmp);
		pthread_mutex_destroy(&img->data[i].lock);
	}
	mfs_contents_table_destroy(&img->table);
	pthread_mutex_destroy(&img->next_lock);
	free(img);
	c->priv = NULL;
}

/* Takes a data reader: a free one if any, else waits on one in turn. */
static struct sq_data *data_get(struct sq_image *img)
{
	unsigned first;

	for (int i = 0; i < SQ_DATA_READERS; i++)
		if (pthread_mutex_trylock(&img->data[i].lock) == 0)
			return &img->data[i];
	pthread_mutex_lock(&img->next_lock);
	first = img->next++ % SQ_DATA_READERS;
	pthread_mutex_unlock(&img->next_lock);
	pthread_mutex_lock(&img->data[first].lock);
	return &img->data[first];
}

static ssize_t sq_read(struct mfs_contents *c, uint64_t node, void *buf,
		       size_t len, uint64_t off)
{
	struct sq_image *img = c->priv;
	struct mfs_contents_tnode *n = mfs_contents_table_node(&img->table,
							       node);
	struct sq_data *d;
	size_t done = 0;
	ssize_t ret = 0;

	if (!n)
		return -ENOENT;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode))
		return -EINVAL;
	if (off >= n->size)
		return 0;
	if (n->error || !n->priv)
		return -EIO;
	if (len > n->size - off)
		len = (size_t)(n->size - off);
	d = data_get(img);
	while (done < len) {
		size_t want = len - done > (1u << 30) ? (1u << 30) :
			      len - done;
		sqfs_s32 got = sqfs_data_reader_read(d->rd, n->priv,
						     off + done,
						     (uint8_t *)buf + done,
						     (sqfs_u32)want);

		if (got <= 0) {
			ret = got < 0 ? sq_errno(got) : -EIO;
			break;
		}
		done += (size_t)got;
	}
	pthread_mutex_unlock(&d->lock);
	return done ? (ssize_t)done : ret;
}

static int sq_statfs(struct mfs_contents *c, struct statvfs *st)
{
	struct sq_image *img = c->priv;

	st->f_bsize = img->super.block_size;
	st->f_frsize = img->super.block_size;
	st->f_blocks = (img->super.bytes_used + img->super.block_size - 1) /
		       img->super.block_size;
	st->f_files = img->super.inode_count;
	return 0;
}

const struct mfs_contents_ops mfs_contents_squashfs_ops = {
	.name = "squashfs",
	.open = sq_open,
	.close = sq_close,
	.read = sq_read,
	.statfs = sq_statfs,
};
