/*
 * The verification report of the artifact's current state, computed once
 * and shared.  The first reader computes it (in its own thread, so other
 * requests go on); readers arriving meanwhile wait for that result
 * instead of starting another pass.  Each reader holds a reference to the
 * report it got, so a report replaced after a change stays valid for
 * whoever still reads it.
 */
#ifndef MFS_VERIFY_CACHE_H
#define MFS_VERIFY_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "artifact/tree.h"
#include "artifact/verify.h"

struct mfs_report {
	int refs;		/* guarded by the cache's lock */
	uint64_t generation;	/* of the tree's artifact it describes */
	enum mfs_status status;
	char reason[MFS_ERR_LEN];
	bool has_unsigned;	/* augmented: parts no signature covers */
	char *text;
	size_t len;
	/* Every report alive, in the cache's list: open .verify files
	 * whose release the kernel never sent when the mount went away
	 * still hold theirs, and destroy frees them. */
	struct mfs_report *prev, *next;
};

struct mfs_verify_cache {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct mfs_tree *tree;
	const struct mfs_key *const *keys;
	size_t key_count;
	struct mfs_report *current;	/* NULL until computed */
	struct mfs_report *alive;	/* every report not yet freed */
	bool computing;
};

void mfs_verify_cache_init(struct mfs_verify_cache *c, struct mfs_tree *t,
			   const struct mfs_key *const *keys, size_t key_count);
void mfs_verify_cache_destroy(struct mfs_verify_cache *c);

/* The report on the artifact the tree shows now, computing it if there
 * is none or the artifact was swapped since; release with
 * mfs_verify_cache_put.  Returns 0 or a negative errno. */
int mfs_verify_cache_get(struct mfs_verify_cache *c, struct mfs_report **out);
void mfs_verify_cache_put(struct mfs_verify_cache *c, struct mfs_report *r);

/* The current report's length, or -1 while none is computed. */
long long mfs_verify_cache_size(struct mfs_verify_cache *c);

#endif
