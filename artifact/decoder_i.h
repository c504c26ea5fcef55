/*
 * The decoders behind mfs_stream: one per compression, all driven the
 * same way (zlib-style in/out windows), so the stream and its cursors
 * never know which format they decode.
 */
#ifndef MFS_DECODER_I_H
#define MFS_DECODER_I_H

#include <stddef.h>
#include <stdint.h>

#include "artifact/compression.h"

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

	/* Checkpoints, for formats whose decoder state can be saved whole
	 * and resumed at the same input offset; NULL for the others.
	 * save() copies the state into state_size bytes; load() makes a
	 * created decoder continue from such a copy. */
	size_t state_size;
	void (*save)(const void *state, void *buf);
	void (*load)(void *state, const void *buf);
};

extern const struct mfs_decoder_ops mfs_decoder_gzip;
extern const struct mfs_decoder_ops mfs_decoder_xz;
extern const struct mfs_decoder_ops mfs_decoder_zstd;
extern const struct mfs_decoder_ops mfs_decoder_none;

const struct mfs_decoder_ops *mfs_decoder_for(enum mfs_compression c);

#endif
