/*
 * Walking an inner tar (header.tar*, data/NNNN.tar*) over a decompressed
 * stream.  The walker is incremental: each call to mfs_inner_next() reads
 * one more entry header and, with libarchive's skip callback mapped onto
 * stream offsets, steps over the entry's data without copying it.  The
 * offsets it reports are positions in the decompressed stream, so entry
 * contents are later read with mfs_stream_pread() at any offset.
 */
#ifndef MFS_INNER_H
#define MFS_INNER_H

#include <stddef.h>

#include "artifact/outer.h"
#include "artifact/stream.h"

struct mfs_inner;

/* The stream must outlive the walker.  Reads nothing yet: a stream that
 * is not a tar fails at the first mfs_inner_next().  Returns 0 or
 * -ENOMEM. */
int mfs_inner_open(struct mfs_stream *stream, struct mfs_inner **out);

/* Fills e with the next entry (caller frees with mfs_entry_destroy).
 * Returns 1 for an entry, 0 at the end of the tar, or a negative errno
 * with the reason in mfs_inner_error(): -EINVAL for a broken tar or
 * corrupt data, -EFBIG past the limit, -ENOMEM. */
int mfs_inner_next(struct mfs_inner *w, struct mfs_entry *e);

/* Copies the current entry's data into buf (up to len bytes, reading
 * through libarchive); returns the bytes copied or a negative errno.
 * Meant for small entries (header files); payload data is read through
 * the stream at the entry's offset instead. */
ssize_t mfs_inner_read_data(struct mfs_inner *w, void *buf, size_t len);

/* Makes the walk fail once it would read past limit decompressed bytes:
 * a header that is a compression bomb stops at the cap. */
void mfs_inner_set_limit(struct mfs_inner *w, uint64_t limit);

/* How far into the decompressed stream the walk has read. */
uint64_t mfs_inner_position(const struct mfs_inner *w);

const char *mfs_inner_error(const struct mfs_inner *w);

/* Accepts NULL. */
void mfs_inner_close(struct mfs_inner *w);

#endif
