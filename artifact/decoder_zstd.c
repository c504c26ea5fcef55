/*
 * zstd through libzstd's streaming API; several frames decode as one.
 *
 * Every frame is independent, so a fresh decoder can start at any frame
 * start: the stream records frame ends as cursors pass them.  When the
 * range ends with a seek table (zstd's seekable format: a skippable frame
 * listing every frame's compressed and decompressed size), the stream
 * checks every frame end against it, but does not resume at a frame it
 * lists before decoding has reached it: a listed "frame" may hide inside
 * a skippable frame, whose bytes decoding in order never produces.
 */
#include <errno.h>
#include <stdlib.h>
#include <zstd.h>

#include "artifact/decoder_i.h"

struct zstd_state {
	ZSTD_DCtx *dctx;
	int frame_done;		/* the last frame decoded is complete */
	int boundary;		/* the last call ended exactly on a frame end */
};

/* The seek table (contrib/seekable_format in zstd's sources): a skippable
 * frame whose last 9 bytes are the frame count, a descriptor and this
 * magic; before them one entry per frame. */
#define SEEKABLE_FOOTER		9
#define SEEKABLE_MAGIC		0x8F92EAB1u
#define SEEKABLE_SKIPPABLE	0x184D2A5Eu
#define SEEKABLE_CHECKSUM_FLAG	0x80
#define SEEKABLE_RESERVED	0x7c
/* More frames than anyone writes for a payload (at 64 KiB a frame, 16
 * GiB), few enough that the table and its restarts stay a few MiB. */
#define SEEKABLE_MAX_FRAMES	(1u << 18)
/* The smallest zstd frame (magic, header, one empty block) is 9 bytes, a
 * skippable frame 8. */
#define ZSTD_MIN_FRAME		8

/* Refuse frames asking for windows beyond 128 MiB (zstd --long=27):
 * enough for any artifact writer, bounded for hostile input. */
#define ZSTD_WINDOW_LOG_MAX 27

static int zstd_reset(void *state)
{
	struct zstd_state *z = state;

	z->frame_done = 1;
	z->boundary = 0;
	if (ZSTD_isError(ZSTD_DCtx_reset(z->dctx, ZSTD_reset_session_only)))
		return -EIO;
	return 0;
}

static int zstd_create(void **state)
{
	struct zstd_state *z = calloc(1, sizeof(*z));

	if (!z)
		return -ENOMEM;
	z->dctx = ZSTD_createDCtx();
	if (!z->dctx) {
		free(z);
		return -ENOMEM;
	}
	ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
	z->frame_done = 1;
	*state = z;
	return 0;
}

static int zstd_decode(void *state, const uint8_t **in, size_t *in_len,
		       uint8_t **out, size_t *out_len)
{
	struct zstd_state *z = state;
	ZSTD_inBuffer ib = { *in, *in_len, 0 };
	ZSTD_outBuffer ob = { *out, *out_len, 0 };
	size_t ret;

	/* Called with no input too: output of a finished frame may still
	 * be waiting to be flushed. */
	ret = ZSTD_decompressStream(z->dctx, &ob, &ib);
	*in += ib.pos;
	*in_len -= ib.pos;
	*out += ob.pos;
	*out_len -= ob.pos;
	if (ZSTD_isError(ret))
		return -EIO;
	/* 0 means a frame just ended and all its output was flushed; a call
	 * that moved nothing says nothing new. */
	if (ib.pos || ob.pos)
		z->frame_done = ret == 0;
	/* The decoder stops at the end of a frame, so the next input byte
	 * then starts the next one. */
	z->boundary = (ib.pos || ob.pos) && ret == 0;
	return MFS_DECODE_OK;
}

static int zstd_boundary(void *state)
{
	struct zstd_state *z = state;

	return z->boundary;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Checks the seek table against the range: every frame at least a
 * minimal frame, and the frames exactly filling the range up to the
 * table.  Builds one restart per frame; returns 0 with *out NULL when
 * the table does not hold together. */
static int seek_table_parse(const uint8_t *entries, uint32_t frames,
			    size_t entry_size, uint64_t frames_end,
			    struct mfs_format_index **out)
{
	struct mfs_format_index *index = calloc(1, sizeof(*index));
	uint64_t in = 0, total = 0;

	if (!index)
		return -ENOMEM;
	index->restarts = malloc(frames * sizeof(*index->restarts));
	if (!index->restarts) {
		free(index);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < frames; k++) {
		const uint8_t *e = entries + (size_t)k * entry_size;
		uint32_t csize = le32(e), dsize = le32(e + 4);

		if (csize < ZSTD_MIN_FRAME || csize > frames_end - in) {
			mfs_format_index_free(index);
			return 0;
		}
		index->restarts[k] = (struct mfs_restart){ total, in };
		in += csize;
		total += dsize;
	}
	if (in != frames_end) {
		mfs_format_index_free(index);
		return 0;
	}
	index->count = frames;
	index->total = total;
	*out = index;
	return 0;
}

static int zstd_index_read(int fd, uint64_t offset, uint64_t size,
			   struct mfs_format_index **out)
{
	uint8_t foot[SEEKABLE_FOOTER], head[8];
	uint32_t frames, frame_size;
	uint64_t table_size, table_at;
	size_t entry_size;
	uint8_t *entries;
	ssize_t n;
	int ret;

	*out = NULL;
	if (size < 8 + SEEKABLE_FOOTER)
		return 0;
	n = mfs_pread_full(fd, foot, sizeof(foot),
			   offset + size - SEEKABLE_FOOTER);
	if (n != (ssize_t)sizeof(foot) || le32(foot + 5) != SEEKABLE_MAGIC ||
	    (foot[4] & SEEKABLE_RESERVED))
		return 0;
	frames = le32(foot);
	entry_size = foot[4] & SEEKABLE_CHECKSUM_FLAG ? 12 : 8;
	if (frames == 0 || frames > SEEKABLE_MAX_FRAMES)
		return 0;
	/* The skippable frame: magic, size, entries, footer. */
	table_size = (uint64_t)frames * entry_size + SEEKABLE_FOOTER;
	if (8 + table_size > size)
		return 0;
	table_at = size - 8 - table_size;
	n = mfs_pread_full(fd, head, sizeof(head), offset + table_at);
	if (n != (ssize_t)sizeof(head))
		return 0;
	frame_size = le32(head + 4);
	if (le32(head) != SEEKABLE_SKIPPABLE || frame_size != table_size)
		return 0;
	entries = malloc(table_size - SEEKABLE_FOOTER);
	if (!entries)
		return -ENOMEM;
	n = mfs_pread_full(fd, entries, table_size - SEEKABLE_FOOTER,
			   offset + table_at + 8);
	ret = 0;
	if (n == (ssize_t)(table_size - SEEKABLE_FOOTER))
		ret = seek_table_parse(entries, frames, entry_size, table_at,
				       out);
	free(entries);
	return ret;
}

static int zstd_at_end(void *state)
{
	struct zstd_state *z = state;

	return z->frame_done;
}

static void zstd_destroy(void *state)
{
	struct zstd_state *z = state;

	if (!z)
		return;
	ZSTD_freeDCtx(z->dctx);
	free(z);
}

const struct mfs_decoder_ops mfs_decoder_zstd = {
	.create = zstd_create,
	.reset = zstd_reset,
	.decode = zstd_decode,
	.at_end = zstd_at_end,
	.destroy = zstd_destroy,
	.boundary = zstd_boundary,
	.index_read = zstd_index_read,
};
