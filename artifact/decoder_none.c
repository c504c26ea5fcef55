/* The identity decoder: lets a cursor treat plain members like the rest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/decoder_i.h"

static int none_create(void **state)
{
	*state = NULL;
	return 0;
}

static int none_reset(void *state)
{
	return 0;
}

static int none_decode(void *state, const uint8_t **in, size_t *in_len,
		       uint8_t **out, size_t *out_len)
{
	size_t n = *in_len < *out_len ? *in_len : *out_len;

	memcpy(*out, *in, n);
	*in += n;
	*in_len -= n;
	*out += n;
	*out_len -= n;
	return MFS_DECODE_OK;
}

static int none_at_end(void *state)
{
	return 1;
}

static void none_destroy(void *state)
{
}

const struct mfs_decoder_ops mfs_decoder_none = {
	.create = none_create,
	.reset = none_reset,
	.decode = none_decode,
	.at_end = none_at_end,
	.destroy = none_destroy,
};

const struct mfs_decoder_ops *mfs_decoder_for(enum mfs_compression c)
{
	switch (c) {
	case MFS_COMPRESSION_GZIP:
		return &mfs_decoder_gzip;
	case MFS_COMPRESSION_XZ:
		return &mfs_decoder_xz;
	case MFS_COMPRESSION_ZSTD:
		return &mfs_decoder_zstd;
	case MFS_COMPRESSION_NONE:
		break;
	}
	return &mfs_decoder_none;
}
