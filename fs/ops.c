/*
 * The FUSE low-level operations.  Thin by design: an op maps its inode to
 * the tree, calls the core, and replies exactly once; core functions
 * return negative errnos and the sign flips here.  A node's contents never
 * change, so the kernel may cache attributes, names and pages for as long
 * as it likes: when the artifact changes on disk the tree moves to fresh
 * inodes, and the kernel is told to forget the names that led to the old
 * ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "artifact/contents/contents.h"
#include "fs/ops.h"
#include "fs/signature_file.h"
#include "fs/verify_file.h"

#define CACHE_TIMEOUT 86400.0

static struct mfs_tree *tree_of(fuse_req_t req)
{
	return ((struct mfs_context *)fuse_req_userdata(req))->tree;
}

/* What changes when the artifact is signed is never cached. */
static double attr_timeout(fuse_req_t req, fuse_ino_t ino)
{
	return mfs_tree_is_mutable(tree_of(req), ino) ? 0.0 : CACHE_TIMEOUT;
}

/* Names the root showed before the artifact changed on disk, for the
 * kernel to forget once the reply that noticed it has gone out. */
struct forgotten {
	char **names;
	size_t count;
};

static void forget_later(const char *name, void *arg)
{
	struct forgotten *f = arg;
	char **names = realloc(f->names, (f->count + 1) * sizeof(*names));

	if (!names)
		return;		/* the kernel keeps a stale name: ESTALE */
	f->names = names;
	f->names[f->count] = strdup(name);
	if (f->names[f->count])
		f->count++;
}

/* ctx, not the request: the request is gone once replied to. */
static void forget_all(struct mfs_context *ctx, struct forgotten *f)
{
	for (size_t i = 0; i < f->count; i++) {
		fuse_lowlevel_notify_inval_entry(ctx->se, FUSE_ROOT_ID,
						 f->names[i],
						 strlen(f->names[i]));
		free(f->names[i]);
	}
	free(f->names);
	f->names = NULL;
	f->count = 0;
}

/*
 * Notices a change of the artifact on disk (mount.h).  The names are
 * forgotten after the request's reply: the kernel may hold the root's
 * lock for this very request (readdir) and would wait for it.  Returns 0
 * or -EIO when the new file cannot be shown.
 */
static int notice_change(fuse_req_t req, struct forgotten *f)
{
	struct mfs_context *ctx = fuse_req_userdata(req);
	char err[MFS_ERR_LEN] = "";
	int ret;

	ret = mfs_mount_refresh(&ctx->mount, forget_later, f, err,
				sizeof(err));
	if (ret < 0) {
		/* Said once per refusal, not once per request. */
		if (err[0])
			fuse_log(FUSE_LOG_ERR, "menderfs: the artifact changed "
				 "on disk, and cannot be shown: %s\n", err);
		return -EIO;
	}
	if (ret == 1)
		fuse_log(FUSE_LOG_NOTICE, "menderfs: the artifact changed on "
			 "disk; showing it as it is now\n");
	return 0;
}

/* The tree's attributes, with the size of .verify filled in. */
static int node_getattr(fuse_req_t req, fuse_ino_t ino, struct stat *st)
{
	int ret;

	ret = mfs_tree_getattr(tree_of(req), ino, st);

	if (ret == 0 && mfs_tree_virtual(tree_of(req), ino) == MFS_VIRTUAL_VERIFY)
		st->st_size = mfs_verify_file_size(req);
	return ret;
}

static void mfs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Let the kernel read ahead as far as it allows: payload reads
	 * are mostly sequential, and a decoder stays warm between them. */
	conn->max_readahead = UINT_MAX;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* O_TRUNC reaches open() instead of a separate truncate, so
	 * `echo sign > signature` is one change, not a removal first. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

/* A lookup under a directory of the artifact shown before a change gives
 * ESTALE, and the kernel walks the path again, asking for each name. */
static void mfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mfs_context *ctx = fuse_req_userdata(req);
	struct forgotten f = { 0 };
	struct fuse_entry_param e;
	uint64_t ino;
	int ret;

	memset(&e, 0, sizeof(e));
	ret = notice_change(req, &f);
	if (ret == 0)
		ret = mfs_tree_lookup(tree_of(req), parent, name, &ino);
	if (ret == 0)
		ret = node_getattr(req, ino, &e.attr);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
	} else {
		e.ino = ino;
		e.attr_timeout = attr_timeout(req, ino);
		e.entry_timeout = attr_timeout(req, ino);
		fuse_reply_entry(req, &e);
	}
	/* After the reply: the kernel holds the directory's lock until
	 * it has it. */
	forget_all(ctx, &f);
}

static void mfs_op_getattr(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct stat st;
	int ret = node_getattr(req, ino, &st);

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fuse_reply_attr(req, &st, attr_timeout(req, ino));
}

/* A directory of the artifact shown before a change gives ESTALE, and the
 * kernel looks its path up again. */
static void mfs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct forgotten f = { 0 };
	struct stat st;
	int ret = notice_change(req, &f);

	forget_all(fuse_req_userdata(req), &f);
	if (ret == 0)
		ret = mfs_tree_getattr(tree_of(req), ino, &st);
	if (ret == 0 && !S_ISDIR(st.st_mode))
		ret = -ENOTDIR;
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fuse_reply_open(req, fi);
}

static void mfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct mfs_context *ctx = fuse_req_userdata(req);
	struct mfs_tree *t = tree_of(req);
	struct forgotten f = { 0 };
	char *buf = malloc(size), name[NAME_MAX + 1];
	size_t used = 0;
	int ret = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off == 0)
		ret = notice_change(req, &f);
	/* Offsets: 1 is ".", 2 is "..", 3 + i is child i. */
	for (; off >= 0 && ret == 0; off++) {
		struct stat st = { 0 };
		uint64_t child;
		size_t need;

		if (off == 0 || off == 1) {
			st.st_ino = ino;
			st.st_mode = S_IFDIR;
			strcpy(name, off == 0 ? "." : "..");
		} else {
			mode_t type;

			ret = mfs_tree_child(t, ino, (size_t)off - 2, &child,
					     &type, name);
			if (ret <= 0)
				break;
			/* Only the inode and type matter here; a full
			 * getattr could walk a payload tar. */
			st.st_ino = child;
			st.st_mode = type;
		}
		need = fuse_add_direntry(req, buf + used, size - used, name,
					 &st, off + 1);
		if (need > size - used)
			break;
		used += need;
	}
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
	forget_all(ctx, &f);
}

static void mfs_op_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct mfs_tree *t = tree_of(req);
	struct forgotten f = { 0 };
	struct stat st;
	int ret;

	/* A node of the artifact shown before a change is stale: ESTALE
	 * makes the kernel look the name up again, finding the new one. */
	ret = notice_change(req, &f);
	forget_all(fuse_req_userdata(req), &f);
	if (ret == 0)
		ret = mfs_tree_getattr(t, ino, &st);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (mfs_tree_virtual(t, ino) == MFS_VIRTUAL_VERIFY) {
		mfs_verify_file_open(req, fi);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		if (mfs_tree_is_writable(t, ino))
			mfs_signature_file_open(req, fi);
		else
			fuse_reply_err(req, EROFS);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (mfs_tree_is_mutable(t, ino))
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void mfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct forgotten f = { 0 };
	char *buf;
	ssize_t n;
	int ret;

	/* Every read, not only opens: a file held open across a change
	 * that nothing else noticed would read the new bytes at the old
	 * offsets.  Its node goes stale, and the read below gives EIO. */
	ret = notice_change(req, &f);
	forget_all(fuse_req_userdata(req), &f);
	if (mfs_tree_virtual(tree_of(req), ino) == MFS_VIRTUAL_VERIFY) {
		struct stat st;

		/* A report on the artifact shown before a change. */
		if (ret == 0 && mfs_tree_getattr(tree_of(req), ino, &st) < 0)
			ret = -EIO;
		if (ret < 0) {
			fuse_reply_err(req, -ret);
			return;
		}
		mfs_verify_file_read(req, size, off, fi);
		return;
	}
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = mfs_tree_read(tree_of(req), ino, buf, size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void mfs_op_release(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	if (mfs_tree_virtual(tree_of(req), ino) == MFS_VIRTUAL_VERIFY) {
		mfs_verify_file_release(req, fi);
		return;
	}
	if (fi->fh) {
		mfs_signature_file_release(req, fi);
		return;
	}
	fuse_reply_err(req, 0);
}

static void mfs_op_flush(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	if (fi->fh && mfs_tree_virtual(tree_of(req), ino) ==
		      MFS_VIRTUAL_SIGNATURE) {
		mfs_signature_file_flush(req, fi);
		return;
	}
	fuse_reply_err(req, 0);
}

static void mfs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[MFS_CONTENTS_LINK_MAX + 1];
	ssize_t ret = mfs_tree_readlink(tree_of(req), ino, buf, sizeof(buf));

	if (ret < 0) {
		fuse_reply_err(req, (int)-ret);
		return;
	}
	fuse_reply_readlink(req, buf);
}

/* size 0 asks for the length, as in listxattr(2). */
static void reply_xattr(fuse_req_t req, char *buf, size_t size, ssize_t ret)
{
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
}

/* The tree's own nodes answer with no attributes rather than ENOSYS,
 * after which the kernel would never ask again, contents/ included. */
static void mfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t ret;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = mfs_tree_listxattr(tree_of(req), ino, buf, size);
	reply_xattr(req, buf, size, ret);
	free(buf);
}

static void mfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t ret;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = mfs_tree_getxattr(tree_of(req), ino, name, buf, size);
	reply_xattr(req, buf, size, ret);
	free(buf);
}

/* Inside contents/, the image's own figures; elsewhere nothing to tell. */
static void mfs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int ret;

	memset(&sv, 0, sizeof(sv));
	ret = mfs_tree_statfs(tree_of(req), ino, &sv);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (ret == 0) {
		fuse_reply_statfs(req, &sv);
		return;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* Everything that would change the tree: the artifact is read-only. */
static void reply_erofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void mfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			   int to_set, struct fuse_file_info *fi)
{
	if (mfs_tree_is_writable(tree_of(req), ino)) {
		mfs_signature_file_setattr(req, ino, attr, to_set);
		return;
	}
	reply_erofs(req);
}

static void mfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, dev_t rdev)
{
	reply_erofs(req);
}

static void mfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode)
{
	reply_erofs(req);
}

static void mfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_erofs(req);
}

static void mfs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			   const char *name)
{
	reply_erofs(req);
}

static void mfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname,
			  unsigned int flags)
{
	reply_erofs(req);
}

static void mfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			const char *newname)
{
	reply_erofs(req);
}

static void mfs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			 size_t size, off_t off, struct fuse_file_info *fi)
{
	if (fi->fh && mfs_tree_is_writable(tree_of(req), ino)) {
		mfs_signature_file_write(req, buf, size, off, fi);
		return;
	}
	reply_erofs(req);
}

static void mfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			  mode_t mode, struct fuse_file_info *fi)
{
	reply_erofs(req);
}

static void mfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	reply_erofs(req);
}

static void mfs_op_removexattr(fuse_req_t req, fuse_ino_t ino,
			       const char *name)
{
	reply_erofs(req);
}

static void mfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			     off_t offset, off_t length,
			     struct fuse_file_info *fi)
{
	reply_erofs(req);
}

const struct fuse_lowlevel_ops mfs_ops = {
	.init = mfs_op_init,
	.lookup = mfs_op_lookup,
	.getattr = mfs_op_getattr,
	.opendir = mfs_op_opendir,
	.readdir = mfs_op_readdir,
	.open = mfs_op_open,
	.read = mfs_op_read,
	.release = mfs_op_release,
	.flush = mfs_op_flush,
	.statfs = mfs_op_statfs,
	.readlink = mfs_op_readlink,
	.listxattr = mfs_op_listxattr,
	.getxattr = mfs_op_getxattr,
	.setattr = mfs_op_setattr,
	.mknod = mfs_op_mknod,
	.mkdir = mfs_op_mkdir,
	.unlink = mfs_op_unlink,
	.rmdir = mfs_op_unlink,
	.symlink = mfs_op_symlink,
	.rename = mfs_op_rename,
	.link = mfs_op_link,
	.write = mfs_op_write,
	.create = mfs_op_create,
	.setxattr = mfs_op_setxattr,
	.removexattr = mfs_op_removexattr,
	.fallocate = mfs_op_fallocate,
};
