/*
 * The decoders behind mfs_stream: one per compression, all driven the
 * same way (zlib-style in/out windows), so the stream and its cursors
 * never know which format they decode.
 */
#ifndef MFS_DECODER_I_H
#define MFS_DECODER_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "artifact/compression.h"

/* A place in the stream where a decoder can start afresh, without a
 * saved state: a zstd frame start, an xz block start. */
struct mfs_restart {
	uint64_t out;		/* decompressed offset */
	uint64_t in;		/* range offset of the frame or block */
};

/* What the format itself says about where decoding can start, read from
 * the range when the stream is opened (the xz index, a zstd seek table).
 * Immutable once read, so decoders may keep a pointer to it. */
struct mfs_format_index {
	struct mfs_restart *restarts;	/* by out and by in, ascending */
	size_t count;
	uint64_t total;		/* decompressed size the index claims */
	void *private;		/* the decoder's own (malloc'd), or NULL */
};

void mfs_format_index_free(struct mfs_format_index *index);

/* The restart whose frame or block starts at range offset in, or NULL. */
const struct mfs_restart *mfs_format_index_at(
	const struct mfs_format_index *index, uint64_t in);

/* decode() results besides a negative errno. */
#define MFS_DECODE_OK	0	/* progress made; call again */
#define MFS_DECODE_END	1	/* the stream ended; ignore what follows */

struct mfs_decoder_ops {
	/* Allocates a decoder ready for the start of a stream. */
	int (*create)(void **state);
	/* Makes it ready for the start of a stream again. */
	int (*reset)(void *state);
	/* Consumes from *in and produces into *out, advancing both windows.
	 * Returns MFS_DECODE_OK, MFS_DECODE_END, or -EIO on corrupt data. */
	int (*decode)(void *state, const uint8_t **in, size_t *in_len,
		      uint8_t **out, size_t *out_len);
	/* Once the input is exhausted: true when the data ended on a clean
	 * boundary (a complete gzip member, xz stream, zstd frame), false
	 * when it was cut short. */
	int (*at_end)(void *state);
	void (*destroy)(void *state);

	/* Restore points that a fresh decoder resumes from as data (gzip:
	 * at a deflate block boundary, the bits of the input byte in use and
	 * the window before it); NULL for the others.  Never a copy of a
	 * library's own state.  hunt(true) makes decode() look for one and
	 * stop there, at some cost in speed; boundary() then says it did.
	 * point_save() writes that point into buf (at most point_max bytes)
	 * and returns its length, with *back the number of input bytes
	 * before the next unread one where resuming starts.  point_load()
	 * makes a created decoder resume from such bytes; they may come from
	 * an imported index, so every length and count is checked first:
	 * -EIO for what point_save() cannot have written. */
	size_t point_max;
	void (*hunt)(void *state, bool on);
	ssize_t (*point_save)(void *state, uint8_t *buf, uint64_t *back);
	int (*point_load)(void *state, const uint8_t *buf, size_t len);

	/* Restarts, for formats made of independent pieces; NULL when not
	 * supported.  boundary() is true when the last decode() call ended
	 * exactly at the end of a piece, so a fresh decoder could take the
	 * next input byte (for point formats: at a point, see above).  index_read() looks for the format's own index in
	 * the range: returns 0 with *out NULL when there is none or it cannot
	 * be believed, a negative errno only for -ENOMEM; never trusts the
	 * bytes and bounds what it allocates.  restart() makes a decoder that
	 * was just reset start at the piece at range offset in; NULL when
	 * resetting is all it takes. */
	int (*boundary)(void *state);
	int (*index_read)(int fd, uint64_t offset, uint64_t size,
			  struct mfs_format_index **out);
	int (*restart)(void *state, const struct mfs_format_index *index,
		       uint64_t in);
};

/* Reads exactly len bytes at off (short only at the end of the file).
 * Returns the count or a negative errno. */
ssize_t mfs_pread_full(int fd, void *buf, size_t len, uint64_t off);

extern const struct mfs_decoder_ops mfs_decoder_gzip;
extern const struct mfs_decoder_ops mfs_decoder_xz;
extern const struct mfs_decoder_ops mfs_decoder_zstd;
extern const struct mfs_decoder_ops mfs_decoder_none;

const struct mfs_decoder_ops *mfs_decoder_for(enum mfs_compression c);

#endif
