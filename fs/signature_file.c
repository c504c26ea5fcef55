/*
 * Writing the signature file.  What is written through one open is kept
 * and judged after every write (signing.h): acted on in the first write
 * after which it is complete ("sign", or a signature a configured key
 * verifies), so `echo sign > MNT/signature` learns the result from
 * write(2) itself; a write after which it cannot become one fails with
 * EINVAL; text still incomplete at close changes nothing.  A write with
 * O_APPEND (`>>`) adds to the text like any other: the kernel's offset
 * (the stored signature's size) means nothing here.  A write that fails
 * changes nothing either, and cancels the removal an O_TRUNC open would
 * otherwise mean.
 *
 * An open that truncates and writes nothing (`: > MNT/signature`)
 * removes the signature, and the shell's close returns after that: a
 * shell redirection closes a duplicate of the file (a flush) before the
 * command writes, so the first flush without a write proves nothing, but
 * the second one (the real close) does, and the removal is done there,
 * in the closing call.  Removing at open would lose the signature when
 * the write then fails.  A writer that closes only once (open(O_TRUNC)
 * then close) gets the removal at release, which the kernel sends after
 * close(2) has returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/signature_file.h"
#include "fs/signing.h"

/* Far above any signature's base64 (RSA 16384 is under 3 KiB). */
#define SIGNATURE_TEXT_MAX (64 * 1024)

struct mfs_signature_handle {
	/* Two threads of one writer may write through the same open at
	 * once, and libfuse runs each on a thread of its own. */
	pthread_mutex_t lock;	/* guards everything below */
	bool truncated;		/* opened with O_TRUNC */
	bool append;		/* opened with O_APPEND */
	bool written;		/* a write came, even one that failed */
	bool done;		/* the text was acted on, or refused */
	int done_ret;		/* and what came of it */
	bool removed;		/* the truncation was acted on */
	int flushes;
	size_t len;
	struct mfs_signature_handle *prev, *next;	/* ctx->sig_handles */
	char text[SIGNATURE_TEXT_MAX];
};

static struct mfs_context *context_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void handle_link(struct mfs_context *ctx, struct mfs_signature_handle *h)
{
	pthread_mutex_lock(&ctx->sig_handles_lock);
	h->prev = NULL;
	h->next = ctx->sig_handles;
	if (h->next)
		h->next->prev = h;
	ctx->sig_handles = h;
	pthread_mutex_unlock(&ctx->sig_handles_lock);
}

static void handle_free(struct mfs_context *ctx, struct mfs_signature_handle *h)
{
	pthread_mutex_lock(&ctx->sig_handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		ctx->sig_handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&ctx->sig_handles_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void mfs_signature_files_init(struct mfs_context *ctx)
{
	pthread_mutex_init(&ctx->sig_handles_lock, NULL);
	ctx->sig_handles = NULL;
}

void mfs_signature_files_destroy(struct mfs_context *ctx)
{
	/* No request runs any more. */
	while (ctx->sig_handles)
		handle_free(ctx, ctx->sig_handles);
	pthread_mutex_destroy(&ctx->sig_handles_lock);
}

void mfs_signature_file_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct mfs_signature_handle *h = calloc(1, sizeof(*h));

	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->truncated = (fi->flags & O_TRUNC) != 0;
	h->append = (fi->flags & O_APPEND) != 0;
	handle_link(context_of(req), h);
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) != 0)
		handle_free(context_of(req), h);
}

static bool only_line_breaks(const char *buf, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (buf[i] != '\n' && buf[i] != '\r')
			return false;
	return true;
}

void mfs_signature_file_write(fuse_req_t req, const char *buf, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	struct mfs_signature_handle *h = (void *)(uintptr_t)fi->fh;
	int ret;

	pthread_mutex_lock(&h->lock);
	h->written = true;
	if (h->done) {
		/* After the text was acted on, only the rest of its last
		 * line may follow ("sign", then "\n"). */
		ret = only_line_breaks(buf, size) ? h->done_ret : -EINVAL;
		goto reply;
	}
	if (h->append)
		off = (off_t)h->len;
	if (off < 0 || (size_t)off > h->len || size > SIGNATURE_TEXT_MAX ||
	    (size_t)off > SIGNATURE_TEXT_MAX - size) {
		ret = -EINVAL;
	} else {
		memcpy(h->text + off, buf, size);
		h->len = (size_t)off + size;
		ret = mfs_signing_write(context_of(req), h->text, h->len);
	}
	if (ret != 1) {
		h->done = true;
		h->done_ret = ret;
	}
reply:
	pthread_mutex_unlock(&h->lock);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

void mfs_signature_file_flush(fuse_req_t req, struct fuse_file_info *fi)
{
	struct mfs_signature_handle *h = (void *)(uintptr_t)fi->fh;
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	if (++h->flushes >= 2 && h->truncated && !h->written && !h->removed) {
		h->removed = true;
		ret = mfs_signing_remove(context_of(req));
	} else if (h->written && !h->done && h->len > 0) {
		/* Incomplete: nothing was changed, and the closer hears. */
		ret = -EINVAL;
	}
	pthread_mutex_unlock(&h->lock);
	fuse_reply_err(req, -ret);
}

void mfs_signature_file_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct mfs_signature_handle *h = (void *)(uintptr_t)fi->fh;

	/* Failures are logged: close(2) has long returned. */
	if (h->truncated && !h->written && !h->removed)
		mfs_signing_remove(context_of(req));
	handle_free(context_of(req), h);
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
