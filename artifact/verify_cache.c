/* The verification report, computed once per artifact state and shared. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/verify_cache.h"

void mfs_verify_cache_init(struct mfs_verify_cache *c, struct mfs_tree *t,
			   const struct mfs_key *const *keys, size_t key_count)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->done, NULL);
	c->tree = t;
	c->keys = keys;
	c->key_count = key_count;
}

static void report_free(struct mfs_report *r)
{
	if (!r)
		return;
	free(r->text);
	free(r);
}

/* Called with the lock held. */
static void report_link(struct mfs_verify_cache *c, struct mfs_report *r)
{
	r->prev = NULL;
	r->next = c->alive;
	if (c->alive)
		c->alive->prev = r;
	c->alive = r;
}

/* Called with the lock held; the caller frees r. */
static void report_unlink(struct mfs_verify_cache *c, struct mfs_report *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		c->alive = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

void mfs_verify_cache_destroy(struct mfs_verify_cache *c)
{
	/* No request runs any more: whatever is still referenced belongs
	 * to file handles the kernel dropped without a release. */
	while (c->alive) {
		struct mfs_report *r = c->alive;

		report_unlink(c, r);
		report_free(r);
	}
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->lock);
}

static int compute(struct mfs_verify_cache *c, struct mfs_report **out)
{
	struct mfs_verification v;
	struct mfs_report *r = calloc(1, sizeof(*r));
	struct mfs_artifact *a;
	int ret;

	if (!r)
		return -ENOMEM;
	/* Pinned: a signing waits for this pass rather than closing the
	 * artifact under it. */
	a = mfs_tree_pin(c->tree, &r->generation);
	ret = mfs_verify_artifact(a, c->keys, c->key_count, &v);
	if (ret < 0) {
		mfs_tree_unpin(c->tree);
		free(r);
		return ret;
	}
	/* While pinned: the verification borrows the artifact's names. */
	ret = mfs_verification_report(&v, &r->text, &r->len);
	mfs_tree_unpin(c->tree);
	r->status = v.status;
	r->has_unsigned = v.augmented;
	snprintf(r->reason, sizeof(r->reason), "%s", v.reason);
	mfs_verification_destroy(&v);
	if (ret < 0) {
		free(r);
		return ret;
	}
	r->refs = 1;
	*out = r;
	return 0;
}

int mfs_verify_cache_get(struct mfs_verify_cache *c, struct mfs_report **out)
{
	uint64_t generation = mfs_tree_generation(c->tree);
	struct mfs_report *r = NULL;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	while (c->computing)
		pthread_cond_wait(&c->done, &c->lock);
	if (c->current && c->current->generation != generation) {
		if (--c->current->refs == 0) {
			report_unlink(c, c->current);
			report_free(c->current);
		}
		c->current = NULL;
	}
	if (!c->current) {
		c->computing = true;
		pthread_mutex_unlock(&c->lock);
		ret = compute(c, &r);
		pthread_mutex_lock(&c->lock);
		c->computing = false;
		if (ret == 0) {
			report_link(c, r);
			c->current = r;
			r->refs++;
		}
		pthread_cond_broadcast(&c->done);
	} else {
		r = c->current;
		r->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	if (ret == 0)
		*out = r;
	return ret;
}

void mfs_verify_cache_put(struct mfs_verify_cache *c, struct mfs_report *r)
{
	bool last;

	if (!r)
		return;
	pthread_mutex_lock(&c->lock);
	last = --r->refs == 0;
	if (last)
		report_unlink(c, r);
	pthread_mutex_unlock(&c->lock);
	if (last)
		report_free(r);
}

long long mfs_verify_cache_size(struct mfs_verify_cache *c)
{
	long long size;

	pthread_mutex_lock(&c->lock);
	size = c->current ? (long long)c->current->len : -1;
	pthread_mutex_unlock(&c->lock);
	return size;
}

