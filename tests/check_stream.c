/*
 * mfs_stream: decompressed bytes at any offset, for data compressed by the
 * real gzip, xz and zstd.  The data is a few MiB so reads cross many of
 * the stream's input windows, discard steps and cursors.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifact/checkpoints_i.h"
#include "artifact/stream.h"
#include "testutil.h"

/* Not a multiple of any read size, so the last read is short. */
#define PLAIN_LEN	(4 * TU_MIB + 12345)
#define PLAIN_SEED	0x5eed

static const struct format {
	const char *name;
	const char *file;	/* in the shared fixture directory */
	const char *command;	/* makes it from "data" */
	enum mfs_compression compression;
} formats[] = {
	{ "none", "data", "true", MFS_COMPRESSION_NONE },
	{ "gzip", "data.gz", "gzip -n -c data > data.gz", MFS_COMPRESSION_GZIP },
	{ "xz", "data.xz", "xz -T1 -c data > data.xz", MFS_COMPRESSION_XZ },
	{ "zstd", "data.zst", "zstd -q -c data > data.zst",
	  MFS_COMPRESSION_ZSTD },
};
#define N_FORMATS ((int)(sizeof(formats) / sizeof(formats[0])))

/* Made once per test case (unchecked fixture), shared by its tests. */
static char *shared;
static uint8_t *plain;

/* Per test (checked fixture). */
static char *dir;
static int fd = -1;
static struct mfs_stream *s;
static uint8_t *buf;

static void shared_setup(void)
{
	shared = tu_mkdtemp();
	plain = tu_data(PLAIN_LEN, PLAIN_SEED);
	tu_write_file(shared, "data", plain, PLAIN_LEN);
	for (int i = 0; i < N_FORMATS; i++)
		tu_sh(shared, "%s", formats[i].command);
}

static void shared_teardown(void)
{
	tu_rmtree(shared);
	free(shared);
	free(plain);
	shared = NULL;
	plain = NULL;
}

static void setup(void)
{
	dir = tu_mkdtemp();
	buf = malloc(2 * TU_MIB);
	ck_assert(buf != NULL);
}

static void teardown(void)
{
	mfs_stream_close(s);
	s = NULL;
	if (fd >= 0)
		close(fd);
	fd = -1;
	free(buf);
	buf = NULL;
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* Opens [offset, offset + size) of dir/name into s; size 0 means the
 * whole file. */
static void open_range(const char *d, const char *name, uint64_t offset,
		       uint64_t size)
{
	fd = tu_open(d, name);
	if (!size)
		size = tu_file_size(d, name) - offset;
	ck_assert_int_eq(mfs_stream_open(fd, offset, size, &s), 0);
}

static void open_format(int i)
{
	open_range(shared, formats[i].file, 0, 0);
	ck_assert_int_eq(mfs_stream_compression(s), formats[i].compression);
}

/* One pread checked against the expected bytes. */
static void check_read(const uint8_t *expect, size_t expect_len, uint64_t off,
		       size_t len)
{
	size_t want = off >= expect_len ? 0 :
		      len < expect_len - off ? len : expect_len - off;
	ssize_t n;
	ssize_t diff;

	ck_assert(len <= 2 * TU_MIB);
	n = mfs_stream_pread(s, buf, len, off);
	ck_assert_msg(n == (ssize_t)want,
		      "pread(%zu bytes at %llu) returned %zd, expected %zu",
		      len, (unsigned long long)off, n, want);
	diff = tu_first_diff(buf, expect + (want ? off : 0), want);
	ck_assert_msg(diff < 0, "pread(%zu bytes at %llu) differs at byte %zd",
		      len, (unsigned long long)off, diff);
}

/* Reads everything in chunk-sized reads; returns the bytes read. */
static uint64_t read_sequentially(const uint8_t *expect, size_t expect_len,
				  size_t chunk)
{
	uint64_t off = 0;

	for (;;) {
		ssize_t n = mfs_stream_pread(s, buf, chunk, off);

		ck_assert_msg(n >= 0, "pread at %llu failed: %zd",
			      (unsigned long long)off, n);
		if (n == 0)
			break;
		ck_assert_msg(off + (uint64_t)n <= expect_len,
			      "read past the end: %llu + %zd",
			      (unsigned long long)off, n);
		ck_assert_msg((size_t)n == chunk || off + (uint64_t)n == expect_len,
			      "short read of %zd at %llu before the end", n,
			      (unsigned long long)off);
		ck_assert_msg(tu_first_diff(buf, expect + off, (size_t)n) < 0,
			      "bytes differ in the chunk at %llu",
			      (unsigned long long)off);
		off += (uint64_t)n;
	}
	return off;
}

static void random_reads(const uint8_t *expect, size_t expect_len,
			 uint64_t seed, int count, size_t max_len)
{
	uint64_t st = seed;

	for (int k = 0; k < count; k++) {
		uint64_t off = tu_rand(&st) % (expect_len + 4096);
		size_t len = 1 + (size_t)(tu_rand(&st) % max_len);

		check_read(expect, expect_len, off, len);
	}
}

START_TEST(test_random_preads)
{
	open_format(_i);
	random_reads(plain, PLAIN_LEN, 1000 + (uint64_t)_i, 300, 128 * TU_KIB);
}
END_TEST

START_TEST(test_sequential_4k)
{
	open_format(_i);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 4 * TU_KIB),
			  PLAIN_LEN);
	ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
}
END_TEST

START_TEST(test_sequential_128k)
{
	open_format(_i);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
}
END_TEST

START_TEST(test_end)
{
	open_format(_i);
	/* Spanning the end: short. */
	check_read(plain, PLAIN_LEN, PLAIN_LEN - 100, 10000);
	check_read(plain, PLAIN_LEN, PLAIN_LEN - 1, 2);
	/* At and after the end: nothing. */
	ck_assert_int_eq(mfs_stream_pread(s, buf, 10, PLAIN_LEN), 0);
	ck_assert_int_eq(mfs_stream_pread(s, buf, 10, PLAIN_LEN + 1), 0);
	ck_assert_int_eq(mfs_stream_pread(s, buf, 10, UINT64_MAX - 10), 0);
	ck_assert_int_eq(mfs_stream_pread(s, buf, 0, 0), 0);
	ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
	/* And everything before it still reads. */
	check_read(plain, PLAIN_LEN, 0, 4096);
}
END_TEST

/* The first read is past the end: it finds the end and learns the size. */
START_TEST(test_first_read_past_end)
{
	open_format(_i);
	ck_assert_int_eq(mfs_stream_pread(s, buf, 4096, PLAIN_LEN + 5000), 0);
	ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
	check_read(plain, PLAIN_LEN, PLAIN_LEN - 10, 4096);
}
END_TEST

START_TEST(test_size_known_only_at_end)
{
	open_format(_i);
	if (formats[_i].compression == MFS_COMPRESSION_NONE) {
		/* A plain range is its own size. */
		ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
		return;
	}
	ck_assert_int_eq(mfs_stream_size(s), -1);
	check_read(plain, PLAIN_LEN, 0, 128 * TU_KIB);
	ck_assert_int_eq(mfs_stream_size(s), -1);
	check_read(plain, PLAIN_LEN, 3 * TU_MIB, 128 * TU_KIB);
	ck_assert_int_eq(mfs_stream_size(s), -1);
	check_read(plain, PLAIN_LEN, PLAIN_LEN - 5000, 128 * TU_KIB);
	ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
}
END_TEST

/* The key property: a sequential reader keeps one decoder going. */
START_TEST(test_sequential_reuses_cursor)
{
	struct mfs_stream_stats st;

	open_format(_i);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds, 1);
	ck_assert_uint_eq(st.decoded, PLAIN_LEN);
}
END_TEST

/* A read behind every cursor goes back: from the start for xz and zstd,
 * from the checkpoint below it for gzip, whose decoder state is saved
 * every MFS_CHECKPOINT_SPAN bytes on the way. */
START_TEST(test_backwards_read_rewinds)
{
	struct mfs_stream_stats st;
	bool gzip = formats[_i].compression == MFS_COMPRESSION_GZIP;

	open_format(_i);
	check_read(plain, PLAIN_LEN, 3 * TU_MIB, 64 * TU_KIB);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds, 1);
	ck_assert_uint_eq(st.decoded, 3 * TU_MIB + 64 * TU_KIB);
	ck_assert_uint_eq(st.checkpoints, gzip ? 3 : 0);

	check_read(plain, PLAIN_LEN, 1 * TU_MIB, 64 * TU_KIB);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds, gzip ? 1 : 2);
	ck_assert_uint_eq(st.restores, gzip ? 1 : 0);
	/* The checkpoint at 1 MiB: nothing decoded before the read. */
	ck_assert_uint_eq(st.decoded, 3 * TU_MIB + 64 * TU_KIB +
				      (gzip ? 0 : 1 * TU_MIB) + 64 * TU_KIB);

	/* Forward again from either position: no more going back.  The
	 * first read lies in the 2 MiB the first cursor remembers behind
	 * its position (1 MiB + 64 KiB up to 3 MiB + 64 KiB), so it decodes
	 * nothing; the second continues that cursor by 200 KiB. */
	check_read(plain, PLAIN_LEN, 1 * TU_MIB + 64 * TU_KIB, 64 * TU_KIB);
	check_read(plain, PLAIN_LEN, 3 * TU_MIB + 200 * TU_KIB, 64 * TU_KIB);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds + st.restores, 2);
	ck_assert_uint_eq(st.decoded, 3 * TU_MIB + 264 * TU_KIB +
				      (gzip ? 0 : 1 * TU_MIB) + 64 * TU_KIB);
}
END_TEST

/* Once a gzip stream has been read through, a read anywhere resumes from
 * the checkpoint below it: it decodes less than a span before its data,
 * and the bytes are right, across span boundaries and at the end. */
START_TEST(test_checkpoint_random_reads)
{
	struct mfs_stream_stats before, after;
	uint64_t seed = 42;

	open_format(1);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	mfs_stream_stats(s, &before);
	ck_assert_uint_eq(before.checkpoints, PLAIN_LEN / MFS_CHECKPOINT_SPAN);
	for (int i = 0; i < 200; i++) {
		uint64_t off;
		size_t len = 1 + (size_t)((seed >> 20) % (200 * TU_KIB));

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		/* Read backwards over the stream so cursors never help. */
		off = PLAIN_LEN - 1 - (uint64_t)i * (PLAIN_LEN / 200);
		if (i % 7 == 0)	/* straddle a span boundary */
			off = (off / MFS_CHECKPOINT_SPAN) * MFS_CHECKPOINT_SPAN -
			      len / 2;
		if (off > PLAIN_LEN)
			off = 0;
		check_read(plain, PLAIN_LEN, off, len);
	}
	mfs_stream_stats(s, &after);
	/* Reads in the first span start from the start, the others from a
	 * checkpoint; none decodes more than a span before its data. */
	ck_assert_uint_gt(after.restores, before.restores);
	ck_assert_uint_le(after.decoded - before.decoded,
			  200 * (MFS_CHECKPOINT_SPAN + 200 * TU_KIB));
}
END_TEST

/* Past the memory budget, every other checkpoint goes and the span
 * doubles; what stays is still found. */
START_TEST(test_checkpoint_budget)
{
	struct mfs_checkpoints cp;
	const size_t big = MFS_CHECKPOINT_BUDGET / 8;
	uint64_t out, in;
	uint8_t state[16];

	mfs_checkpoints_init(&cp, sizeof(state));
	for (uint64_t k = 1; k <= 64; k++) {
		uint64_t at = cp.next;

		ck_assert_uint_eq(at % cp.span, 0);
		mfs_checkpoints_insert(&cp, at, k, calloc(1, big), big);
		ck_assert_uint_le(cp.memory, MFS_CHECKPOINT_BUDGET);
	}
	ck_assert_uint_gt(cp.span, MFS_CHECKPOINT_SPAN);
	for (size_t i = 0; i < cp.count; i++)
		ck_assert_uint_eq(cp.items[i].out % cp.span, 0);
	/* A checkpoint that is not the next one wanted is refused. */
	mfs_checkpoints_insert(&cp, cp.next + 1, 0, calloc(1, big), big);
	ck_assert_uint_le(cp.memory, MFS_CHECKPOINT_BUDGET);
	ck_assert_uint_eq(mfs_checkpoints_floor(&cp, MFS_CHECKPOINT_SPAN - 1), 0);
	ck_assert_int_eq(mfs_checkpoints_find(&cp, 0, &out, &in, state), 0);
	mfs_checkpoints_destroy(&cp);
}
END_TEST

/* Reads that each skip a few bytes: the cursor steps over the small gaps
 * without starting again. */
START_TEST(test_small_gaps)
{
	struct mfs_stream_stats st;
	uint64_t off = 0;

	open_format(_i);
	for (size_t gap = 1; off < PLAIN_LEN; gap = gap % 300 + 1) {
		check_read(plain, PLAIN_LEN, off, 4096);
		off += 4096 + gap;
	}
	mfs_stream_stats(s, &st);
	if (formats[_i].compression != MFS_COMPRESSION_NONE)
		ck_assert_uint_eq(st.rewinds, 1);
}
END_TEST

#define THREADS		8
#define THREAD_READS	30

struct reader {
	pthread_t thread;
	uint64_t seed;
	int bad;		/* reads that returned the wrong thing */
	char what[160];
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint8_t *mine = malloc(64 * TU_KIB);
	uint64_t st = r->seed;

	if (!mine) {
		r->bad = -1;
		return NULL;
	}
	for (int k = 0; k < THREAD_READS; k++) {
		uint64_t off = tu_rand(&st) % PLAIN_LEN;
		size_t len = 1 + (size_t)(tu_rand(&st) % (64 * TU_KIB));
		size_t want = len < PLAIN_LEN - off ? len : PLAIN_LEN - off;
		ssize_t n = mfs_stream_pread(s, mine, len, off);

		if (n != (ssize_t)want || memcmp(mine, plain + off, want)) {
			if (!r->bad++)
				snprintf(r->what, sizeof(r->what),
					 "pread(%zu at %llu) = %zd", len,
					 (unsigned long long)off, n);
		}
	}
	free(mine);
	return NULL;
}

START_TEST(test_threads)
{
	struct reader readers[THREADS] = { 0 };

	open_format(_i);
	for (int t = 0; t < THREADS; t++) {
		readers[t].seed = 77 * (uint64_t)t + (uint64_t)_i;
		ck_assert_int_eq(pthread_create(&readers[t].thread, NULL,
						reader_main, &readers[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_join(readers[t].thread, NULL), 0);
	for (int t = 0; t < THREADS; t++)
		ck_assert_msg(readers[t].bad == 0, "thread %d: %d bad reads, "
			      "first %s", t, readers[t].bad, readers[t].what);
	/* The stream is still consistent afterwards. */
	random_reads(plain, PLAIN_LEN, 5, 20, 64 * TU_KIB);
}
END_TEST

/* A range inside a larger file, with junk on both sides. */
START_TEST(test_subrange)
{
	uint8_t *junk = malloc(TU_MIB);
	uint64_t inner = tu_file_size(shared, formats[_i].file);

	ck_assert(junk != NULL);
	tu_fill_random(junk, TU_MIB, 99);
	tu_write_file(dir, "before", junk, 777777);
	tu_write_file(dir, "after", junk + 12345, 4321);
	free(junk);
	tu_sh(dir, "cat before '%s/%s' after > embedded", shared,
	      formats[_i].file);

	open_range(dir, "embedded", 777777, inner);
	ck_assert_int_eq(mfs_stream_compression(s), formats[_i].compression);
	random_reads(plain, PLAIN_LEN, 31, 60, 128 * TU_KIB);
	mfs_stream_close(s);
	s = NULL;
	close(fd);

	open_range(dir, "embedded", 777777, inner);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
}
END_TEST

/* Reads forward until an error; every byte before it must be right. */
static ssize_t read_until_error(uint64_t *reached)
{
	uint64_t off = 0;
	ssize_t n;

	while ((n = mfs_stream_pread(s, buf, 128 * TU_KIB, off)) > 0) {
		ck_assert_msg(off + (uint64_t)n <= PLAIN_LEN, "read past the end");
		ck_assert_msg(tu_first_diff(buf, plain + off, (size_t)n) < 0,
			      "wrong bytes at %llu before the cut",
			      (unsigned long long)off);
		off += (uint64_t)n;
	}
	*reached = off;
	return n;
}

/* Cut short anywhere: the read that reaches the cut fails with -EIO, the
 * bytes before it are right, and failing again is as quick. */
START_TEST(test_truncated)
{
	uint64_t full = tu_file_size(shared, formats[_i].file);
	const uint64_t cuts[] = { full / 2, full - 1, 13, full / 5 };

	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		uint64_t reached;
		ssize_t n;

		open_range(shared, formats[_i].file, 0, cuts[c]);
		n = read_until_error(&reached);
		ck_assert_msg(n == -EIO, "cut at %llu of %llu: read at %llu "
			      "returned %zd, expected -EIO",
			      (unsigned long long)cuts[c],
			      (unsigned long long)full,
			      (unsigned long long)reached, n);
		ck_assert_int_lt(reached, PLAIN_LEN);
		ck_assert_int_eq(mfs_stream_pread(s, buf, 128 * TU_KIB,
						  reached), -EIO);
		/* A read that has to reach the end must find it missing. */
		ck_assert_int_eq(mfs_stream_pread(s, buf, 4096, PLAIN_LEN - 10),
				 -EIO);
		ck_assert_int_eq(mfs_stream_size(s), -1);
		/* What lies before the cut is still served. */
		if (reached > 0)
			check_read(plain, PLAIN_LEN, 0, 1);
		mfs_stream_close(s);
		s = NULL;
		close(fd);
		fd = -1;
	}
}
END_TEST

/* Bytes damaged mid-stream: the checksums (gzip's CRC-32, xz's CRC-64,
 * zstd's XXH64) catch what the decoder itself lets through. */
START_TEST(test_corrupt)
{
	size_t len;
	uint8_t *z = tu_read_file(shared, formats[_i].file, &len);
	const size_t spots[] = { len / 2, len / 3, len - 100 };

	for (size_t k = 0; k < sizeof(spots) / sizeof(spots[0]); k++) {
		uint64_t reached;
		ssize_t n;

		for (size_t j = 0; j < 16; j++)
			z[spots[k] + j] ^= 0x5a;
		tu_write_file(dir, "corrupt", z, len);
		for (size_t j = 0; j < 16; j++)
			z[spots[k] + j] ^= 0x5a;

		open_range(dir, "corrupt", 0, 0);
		n = mfs_stream_pread(s, buf, 128 * TU_KIB, 0);
		ck_assert_int_eq(n, 128 * TU_KIB);
		for (reached = 0; n > 0; reached += (uint64_t)n)
			n = mfs_stream_pread(s, buf, 128 * TU_KIB, reached);
		ck_assert_msg(n == -EIO, "damage at %zu of %zu: read at %llu "
			      "returned %zd, expected -EIO", spots[k], len,
			      (unsigned long long)reached, n);
		ck_assert_int_eq(mfs_stream_size(s), -1);
		mfs_stream_close(s);
		s = NULL;
		close(fd);
		fd = -1;
	}
	free(z);
}
END_TEST

/*
 * Streams in several pieces: concatenated gzip members, xz streams and
 * zstd frames, xz blocks, zstd frames without checksums.  Each is read
 * randomly and sequentially in both chunk sizes.
 */
static const struct {
	const char *name;
	const char *command;	/* makes "multi" from parts a, b and c */
} multis[] = {
	{ "gzip members", "for p in a b c; do gzip -n -c $p; done > multi" },
	{ "gzip members, -1 and -9",
	  "gzip -1 -n -c a > multi; gzip -9 -n -c b >> multi;"
	  " gzip -n -c c >> multi" },
	{ "xz streams", "for p in a b c; do xz -T1 -c $p; done > multi" },
	{ "xz blocks", "cat a b c | xz -T1 --block-size=300KiB -c > multi" },
	{ "zstd frames", "for p in a b c; do zstd -q -c $p; done > multi" },
	{ "zstd frames, no checksum",
	  "for p in a b c; do zstd -q --no-check -c $p; done > multi" },
	{ "zstd one frame, no checksum",
	  "cat a b c | zstd -q --no-check -c > multi" },
};

START_TEST(test_multi)
{
	const size_t sizes[] = { 1536 * TU_KIB + 3, 11, 2 * TU_MIB + 5 };
	const size_t total = sizes[0] + sizes[1] + sizes[2];
	uint8_t *all = malloc(total);
	size_t at = 0;

	ck_assert(all != NULL);
	for (int p = 0; p < 3; p++) {
		char name[2] = { (char)('a' + p), 0 };

		tu_fill(all + at, sizes[p], 500 + (uint64_t)p);
		tu_write_file(dir, name, all + at, sizes[p]);
		at += sizes[p];
	}
	tu_sh(dir, "%s", multis[_i].command);

	open_range(dir, "multi", 0, 0);
	random_reads(all, total, 8, 100, 128 * TU_KIB);
	mfs_stream_close(s);
	s = NULL;
	close(fd);

	open_range(dir, "multi", 0, 0);
	ck_assert_msg(read_sequentially(all, total, 4 * TU_KIB) == total,
		      "%s: 4 KiB reads stopped early", multis[_i].name);
	ck_assert_int_eq(mfs_stream_size(s), (int64_t)total);
	mfs_stream_close(s);
	s = NULL;
	close(fd);

	open_range(dir, "multi", 0, 0);
	ck_assert_msg(read_sequentially(all, total, 128 * TU_KIB) == total,
		      "%s: 128 KiB reads stopped early", multis[_i].name);
	ck_assert_int_eq(mfs_stream_size(s), (int64_t)total);
	free(all);
}
END_TEST

/*
 * A gzip member that ends 1 byte before, on, or 1 byte after the edge of
 * the stream's 256 KiB input window, followed by another member.  The
 * first member's length is set exactly through the file name gzip stores
 * in its header.
 */
START_TEST(test_gzip_member_at_window_edge)
{
	const uint64_t edge = 256 * TU_KIB + (uint64_t)_i - 1;
	const size_t a_len = 261900, b_len = 700 * TU_KIB;
	uint8_t *all = malloc(a_len + b_len);
	uint64_t base;
	char name[256];
	size_t name_len;

	ck_assert(all != NULL);
	tu_fill_random(all, a_len, 3);
	tu_fill(all + a_len, b_len, 4);
	tu_write_file(dir, "a", all, a_len);
	tu_write_file(dir, "b", all + a_len, b_len);
	tu_sh(dir, "gzip -n -c a > a.gz");
	base = tu_file_size(dir, "a.gz");
	/* The stored name adds its length plus a NUL. */
	ck_assert_msg(base + 2 <= edge && edge - base - 1 < sizeof(name),
		      "a.gz is %llu bytes", (unsigned long long)base);
	name_len = (size_t)(edge - base - 1);
	memset(name, 'n', name_len);
	name[name_len] = 0;
	tu_sh(dir, "mv a %s && gzip -c %s > a.gz && gzip -n -c b > b.gz && "
	      "cat a.gz b.gz > ab.gz", name, name);
	ck_assert_uint_eq(tu_file_size(dir, "a.gz"), edge);

	open_range(dir, "ab.gz", 0, 0);
	ck_assert_uint_eq(read_sequentially(all, a_len + b_len, 128 * TU_KIB),
			  a_len + b_len);
	ck_assert_int_eq(mfs_stream_size(s), (int64_t)(a_len + b_len));
	free(all);
}
END_TEST

/* An empty file compressed is an empty stream, not an error. */
START_TEST(test_empty_input)
{
	static const char *const commands[] = {
		"gzip -n -c empty > z", "xz -T1 -c empty > z",
		"zstd -q -c empty > z",
	};
	static const enum mfs_compression expect[] = {
		MFS_COMPRESSION_GZIP, MFS_COMPRESSION_XZ, MFS_COMPRESSION_ZSTD,
	};

	tu_sh(dir, ": > empty; %s", commands[_i]);
	open_range(dir, "z", 0, 0);
	ck_assert_int_eq(mfs_stream_compression(s), expect[_i]);
	ck_assert_int_eq(mfs_stream_size(s), -1);
	ck_assert_int_eq(mfs_stream_pread(s, buf, 4096, 0), 0);
	ck_assert_int_eq(mfs_stream_size(s), 0);
	ck_assert_int_eq(mfs_stream_pread(s, buf, 4096, 1), 0);
}
END_TEST

/* An empty range is an empty plain stream. */
START_TEST(test_empty_range)
{
	tu_sh(dir, ": > empty");
	open_range(dir, "empty", 0, 0);
	ck_assert_int_eq(mfs_stream_compression(s), MFS_COMPRESSION_NONE);
	ck_assert_int_eq(mfs_stream_size(s), 0);
	ck_assert_int_eq(mfs_stream_pread(s, buf, 4096, 0), 0);
}
END_TEST

START_TEST(test_close_null)
{
	mfs_stream_close(NULL);
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *su = suite_create("stream");
	TCase *tc;

	tc = tcase_create("formats");
	tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_random_preads, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_sequential_4k, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_sequential_128k, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_small_gaps, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_end, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_first_read_past_end, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_size_known_only_at_end, 0, N_FORMATS);
	/* Plain ranges are read without decoders, so from 1. */
	tcase_add_loop_test(tc, test_sequential_reuses_cursor, 1, N_FORMATS);
	tcase_add_loop_test(tc, test_backwards_read_rewinds, 1, N_FORMATS);
	tcase_add_test(tc, test_checkpoint_random_reads);
	tcase_add_test(tc, test_checkpoint_budget);
	tcase_add_loop_test(tc, test_threads, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_subrange, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_truncated, 1, N_FORMATS);
	tcase_add_loop_test(tc, test_corrupt, 1, N_FORMATS);
	suite_add_tcase(su, tc);

	tc = tcase_create("shapes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_multi, 0,
			    (int)(sizeof(multis) / sizeof(multis[0])));
	tcase_add_loop_test(tc, test_gzip_member_at_window_edge, 0, 3);
	tcase_add_loop_test(tc, test_empty_input, 0, 3);
	tcase_add_test(tc, test_empty_range);
	tcase_add_test(tc, test_close_null);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(stream_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
