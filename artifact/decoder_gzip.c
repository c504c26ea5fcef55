/*
 * gzip through ISA-L's inflate, which decodes deflate several times faster
 * than zlib on this kind of data.  Concatenated gzip members are decoded
 * as one stream, as gzip(1) does.  ISA-L checks each member's CRC-32 and
 * length trailer, so corruption is reported, not passed on.
 *
 * Restore points are data, as zlib's examples/zran.c keeps them: at a
 * deflate block boundary, the bits of the partly used input byte, the
 * window of up to 32 KiB of output before it, and the member's CRC-32
 * and length so far.  A fresh inflate state resumes from them, primed
 * through ISA-L's documented interface (isal_inflate_set_dict() and the
 * read_in/read_in_length bit buffer, zran's inflateSetDictionary() and
 * inflatePrime()); nothing of ISA-L's own memory is ever kept.
 *
 * ISA-L does not stop at block ends by itself, but it stops when its
 * input runs out, and then says where it is: a state of ISAL_BLOCK_HDR
 * (or ISAL_BLOCK_NEW_HDR) means the previous block ended and the next
 * header is not read yet, the bits left of the boundary in read_in and
 * the header bytes seen since in tmp_in_size.  So while the stream wants
 * a restore point, input goes in in small pieces (the rest of a stored
 * block exactly) until one of them runs out inside a block header.
 */
#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/decoder_i.h"

#define GZIP_WINDOW		ISAL_DEF_HIST_SIZE	/* 32 KiB */
#define GZIP_TRAILER		8
/* Input per call while looking for a block boundary: about the size of a
 * dynamic block header, so most boundaries are seen, few calls made. */
#define GZIP_HUNT_CHUNK		64

/* A saved point, little-endian: u8 bits, u8 their value, u16 zero,
 * u32 the member's CRC-32 so far, u64 its length so far, u32 window
 * length, the window. */
#define GZIP_POINT_HEADER	(1 + 1 + 2 + 4 + 8 + 4)
#define GZIP_POINT_MAX		(GZIP_POINT_HEADER + GZIP_WINDOW)

enum gzip_mode {
	GZIP_MEMBER,		/* from a member's header: ISA-L does it all */
	GZIP_RESUMED,		/* raw deflate from a restore point */
	GZIP_TRAILER_READ,	/* a resumed member's trailer, checked here */
};

struct gzip_state {
	struct inflate_state inflate;
	/* The member's header, read here rather than inside isal_inflate(),
	 * whose own header struct is left partly uninitialised when a long
	 * header (a comment, an extra field) spans calls. */
	struct isal_gzip_header header;
	bool header_done;
	int finished;		/* the current member ended */
	enum gzip_mode mode;
	uint64_t member_out;	/* bytes the current member produced */
	bool hunting;		/* stop at the next block boundary */
	bool at_point;		/* the last decode() stopped at one */
	uint64_t point_back;	/* ...this many input bytes back */
	uint8_t point_bits, point_value;
	uint32_t point_crc;
	uint8_t trailer[GZIP_TRAILER];
	size_t trailer_len;
	/* The member's last output: byte x of it at x % GZIP_WINDOW. */
	uint8_t window[GZIP_WINDOW];
};

static int gzip_reset(void *state)
{
	struct gzip_state *g = state;

	/* isal_inflate_init() leaves fields that the gzip header reader
	 * looks at; all but the output buffer start known. */
	memset(&g->inflate, 0, offsetof(struct inflate_state, tmp_out_buffer));
	isal_inflate_init(&g->inflate);
	g->inflate.crc_flag = ISAL_GZIP;
	memset(&g->header, 0, sizeof(g->header));
	isal_gzip_header_init(&g->header);
	g->header_done = false;
	g->finished = 0;
	g->mode = GZIP_MEMBER;
	g->member_out = 0;
	g->at_point = false;
	g->trailer_len = 0;
	return 0;
}

static int gzip_create(void **state)
{
	struct gzip_state *g = malloc(sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->hunting = false;
	gzip_reset(g);
	*state = g;
	return 0;
}

/* Remembers the last of n bytes just produced by the member. */
static void window_add(struct gzip_state *g, const uint8_t *data, size_t n)
{
	uint64_t start;
	size_t at, first;

	if (n > GZIP_WINDOW) {
		data += n - GZIP_WINDOW;
		start = g->member_out + n - GZIP_WINDOW;
		n = GZIP_WINDOW;
	} else {
		start = g->member_out;
	}
	at = (size_t)(start % GZIP_WINDOW);
	first = n < GZIP_WINDOW - at ? n : GZIP_WINDOW - at;
	memcpy(g->window + at, data, first);
	memcpy(g->window, data + first, n - first);
}

/* Copies the last len bytes of the member's output into buf. */
static void window_copy(const struct gzip_state *g, uint8_t *buf, size_t len)
{
	size_t at = (size_t)((g->member_out - len) % GZIP_WINDOW);
	size_t first = len < GZIP_WINDOW - at ? len : GZIP_WINDOW - at;

	memcpy(buf, g->window + at, first);
	memcpy(buf + first, g->window, len - first);
}

/* Whether inflate stands between two blocks with all it decoded handed
 * out, so that the bits left in read_in, the header bytes it holds and
 * the window are all it takes to go on. */
static bool at_block_boundary(const struct gzip_state *g)
{
	const struct inflate_state *s = &g->inflate;

	if (s->block_state != ISAL_BLOCK_NEW_HDR &&
	    s->block_state != ISAL_BLOCK_HDR)
		return false;
	/* Before any output the gzip header may not be read yet. */
	if (g->member_out == 0)
		return false;
	/* Output still waiting inside inflate belongs before the point. */
	if (s->tmp_out_processed != s->tmp_out_valid)
		return false;
	return s->read_in_length >= 0 && s->read_in_length <= 64 &&
	       s->tmp_in_size >= 0 &&
	       (size_t)s->tmp_in_size <= sizeof(s->tmp_in_buffer);
}

static void note_point(struct gzip_state *g)
{
	const struct inflate_state *s = &g->inflate;
	int bits = s->read_in_length % 8;

	g->point_back = (uint64_t)s->tmp_in_size +
			(uint64_t)(s->read_in_length / 8);
	g->point_bits = (uint8_t)bits;
	g->point_value = (uint8_t)(s->read_in & ((1u << bits) - 1));
	g->point_crc = s->crc;
	g->at_point = true;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A resumed member's deflate data ended: its trailer starts with what
 * inflate read ahead into read_in (whole bytes past the padding bits),
 * and goes on in the input. */
static int trailer_start(struct gzip_state *g)
{
	struct inflate_state *s = &g->inflate;
	int pad, bytes;
	uint64_t bits;

	if (s->read_in_length < 0 || s->read_in_length > 64 ||
	    s->tmp_in_size != 0)
		return -EIO;
	pad = s->read_in_length % 8;
	bytes = s->read_in_length / 8;
	bits = pad < 64 ? s->read_in >> pad : 0;
	g->trailer_len = 0;
	for (int i = 0; i < bytes && g->trailer_len < GZIP_TRAILER; i++)
		g->trailer[g->trailer_len++] = (uint8_t)(bits >> (8 * i));
	g->mode = GZIP_TRAILER_READ;
	return 0;
}

/* Collects the rest of a resumed member's trailer and checks it against
 * the CRC-32 and length counted from the restore point on. */
static int trailer_take(struct gzip_state *g, const uint8_t **in,
			size_t *in_len)
{
	size_t n = GZIP_TRAILER - g->trailer_len;

	if (n > *in_len)
		n = *in_len;
	memcpy(g->trailer + g->trailer_len, *in, n);
	g->trailer_len += n;
	*in += n;
	*in_len -= n;
	if (g->trailer_len < GZIP_TRAILER)
		return MFS_DECODE_OK;
	if (le32(g->trailer) != g->inflate.crc ||
	    le32(g->trailer + 4) != (uint32_t)g->member_out)
		return -EIO;
	g->finished = 1;
	g->mode = GZIP_MEMBER;
	if (*in_len >= 2 && ((*in)[0] != 0x1f || (*in)[1] != 0x8b))
		return MFS_DECODE_END;
	return MFS_DECODE_OK;
}

/* One call of isal_inflate over at most in_max bytes of the window. */
static int inflate_step(struct gzip_state *g, const uint8_t **in,
			size_t *in_len, size_t in_max, uint8_t **out,
			size_t *out_len)
{
	struct inflate_state *s = &g->inflate;
	size_t in_step = *in_len < in_max ? *in_len : in_max, produced;
	int ret;

	s->next_in = (uint8_t *)*in;
	s->avail_in = in_step > UINT32_MAX ? UINT32_MAX : (uint32_t)in_step;
	s->next_out = *out;
	s->avail_out = *out_len > UINT32_MAX ? UINT32_MAX : (uint32_t)*out_len;

	ret = isal_inflate(s);

	*in_len -= (size_t)(s->next_in - *in);
	*in = s->next_in;
	produced = (size_t)(s->next_out - *out);
	window_add(g, *out, produced);
	g->member_out += produced;
	*out_len -= produced;
	*out = s->next_out;
	return ret == ISAL_DECOMP_OK ? 0 : -EIO;
}

static int gzip_decode(void *state, const uint8_t **in, size_t *in_len,
		       uint8_t **out, size_t *out_len)
{
	struct gzip_state *g = state;
	struct inflate_state *s = &g->inflate;
	int ret;

	g->at_point = false;
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
	if (g->mode == GZIP_TRAILER_READ)
		return trailer_take(g, in, in_len);
	if (g->mode == GZIP_MEMBER && !g->header_done) {
		s->next_in = (uint8_t *)*in;
		s->avail_in = *in_len > UINT32_MAX ? UINT32_MAX :
			      (uint32_t)*in_len;
		ret = isal_read_gzip_header(s, &g->header);
		*in_len -= (size_t)(s->next_in - *in);
		*in = s->next_in;
		if (ret == ISAL_END_INPUT)
			return MFS_DECODE_OK;
		if (ret != ISAL_DECOMP_OK)
			return -EIO;
		g->header_done = true;
	}

	for (;;) {
		const uint8_t *in_before = *in;
		uint8_t *out_before = *out;
		size_t chunk = SIZE_MAX;

		if (g->hunting) {
			/* A stored block ends where its length says. */
			chunk = GZIP_HUNT_CHUNK;
			if (s->block_state == ISAL_BLOCK_TYPE0 &&
			    s->type0_block_len > 0)
				chunk = (size_t)s->type0_block_len;
		}
		ret = inflate_step(g, in, in_len, chunk, out, out_len);
		if (ret < 0)
			return ret;
		if (s->block_state == ISAL_BLOCK_FINISH) {
			if (g->mode == GZIP_RESUMED) {
				if (trailer_start(g) < 0)
					return -EIO;
				return trailer_take(g, in, in_len);
			}
			g->finished = 1;
			/* With nothing after it in this window, the caller
			 * decides whether more input exists; report the clean
			 * end only when the member is followed by something
			 * that is not a member. */
			if (*in_len >= 2 && ((*in)[0] != 0x1f || (*in)[1] != 0x8b))
				return MFS_DECODE_END;
			return MFS_DECODE_OK;
		}
		if (!g->hunting)
			return MFS_DECODE_OK;
		if (at_block_boundary(g)) {
			note_point(g);
			return MFS_DECODE_OK;
		}
		if ((*in == in_before && *out == out_before) || *in_len == 0 ||
		    *out_len == 0)
			return MFS_DECODE_OK;
	}
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

static void gzip_hunt(void *state, bool on)
{
	struct gzip_state *g = state;

	g->hunting = on;
}

static int gzip_boundary(void *state)
{
	struct gzip_state *g = state;

	return g->at_point;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static ssize_t gzip_point_save(void *state, uint8_t *buf, uint64_t *back)
{
	struct gzip_state *g = state;
	size_t window = g->member_out < GZIP_WINDOW ?
			(size_t)g->member_out : GZIP_WINDOW;

	if (!g->at_point)
		return -EINVAL;
	buf[0] = g->point_bits;
	buf[1] = g->point_value;
	put_le(buf + 2, 0, 2);
	put_le(buf + 4, g->point_crc, 4);
	put_le(buf + 8, g->member_out, 8);
	put_le(buf + 16, window, 4);
	window_copy(g, buf + GZIP_POINT_HEADER, window);
	*back = g->point_back;
	return (ssize_t)(GZIP_POINT_HEADER + window);
}

/* The bytes may come from an index file: every count is checked against
 * what point_save() can write before inflate sees any of it, so the worst
 * a forged point can do is decode wrong bytes, which the restore point's
 * checksum and the member's CRC-32 then catch. */
static int gzip_point_load(void *state, const uint8_t *buf, size_t len)
{
	struct gzip_state *g = state;
	struct inflate_state *s = &g->inflate;
	uint64_t member_out;
	uint32_t window;
	uint8_t bits, value;

	if (len < GZIP_POINT_HEADER || len > GZIP_POINT_MAX)
		return -EIO;
	bits = buf[0];
	value = buf[1];
	member_out = get_le(buf + 8, 8);
	window = (uint32_t)get_le(buf + 16, 4);
	if (bits > 7 || (value >> bits) != 0 || get_le(buf + 2, 2) != 0 ||
	    member_out == 0 ||
	    window != (member_out < GZIP_WINDOW ? member_out : GZIP_WINDOW) ||
	    len != GZIP_POINT_HEADER + window)
		return -EIO;

	gzip_reset(g);
	s->crc_flag = ISAL_GZIP_NO_HDR;	/* raw deflate, CRC-32 counted */
	s->crc = (uint32_t)get_le(buf + 4, 4);
	if (isal_inflate_set_dict(s, (uint8_t *)buf + GZIP_POINT_HEADER,
				  window) != ISAL_DECOMP_OK)
		return -EIO;
	s->read_in = value;
	s->read_in_length = bits;
	g->mode = GZIP_RESUMED;
	g->header_done = true;
	/* The window as if the member had just produced it. */
	g->member_out = member_out - window;
	window_add(g, buf + GZIP_POINT_HEADER, window);
	g->member_out = member_out;
	return 0;
}

const struct mfs_decoder_ops mfs_decoder_gzip = {
	.create = gzip_create,
	.reset = gzip_reset,
	.decode = gzip_decode,
	.at_end = gzip_at_end,
	.destroy = gzip_destroy,
	.boundary = gzip_boundary,
	.point_max = GZIP_POINT_MAX,
	.hunt = gzip_hunt,
	.point_save = gzip_point_save,
	.point_load = gzip_point_load,
};
