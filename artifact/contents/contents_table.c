/*
 * The node table shared by the readers that index an image at open.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/contents/contents_table_i.h"

#define TABLE_BUCKETS_MIN 1024

/* FNV-1a over the directory and the name. */
static uint32_t dent_hash(uint64_t dir, const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 4; i++) {
		h ^= (uint8_t)(dir >> (8 * i));
		h *= 16777619u;
	}
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	return h;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

int mfs_contents_table_init(struct mfs_contents_table *t)
{
	struct mfs_contents_tnode *root;
	uint64_t id;
	int ret;

	memset(t, 0, sizeof(*t));
	t->buckets = calloc(TABLE_BUCKETS_MIN, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->nbuckets = TABLE_BUCKETS_MIN;
	ret = mfs_contents_table_add(t, &id);
	if (ret < 0)
		return ret;
	root = mfs_contents_table_node(t, id);
	root->mode = S_IFDIR | 0755;
	root->nlink = 2;
	return 0;
}

void mfs_contents_table_destroy(struct mfs_contents_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nnodes; i++) {
		struct mfs_contents_tnode *n = &t->nodes[i];

		for (uint32_t x = 0; x < n->nxattrs; x++) {
			free(n->xattrs[x].name);
			free(n->xattrs[x].value);
		}
		free(n->xattrs);
		free(n->link);
		free(n->kids);
		if (n->priv && t->free_priv)
			t->free_priv(n->priv);
	}
	for (size_t i = 0; i < t->ndents; i++)
		free(t->dents[i].name);
	free(t->nodes);
	free(t->dents);
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

struct mfs_contents_tnode *mfs_contents_table_node(struct mfs_contents_table *t,
						   uint64_t id)
{
	if (id == 0 || id > t->nnodes)
		return NULL;
	return &t->nodes[id - 1];
}

int mfs_contents_table_add(struct mfs_contents_table *t, uint64_t *id)
{
	struct mfs_contents_tnode *n;
	int ret;

	if (t->nnodes >= MFS_CONTENTS_NODES_MAX)
		return -ENOSPC;
	ret = grow((void **)&t->nodes, &t->nodes_cap, t->nnodes + 1,
		   sizeof(*t->nodes));
	if (ret < 0)
		return ret;
	n = &t->nodes[t->nnodes++];
	memset(n, 0, sizeof(*n));
	n->nlink = 1;
	*id = t->nnodes;
	return 0;
}

struct mfs_contents_dent *
mfs_contents_table_find(struct mfs_contents_table *t, uint64_t dir,
			const char *name, size_t len)
{
	uint32_t i = t->buckets[dent_hash(dir, name, len) & (t->nbuckets - 1)];

	while (i) {
		struct mfs_contents_dent *d = &t->dents[i - 1];

		if (d->dir == dir && strlen(d->name) == len &&
		    memcmp(d->name, name, len) == 0)
			return d;
		i = d->hnext;
	}
	return NULL;
}

/* Doubles the buckets once the chains would average over one entry. */
static int rehash(struct mfs_contents_table *t)
{
	size_t n = t->nbuckets * 2;
	uint32_t *b;

	if (t->ndents < t->nbuckets)
		return 0;
	b = calloc(n, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->ndents; i++) {
		struct mfs_contents_dent *d = &t->dents[i];
		uint32_t h = dent_hash(d->dir, d->name, strlen(d->name)) &
			     (uint32_t)(n - 1);

		d->hnext = b[h];
		b[h] = (uint32_t)i + 1;
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	return 0;
}

static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX || memchr(name, '/', len) ||
	    memchr(name, '\0', len))
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return true;
}

int mfs_contents_table_link(struct mfs_contents_table *t, uint64_t dir,
			    const char *name, size_t len, uint64_t node)
{
	struct mfs_contents_tnode *d = mfs_contents_table_node(t, dir);
	struct mfs_contents_dent *e;
	size_t cap;
	uint32_t h;
	int ret;

	if (!d || !S_ISDIR(d->mode) || !name_ok(name, len) ||
	    !mfs_contents_table_node(t, node))
		return -EINVAL;
	e = mfs_contents_table_find(t, dir, name, len);
	if (e) {
		e->node = (uint32_t)node;
		return 0;
	}
	if (d->nkids >= MFS_CONTENTS_DIR_MAX)
		return -ENOSPC;
	cap = d->kids_cap;
	ret = grow((void **)&d->kids, &cap, (size_t)d->nkids + 1,
		   sizeof(*d->kids));
	if (ret < 0)
		return ret;
	d->kids_cap = (uint32_t)cap;
	ret = grow((void **)&t->dents, &t->dents_cap, t->ndents + 1,
		   sizeof(*t->dents));
	if (ret < 0)
		return ret;
	e = &t->dents[t->ndents];
	e->name = strndup(name, len);
	if (!e->name)
		return -ENOMEM;
	e->dir = (uint32_t)dir;
	e->node = (uint32_t)node;
	h = dent_hash(dir, name, len) & (uint32_t)(t->nbuckets - 1);
	e->hnext = t->buckets[h];
	t->buckets[h] = (uint32_t)t->ndents + 1;
	d->kids[d->nkids++] = (uint32_t)t->ndents;
	t->ndents++;
	return rehash(t);
}

int mfs_contents_table_add_xattr(struct mfs_contents_tnode *n,
				 const char *name, const void *value,
				 size_t size)
{
	struct mfs_contents_xattr *x;
	char *nm = strdup(name);
	void *v = malloc(size ? size : 1);

	x = realloc(n->xattrs, (n->nxattrs + 1) * sizeof(*x));
	if (!nm || !v || !x) {
		free(nm);
		free(v);
		if (x)
			n->xattrs = x;
		return -ENOMEM;
	}
	if (size)
		memcpy(v, value, size);
	n->xattrs = x;
	n->xattrs[n->nxattrs].name = nm;
	n->xattrs[n->nxattrs].value = v;
	n->xattrs[n->nxattrs].size = size;
	n->nxattrs++;
	return 0;
}

int mfs_contents_table_lookup(struct mfs_contents_table *t, uint64_t dir,
			      const char *name, uint64_t *node)
{
	struct mfs_contents_tnode *d = mfs_contents_table_node(t, dir);
	struct mfs_contents_dent *e;

	if (!d)
		return -ENOENT;
	if (!S_ISDIR(d->mode))
		return -ENOTDIR;
	e = mfs_contents_table_find(t, dir, name, strlen(name));
	if (!e)
		return -ENOENT;
	*node = e->node;
	return 0;
}

int mfs_contents_table_getattr(struct mfs_contents_table *t, uint64_t node,
			       struct stat *st)
{
	struct mfs_contents_tnode *n = mfs_contents_table_node(t, node);

	if (!n)
		return -ENOENT;
	memset(st, 0, sizeof(*st));
	st->st_ino = node;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
	return 0;
}

int mfs_contents_table_readdir(struct mfs_contents_table *t, uint64_t dir,
			       size_t i, char *name, uint64_t *node,
			       mode_t *type)
{
	struct mfs_contents_tnode *d = mfs_contents_table_node(t, dir);
	struct mfs_contents_dent *e;

	if (!d)
		return -ENOENT;
	if (!S_ISDIR(d->mode))
		return -ENOTDIR;
	if (i >= d->nkids)
		return 0;
	e = &t->dents[d->kids[i]];
	strcpy(name, e->name);
	*node = e->node;
	*type = t->nodes[e->node - 1].mode & S_IFMT;
	return 1;
}

ssize_t mfs_contents_table_readlink(struct mfs_contents_table *t,
				    uint64_t node, char *buf, size_t len)
{
	struct mfs_contents_tnode *n = mfs_contents_table_node(t, node);
	size_t l;

	if (!n)
		return -ENOENT;
	if (!S_ISLNK(n->mode))
		return -EINVAL;
	if (!n->link)
		return n->error ? n->error : -EIO;
	l = strlen(n->link);
	if (l + 1 > len)
		return -ENAMETOOLONG;
	memcpy(buf, n->link, l + 1);
	return (ssize_t)l;
}

ssize_t mfs_contents_table_listxattr(struct mfs_contents_table *t,
				     uint64_t node, char *buf, size_t len)
{
	struct mfs_contents_tnode *n = mfs_contents_table_node(t, node);
	size_t need = 0;

	if (!n)
		return -ENOENT;
	for (uint32_t i = 0; i < n->nxattrs; i++)
		need += strlen(n->xattrs[i].name) + 1;
	if (len == 0)
		return (ssize_t)need;
	if (len < need)
		return -ERANGE;
	for (uint32_t i = 0; i < n->nxattrs; i++) {
		size_t l = strlen(n->xattrs[i].name) + 1;

		memcpy(buf, n->xattrs[i].name, l);
		buf += l;
	}
	return (ssize_t)need;
}

ssize_t mfs_contents_table_getxattr(struct mfs_contents_table *t,
				    uint64_t node, const char *name,
				    void *buf, size_t len)
{
	struct mfs_contents_tnode *n = mfs_contents_table_node(t, node);

	if (!n)
		return -ENOENT;
	for (uint32_t i = 0; i < n->nxattrs; i++)
		if (strcmp(n->xattrs[i].name, name) == 0)
			return mfs_contents_copy_out(buf, len,
						     n->xattrs[i].value,
						     n->xattrs[i].size);
	return -ENODATA;
}
