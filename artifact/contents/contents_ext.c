/*
 * ext2, ext3 and ext4 through libext2fs.
 *
 * libext2fs reads the image through an io_manager of ours whose reads go
 * to the source.  libext2fs is not thread-safe, so every call into it
 * holds the image's lock, as fuse2fs does.  File data does not: a file's
 * blocks or extents are mapped once (the map is kept, shared by readers
 * and counted), and reads then go straight to the source at the mapped
 * offsets, so many readers proceed in parallel.
 *
 * Node numbers are the image's inode numbers (the root is 2), so hard
 * links are one node by construction.  Directory listings are read once
 * and kept sorted by name, for readdir by index and lookup by bisection.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#include "artifact/contents/contents_i.h"

/* Directory blocks and entries (live or empty) one listing visits at
 * most: bounds a crafted directory whose extents map billions of blocks. */
#define EXT_DIR_VISITS_MAX	(4u << 20)
/* Cached directory entries and file runs over which unused ones go. */
#define EXT_DIR_CACHE_MAX	(1u << 21)
#define EXT_RUN_CACHE_MAX	(1u << 21)
/* Runs (extents or block runs) one file maps at most. */
#define EXT_RUNS_MAX		(1u << 20)
/* Extent-tree steps one mapping takes at most. */
#define EXT_EXTENT_STEPS_MAX	(4u << 20)

struct ext_dent {
	char *name;
	uint32_t ino;
	mode_t type;
};

struct ext_dir {
	uint32_t ino;
	uint32_t n;
	struct ext_dent *ents;		/* sorted by name */
	struct ext_dir *next;		/* hash chain */
};

struct ext_run {
	uint64_t lblk, pblk;
	uint32_t len;
};

struct ext_map {
	uint32_t ino;
	unsigned refs;			/* readers using it + 1 while cached */
	uint64_t size;
	uint32_t nruns;
	struct ext_run *runs;		/* sorted by lblk, not overlapping */
	uint8_t *inline_data;		/* EXT4_INLINE_DATA_FL: the bytes */
	struct ext_map *next;
};

#define EXT_HASH 4096

struct ext_image {
	pthread_mutex_t lock;		/* libext2fs, and both caches */
	ext2_filsys fs;
	uint64_t blocks;		/* in the filesystem */
	uint32_t inodes;
	unsigned blocksize;
	struct ext_dir *dirs[EXT_HASH];
	size_t dir_ents;
	struct ext_map *maps[EXT_HASH];
	size_t map_runs;
	const struct mfs_contents_source *src;
};

/* The io_manager: a channel reads the source named by the pointer that
 * its open was given in its name. */

struct ext_chan {
	const struct mfs_contents_source *src;
};

static errcode_t chan_open(const char *name, int flags, io_channel *out);
static errcode_t chan_close(io_channel ch);
static errcode_t chan_set_blksize(io_channel ch, int blksize);
static errcode_t chan_read_blk64(io_channel ch, unsigned long long block,
				 int count, void *data);
static errcode_t chan_read_blk(io_channel ch, unsigned long block, int count,
			       void *data);
static errcode_t chan_write_blk64(io_channel ch, unsigned long long block,
				  int count, const void *data);
static errcode_t chan_write_blk(io_channel ch, unsigned long block, int count,
				const void *data);
static errcode_t chan_flush(io_channel ch);

static struct struct_io_manager ext_io_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "menderfs contents",
	.open = chan_open,
	.close = chan_close,
	.set_blksize = chan_set_blksize,
	.read_blk = chan_read_blk,
	.write_blk = chan_write_blk,
	.flush = chan_flush,
	.read_blk64 = chan_read_blk64,
	.write_blk64 = chan_write_blk64,
};

static errcode_t chan_open(const char *name, int flags, io_channel *out)
{
	struct ext_chan *priv = NULL;
	io_channel ch = NULL;
	void *p = NULL;
	errcode_t err = EXT2_ET_BAD_DEVICE_NAME;

	if (flags & IO_FLAG_RW)
		return EROFS;
	if (sscanf(name, "source:%p", &p) != 1 || !p)
		goto out;
	err = EXT2_ET_NO_MEMORY;
	ch = calloc(1, sizeof(*ch));
	priv = calloc(1, sizeof(*priv));
	if (!ch || !priv)
		goto out;
	ch->name = strdup(name);
	if (!ch->name)
		goto out;
	priv->src = p;
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = &ext_io_manager;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = priv;
	*out = ch;
	ch = NULL;
	priv = NULL;
	err = 0;
out:
	if (ch)
		free(ch->name);
	free(ch);
	free(priv);
	return err;
}

static errcode_t chan_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	free(ch->private_data);
	free(ch->name);
	free(ch);
	return 0;
}

static errcode_t chan_set_blksize(io_channel ch, int blksize)
{
	ch->block_size = blksize;
	return 0;
}

static errcode_t chan_read_blk64(io_channel ch, unsigned long long block,
				 int count, void *data)
{
	struct ext_chan *priv = ch->private_data;
	size_t len = count < 0 ? (size_t)-(long)count :
				 (size_t)count * (size_t)ch->block_size;
	uint64_t off;

	if (block > UINT64_MAX / (unsigned)ch->block_size)
		return EXT2_ET_SHORT_READ;
	off = block * (unsigned)ch->block_size;
	if (off > priv->src->size || len > priv->src->size - off)
		return EXT2_ET_SHORT_READ;
	if (mfs_contents_pread_full(priv->src, data, len, off) < 0)
		return EXT2_ET_SHORT_READ;
	return 0;
}

static errcode_t chan_read_blk(io_channel ch, unsigned long block, int count,
			       void *data)
{
	return chan_read_blk64(ch, block, count, data);
}

static errcode_t chan_write_blk64(io_channel ch, unsigned long long block,
				  int count, const void *data)
{
	return EROFS;
}

static errcode_t chan_write_blk(io_channel ch, unsigned long block, int count,
				const void *data)
{
	return EROFS;
}

static errcode_t chan_flush(io_channel ch)
{
	return 0;
}

/* Opening. */

/* Fields libext2fs 1.47 divides by or shifts with before checking them
 * (a 64bit filesystem with a descriptor size of 0 is a division by zero
 * in ext2fs_open2 with EXT2_FLAG_SUPER_ONLY), or sizes its allocations
 * by: refused here, from the library's own superblock
 * struct, so that a crafted image cannot crash the daemon. */
static int sb_sane(const struct mfs_contents_source *src)
{
	struct ext2_super_block sb;
	uint64_t blocks, groups;
	unsigned bs, desc;

	if (mfs_contents_pread_full(src, &sb, sizeof(sb), SUPERBLOCK_OFFSET))
		return -EINVAL;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	ext2fs_swap_super(&sb);
#endif
	if (sb.s_magic != EXT2_SUPER_MAGIC ||
	    sb.s_log_block_size > EXT2_MAX_BLOCK_LOG_SIZE -
				  EXT2_MIN_BLOCK_LOG_SIZE ||
	    sb.s_log_cluster_size > 30 ||
	    !sb.s_blocks_per_group || !sb.s_inodes_per_group ||
	    !sb.s_clusters_per_group)
		return -EINVAL;
	bs = EXT2_MIN_BLOCK_SIZE << sb.s_log_block_size;
	if (sb.s_feature_incompat & EXT4_FEATURE_INCOMPAT_64BIT) {
		if (sb.s_desc_size < EXT2_MIN_DESC_SIZE_64BIT ||
		    sb.s_desc_size > EXT2_MAX_DESC_SIZE ||
		    (sb.s_desc_size & (sb.s_desc_size - 1)))
			return -EINVAL;
	}
	if (sb.s_rev_level > EXT2_GOOD_OLD_REV &&
	    (sb.s_inode_size < EXT2_GOOD_OLD_INODE_SIZE ||
	     sb.s_inode_size > bs ||
	     (sb.s_inode_size & (sb.s_inode_size - 1))))
		return -EINVAL;
	if (sb.s_log_groups_per_flex > 31)
		return -EINVAL;
	/* libext2fs allocates every group's descriptor at open: a
	 * superblock claiming more groups than the image has room for
	 * descriptors would have it allocate gigabytes. */
	blocks = sb.s_blocks_count;
	if (sb.s_feature_incompat & EXT4_FEATURE_INCOMPAT_64BIT)
		blocks |= (uint64_t)sb.s_blocks_count_hi << 32;
	if (blocks <= sb.s_first_data_block)
		return -EINVAL;
	groups = (blocks - sb.s_first_data_block + sb.s_blocks_per_group - 1) /
		 sb.s_blocks_per_group;
	desc = sb.s_feature_incompat & EXT4_FEATURE_INCOMPAT_64BIT ?
	       sb.s_desc_size : EXT2_MIN_DESC_SIZE;
	if (groups > src->size / desc)
		return -EINVAL;
	return 0;
}

static int ext_open(struct mfs_contents *c)
{
	struct ext_image *img;
	char name[64];
	errcode_t err;
	int flags = EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_SB_ERRORS;

	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	pthread_mutex_init(&img->lock, NULL);
	img->src = &c->src;
	c->priv = img;
	snprintf(name, sizeof(name), "source:%p", (void *)&c->src);
	if (sb_sane(&c->src) < 0) {
		mfs_contents_set_error(c, "bad superblock");
		return -EINVAL;
	}
	err = ext2fs_open2(name, NULL, flags | EXT2_FLAG_SUPER_ONLY, 0, 0,
			   &ext_io_manager, &img->fs);
	if (!err) {
		uint64_t descs = (uint64_t)img->fs->group_desc_count *
				 EXT2_DESC_SIZE(img->fs->super);

		ext2fs_close2(img->fs, 0);
		img->fs = NULL;
		if (descs > c->src.size) {
			mfs_contents_set_error(c, "more block groups than "
					       "the image holds");
			return -EINVAL;
		}
	}
	err = ext2fs_open2(name, NULL, flags, 0, 0, &ext_io_manager, &img->fs);
	if (err) {
		/* A damaged image shows what it can: group descriptors whose
		 * checksums fail still locate the inode tables.  Inode,
		 * directory and extent checksums are checked again after. */
		err = ext2fs_open2(name, NULL,
				   flags | EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0,
				   &ext_io_manager, &img->fs);
		if (!err)
			img->fs->flags &= ~EXT2_FLAG_IGNORE_CSUM_ERRORS;
	}
	if (err) {
		img->fs = NULL;
		mfs_contents_set_error(c, "%s", error_message(err));
		return -EINVAL;
	}
	img->blocks = ext2fs_blocks_count(img->fs->super);
	img->inodes = img->fs->super->s_inodes_count;
	img->blocksize = img->fs->blocksize;
	c->root = EXT2_ROOT_INO;
	return 0;
}

static void map_free(struct ext_map *m)
{
	free(m->runs);
	free(m->inline_data);
	free(m);
}

static void dir_free(struct ext_dir *d)
{
	for (uint32_t i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	free(d);
}

static void ext_close(struct mfs_contents *c)
{
	struct ext_image *img = c->priv;

	if (!img)
		return;
	for (size_t h = 0; h < EXT_HASH; h++) {
		while (img->dirs[h]) {
			struct ext_dir *d = img->dirs[h];

			img->dirs[h] = d->next;
			dir_free(d);
		}
		while (img->maps[h]) {
			struct ext_map *m = img->maps[h];

			img->maps[h] = m->next;
			map_free(m);
		}
	}
	if (img->fs)
		ext2fs_close2(img->fs, 0);
	pthread_mutex_destroy(&img->lock);
	free(img);
	c->priv = NULL;
}

/* Inodes. */

static int errcode_to_errno(errcode_t err)
{
	if (err == EXT2_ET_NO_MEMORY)
		return -ENOMEM;
	return -EIO;
}

/* Reads inode ino under the lock.  A number outside the table, or an
 * inode that is not in use or whose checksum fails, is -EIO. */
static int read_inode(struct ext_image *img, uint32_t ino,
		      struct ext2_inode_large *inode)
{
	errcode_t err;

	if (ino < EXT2_ROOT_INO || ino > img->inodes)
		return -ENOENT;
	memset(inode, 0, sizeof(*inode));
	err = ext2fs_read_inode_full(img->fs, ino, (struct ext2_inode *)inode,
				     sizeof(*inode));
	if (err)
		return errcode_to_errno(err);
	if (inode->i_links_count == 0 && inode->i_mode == 0)
		return -EIO;
	switch (inode->i_mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return 0;
	default:
		return -EIO;
	}
}

/* One of ext4's times: seconds with the two epoch bits of its extra
 * field, nanoseconds in the rest, when the inode is large enough to hold
 * the extra field. */
static struct timespec inode_time(const struct ext2_inode_large *inode,
				  uint32_t secs, const uint32_t *extra)
{
	size_t end = (size_t)((const char *)(extra + 1) - (const char *)inode);
	struct timespec ts = { .tv_sec = (int32_t)secs };

	if (end <= EXT2_GOOD_OLD_INODE_SIZE + (size_t)inode->i_extra_isize &&
	    inode->i_extra_isize) {
		ts.tv_sec += (int64_t)(*extra & EXT4_EPOCH_MASK) << 32;
		ts.tv_nsec = (*extra & EXT4_NSEC_MASK) >> EXT4_EPOCH_BITS;
		if (ts.tv_nsec > 999999999)
			ts.tv_nsec = 0;
	}
	return ts;
}

static int ext_getattr(struct mfs_contents *c, uint64_t node, struct stat *st)
{
	struct ext_image *img = c->priv;
	struct ext2_inode_large inode;
	int ret;

	if (node > UINT32_MAX)
		return -ENOENT;
	pthread_mutex_lock(&img->lock);
	ret = read_inode(img, (uint32_t)node, &inode);
	if (ret == 0)
		st->st_blocks = (blkcnt_t)ext2fs_get_stat_i_blocks(img->fs,
					(struct ext2_inode *)&inode);
	pthread_mutex_unlock(&img->lock);
	if (ret < 0)
		return ret;
	st->st_mode = inode.i_mode;
	st->st_nlink = inode.i_links_count;
	st->st_uid = inode_uid(inode);
	st->st_gid = inode_gid(inode);
	st->st_size = (off_t)EXT2_I_SIZE(&inode);
	st->st_blksize = img->blocksize;
	st->st_atim = inode_time(&inode, inode.i_atime, &inode.i_atime_extra);
	st->st_mtim = inode_time(&inode, inode.i_mtime, &inode.i_mtime_extra);
	st->st_ctim = inode_time(&inode, inode.i_ctime, &inode.i_ctime_extra);
	st->st_rdev = 0;
	if (S_ISCHR(inode.i_mode) || S_ISBLK(inode.i_mode)) {
		/* The old encoding in i_block[0], the new in i_block[1]
		 * (the kernel's ext4_set_inode_flags / fuse2fs). */
		uint32_t b0 = inode.i_block[0], b1 = inode.i_block[1];

		if (b0)
			st->st_rdev = makedev((b0 >> 8) & 255, b0 & 255);
		else
			st->st_rdev = makedev((b1 & 0xfff00) >> 8,
					      (b1 & 0xff) |
					      ((b1 >> 12) & 0xfff00));
	}
	return 0;
}

/* Directories. */

struct dir_fill {
	struct ext_image *img;
	struct ext_dent *ents;
	size_t n, cap;
	size_t visits;
	int error;
};

static mode_t ft_to_mode(int ft)
{
	switch (ft) {
	case EXT2_FT_REG_FILE: return S_IFREG;
	case EXT2_FT_DIR: return S_IFDIR;
	case EXT2_FT_CHRDEV: return S_IFCHR;
	case EXT2_FT_BLKDEV: return S_IFBLK;
	case EXT2_FT_FIFO: return S_IFIFO;
	case EXT2_FT_SOCK: return S_IFSOCK;
	case EXT2_FT_SYMLINK: return S_IFLNK;
	default: return 0;
	}
}

static int dir_fill_one(ext2_ino_t dir, int entry, struct ext2_dir_entry *de,
			int offset, int blocksize, char *buf, void *priv)
{
	struct dir_fill *f = priv;
	int len = ext2fs_dirent_name_len(de);
	struct ext_dent *e;

	if (++f->visits > EXT_DIR_VISITS_MAX ||
	    f->n >= MFS_CONTENTS_DIR_MAX)
		return DIRENT_ABORT;
	if (de->inode == 0 || entry == DIRENT_DOT_FILE ||
	    entry == DIRENT_DOT_DOT_FILE)
		return 0;
	if (len == 0 || (len == 1 && de->name[0] == '.') ||
	    (len == 2 && de->name[0] == '.' && de->name[1] == '.') ||
	    memchr(de->name, '/', (size_t)len) ||
	    memchr(de->name, '\0', (size_t)len) ||
	    de->inode < EXT2_ROOT_INO || de->inode > f->img->inodes)
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct ext_dent *p = realloc(f->ents, cap * sizeof(*p));

		if (!p) {
			f->error = -ENOMEM;
			return DIRENT_ABORT;
		}
		f->ents = p;
		f->cap = cap;
	}
	e = &f->ents[f->n];
	e->name = strndup(de->name, (size_t)len);
	if (!e->name) {
		f->error = -ENOMEM;
		return DIRENT_ABORT;
	}
	e->ino = de->inode;
	e->type = ext2fs_has_feature_filetype(f->img->fs->super) ?
		  ft_to_mode(ext2fs_dirent_file_type(de)) : 0;
	f->n++;
	return 0;
}

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ext_dent *)a)->name,
		      ((const struct ext_dent *)b)->name);
}

/* Drops every cached listing: they are read again when asked for.  Only
 * under the lock, where nobody holds a pointer into them. */
static void dirs_flush(struct ext_image *img)
{
	for (size_t h = 0; h < EXT_HASH; h++) {
		while (img->dirs[h]) {
			struct ext_dir *d = img->dirs[h];

			img->dirs[h] = d->next;
			dir_free(d);
		}
	}
	img->dir_ents = 0;
}

/* The listing of directory ino, read on first use.  Under the lock. */
static int get_dir(struct ext_image *img, uint32_t ino, struct ext_dir **out)
{
	struct ext2_inode_large inode;
	struct dir_fill f = { .img = img };
	struct ext_dir *d;
	size_t h = ino % EXT_HASH;
	errcode_t err;
	int ret;

	for (d = img->dirs[h]; d; d = d->next)
		if (d->ino == ino) {
			*out = d;
			return 0;
		}
	ret = read_inode(img, ino, &inode);
	if (ret < 0)
		goto out;
	ret = -ENOTDIR;
	if (!S_ISDIR(inode.i_mode))
		goto out;
	err = ext2fs_dir_iterate2(img->fs, ino, DIRENT_FLAG_INCLUDE_EMPTY,
				  NULL, dir_fill_one, &f);
	ret = f.error;
	if (ret < 0)
		goto out;
	/* A block that fails its checks ends the listing there: what came
	 * before it is shown, a directory with nothing readable is EIO. */
	ret = -EIO;
	if (err && f.n == 0)
		goto out;
	if (f.n)
		qsort(f.ents, f.n, sizeof(*f.ents), dent_cmp);
	/* Two entries of one name (a crafted block): the first is shown. */
	for (size_t i = 1; i < f.n;) {
		if (strcmp(f.ents[i].name, f.ents[i - 1].name) == 0) {
			free(f.ents[i].name);
			memmove(&f.ents[i], &f.ents[i + 1],
				(f.n - i - 1) * sizeof(*f.ents));
			f.n--;
		} else {
			i++;
		}
	}
	ret = -ENOMEM;
	d = calloc(1, sizeof(*d));
	if (!d)
		goto out;
	if (img->dir_ents + f.n > EXT_DIR_CACHE_MAX)
		dirs_flush(img);
	d->ino = ino;
	d->n = (uint32_t)f.n;
	d->ents = f.ents;
	f.ents = NULL;
	f.n = 0;
	d->next = img->dirs[h];
	img->dirs[h] = d;
	img->dir_ents += d->n;
	*out = d;
	ret = 0;
out:
	for (size_t i = 0; i < f.n; i++)
		free(f.ents[i].name);
	free(f.ents);
	return ret;
}

static int ext_lookup(struct mfs_contents *c, uint64_t dir, const char *name,
		      uint64_t *node)
{
	struct ext_image *img = c->priv;
	struct ext_dent key = { .name = (char *)name }, *e;
	struct ext_dir *d;
	int ret;

	if (dir > UINT32_MAX)
		return -ENOENT;
	pthread_mutex_lock(&img->lock);
	ret = get_dir(img, (uint32_t)dir, &d);
	if (ret == 0) {
		e = d->n ? bsearch(&key, d->ents, d->n, sizeof(*e), dent_cmp) :
			   NULL;
		if (e)
			*node = e->ino;
		else
			ret = -ENOENT;
	}
	pthread_mutex_unlock(&img->lock);
	return ret;
}

static int ext_readdir(struct mfs_contents *c, uint64_t dir, size_t i,
		       char *name, uint64_t *node, mode_t *type)
{
	struct ext_image *img = c->priv;
	struct ext2_inode_large inode;
	struct ext_dir *d;
	int ret;

	if (dir > UINT32_MAX)
		return -ENOENT;
	pthread_mutex_lock(&img->lock);
	ret = get_dir(img, (uint32_t)dir, &d);
	if (ret < 0 || i >= d->n) {
		ret = ret < 0 ? ret : 0;
		goto out;
	}
	strcpy(name, d->ents[i].name);
	*node = d->ents[i].ino;
	*type = d->ents[i].type;
	/* Without the filetype feature the type is in the inode. */
	if (!*type && read_inode(img, d->ents[i].ino, &inode) == 0)
		*type = inode.i_mode & S_IFMT;
	ret = 1;
out:
	pthread_mutex_unlock(&img->lock);
	return ret;
}

/* File data: the map. */

struct map_fill {
	struct ext_run *runs;
	size_t n, cap;
	uint64_t nblocks;		/* the file's size in blocks */
	uint64_t fs_blocks;
	/* Blocks (data and indirect) or extent steps visited: no file maps
	 * more than the filesystem has, so a crafted map that has the walk
	 * read one indirect block again and again stops there. */
	uint64_t visits, visits_max;
	int error;
};

/* Adds blocks [lblk, lblk + len) at pblk; len is an extent's (at most
 * 2^32 - 1). */
static int map_add(struct map_fill *f, uint64_t lblk, uint64_t pblk,
		   uint32_t len)
{
	struct ext_run *r;

	if (lblk >= f->nblocks || len == 0)
		return 0;
	if (len > f->nblocks - lblk)
		len = (uint32_t)(f->nblocks - lblk);
	/* A run outside the filesystem is not mapped: reading there is
	 * EIO (pblk 0 marks it). */
	if (pblk == 0 || pblk >= f->fs_blocks || len > f->fs_blocks - pblk)
		pblk = 0;
	if (f->n) {
		r = &f->runs[f->n - 1];
		if (r->pblk && pblk && r->lblk + r->len == lblk &&
		    r->pblk + r->len == pblk &&
		    (uint64_t)r->len + len <= UINT32_MAX) {
			r->len += len;
			return 0;
		}
	}
	if (f->n >= EXT_RUNS_MAX) {
		f->error = -EIO;
		return -EIO;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;

		r = realloc(f->runs, cap * sizeof(*r));
		if (!r) {
			f->error = -ENOMEM;
			return -ENOMEM;
		}
		f->runs = r;
		f->cap = cap;
	}
	f->runs[f->n++] = (struct ext_run){ lblk, pblk, (uint32_t)len };
	return 0;
}

static int block_one(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
		     blk64_t ref_blk, int ref_offset, void *priv)
{
	struct map_fill *f = priv;

	if (++f->visits > f->visits_max) {
		f->error = -EIO;
		return BLOCK_ABORT;
	}
	if (blockcnt < 0)
		return 0;
	/* Past the size: a crafted map cannot make the walk go on. */
	if ((uint64_t)blockcnt >= f->nblocks)
		return BLOCK_ABORT;
	if (map_add(f, (uint64_t)blockcnt, *blocknr, 1) < 0)
		return BLOCK_ABORT;
	return 0;
}

static int map_extents(struct ext_image *img, uint32_t ino,
		       struct ext2_inode_large *inode, struct map_fill *f)
{
	ext2_extent_handle_t h = NULL;
	struct ext2fs_extent ext;
	int op = EXT2_EXTENT_ROOT;
	errcode_t err;
	int ret = -EIO;

	err = ext2fs_extent_open2(img->fs, ino, (struct ext2_inode *)inode, &h);
	if (err)
		goto out;
	for (; f->visits < f->visits_max; f->visits++) {
		err = ext2fs_extent_get(h, op, &ext);
		if (err == EXT2_ET_EXTENT_NO_NEXT) {
			ret = 0;
			goto out;
		}
		if (err)
			goto out;
		op = EXT2_EXTENT_NEXT_LEAF;
		if (!(ext.e_flags & EXT2_EXTENT_FLAGS_LEAF))
			continue;
		/* Unwritten extents read as zeros, like holes. */
		if (ext.e_flags & EXT2_EXTENT_FLAGS_UNINIT)
			continue;
		if (map_add(f, ext.e_lblk, ext.e_pblk, ext.e_len) < 0) {
			ret = f->error;
			goto out;
		}
	}
out:
	if (h)
		ext2fs_extent_free(h);
	return ret;
}

static int run_cmp(const void *a, const void *b)
{
	const struct ext_run *x = a, *y = b;

	return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

/* Sorts the runs and drops what overlaps an earlier one, so a read finds
 * at most one run per block. */
static void map_tidy(struct map_fill *f)
{
	size_t out = 0;

	if (f->n)
		qsort(f->runs, f->n, sizeof(*f->runs), run_cmp);
	for (size_t i = 0; i < f->n; i++) {
		struct ext_run r = f->runs[i];

		if (out) {
			struct ext_run *p = &f->runs[out - 1];
			uint64_t end = p->lblk + p->len;

			if (r.lblk < end) {
				if (r.lblk + r.len <= end)
					continue;
				if (r.pblk)
					r.pblk += end - r.lblk;
				r.len -= (uint32_t)(end - r.lblk);
				r.lblk = end;
			}
		}
		f->runs[out++] = r;
	}
	f->n = out;
}

static void maps_trim(struct ext_image *img)
{
	for (size_t h = 0; h < EXT_HASH && img->map_runs > EXT_RUN_CACHE_MAX;
	     h++) {
		struct ext_map **pp = &img->maps[h];

		while (*pp) {
			struct ext_map *m = *pp;

			if (m->refs == 1) {
				*pp = m->next;
				img->map_runs -= m->nruns;
				map_free(m);
			} else {
				pp = &m->next;
			}
		}
	}
}

/* The map of regular file ino, built on first use; the caller holds a
 * reference it gives back with map_put().  Under the lock. */
static int get_map(struct ext_image *img, uint32_t ino, struct ext_map **out)
{
	struct ext2_inode_large inode;
	struct map_fill f = { .fs_blocks = img->blocks };
	struct ext_map *m = NULL;
	size_t h = ino % EXT_HASH;
	int ret;

	for (m = img->maps[h]; m; m = m->next)
		if (m->ino == ino) {
			m->refs++;
			*out = m;
			return 0;
		}
	ret = read_inode(img, ino, &inode);
	if (ret < 0)
		goto out;
	ret = S_ISDIR(inode.i_mode) ? -EISDIR : -EINVAL;
	if (!S_ISREG(inode.i_mode))
		goto out;
	ret = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out;
	m->ino = ino;
	m->size = EXT2_I_SIZE(&inode);
	f.nblocks = (m->size + img->blocksize - 1) / img->blocksize;
	f.visits_max = img->blocks * 2 + 64 < EXT_EXTENT_STEPS_MAX ?
		       img->blocks * 2 + 64 : EXT_EXTENT_STEPS_MAX;
	if (inode.i_flags & EXT4_INLINE_DATA_FL) {
		size_t size = 0;

		ret = -EIO;
		if (ext2fs_inline_data_size(img->fs, ino, &size) ||
		    size > m->size || m->size > EXT4_MIN_INLINE_DATA_SIZE +
		    (size_t)EXT2_INODE_SIZE(img->fs->super))
			goto out;
		ret = -ENOMEM;
		m->inline_data = calloc(1, m->size ? m->size : 1);
		if (!m->inline_data)
			goto out;
		ret = -EIO;
		if (ext2fs_inline_data_get(img->fs, ino,
					   (struct ext2_inode *)&inode,
					   m->inline_data, &size))
			goto out;
	} else if (inode.i_flags & EXT4_EXTENTS_FL) {
		ret = map_extents(img, ino, &inode, &f);
		if (ret < 0)
			goto out;
	} else if (f.nblocks) {
		ret = -EIO;
		if (ext2fs_block_iterate3(img->fs, ino, BLOCK_FLAG_READ_ONLY,
					  NULL, block_one, &f) || f.error)
			goto out;
	}
	map_tidy(&f);
	m->runs = f.runs;
	m->nruns = (uint32_t)f.n;
	f.runs = NULL;
	m->refs = 2;
	m->next = img->maps[h];
	img->maps[h] = m;
	img->map_runs += m->nruns;
	maps_trim(img);
	*out = m;
	m = NULL;
	ret = 0;
out:
	free(f.runs);
	if (m)
		map_free(m);
	return ret;
}

static void map_put(struct ext_image *img, struct ext_map *m)
{
	pthread_mutex_lock(&img->lock);
	if (--m->refs == 0)
		map_free(m);
	pthread_mutex_unlock(&img->lock);
}

/* The run holding lblk, or NULL with *next the first block of the run
 * after it (or UINT64_MAX). */
static const struct ext_run *find_run(const struct ext_map *m, uint64_t lblk,
				      uint64_t *next)
{
	size_t lo = 0, hi = m->nruns;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->runs[mid].lblk + m->runs[mid].len <= lblk)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->nruns && m->runs[lo].lblk <= lblk)
		return &m->runs[lo];
	*next = lo < m->nruns ? m->runs[lo].lblk : UINT64_MAX;
	return NULL;
}

static ssize_t map_read(struct mfs_contents *c, const struct ext_map *m,
			uint8_t *buf, size_t len, uint64_t off)
{
	struct ext_image *img = c->priv;
	uint64_t bs = img->blocksize;
	size_t done = 0;
	int ret;

	if (off >= m->size)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	if (m->inline_data) {
		memcpy(buf, m->inline_data + off, len);
		return (ssize_t)len;
	}
	while (done < len) {
		uint64_t pos = off + done, lblk = pos / bs, next = 0;
		const struct ext_run *r = find_run(m, lblk, &next);
		size_t n;

		if (!r) {
			/* A hole: zeros up to the next run. */
			uint64_t end = next == UINT64_MAX ? UINT64_MAX :
				       next * bs;

			n = end - pos < len - done ? (size_t)(end - pos) :
						     len - done;
			memset(buf + done, 0, n);
			done += n;
			continue;
		}
		if (!r->pblk)
			return done ? (ssize_t)done : -EIO;
		n = (r->lblk + r->len) * bs - pos < len - done ?
		    (size_t)((r->lblk + r->len) * bs - pos) : len - done;
		ret = mfs_contents_pread_full(&c->src, buf + done, n,
					      (r->pblk + lblk - r->lblk) * bs +
					      pos % bs);
		if (ret < 0)
			return done ? (ssize_t)done : -EIO;
		done += n;
	}
	return (ssize_t)done;
}

static ssize_t ext_read(struct mfs_contents *c, uint64_t node, void *buf,
			size_t len, uint64_t off)
{
	struct ext_image *img = c->priv;
	struct ext_map *m = NULL;
	ssize_t ret;

	if (node > UINT32_MAX)
		return -ENOENT;
	pthread_mutex_lock(&img->lock);
	ret = get_map(img, (uint32_t)node, &m);
	pthread_mutex_unlock(&img->lock);
	if (ret < 0)
		return ret;
	ret = map_read(c, m, buf, len, off);
	map_put(img, m);
	return ret;
}

static ssize_t ext_readlink(struct mfs_contents *c, uint64_t node, char *buf,
			    size_t len)
{
	struct ext_image *img = c->priv;
	struct ext2_inode_large inode;
	ext2_file_t file = NULL;
	unsigned int got = 0;
	uint64_t size;
	ssize_t ret;

	if (node > UINT32_MAX)
		return -ENOENT;
	pthread_mutex_lock(&img->lock);
	ret = read_inode(img, (uint32_t)node, &inode);
	if (ret < 0)
		goto out;
	ret = -EINVAL;
	if (!S_ISLNK(inode.i_mode))
		goto out;
	size = EXT2_I_SIZE(&inode);
	ret = -EIO;
	if (size == 0 || size >= MFS_CONTENTS_LINK_MAX)
		goto out;
	ret = -ENAMETOOLONG;
	if (size + 1 > len)
		goto out;
	ret = -EIO;
	if (ext2fs_is_fast_symlink((struct ext2_inode *)&inode)) {
		if (size >= sizeof(inode.i_block))
			goto out;
		memcpy(buf, inode.i_block, size);
	} else if (inode.i_flags & EXT4_INLINE_DATA_FL) {
		char tmp[EXT4_MIN_INLINE_DATA_SIZE + 1024];
		size_t isize = 0;

		if (ext2fs_inline_data_size(img->fs, (ext2_ino_t)node,
					    &isize) || isize > sizeof(tmp) ||
		    isize < size ||
		    ext2fs_inline_data_get(img->fs, (ext2_ino_t)node,
					   (struct ext2_inode *)&inode, tmp,
					   &isize))
			goto out;
		memcpy(buf, tmp, size);
	} else {
		if (ext2fs_file_open2(img->fs, (ext2_ino_t)node,
				      (struct ext2_inode *)&inode, 0, &file) ||
		    ext2fs_file_read(file, buf, (unsigned int)size, &got) ||
		    got != size)
			goto out;
	}
	buf[size] = '\0';
	ret = (ssize_t)size;
out:
	if (file)
		ext2fs_file_close(file);
	pthread_mutex_unlock(&img->lock);
	return ret;
}

/* Extended attributes. */

struct xattr_list {
	char *buf;
	size_t len, need;
};

static int xattr_list_one(char *name, char *value, size_t value_len,
			  void *data)
{
	struct xattr_list *l = data;
	size_t n = strlen(name) + 1;

	/* Inline data's bytes are file data, not an attribute: the kernel
	 * does not list it either. */
	if (strcmp(name, "system.data") == 0)
		return 0;
	if (l->buf && l->need + n <= l->len)
		memcpy(l->buf + l->need, name, n);
	l->need += n;
	return 0;
}

static int xattrs_open(struct ext_image *img, uint64_t node,
		       struct ext2_xattr_handle **h)
{
	struct ext2_inode_large inode;
	int ret;

	if (node > UINT32_MAX)
		return -ENOENT;
	ret = read_inode(img, (uint32_t)node, &inode);
	if (ret < 0)
		return ret;
	if (ext2fs_xattrs_open(img->fs, (ext2_ino_t)node, h))
		return -EIO;
	if (ext2fs_xattrs_read(*h)) {
		ext2fs_xattrs_close(h);
		return -EIO;
	}
	return 0;
}

static ssize_t ext_listxattr(struct mfs_contents *c, uint64_t node, char *buf,
			     size_t len)
{
	struct ext_image *img = c->priv;
	struct ext2_xattr_handle *h = NULL;
	struct xattr_list l = { .buf = buf, .len = len };
	ssize_t ret;

	pthread_mutex_lock(&img->lock);
	ret = xattrs_open(img, node, &h);
	if (ret < 0)
		goto out;
	ret = -EIO;
	if (ext2fs_xattrs_iterate(h, xattr_list_one, &l))
		goto out;
	ret = (ssize_t)l.need;
	if (len && len < l.need)
		ret = -ERANGE;
out:
	if (h)
		ext2fs_xattrs_close(&h);
	pthread_mutex_unlock(&img->lock);
	return ret;
}

static ssize_t ext_getxattr(struct mfs_contents *c, uint64_t node,
			    const char *name, void *buf, size_t len)
{
	struct ext_image *img = c->priv;
	struct ext2_xattr_handle *h = NULL;
	void *value = NULL;
	size_t size = 0;
	errcode_t err;
	ssize_t ret;

	if (strcmp(name, "system.data") == 0)
		return -ENODATA;
	pthread_mutex_lock(&img->lock);
	ret = xattrs_open(img, node, &h);
	if (ret < 0)
		goto out;
	err = ext2fs_xattr_get(h, name, &value, &size);
	ret = err == EXT2_ET_EA_KEY_NOT_FOUND ? -ENODATA : -EIO;
	if (err)
		goto out;
	ret = mfs_contents_copy_out(buf, len, value, size);
out:
	if (value)
		ext2fs_free_mem(&value);
	if (h)
		ext2fs_xattrs_close(&h);
	pthread_mutex_unlock(&img->lock);
	return ret;
}

static int ext_statfs(struct mfs_contents *c, struct statvfs *st)
{
	struct ext_image *img = c->priv;
	struct ext2_super_block *sb = img->fs->super;

	st->f_bsize = img->blocksize;
	st->f_frsize = img->blocksize;
	st->f_blocks = ext2fs_blocks_count(sb);
	st->f_bfree = ext2fs_free_blocks_count(sb);
	st->f_bavail = st->f_bfree > ext2fs_r_blocks_count(sb) ?
		       st->f_bfree - ext2fs_r_blocks_count(sb) : 0;
	st->f_files = sb->s_inodes_count;
	st->f_ffree = sb->s_free_inodes_count;
	st->f_favail = st->f_ffree;
	st->f_namemax = EXT2_NAME_LEN;
	return 0;
}

const struct mfs_contents_ops mfs_contents_ext_ops = {
	.name = "ext",
	.open = ext_open,
	.close = ext_close,
	.lookup = ext_lookup,
	.getattr = ext_getattr,
	.readdir = ext_readdir,
	.read = ext_read,
	.readlink = ext_readlink,
	.listxattr = ext_listxattr,
	.getxattr = ext_getxattr,
	.statfs = ext_statfs,
};
