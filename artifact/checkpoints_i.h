/*
 * Restore points of a decompressed stream, so a read anywhere resumes
 * near it instead of at the start.  Two kinds:
 *
 * - checkpoints (gzip): at a deflate block boundary found at least a
 *   `span` of output past the last one, what a fresh decoder needs to
 *   resume there (decoder_i.h: the window and a few bits, never a
 *   library's state), kept zstd-compressed.
 * - restarts (zstd frames, xz blocks): places where a fresh decoder can
 *   start, with no data at all (blob NULL).  They fall where the format
 *   put them; those recorded while decoding are kept at least a span
 *   apart.
 *
 * Each carries the CRC-32 of the bytes decoded from it up to the next one
 * (up to the end for the last), once a cursor has decoded them in order:
 * an imported point is not trusted until decoding from it gave those
 * bytes, and a mismatch tells an index made for other bytes.
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
	uint64_t in;		/* compressed offset where resuming reads */
	void *blob;		/* the resume data, zstd-compressed; NULL
				 * for a restart */
	size_t blob_len;
	uint32_t crc;		/* of the bytes up to the next point */
	bool crc_known;
	bool trusted;		/* made here, or resumed from and checked */
};

/* What one restore point costs against the budget besides its blob. */
#define MFS_CHECKPOINT_COST	sizeof(struct mfs_checkpoint)

struct mfs_checkpoints {
	struct mfs_checkpoint *items;	/* by out (and in), ascending */
	size_t count, capacity;
	size_t point_max;		/* largest unpacked resume data */
	uint64_t span;
	uint64_t next;			/* out of the next one wanted, at
					 * least */
	size_t memory;			/* blobs, MFS_CHECKPOINT_COST each */
};

void mfs_checkpoints_init(struct mfs_checkpoints *cp, size_t point_max);
void mfs_checkpoints_destroy(struct mfs_checkpoints *cp);

/* Compresses resume data (no lock needed).  Returns 0 or -ENOMEM. */
int mfs_checkpoint_pack(const void *data, size_t len, void **blob,
			size_t *blob_len);

/* Adds a trusted restore point at out, taking the blob (NULL for a
 * restart), if it lies at least a span past the last one kept (out >=
 * next); otherwise (another cursor got there first) the blob is freed.
 * Returns true if it was added. */
bool mfs_checkpoints_insert(struct mfs_checkpoints *cp, uint64_t out,
			    uint64_t in, void *blob, size_t blob_len);
bool mfs_checkpoints_insert_restart(struct mfs_checkpoints *cp, uint64_t out,
				    uint64_t in);

/* Appends a restore point past the last one whatever the span, taking
 * the blob (NULL for a restart), and without thinning: for loading a set
 * whose order and size the caller has checked.  Returns 0 or -ENOMEM (the
 * blob is then freed).  mfs_checkpoints_settle() afterwards. */
int mfs_checkpoints_append(struct mfs_checkpoints *cp,
			   const struct mfs_checkpoint *c);

/* After appending: thins to the budget and sets where the next one is
 * wanted. */
void mfs_checkpoints_settle(struct mfs_checkpoints *cp);

/* A restore point found, its data unpacked. */
struct mfs_checkpoint_found {
	uint64_t out, in;
	bool restart;		/* no data: a fresh decoder starts at in */
	size_t len;		/* of the unpacked data */
	bool trusted;
	uint32_t crc;		/* of the bytes from out to end */
	uint64_t end;		/* the next point's out, UINT64_MAX: the end */
};

/* The last usable restore point at or below off (untrusted ones without
 * a checksum to check them by are not), its data unpacked into data
 * (point_max bytes).  Returns 1, 0 when there is none, -EIO when the
 * blob does not unpack. */
int mfs_checkpoints_find(const struct mfs_checkpoints *cp, uint64_t off,
			 struct mfs_checkpoint_found *found, void *data);

/* The out offset of the last usable restore point at or below off, or
 * 0. */
uint64_t mfs_checkpoints_floor(const struct mfs_checkpoints *cp, uint64_t off);

/* The out offset of the first point past off, or UINT64_MAX. */
uint64_t mfs_checkpoints_after(const struct mfs_checkpoints *cp, uint64_t off);

/* A cursor decoded the bytes from the point at from up to the next one,
 * or up to the end (to UINT64_MAX), in order: notes their CRC-32 where
 * it was unknown.  Returns 0, or -ESTALE when the point had another one
 * (*trusted then says whether the point was trusted). */
int mfs_checkpoints_note_crc(struct mfs_checkpoints *cp, uint64_t from,
			     uint64_t to, uint32_t crc, bool *trusted);

/* Decoding from the point at out gave the bytes its CRC-32 says. */
void mfs_checkpoints_trust(struct mfs_checkpoints *cp, uint64_t out);

/* Forgets every point not trusted. */
void mfs_checkpoints_drop_untrusted(struct mfs_checkpoints *cp);

#endif
