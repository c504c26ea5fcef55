/* xz through liblzma; concatenated streams are decoded as one. */
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>

#include "artifact/decoder_i.h"

struct xz_state {
	lzma_stream lzma;
	int ended;
};

/* Enough for any preset xz(1) writes (-9 uses 64 MiB of dictionary);
 * beyond it a hostile stream could make us allocate without bound. */
#define XZ_MEMLIMIT (256ULL * 1024 * 1024)

static int xz_reset(void *state)
{
	struct xz_state *x = state;

	lzma_end(&x->lzma);
	x->lzma = (lzma_stream)LZMA_STREAM_INIT;
	x->ended = 0;
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

static int xz_decode(void *state, const uint8_t **in, size_t *in_len,
		     uint8_t **out, size_t *out_len)
{
	struct xz_state *x = state;
	lzma_stream *s = &x->lzma;
	lzma_ret ret;

	s->next_in = *in;
	s->avail_in = *in_len;
	s->next_out = *out;
	s->avail_out = *out_len;

	/* With LZMA_CONCATENATED the decoder only knows the data ended when
	 * told there is no more input: LZMA_FINISH on an empty window. */
	ret = lzma_code(s, *in_len == 0 ? LZMA_FINISH : LZMA_RUN);

	*in = s->next_in;
	*in_len = s->avail_in;
	*out = s->next_out;
	*out_len = s->avail_out;

	if (ret == LZMA_STREAM_END) {
		x->ended = 1;
		return MFS_DECODE_END;
	}
	if (ret == LZMA_OK || ret == LZMA_BUF_ERROR)
		return MFS_DECODE_OK;
	return -EIO;
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

const struct mfs_decoder_ops mfs_decoder_xz = {
	.create = xz_create,
	.reset = xz_reset,
	.decode = xz_decode,
	.at_end = xz_at_end,
	.destroy = xz_destroy,
};
