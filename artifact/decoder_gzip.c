/*
 * gzip through ISA-L's inflate, which decodes deflate several times faster
 * than zlib on this kind of data.  Concatenated gzip members are decoded
 * as one stream, as gzip(1) does.  ISA-L checks each member's CRC-32 and
 * length trailer, so corruption is reported, not passed on.
 */
#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/decoder_i.h"

struct gzip_state {
	struct inflate_state inflate;
	int finished;		/* the current member ended */
};

static int gzip_reset(void *state)
{
	struct gzip_state *g = state;

	isal_inflate_init(&g->inflate);
	g->inflate.crc_flag = ISAL_GZIP;
	g->finished = 0;
	return 0;
}

static int gzip_create(void **state)
{
	struct gzip_state *g = malloc(sizeof(*g));

	if (!g)
		return -ENOMEM;
	gzip_reset(g);
	*state = g;
	return 0;
}

static int gzip_decode(void *state, const uint8_t **in, size_t *in_len,
		       uint8_t **out, size_t *out_len)
{
	struct gzip_state *g = state;
	struct inflate_state *s = &g->inflate;
	int ret;

	if (g->finished) {
		/* Another member follows only if it starts with the magic;
		 * anything else after the last member is the end. */
		/* One byte cannot tell: ask for more (the caller treats a
		 * lone trailing byte at the very end as the end). */
		if (*in_len < 2)
			return MFS_DECODE_OK;
		if ((*in)[0] != 0x1f || (*in)[1] != 0x8b)
			return MFS_DECODE_END;
		gzip_reset(g);
	}

	s->next_in = (uint8_t *)*in;
	s->avail_in = *in_len > UINT32_MAX ? UINT32_MAX : (uint32_t)*in_len;
	s->next_out = *out;
	s->avail_out = *out_len > UINT32_MAX ? UINT32_MAX : (uint32_t)*out_len;

	ret = isal_inflate(s);

	*in_len -= (size_t)(s->next_in - *in);
	*in = s->next_in;
	*out_len -= (size_t)(s->next_out - *out);
	*out = s->next_out;

	if (ret != ISAL_DECOMP_OK)
		return -EIO;
	if (s->block_state == ISAL_BLOCK_FINISH) {
		g->finished = 1;
		/* With nothing after it in this window, the caller decides
		 * whether more input exists; report the clean end only when
		 * the member is followed by something that is not a member. */
		if (*in_len >= 2 && ((*in)[0] != 0x1f || (*in)[1] != 0x8b))
			return MFS_DECODE_END;
	}
	return MFS_DECODE_OK;
}

static int gzip_at_end(void *state)
{
	struct gzip_state *g = state;

	return g->finished;
}

static void gzip_destroy(void *state)
{
	free(state);
}

/* ISA-L's inflate state holds everything it needs, the Huffman tables of
 * the current block and the last 32 KiB of output among it, with no
 * pointers that live across calls (next_in and next_out are set anew
 * each time), so a byte copy resumes exactly where it was taken. */
static void gzip_save(const void *state, void *buf)
{
	memcpy(buf, state, sizeof(struct gzip_state));
}

/* A state may come from an index saved by an earlier run.  The index is
 * checksummed, but the counters that ISA-L uses as lengths and indices
 * into its own buffers are checked here too, so that a state that went
 * wrong somewhere can only decode wrong bytes (which the member's CRC-32
 * then catches), not make inflate step outside its buffers. */
static int gzip_state_plausible(const struct gzip_state *g)
{
	const struct inflate_state *s = &g->inflate;

	if (g->finished != 0 && g->finished != 1)
		return 0;
	if (s->crc_flag != ISAL_GZIP || s->hist_bits > ISAL_DEF_MAX_HIST_BITS ||
	    s->dict_length > ISAL_DEF_HIST_SIZE)
		return 0;
	if ((unsigned)s->block_state > ISAL_CHECKSUM_CHECK)
		return 0;
	if (s->read_in_length < 0 || s->read_in_length > 64)
		return 0;
	if (s->tmp_in_size < 0 ||
	    (size_t)s->tmp_in_size > sizeof(s->tmp_in_buffer))
		return 0;
	if (s->tmp_out_valid < 0 || s->tmp_out_processed < 0 ||
	    s->tmp_out_processed > s->tmp_out_valid ||
	    (size_t)s->tmp_out_valid > sizeof(s->tmp_out_buffer))
		return 0;
	if (s->write_overflow_len < 0 || s->copy_overflow_length < 0 ||
	    s->copy_overflow_distance < 0 ||
	    s->copy_overflow_distance > ISAL_DEF_HIST_SIZE)
		return 0;
	return 1;
}

static int gzip_load(void *state, const void *buf)
{
	/* buf is a malloc'd copy, aligned for the struct. */
	if (!gzip_state_plausible(buf))
		return -EIO;
	memcpy(state, buf, sizeof(struct gzip_state));
	return 0;
}

const struct mfs_decoder_ops mfs_decoder_gzip = {
	.create = gzip_create,
	.reset = gzip_reset,
	.decode = gzip_decode,
	.at_end = gzip_at_end,
	.destroy = gzip_destroy,
	.state_size = sizeof(struct gzip_state),
	.save = gzip_save,
	.load = gzip_load,
};
