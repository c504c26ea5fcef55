/*
 * The insides of mfs_stream, shared by stream.c (the cursors and their
 * restore points) and stream_ahead.c (decoding ahead of a sequential
 * reader on another core).  Private to those two.
 */
#ifndef MFS_STREAM_I_H
#define MFS_STREAM_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "artifact/checkpoints_i.h"
#include "artifact/decoder_i.h"
#include "artifact/stream.h"

#define STREAM_CURSORS		4
#define STREAM_INPUT_SIZE	(256 * 1024)
#define STREAM_INPUT_SLACK	64
#define STREAM_DISCARD_SIZE	(64 * 1024)
/* A request this close ahead of where a busy cursor will stop waits for
 * that cursor rather than take another: the kernel's parallel readahead
 * requests of one sequential reader then share one decoder, instead of
 * sending the others back to the start. */
#define STREAM_FOLLOW_GAP	(8 * 1024 * 1024)
#define STREAM_HISTORY		(2 * 1024 * 1024)
/* A request this far past where a busy cursor will stop still waits for
 * it, even with a restore point between: it is one sequential reader's
 * requests arriving out of order, and a second decoder would later decode
 * the same bytes again. */
#define STREAM_CONTINUE_GAP	(2 * 1024 * 1024)
/* How far ahead of a cursor its compressed input is asked for at most,
 * so the disk reads the next bytes while the decoder works on these (a
 * cold artifact otherwise costs disk time plus decode time, not the
 * larger of the two), and in what steps the request moves once there.
 * The distance grows with how far the cursor has run, so a random read
 * does not pull megabytes it will never use. */
/* How far past where a checkpoint is wanted a cursor looks for a deflate
 * block boundary (decoding in small steps, so more slowly) before it
 * gives up until a span later: a stream of fixed-code blocks rarely shows
 * one (decoder_gzip.c). */
#define STREAM_HUNT_MAX		(128 * 1024)
#define STREAM_PREFETCH		(8 * 1024 * 1024)
#define STREAM_PREFETCH_STEP	(2 * 1024 * 1024)

struct mfs_cursor {
	void *decoder;		/* NULL until first used */
	uint8_t *input;		/* compressed bytes read, not yet decoded */
	size_t input_pos, input_len;
	uint64_t input_off;	/* range offset of the next compressed read */
	uint64_t run_start;	/* input_off where it was last placed */
	uint64_t prefetched;	/* range offset the disk was asked up to */
	uint64_t pos;		/* decompressed offset of the next byte out */
	uint64_t target;	/* while busy: where this request ends */
	uint8_t *discard;	/* scratch for decoding up to an offset */
	uint8_t *history;	/* ring: the bytes [pos - history_len, pos) */
	size_t history_len;
	uint64_t start;		/* while busy: pos when taken */
	uint8_t *state;		/* scratch for a point's resume data */
	bool restore;		/* taken to resume from the point below */
	bool restart;		/* ... which is a restart, not a checkpoint */
	uint64_t restore_out, restore_in;
	size_t restore_len;	/* of the resume data in state */
	bool restore_trusted;	/* else checked by decoding it first */
	uint32_t restore_crc;	/* ... against this CRC-32 of the bytes */
	uint64_t restore_end;	/* ... up to here (UINT64_MAX: the end) */
	bool verifying;		/* doing that: leaves no points */
	uint64_t hunt_after;	/* looks for no checkpoint before this */
	/* The bytes decoded in order since the restore point at seg_from
	 * (UINT64_MAX: none), up to the next one at seg_end, and their
	 * CRC-32 so far, to check or note when the cursor gets there. */
	uint64_t seg_from, seg_end;
	uint32_t seg_crc;
	bool ended;
	bool busy;
	bool helper;		/* stream_ahead.c's own: keeps no history */
	uint64_t last_used;
};

struct mfs_stream {
	int fd;
	uint64_t offset, size;
	enum mfs_compression compression;
	const struct mfs_decoder_ops *ops;

	pthread_mutex_t lock;
	pthread_cond_t cursor_returned;
	struct mfs_cursor cursors[STREAM_CURSORS];
	uint64_t clock;
	int64_t total;		/* decompressed size, -1 until known */
	bool total_trusted;	/* decoded to, not only imported */
	struct mfs_checkpoints checkpoints;
	struct mfs_stream_stats stats;

	/* The format's own index (read at open, then immutable), and
	 * whether it still agrees with what cursors decode. */
	struct mfs_format_index *index;
	bool index_trusted;

	struct mfs_ahead *ahead;	/* NULL until first read */
	bool no_ahead;			/* mfs_stream_set_decode_ahead() */

	/* Decoded spans on disk (stream_spans.c), or NULL. */
	struct mfs_span_cache *spans;
	uint64_t spans_id;
};

/* Frees what the cursor holds and clears it. */
void mfs_cursor_release(const struct mfs_stream *s, struct mfs_cursor *c);

/* Loads the restore point below off into c's scratch, for
 * mfs_cursor_restore() to resume from outside the lock.  Called with the
 * lock held.  Returns 0, or a negative errno when there is none. */
int mfs_cursor_prepare_restore(struct mfs_stream *s, struct mfs_cursor *c,
			       uint64_t off);
/* Puts c where its prepared restore point was taken. */
int mfs_cursor_restore(struct mfs_stream *s, struct mfs_cursor *c);

/* Gives back cursor c, taken busy, after a request (failed: its decoder
 * is in no known state).  Called with the lock held. */
void mfs_cursor_return(struct mfs_stream *s, struct mfs_cursor *c,
		       bool failed);

/* Decodes up to len bytes into buf, leaving restore points on the way.
 * Returns the count (0 at the end of the stream) or a negative errno. */
ssize_t mfs_cursor_decode(struct mfs_stream *s, struct mfs_cursor *c,
			  uint8_t *buf, size_t len);

/* stream_ahead.c.  With the lock held: notes a request for [off, off +
 * len), starting or waking the helper when a reader goes sequential over
 * restore points. */
void mfs_ahead_note(struct mfs_stream *s, uint64_t off, size_t len);
/* With the lock held, when a reader returned a cursor: hands the next
 * stretch of a frontier cursor to a running helper. */
void mfs_ahead_returned(struct mfs_stream *s);
/* With the lock held (dropped while copying or waiting): copies what the buffers
 * decoded ahead hold from off on.  Returns the count, 0 when they hold
 * nothing there yet. */
size_t mfs_ahead_serve(struct mfs_stream *s, uint8_t *buf, size_t len,
		       uint64_t off);
/* Without the lock: stops the helper and frees its buffers and decoder;
 * a sequential reader later starts it again. */
void mfs_ahead_stop(struct mfs_stream *s);
/* Without the lock, when the stream closes: stops and frees it all. */
void mfs_ahead_free(struct mfs_stream *s);
/* With the lock held: bytes the helper holds now. */
uint64_t mfs_ahead_memory(const struct mfs_stream *s);

/* stream_spans.c.  Without the lock: files the whole spans cursor c
 * produced since it stood at before; and copies what the span cache holds
 * of [off, off + len), returning the count (0 on a miss). */
void mfs_spans_store(struct mfs_stream *s, const struct mfs_cursor *c,
		     uint64_t before);
size_t mfs_spans_serve(struct mfs_stream *s, uint8_t *buf, size_t len,
		       uint64_t off);
/* When the stream closes: drops its spans. */
void mfs_spans_forget(struct mfs_stream *s);

#endif
