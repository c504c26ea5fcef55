/*
 * What the contents/ harnesses share: the input as an in-memory source,
 * and a bounded walk that asks every node call of everything reachable
 * and checks the promises of contents.h: every call returns, with a
 * count or a clean negative errno; reads are never longer than asked nor
 * past the size getattr gave; a node readdir gives is one lookup finds.
 */
#ifndef MFS_FUZZ_CONTENTS_I_H
#define MFS_FUZZ_CONTENTS_I_H

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact/contents/contents.h"
#include "fuzz/fuzz_i.h"

#define FC_NODES	512	/* visited per input at most */
#define FC_DEPTH	16
#define FC_READ		(64 * 1024)

struct fc_mem {
	const uint8_t *data;
	size_t size;
};

static ssize_t fc_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct fc_mem *m = ctx;

	if (off >= m->size)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	memcpy(buf, m->data + off, len);
	return (ssize_t)len;
}

static inline int fc_clean(long ret)
{
	return ret >= 0 || ret == -EIO || ret == -ENOENT || ret == -ENOTDIR ||
	       ret == -EINVAL || ret == -EISDIR || ret == -ENODATA ||
	       ret == -ENAMETOOLONG || ret == -ERANGE || ret == -ENOMEM ||
	       ret == -E2BIG;
}

static void fc_node(struct mfs_contents *c, uint64_t node, mode_t type,
		    uint8_t *buf, size_t *visited, int depth);

static void fc_dir(struct mfs_contents *c, uint64_t dir, uint8_t *buf,
		   size_t *visited, int depth)
{
	char name[NAME_MAX + 1];
	uint64_t child, again;
	mode_t type;

	if (depth > FC_DEPTH)
		return;
	for (size_t i = 0; *visited < FC_NODES; i++) {
		int ret = mfs_contents_readdir(c, dir, i, name, &child, &type);

		FUZZ_CHECK(fc_clean(ret));
		if (ret <= 0)
			break;
		FUZZ_CHECK(strlen(name) > 0 && strlen(name) <= NAME_MAX);
		FUZZ_CHECK(!strchr(name, '/'));
		ret = mfs_contents_lookup(c, dir, name, &again);
		FUZZ_CHECK(fc_clean(ret));
		if (ret == 0)
			FUZZ_CHECK(again == child);
		(*visited)++;
		fc_node(c, child, type, buf, visited, depth + 1);
	}
}

static void fc_node(struct mfs_contents *c, uint64_t node, mode_t type,
		    uint8_t *buf, size_t *visited, int depth)
{
	char link[MFS_CONTENTS_LINK_MAX];
	char list[4096];
	struct stat st;
	long ret;

	ret = mfs_contents_getattr(c, node, &st);
	FUZZ_CHECK(fc_clean(ret));
	if (ret == 0)
		FUZZ_CHECK(!(st.st_mode & 0222));
	ret = mfs_contents_readlink(c, node, link, sizeof(link));
	FUZZ_CHECK(fc_clean(ret));
	if (ret >= 0)
		FUZZ_CHECK((size_t)ret < sizeof(link) && link[ret] == '\0');
	ret = mfs_contents_listxattr(c, node, list, sizeof(list));
	FUZZ_CHECK(fc_clean(ret));
	for (long i = 0; ret > 0 && i < ret; i += (long)strlen(list + i) + 1) {
		long v;

		FUZZ_CHECK(memchr(list + i, '\0', (size_t)(ret - i)) != NULL);
		v = mfs_contents_getxattr(c, node, list + i, buf, FC_READ);
		FUZZ_CHECK(fc_clean(v));
	}
	if (type == S_IFDIR) {
		fc_dir(c, node, buf, visited, depth);
	} else if (type == S_IFREG) {
		ret = mfs_contents_read(c, node, buf, FC_READ, 0);
		FUZZ_CHECK(fc_clean(ret) && ret <= FC_READ);
		/* Far out, in what may be a hole or past the end. */
		ret = mfs_contents_read(c, node, buf, 4096, 1ull << 33);
		FUZZ_CHECK(fc_clean(ret) && ret <= 4096);
	}
}

/* Opens the input as kind and walks it. */
static inline void fc_run(const uint8_t *data, size_t size,
			  enum mfs_contents_kind kind)
{
	struct fc_mem m = { data, size };
	struct mfs_contents_source src = { &m, size, fc_pread };
	struct mfs_contents *c = NULL;
	struct statvfs sv;
	size_t visited = 0;
	uint8_t *buf;
	char err[256];
	int ret;

	ret = mfs_contents_probe(&src);
	FUZZ_CHECK(ret >= 0);
	ret = mfs_contents_open(&src, kind, &c, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -EIO ||
		   ret == -ENOMEM);
	if (ret < 0)
		return;
	buf = malloc(FC_READ);
	FUZZ_CHECK(buf != NULL);
	FUZZ_CHECK(mfs_contents_statfs(c, &sv) == 0);
	fc_node(c, mfs_contents_root(c), S_IFDIR, buf, &visited, 0);
	free(buf);
	mfs_contents_close(c);
}

#endif
