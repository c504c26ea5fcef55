/* Checkpoints of a decompressed stream; see checkpoints_i.h. */
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

/* Keeps every other checkpoint (those on the doubled span's grid). */
static void thin_out(struct mfs_checkpoints *cp)
{
	size_t kept = 0;

	cp->span *= 2;
	cp->memory = 0;
	for (size_t i = 0; i < cp->count; i++) {
		if (cp->items[i].out % cp->span == 0) {
			cp->items[kept++] = cp->items[i];
			cp->memory += cp->items[i].blob_len;
		} else {
			free(cp->items[i].blob);
		}
	}
	cp->count = kept;
	/* The next wanted is the first grid point past the last recorded
	 * one, kept or not, so the frontier never moves back. */
	cp->next = (cp->next / cp->span + 1) * cp->span;
}

void mfs_checkpoints_insert(struct mfs_checkpoints *cp, uint64_t out,
			    uint64_t in, void *blob, size_t blob_len)
{
	if (out != cp->next) {
		free(blob);
		return;
	}
	if (cp->count == cp->capacity) {
		size_t cap = cp->capacity ? cp->capacity * 2 : 64;
		struct mfs_checkpoint *items = realloc(cp->items,
						       cap * sizeof(*items));
		if (!items) {
			free(blob);	/* a missing checkpoint only costs time */
			return;
		}
		cp->items = items;
		cp->capacity = cap;
	}
	cp->items[cp->count++] = (struct mfs_checkpoint){ out, in, blob,
							  blob_len };
	cp->memory += blob_len;
	cp->next = out + cp->span;
	while (cp->memory > MFS_CHECKPOINT_BUDGET && cp->count > 1)
		thin_out(cp);
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
	n = ZSTD_decompress(state, cp->state_size, c->blob, c->blob_len);
	if (ZSTD_isError(n) || n != cp->state_size)
		return -EIO;
	*out = c->out;
	*in = c->in;
	return 1;
}
