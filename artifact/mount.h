/*
 * A mounted artifact over its life: the file it was opened from and where
 * a new signature goes (both fixed at start-up), changing the signature,
 * and noticing that the file changed in place behind the mount.  The
 * daemon calls these from its operations; tests call them without FUSE.
 *
 * Every change of the artifact the tree shows goes through here, one at a
 * time, so between mfs_mount_lock() and mfs_mount_unlock() the artifact
 * shown stays the same and open.
 */
#ifndef MFS_MOUNT_H
#define MFS_MOUNT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "artifact/artifact.h"
#include "artifact/rewrite.h"
#include "artifact/tree.h"

struct mfs_mount_hooks {
	/* Called on every artifact the mount opens after the first,
	 * before it is shown: what the daemon gives each one (span cache,
	 * saved index, background pass).  May be NULL. */
	void (*opened)(struct mfs_artifact *a, void *arg);
	void *arg;
};

struct mfs_mount {
	struct mfs_tree *tree;			/* borrowed */
	struct mfs_mount_hooks hooks;
	pthread_mutex_t lock;			/* one change at a time */
	struct mfs_rewrite_place artifact;	/* the mounted file's name */
	struct mfs_rewrite_place output;	/* sign_output's; dfd -1 */
	bool showing_output;			/* the tree shows output */
	/* Counts the artifacts shown, under lock: one who lets the lock
	 * go (a sign_command running) knows on return whether the
	 * artifact it judged is still the one shown. */
	unsigned long generation;

	/* The shown file as it was opened, to notice a change in place;
	 * seen_of says which artifact it belongs to. */
	pthread_mutex_t seen_lock;
	struct stat seen;
	const struct mfs_artifact *seen_of;

	/* require_signature (mfs_mount_require): every artifact shown
	 * after the first must verify with these keys too. */
	bool required;
	const struct mfs_key *const *required_keys;	/* borrowed */
	size_t required_count;
	/* The state of a file changed in place that the rule refused, so
	 * that requests are answered at once until it changes again. */
	bool has_refused;
	struct stat refused;
};

/* t shows the artifact opened from artifact_path.  sign_output (NULL:
 * sign in place) must be in a directory that exists and is writable, and
 * must not be a symlink.  Removes what an interrupted rewrite left.
 * Returns 0, or a negative errno with the reason in err. */
int mfs_mount_init(struct mfs_mount *m, struct mfs_tree *t,
		   const char *artifact_path, const char *sign_output,
		   const struct mfs_mount_hooks *hooks, char *err,
		   size_t errlen);
void mfs_mount_destroy(struct mfs_mount *m);

/* From now on, as -o require_signature asks: a file changed in place is
 * shown only if it verifies with keys (which must outlive the mount),
 * with nothing unsigned in it; and the signature is never removed.  The
 * artifact shown now has been judged so by the caller. */
void mfs_mount_require(struct mfs_mount *m, const struct mfs_key *const *keys,
		       size_t count);

/* Whether a verifies with keys and holds nothing the signature does not
 * cover (no augmented parts): 0, or -EACCES with the reason in err. */
int mfs_mount_judge_required(struct mfs_artifact *a,
			     const struct mfs_key *const *keys, size_t count,
			     char *err, size_t errlen);

/* Takes the change lock; returns the artifact shown, which stays until
 * mfs_mount_unlock(). */
struct mfs_artifact *mfs_mount_lock(struct mfs_mount *m);
void mfs_mount_unlock(struct mfs_mount *m);

/* Whether the artifact shown (a, under the lock) may be given a new
 * signature: -EROFS for a version 2 artifact, -EBADMSG when it is
 * malformed or fails its own checksums (the reason in err), else 0.
 * Reads every payload (the background pass's digests when it has them). */
int mfs_mount_signable(struct mfs_mount *m, struct mfs_artifact *a,
		       char *err, size_t errlen);

/* Under the lock: rewrites the artifact shown so that manifest.sig holds
 * sig (len 0: no manifest.sig), in place or to sign_output, then shows
 * the new file, opened from what was written.  Returns 0, -ESTALE when
 * the target's name no longer holds the file mounted (nothing touched),
 * -EPERM for a removal under mfs_mount_require(), or another negative
 * errno; the reason is in err. */
int mfs_mount_set_signature(struct mfs_mount *m, const char *sig,
			    size_t len, char *err, size_t errlen);

/* True when the file shown has changed (size, mtime or ctime) since it
 * was opened: cheap, for every open and readdir. */
bool mfs_mount_changed(struct mfs_mount *m);

/* When the file shown changed in place, opens it again and shows the new
 * artifact in a tree of fresh inodes (what was open reads EIO); forget
 * is called with each name the root showed before, for the kernel to
 * drop.  Returns 0 (unchanged), 1 (the tree was replaced), or a negative
 * errno with the reason in err: the new bytes are not an artifact (the
 * old tree stays, and the next call tries again), or -EACCES when
 * mfs_mount_require() refuses them (err is empty when it was said
 * before: the refusal stands until the file changes again).  After a
 * failure the caller must serve nothing from the tree. */
int mfs_mount_refresh(struct mfs_mount *m,
		      void (*forget)(const char *name, void *arg), void *arg,
		      char *err, size_t errlen);

#endif
