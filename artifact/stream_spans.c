/*
 * Decoded spans on disk, for streams that cannot be resumed mid-way (an
 * xz stream of one block, a zstd stream of one frame): as a cursor
 * decodes, every whole span (MFS_SPAN_SIZE, aligned) it produces goes to
 * the span cache (span_cache.h), and reads are served from there first,
 * so a random read behind every cursor costs a pread instead of a decode
 * from the start.  Spans come straight out of the cursor's history ring:
 * the ring's size is a multiple of the span size, so an aligned span sits
 * in it in one piece.
 */
#include "artifact/span_cache.h"
#include "artifact/stream_i.h"

_Static_assert(STREAM_HISTORY % MFS_SPAN_SIZE == 0,
	       "an aligned span must be contiguous in the history ring");

void mfs_stream_set_span_cache(struct mfs_stream *s,
			       struct mfs_span_cache *cache)
{
	/* gzip has checkpoints, and formats with their own index resume
	 * at blocks or frames: they do not need the disk. */
	if (!cache || s->spans ||
	    (s->compression != MFS_COMPRESSION_XZ &&
	     s->compression != MFS_COMPRESSION_ZSTD) || s->index)
		return;
	s->spans_id = mfs_span_cache_stream_id(cache);
	s->spans = cache;
}

void mfs_spans_forget(struct mfs_stream *s)
{
	if (s->spans)
		mfs_span_cache_forget(s->spans, s->spans_id);
}

/* Stores span index from c's history, if the ring holds it whole. */
static void store(struct mfs_stream *s, const struct mfs_cursor *c,
		  uint64_t index, size_t len)
{
	uint64_t start = index * MFS_SPAN_SIZE;

	if (c->pos - c->history_len > start || start + len > c->pos)
		return;
	(void)mfs_span_cache_put(s->spans, s->spans_id, index,
				 c->history + start % STREAM_HISTORY, len);
}

void mfs_spans_store(struct mfs_stream *s, const struct mfs_cursor *c,
		     uint64_t before)
{
	uint64_t first, last;

	if (!s->spans || !c->history || c->pos == before)
		return;
	/* Every span that ended in (before, pos]. */
	first = before / MFS_SPAN_SIZE;
	last = c->pos / MFS_SPAN_SIZE;
	for (uint64_t i = first; i < last; i++)
		store(s, c, i, MFS_SPAN_SIZE);
	if (c->ended && c->pos % MFS_SPAN_SIZE)
		store(s, c, last, (size_t)(c->pos % MFS_SPAN_SIZE));
}

size_t mfs_spans_serve(struct mfs_stream *s, uint8_t *buf, size_t len,
		       uint64_t off)
{
	size_t done = 0;

	while (s->spans && done < len) {
		uint64_t at = off + done;
		ssize_t n = mfs_span_cache_get(s->spans, s->spans_id,
					       at / MFS_SPAN_SIZE,
					       (size_t)(at % MFS_SPAN_SIZE),
					       buf + done, len - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}
