/*
 * A seekable view of a compressed byte range of a file.
 *
 * mfs_stream_pread() reads the decompressed bytes at any offset.  Behind
 * it a small pool of positioned decoders (cursors) serves each request
 * from the cursor closest below the offset, so sequential readers keep
 * decoding where they stopped, and a read behind every cursor resumes one
 * from the restore point below it (a gzip block boundary, a zstd frame or xz
 * block start), or from the beginning of the range when there is none.
 * A sequential reader over restore points gets a helper thread decoding
 * ahead of it.  Plain (uncompressed) ranges are read straight from the
 * file.  Safe to call from many threads at once.
 */
#ifndef MFS_STREAM_H
#define MFS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "artifact/compression.h"

struct mfs_stream;

/* Opens the range [offset, offset + size) of fd, which must stay open
 * for the life of the stream.  The compression is detected from the
 * range's first bytes; an xz index at the end of the range is read for
 * its restore points (a zstd seek table only to check frames against).  Returns 0 or a negative errno. */
int mfs_stream_open(int fd, uint64_t offset, uint64_t size,
		    struct mfs_stream **out);

/* Reads up to len decompressed bytes at off.  Returns the number of bytes
 * read (short only at the end of the stream, 0 past it) or a negative
 * errno: -EIO for corrupt or truncated compressed data. */
ssize_t mfs_stream_pread(struct mfs_stream *s, void *buf, size_t len,
			 uint64_t off);

/* The decompressed size, or -1 while no reader has reached the end (and
 * no imported index has told it). */
int64_t mfs_stream_size(struct mfs_stream *s);

enum mfs_compression mfs_stream_compression(const struct mfs_stream *s);

/* What the stream has done so far, for tests and benchmarks. */
struct mfs_stream_stats {
	uint64_t rewinds;	/* decoders started from the beginning */
	uint64_t restores;	/* decoders resumed from a restore point */
	uint64_t decoded;	/* decompressed bytes produced, all cursors */
	uint64_t checkpoints;	/* restore points held now */
	uint64_t checkpoint_span;
	uint64_t checkpoint_memory;
	uint64_t cursors_allocated;	/* holding a decoder and buffers now */
	uint64_t ahead_decoded;	/* decoded ahead of a sequential reader */
	uint64_t ahead_served;	/* of which copied to readers */
	uint64_t ahead_memory;	/* held for that now */
};

void mfs_stream_stats(struct mfs_stream *s, struct mfs_stream_stats *out);

/*
 * The random-access index: what the stream has learnt about where a
 * decoder can resume (gzip checkpoints, zstd frame starts, xz block
 * starts) and the decompressed size, so that a later open of the same
 * bytes need not decode everything again to read anywhere.
 */

/* Serialises the stream's random-access index (restore points and the
 * decompressed size, when known) into a malloc'd buffer that
 * mfs_stream_index_import() accepts on a stream opened on the same bytes.
 * The caller frees *buf.  Returns 0 or a negative errno; *len is 0 (and
 * *buf NULL) when there is nothing worth saving: a plain range, or a
 * stream that has learnt nothing yet. */
int mfs_stream_index_export(struct mfs_stream *s, void **buf, size_t *len);

/* Loads an exported index, replacing the restore points the stream holds.
 * Never trusts it: its restore points are resumed from only after
 * decoding from one gave the bytes whose CRC-32 it carries (else they are
 * all dropped), and its size is a claim until a decoder gets there. a buffer that is truncated, of another format version,
 * for another compression or range size, with offsets out of order or out
 * of range, or with blobs that are too large, is refused with -EINVAL and
 * leaves the stream as it was.  Returns 0, -EINVAL or -ENOMEM.  The
 * buffer is not kept. */
int mfs_stream_index_import(struct mfs_stream *s, const void *buf, size_t len);

/* The same in two steps, so that a caller loading several can check
 * them all before it changes any stream: prepare() checks and decodes
 * the buffer (refusing what import() refuses) and changes nothing;
 * commit() installs it and frees it (-EINVAL, changing nothing, when the
 * stream learnt another size meanwhile); import_free() drops it unused
 * (accepts NULL). */
struct mfs_stream_import;
int mfs_stream_index_prepare(struct mfs_stream *s, const void *buf, size_t len,
			     struct mfs_stream_import **out);
int mfs_stream_index_commit(struct mfs_stream *s,
			    struct mfs_stream_import *imp);
void mfs_stream_import_free(struct mfs_stream_import *imp);

/* True once a decoder has reached the end of the stream (or an imported
 * index said where it is), so the decompressed size is known and restore
 * points cover the whole stream as far as the format allows.  Always true
 * for a plain range. */
bool mfs_stream_index_complete(struct mfs_stream *s);

/* Frees the buffers and decoders of idle cursors (they are re-allocated
 * on the next read) and stops the decode-ahead helper, freeing its
 * buffers; restore points and the size are kept.  Used after a
 * background pass and for streams nobody reads, so that an artifact with
 * hundreds of payloads does not keep hundreds of decoders (an xz decoder
 * can hold a 64 MiB dictionary).  Safe while other threads read: busy
 * cursors are left alone. */
void mfs_stream_trim(struct mfs_stream *s);

/* Whether a sequential reader gets a helper decoding ahead of it on
 * another core (on by default).  Off for a stream read once up to a cap,
 * where decoding ahead would only decode past the cap. */
void mfs_stream_set_decode_ahead(struct mfs_stream *s, bool on);

/* Lets a stream that has no restore points (an xz stream of one block, a
 * zstd stream of one frame) keep the spans it decodes in cache, shared
 * with other streams, and serve reads from there.  The cache must outlive
 * the stream.  Streams that can resume mid-way ignore it. */
struct mfs_span_cache;
void mfs_stream_set_span_cache(struct mfs_stream *s,
			       struct mfs_span_cache *cache);

/* Accepts NULL. */
void mfs_stream_close(struct mfs_stream *s);

#endif
