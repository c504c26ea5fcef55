/*
 * The hashing thread behind mfs_hash_pipe: a ring of HASH_PIPE_SLOTS
 * buffers, each either free, or queued with bytes or an end-of-digest
 * mark.  One producer, one consumer, one lock; the lock is never held
 * while hashing.  A few slots suffice: they only have to cover the jitter
 * between decoding and hashing, which run at similar speeds.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "artifact/hash_pipe.h"

#define HASH_PIPE_SLOTS 4

struct slot {
	uint8_t *buf;
	size_t len;
	bool finish;		/* an end-of-digest mark, not bytes */
	uint64_t tag;
};

struct mfs_hash_pipe {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct slot queue[HASH_PIPE_SLOTS + 1];	/* + 1: room for a mark */
	size_t head, count;			/* ring of queued slots */
	uint8_t *free_bufs[HASH_PIPE_SLOTS];
	size_t free_count;
	bool stopping;
	mfs_hash_done_fn done;
	void *arg;
};

#define QUEUE_LEN (HASH_PIPE_SLOTS + 1)

static void *hash_thread(void *arg)
{
	struct mfs_hash_pipe *p = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool started = false, failed = !ctx;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct slot s;

		while (p->count == 0 && !p->stopping)
			pthread_cond_wait(&p->changed, &p->lock);
		if (p->count == 0)
			break;
		s = p->queue[p->head];
		pthread_mutex_unlock(&p->lock);

		if (!started && !failed)
			failed = !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		started = true;
		if (s.finish) {
			uint8_t md[EVP_MAX_MD_SIZE];

			failed = failed || !EVP_DigestFinal_ex(ctx, md, NULL);
			p->done(p->arg, s.tag, failed ? NULL : md);
			started = false;
			failed = !ctx;
		} else if (!failed) {
			failed = !EVP_DigestUpdate(ctx, s.buf, s.len);
		}

		pthread_mutex_lock(&p->lock);
		p->head = (p->head + 1) % QUEUE_LEN;
		p->count--;
		if (!s.finish)
			p->free_bufs[p->free_count++] = s.buf;
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->lock);
	EVP_MD_CTX_free(ctx);
	return NULL;
}

int mfs_hash_pipe_start(mfs_hash_done_fn done, void *arg,
			struct mfs_hash_pipe **out)
{
	struct mfs_hash_pipe *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	for (; p->free_count < HASH_PIPE_SLOTS; p->free_count++) {
		p->free_bufs[p->free_count] = malloc(MFS_HASH_PIPE_BUFFER);
		if (!p->free_bufs[p->free_count])
			goto nomem;
	}
	p->done = done;
	p->arg = arg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	ret = pthread_create(&p->thread, NULL, hash_thread, p);
	if (ret != 0) {
		pthread_cond_destroy(&p->changed);
		pthread_mutex_destroy(&p->lock);
		for (size_t i = 0; i < p->free_count; i++)
			free(p->free_bufs[i]);
		free(p);
		return -ret;
	}
	*out = p;
	return 0;
nomem:
	for (size_t i = 0; i < p->free_count; i++)
		free(p->free_bufs[i]);
	free(p);
	return -ENOMEM;
}

uint8_t *mfs_hash_pipe_buffer(struct mfs_hash_pipe *p)
{
	uint8_t *buf;

	pthread_mutex_lock(&p->lock);
	while (p->free_count == 0)
		pthread_cond_wait(&p->changed, &p->lock);
	buf = p->free_bufs[--p->free_count];
	pthread_mutex_unlock(&p->lock);
	return buf;
}

static void enqueue(struct mfs_hash_pipe *p, struct slot s)
{
	pthread_mutex_lock(&p->lock);
	/* Every buffer is free or queued, so only marks can fill the ring:
	 * wait for the consumer when they have. */
	while (p->count == QUEUE_LEN)
		pthread_cond_wait(&p->changed, &p->lock);
	p->queue[(p->head + p->count) % QUEUE_LEN] = s;
	p->count++;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

void mfs_hash_pipe_submit(struct mfs_hash_pipe *p, uint8_t *buf, size_t len)
{
	if (len == 0) {
		pthread_mutex_lock(&p->lock);
		p->free_bufs[p->free_count++] = buf;
		pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->lock);
		return;
	}
	enqueue(p, (struct slot){ .buf = buf, .len = len });
}

void mfs_hash_pipe_finish(struct mfs_hash_pipe *p, uint64_t tag)
{
	enqueue(p, (struct slot){ .finish = true, .tag = tag });
}

void mfs_hash_pipe_stop(struct mfs_hash_pipe *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	for (size_t i = 0; i < p->free_count; i++)
		free(p->free_bufs[i]);
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
