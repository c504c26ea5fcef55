/*
 * A seekable view of a compressed byte range, served by a small pool of
 * positioned decoders ("cursors").
 *
 * A request takes the idle cursor closest below its offset, decodes
 * forward to the offset (discarding), then into the caller's buffer.  A
 * sequential reader therefore continues one live decoder, parallel
 * readers each keep their own, and only a read behind every cursor
 * restarts one from the start of the range.  Each cursor remembers the
 * last STREAM_HISTORY bytes it produced, because the kernel's readahead
 * sends one reader's requests in parallel and slightly out of order: the
 * one that lands just behind a cursor is served from that memory.
 *
 * For formats whose decoder state can be saved (gzip), any cursor that
 * passes a checkpoint offset leaves a checkpoint there (checkpoints_i.h);
 * a read that no cursor is near resumes from the checkpoint below it, so
 * random reads decode at most about a span.  The lock is held to pick and
 * return a cursor and to file a checkpoint, never while decoding.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifact/checkpoints_i.h"
#include "artifact/decoder_i.h"
#include "artifact/stream.h"

#define STREAM_CURSORS		4
#define STREAM_INPUT_SIZE	(256 * 1024)
#define STREAM_DISCARD_SIZE	(64 * 1024)
/* A request this close ahead of where a busy cursor will stop waits for
 * that cursor rather than take another: the kernel's parallel readahead
 * requests of one sequential reader then share one decoder, instead of
 * sending the others back to the start. */
#define STREAM_FOLLOW_GAP	(8 * 1024 * 1024)
#define STREAM_HISTORY		(2 * 1024 * 1024)

struct cursor {
	void *decoder;		/* NULL until first used */
	uint8_t *input;		/* compressed bytes read, not yet decoded */
	size_t input_pos, input_len;
	uint64_t input_off;	/* range offset of the next compressed read */
	uint64_t pos;		/* decompressed offset of the next byte out */
	uint64_t target;	/* while busy: where this request ends */
	uint8_t *discard;	/* scratch for decoding up to an offset */
	uint8_t *history;	/* ring: the bytes [pos - history_len, pos) */
	size_t history_len;
	uint64_t start;		/* while busy: pos when taken */
	uint8_t *state;		/* scratch for a saved decoder state */
	bool restore;		/* taken to resume from the checkpoint below */
	uint64_t restore_out, restore_in;
	bool ended;
	bool busy;
	uint64_t last_used;
};

struct mfs_stream {
	int fd;
	uint64_t offset, size;
	enum mfs_compression compression;
	const struct mfs_decoder_ops *ops;

	pthread_mutex_t lock;
	pthread_cond_t cursor_returned;
	struct cursor cursors[STREAM_CURSORS];
	uint64_t clock;
	int64_t total;		/* decompressed size, -1 until known */
	struct mfs_checkpoints checkpoints;	/* when ops->save */
	struct mfs_stream_stats stats;
};

static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done,
				  (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int mfs_stream_open(int fd, uint64_t offset, uint64_t size,
		    struct mfs_stream **out)
{
	uint8_t head[8];
	struct mfs_stream *s;
	ssize_t n;

	n = pread_full(fd, head, size < sizeof(head) ? size : sizeof(head),
		       offset);
	if (n < 0)
		return (int)n;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->offset = offset;
	s->size = size;
	s->compression = mfs_compression_detect(head, (size_t)n);
	s->ops = mfs_decoder_for(s->compression);
	s->total = s->compression == MFS_COMPRESSION_NONE ? (int64_t)size : -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cursor_returned, NULL);
	mfs_checkpoints_init(&s->checkpoints, s->ops->state_size);
	*out = s;
	return 0;
}

static void cursor_release(const struct mfs_stream *s, struct cursor *c)
{
	if (c->decoder)
		s->ops->destroy(c->decoder);
	free(c->input);
	free(c->discard);
	free(c->history);
	free(c->state);
	memset(c, 0, sizeof(*c));
}

void mfs_stream_close(struct mfs_stream *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < STREAM_CURSORS; i++)
		cursor_release(s, &s->cursors[i]);
	mfs_checkpoints_destroy(&s->checkpoints);
	pthread_cond_destroy(&s->cursor_returned);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

enum mfs_compression mfs_stream_compression(const struct mfs_stream *s)
{
	return s->compression;
}

int64_t mfs_stream_size(struct mfs_stream *s)
{
	int64_t total;

	pthread_mutex_lock(&s->lock);
	total = s->total;
	pthread_mutex_unlock(&s->lock);
	return total;
}

/* Puts the cursor at the start of the range, allocating on first use. */
static int cursor_rewind(const struct mfs_stream *s, struct cursor *c)
{
	int ret;

	if (!c->input) {
		c->input = malloc(STREAM_INPUT_SIZE);
		c->discard = malloc(STREAM_DISCARD_SIZE);
		c->history = malloc(STREAM_HISTORY);
		if (!c->input || !c->discard || !c->history)
			return -ENOMEM;
	}
	if (s->ops->save && !c->state) {
		c->state = malloc(s->ops->state_size);
		if (!c->state)
			return -ENOMEM;
	}
	c->history_len = 0;
	if (!c->decoder)
		ret = s->ops->create(&c->decoder);
	else
		ret = s->ops->reset(c->decoder);
	if (ret < 0)
		return ret;
	c->input_pos = c->input_len = 0;
	c->input_off = 0;
	c->pos = 0;
	c->ended = false;
	return 0;
}

/* Reads more compressed input after what the window still holds. */
static int cursor_refill(const struct mfs_stream *s, struct cursor *c)
{
	size_t kept = c->input_len - c->input_pos;
	uint64_t left = s->size - c->input_off;
	size_t room = STREAM_INPUT_SIZE - kept;
	size_t want = left < room ? (size_t)left : room;
	ssize_t n;

	memmove(c->input, c->input + c->input_pos, kept);
	c->input_pos = 0;
	c->input_len = kept;
	if (want == 0)
		return -EIO;	/* a full window and still no progress */
	n = pread_full(s->fd, c->input + kept, want, s->offset + c->input_off);
	if (n < 0)
		return (int)n;
	if (n == 0)		/* the file shrank under us */
		return -EIO;
	c->input_len += (size_t)n;
	c->input_off += (uint64_t)n;
	return 0;
}

/* Remembers n bytes just produced (they end at c->pos). */
static void history_add(struct cursor *c, const uint8_t *data, size_t n)
{
	size_t at;

	if (n >= STREAM_HISTORY) {
		data += n - STREAM_HISTORY;
		n = STREAM_HISTORY;
	}
	/* The ring slot of stream offset x is x % STREAM_HISTORY. */
	at = (size_t)((c->pos - n) % STREAM_HISTORY);
	if (at + n <= STREAM_HISTORY) {
		memcpy(c->history + at, data, n);
	} else {
		memcpy(c->history + at, data, STREAM_HISTORY - at);
		memcpy(c->history, data + (STREAM_HISTORY - at),
		       n - (STREAM_HISTORY - at));
	}
	c->history_len += n;
	if (c->history_len > STREAM_HISTORY)
		c->history_len = STREAM_HISTORY;
}

/* Copies what history holds of [off, off + len); returns the count. */
static size_t history_copy(const struct cursor *c, uint8_t *buf, size_t len,
			   uint64_t off)
{
	size_t n, at, first;

	if (off >= c->pos || off < c->pos - c->history_len)
		return 0;
	n = c->pos - off < len ? (size_t)(c->pos - off) : len;
	at = (size_t)(off % STREAM_HISTORY);
	first = n < STREAM_HISTORY - at ? n : STREAM_HISTORY - at;
	memcpy(buf, c->history + at, first);
	memcpy(buf + first, c->history, n - first);
	return n;
}

/* The offset of the next checkpoint wanted, or UINT64_MAX for none. */
static uint64_t checkpoint_wanted(struct mfs_stream *s)
{
	uint64_t next;

	if (!s->ops->save)
		return UINT64_MAX;
	pthread_mutex_lock(&s->lock);
	next = s->checkpoints.next;
	pthread_mutex_unlock(&s->lock);
	return next;
}

/* Files a checkpoint of cursor c, which stands exactly at at. */
static uint64_t checkpoint_leave(struct mfs_stream *s, struct cursor *c,
				 uint64_t at)
{
	uint64_t in = c->input_off - (c->input_len - c->input_pos);
	void *blob;
	size_t blob_len;

	s->ops->save(c->decoder, c->state);
	if (mfs_checkpoint_pack(c->state, s->ops->state_size, &blob,
				&blob_len) < 0)
		return UINT64_MAX;	/* only costs time later */
	pthread_mutex_lock(&s->lock);
	mfs_checkpoints_insert(&s->checkpoints, at, in, blob, blob_len);
	at = s->checkpoints.next;
	pthread_mutex_unlock(&s->lock);
	return at;
}

/* Decodes up to len bytes into buf, leaving checkpoints on the way.
 * Returns the count (0 at the end of the stream) or a negative errno. */
static ssize_t cursor_decode(struct mfs_stream *s, struct cursor *c,
			     uint8_t *buf, size_t len)
{
	uint64_t wanted = checkpoint_wanted(s);
	uint8_t *out = buf;
	size_t out_len = len;
	bool stalled = false;

	while (out_len > 0 && !c->ended) {
		uint64_t here = c->pos + (len - out_len);
		size_t in_len, before_in, before_out, limit = 0;
		const uint8_t *in;
		int ret;

		if (here == wanted) {
			wanted = checkpoint_leave(s, c, here);
			continue;
		}
		/* Stop at the checkpoint offset, not past it. */
		if (wanted > here && wanted - here < out_len) {
			limit = out_len - (size_t)(wanted - here);
			out_len -= limit;
		}

		/* Refill when the window is used up, or when the decoder
		 * stalled on a few leftover bytes it cannot judge alone. */
		if ((c->input_pos == c->input_len || stalled) &&
		    c->input_off < s->size) {
			ret = cursor_refill(s, c);
			if (ret < 0)
				return ret;
			stalled = false;
		}

		in = c->input + c->input_pos;
		in_len = before_in = c->input_len - c->input_pos;
		before_out = out_len;
		ret = s->ops->decode(c->decoder, &in, &in_len, &out, &out_len);
		out_len += limit;
		if (ret < 0)
			return ret;
		c->input_pos += before_in - in_len;
		if (ret == MFS_DECODE_END) {
			c->ended = true;
			break;
		}
		if (in_len == before_in && out_len == before_out) {
			/* No progress: more input may unblock it; without
			 * more, the data is over (cleanly or cut short) or
			 * the decoder is stuck on bad input. */
			if (c->input_off < s->size && !stalled)
				stalled = true;
			else if (c->input_off == s->size &&
				 s->ops->at_end(c->decoder))
				c->ended = true;
			else
				return -EIO;
		}
	}
	c->pos += len - out_len;
	history_add(c, buf, len - out_len);
	return (ssize_t)(len - out_len);
}

/* Loads the checkpoint below off into c's scratch, for the caller to
 * resume from outside the lock.  Called with the lock held. */
static int cursor_prepare_restore(struct mfs_stream *s, struct cursor *c,
				  uint64_t off)
{
	if (!c->state) {
		c->state = malloc(s->ops->state_size);
		if (!c->state)
			return -ENOMEM;
	}
	if (mfs_checkpoints_find(&s->checkpoints, off, &c->restore_out,
				 &c->restore_in, c->state) != 1)
		return -EIO;
	c->restore = true;
	c->pos = UINT64_MAX;
	return 0;
}

/* Puts c where its prepared checkpoint was taken. */
static int cursor_restore(struct mfs_stream *s, struct cursor *c)
{
	int ret = cursor_rewind(s, c);

	if (ret < 0)
		return ret;
	s->ops->load(c->decoder, c->state);
	c->input_off = c->restore_in;
	c->pos = c->restore_out;
	return 0;
}

/* Takes the idle cursor best placed for off, waiting while all are busy.
 * Called with the lock held. */
static struct cursor *cursor_take(struct mfs_stream *s, uint64_t off,
				  size_t len)
{
	for (;;) {
		struct cursor *best = NULL, *oldest = NULL, *ahead = NULL;
		uint64_t checkpoint;

		for (size_t i = 0; i < STREAM_CURSORS; i++) {
			struct cursor *c = &s->cursors[i];

			if (c->busy) {
				/* Will it soon hold off, or stop just below? */
				uint64_t low = c->start > STREAM_HISTORY ?
					       c->start - STREAM_HISTORY : 0;
				if (low <= off &&
				    off <= c->target + STREAM_FOLLOW_GAP &&
				    (!ahead || c->target > ahead->target))
					ahead = c;
				continue;
			}
			if (c->decoder && c->pos != UINT64_MAX &&
			    off >= c->pos - c->history_len &&
			    (off < c->pos || !c->ended) &&
			    (!best || c->pos > best->pos))
				best = c;
			if (!oldest || c->last_used < oldest->last_used)
				oldest = c;
		}
		checkpoint = mfs_checkpoints_floor(&s->checkpoints, off);
		/* A busy cursor that will cover off, or stop just below it,
		 * is worth waiting for unless an idle one or a checkpoint
		 * serves as well. */
		if (ahead && ahead->target >= checkpoint &&
		    (!best || (best->pos <= off && ahead->target > best->pos))) {
			pthread_cond_wait(&s->cursor_returned, &s->lock);
			continue;
		}
		/* A checkpoint nearer than every cursor: resume from it. */
		if (checkpoint && oldest &&
		    (!best || (best->pos <= off && best->pos < checkpoint)) &&
		    cursor_prepare_restore(s, oldest, off) == 0)
			best = oldest;
		if (!best && oldest) {
			/* Rewound outside the lock by the caller. */
			oldest->pos = UINT64_MAX;
			best = oldest;
		}
		if (best) {
			best->busy = true;
			best->start = best->pos == UINT64_MAX ? 0 : best->pos;
			best->target = off + len;
			return best;
		}
		pthread_cond_wait(&s->cursor_returned, &s->lock);
	}
}

static ssize_t stream_pread_decoded(struct mfs_stream *s, uint8_t *buf,
				    size_t len, uint64_t off)
{
	uint64_t start_pos = 0;
	bool rewound = false, restored = false;
	struct cursor *c;
	ssize_t ret = 0;

	pthread_mutex_lock(&s->lock);
	if (s->total >= 0 && off >= (uint64_t)s->total) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	c = cursor_take(s, off, len);
	start_pos = c->pos == UINT64_MAX ? 0 : c->pos;
	pthread_mutex_unlock(&s->lock);

	if (c->pos == UINT64_MAX && c->restore) {
		c->restore = false;
		ret = cursor_restore(s, c);
		if (ret < 0)
			goto out;
		start_pos = c->pos;
		restored = true;
	} else if (c->pos == UINT64_MAX) {
		ret = cursor_rewind(s, c);
		if (ret < 0)
			goto out;
		rewound = true;
	}
	/* Served from memory where it can be: a request just behind. */
	if (c->pos != UINT64_MAX && off < c->pos) {
		size_t got = history_copy(c, buf, len, off);

		if (got == len || c->ended) {
			ret = (ssize_t)got;
			goto out;
		}
		ret = cursor_decode(s, c, buf + got, len - got);
		if (ret >= 0)
			ret += (ssize_t)got;
		goto out;
	}
	while (c->pos < off) {
		uint64_t gap = off - c->pos;
		size_t step = gap < STREAM_DISCARD_SIZE ?
			      (size_t)gap : STREAM_DISCARD_SIZE;

		ret = cursor_decode(s, c, c->discard, step);
		if (ret <= 0)
			goto out;
	}
	ret = cursor_decode(s, c, buf, len);
out:
	pthread_mutex_lock(&s->lock);
	s->stats.rewinds += rewound;
	s->stats.restores += restored;
	if (c->pos != UINT64_MAX && c->pos > start_pos)
		s->stats.decoded += c->pos - start_pos;
	if (ret < 0) {
		/* A failed decoder is in no known state: start over next time. */
		c->pos = UINT64_MAX;
		c->ended = false;
	} else if (c->ended) {
		s->total = (int64_t)c->pos;
	}
	c->busy = false;
	c->last_used = ++s->clock;
	/* Several may wait for this very cursor's new position. */
	pthread_cond_broadcast(&s->cursor_returned);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void mfs_stream_stats(struct mfs_stream *s, struct mfs_stream_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	out->checkpoints = s->checkpoints.count;
	out->checkpoint_span = s->checkpoints.span;
	out->checkpoint_memory = s->checkpoints.memory;
	pthread_mutex_unlock(&s->lock);
}

ssize_t mfs_stream_pread(struct mfs_stream *s, void *buf, size_t len,
			 uint64_t off)
{
	if (len == 0)
		return 0;
	if (s->compression == MFS_COMPRESSION_NONE) {
		if (off >= s->size)
			return 0;
		if (len > s->size - off)
			len = (size_t)(s->size - off);
		return pread_full(s->fd, buf, len, s->offset + off);
	}
	return stream_pread_decoded(s, buf, len, off);
}
