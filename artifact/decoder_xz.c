/*
 * xz through liblzma; concatenated streams are decoded as one.
 *
 * A file written in several blocks (xz -T2, xz --block-size) carries an
 * index of them at its end, and each block can be decoded on its own
 * given its header and the stream's check type.  At open the index is
 * read (liblzma's file information decoder, which checks it against the
 * stream footers and the range size), and a read far from every cursor
 * starts a block decoder at the block below it; at the end of a block
 * that decoder goes on with the next, stepping over the index and stream
 * headers that lie between streams.  Anything the file information
 * decoder does not accept leaves the stream with the plain decoder only.
 */
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/decoder_i.h"

/* Per block, beside its restart in the format index. */
struct xz_block {
	uint64_t unpadded;	/* header, data and check, without padding */
	uint64_t end;		/* range offset past its padding and check */
	uint32_t check;		/* the stream's check type */
};

enum xz_step {
	XZ_STREAM,		/* the plain stream decoder, from the start */
	XZ_HEADER,		/* collecting a block header */
	XZ_BLOCK,		/* a block decoder */
	XZ_GAP,			/* stepping over index and stream headers */
};

struct xz_state {
	lzma_stream lzma;
	int ended;

	/* Started at a block by xz_restart(). */
	enum xz_step step;
	const struct mfs_format_index *index;
	size_t block;		/* the block being decoded or looked for */
	uint64_t in;		/* range offset of the next input byte */
	uint8_t header[LZMA_BLOCK_HEADER_SIZE_MAX];
	size_t header_len, header_want;
	lzma_block options;	/* liblzma keeps a pointer to it */
};

/* Enough for any preset xz(1) writes (-9 uses 64 MiB of dictionary);
 * beyond it a hostile stream could make us allocate without bound. */
#define XZ_MEMLIMIT (256ULL * 1024 * 1024)

/* The index of a file with this many blocks takes a few MiB in liblzma
 * and in ours (1 MiB blocks: 256 GiB); beyond it, decode plainly. */
#define XZ_INDEX_MAX_BLOCKS	(1u << 18)
#define XZ_INDEX_MEMLIMIT	(16ULL * 1024 * 1024)
#define XZ_INDEX_READ		(64 * 1024)
/* Reading the index seeks once or twice per stream; a file of many tiny
 * streams is not worth more than this many reads. */
#define XZ_INDEX_MAX_READS	4096

static int xz_reset(void *state)
{
	struct xz_state *x = state;

	/* Initialised again in place, liblzma keeps the dictionary (up to
	 * 64 MiB) when the next stream wants one of the same size: a cursor
	 * that goes back to the start does not allocate it anew. */
	x->ended = 0;
	x->step = XZ_STREAM;
	x->index = NULL;
	if (lzma_stream_decoder(&x->lzma, XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK)
		return -ENOMEM;
	return 0;
}

static int xz_create(void **state)
{
	struct xz_state *x = calloc(1, sizeof(*x));
	int ret;

	if (!x)
		return -ENOMEM;
	x->lzma = (lzma_stream)LZMA_STREAM_INIT;
	ret = xz_reset(x);
	if (ret < 0) {
		lzma_end(&x->lzma);
		free(x);
		return ret;
	}
	*state = x;
	return 0;
}

/* Runs lzma_code() over the windows; returns its result. */
static lzma_ret xz_code(struct xz_state *x, const uint8_t **in, size_t *in_len,
			uint8_t **out, size_t *out_len, lzma_action action)
{
	lzma_stream *s = &x->lzma;
	lzma_ret ret;

	s->next_in = *in;
	s->avail_in = *in_len;
	s->next_out = *out;
	s->avail_out = *out_len;
	ret = lzma_code(s, action);
	x->in += *in_len - s->avail_in;
	*in = s->next_in;
	*in_len = s->avail_in;
	*out = s->next_out;
	*out_len = s->avail_out;
	return ret;
}

static int xz_decode_stream(struct xz_state *x, const uint8_t **in,
			    size_t *in_len, uint8_t **out, size_t *out_len)
{
	/* With LZMA_CONCATENATED the decoder only knows the data ended when
	 * told there is no more input: LZMA_FINISH on an empty window. */
	lzma_ret ret = xz_code(x, in, in_len, out, out_len,
			       *in_len == 0 ? LZMA_FINISH : LZMA_RUN);

	if (ret == LZMA_STREAM_END) {
		x->ended = 1;
		return MFS_DECODE_END;
	}
	if (ret == LZMA_OK || ret == LZMA_BUF_ERROR)
		return MFS_DECODE_OK;
	return -EIO;
}

/* The header is complete: starts a block decoder for it, with the sizes
 * the index gives, which liblzma then holds the block to. */
static int xz_block_start(struct xz_state *x)
{
	const struct mfs_format_index *index = x->index;
	const struct xz_block *info = index->private;
	lzma_filter filters[LZMA_FILTERS_MAX + 1];
	uint64_t out = index->restarts[x->block].out;
	uint64_t next_out = x->block + 1 < index->count ?
			    index->restarts[x->block + 1].out : index->total;
	lzma_ret ret;

	memset(&x->options, 0, sizeof(x->options));
	x->options.version = 1;
	x->options.header_size = (uint32_t)x->header_want;
	x->options.check = (lzma_check)info[x->block].check;
	x->options.filters = filters;
	if (lzma_block_header_decode(&x->options, NULL, x->header) != LZMA_OK)
		return -EIO;
	ret = LZMA_DATA_ERROR;
	if (x->options.uncompressed_size != LZMA_VLI_UNKNOWN &&
	    x->options.uncompressed_size != next_out - out)
		goto out;
	x->options.uncompressed_size = next_out - out;
	if (lzma_block_compressed_size(&x->options,
				       info[x->block].unpadded) != LZMA_OK)
		goto out;
	lzma_end(&x->lzma);
	x->lzma = (lzma_stream)LZMA_STREAM_INIT;
	ret = lzma_block_decoder(&x->lzma, &x->options);
out:
	/* The decoder has copied what it needs of the filter options. */
	lzma_filters_free(filters, NULL);
	x->options.filters = NULL;
	if (ret == LZMA_MEM_ERROR)
		return -ENOMEM;
	return ret == LZMA_OK ? 0 : -EIO;
}

/* Collects the header of the block at x->in, then starts it. */
static int xz_header(struct xz_state *x, const uint8_t **in, size_t *in_len)
{
	size_t n;

	if (x->header_len == 0) {
		if (*in_len == 0)
			return MFS_DECODE_OK;
		if ((*in)[0] == 0)	/* an index where a block should be */
			return -EIO;
		x->header_want = lzma_block_header_size_decode((*in)[0]);
	}
	n = x->header_want - x->header_len;
	if (n > *in_len)
		n = *in_len;
	memcpy(x->header + x->header_len, *in, n);
	x->header_len += n;
	*in += n;
	*in_len -= n;
	x->in += n;
	if (x->header_len < x->header_want)
		return MFS_DECODE_OK;
	if (xz_block_start(x) < 0)
		return -EIO;
	x->step = XZ_BLOCK;
	return MFS_DECODE_OK;
}

static int xz_decode_blocks(struct xz_state *x, const uint8_t **in,
			    size_t *in_len, uint8_t **out, size_t *out_len)
{
	const struct mfs_format_index *index = x->index;
	const struct xz_block *info = index->private;

	for (;;) {
		const uint8_t *in_before = *in;
		uint8_t *out_before = *out;
		enum xz_step step_before = x->step;
		uint64_t gap;
		lzma_ret ret;
		int r;

		switch (x->step) {
		case XZ_HEADER:
			r = xz_header(x, in, in_len);
			if (r < 0)
				return r;
			break;
		case XZ_BLOCK:
			ret = xz_code(x, in, in_len, out, out_len, LZMA_RUN);
			if (ret == LZMA_STREAM_END) {
				if (x->in != info[x->block].end)
					return -EIO;
				if (++x->block == index->count) {
					x->ended = 1;
					return MFS_DECODE_END;
				}
				x->step = XZ_GAP;
			} else if (ret != LZMA_OK && ret != LZMA_BUF_ERROR) {
				return -EIO;
			}
			break;
		case XZ_GAP:
			gap = index->restarts[x->block].in - x->in;
			if (gap > *in_len)
				gap = *in_len;
			*in += gap;
			*in_len -= (size_t)gap;
			x->in += gap;
			if (x->in == index->restarts[x->block].in) {
				x->step = XZ_HEADER;
				x->header_len = 0;
			}
			break;
		case XZ_STREAM:
			return -EIO;
		}
		/* Go on while something moves and there is room for it. */
		if ((*in == in_before && *out == out_before &&
		     x->step == step_before) || *out_len == 0)
			return MFS_DECODE_OK;
	}
}

static int xz_decode(void *state, const uint8_t **in, size_t *in_len,
		     uint8_t **out, size_t *out_len)
{
	struct xz_state *x = state;

	if (x->step == XZ_STREAM)
		return xz_decode_stream(x, in, in_len, out, out_len);
	return xz_decode_blocks(x, in, in_len, out, out_len);
}

static int xz_at_end(void *state)
{
	struct xz_state *x = state;

	return x->ended;
}

static void xz_destroy(void *state)
{
	struct xz_state *x = state;

	if (!x)
		return;
	lzma_end(&x->lzma);
	free(x);
}

/* Makes the reset decoder start at the block whose header is at in. */
static int xz_restart(void *state, const struct mfs_format_index *index,
		      uint64_t in)
{
	struct xz_state *x = state;
	const struct mfs_restart *r = mfs_format_index_at(index, in);

	if (!r)		/* no block starts at in */
		return -EIO;
	lzma_end(&x->lzma);
	x->lzma = (lzma_stream)LZMA_STREAM_INIT;
	x->index = index;
	x->block = (size_t)(r - index->restarts);
	x->in = in;
	x->step = XZ_HEADER;
	x->header_len = 0;
	return 0;
}

/* Feeds liblzma's file information decoder from the range, seeking where
 * it asks.  Returns the index, or NULL when it is not accepted. */
static int xz_index_decode(int fd, uint64_t offset, uint64_t size,
			   lzma_index **out)
{
	lzma_stream s = LZMA_STREAM_INIT;
	uint8_t *buf = malloc(XZ_INDEX_READ);
	lzma_index *index = NULL;
	uint64_t pos = 0;
	lzma_ret ret;
	int err = 0;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	ret = lzma_file_info_decoder(&s, &index, XZ_INDEX_MEMLIMIT, size);
	for (int reads = 0; ret == LZMA_OK && reads < XZ_INDEX_MAX_READS;
	     reads++) {
		size_t want = size - pos < XZ_INDEX_READ ?
			      (size_t)(size - pos) : XZ_INDEX_READ;
		ssize_t n = mfs_pread_full(fd, buf, want, offset + pos);

		if (n < 0 || (size_t)n != want)
			break;
		s.next_in = buf;
		s.avail_in = (size_t)n;
		ret = lzma_code(&s, pos + (uint64_t)n == size ? LZMA_FINISH :
							      LZMA_RUN);
		if (ret == LZMA_SEEK_NEEDED) {
			if (s.seek_pos > size)
				break;
			pos = s.seek_pos;
			ret = LZMA_OK;
		} else {
			pos += (uint64_t)n - s.avail_in;
		}
	}
	if (ret == LZMA_MEM_ERROR)
		err = -ENOMEM;
	if (ret == LZMA_STREAM_END)
		*out = index;
	else if (index)
		lzma_index_end(index, NULL);
	lzma_end(&s);
	free(buf);
	return err;
}

/* Restarts for every block, when there are several and they tile the
 * range as they should. */
static int xz_index_read(int fd, uint64_t offset, uint64_t size,
			 struct mfs_format_index **out)
{
	struct mfs_format_index *index = NULL;
	struct xz_block *info = NULL;
	lzma_index *lz = NULL;
	lzma_index_iter iter;
	lzma_vli blocks;
	uint64_t end = 0;
	size_t k = 0;
	int ret;

	*out = NULL;
	ret = xz_index_decode(fd, offset, size, &lz);
	if (ret < 0 || !lz)
		return ret;
	blocks = lzma_index_block_count(lz);
	if (blocks < 2 || blocks > XZ_INDEX_MAX_BLOCKS ||
	    lzma_index_file_size(lz) != size)
		goto out;
	ret = -ENOMEM;
	index = calloc(1, sizeof(*index));
	if (!index)
		goto out;
	index->restarts = malloc((size_t)blocks * sizeof(*index->restarts));
	info = malloc((size_t)blocks * sizeof(*info));
	index->private = info;
	if (!index->restarts || !info)
		goto out;
	ret = 0;
	lzma_index_iter_init(&iter, lz);
	while (k < blocks &&
	       !lzma_index_iter_next(&iter, LZMA_INDEX_ITER_BLOCK)) {
		uint64_t in = iter.block.compressed_file_offset;

		if (in < end || iter.block.total_size > size - in)
			goto out;
		index->restarts[k] = (struct mfs_restart){
			iter.block.uncompressed_file_offset, in };
		info[k].unpadded = iter.block.unpadded_size;
		info[k].end = end = in + iter.block.total_size;
		info[k].check = (uint32_t)iter.stream.flags->check;
		k++;
	}
	if (k != blocks)
		goto out;
	index->count = k;
	index->total = lzma_index_uncompressed_size(lz);
	*out = index;
	index = NULL;
out:
	mfs_format_index_free(index);
	lzma_index_end(lz, NULL);
	return ret;
}

const struct mfs_decoder_ops mfs_decoder_xz = {
	.create = xz_create,
	.reset = xz_reset,
	.decode = xz_decode,
	.at_end = xz_at_end,
	.destroy = xz_destroy,
	.index_read = xz_index_read,
	.restart = xz_restart,
};
