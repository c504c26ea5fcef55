/*
 * The virtual .verify file.  Opening it takes a reference to the current
 * report, computing it first if nobody has (which reads every payload:
 * only this request's thread waits, the rest of the mount goes on).  The
 * file is read with direct I/O, to its end whatever size a stat gave,
 * since the size is unknown until computed and changes when the artifact
 * does.  A stat computes it once that is cheap, after the background
 * pass has hashed every payload, so that `tar -cf` of the mount, which
 * reads st_size bytes, stores the report whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

#include "artifact/pass.h"
#include "fs/verify_file.h"

static struct mfs_verify_cache *cache_of(fuse_req_t req)
{
	return &((struct mfs_context *)fuse_req_userdata(req))->verify;
}

void mfs_verify_file_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct mfs_report *r;
	int ret;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	ret = mfs_verify_cache_get(cache_of(req), &r);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)r;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) != 0)
		mfs_verify_cache_put(cache_of(req), r);	/* interrupted */
}

void mfs_verify_file_read(fuse_req_t req, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	const struct mfs_report *r = (const struct mfs_report *)(uintptr_t)fi->fh;

	if ((size_t)off >= r->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > r->len - (size_t)off)
		size = r->len - (size_t)off;
	fuse_reply_buf(req, r->text + off, size);
}

void mfs_verify_file_release(fuse_req_t req, struct fuse_file_info *fi)
{
	mfs_verify_cache_put(cache_of(req), (struct mfs_report *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Whether the report can be computed without decoding a payload. */
static bool report_is_cheap(fuse_req_t req)
{
	struct mfs_tree *t = ((struct mfs_context *)fuse_req_userdata(req))->tree;
	bool cheap = mfs_pass_all_done(mfs_tree_pin(t, NULL));

	mfs_tree_unpin(t);
	return cheap;
}

off_t mfs_verify_file_size(fuse_req_t req)
{
	struct mfs_verify_cache *c = cache_of(req);
	long long size;
	struct mfs_report *r;

	/* When cheap, the report on the artifact shown now (the cache
	 * recomputes one made before a signing); else whatever is known. */
	if (report_is_cheap(req) && mfs_verify_cache_get(c, &r) == 0) {
		size = (long long)r->len;
		mfs_verify_cache_put(c, r);
	} else {
		size = mfs_verify_cache_size(c);
	}
	return size < 0 ? 0 : (off_t)size;
}
