/* Restore points of a decompressed stream; see checkpoints_i.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "artifact/checkpoints_i.h"

/* Decoder states are mostly Huffman tables and a 32 KiB window; the
 * fastest level shrinks them well enough at little cost. */
#define CHECKPOINT_ZSTD_LEVEL 1

void mfs_checkpoints_init(struct mfs_checkpoints *cp, size_t state_size)
{
	memset(cp, 0, sizeof(*cp));
	cp->state_size = state_size;
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

int mfs_checkpoint_pack(const void *state, size_t state_size, void **blob,
			size_t *blob_len)
{
	size_t bound = ZSTD_compressBound(state_size), n;
	void *buf = malloc(bound), *shrunk;

	if (!buf)
		return -ENOMEM;
	n = ZSTD_compress(buf, bound, state, state_size, CHECKPOINT_ZSTD_LEVEL);
	if (ZSTD_isError(n)) {
		free(buf);
		return -ENOMEM;
	}
	shrunk = realloc(buf, n);
	*blob = shrunk ? shrunk : buf;
	*blob_len = n;
	return 0;
}

/* Where the next one is wanted after the last item: the next grid point
 * for checkpoints, a span further for restarts; never behind `at_least`,
 * so the frontier does not move back. */
static uint64_t next_after_last(const struct mfs_checkpoints *cp,
				uint64_t at_least)
{
	uint64_t next;

	if (cp->count == 0)
		next = cp->span;
	else if (cp->items[cp->count - 1].blob)
		next = (cp->items[cp->count - 1].out / cp->span + 1) * cp->span;
	else
		next = cp->items[cp->count - 1].out + cp->span;
	return next > at_least ? next : at_least;
}

/* Doubles the span and keeps what fits it: checkpoints on the doubled
 * grid, restarts at least a span apart. */
static void thin_out(struct mfs_checkpoints *cp)
{
	uint64_t last = 0;
	size_t kept = 0;
	bool grid = cp->count && cp->items[cp->count - 1].blob;

	cp->span *= 2;
	cp->memory = 0;
	for (size_t i = 0; i < cp->count; i++) {
		struct mfs_checkpoint *c = &cp->items[i];
		bool keep = c->blob ? c->out % cp->span == 0 :
				      c->out >= last + cp->span;

		if (keep) {
			last = c->out;
			cp->items[kept++] = *c;
			cp->memory += c->blob_len + MFS_CHECKPOINT_COST;
		} else {
			free(c->blob);
		}
	}
	cp->count = kept;
	if (grid)	/* the first grid point past the last one recorded */
		cp->next = (cp->next / cp->span + 1) * cp->span;
	else
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

int mfs_checkpoints_append(struct mfs_checkpoints *cp, uint64_t out,
			   uint64_t in, void *blob, size_t blob_len)
{
	if (grow(cp) < 0) {
		free(blob);
		return -ENOMEM;
	}
	cp->items[cp->count++] = (struct mfs_checkpoint){ out, in, blob,
							  blob_len };
	cp->memory += blob_len + MFS_CHECKPOINT_COST;
	return 0;
}

void mfs_checkpoints_settle(struct mfs_checkpoints *cp)
{
	while (cp->memory > MFS_CHECKPOINT_BUDGET && cp->count > 1)
		thin_out(cp);
	cp->next = next_after_last(cp, 0);
}

void mfs_checkpoints_insert(struct mfs_checkpoints *cp, uint64_t out,
			    uint64_t in, void *blob, size_t blob_len)
{
	if (out != cp->next) {
		free(blob);
		return;
	}
	if (mfs_checkpoints_append(cp, out, in, blob, blob_len) < 0)
		return;		/* a missing checkpoint only costs time */
	cp->next = out + cp->span;
	while (cp->memory > MFS_CHECKPOINT_BUDGET && cp->count > 1)
		thin_out(cp);
}

bool mfs_checkpoints_insert_restart(struct mfs_checkpoints *cp, uint64_t out,
				    uint64_t in)
{
	if (out < cp->next ||
	    (cp->count && out <= cp->items[cp->count - 1].out))
		return false;
	if (mfs_checkpoints_append(cp, out, in, NULL, 0) < 0)
		return false;
	cp->next = out + cp->span;
	while (cp->memory > MFS_CHECKPOINT_BUDGET && cp->count > 1)
		thin_out(cp);
	return true;
}

static const struct mfs_checkpoint *floor_item(const struct mfs_checkpoints *cp,
					       uint64_t off)
{
	size_t lo = 0, hi = cp->count;

	while (lo < hi) {	/* first item with out > off */
		size_t mid = lo + (hi - lo) / 2;

		if (cp->items[mid].out <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &cp->items[lo - 1] : NULL;
}

uint64_t mfs_checkpoints_floor(const struct mfs_checkpoints *cp, uint64_t off)
{
	const struct mfs_checkpoint *c = floor_item(cp, off);

	return c ? c->out : 0;
}

int mfs_checkpoints_find(const struct mfs_checkpoints *cp, uint64_t off,
			 uint64_t *out, uint64_t *in, void *state)
{
	const struct mfs_checkpoint *c = floor_item(cp, off);
	size_t n;

	if (!c)
		return 0;
	if (c->blob) {
		n = ZSTD_decompress(state, cp->state_size, c->blob,
				    c->blob_len);
		if (ZSTD_isError(n) || n != cp->state_size)
			return -EIO;
	}
	*out = c->out;
	*in = c->in;
	return c->blob ? 1 : 2;
}
