/*
 * Exported stream indexes; see stream_index_i.h for the layout.
 *
 * An index comes back from disk, possibly from another build or another
 * file, so decoding checks everything before anything is kept: the CRC
 * against damage, the header against the stream, each restore point
 * against the one before and the range, and each blob's size against
 * what resume data packs to.  The decoder checks resume data once more
 * when it loads it, and the stream decodes from a point once, checking
 * the bytes against the point's CRC-32, before it serves any.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "artifact/stream_index_i.h"

static const uint8_t index_magic[8] = {
	'M', 'F', 'S', 'S', 'T', 'I', 'D', 'X',
};

#define INDEX_HEADER	(8 + 4 + 4 + 8 + 8 + 8 + 4 + 4)
#define INDEX_ITEM	(8 + 8 + 4 + 4 + 4)
#define ITEM_CRC_KNOWN	1u
#define INDEX_TRAILER	4
#define INDEX_UNKNOWN	UINT64_MAX
/* Far beyond any doubling the budget causes, and far from overflowing. */
#define INDEX_MAX_SPAN	(1ULL << 50)

struct writer {
	uint8_t *p;
};

static void put32(struct writer *w, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*w->p++ = (uint8_t)(v >> (8 * i));
}

static void put64(struct writer *w, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*w->p++ = (uint8_t)(v >> (8 * i));
}

static void put(struct writer *w, const void *data, size_t len)
{
	memcpy(w->p, data, len);
	w->p += len;
}

int mfs_stream_index_encode(const struct mfs_checkpoints *cp, int64_t total,
			    const struct mfs_stream_index_key *key, void **buf,
			    size_t *len)
{
	size_t size = INDEX_HEADER + INDEX_TRAILER;
	struct writer w;
	uint8_t *out;

	for (size_t i = 0; i < cp->count; i++)
		size += INDEX_ITEM + cp->items[i].blob_len;
	out = malloc(size);
	if (!out)
		return -ENOMEM;
	w.p = out;
	put(&w, index_magic, sizeof(index_magic));
	put32(&w, MFS_STREAM_INDEX_VERSION);
	put32(&w, (uint32_t)key->compression);
	put64(&w, key->size);
	put64(&w, total < 0 ? INDEX_UNKNOWN : (uint64_t)total);
	put64(&w, cp->span);
	put32(&w, (uint32_t)key->point_max);
	put32(&w, (uint32_t)cp->count);
	for (size_t i = 0; i < cp->count; i++) {
		const struct mfs_checkpoint *c = &cp->items[i];

		put64(&w, c->out);
		put64(&w, c->in);
		put32(&w, c->crc_known ? c->crc : 0);
		put32(&w, c->crc_known ? ITEM_CRC_KNOWN : 0);
		put32(&w, (uint32_t)c->blob_len);
		if (c->blob_len)
			put(&w, c->blob, c->blob_len);
	}
	put32(&w, (uint32_t)crc32_z(0, out, size - INDEX_TRAILER));
	*buf = out;
	*len = size;
	return 0;
}

struct reader {
	const uint8_t *p;
	size_t left;
};

static bool get32(struct reader *r, uint32_t *v)
{
	if (r->left < 4)
		return false;
	*v = 0;
	for (int i = 0; i < 4; i++)
		*v |= (uint32_t)r->p[i] << (8 * i);
	r->p += 4;
	r->left -= 4;
	return true;
}

static bool get64(struct reader *r, uint64_t *v)
{
	if (r->left < 8)
		return false;
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	r->left -= 8;
	return true;
}

/* The fixed fields, against the key.  On success r stands at the first
 * restore point. */
static bool header_ok(struct reader *r, const struct mfs_stream_index_key *key,
		      uint64_t *total, uint64_t *span, uint32_t *count)
{
	uint32_t version, compression, point_max;
	uint64_t size;

	if (r->left < sizeof(index_magic) ||
	    memcmp(r->p, index_magic, sizeof(index_magic)) != 0)
		return false;
	r->p += sizeof(index_magic);
	r->left -= sizeof(index_magic);
	if (!get32(r, &version) || !get32(r, &compression) ||
	    !get64(r, &size) || !get64(r, total) || !get64(r, span) ||
	    !get32(r, &point_max) || !get32(r, count))
		return false;
	if (version != MFS_STREAM_INDEX_VERSION ||
	    key->compression == MFS_COMPRESSION_NONE ||
	    compression != (uint32_t)key->compression || size != key->size ||
	    point_max != key->point_max)
		return false;
	if (*total != INDEX_UNKNOWN && *total > INT64_MAX)
		return false;
	if (*span < MFS_CHECKPOINT_SPAN || *span > INDEX_MAX_SPAN ||
	    (*span & (*span - 1)))
		return false;
	return *count <= MFS_CHECKPOINT_BUDGET / MFS_CHECKPOINT_COST;
}

/* One restore point after (prev_out, prev_in): in order, in range, of
 * the kind the format has, and its blob (if any) copied out. */
static int item_read(struct reader *r, const struct mfs_stream_index_key *key,
		     uint64_t total, uint64_t prev_out,
		     uint64_t prev_in, struct mfs_checkpoints *cp)
{
	uint64_t out, in, size;
	uint32_t crc, flags, blob_len;
	void *blob = NULL;

	if (!get64(r, &out) || !get64(r, &in) || !get32(r, &crc) ||
	    !get32(r, &flags) || !get32(r, &blob_len))
		return -EINVAL;
	if (flags & ~ITEM_CRC_KNOWN)
		return -EINVAL;
	if (out <= prev_out || in <= prev_in || in > key->size ||
	    (total != INDEX_UNKNOWN && out > total))
		return -EINVAL;
	if (blob_len > r->left ||
	    cp->memory + blob_len + MFS_CHECKPOINT_COST > MFS_CHECKPOINT_BUDGET)
		return -EINVAL;
	if (blob_len == 0) {
		/* A restart: a frame or block must start at in. */
		if (in >= key->size || !key->restart_ok ||
		    !key->restart_ok(key->arg, out, in))
			return -EINVAL;
	} else {
		/* A checkpoint: its blob a zstd frame that unpacks to no
		 * more than resume data can be. */
		size = key->point_max ?
		       ZSTD_getFrameContentSize(r->p, blob_len) : 0;
		if (key->point_max == 0 ||
		    blob_len > ZSTD_compressBound(key->point_max) ||
		    size == 0 || size > key->point_max)
			return -EINVAL;
		blob = malloc(blob_len);
		if (!blob)
			return -ENOMEM;
		memcpy(blob, r->p, blob_len);
		r->p += blob_len;
		r->left -= blob_len;
	}
	return mfs_checkpoints_append(cp, &(struct mfs_checkpoint){
		.out = out, .in = in, .blob = blob, .blob_len = blob_len,
		.crc = crc, .crc_known = flags & ITEM_CRC_KNOWN });
}

int mfs_stream_index_decode(const void *buf, size_t len,
			    const struct mfs_stream_index_key *key,
			    struct mfs_checkpoints *cp, int64_t *total)
{
	struct reader r = { buf, len };
	uint64_t whole, span, prev_out = 0, prev_in = 0;
	uint32_t count, crc;
	int ret = -EINVAL;

	mfs_checkpoints_init(cp, key->point_max);
	if (len < INDEX_HEADER + INDEX_TRAILER)
		goto fail;
	r.left = len - INDEX_TRAILER;
	{
		struct reader t = { r.p + r.left, INDEX_TRAILER };

		get32(&t, &crc);
	}
	if (crc != (uint32_t)crc32_z(0, buf, len - INDEX_TRAILER))
		goto fail;
	if (!header_ok(&r, key, &whole, &span, &count))
		goto fail;
	cp->span = span;
	for (uint32_t i = 0; i < count; i++) {
		ret = item_read(&r, key, whole, prev_out, prev_in, cp);
		if (ret < 0)
			goto fail;
		prev_out = cp->items[cp->count - 1].out;
		prev_in = cp->items[cp->count - 1].in;
	}
	ret = -EINVAL;
	if (r.left != 0)
		goto fail;
	mfs_checkpoints_settle(cp);
	*total = whole == INDEX_UNKNOWN ? -1 : (int64_t)whole;
	return 0;
fail:
	mfs_checkpoints_destroy(cp);
	return ret;
}
