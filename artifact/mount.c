/*
 * A mounted artifact over its life (mount.h).
 *
 * The places a rewrite may write are fixed at start-up: the directory of
 * the mounted file (its links resolved then, once) and of sign_output.
 * After that nothing is resolved by name again.  The file the tree shows
 * is always known by its descriptor: a rewrite hands back the descriptor
 * it wrote, and that is what is opened and shown, so whoever replaces the
 * name right after the rename decides nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifact/mount.h"
#include "artifact/verify.h"

static void note_seen(struct mfs_mount *m, const struct mfs_artifact *a)
{
	struct stat st;

	if (fstat(a->fd, &st) < 0)
		memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&m->seen_lock);
	m->seen = st;
	m->seen_of = a;
	pthread_mutex_unlock(&m->seen_lock);
}

/* Whether the file in state now still holds the bytes it held in state
 * seen.  A write changes the ctime even when the mtime is set back; so
 * does moving another file over the name, which unlinks the file mounted
 * and is no change of its bytes.  Only that last unlink is let through: a
 * link count that merely moved (ln, rm of a second name) may come with a
 * write whose mtime was set back, and is taken as a change. */
static bool same_file_state(const struct stat *now, const struct stat *seen)
{
	if (now->st_size != seen->st_size ||
	    now->st_mtim.tv_sec != seen->st_mtim.tv_sec ||
	    now->st_mtim.tv_nsec != seen->st_mtim.tv_nsec)
		return false;
	if (now->st_ctim.tv_sec == seen->st_ctim.tv_sec &&
	    now->st_ctim.tv_nsec == seen->st_ctim.tv_nsec)
		return true;
	return now->st_nlink == 0 && seen->st_nlink != 0;
}

/* The output's directory exists and may be written, and the name is not
 * a symlink (the rewrite would refuse it anyway; say so now). */
static int check_output(const struct mfs_rewrite_place *p, char *err,
			size_t errlen)
{
	struct stat st;

	if (faccessat(p->dfd, ".", W_OK, AT_EACCESS) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot write to directory %s: %s",
			 p->dir, strerror(e));
		return -e;
	}
	if (fstatat(p->dfd, p->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s/%s is %s, not a regular file",
			 p->dir, p->name, S_ISLNK(st.st_mode) ? "a symlink" :
			 "something else");
		return -EINVAL;
	}
	return 0;
}

int mfs_mount_init(struct mfs_mount *m, struct mfs_tree *t,
		   const char *artifact_path, const char *sign_output,
		   const struct mfs_mount_hooks *hooks, char *err,
		   size_t errlen)
{
	struct mfs_artifact *a;
	char *real = NULL;
	int ret;

	memset(m, 0, sizeof(*m));
	m->tree = t;
	m->artifact.dfd = m->output.dfd = -1;
	if (hooks)
		m->hooks = *hooks;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->seen_lock, NULL);

	/* The one time a link is followed: the file the user named is the
	 * one mounted, and its directory is where a rewrite goes. */
	real = realpath(artifact_path, NULL);
	if (!real) {
		ret = -errno;
		snprintf(err, errlen, "cannot resolve %s: %s", artifact_path,
			 strerror(-ret));
		goto out;
	}
	ret = mfs_rewrite_place_open(real, &m->artifact, err, errlen);
	if (ret == 0 && sign_output) {
		ret = mfs_rewrite_place_open(sign_output, &m->output, err,
					     errlen);
		if (ret == 0)
			ret = check_output(&m->output, err, errlen);
	}
	if (ret < 0)
		goto out;
	mfs_rewrite_cleanup(sign_output ? &m->output : &m->artifact);
	a = mfs_tree_pin(t, NULL);
	mfs_tree_unpin(t);
	note_seen(m, a);
out:
	free(real);
	if (ret < 0)
		mfs_mount_destroy(m);
	return ret;
}

void mfs_mount_destroy(struct mfs_mount *m)
{
	mfs_rewrite_place_close(&m->output);
	mfs_rewrite_place_close(&m->artifact);
	pthread_mutex_destroy(&m->seen_lock);
	pthread_mutex_destroy(&m->lock);
}

/* The artifact shown.  Only the mount swaps it, under m->lock, so a
 * caller holding that lock may use it after the pin is dropped. */
static struct mfs_artifact *shown(struct mfs_mount *m)
{
	struct mfs_artifact *a = mfs_tree_pin(m->tree, NULL);

	mfs_tree_unpin(m->tree);
	return a;
}

struct mfs_artifact *mfs_mount_lock(struct mfs_mount *m)
{
	pthread_mutex_lock(&m->lock);
	return shown(m);
}

void mfs_mount_unlock(struct mfs_mount *m)
{
	pthread_mutex_unlock(&m->lock);
}

int mfs_mount_signable(struct mfs_mount *m, struct mfs_artifact *a,
		       char *err, size_t errlen)
{
	struct mfs_verification v;
	int ret;

	(void)m;
	if (a->version == 2) {
		snprintf(err, errlen, "a version 2 artifact is read-only");
		return -EROFS;
	}
	/* No keys: only what the artifact says of itself counts here. */
	ret = mfs_verify_artifact(a, NULL, 0, &v);
	if (ret < 0) {
		snprintf(err, errlen, "cannot verify it: %s", strerror(-ret));
		return ret;
	}
	if (v.status == MFS_STATUS_MALFORMED ||
	    v.status == MFS_STATUS_CHECKSUM_MISMATCH) {
		snprintf(err, errlen, "refusing to sign an artifact that is "
			 "%s: %s", mfs_status_word(v.status), v.reason);
		ret = -EBADMSG;
	}
	mfs_verification_destroy(&v);
	return ret;
}

void mfs_mount_require(struct mfs_mount *m, const struct mfs_key *const *keys,
		       size_t count)
{
	m->required = true;
	m->required_keys = keys;
	m->required_count = count;
}

int mfs_mount_judge_required(struct mfs_artifact *a,
			     const struct mfs_key *const *keys, size_t count,
			     char *err, size_t errlen)
{
	struct mfs_verification v;
	int ret;

	ret = mfs_verify_artifact(a, keys, count, &v);
	if (ret < 0) {
		snprintf(err, errlen, "cannot verify it: %s", strerror(-ret));
		return ret;
	}
	if (v.status != MFS_STATUS_VERIFIED) {
		snprintf(err, errlen, "%s: %s", mfs_status_word(v.status),
			 v.reason);
		ret = -EACCES;
	} else if (v.augmented) {
		/* A device would install it, but the tree would show bytes
		 * that no signature covers. */
		snprintf(err, errlen, "verified, but manifest-augment and "
			 "what it lists are not signed");
		ret = -EACCES;
	}
	mfs_verification_destroy(&v);
	return ret;
}

int mfs_mount_set_signature(struct mfs_mount *m, const char *sig,
			    size_t len, char *err, size_t errlen)
{
	const struct mfs_rewrite_place *place;
	struct mfs_artifact *a = shown(m), *fresh = NULL, *old = NULL;
	struct stat mounted;
	char name[PATH_MAX + NAME_MAX + 2];
	bool to_output = m->output.dfd >= 0;
	int fd = -1, ret;

	if (m->required && len == 0) {
		snprintf(err, errlen, "require_signature: the signature "
			 "stays");
		return -EPERM;
	}
	place = to_output ? &m->output : &m->artifact;
	if (fstat(a->fd, &mounted) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot stat the artifact: %s",
			 strerror(-ret));
		return ret;
	}
	/* Written in place since it was shown (the ctime says so even with
	 * the size and mtime kept): what was judged is not what would be
	 * copied.  The next request shows the new bytes; sign those. */
	if (mfs_mount_changed(m)) {
		snprintf(err, errlen, "the artifact changed on disk since it "
			 "was shown");
		return -ESTALE;
	}
	/* In place, the name must still hold the file mounted.  An output
	 * written before is the file shown now, and the same holds; the
	 * first time, whatever regular file is there is replaced. */
	ret = mfs_rewrite_signature(a, sig, len, place,
				    !to_output || m->showing_output ?
				    &mounted : NULL, &fd, err, errlen);
	if (ret < 0)
		return ret;
	snprintf(name, sizeof(name), "%s/%s", place->dir, place->name);
	ret = mfs_artifact_open_fd(fd, name, &fresh, err, errlen);
	if (ret < 0)
		return -EIO;
	if (m->hooks.opened)
		m->hooks.opened(fresh, m->hooks.arg);
	ret = mfs_tree_swap(m->tree, fresh, &old);
	if (ret < 0) {
		snprintf(err, errlen, "the rewritten file differs from the "
			 "artifact in more than manifest.sig; not shown");
		mfs_artifact_close(fresh);
		return ret;
	}
	note_seen(m, fresh);
	m->showing_output = to_output;
	m->generation++;
	mfs_artifact_close(old);
	return 0;
}

bool mfs_mount_changed(struct mfs_mount *m)
{
	struct mfs_artifact *a = mfs_tree_pin(m->tree, NULL);
	struct stat st;
	bool changed = false;

	if (fstat(a->fd, &st) == 0) {
		pthread_mutex_lock(&m->seen_lock);
		/* Mid-swap the two disagree: the swapper knows best. */
		changed = m->seen_of == a && !same_file_state(&st, &m->seen);
		if (m->seen_of == a && !changed)
			m->seen = st;	/* a new link count, say */
		pthread_mutex_unlock(&m->seen_lock);
	}
	mfs_tree_unpin(m->tree);
	return changed;
}

/* The names the root shows now, for the kernel to forget after a
 * replace.  NULL-terminated; NULL without memory. */
static char **root_names(struct mfs_tree *t)
{
	char name[NAME_MAX + 1], **names = NULL, **grown;
	size_t count = 0;
	uint64_t ino;
	mode_t type;

	for (size_t i = 0;; i++) {
		grown = realloc(names, (count + 2) * sizeof(*names));
		if (!grown)
			break;
		names = grown;
		names[count] = NULL;
		if (mfs_tree_child(t, MFS_TREE_ROOT, i, &ino, &type, name) <= 0)
			return names;
		names[count] = strdup(name);
		if (!names[count])
			break;
		names[++count] = NULL;
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return NULL;
}

int mfs_mount_refresh(struct mfs_mount *m,
		      void (*forget)(const char *name, void *arg), void *arg,
		      char *err, size_t errlen)
{
	struct mfs_artifact *a, *fresh = NULL, *old = NULL;
	char **names = NULL;
	struct stat st;
	int fd, ret;

	if (!mfs_mount_changed(m))
		return 0;
	a = mfs_mount_lock(m);
	/* Again under the lock: a signing may have just shown its file. */
	if (!mfs_mount_changed(m)) {
		ret = 0;
		goto out;
	}
	/* The same file, by its descriptor: a file moved over the name is
	 * not the one mounted. */
	fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(-ret));
		goto out;
	}
	/* Refused before, and not changed since: no need to read it all
	 * again for each request. */
	if (m->has_refused && fstat(a->fd, &st) == 0 &&
	    same_file_state(&st, &m->refused)) {
		close(fd);
		err[0] = '\0';
		ret = -EACCES;
		goto out;
	}
	ret = mfs_artifact_open_fd(fd, a->path, &fresh, err, errlen);
	if (ret < 0)
		goto out;
	if (m->required) {
		ret = mfs_mount_judge_required(fresh, m->required_keys,
					       m->required_count, err, errlen);
		if (ret < 0) {
			m->has_refused = fstat(fresh->fd, &m->refused) == 0;
			mfs_artifact_close(fresh);
			if (ret != -ENOMEM)
				ret = -EACCES;
			goto out;
		}
	}
	if (m->hooks.opened)
		m->hooks.opened(fresh, m->hooks.arg);
	names = root_names(m->tree);
	ret = mfs_tree_replace(m->tree, fresh, &old);
	note_seen(m, fresh);
	m->generation++;
	mfs_artifact_close(old);
	if (ret < 0)
		snprintf(err, errlen, "showing the new artifact: %s",
			 strerror(-ret));
	else
		ret = 1;
out:
	mfs_mount_unlock(m);
	/* After the lock: the kernel may make forget wait for requests
	 * that are themselves waiting for the lock. */
	for (size_t i = 0; names && names[i]; i++) {
		if (forget)
			forget(names[i], arg);
		free(names[i]);
	}
	free(names);
	return ret;
}
