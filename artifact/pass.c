/*
 * The one pass over a payload (pass.h).  Entry by entry, it asks the
 * payload's shared walker for the next entry (the walker reads the tar
 * header right where the last entry's data ended) and then reads the
 * entry's bytes through the stream in order, so a single decoder runs
 * from the start of the stream to its end.  Decoded buffers go to a
 * hashing thread (hash_pipe.h): decoding and SHA-256 run on two cores.
 *
 * The background thread runs at a lower priority than the request
 * threads, so readers get the CPU first; its niceness is inherited by the
 * hashing thread it starts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "artifact/hash_pipe.h"
#include "artifact/index_file.h"
#include "artifact/pass.h"

/* Niceness of the background pass: behind the readers, not starved. */
#define PASS_NICE 10
/* The background pass waits until users have not read the payload for
 * this long, checking every PASS_YIELD_POLL. */
#define PASS_YIELD_NS	(300 * 1000 * 1000ull)
#define PASS_YIELD_POLL	(50 * 1000 * 1000L)

/* True on the background pass's threads (not when verification runs a
 * pass itself: then a user is waiting for it). */
static _Thread_local bool in_background;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mfs_payload_note_read(struct mfs_payload *p)
{
	atomic_store_explicit(&p->last_read, now_ns(), memory_order_relaxed);
}

/* In the background, waits while users read p: they get the CPU, and
 * the checkpoints they leave let the pass resume cheaply.  Not while a
 * user waits for the pass itself (.verify). */
static void step_aside(struct mfs_artifact *a, struct mfs_payload *p)
{
	const struct timespec poll = { 0, PASS_YIELD_POLL };

	while (in_background && !atomic_load(&a->pass_cancel) &&
	       !atomic_load(&p->pass_waiters) &&
	       now_ns() - atomic_load_explicit(&p->last_read,
					       memory_order_relaxed) <
	       PASS_YIELD_NS)
		nanosleep(&poll, NULL);
}

/* Files a digest the hashing thread finished (tag: entry index). */
static void digest_done(void *arg, uint64_t tag, const uint8_t *sha256)
{
	struct mfs_payload *p = arg;

	pthread_mutex_lock(&p->lock);
	if (sha256)
		memcpy(p->digests[tag].sha256, sha256, 32);
	p->digests[tag].done = sha256 != NULL;
	pthread_mutex_unlock(&p->lock);
}

/* Sends entry e's bytes, read through the stream at its offset (what the
 * tree serves for it), to the hashing thread.  Returns 0, -EIO when the
 * data is truncated or corrupt, -ECANCELED, or another negative errno. */
static int feed_entry(struct mfs_artifact *a, struct mfs_payload *p,
		      struct mfs_hash_pipe *pipe, const struct mfs_entry *e)
{
	uint64_t done = 0;

	while (done < e->size) {
		uint64_t left = e->size - done;
		size_t want = left < MFS_HASH_PIPE_BUFFER ?
			      (size_t)left : MFS_HASH_PIPE_BUFFER;
		uint8_t *buf;
		ssize_t n;

		step_aside(a, p);
		buf = mfs_hash_pipe_buffer(pipe);
		n = mfs_stream_pread(p->stream, buf, want, e->offset + done);

		if (n <= 0) {
			mfs_hash_pipe_submit(pipe, buf, 0);
			return n == 0 ? -EIO : (int)n;
		}
		mfs_hash_pipe_submit(pipe, buf, (size_t)n);
		done += (uint64_t)n;
		if (atomic_load(&a->pass_cancel))
			return -ECANCELED;
	}
	return 0;
}

/* An entry table loaded from an index file is trusted for reading, not
 * for verifying: the file is keyed by the artifact's size and mtime, which
 * a rewrite can keep, and a renamed or retyped tar entry changes neither
 * nor the manifest.  So the pass reads the tar's headers again as it goes
 * (they sit between the data it decodes anyway) and compares.  Returns 1,
 * 0 at the end, or a negative errno; a difference is the tar's fault:
 * the walk is marked broken. */
static int recheck_entry(struct mfs_payload *p, struct mfs_inner *fresh,
			 int walked, const struct mfs_entry *e, size_t i)
{
	struct mfs_entry f = { 0 };
	int ret = mfs_inner_next(fresh, &f);
	bool same = ret == walked &&
		    (ret != 1 || (strcmp(f.name, e->name) == 0 &&
				  f.offset == e->offset && f.size == e->size &&
				  f.mode == e->mode));

	if (ret == 1)
		mfs_entry_destroy(&f);
	if (ret == -ENOMEM)
		return ret;
	if (same)
		return walked;
	pthread_mutex_lock(&p->lock);
	p->walk_error = -EINVAL;
	snprintf(p->walk_message, sizeof(p->walk_message),
		 "entry %zu is not what the saved index says (%s)", i,
		 ret < 0 ? mfs_inner_error(fresh) : "the file changed since");
	pthread_mutex_unlock(&p->lock);
	return -EINVAL;
}

static int run_pass(struct mfs_artifact *a, struct mfs_payload *p)
{
	struct mfs_hash_pipe *pipe;
	struct mfs_inner *fresh = NULL;
	struct mfs_entry e;
	bool loaded;
	int ret;

	pthread_mutex_lock(&p->lock);
	loaded = p->walk_loaded;
	pthread_mutex_unlock(&p->lock);
	if (loaded && (ret = mfs_inner_open(p->stream, &fresh)) < 0)
		return ret;
	ret = mfs_hash_pipe_start(digest_done, p, &pipe);
	if (ret < 0) {
		mfs_inner_close(fresh);
		return ret;
	}
	for (size_t i = 0;; i++) {
		ret = mfs_payload_walk_to(p, i, &e);
		if (fresh && ret >= 0)
			ret = recheck_entry(p, fresh, ret, &e, i);
		if (ret == -ENOMEM)
			break;
		if (ret <= 0) {
			ret = 0;	/* the end, or a break walk_error tells */
			break;
		}
		if (S_ISREG(e.mode)) {
			ret = feed_entry(a, p, pipe, &e);
			if (ret == -EIO) {
				pthread_mutex_lock(&p->lock);
				p->pass_error = -EIO;
				p->pass_error_entry = i;
				pthread_mutex_unlock(&p->lock);
				ret = 0;
				break;
			}
			if (ret < 0)
				break;
			mfs_hash_pipe_finish(pipe, i);
		}
		if (atomic_load(&a->pass_cancel)) {
			ret = -ECANCELED;
			break;
		}
	}
	mfs_hash_pipe_stop(pipe);	/* every digest filed */
	if (fresh && ret == 0) {
		pthread_mutex_lock(&p->lock);
		p->walk_loaded = false;	/* read again, or found broken */
		pthread_mutex_unlock(&p->lock);
	}
	mfs_inner_close(fresh);
	return ret;
}

int mfs_payload_pass(struct mfs_artifact *a, size_t i)
{
	struct mfs_payload *p = &a->payloads[i];
	int ret;

	pthread_mutex_lock(&p->lock);
	if (p->pass_state == MFS_PASS_RUNNING) {
		/* Running in the background: no longer stepping aside. */
		atomic_fetch_add(&p->pass_waiters, 1);
		while (p->pass_state == MFS_PASS_RUNNING)
			pthread_cond_wait(&p->pass_changed, &p->lock);
		atomic_fetch_sub(&p->pass_waiters, 1);
	}
	if (p->pass_state == MFS_PASS_DONE) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	p->pass_state = MFS_PASS_RUNNING;
	p->pass_error = 0;
	p->pass_error_entry = 0;
	pthread_mutex_unlock(&p->lock);

	ret = run_pass(a, p);

	pthread_mutex_lock(&p->lock);
	/* A pass that could not finish is not done: whoever needs it next
	 * runs it again. */
	p->pass_state = ret < 0 ? MFS_PASS_IDLE : MFS_PASS_DONE;
	pthread_cond_broadcast(&p->pass_changed);
	pthread_mutex_unlock(&p->lock);
	if (ret == 0)
		mfs_stream_trim(p->stream);	/* nobody may read it soon */
	return ret;
}

bool mfs_pass_all_done(struct mfs_artifact *a)
{
	bool done = true;

	for (size_t i = 0; i < a->payload_count && done; i++) {
		struct mfs_payload *p = &a->payloads[i];

		pthread_mutex_lock(&p->lock);
		done = p->pass_state == MFS_PASS_DONE;
		pthread_mutex_unlock(&p->lock);
	}
	return done;
}

static void *pass_thread(void *arg)
{
	struct mfs_artifact *a = arg;

	/* Linux keeps niceness per thread: this lowers only the pass (and
	 * the hashing thread it starts).  Failing only costs priority. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PASS_NICE);
	in_background = true;
	for (size_t i = 0; i < a->payload_count; i++)
		if (mfs_payload_pass(a, i) == -ECANCELED)
			return NULL;
	if (a->index_dir)
		(void)mfs_index_file_save(a, a->index_dir);
	return NULL;
}

int mfs_pass_start(struct mfs_artifact *a, const char *index_dir)
{
	int ret;

	if (a->pass_started)
		return 0;
	if (index_dir) {
		a->index_dir = strdup(index_dir);
		if (!a->index_dir)
			return -ENOMEM;
	}
	ret = pthread_create(&a->pass_thread, NULL, pass_thread, a);
	if (ret != 0)
		return -ret;
	a->pass_started = true;
	return 0;
}

void mfs_pass_stop(struct mfs_artifact *a)
{
	if (!a->pass_started)
		return;
	atomic_store(&a->pass_cancel, true);
	pthread_join(a->pass_thread, NULL);
	a->pass_started = false;
}
