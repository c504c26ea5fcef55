/* Restore points of a decompressed stream; see checkpoints_i.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "artifact/checkpoints_i.h"

/* Resume data is mostly a 32 KiB window of output; the fastest level
 * shrinks it well enough at little cost. */
#define CHECKPOINT_ZSTD_LEVEL 1

void mfs_checkpoints_init(struct mfs_checkpoints *cp, size_t point_max)
{
	memset(cp, 0, sizeof(*cp));
	cp->point_max = point_max;
	cp->span = MFS_CHECKPOINT_SPAN;
	cp->next = MFS_CHECKPOINT_SPAN;
}

void mfs_checkpoints_destroy(struct mfs_checkpoints *cp)
{
	for (size_t i = 0; i < cp->count; i++)
		free(cp->items[i].blob);
	free(cp->items);
	memset(cp, 0, sizeof(*cp));
}

int mfs_checkpoint_pack(const void *data, size_t len, void **blob,
			size_t *blob_len)
{
	size_t bound = ZSTD_compressBound(len), n;
	void *buf = malloc(bound), *shrunk;

	if (!buf)
		return -ENOMEM;
	n = ZSTD_compress(buf, bound, data, len, CHECKPOINT_ZSTD_LEVEL);
	if (ZSTD_isError(n)) {
		free(buf);
		return -ENOMEM;
	}
	shrunk = realloc(buf, n);
	*blob = shrunk ? shrunk : buf;
	*blob_len = n;
	return 0;
}

/* Where the next one is wanted: a span past the last one, never behind
 * at_least, so the frontier does not move back. */
static uint64_t next_after_last(const struct mfs_checkpoints *cp,
				uint64_t at_least)
{
	uint64_t next = cp->count ? cp->items[cp->count - 1].out + cp->span :
				    cp->span;

	return next > at_least ? next : at_least;
}

/* Item i is dropped: the one kept before it (kept_prev, or NULL) now
 * covers its bytes too. */
static void merge_crc(struct mfs_checkpoints *cp, struct mfs_checkpoint *prev,
		      size_t i)
{
	const struct mfs_checkpoint *c = &cp->items[i];

	if (!prev)
		return;
	if (!prev->crc_known || !c->crc_known || i + 1 == cp->count) {
		/* The last one's length runs to an end not known here. */
		prev->crc_known = false;
		return;
	}
	prev->crc = (uint32_t)crc32_combine(prev->crc, c->crc,
				(z_off_t)(cp->items[i + 1].out - c->out));
}

/* Doubles the span and keeps the points at least a span apart. */
static void thin_out(struct mfs_checkpoints *cp)
{
	uint64_t last = 0;
	size_t kept = 0;

	cp->span *= 2;
	cp->memory = 0;
	for (size_t i = 0; i < cp->count; i++) {
		struct mfs_checkpoint *c = &cp->items[i];

		if (c->out >= last + cp->span) {
			last = c->out;
			cp->items[kept++] = *c;
			cp->memory += c->blob_len + MFS_CHECKPOINT_COST;
		} else {
			/* Merged before the copy below can overwrite it:
			 * kept <= i, so items[i + 1] is still intact. */
			merge_crc(cp, kept ? &cp->items[kept - 1] : NULL, i);
			free(c->blob);
		}
	}
	cp->count = kept;
	cp->next = next_after_last(cp, cp->next);
}

static int grow(struct mfs_checkpoints *cp)
{
	size_t cap = cp->capacity ? cp->capacity * 2 : 64;
	struct mfs_checkpoint *items;

	if (cp->count < cp->capacity)
		return 0;
	items = realloc(cp->items, cap * sizeof(*items));
	if (!items)
		return -ENOMEM;
	cp->items = items;
	cp->capacity = cap;
	return 0;
}

int mfs_checkpoints_append(struct mfs_checkpoints *cp,
			   const struct mfs_checkpoint *c)
{
	if (grow(cp) < 0) {
		free(c->blob);
		return -ENOMEM;
	}
	cp->items[cp->count++] = *c;
	cp->memory += c->blob_len + MFS_CHECKPOINT_COST;
	return 0;
}

void mfs_checkpoints_settle(struct mfs_checkpoints *cp)
{
	while (cp->memory > MFS_CHECKPOINT_BUDGET && cp->count > 1)
		thin_out(cp);
	cp->next = next_after_last(cp, 0);
}

bool mfs_checkpoints_insert(struct mfs_checkpoints *cp, uint64_t out,
			    uint64_t in, void *blob, size_t blob_len)
{
	struct mfs_checkpoint c = {
		.out = out, .in = in, .blob = blob, .blob_len = blob_len,
		.trusted = true,
	};

	if (out < cp->next ||
	    (cp->count && out <= cp->items[cp->count - 1].out)) {
		free(blob);
		return false;
	}
	if (mfs_checkpoints_append(cp, &c) < 0)
		return false;	/* a missing point only costs time */
	/* The one before now ends here; what it covered is not known
	 * unless the cursor that made this one says (note_crc). */
	if (cp->count > 1)
		cp->items[cp->count - 2].crc_known = false;
	cp->next = out + cp->span;
	while (cp->memory > MFS_CHECKPOINT_BUDGET && cp->count > 1)
		thin_out(cp);
	return true;
}

bool mfs_checkpoints_insert_restart(struct mfs_checkpoints *cp, uint64_t out,
				    uint64_t in)
{
	return mfs_checkpoints_insert(cp, out, in, NULL, 0);
}

/* The index of the first item with out > off. */
static size_t upper(const struct mfs_checkpoints *cp, uint64_t off)
{
	size_t lo = 0, hi = cp->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp->items[mid].out <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool usable(const struct mfs_checkpoint *c)
{
	return c->trusted || c->crc_known;
}

static const struct mfs_checkpoint *floor_item(const struct mfs_checkpoints *cp,
					       uint64_t off)
{
	for (size_t i = upper(cp, off); i > 0; i--)
		if (usable(&cp->items[i - 1]))
			return &cp->items[i - 1];
	return NULL;
}

static struct mfs_checkpoint *item_at(const struct mfs_checkpoints *cp,
				      uint64_t out)
{
	size_t i = upper(cp, out);

	if (i == 0 || cp->items[i - 1].out != out)
		return NULL;
	return &cp->items[i - 1];
}

uint64_t mfs_checkpoints_floor(const struct mfs_checkpoints *cp, uint64_t off)
{
	const struct mfs_checkpoint *c = floor_item(cp, off);

	return c ? c->out : 0;
}

uint64_t mfs_checkpoints_after(const struct mfs_checkpoints *cp, uint64_t off)
{
	size_t i = upper(cp, off);

	return i < cp->count ? cp->items[i].out : UINT64_MAX;
}

int mfs_checkpoints_find(const struct mfs_checkpoints *cp, uint64_t off,
			 struct mfs_checkpoint_found *found, void *data)
{
	const struct mfs_checkpoint *c = floor_item(cp, off);
	size_t n = 0, i;

	if (!c)
		return 0;
	if (c->blob) {
		n = ZSTD_decompress(data, cp->point_max, c->blob, c->blob_len);
		if (ZSTD_isError(n))
			return -EIO;
	}
	i = (size_t)(c - cp->items);
	*found = (struct mfs_checkpoint_found){
		.out = c->out, .in = c->in, .restart = !c->blob, .len = n,
		.trusted = c->trusted, .crc = c->crc,
		.end = i + 1 < cp->count ? cp->items[i + 1].out : UINT64_MAX,
	};
	return 1;
}

int mfs_checkpoints_note_crc(struct mfs_checkpoints *cp, uint64_t from,
			     uint64_t to, uint32_t crc, bool *trusted)
{
	struct mfs_checkpoint *c = item_at(cp, from);
	size_t i;

	if (!c)
		return 0;
	i = (size_t)(c - cp->items);
	/* Only the bytes up to the very next point are its. */
	if (to != (i + 1 < cp->count ? cp->items[i + 1].out : UINT64_MAX))
		return 0;
	*trusted = c->trusted;
	if (c->crc_known)
		return c->crc == crc ? 0 : -ESTALE;
	c->crc = crc;
	c->crc_known = true;
	return 0;
}

void mfs_checkpoints_trust(struct mfs_checkpoints *cp, uint64_t out)
{
	struct mfs_checkpoint *c = item_at(cp, out);

	if (c)
		c->trusted = true;
}

void mfs_checkpoints_drop_untrusted(struct mfs_checkpoints *cp)
{
	size_t kept = 0;
	bool dropped = false;

	cp->memory = 0;
	for (size_t i = 0; i < cp->count; i++) {
		struct mfs_checkpoint *c = &cp->items[i];

		if (!c->trusted) {
			free(c->blob);
			dropped = true;
			continue;
		}
		/* Its bytes now run to another next point. */
		if (dropped && kept)
			cp->items[kept - 1].crc_known = false;
		dropped = false;
		cp->items[kept++] = *c;
		cp->memory += c->blob_len + MFS_CHECKPOINT_COST;
	}
	if (dropped && kept)
		cp->items[kept - 1].crc_known = false;
	cp->count = kept;
	cp->next = next_after_last(cp, 0);
}
