/*
 * Checkpoints of a decompressed stream: at every `span` bytes of output,
 * the decoder's whole state and the compressed offset it had reached, so
 * a read anywhere resumes at most one span before it instead of at the
 * start.  States are kept zstd-compressed; when they outgrow the memory
 * budget every other one is dropped and the span doubles, so memory stays
 * bounded whatever the payload size.  Private to stream.c, which calls
 * everything but mfs_checkpoint_pack() with its lock held.
 */
#ifndef MFS_CHECKPOINTS_I_H
#define MFS_CHECKPOINTS_I_H

#include <stddef.h>
#include <stdint.h>

#define MFS_CHECKPOINT_SPAN	(1024 * 1024)		/* to start with */
#define MFS_CHECKPOINT_BUDGET	(32 * 1024 * 1024)	/* per stream */

struct mfs_checkpoint {
	uint64_t out;		/* decompressed offset */
	uint64_t in;		/* compressed offset of the next input byte */
	void *blob;		/* the decoder state, zstd-compressed */
	size_t blob_len;
};

struct mfs_checkpoints {
	struct mfs_checkpoint *items;	/* by out, ascending */
	size_t count, capacity;
	size_t state_size;
	uint64_t span;
	uint64_t next;			/* out of the next one wanted */
	size_t memory;			/* bytes of blobs */
};

void mfs_checkpoints_init(struct mfs_checkpoints *cp, size_t state_size);
void mfs_checkpoints_destroy(struct mfs_checkpoints *cp);

/* Compresses a saved decoder state (no lock needed).  Returns 0 or
 * -ENOMEM. */
int mfs_checkpoint_pack(const void *state, size_t state_size, void **blob,
			size_t *blob_len);

/* Adds the checkpoint at out, taking the blob; a checkpoint that is not
 * the one wanted next (another cursor got there first) is freed. */
void mfs_checkpoints_insert(struct mfs_checkpoints *cp, uint64_t out,
			    uint64_t in, void *blob, size_t blob_len);

/* The last checkpoint at or below off: its state unpacked into state
 * (state_size bytes).  Returns 1, 0 when there is none, -EIO when the
 * blob does not unpack. */
int mfs_checkpoints_find(const struct mfs_checkpoints *cp, uint64_t off,
			 uint64_t *out, uint64_t *in, void *state);

/* The out offset of the last checkpoint at or below off, or 0. */
uint64_t mfs_checkpoints_floor(const struct mfs_checkpoints *cp, uint64_t off);

#endif
