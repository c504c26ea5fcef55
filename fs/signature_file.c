/*
 * Writing the signature file.  Each write acts at once, on everything
 * written through this open so far, so `echo sign > MNT/signature`
 * learns the result from write(2) itself.
 *
 * An open that truncates and writes nothing (`: > MNT/signature`)
 * removes the signature.  That can only be known at release: a shell
 * redirection closes a duplicate of the file (a flush) before the
 * command writes, so a flush without a write proves nothing.  Removing
 * at open would lose the signature when the write then fails.  So a
 * handle flushed twice without a write (the shell's early close of its
 * duplicate, then the real close) counts as pending; release removes and
 * settles it, and requests that show the signature's state wait (a
 * bounded time) until nothing is pending, so the next command sees the
 * result.  The first flush alone does not count: the command that runs
 * between the two may read the mount itself (`openssl dgst MNT/manifest
 * | ... > MNT/signature`) and must not wait for its own redirection.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/signature_file.h"
#include "fs/signing.h"

/* Far above any signature's base64 (RSA 16384 is under 3 KiB). */
#define SIGNATURE_TEXT_MAX (64 * 1024)

/* How long a request waits for pending removals before going on. */
#define SETTLE_TIMEOUT_SECONDS 10

struct signature_handle {
	bool truncated;		/* opened with O_TRUNC */
	bool acted;		/* a write happened */
	bool pending;		/* counted in pending_truncates */
	int flushes;
	size_t len;
	char text[SIGNATURE_TEXT_MAX];
};

static struct mfs_context *context_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void pending_add(struct mfs_context *ctx, struct signature_handle *h,
			int delta)
{
	pthread_mutex_lock(&ctx->pending_lock);
	ctx->pending_truncates += delta;
	h->pending = delta > 0;
	if (ctx->pending_truncates == 0)
		pthread_cond_broadcast(&ctx->settled);
	pthread_mutex_unlock(&ctx->pending_lock);
}

void mfs_signature_file_settle(struct mfs_context *ctx)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += SETTLE_TIMEOUT_SECONDS;
	pthread_mutex_lock(&ctx->pending_lock);
	while (ctx->pending_truncates > 0 &&
	       pthread_cond_timedwait(&ctx->settled, &ctx->pending_lock,
				      &deadline) == 0)
		;
	pthread_mutex_unlock(&ctx->pending_lock);
}

void mfs_signature_file_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct signature_handle *h = calloc(1, sizeof(*h));

	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->truncated = (fi->flags & O_TRUNC) != 0;
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) != 0)
		free(h);
}

void mfs_signature_file_write(fuse_req_t req, const char *buf, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	struct signature_handle *h = (void *)(uintptr_t)fi->fh;
	int ret;

	if (off < 0 || (size_t)off > h->len || size > SIGNATURE_TEXT_MAX ||
	    (size_t)off > SIGNATURE_TEXT_MAX - size) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(h->text + off, buf, size);
	h->len = (size_t)off + size;
	h->acted = true;
	ret = mfs_signing_write(context_of(req), h->text, h->len);
	if (h->pending)
		pending_add(context_of(req), h, -1);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

void mfs_signature_file_flush(fuse_req_t req, struct fuse_file_info *fi)
{
	struct signature_handle *h = (void *)(uintptr_t)fi->fh;

	if (++h->flushes >= 2 && h->truncated && !h->acted && !h->pending)
		pending_add(context_of(req), h, 1);
	fuse_reply_err(req, 0);
}

void mfs_signature_file_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct signature_handle *h = (void *)(uintptr_t)fi->fh;
	struct mfs_context *ctx = context_of(req);

	/* Failures are logged: close(2) has long returned. */
	if (h->truncated && !h->acted)
		mfs_signing_remove(ctx);
	if (h->pending)
		pending_add(ctx, h, -1);
	free(h);
	fuse_reply_err(req, 0);
}

void mfs_signature_file_setattr(fuse_req_t req, fuse_ino_t ino,
				struct stat *attr, int to_set)
{
	struct mfs_context *ctx = context_of(req);
	struct stat st;
	int ret = 0;

	if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME |
		       FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		       FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)) {
		fuse_reply_err(req, EPERM);	/* no chmod or chown */
		return;
	}
	/* truncate(2) to zero removes the signature; times are ignored so
	 * that touch(1) and shell redirections do not fail. */
	if (to_set & FUSE_SET_ATTR_SIZE)
		ret = attr->st_size == 0 ? mfs_signing_remove(ctx) : -EINVAL;
	if (ret == 0)
		ret = mfs_tree_getattr(ctx->tree, ino, &st);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fuse_reply_attr(req, &st, 0.0);
}
