/* zstd through libzstd's streaming API; several frames decode as one. */
#include <errno.h>
#include <stdlib.h>
#include <zstd.h>

#include "artifact/decoder_i.h"

struct zstd_state {
	ZSTD_DCtx *dctx;
	int frame_done;		/* the last frame decoded is complete */
};

/* Refuse frames asking for windows beyond 128 MiB (zstd --long=27):
 * enough for any artifact writer, bounded for hostile input. */
#define ZSTD_WINDOW_LOG_MAX 27

static int zstd_reset(void *state)
{
	struct zstd_state *z = state;

	z->frame_done = 1;
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
	return MFS_DECODE_OK;
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
};
