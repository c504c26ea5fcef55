/*
 * A bounded on-disk cache of decoded spans.
 *
 * xz and zstd payloads are mostly one block or one frame, which a decoder
 * cannot enter in the middle: without help, a read behind every decoder
 * decompresses from the start of the stream again.  Decoders therefore
 * hand their output here in whole aligned spans of MFS_SPAN_SIZE bytes,
 * and later reads of those spans are served with pread() from one
 * unlinked cache file.
 *
 * The cache is only ever an optimisation: every failure (no room, an I/O
 * error, bytes changed underneath us) makes the span a miss, and the
 * caller decodes it again.  It never holds more than its budget, evicting
 * the least recently used spans, and never takes the file system below a
 * reserve of free space.  Safe to call from many threads at once.
 */
#ifndef MFS_SPAN_CACHE_H
#define MFS_SPAN_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MFS_SPAN_SIZE (1024 * 1024)

/* The cache never grows its file when that would leave less free space
 * than the larger of these on the file system. */
#define MFS_SPAN_CACHE_RESERVE_PERCENT	10
#define MFS_SPAN_CACHE_RESERVE_MIN	(1024ULL * 1024 * 1024)

struct mfs_span_cache;

/* Creates the cache file in dir: an unlinked O_TMPFILE, or, on a file
 * system without O_TMPFILE, a mkstemp() file unlinked at once, so that
 * nothing is left behind even after a crash.  budget is the most bytes
 * the cache ever holds on disk; it is used in whole spans, so a budget
 * below MFS_SPAN_SIZE stores nothing.  Returns 0 or a negative errno. */
int mfs_span_cache_open(const char *dir, uint64_t budget,
			struct mfs_span_cache **out);

/* Accepts NULL.  No other call may be running on the cache. */
void mfs_span_cache_close(struct mfs_span_cache *c);

/* A fresh key space for one stream: returns an id, never 0, under which
 * that stream puts and gets its spans. */
uint64_t mfs_span_cache_stream_id(struct mfs_span_cache *c);

/* Stores span number index of stream id: len bytes, MFS_SPAN_SIZE or, for
 * the stream's last span, fewer.  A span already held (or being stored by
 * another thread) is left as it is.  Returns 0, or a negative errno when
 * the span was not stored: -ENOSPC when the budget or the file system has
 * no room, -EBUSY when every slot is in use by other threads, the write's
 * error when it failed.  The cache then simply does not hold the span and
 * keeps working; callers treat every failure as a miss. */
int mfs_span_cache_put(struct mfs_span_cache *c, uint64_t id, uint64_t index,
		       const void *data, size_t len);

/* Copies up to len bytes at offset within span index of stream id into
 * buf; fewer only where the span ends.  Returns the bytes copied (> 0) on
 * a hit; 0 on a miss, which includes an offset at or past the end of a
 * short span, a read error and bytes that fail their integrity check
 * (the span is then dropped); or a negative errno for bad arguments. */
ssize_t mfs_span_cache_get(struct mfs_span_cache *c, uint64_t id,
			   uint64_t index, size_t offset, void *buf,
			   size_t len);

/* Drops every span of stream id, returning their disk space to the file
 * system.  For a stream being closed. */
void mfs_span_cache_forget(struct mfs_span_cache *c, uint64_t id);

/* What the cache has done so far, for tests, benchmarks and logs. */
struct mfs_span_cache_stats {
	uint64_t hits, misses;
	uint64_t stored;		/* successful puts */
	uint64_t evicted;		/* spans dropped to make room */
	uint64_t refused_no_room;	/* puts refused: budget, free space, or
					 * every slot busy */
	uint64_t bytes_on_disk;		/* held in the file now */
};

void mfs_span_cache_stats(struct mfs_span_cache *c,
			  struct mfs_span_cache_stats *out);

/*
 * Test hooks: not for the daemon.
 */

/* Like mfs_span_cache_open(), but with no_tmpfile set it goes straight to
 * the mkstemp() fallback, as on a file system without O_TMPFILE. */
int mfs_span_cache_test_open(const char *dir, uint64_t budget, int no_tmpfile,
			     struct mfs_span_cache **out);

/* Replaces the free-space reserve with reserve bytes; a negative reserve
 * turns the free-space check off, so that writes reach a full disk. */
void mfs_span_cache_test_reserve(struct mfs_span_cache *c, int64_t reserve);

/* The cache file's descriptor. */
int mfs_span_cache_test_fd(struct mfs_span_cache *c);

/* Where span index of stream id lies in the cache file, or -ENOENT when
 * the cache does not hold it. */
int64_t mfs_span_cache_test_offset(struct mfs_span_cache *c, uint64_t id,
				   uint64_t index);

#endif
