/*
 * The bytes of an exported stream index (mfs_stream_index_export()), and
 * reading them back without trusting them.  Private to stream.c.
 *
 * Little-endian throughout:
 *
 *   magic "MFSSTIDX", u32 version, u32 compression, u64 range size,
 *   u64 decompressed size (all ones: unknown), u64 span, u32 the largest
 *   resume data (0 for formats without), u32 count,
 *   count times: u64 out, u64 in, u32 CRC-32 of the bytes decoded from it
 *   to the next point, u32 flags (bit 0: that CRC is known), u32 blob
 *   length, the blob (0: a restart; else the resume data zstd-packed),
 *   u32 CRC-32 of everything before it.
 *
 * The version changes whenever the layout or the meaning of resume data
 * does; an index of another version is refused, not converted (it only
 * costs a decoding pass to make a new one).
 */
#ifndef MFS_STREAM_INDEX_I_H
#define MFS_STREAM_INDEX_I_H

#include <stddef.h>
#include <stdint.h>

#include "artifact/checkpoints_i.h"
#include "artifact/compression.h"

#define MFS_STREAM_INDEX_VERSION	2

/* What the index must be for. */
struct mfs_stream_index_key {
	enum mfs_compression compression;
	uint64_t size;		/* of the compressed range */
	size_t point_max;	/* 0 when the format has no resume data */
	/* Says whether a restart at (out, in) can be one in this range;
	 * NULL refuses every restart. */
	int (*restart_ok)(const void *arg, uint64_t out, uint64_t in);
	const void *arg;
};

/* Serialises cp (with its lock held) and total (-1: unknown) into a
 * malloc'd buffer.  Returns 0 or -ENOMEM. */
int mfs_stream_index_encode(const struct mfs_checkpoints *cp, int64_t total,
			    const struct mfs_stream_index_key *key, void **buf,
			    size_t *len);

/* Reads buf into cp (initialised here; destroyed again on failure) and
 * *total, checking every field against key.  Returns 0, -EINVAL for a
 * buffer that is not a sound index for key, or -ENOMEM. */
int mfs_stream_index_decode(const void *buf, size_t len,
			    const struct mfs_stream_index_key *key,
			    struct mfs_checkpoints *cp, int64_t *total);

#endif
