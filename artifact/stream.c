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
 * A read that no cursor is near resumes from the restore point below it
 * (checkpoints_i.h), so random reads decode at most about a span:
 *
 * - gzip: a cursor that passes the offset where the next one is wanted
 *   looks for the next deflate block boundary and saves the window and
 *   bits there (decoder_gzip.c);
 * - zstd: any cursor that ends a frame a span past the last restart notes
 *   where the next frame starts;
 * - xz: the index at the end of the range gives every block start at
 *   open, when there are several.
 *
 * What the format's own index claims is checked against the range when
 * it is read.  A zstd seek table (the seekable format) is not used to
 * restore from, only checked against every frame end a cursor decodes:
 * its frame starts are not confirmed until something decodes up to them
 * in order (see index_open()).
 *
 * The restore points and the size can be exported and imported again on
 * a later open (stream_index_i.h).  Every point carries the CRC-32 of the
 * bytes from it to the next one: a cursor checks (or notes) it when it
 * decodes those bytes in order, and an imported point is resumed from
 * only after decoding from it once gave those very bytes.  A mismatch
 * means the index was made for other bytes: every imported point is
 * dropped and reads go on from the start or the points this stream made
 * itself.  A sequential reader over restore
 * points gets a helper decoding ahead of it on another core
 * (stream_ahead.c).  The lock is held to pick and return a cursor and to
 * file a restore point, never while decoding.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/crc.h>

#include "artifact/checkpoints_i.h"
#include "artifact/decoder_i.h"
#include "artifact/stream.h"
#include "artifact/stream_i.h"
#include "artifact/stream_index_i.h"

ssize_t mfs_pread_full(int fd, void *buf, size_t len, uint64_t off)
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

void mfs_format_index_free(struct mfs_format_index *index)
{
	if (!index)
		return;
	free(index->restarts);
	free(index->private);
	free(index);
}

const struct mfs_restart *mfs_format_index_at(
	const struct mfs_format_index *index, uint64_t in)
{
	size_t lo = 0, hi = index ? index->count : 0;

	while (lo < hi) {	/* the first restart at or past in */
		size_t mid = lo + (hi - lo) / 2;

		if (index->restarts[mid].in < in)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!index || lo == index->count || index->restarts[lo].in != in)
		return NULL;
	return &index->restarts[lo];
}

/* Reads the format's own index and makes its restarts restore points. */
static int index_open(struct mfs_stream *s)
{
	struct mfs_format_index *index;
	int ret = s->ops->index_read(s->fd, s->offset, s->size, &index);

	if (ret < 0 || !index)
		return ret;
	s->index = index;
	s->index_trusted = true;
	/* A zstd seek table is only a claim: a restart it names may lie
	 * inside a skippable frame, where a hidden frame would serve bytes
	 * that decoding in order (what the manifest's checksums cover) never
	 * produces.  Its restarts are taken only as cursors decoding in
	 * order confirm them (restart_seen()).  An xz index is safe to use
	 * at once: a block decoder checks each block's sizes against it. */
	if (s->ops->boundary)
		return 0;
	for (size_t k = 0; k < index->count; k++) {
		const struct mfs_restart *r = &index->restarts[k];

		/* Empty frames share their out with the next: keep the
		 * first, from which a decoder passes them all. */
		if (r->out == 0 || (s->checkpoints.count &&
				    r->out == s->checkpoints.items[
					s->checkpoints.count - 1].out))
			continue;
		ret = mfs_checkpoints_append(&s->checkpoints,
			&(struct mfs_checkpoint){ .out = r->out, .in = r->in,
						  .trusted = true });
		if (ret < 0) {
			s->index = NULL;
			s->index_trusted = false;
			mfs_format_index_free(index);
			return ret;
		}
	}
	mfs_checkpoints_settle(&s->checkpoints);
	return 0;
}

int mfs_stream_open(int fd, uint64_t offset, uint64_t size,
		    struct mfs_stream **out)
{
	uint8_t head[8];
	struct mfs_stream *s;
	ssize_t n;

	n = mfs_pread_full(fd, head, size < sizeof(head) ? size : sizeof(head),
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
	s->total_trusted = s->total >= 0;
	mfs_checkpoints_init(&s->checkpoints, s->ops->point_max);
	if (s->ops->index_read) {
		int ret = index_open(s);

		if (ret < 0) {
			mfs_stream_close(s);
			return ret;
		}
	}
	*out = s;
	return 0;
}

void mfs_cursor_release(const struct mfs_stream *s, struct mfs_cursor *c)
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
	mfs_ahead_free(s);
	mfs_spans_forget(s);
	for (size_t i = 0; i < STREAM_CURSORS; i++)
		mfs_cursor_release(s, &s->cursors[i]);
	mfs_checkpoints_destroy(&s->checkpoints);
	mfs_format_index_free(s->index);
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
static int cursor_rewind(const struct mfs_stream *s, struct mfs_cursor *c)
{
	int ret;

	if (!c->input) {
		/* Zeroed, with slack: decoders may load whole words past
		 * the last valid byte (ISA-L's header reader does). */
		c->input = calloc(1, STREAM_INPUT_SIZE + STREAM_INPUT_SLACK);
		c->discard = malloc(STREAM_DISCARD_SIZE);
		if (!c->helper)
			c->history = malloc(STREAM_HISTORY);
		if (!c->input || !c->discard || (!c->helper && !c->history))
			return -ENOMEM;
	}
	if (s->ops->point_save && !c->state) {
		c->state = malloc(s->ops->point_max);
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
	c->run_start = c->prefetched = 0;
	c->pos = 0;
	c->ended = false;
	c->hunt_after = 0;
	/* From the start, to be in step with the first point met. */
	c->seg_from = 0;
	c->seg_end = UINT64_MAX;
	c->seg_crc = 0;
	return 0;
}

/* Asks the kernel to start reading the compressed bytes the cursor will
 * want next.  Only a hint: the page cache may drop them again, and a
 * failure just leaves the reads synchronous. */
static void cursor_prefetch(const struct mfs_stream *s, struct mfs_cursor *c)
{
	uint64_t ahead = c->input_off - c->run_start, end;

	if (ahead > STREAM_PREFETCH)
		ahead = STREAM_PREFETCH;
	end = c->input_off + ahead < s->size ? c->input_off + ahead : s->size;
	if (c->prefetched < c->input_off)
		c->prefetched = c->input_off;
	if (end <= c->prefetched)
		return;
	/* Once at full distance, in steps rather than at every refill. */
	if (ahead == STREAM_PREFETCH && end < s->size &&
	    end - c->prefetched < STREAM_PREFETCH_STEP)
		return;
	(void)posix_fadvise(s->fd, (off_t)(s->offset + c->prefetched),
			    (off_t)(end - c->prefetched), POSIX_FADV_WILLNEED);
	c->prefetched = end;
}

/* Reads more compressed input after what the window still holds. */
static int cursor_refill(const struct mfs_stream *s, struct mfs_cursor *c)
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
	cursor_prefetch(s, c);
	n = mfs_pread_full(s->fd, c->input + kept, want,
			   s->offset + c->input_off);
	if (n < 0)
		return (int)n;
	if (n == 0)		/* the file shrank under us */
		return -EIO;
	c->input_len += (size_t)n;
	c->input_off += (uint64_t)n;
	return 0;
}

/* Remembers n bytes just produced (they end at c->pos). */
static void history_add(struct mfs_cursor *c, const uint8_t *data, size_t n)
{
	size_t at;

	if (!c->history)
		return;
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
static size_t history_copy(const struct mfs_cursor *c, uint8_t *buf,
			   size_t len, uint64_t off)
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

/* From where a cursor should look for a place to save a checkpoint, and
 * from where on it should report frame ends (restarts); UINT64_MAX for
 * none.  Also tells the cursor where the segment it decodes ends. */
struct wanted {
	uint64_t checkpoint;
	uint64_t restart;
};

static struct wanted restore_points_wanted(struct mfs_stream *s,
					   struct mfs_cursor *c)
{
	struct wanted w = { UINT64_MAX, UINT64_MAX };

	pthread_mutex_lock(&s->lock);
	if (c->seg_from != UINT64_MAX && c->seg_end == UINT64_MAX)
		c->seg_end = mfs_checkpoints_after(&s->checkpoints,
						   c->seg_from);
	if (c->verifying) {
		/* Nothing learnt from bytes not yet known good. */
	} else if (s->ops->point_save) {
		w.checkpoint = s->checkpoints.next > c->hunt_after ?
			       s->checkpoints.next : c->hunt_after;
	} else if (s->ops->boundary) {
		if (s->index_trusted)
			w.restart = 0;	/* every frame end, to check the table */
		else
			w.restart = s->checkpoints.next;
	}
	pthread_mutex_unlock(&s->lock);
	return w;
}

/* An imported point's CRC-32 disagreed with what decoding gave: the
 * index was made for other bytes.  Called with the lock held. */
static void distrust_imported(struct mfs_stream *s)
{
	mfs_checkpoints_drop_untrusted(&s->checkpoints);
	if (!s->total_trusted)
		s->total = -1;
}

/* The cursor decoded, in order, every byte from the point at seg_from up
 * to `to` (the next point, or UINT64_MAX at the end): checks or notes
 * their CRC-32, and starts the next segment at `to`.  Returns 0, or -EIO
 * when a point this stream trusts disagrees (the file changed under
 * it).  Called with the lock held. */
static int segment_done(struct mfs_stream *s, struct mfs_cursor *c,
			uint64_t to)
{
	bool trusted = false;
	int ret = 0;

	if (c->seg_from != UINT64_MAX &&
	    mfs_checkpoints_note_crc(&s->checkpoints, c->seg_from, to,
				     c->seg_crc, &trusted) < 0) {
		if (trusted)
			ret = -EIO;
		else
			distrust_imported(s);
	}
	c->seg_from = to;
	c->seg_end = to == UINT64_MAX ? UINT64_MAX :
		     mfs_checkpoints_after(&s->checkpoints, to);
	c->seg_crc = 0;
	return ret;
}

/* The cursor stands at a point it tried to file at `at`: wherever it
 * is in the list now (filed, or by another cursor first), the segment
 * before it is done.  Called with the lock held. */
static int point_filed(struct mfs_stream *s, struct mfs_cursor *c,
		       uint64_t at)
{
	uint64_t floor = mfs_checkpoints_floor(&s->checkpoints, at);

	if (floor != at || at == 0)
		return 0;
	return segment_done(s, c, at);
}

/* Files a checkpoint of cursor c, which stands at a point at `at`.
 * Returns where the next one is wanted, or a negative errno. */
static int64_t checkpoint_leave(struct mfs_stream *s, struct mfs_cursor *c,
				uint64_t at)
{
	uint64_t in = c->input_off - (c->input_len - c->input_pos), back;
	ssize_t n = s->ops->point_save(c->decoder, c->state, &back);
	void *blob;
	size_t blob_len;
	int64_t next;
	int ret;

	if (n < 0 || back > in ||
	    mfs_checkpoint_pack(c->state, (size_t)n, &blob, &blob_len) < 0)
		return (int64_t)(at + 1);	/* only costs time later */
	pthread_mutex_lock(&s->lock);
	mfs_checkpoints_insert(&s->checkpoints, at, in - back, blob, blob_len);
	ret = point_filed(s, c, at);
	next = (int64_t)s->checkpoints.next;
	pthread_mutex_unlock(&s->lock);
	return ret < 0 ? ret : next;
}

/* Whether a frame that ends at (out, in) is one the format index knows:
 * one of its frame starts, or the end of its frames. */
static bool index_agrees(const struct mfs_stream *s, uint64_t out, uint64_t in)
{
	const struct mfs_format_index *index = s->index;
	const struct mfs_restart *r = mfs_format_index_at(index, in);
	uint64_t last_in = index->count ?
			   index->restarts[index->count - 1].in : 0;

	if (r)
		return r->out == out;
	/* Past the last frame: the seek table itself, or the range end. */
	return (index->count == 0 || in > last_in) && out == index->total;
}

/* A cursor ended a frame at (out, in): checks it against a trusted index,
 * or notes a restart there.  Returns where to report the next, or a
 * negative errno. */
static int64_t restart_seen(struct mfs_stream *s, struct mfs_cursor *c,
			    uint64_t out, uint64_t in)
{
	uint64_t next;
	int ret;

	pthread_mutex_lock(&s->lock);
	if (s->index_trusted && !index_agrees(s, out, in))
		s->index_trusted = false;	/* the table lied */
	if (mfs_checkpoints_insert_restart(&s->checkpoints, out, in) ||
	    out < s->checkpoints.next)
		next = s->checkpoints.next;
	else
		next = out + 1;
	ret = point_filed(s, c, out);
	if (s->index_trusted)
		next = 0;	/* every frame end, to check the table */
	pthread_mutex_unlock(&s->lock);
	return ret < 0 ? ret : (int64_t)next;
}

/* At the end of the stream: the last segment is done. */
static int cursor_ended(struct mfs_stream *s, struct mfs_cursor *c)
{
	int ret;

	if (c->seg_from == UINT64_MAX)
		return 0;
	pthread_mutex_lock(&s->lock);
	ret = segment_done(s, c, UINT64_MAX);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

ssize_t mfs_cursor_decode(struct mfs_stream *s, struct mfs_cursor *c,
			  uint8_t *buf, size_t len)
{
	struct wanted wanted = restore_points_wanted(s, c);
	uint8_t *out = buf;
	size_t out_len = len;
	bool stalled = false;

	while (out_len > 0 && !c->ended) {
		uint64_t here = c->pos + (len - out_len);
		size_t in_len, before_in, before_out, limit = 0;
		uint8_t *out_before = out;
		const uint8_t *in;
		int64_t next;
		int ret;

		/* Stop where the segment ends, to check its bytes there. */
		if (c->seg_from != UINT64_MAX && c->seg_end != UINT64_MAX &&
		    c->seg_end > here && c->seg_end - here < out_len) {
			limit = out_len - (size_t)(c->seg_end - here);
			out_len -= limit;
		}
		if (here >= wanted.checkpoint &&
		    here - wanted.checkpoint > STREAM_HUNT_MAX) {
			/* No boundary seen: full speed for a span. */
			c->hunt_after = here + MFS_CHECKPOINT_SPAN;
			wanted.checkpoint = c->hunt_after;
		}
		if (s->ops->hunt)
			s->ops->hunt(c->decoder, here >= wanted.checkpoint);

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
		if (c->seg_from != UINT64_MAX)
			c->seg_crc = crc32_gzip_refl(c->seg_crc, out_before,
						     (uint64_t)(out - out_before));
		if (ret == MFS_DECODE_END) {
			c->ended = true;
			break;
		}
		here = c->pos + (len - out_len);
		if (c->seg_from != UINT64_MAX && here == c->seg_end) {
			pthread_mutex_lock(&s->lock);
			ret = segment_done(s, c, here);
			pthread_mutex_unlock(&s->lock);
			if (ret < 0)
				return ret;
		}
		if (s->ops->point_save && here >= wanted.checkpoint &&
		    s->ops->boundary(c->decoder)) {
			next = checkpoint_leave(s, c, here);
			if (next < 0)
				return (ssize_t)next;
			wanted.checkpoint = (uint64_t)next;
		} else if (!s->ops->point_save && here >= wanted.restart &&
			   s->ops->boundary && s->ops->boundary(c->decoder)) {
			uint64_t at = c->input_off -
				      (c->input_len - c->input_pos);

			/* At the end of the range nothing starts. */
			if (at < s->size) {
				next = restart_seen(s, c, here, at);
				if (next < 0)
					return (ssize_t)next;
				wanted.restart = (uint64_t)next;
			}
		}
		if (in_len == before_in && out_len == before_out + limit) {
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
	if (s->ops->hunt)
		s->ops->hunt(c->decoder, false);
	c->pos += len - out_len;
	history_add(c, buf, len - out_len);
	mfs_spans_store(s, c, c->pos - (len - out_len));
	if (c->ended) {
		int ret = cursor_ended(s, c);

		if (ret < 0)
			return ret;
	}
	return (ssize_t)(len - out_len);
}

int mfs_cursor_prepare_restore(struct mfs_stream *s, struct mfs_cursor *c,
			       uint64_t off)
{
	struct mfs_checkpoint_found found;
	int ret;

	if (s->ops->point_save && !c->state) {
		c->state = malloc(s->ops->point_max);
		if (!c->state)
			return -ENOMEM;
	}
	ret = mfs_checkpoints_find(&s->checkpoints, off, &found, c->state);
	if (ret != 1)
		return -EIO;
	c->restore = true;
	c->restart = found.restart;
	c->restore_out = found.out;
	c->restore_in = found.in;
	c->restore_len = found.len;
	c->restore_trusted = found.trusted;
	c->restore_crc = found.crc;
	c->restore_end = found.end;
	c->pos = UINT64_MAX;
	return 0;
}

/* Puts c at its prepared restore point. */
static int restore_at(struct mfs_stream *s, struct mfs_cursor *c)
{
	int ret = cursor_rewind(s, c);

	if (ret < 0)
		return ret;
	if (!c->restart)
		ret = s->ops->point_load(c->decoder, c->state, c->restore_len);
	else if (s->ops->restart)
		ret = s->ops->restart(c->decoder, s->index, c->restore_in);
	if (ret < 0)
		return ret;
	c->input_off = c->run_start = c->prefetched = c->restore_in;
	c->pos = c->restore_out;
	c->seg_from = c->restore_out;
	c->seg_end = c->restore_end;
	c->seg_crc = 0;
	return 0;
}

/* Decodes from an imported point up to the next one, and trusts it only
 * if that gives the bytes its CRC-32 says: nothing decoded from it
 * reaches a reader before.  Returns 0 or -ESTALE. */
static int restore_verify(struct mfs_stream *s, struct mfs_cursor *c)
{
	uint64_t end = c->restore_end;
	uint32_t crc = 0;
	bool good;

	c->verifying = true;
	c->seg_from = UINT64_MAX;
	while (!c->ended && c->pos < end) {
		uint64_t gap = end - c->pos;
		size_t step = gap < STREAM_DISCARD_SIZE ?
			      (size_t)gap : STREAM_DISCARD_SIZE;
		ssize_t n = mfs_cursor_decode(s, c, c->discard, step);

		if (n <= 0)
			break;
		crc = crc32_gzip_refl(crc, c->discard, (uint64_t)n);
	}
	c->verifying = false;
	pthread_mutex_lock(&s->lock);
	/* The last point's bytes run to the end, which must then be where
	 * the index said: the CRC-32 alone does not say where they lie. */
	good = (end == UINT64_MAX ?
		c->ended && s->total >= 0 && c->pos == (uint64_t)s->total :
		c->pos == end) && crc == c->restore_crc;
	if (good)
		mfs_checkpoints_trust(&s->checkpoints, c->restore_out);
	else
		distrust_imported(s);
	pthread_mutex_unlock(&s->lock);
	return good ? 0 : -ESTALE;
}

int mfs_cursor_restore(struct mfs_stream *s, struct mfs_cursor *c)
{
	int ret = restore_at(s, c);

	if (ret < 0 && ret != -ENOMEM && !c->restore_trusted) {
		/* Resume data a decoder refuses: not from this build's
		 * points, so none of those imported is believed. */
		pthread_mutex_lock(&s->lock);
		distrust_imported(s);
		pthread_mutex_unlock(&s->lock);
		return -ESTALE;
	}
	if (ret < 0 || c->restore_trusted)
		return ret;
	ret = restore_verify(s, c);
	if (ret < 0)
		return ret;
	c->restore_trusted = true;
	return restore_at(s, c);
}

void mfs_cursor_return(struct mfs_stream *s, struct mfs_cursor *c,
		       bool failed)
{
	if (failed) {
		/* A failed decoder is in no known state: start over next time. */
		c->pos = UINT64_MAX;
		c->ended = false;
	} else if (c->ended) {
		s->total = (int64_t)c->pos;
		s->total_trusted = true;
	}
	c->busy = false;
	c->last_used = ++s->clock;
	/* Several may wait for this very cursor's new position. */
	pthread_cond_broadcast(&s->cursor_returned);
}

/* Takes the idle cursor best placed for off.  When the one to use is
 * busy (or all are), waits until a cursor is returned and returns NULL,
 * for the caller to look at what is there now.  Called with the lock
 * held. */
static struct mfs_cursor *cursor_take(struct mfs_stream *s, uint64_t off,
				      size_t len)
{
	struct mfs_cursor *best = NULL, *oldest = NULL, *ahead = NULL;
	uint64_t checkpoint;

	for (size_t i = 0; i < STREAM_CURSORS; i++) {
		struct mfs_cursor *c = &s->cursors[i];

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
	/* A busy cursor that will cover off, or stop just below it, is worth
	 * waiting for unless an idle one or a checkpoint serves as well (a
	 * checkpoint past where it stops, by more than an out-of-order
	 * request's gap). */
	if (ahead && (ahead->target >= checkpoint ||
		      off - ahead->target <= STREAM_CONTINUE_GAP) &&
	    (!best || (best->pos <= off && ahead->target > best->pos))) {
		pthread_cond_wait(&s->cursor_returned, &s->lock);
		return NULL;
	}
	/* A checkpoint nearer than every cursor: resume from it. */
	if (checkpoint && oldest &&
	    (!best || (best->pos <= off && best->pos < checkpoint)) &&
	    mfs_cursor_prepare_restore(s, oldest, off) == 0)
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
	return NULL;
}

static ssize_t stream_pread_decoded(struct mfs_stream *s, uint8_t *buf,
				    size_t len, uint64_t off)
{
	uint64_t start_pos = 0;
	bool rewound = false, restored = false;
	struct mfs_cursor *c;
	size_t served;
	ssize_t ret = 0;

	pthread_mutex_lock(&s->lock);
	if (s->total_trusted && s->total >= 0 && off >= (uint64_t)s->total) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	/* What a helper decoded ahead is copied; the rest decoded here.
	 * After waiting for a busy cursor, the helper may have decoded it
	 * meanwhile: look again. */
	mfs_ahead_note(s, off, len);
	served = 0;
	do {
		size_t n = mfs_ahead_serve(s, buf, len, off);

		served += n;
		buf += n;
		off += n;
		len -= n;
		if (len == 0 || (s->total_trusted && s->total >= 0 &&
				 off >= (uint64_t)s->total)) {
			pthread_mutex_unlock(&s->lock);
			return (ssize_t)served;
		}
		c = cursor_take(s, off, len);
	} while (!c);
	start_pos = c->pos == UINT64_MAX ? 0 : c->pos;
	pthread_mutex_unlock(&s->lock);

	if (c->pos == UINT64_MAX && c->restore) {
		c->restore = false;
		ret = mfs_cursor_restore(s, c);
		if (ret == -ESTALE) {
			/* An imported point that does not give the bytes it
			 * claims: those are forgotten, start from the
			 * start. */
			c->pos = UINT64_MAX;
		} else if (ret < 0) {
			goto out;
		} else {
			start_pos = c->pos;
			restored = true;
		}
	}
	if (c->pos == UINT64_MAX) {
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
		ret = mfs_cursor_decode(s, c, buf + got, len - got);
		if (ret >= 0)
			ret += (ssize_t)got;
		goto out;
	}
	while (c->pos < off) {
		uint64_t gap = off - c->pos;
		size_t step = gap < STREAM_DISCARD_SIZE ?
			      (size_t)gap : STREAM_DISCARD_SIZE;

		ret = mfs_cursor_decode(s, c, c->discard, step);
		if (ret <= 0)
			goto out;
	}
	ret = mfs_cursor_decode(s, c, buf, len);
out:
	pthread_mutex_lock(&s->lock);
	s->stats.rewinds += rewound;
	s->stats.restores += restored;
	if (c->pos != UINT64_MAX && c->pos > start_pos)
		s->stats.decoded += c->pos - start_pos;
	mfs_cursor_return(s, c, ret < 0);
	mfs_ahead_returned(s);
	pthread_mutex_unlock(&s->lock);
	return ret < 0 ? ret : ret + (ssize_t)served;
}

void mfs_stream_stats(struct mfs_stream *s, struct mfs_stream_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	out->checkpoints = s->checkpoints.count;
	out->checkpoint_span = s->checkpoints.span;
	out->checkpoint_memory = s->checkpoints.memory;
	out->cursors_allocated = 0;
	/* A busy cursor's buffers are its owner's to change; it holds
	 * them, or will in a moment. */
	for (size_t i = 0; i < STREAM_CURSORS; i++)
		out->cursors_allocated += s->cursors[i].busy ||
					  s->cursors[i].input != NULL;
	out->ahead_memory = mfs_ahead_memory(s);
	pthread_mutex_unlock(&s->lock);
}

/* Whether an imported restart can be one: for xz, one of the blocks the
 * index lists (a block decoder needs its sizes); for zstd any offset in
 * the range, as the decoder itself rejects what is not a frame. */
static int import_restart_ok(const void *arg, uint64_t out, uint64_t in)
{
	const struct mfs_stream *s = arg;
	const struct mfs_restart *r;

	if (!s->ops->restart)
		return s->ops->boundary != NULL;
	r = mfs_format_index_at(s->index, in);
	return r && r->out == out;
}

static void index_key(struct mfs_stream *s, struct mfs_stream_index_key *key)
{
	key->compression = s->compression;
	key->size = s->size;
	key->point_max = s->ops->point_save ? s->ops->point_max : 0;
	key->restart_ok = s->ops->boundary || s->ops->restart ?
			  import_restart_ok : NULL;
	key->arg = s;
}

int mfs_stream_index_export(struct mfs_stream *s, void **buf, size_t *len)
{
	struct mfs_stream_index_key key;
	int ret = 0;

	*buf = NULL;
	*len = 0;
	if (s->compression == MFS_COMPRESSION_NONE)
		return 0;
	index_key(s, &key);
	pthread_mutex_lock(&s->lock);
	if (s->checkpoints.count || s->total >= 0)
		ret = mfs_stream_index_encode(&s->checkpoints, s->total, &key,
					      buf, len);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

struct mfs_stream_import {
	struct mfs_checkpoints cp;
	int64_t total;
};

int mfs_stream_index_prepare(struct mfs_stream *s, const void *buf, size_t len,
			     struct mfs_stream_import **out)
{
	struct mfs_stream_index_key key;
	struct mfs_stream_import *imp;
	int ret;

	*out = NULL;
	if (s->compression == MFS_COMPRESSION_NONE || !buf)
		return -EINVAL;
	imp = malloc(sizeof(*imp));
	if (!imp)
		return -ENOMEM;
	index_key(s, &key);
	/* s->index is immutable, so the restarts are checked unlocked. */
	ret = mfs_stream_index_decode(buf, len, &key, &imp->cp, &imp->total);
	if (ret < 0) {
		free(imp);
		return ret;
	}
	/* An xz block the format's own index lists is as good as the ones
	 * it gave at open: the block decoder holds it to its sizes.  The
	 * rest is checked by decoding before it is resumed from. */
	for (size_t i = 0; i < imp->cp.count; i++)
		imp->cp.items[i].trusted = s->ops->restart &&
					   !imp->cp.items[i].blob;
	/* Without the size, the last point's bytes cannot be placed. */
	if (imp->total < 0 && imp->cp.count)
		imp->cp.items[imp->cp.count - 1].crc_known = false;
	*out = imp;
	return 0;
}

void mfs_stream_import_free(struct mfs_stream_import *imp)
{
	if (!imp)
		return;
	mfs_checkpoints_destroy(&imp->cp);
	free(imp);
}

int mfs_stream_index_commit(struct mfs_stream *s, struct mfs_stream_import *imp)
{
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	if (s->total >= 0 && imp->total >= 0 && s->total != imp->total) {
		ret = -EINVAL;
		goto out;
	}
	if (imp->total >= 0 && s->total < 0) {
		/* A claim until a cursor gets there. */
		s->total = imp->total;
		s->total_trusted = false;
	}
	/* An index that learnt no restore point keeps those the format's
	 * own index gave at open. */
	if (imp->cp.count) {
		struct mfs_checkpoints old = s->checkpoints;

		s->checkpoints = imp->cp;
		imp->cp = old;
	}
out:
	pthread_mutex_unlock(&s->lock);
	mfs_stream_import_free(imp);
	return ret;
}

int mfs_stream_index_import(struct mfs_stream *s, const void *buf, size_t len)
{
	struct mfs_stream_import *imp;
	int ret = mfs_stream_index_prepare(s, buf, len, &imp);

	if (ret < 0)
		return ret;
	return mfs_stream_index_commit(s, imp);
}

bool mfs_stream_index_complete(struct mfs_stream *s)
{
	return mfs_stream_size(s) >= 0;
}

void mfs_stream_trim(struct mfs_stream *s)
{
	struct mfs_cursor idle[STREAM_CURSORS];
	size_t n = 0;

	mfs_ahead_stop(s);
	/* Taken out under the lock, freed after it: lzma_end() of a big
	 * dictionary is not free. */
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < STREAM_CURSORS; i++) {
		struct mfs_cursor *c = &s->cursors[i];

		if (c->busy || !c->input)
			continue;
		idle[n++] = *c;
		memset(c, 0, sizeof(*c));
	}
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		mfs_cursor_release(s, &idle[i]);
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
		return mfs_pread_full(s->fd, buf, len, s->offset + off);
	}
	if (s->spans) {
		size_t got = mfs_spans_serve(s, buf, len, off);
		ssize_t ret;

		if (got == len)
			return (ssize_t)got;
		ret = stream_pread_decoded(s, (uint8_t *)buf + got, len - got,
					   off + got);
		/* Short only at the end: an error is the answer, whatever
		 * the cache held before it. */
		return ret < 0 ? ret : ret + (ssize_t)got;
	}
	return stream_pread_decoded(s, buf, len, off);
}
