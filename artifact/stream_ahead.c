/*
 * Decoding ahead of a sequential reader, on another core.
 *
 * A reader going through a stream in order keeps one cursor decoding, on
 * one core.  When restore points lie ahead of it (after a first pass,
 * from an imported index, from the format's own index), the stretches
 * between them can be decoded independently: a helper thread resumes a
 * decoder of its own at a restore point ahead and decodes the stretch up
 * to the next one into a buffer, while the reader's cursor decodes the
 * stretch it is in.  The helper takes every other stretch and leaves the
 * ones between to the reader, so that both cores decode: the reader
 * copies the helper's stretch from memory, then resumes its cursor at the
 * next restore point for the following one.  The helper starts a stretch
 * while the reader still has two to go, so it is late only when the
 * machine is busy; then a reader that reaches a stretch still being
 * decoded does not wait but decodes it itself, and the helper drops it.
 *
 * Where no restore point lies ahead (a first read of a gzip stream, an xz
 * or zstd stream of one block or frame), there is only one decoder to
 * run, the reader's own cursor at the frontier.  The helper then borrows
 * that cursor while it is idle and runs it ahead into the slots, a chunk
 * at a time; readers copy from the slots (waiting for a chunk still being
 * decoded, which is also what they would wait for without a helper).  The
 * decoding then goes on on one core while the copies to the kernel and
 * the reader go on on the other.
 *
 * Memory stays bounded: AHEAD_SLOTS buffers of at most AHEAD_MAX bytes
 * (longer stretches are left to the reader) and one decoder, held only
 * while a reader is sequential.  The helper quits after AHEAD_IDLE_SEC
 * with nothing to do, and mfs_stream_trim() stops it and frees them.
 * Decoding happens outside the stream's lock, like the cursors'.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "artifact/stream_i.h"

#define AHEAD_SLOTS	6
#define AHEAD_MAX	(4 * 1024 * 1024)
/* Sequential bytes before the helper starts: a few requests in order. */
#define AHEAD_STREAK	(1024 * 1024)
/* A request this close to the furthest one's end still counts as in
 * order: the kernel's readahead sends one reader's requests (up to 1 MiB
 * each) in parallel, and threads take them up out of order. */
#define AHEAD_SLACK	(4 * 1024 * 1024)
/* A slot the reader has passed by this much may be refilled: until then
 * requests still in flight may want it.  A frontier cursor runs at most
 * AHEAD_LEAD past the reader, so the other slots hold what is behind. */
#define AHEAD_KEEP	(3 * 1024 * 1024)
#define AHEAD_LEAD	(2 * 1024 * 1024)
#define AHEAD_IDLE_SEC	1
/* The helper looks up between chunks of this size whether its stretch is
 * still wanted. */
#define AHEAD_CHUNK	(256 * 1024)
/* What the helper decodes with a borrowed frontier cursor per slot. */
#define AHEAD_FRONTIER	(1024 * 1024)
/* The helper's niceness: about a tenth of a normal thread's share of a
 * busy CPU. */
#define AHEAD_NICE	10

enum slot_state {
	SLOT_FREE,
	SLOT_FILLING,		/* the helper is decoding into it */
	SLOT_READY,
};

struct slot {
	enum slot_state state;
	uint64_t start, end;	/* the stretch it holds (not FREE) */
	bool abandoned;		/* FILLING, but a reader got there first */
	struct mfs_cursor *frontier;	/* FILLING with this borrowed reader
					 * cursor; NULL for a stretch */
	bool shared;		/* decoded by a reader cursor: counted in
				 * stats.decoded, not again when served */
	uint8_t *buf;
	size_t capacity;
	unsigned pins;		/* readers copying from it now */
};

struct mfs_ahead {
	pthread_t thread;
	bool started;		/* thread needs joining */
	bool running;		/* thread has not quit yet */
	bool stop;		/* asked to quit */
	bool disabled;		/* a stretch failed: leave it to readers */
	pthread_cond_t wake;	/* to the helper: work may be there */
	pthread_cond_t changed;	/* a slot filled, freed or unpinned */
	uint64_t reader;	/* end of the sequential reader's requests */
	uint64_t streak;	/* bytes it has read in order */
	struct slot slots[AHEAD_SLOTS];
	struct mfs_cursor cursor;
	struct slot *claimed;	/* a frontier chunk claimed for the helper
				 * by a reader returning its cursor */
	uint64_t memory;	/* what slots and cursor hold, as of the
				 * helper's last fill */
};

/* The stretch of restore point j: up to the next one, or to the end. */
static bool stretch(const struct mfs_stream *s, size_t j, uint64_t *start,
		    uint64_t *end)
{
	const struct mfs_checkpoints *cp = &s->checkpoints;

	if (j >= cp->count)
		return false;
	*start = cp->items[j].out;
	if (j + 1 < cp->count)
		*end = cp->items[j + 1].out;
	else if (s->total >= 0 && (uint64_t)s->total > *start)
		*end = (uint64_t)s->total;
	else
		return false;
	return *end - *start <= AHEAD_MAX;
}

/* The index of the restore point at or below off, or -1. */
static long point_below(const struct mfs_checkpoints *cp, uint64_t off)
{
	size_t lo = 0, hi = cp->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp->items[mid].out <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

static struct slot *slot_holding(struct mfs_ahead *a, uint64_t start)
{
	for (size_t i = 0; i < AHEAD_SLOTS; i++)
		if (a->slots[i].state != SLOT_FREE &&
		    a->slots[i].start == start)
			return &a->slots[i];
	return NULL;
}

static bool slot_overlapping(const struct mfs_ahead *a, uint64_t start,
			     uint64_t end)
{
	for (size_t i = 0; i < AHEAD_SLOTS; i++)
		if (a->slots[i].state != SLOT_FREE &&
		    a->slots[i].start < end && start < a->slots[i].end)
			return true;
	return false;
}

/* A slot to fill with the stretch at start: a free one, else a ready one
 * the reader has passed (by AHEAD_KEEP), else one further ahead than
 * start (left from before the reader jumped back). */
static struct slot *slot_spare(struct mfs_ahead *a, uint64_t start)
{
	struct slot *passed = NULL, *beyond = NULL;

	for (size_t i = 0; i < AHEAD_SLOTS; i++) {
		struct slot *sl = &a->slots[i];

		if (sl->state == SLOT_FREE)
			return sl;
		if (sl->state != SLOT_READY || sl->pins)
			continue;
		if (sl->end + AHEAD_KEEP <= a->reader &&
		    (!passed || sl->end < passed->end))
			passed = sl;
		if (sl->start > start && (!beyond || sl->start > beyond->start))
			beyond = sl;
	}
	return passed ? passed : beyond;
}

/* The idle reader cursor at the frontier of the reader's requests, when
 * no restore point lies past it (else the stretches keep two decoders
 * busy); NULL when there is none.  Called with the lock held. */
static struct mfs_cursor *frontier_cursor(struct mfs_stream *s)
{
	const struct mfs_ahead *a = s->ahead;
	const struct mfs_checkpoints *cp = &s->checkpoints;
	uint64_t reach = a->reader + AHEAD_LEAD;
	struct mfs_cursor *best = NULL;

	for (size_t i = 0; i < STREAM_CURSORS; i++) {
		struct mfs_cursor *c = &s->cursors[i];

		if (c->busy || !c->decoder || c->pos == UINT64_MAX ||
		    c->ended)
			continue;
		if (c->pos + AHEAD_SLACK < a->reader || c->pos >= reach)
			continue;
		if (!best || c->pos > best->pos)
			best = c;
	}
	if (best && cp->count && cp->items[cp->count - 1].out > best->pos)
		return NULL;
	return best;
}

/* Claims the frontier cursor and a slot for its next chunk; NULL when
 * there is nothing to do.  Called with the lock held. */
static struct slot *frontier_pick(struct mfs_stream *s)
{
	struct mfs_ahead *a = s->ahead;
	struct mfs_cursor *c = frontier_cursor(s);
	uint64_t end;
	struct slot *sl;

	if (!c)
		return NULL;
	end = c->pos + AHEAD_FRONTIER;
	if (s->total >= 0 && end > (uint64_t)s->total)
		end = (uint64_t)s->total;
	if (end <= c->pos || slot_overlapping(a, c->pos, end))
		return NULL;
	sl = slot_spare(a, c->pos);
	if (!sl)
		return NULL;
	/* Taken as cursor_take() takes it: a request for what it is about
	 * to decode waits for it instead of starting another decoder. */
	c->busy = true;
	c->start = c->pos;
	c->target = end;
	c->last_used = ++s->clock;
	sl->state = SLOT_FILLING;
	sl->abandoned = false;
	sl->frontier = c;
	sl->shared = true;
	sl->start = c->pos;
	sl->end = end;
	return sl;
}

/* Picks the next stretch for the helper and claims a slot for it; NULL
 * when there is nothing to do.  Called with the lock held. */
static struct slot *ahead_pick(struct mfs_stream *s)
{
	struct mfs_ahead *a = s->ahead;
	long mine = point_below(&s->checkpoints, a->reader);
	uint64_t start, end, prev_start, prev_end;
	struct slot *sl;

	if (a->claimed) {
		sl = a->claimed;
		a->claimed = NULL;
		return sl;
	}
	if (a->stop || a->disabled || a->streak < AHEAD_STREAK)
		return NULL;
	/* The reader's stretch and the one after are the reader's; of
	 * those after, every other one, within reach of the slots. */
	for (long j = mine + 2; j <= mine + 2 * AHEAD_SLOTS; j++) {
		if (!stretch(s, (size_t)j, &start, &end) ||
		    slot_holding(a, start) || slot_overlapping(a, start, end))
			continue;
		if (stretch(s, (size_t)(j - 1), &prev_start, &prev_end) &&
		    slot_holding(a, prev_start))
			continue;
		sl = slot_spare(a, start);
		if (!sl)
			return NULL;
		sl->state = SLOT_FILLING;
		sl->abandoned = false;
		sl->frontier = NULL;
		sl->shared = false;
		sl->start = start;
		sl->end = end;
		return sl;
	}
	return frontier_pick(s);
}

/* Decodes the slot's stretch with the helper's cursor, outside the lock.
 * Returns the bytes decoded or a negative errno. */
static ssize_t ahead_fill(struct mfs_stream *s, struct slot *sl)
{
	struct mfs_ahead *a = s->ahead;
	struct mfs_cursor *c = sl->frontier ? sl->frontier : &a->cursor;
	size_t len = (size_t)(sl->end - sl->start), done = 0;
	int ret = 0;

	if (sl->capacity < len) {
		uint8_t *buf = realloc(sl->buf, len);

		if (!buf)
			return -ENOMEM;
		sl->buf = buf;
		sl->capacity = len;
	}
	if (sl->frontier)	/* already where the stretch starts */
		goto decode;
	pthread_mutex_lock(&s->lock);
	ret = mfs_cursor_prepare_restore(s, c, sl->start);
	pthread_mutex_unlock(&s->lock);
	if (ret == 0 && c->restore_out != sl->start)
		ret = -ESTALE;	/* the points changed meanwhile */
	if (ret == 0)
		ret = mfs_cursor_restore(s, c);
	c->restore = false;
	if (ret < 0)
		return ret;
decode:
	while (done < len) {
		size_t step = len - done < AHEAD_CHUNK ? len - done :
							 AHEAD_CHUNK;
		ssize_t n = mfs_cursor_decode(s, c, sl->buf + done, step);
		bool wanted;

		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
		pthread_mutex_lock(&s->lock);
		wanted = !sl->abandoned && !a->stop;
		pthread_mutex_unlock(&s->lock);
		if (!wanted)	/* what a borrowed cursor made is good */
			return sl->frontier ? (ssize_t)done : -ECANCELED;
	}
	return (ssize_t)done;
}

/* Gives the borrowed cursor back after filling sl, as a reader returns
 * one (stream.c).  Called with the lock held. */
static void frontier_return(struct mfs_stream *s, struct slot *sl, ssize_t n)
{
	struct mfs_cursor *c = sl->frontier;

	if (n > 0)
		s->stats.decoded += (uint64_t)n;
	mfs_cursor_return(s, c, n < 0);
	sl->frontier = NULL;
}

static void *ahead_main(void *arg)
{
	struct mfs_stream *s = arg;
	struct mfs_ahead *a = s->ahead;

	/* Work ahead is speculative: on a busy machine it should yield to
	 * readers and to other work (the hashing of a background pass).
	 * Not SCHED_IDLE, which can starve it for long while it holds the
	 * stream's lock, and readers then wait. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), AHEAD_NICE);
	pthread_mutex_lock(&s->lock);
	while (!a->stop) {
		struct slot *sl = ahead_pick(s);
		struct timespec until;
		ssize_t n;

		if (!sl) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += AHEAD_IDLE_SEC;
			if (pthread_cond_timedwait(&a->wake, &s->lock,
						   &until) != ETIMEDOUT)
				continue;
			sl = ahead_pick(s);
			if (!sl)
				break;	/* idle: quit, the reader moved on */
		}
		pthread_mutex_unlock(&s->lock);
		n = ahead_fill(s, sl);
		pthread_mutex_lock(&s->lock);
		if (sl->frontier)
			frontier_return(s, sl, n);
		a->memory = STREAM_INPUT_SIZE + STREAM_DISCARD_SIZE +
			    s->ops->point_max;
		for (size_t i = 0; i < AHEAD_SLOTS; i++)
			a->memory += a->slots[i].capacity;
		if (n > 0) {
			sl->state = SLOT_READY;
			sl->end = sl->start + (uint64_t)n;
			s->stats.ahead_decoded += (uint64_t)n;
		} else {
			sl->state = SLOT_FREE;
			/* A stretch that fails would fail again: the readers
			 * meet the error themselves. */
			if (n < 0 && n != -ESTALE && n != -ECANCELED)
				a->disabled = true;
		}
		pthread_cond_broadcast(&a->changed);
	}
	a->running = false;
	pthread_cond_broadcast(&a->changed);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void mfs_ahead_note(struct mfs_stream *s, uint64_t off, size_t len)
{
	struct mfs_ahead *a = s->ahead;
	const struct mfs_checkpoints *cp = &s->checkpoints;

	if (s->no_ahead)
		return;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return;
		a->cursor.helper = true;
		pthread_cond_init(&a->wake, NULL);
		pthread_cond_init(&a->changed, NULL);
		a->reader = off;
		s->ahead = a;
	}
	if (off + AHEAD_SLACK >= a->reader && off <= a->reader + AHEAD_SLACK) {
		a->streak += len;
	} else {
		a->streak = 0;
	}
	if (off + len > a->reader || a->streak == 0)
		a->reader = off + len;
	if (a->streak < AHEAD_STREAK || a->stop || a->disabled)
		return;
	if (a->running) {
		pthread_cond_signal(&a->wake);
		return;
	}
	/* Nothing ahead to decode: no thread. */
	if ((cp->count == 0 || cp->items[cp->count - 1].out <= a->reader) &&
	    !frontier_cursor(s))
		return;
	if (a->started) {
		/* It quit on its own: it no longer needs the lock. */
		pthread_join(a->thread, NULL);
		a->started = false;
	}
	a->running = true;
	if (pthread_create(&a->thread, NULL, ahead_main, s) != 0) {
		a->running = false;
		a->disabled = true;
		return;
	}
	a->started = true;
}

void mfs_ahead_returned(struct mfs_stream *s)
{
	struct mfs_ahead *a = s->ahead;

	/* The reader's next request is usually on its way already and would
	 * take the cursor back before the helper got the lock: claim the
	 * next chunk for the helper now. */
	if (!a || !a->running || a->stop || a->disabled || a->claimed ||
	    a->streak < AHEAD_STREAK)
		return;
	a->claimed = frontier_pick(s);
	if (a->claimed)
		pthread_cond_signal(&a->wake);
}

size_t mfs_ahead_serve(struct mfs_stream *s, uint8_t *buf, size_t len,
		       uint64_t off)
{
	struct mfs_ahead *a = s->ahead;
	size_t done = 0;

	while (a && done < len) {
		struct slot *sl = NULL;
		size_t n;

		for (size_t i = 0; i < AHEAD_SLOTS; i++) {
			struct slot *t = &a->slots[i];

			if (t->state != SLOT_FREE && t->start <= off &&
			    off < t->end)
				sl = t;
		}
		if (!sl)
			break;
		/* Being decoded by the frontier cursor: nothing else could
		 * decode it sooner. */
		if (sl->state == SLOT_FILLING && sl->frontier) {
			pthread_cond_wait(&a->changed, &s->lock);
			continue;
		}
		/* A stretch still being decoded: the helper is behind (the
		 * machine is busy), so the reader decodes it instead, and
		 * the helper drops it. */
		if (sl->state == SLOT_FILLING) {
			sl->abandoned = true;
			break;
		}
		n = sl->end - off < len - done ? (size_t)(sl->end - off) :
						 len - done;
		sl->pins++;
		pthread_mutex_unlock(&s->lock);
		memcpy(buf + done, sl->buf + (off - sl->start), n);
		pthread_mutex_lock(&s->lock);
		sl->pins--;
		if (!sl->shared)
			s->stats.ahead_served += n;
		done += n;
		off += n;
		/* The helper may want the slot, stop() its buffers. */
		pthread_cond_broadcast(&a->changed);
		pthread_cond_signal(&a->wake);
	}
	return done;
}

void mfs_ahead_stop(struct mfs_stream *s)
{
	struct mfs_ahead *a;
	bool join;

	pthread_mutex_lock(&s->lock);
	a = s->ahead;
	if (!a) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	a->stop = true;
	pthread_cond_broadcast(&a->wake);
	join = a->started;
	a->started = false;
	pthread_mutex_unlock(&s->lock);
	if (join)
		pthread_join(a->thread, NULL);

	pthread_mutex_lock(&s->lock);
	if (a->claimed) {	/* never started: give its cursor back */
		frontier_return(s, a->claimed, 0);
		a->claimed->state = SLOT_FREE;
		a->claimed = NULL;
		pthread_cond_broadcast(&a->changed);
	}
	for (size_t i = 0; i < AHEAD_SLOTS; i++) {
		struct slot *sl = &a->slots[i];

		while (sl->pins)	/* a reader copying from it */
			pthread_cond_wait(&a->changed, &s->lock);
		free(sl->buf);
		memset(sl, 0, sizeof(*sl));
	}
	mfs_cursor_release(s, &a->cursor);
	a->cursor.helper = true;
	a->memory = 0;
	a->streak = 0;
	a->stop = false;
	a->disabled = false;
	pthread_mutex_unlock(&s->lock);
}

void mfs_ahead_free(struct mfs_stream *s)
{
	struct mfs_ahead *a = s->ahead;

	if (!a)
		return;
	mfs_ahead_stop(s);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->changed);
	free(a);
	s->ahead = NULL;
}

void mfs_stream_set_decode_ahead(struct mfs_stream *s, bool on)
{
	pthread_mutex_lock(&s->lock);
	s->no_ahead = !on;
	pthread_mutex_unlock(&s->lock);
	if (!on)
		mfs_ahead_stop(s);
}

uint64_t mfs_ahead_memory(const struct mfs_stream *s)
{
	return s->ahead ? s->ahead->memory : 0;
}
