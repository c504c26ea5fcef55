/*
 * A seekable view of a compressed byte range of a file.
 *
 * mfs_stream_pread() reads the decompressed bytes at any offset.  Behind
 * it a small pool of positioned decoders (cursors) serves each request
 * from the cursor closest below the offset, so sequential readers keep
 * decoding where they stopped and a read behind every cursor restarts one
 * from the beginning of the range.  Plain (uncompressed) ranges are read
 * straight from the file.  Safe to call from many threads at once.
 */
#ifndef MFS_STREAM_H
#define MFS_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "artifact/compression.h"

struct mfs_stream;

/* Opens the range [offset, offset + size) of fd, which must stay open
 * for the life of the stream.  The compression is detected from the
 * range's first bytes.  Returns 0 or a negative errno. */
int mfs_stream_open(int fd, uint64_t offset, uint64_t size,
		    struct mfs_stream **out);

/* Reads up to len decompressed bytes at off.  Returns the number of bytes
 * read (short only at the end of the stream, 0 past it) or a negative
 * errno: -EIO for corrupt or truncated compressed data. */
ssize_t mfs_stream_pread(struct mfs_stream *s, void *buf, size_t len,
			 uint64_t off);

/* The decompressed size, or -1 while no reader has reached the end. */
int64_t mfs_stream_size(struct mfs_stream *s);

enum mfs_compression mfs_stream_compression(const struct mfs_stream *s);

/* What the stream has done so far, for tests and benchmarks. */
struct mfs_stream_stats {
	uint64_t rewinds;	/* decoders started from the beginning */
	uint64_t restores;	/* decoders resumed from a checkpoint */
	uint64_t decoded;	/* decompressed bytes produced, all cursors */
	uint64_t checkpoints;	/* held now */
	uint64_t checkpoint_span;
	uint64_t checkpoint_memory;
};

void mfs_stream_stats(struct mfs_stream *s, struct mfs_stream_stats *out);

/* Accepts NULL. */
void mfs_stream_close(struct mfs_stream *s);

#endif
