/*
 * Restore points of a decompressed stream, so a read anywhere resumes
 * near it instead of at the start.  Two kinds:
 *
 * - checkpoints (gzip): at every `span` bytes of output, the decoder's
 *   whole state and the compressed offset it had reached.  States are
 *   kept zstd-compressed.
 * - restarts (zstd frames, xz blocks): places where a fresh decoder can
 *   start, with no state at all (blob NULL).  They fall where the format
 *   put them; those recorded while decoding are kept at least a span
 *   apart.
 *
 * When they outgrow the memory budget every other one is dropped and the
 * span doubles, so memory stays bounded whatever the payload size.
 * Private to stream.c, which calls everything but mfs_checkpoint_pack()
 * with its lock held.
 */
#ifndef MFS_CHECKPOINTS_I_H
#define MFS_CHECKPOINTS_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MFS_CHECKPOINT_SPAN	(1024 * 1024)		/* to start with */
#define MFS_CHECKPOINT_BUDGET	(32 * 1024 * 1024)	/* per stream */

struct mfs_checkpoint {
	uint64_t out;		/* decompressed offset */
	uint64_t in;		/* compressed offset of the next input byte */
	void *blob;		/* the decoder state, zstd-compressed; NULL
				 * for a restart */
	size_t blob_len;
};

/* What one restore point costs against the budget besides its blob. */
#define MFS_CHECKPOINT_COST	sizeof(struct mfs_checkpoint)

struct mfs_checkpoints {
	struct mfs_checkpoint *items;	/* by out (and in), ascending */
	size_t count, capacity;
	size_t state_size;
	uint64_t span;
	uint64_t next;			/* out of the next one wanted: exactly
					 * for a checkpoint, at least for a
					 * restart */
	size_t memory;			/* blobs, MFS_CHECKPOINT_COST each */
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

/* Adds a restart at out if it lies at least a span past the last one
 * kept (out >= next).  Returns true if it was added. */
bool mfs_checkpoints_insert_restart(struct mfs_checkpoints *cp, uint64_t out,
				    uint64_t in);

/* Appends a restore point past the last one whatever the span, taking
 * the blob (NULL for a restart), and without thinning: for loading a set
 * whose order and size the caller has checked.  Returns 0 or -ENOMEM (the
 * blob is then freed).  mfs_checkpoints_settle() afterwards. */
int mfs_checkpoints_append(struct mfs_checkpoints *cp, uint64_t out,
			   uint64_t in, void *blob, size_t blob_len);

/* After appending: thins to the budget and sets where the next one is
 * wanted. */
void mfs_checkpoints_settle(struct mfs_checkpoints *cp);

/* The last restore point at or below off.  Returns 1 for a checkpoint,
 * its state unpacked into state (state_size bytes); 2 for a restart
 * (state untouched); 0 when there is none; -EIO when the blob does not
 * unpack. */
int mfs_checkpoints_find(const struct mfs_checkpoints *cp, uint64_t off,
			 uint64_t *out, uint64_t *in, void *state);

/* The out offset of the last restore point at or below off, or 0. */
uint64_t mfs_checkpoints_floor(const struct mfs_checkpoints *cp, uint64_t off);

#endif
