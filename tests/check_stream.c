/*
 * mfs_stream: decompressed bytes at any offset, for data compressed by the
 * real gzip, xz and zstd, and in the shapes that have restore points: xz
 * in blocks, zstd in frames, zstd with a seek table.  The data is a few
 * MiB so reads cross many of the stream's input windows, discard steps,
 * cursors and restore points.  Then the exported index (round trip and
 * every kind of damage), trimming, and the helper decoding ahead of a
 * sequential reader.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "artifact/checkpoints_i.h"
#include "artifact/stream.h"
#include "testutil.h"

/* Not a multiple of any read size, so the last read is short. */
#define PLAIN_LEN	(4 * TU_MIB + 12345)
#define PLAIN_SEED	0x5eed

/* Where a format's restore points come from. */
enum points {
	POINTS_NONE,		/* one xz block, one zstd frame */
	POINTS_LEARNT,		/* a span apart, by decoding past them */
	POINTS_AT_OPEN,		/* every piece, from the format's index */
};

/* The pieces of the multi-block and multi-frame formats: 512 KiB each,
 * so restarts learnt a span (1 MiB) apart fall on whole MiB, where gzip
 * checkpoints fall too. */
#define PIECE		(512 * TU_KIB)
#define PIECES		((PLAIN_LEN + PIECE - 1) / PIECE)

static const struct format {
	const char *name;
	const char *file;	/* in the shared fixture directory */
	const char *command;	/* makes it from "data" */
	enum mfs_compression compression;
	enum points points;
} formats[] = {
	{ "none", "data", "true", MFS_COMPRESSION_NONE, POINTS_NONE },
	{ "gzip", "data.gz", "gzip -n -c data > data.gz", MFS_COMPRESSION_GZIP,
	  POINTS_LEARNT },
	{ "xz", "data.xz", "xz -T1 -c data > data.xz", MFS_COMPRESSION_XZ,
	  POINTS_NONE },
	{ "zstd", "data.zst", "zstd -q -c data > data.zst",
	  MFS_COMPRESSION_ZSTD, POINTS_NONE },
	{ "xz blocks", "data.blocks.xz",
	  "xz -T1 --block-size=512KiB -c data > data.blocks.xz",
	  MFS_COMPRESSION_XZ, POINTS_AT_OPEN },
	{ "zstd frames", "data.frames.zst",
	  "split -b 512K -d -a 3 data part. && "
	  "for p in part.???; do zstd -q -c $p > $p.zst; done && "
	  "cat part.???.zst > data.frames.zst",
	  MFS_COMPRESSION_ZSTD, POINTS_LEARNT },
	/* The frames above and a seek table, added by shared_setup(): the
	 * table is only checked against, not restored from (index_open()). */
	{ "zstd seekable", "data.seekable.zst",
	  "cp data.frames.zst data.seekable.zst", MFS_COMPRESSION_ZSTD,
	  POINTS_LEARNT },
};
#define N_FORMATS ((int)(sizeof(formats) / sizeof(formats[0])))
/* The first four: one piece each (or none). */
#define N_BASIC		4
#define F_GZIP		1
#define F_XZ_BLOCKS	4
#define F_ZSTD_FRAMES	5
#define F_ZSTD_SEEKABLE	6

/* Made once per test case (unchecked fixture), shared by its tests. */
static char *shared;
static uint8_t *plain;

/* Per test (checked fixture). */
static char *dir;
static int fd = -1;
static struct mfs_stream *s;
static uint8_t *buf;

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One seek table entry: a frame's compressed and decompressed sizes. */
struct seek_entry {
	uint32_t csize, dsize;
};

/* Appends to d/name a seek table as zstd's seekable format lays it out
 * (contrib/seekable_format): a skippable frame holding the entries, then
 * the frame count, the descriptor and the seekable magic. */
static void append_seek_table(const char *d, const char *name,
			      const struct seek_entry *e, uint32_t count,
			      uint8_t descriptor)
{
	size_t entry = descriptor & 0x80 ? 12 : 8;
	size_t len = 8 + count * entry + 9;
	uint8_t *t = calloc(1, len), *p;
	size_t old;
	uint8_t *all = tu_read_file(d, name, &old);

	ck_assert(t != NULL);
	put_le32(t, 0x184D2A5E);
	put_le32(t + 4, (uint32_t)(len - 8));
	p = t + 8;
	for (uint32_t k = 0; k < count; k++, p += entry) {
		put_le32(p, e[k].csize);
		put_le32(p + 4, e[k].dsize);
	}
	put_le32(p, count);
	p[4] = descriptor;
	put_le32(p + 5, 0x8F92EAB1);
	all = realloc(all, old + len);
	ck_assert(all != NULL);
	memcpy(all + old, t, len);
	tu_write_file(d, name, all, old + len);
	free(all);
	free(t);
}

/* The true entries of the frames in dir, made from part.000 on. */
static struct seek_entry *seek_entries(const char *d)
{
	struct seek_entry *e = calloc(PIECES, sizeof(*e));

	ck_assert(e != NULL);
	for (int k = 0; k < PIECES; k++) {
		char part[32], zst[32];

		snprintf(part, sizeof(part), "part.%03d", k);
		snprintf(zst, sizeof(zst), "part.%03d.zst", k);
		e[k].dsize = (uint32_t)tu_file_size(d, part);
		e[k].csize = (uint32_t)tu_file_size(d, zst);
	}
	return e;
}

static void shared_setup(void)
{
	struct seek_entry *e;

	shared = tu_mkdtemp();
	plain = tu_data(PLAIN_LEN, PLAIN_SEED);
	tu_write_file(shared, "data", plain, PLAIN_LEN);
	for (int i = 0; i < N_FORMATS; i++)
		tu_sh(shared, "%s", formats[i].command);
	e = seek_entries(shared);
	append_seek_table(shared, "data.seekable.zst", e, PIECES, 0);
	free(e);
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

/* n, or quick_n when MENDERFS_TEST_QUICK is set: fewer rounds of the
 * largest loops, for runs under valgrind. */
static int rounds(int n, int quick_n)
{
	const char *q = getenv("MENDERFS_TEST_QUICK");

	return q && *q && strcmp(q, "0") != 0 ? quick_n : n;
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
	random_reads(plain, PLAIN_LEN, 1000 + (uint64_t)_i, rounds(300, 40),
		     128 * TU_KIB);
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
	/* Where the format has restore points at open, a helper decodes
	 * stretches ahead of the reader: the reader decodes the others. */
	ck_assert_uint_eq(st.decoded + st.ahead_served, PLAIN_LEN);
}
END_TEST

/* A read behind every cursor goes back: from the start for xz and zstd,
 * from the checkpoint below it for gzip, which a cursor leaves at the
 * first deflate block boundary a span (MFS_CHECKPOINT_SPAN) past the
 * last one. */
START_TEST(test_backwards_read_rewinds)
{
	struct mfs_stream_stats st;
	bool gzip = formats[_i].compression == MFS_COMPRESSION_GZIP;
	/* For gzip, back lies between the first checkpoint (a little past
	 * 1 MiB) and the 2 MiB the first cursor remembers behind it. */
	uint64_t first = gzip ? 7 * TU_MIB / 2 : 3 * TU_MIB;
	uint64_t back = gzip ? 5 * TU_MIB / 4 : 1 * TU_MIB, before;

	open_format(_i);
	check_read(plain, PLAIN_LEN, first, 64 * TU_KIB);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds, 1);
	ck_assert_uint_eq(st.decoded, first + 64 * TU_KIB);
	if (gzip)
		ck_assert_uint_ge(st.checkpoints, 2);
	else
		ck_assert_uint_eq(st.checkpoints, 0);

	check_read(plain, PLAIN_LEN, back, 64 * TU_KIB);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds, gzip ? 1 : 2);
	ck_assert_uint_eq(st.restores, gzip ? 1 : 0);
	if (gzip) {
		/* From the checkpoint past 1 MiB: less than a quarter MiB
		 * decoded before the read. */
		ck_assert_uint_lt(st.decoded, first + 64 * TU_KIB +
					      TU_MIB / 4 + 64 * TU_KIB);
	} else {
		ck_assert_uint_eq(st.decoded, first + 64 * TU_KIB +
					      back + 64 * TU_KIB);
	}
	before = st.decoded;

	/* Forward again from either position: no more going back.  The
	 * first read lies in the 2 MiB the first cursor remembers behind
	 * its position, so it decodes nothing; the second continues that
	 * cursor by 200 KiB. */
	check_read(plain, PLAIN_LEN, first - 2 * TU_MIB + 64 * TU_KIB,
		   64 * TU_KIB);
	check_read(plain, PLAIN_LEN, first + 200 * TU_KIB, 64 * TU_KIB);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds + st.restores, 2);
	ck_assert_uint_eq(st.decoded, before + 200 * TU_KIB);
}
END_TEST

/* Once a gzip stream has been read through, a read anywhere resumes from
 * the checkpoint below it: it decodes less than a span before its data,
 * and the bytes are right, across span boundaries and at the end. */
START_TEST(test_checkpoint_random_reads)
{
	struct mfs_stream_stats before, after;
	const int reads = rounds(200, 40);
	uint64_t seed = 42;

	open_format(1);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	/* What the helper decoded ahead of that reader would serve these
	 * reads from memory: drop it, and the cursors. */
	mfs_stream_trim(s);
	mfs_stream_stats(s, &before);
	/* One a little past each MiB, but the last MiB ends too soon. */
	ck_assert_uint_ge(before.checkpoints,
			  PLAIN_LEN / MFS_CHECKPOINT_SPAN - 1);
	for (int i = 0; i < reads; i++) {
		uint64_t off;
		size_t len = 1 + (size_t)((seed >> 20) % (200 * TU_KIB));

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		/* Read backwards over the stream so cursors never help. */
		off = PLAIN_LEN - 1 - (uint64_t)i * (PLAIN_LEN / reads);
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
			  (uint64_t)reads * (MFS_CHECKPOINT_SPAN +
					     200 * TU_KIB));
}
END_TEST

/* Past the memory budget, every other checkpoint goes and the span
 * doubles; what stays is at least the doubled span apart, and still
 * found. */
START_TEST(test_checkpoint_budget)
{
	struct mfs_checkpoints cp;
	struct mfs_checkpoint_found found;
	const size_t big = MFS_CHECKPOINT_BUDGET / 8;
	uint64_t last = 0;
	uint8_t data[16];

	mfs_checkpoints_init(&cp, sizeof(data));
	for (uint64_t k = 1; k <= 64; k++) {
		/* Block boundaries fall a little past where one is wanted. */
		uint64_t at = cp.next + k * 100;

		ck_assert(mfs_checkpoints_insert(&cp, at, k, calloc(1, big),
						 big));
		ck_assert_uint_le(cp.memory, MFS_CHECKPOINT_BUDGET);
	}
	ck_assert_uint_gt(cp.span, MFS_CHECKPOINT_SPAN);
	for (size_t i = 0; i < cp.count; i++) {
		ck_assert_uint_ge(cp.items[i].out, last + cp.span);
		last = cp.items[i].out;
	}
	/* One short of a span past the last one is refused. */
	ck_assert(!mfs_checkpoints_insert(&cp, cp.next - 1, 0, calloc(1, big),
					  big));
	ck_assert_uint_le(cp.memory, MFS_CHECKPOINT_BUDGET);
	ck_assert_uint_eq(mfs_checkpoints_floor(&cp, MFS_CHECKPOINT_SPAN - 1), 0);
	ck_assert_int_eq(mfs_checkpoints_find(&cp, 0, &found, data), 0);
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
	int reads;		/* done so far */
	int finished;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint8_t *mine = malloc(64 * TU_KIB);
	uint64_t st = r->seed;

	if (!mine) {
		r->bad = -1;
		__atomic_store_n(&r->finished, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	for (int k = 0; k < rounds(THREAD_READS, 8); k++) {
		uint64_t off = tu_rand(&st) % PLAIN_LEN;
		size_t len = 1 + (size_t)(tu_rand(&st) % (64 * TU_KIB));
		size_t want = len < PLAIN_LEN - off ? len : PLAIN_LEN - off;
		ssize_t n = mfs_stream_pread(s, mine, len, off);

		__atomic_add_fetch(&r->reads, 1, __ATOMIC_RELEASE);
		if (n != (ssize_t)want || memcmp(mine, plain + off, want)) {
			if (!r->bad++)
				snprintf(r->what, sizeof(r->what),
					 "pread(%zu at %llu) = %zd", len,
					 (unsigned long long)off, n);
		}
	}
	free(mine);
	__atomic_store_n(&r->finished, 1, __ATOMIC_RELEASE);
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

/* Restarts are noted a span apart and thinned like checkpoints: what
 * stays is at least the (doubled) span apart, and found as a restart. */
START_TEST(test_restart_budget)
{
	struct mfs_checkpoints cp;
	struct mfs_checkpoint_found found;
	uint64_t last = 0;
	size_t n = MFS_CHECKPOINT_BUDGET / MFS_CHECKPOINT_COST + 1000;

	mfs_checkpoints_init(&cp, 0);
	/* Too close to the start, then to the last one: refused. */
	ck_assert(!mfs_checkpoints_insert_restart(&cp, 1000, 10));
	ck_assert(mfs_checkpoints_insert_restart(&cp, MFS_CHECKPOINT_SPAN, 10));
	ck_assert(!mfs_checkpoints_insert_restart(&cp, MFS_CHECKPOINT_SPAN + 5,
						  20));
	ck_assert_int_eq(mfs_checkpoints_find(&cp, MFS_CHECKPOINT_SPAN + 5,
					      &found, NULL), 1);
	ck_assert(found.restart);
	ck_assert_uint_eq(found.out, MFS_CHECKPOINT_SPAN);
	ck_assert_uint_eq(found.in, 10);
	/* Frames of 1 MiB + 1 byte, more than the budget holds. */
	for (uint64_t k = 2; k < n; k++)
		mfs_checkpoints_insert_restart(&cp, k * (MFS_CHECKPOINT_SPAN + 1),
					       10 * k);
	ck_assert_uint_le(cp.memory, MFS_CHECKPOINT_BUDGET);
	ck_assert_uint_gt(cp.span, MFS_CHECKPOINT_SPAN);
	ck_assert_uint_gt(cp.count, MFS_CHECKPOINT_BUDGET /
				    MFS_CHECKPOINT_COST / 4);
	for (size_t i = 0; i < cp.count; i++) {
		ck_assert_ptr_null(cp.items[i].blob);
		ck_assert_uint_ge(cp.items[i].out, last + cp.span);
		last = cp.items[i].out;
	}
	mfs_checkpoints_destroy(&cp);
}
END_TEST

/* Reads backwards over the stream, so cursors never help: each resumes
 * from the restore point below it. */
static void backward_reads(uint64_t from, int count, size_t max_len)
{
	uint64_t seed = 4242;

	for (int i = 0; i < count; i++) {
		size_t len = 1 + (size_t)(tu_rand(&seed) % max_len);
		uint64_t off = PLAIN_LEN - 1 -
			       (uint64_t)i * ((PLAIN_LEN - from) / count);

		if (i % 5 == 0)	/* straddle a piece boundary */
			off = off / PIECE * PIECE - len / 2;
		if (off < from)
			off = from;
		check_read(plain, PLAIN_LEN, off, len);
	}
}

/*
 * xz blocks, zstd frames, zstd with a seek table: random reads resume at
 * a block or frame start, never from the start of the stream again.
 * Where the format has an index (xz, the seek table) its restarts are
 * there at open; otherwise a first pass notes frame ends a span apart.
 */
START_TEST(test_restart_random_reads)
{
	const struct format *f = &formats[_i];
	struct mfs_stream_stats before, after;
	const int reads = 120;
	uint64_t span;

	open_format(_i);
	mfs_stream_stats(s, &before);
	if (f->points == POINTS_AT_OPEN) {
		/* Every piece but the first. */
		ck_assert_uint_eq(before.checkpoints, PIECES - 1);
		check_read(plain, PLAIN_LEN, 0, 4096);
		mfs_stream_stats(s, &before);
		span = PIECE;
	} else {
		ck_assert_uint_eq(before.checkpoints, 0);
		ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN,
						    128 * TU_KIB), PLAIN_LEN);
		mfs_stream_trim(s);	/* as in test_checkpoint_random_reads */
		mfs_stream_stats(s, &before);
		/* Frame ends a span apart: at every whole MiB. */
		ck_assert_uint_eq(before.checkpoints,
				  PLAIN_LEN / MFS_CHECKPOINT_SPAN);
		span = MFS_CHECKPOINT_SPAN;
	}
	ck_assert_uint_eq(before.rewinds, 1);
	/* Past the first restore point, none goes back to the start. */
	backward_reads(span, reads, 200 * TU_KIB);
	mfs_stream_stats(s, &after);
	ck_assert_uint_eq(after.rewinds, 1);
	ck_assert_uint_gt(after.restores, before.restores);
	/* None decodes more than a span before its data. */
	ck_assert_uint_le(after.decoded - before.decoded,
			  (uint64_t)reads * (span + 200 * TU_KIB));
	/* And the whole stream still reads straight through. */
	mfs_stream_close(s);
	s = NULL;
	close(fd);
	open_format(_i);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
}
END_TEST

/* Replaces dir/seekable.zst with the frames and a seek table of these
 * entries. */
static void make_seekable(const struct seek_entry *e, uint32_t count,
			  uint8_t descriptor)
{
	tu_sh(dir, "cp '%s/data.frames.zst' seekable.zst", shared);
	append_seek_table(dir, "seekable.zst", e, count, descriptor);
}

/* Seek tables that do not fit the range are not used: no restore points
 * at open, and the stream reads as plain frames. */
START_TEST(test_seek_table_refused)
{
	struct seek_entry *e = seek_entries(shared);
	struct mfs_stream_stats st;

	uint32_t count = PIECES;
	uint8_t descriptor = 0;

	switch (_i) {
	case 0:		/* a frame a byte longer than it is */
		e[3].csize++;
		break;
	case 1:		/* a frame too short to be one */
		e[PIECES - 1].csize += e[0].csize - 5;
		e[0].csize = 5;
		break;
	case 2:		/* reserved descriptor bits set */
		descriptor = 0x04;
		break;
	case 3:		/* the last frame missing */
		count = PIECES - 1;
		break;
	case 4:		/* no frames at all */
		count = 0;
		break;
	}
	make_seekable(e, count, descriptor);
	open_range(dir, "seekable.zst", 0, 0);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.checkpoints, 0);
	random_reads(plain, PLAIN_LEN, 60 + (uint64_t)_i, 20, 64 * TU_KIB);
	free(e);
}
END_TEST

/* A seek table that fits the range but misplaces frames (the first two
 * trade 1000 bytes of decompressed size): nothing is restored from it,
 * and the first cursor that decodes across them stops checking against
 * it; the frame ends it learns are right. */
START_TEST(test_seek_table_lies)
{
	struct seek_entry *e = seek_entries(shared);
	struct mfs_stream_stats st;

	e[0].dsize += 1000;
	e[1].dsize -= 1000;
	make_seekable(e, PIECES, 0);
	open_range(dir, "seekable.zst", 0, 0);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.checkpoints, 0);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	mfs_stream_stats(s, &st);
	/* Now learnt by decoding: a span apart. */
	ck_assert_uint_eq(st.checkpoints, PLAIN_LEN / MFS_CHECKPOINT_SPAN);
	random_reads(plain, PLAIN_LEN, 61, 60, 128 * TU_KIB);
	free(e);
}
END_TEST

/*
 * A seek table that fits the range and names a real frame, hidden inside
 * a skippable frame: decoding in order (what a manifest's checksums
 * cover) gives A then C and skips E, so no read may ever return E, even
 * a random read before anything decoded in order.
 */
START_TEST(test_seek_table_hidden_frame)
{
	struct seek_entry e[3];
	uint8_t got[4096];

	tu_sh(dir, "head -c 1048576 /dev/zero | tr '\\0' A | zstd -q > a.zst && "
	      "head -c 1048576 /dev/zero | tr '\\0' E | zstd -q > e.zst && "
	      "head -c 1048576 /dev/zero | tr '\\0' C | zstd -q > c.zst && "
	      "python3 -c 'import struct, sys; e = open(\"e.zst\", \"rb\")"
	      ".read(); sys.stdout.buffer.write(struct.pack(\"<II\", "
	      "0x184D2A50, len(e)) + e)' > skip.zst && "
	      "cat a.zst skip.zst c.zst > hidden.zst");
	e[0] = (struct seek_entry){ (uint32_t)tu_file_size(dir, "a.zst") + 8,
				    1048576 };
	e[1] = (struct seek_entry){ (uint32_t)tu_file_size(dir, "e.zst"),
				    1048576 };
	e[2] = (struct seek_entry){ (uint32_t)tu_file_size(dir, "c.zst"),
				    1048576 };
	append_seek_table(dir, "hidden.zst", e, 3, 0);
	open_range(dir, "hidden.zst", 0, 0);
	for (uint64_t off = 2 * TU_MIB + 100;; off = TU_MIB + 100) {
		ssize_t n = mfs_stream_pread(s, got, sizeof(got), off);

		ck_assert_int_ge(n, 0);
		for (ssize_t k = 0; k < n; k++)
			ck_assert_msg(got[k] == (off < TU_MIB ? 'A' : 'C'),
				      "byte %c at %llu", got[k],
				      (unsigned long long)(off + (uint64_t)k));
		if (off == TU_MIB + 100) {
			ck_assert_int_eq(n, (ssize_t)sizeof(got));
			break;
		}
	}
	ck_assert_int_eq(mfs_stream_size(s), 2 * TU_MIB);
}
END_TEST

/* An xz file whose index cannot be read (damaged, or the range cut
 * short) is decoded plainly: no restore points, the bytes up to the
 * damage right. */
START_TEST(test_xz_index_refused)
{
	size_t len;
	uint8_t *z = tu_read_file(shared, "data.blocks.xz", &len);
	struct mfs_stream_stats st;
	uint64_t reached;

	z[len - 20] ^= 0x40;		/* in the index */
	tu_write_file(dir, "damaged.xz", z, len);
	free(z);
	open_range(dir, "damaged.xz", 0, 0);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.checkpoints, 0);
	ck_assert_int_eq(read_until_error(&reached), -EIO);
	mfs_stream_close(s);
	s = NULL;
	close(fd);

	/* Stream padding after the stream is fine for both. */
	tu_sh(dir, "cp '%s/data.blocks.xz' padded.xz && "
	      "printf '\\0\\0\\0\\0\\0\\0\\0\\0' >> padded.xz", shared);
	open_range(dir, "padded.xz", 0, 0);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.checkpoints, PIECES - 1);
	backward_reads(0, 30, 100 * TU_KIB);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
}
END_TEST

/* Idle cursors give their decoders and buffers back; the stream still
 * reads right, allocating them again, and keeps its restore points. */
START_TEST(test_trim)
{
	struct mfs_stream_stats before, after;

	open_format(_i);
	check_read(plain, PLAIN_LEN, 3 * TU_MIB, 64 * TU_KIB);
	check_read(plain, PLAIN_LEN, 100, 64 * TU_KIB);
	mfs_stream_stats(s, &before);
	ck_assert_uint_eq(before.cursors_allocated, 2);
	mfs_stream_trim(s);
	mfs_stream_stats(s, &after);
	ck_assert_uint_eq(after.cursors_allocated, 0);
	ck_assert_uint_eq(after.checkpoints, before.checkpoints);
	mfs_stream_trim(s);	/* twice is fine */
	check_read(plain, PLAIN_LEN, 3 * TU_MIB + 64 * TU_KIB, 64 * TU_KIB);
	mfs_stream_stats(s, &after);
	ck_assert_uint_eq(after.cursors_allocated, 1);
	random_reads(plain, PLAIN_LEN, 70 + (uint64_t)_i, 20, 64 * TU_KIB);
	mfs_stream_trim(s);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
}
END_TEST

/* Trimming while other threads read: busy cursors are left alone. */
START_TEST(test_trim_while_reading)
{
	struct reader readers[4] = { 0 };

	open_format(_i);
	for (int t = 0; t < 4; t++) {
		readers[t].seed = 91 * (uint64_t)t + (uint64_t)_i;
		ck_assert_int_eq(pthread_create(&readers[t].thread, NULL,
						reader_main, &readers[t]), 0);
	}
	/* Trim after every few reads, until all are done. */
	for (int done = 0, reads = 0, trimmed = 0; done < 4;) {
		if (reads >= trimmed + 4) {
			mfs_stream_trim(s);
			trimmed = reads;
		} else {
			sched_yield();
		}
		done = reads = 0;
		for (int t = 0; t < 4; t++) {
			done += __atomic_load_n(&readers[t].finished,
						__ATOMIC_ACQUIRE);
			reads += __atomic_load_n(&readers[t].reads,
						 __ATOMIC_ACQUIRE);
		}
	}
	for (int t = 0; t < 4; t++)
		ck_assert_int_eq(pthread_join(readers[t].thread, NULL), 0);
	for (int t = 0; t < 4; t++)
		ck_assert_msg(readers[t].bad == 0, "thread %d: %d bad reads, "
			      "first %s", t, readers[t].bad, readers[t].what);
}
END_TEST

/* Reads [from, to) in order in 128 KiB requests, checking the bytes. */
static void read_range_in_order(uint64_t from, uint64_t to)
{
	for (uint64_t off = from; off < to; off += 128 * TU_KIB)
		check_read(plain, PLAIN_LEN, off, 128 * TU_KIB);
}

/* Waits (polling, with a deadline) until the helper has decoded more than
 * `than` bytes ahead.  The helper only takes idle CPU, so this thread
 * sleeps between looks rather than spin. */
static void wait_ahead_decoded(uint64_t than)
{
	const struct timespec pause = { 0, 1000 * 1000 };
	struct mfs_stream_stats st;
	double deadline = tu_now() + 60;

	for (;;) {
		mfs_stream_stats(s, &st);
		if (st.ahead_decoded > than)
			return;
		ck_assert_msg(tu_now() < deadline, "nothing decoded ahead");
		nanosleep(&pause, NULL);
	}
}

/*
 * A sequential reader over restore points (after a first pass, or from
 * the format's index at open) gets a helper that decodes stretches ahead
 * of it: the reader copies those, decodes the others itself, and never
 * goes back to the start.  Trimming stops the helper and frees its
 * memory; reading on starts it again.
 */
START_TEST(test_ahead)
{
	const int f = _i == 0 ? F_GZIP : _i == 1 ? F_XZ_BLOCKS :
		      F_ZSTD_SEEKABLE;
	struct mfs_stream_stats before, st;

	open_format(f);
	if (formats[f].points == POINTS_LEARNT) {
		ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN,
						    128 * TU_KIB), PLAIN_LEN);
		mfs_stream_trim(s);
	}
	mfs_stream_stats(s, &before);
	ck_assert_uint_eq(before.ahead_memory, 0);
	read_range_in_order(0, 3 * TU_MIB / 2);
	wait_ahead_decoded(before.ahead_decoded);
	mfs_stream_stats(s, &st);
	ck_assert_uint_gt(st.ahead_memory, 0);
	read_range_in_order(3 * TU_MIB / 2, PLAIN_LEN);
	mfs_stream_stats(s, &st);
	ck_assert_uint_gt(st.ahead_served, before.ahead_served);
	/* From the start once, then never again. */
	ck_assert_uint_eq(st.rewinds, before.rewinds + 1);
	/* Every byte read once, by the reader or by the helper. */
	ck_assert_uint_eq(st.decoded - before.decoded +
			  st.ahead_served - before.ahead_served, PLAIN_LEN);

	mfs_stream_trim(s);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.ahead_memory, 0);
	ck_assert_uint_eq(st.cursors_allocated, 0);
	/* Again after a trim. */
	before = st;
	read_range_in_order(0, 3 * TU_MIB / 2);
	wait_ahead_decoded(before.ahead_decoded);
	read_range_in_order(3 * TU_MIB / 2, PLAIN_LEN);
	mfs_stream_stats(s, &st);
	ck_assert_uint_gt(st.ahead_served, before.ahead_served);
}
END_TEST

/*
 * A first sequential read, with no restore point ahead (gzip before any
 * checkpoint, one xz block, one zstd frame): the helper borrows the
 * reader's cursor and runs it ahead on another core, so the reader
 * copies.  Every byte is still decoded once, by one decoder from the
 * start, and comes out right.
 */
START_TEST(test_ahead_frontier)
{
	const int f = _i == 0 ? F_GZIP : _i == 1 ? 2 : 3;
	const struct timespec pause = { 0, 2 * 1000 * 1000 };
	struct mfs_stream_stats st;

	open_format(f);
	/* Slowly, so that the helper gets ahead whatever the machine. */
	for (uint64_t off = 0; off < PLAIN_LEN; off += 128 * TU_KIB) {
		check_read(plain, PLAIN_LEN, off, 128 * TU_KIB);
		nanosleep(&pause, NULL);
	}
	mfs_stream_stats(s, &st);
	ck_assert_uint_gt(st.ahead_decoded, 0);
	ck_assert_uint_eq(st.rewinds, 1);
	ck_assert_uint_eq(st.restores, 0);
	ck_assert_uint_eq(st.decoded, PLAIN_LEN);
	ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
	mfs_stream_trim(s);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.ahead_memory, 0);
	ck_assert_uint_eq(st.cursors_allocated, 0);
}
END_TEST

struct sequential {
	pthread_t thread;
	int bad;
	uint64_t at;		/* first wrong read */
	int finished;
};

static void *sequential_main(void *arg)
{
	struct sequential *q = arg;
	uint8_t *mine = malloc(128 * TU_KIB);

	for (uint64_t off = 0; mine && off < PLAIN_LEN; off += 128 * TU_KIB) {
		size_t want = PLAIN_LEN - off < 128 * TU_KIB ?
			      (size_t)(PLAIN_LEN - off) : 128 * TU_KIB;
		ssize_t n = mfs_stream_pread(s, mine, 128 * TU_KIB, off);

		if ((n != (ssize_t)want || memcmp(mine, plain + off, want)) &&
		    !q->bad++)
			q->at = off;
	}
	free(mine);
	__atomic_store_n(&q->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Sequential readers with a helper, random readers and trims, all at
 * once: every read right.  The last two start with no restore point
 * ahead, where the helper borrows the frontier cursor. */
START_TEST(test_ahead_threads)
{
	const int f = _i == 0 || _i == 2 ? F_GZIP : _i == 1 ? F_XZ_BLOCKS : 2;
	struct sequential seq[3] = { 0 };
	struct reader readers[2] = { 0 };
	int done = 0;

	open_format(f);
	if (formats[f].points == POINTS_LEARNT && _i < 2)
		ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN,
						    128 * TU_KIB), PLAIN_LEN);
	for (int t = 0; t < 3; t++)
		ck_assert_int_eq(pthread_create(&seq[t].thread, NULL,
						sequential_main, &seq[t]), 0);
	for (int t = 0; t < 2; t++) {
		readers[t].seed = 300 + (uint64_t)t;
		ck_assert_int_eq(pthread_create(&readers[t].thread, NULL,
						reader_main, &readers[t]), 0);
	}
	for (int k = 0; done < 5; k++) {
		if (k % 64 == 0)
			mfs_stream_trim(s);
		sched_yield();
		done = 0;
		for (int t = 0; t < 3; t++)
			done += __atomic_load_n(&seq[t].finished,
						__ATOMIC_ACQUIRE);
		for (int t = 0; t < 2; t++)
			done += __atomic_load_n(&readers[t].finished,
						__ATOMIC_ACQUIRE);
	}
	for (int t = 0; t < 3; t++) {
		ck_assert_int_eq(pthread_join(seq[t].thread, NULL), 0);
		ck_assert_msg(seq[t].bad == 0, "sequential reader %d: %d bad "
			      "reads, first at %llu", t, seq[t].bad,
			      (unsigned long long)seq[t].at);
	}
	for (int t = 0; t < 2; t++) {
		ck_assert_int_eq(pthread_join(readers[t].thread, NULL), 0);
		ck_assert_msg(readers[t].bad == 0, "thread %d: %d bad reads, "
			      "first %s", t, readers[t].bad, readers[t].what);
	}
}
END_TEST

/* The formats whose index is worth exporting. */
static const int index_formats[] = { F_GZIP, F_XZ_BLOCKS, F_ZSTD_FRAMES,
				     F_ZSTD_SEEKABLE };
#define N_INDEX_FORMATS \
	((int)(sizeof(index_formats) / sizeof(index_formats[0])))

/* The layout of an export, from stream_index_i.h. */
#define IX_HEADER	48
#define IX_TOTAL	24
#define IX_COUNT	44
#define IX_ITEM		28
#define IX_BLOB_LEN	24	/* in an item */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Makes the trailing CRC match again after an edit, so that the fields
 * themselves are what gets checked. */
static void reseal(uint8_t *b, size_t len)
{
	put_le32(b + len - 4, (uint32_t)crc32(0, b, (uInt)(len - 4)));
}

/* Where item k starts in an export. */
static size_t item_at(const uint8_t *b, uint32_t k)
{
	size_t at = IX_HEADER;

	while (k--)
		at += IX_ITEM + get_le32(b + at + IX_BLOB_LEN);
	return at;
}

static void reopen_format(int i)
{
	mfs_stream_close(s);
	s = NULL;
	close(fd);
	fd = -1;
	open_format(i);
}

/*
 * Export after a full read, import into a fresh stream on the same bytes:
 * the size is known at once, and random reads resume from the imported
 * restore points without going back to the start.  Exporting again gives
 * the same bytes.
 */
START_TEST(test_index_round_trip)
{
	const int f = index_formats[_i];
	struct mfs_stream_stats first, st;
	void *exported, *again;
	size_t len, again_len;

	open_format(f);
	ck_assert(!mfs_stream_index_complete(s));
	ck_assert_int_eq(mfs_stream_index_export(s, &exported, &len), 0);
	if (formats[f].points == POINTS_LEARNT) {
		/* Nothing learnt yet, nothing worth saving. */
		ck_assert_uint_eq(len, 0);
		ck_assert_ptr_null(exported);
	}
	free(exported);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	ck_assert(mfs_stream_index_complete(s));
	mfs_stream_stats(s, &first);
	ck_assert_uint_gt(first.checkpoints, 0);
	ck_assert_int_eq(mfs_stream_index_export(s, &exported, &len), 0);
	ck_assert_uint_gt(len, IX_HEADER);

	reopen_format(f);
	ck_assert_int_eq(mfs_stream_index_import(s, exported, len), 0);
	ck_assert(mfs_stream_index_complete(s));
	ck_assert_int_eq(mfs_stream_size(s), PLAIN_LEN);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.checkpoints, first.checkpoints);
	ck_assert_uint_eq(st.checkpoint_span, first.checkpoint_span);
	/* From the first point on (gzip's lies past the first span). */
	backward_reads(get_le64((const uint8_t *)exported + IX_HEADER), 60,
		       128 * TU_KIB);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds, 0);
	ck_assert_uint_gt(st.restores, 0);
	ck_assert_uint_le(st.decoded, st.restores * 2 * MFS_CHECKPOINT_SPAN +
				      60 * 128 * TU_KIB);
	/* Past the end: known without decoding. */
	ck_assert_int_eq(mfs_stream_pread(s, buf, 10, PLAIN_LEN), 0);

	ck_assert_int_eq(mfs_stream_index_export(s, &again, &again_len), 0);
	ck_assert_uint_eq(again_len, len);
	ck_assert(memcmp(again, exported, len) == 0);
	free(again);
	free(exported);
}
END_TEST

/* An index exported half way: its restore points help, the size is
 * still to be found, and the rest of the stream reads and completes. */
START_TEST(test_index_partial)
{
	const int f = index_formats[_i];
	struct mfs_stream_stats st;
	void *exported;
	size_t len;

	open_format(f);
	check_read(plain, PLAIN_LEN, 5 * TU_MIB / 2, 4096);
	ck_assert_int_eq(mfs_stream_index_export(s, &exported, &len), 0);
	ck_assert_uint_gt(len, 0);
	reopen_format(f);
	ck_assert_int_eq(mfs_stream_index_import(s, exported, len), 0);
	free(exported);
	ck_assert(!mfs_stream_index_complete(s));
	ck_assert_int_eq(mfs_stream_size(s), -1);
	check_read(plain, PLAIN_LEN, 2 * TU_MIB + 1000, 4096);
	mfs_stream_stats(s, &st);
	ck_assert_uint_eq(st.rewinds, 0);
	ck_assert_uint_eq(st.restores, 1);
	check_read(plain, PLAIN_LEN, PLAIN_LEN - 100, 4096);
	ck_assert(mfs_stream_index_complete(s));
	random_reads(plain, PLAIN_LEN, 80, 30, 64 * TU_KIB);
}
END_TEST

/* Plain ranges have no index; a fresh stream has learnt nothing. */
START_TEST(test_index_nothing)
{
	void *b = (void *)1;
	size_t len = 1;

	open_format(0);
	ck_assert(mfs_stream_index_complete(s));
	ck_assert_int_eq(mfs_stream_index_export(s, &b, &len), 0);
	ck_assert_ptr_null(b);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(mfs_stream_index_import(s, "MFSSTIDX", 8), -EINVAL);
	reopen_format(F_GZIP);
	ck_assert_int_eq(mfs_stream_index_export(s, &b, &len), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(mfs_stream_index_import(s, NULL, 0), -EINVAL);
}
END_TEST

/* The import must fail and leave the stream as it was. */
static void refused(const void *b, size_t len, const char *what)
{
	struct mfs_stream_stats before, after;
	int ret;

	mfs_stream_stats(s, &before);
	ret = mfs_stream_index_import(s, b, len);
	ck_assert_msg(ret == -EINVAL, "%s: import returned %d", what, ret);
	mfs_stream_stats(s, &after);
	ck_assert_uint_eq(after.checkpoints, before.checkpoints);
	ck_assert_uint_eq(after.checkpoint_memory, before.checkpoint_memory);
	ck_assert_uint_eq(after.checkpoint_span, before.checkpoint_span);
}

/*
 * Every kind of damage is refused with -EINVAL and changes nothing:
 * truncation at every byte, any flipped byte (the CRC), header fields
 * changed with the CRC made right again, restore points out of order or
 * out of range, blobs too large, too many points, the index of another
 * compression or range size.  The stream then still reads right.
 */
START_TEST(test_index_refused)
{
	const int f = index_formats[_i];
	uint8_t *good, *b;
	size_t len, step;
	uint32_t count;
	void *exported;

	open_format(f);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	ck_assert_int_eq(mfs_stream_index_export(s, &exported, &len), 0);
	good = exported;
	b = malloc(len + 64);
	ck_assert(b != NULL);
	count = get_le32(good + IX_COUNT);
	ck_assert_uint_ge(count, 2);

	/* Every length near the ends, a stride through the rest. */
	step = rounds(1, 509);
	for (size_t n = 0; n < len; n += n < 512 || n + 512 > len ? 1 : step)
		refused(good, n, "truncated");
	/* Long blobs: every byte of the header and points, a stride
	 * through the rest. */
	step = len > 4096 ? (size_t)rounds(61, 997) : 1;
	for (size_t k = 0; k < len; k += k < 200 || k > len - 200 ? 1 : step) {
		memcpy(b, good, len);
		b[k] ^= 0x10;
		refused(b, len, "a flipped byte");
	}
	for (size_t k = 0; k < IX_HEADER; k++) {
		for (int bit = 0; bit < 8; bit += 7) {
			memcpy(b, good, len);
			b[k] ^= (uint8_t)(1 << bit);
			reseal(b, len);
			refused(b, len, "a header field");
		}
	}
	memcpy(b, good, len);
	memset(b + len - 4, 0, 68);
	reseal(b, len + 64);
	refused(b, len + 64, "trailing bytes");

	/* Points out of order: the second at the first's offsets. */
	memcpy(b, good, len);
	memcpy(b + item_at(b, 1), b + item_at(b, 0), 16);
	reseal(b, len);
	refused(b, len, "points out of order");
	/* A compressed offset past the range. */
	memcpy(b, good, len);
	put_le64(b + item_at(b, 0) + 8,
		 tu_file_size(shared, formats[f].file) + 1);
	reseal(b, len);
	refused(b, len, "an offset out of range");
	/* A decompressed offset past the size. */
	memcpy(b, good, len);
	put_le64(b + item_at(b, count - 1), PLAIN_LEN + 1);
	reseal(b, len);
	refused(b, len, "a point past the end");
	/* A blob longer than any state packs to, or than the buffer. */
	memcpy(b, good, len);
	put_le32(b + item_at(b, 0) + IX_BLOB_LEN, 1u << 30);
	reseal(b, len);
	refused(b, len, "a blob too large");
	/* More points than the budget allows. */
	memcpy(b, good, len);
	put_le32(b + IX_COUNT, MFS_CHECKPOINT_BUDGET / MFS_CHECKPOINT_COST + 1);
	reseal(b, len);
	refused(b, len, "too many points");
	/* Another total for a stream that knows its own. */
	memcpy(b, good, len);
	put_le64(b + IX_TOTAL, PLAIN_LEN + 1);
	reseal(b, len);
	refused(b, len, "another size");

	/* Still reads, from the points it had. */
	random_reads(plain, PLAIN_LEN, 90 + (uint64_t)_i, 30, 64 * TU_KIB);

	/* Into a stream of another compression, or another range size. */
	reopen_format(f == F_GZIP ? F_ZSTD_FRAMES : F_GZIP);
	refused(good, len, "another compression");
	mfs_stream_close(s);
	s = NULL;
	close(fd);
	open_range(shared, formats[f].file, 0,
		   tu_file_size(shared, formats[f].file) - 1);
	refused(good, len, "another range size");
	free(b);
	free(good);
}
END_TEST

/* Random damage with the CRC made right: whatever is accepted or not,
 * nothing reads outside its buffers (the sanitizers watch), and a good
 * index afterwards makes the stream right again. */
START_TEST(test_index_mutations)
{
	const int f = index_formats[_i];
	uint64_t seed = 1234 + (uint64_t)_i;
	void *exported;
	uint8_t *b;
	size_t len;

	open_format(f);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	ck_assert_int_eq(mfs_stream_index_export(s, &exported, &len), 0);
	b = malloc(len);
	ck_assert(b != NULL);
	for (int k = 0; k < rounds(200, 25); k++) {
		uint64_t r = tu_rand(&seed);
		int ret;

		memcpy(b, exported, len);
		for (int m = 0; m <= (int)(r % 4); m++) {
			uint64_t at = tu_rand(&seed);

			/* Mostly where the fields are. */
			at = at % 3 ? at % (IX_HEADER + 3 * IX_ITEM) : at;
			b[at % (len - 4)] ^=
				(uint8_t)(1 + (r >> (8 * m)) % 255);
		}
		reseal(b, len);
		reopen_format(f);
		ret = mfs_stream_index_import(s, b, len);
		ck_assert(ret == 0 || ret == -EINVAL);
		if (ret == 0) {
			uint64_t off = tu_rand(&seed) % (PLAIN_LEN + 100);
			ssize_t n = mfs_stream_pread(s, buf, 4096, off);

			ck_assert(n >= -EIO);
		}
	}
	reopen_format(f);
	ck_assert_int_eq(mfs_stream_index_import(s, exported, len), 0);
	random_reads(plain, PLAIN_LEN, 95, 30, 64 * TU_KIB);
	free(b);
	free(exported);
}
END_TEST

/* Resume data as decoder_gzip.c lays it out: u8 bits, u8 their value,
 * u16 zero, u32 CRC-32 so far, u64 member length so far, u32 window
 * length, the window. */
#define RD_HEADER	20
#define RD_WINDOW_MAX	(32 * TU_KIB)

/* Point k's resume data in export b, unpacked into data (RD_HEADER +
 * RD_WINDOW_MAX bytes); returns its length. */
static size_t point_data(const uint8_t *b, uint32_t k, uint8_t *data)
{
	size_t at = item_at(b, k);
	size_t n = ZSTD_decompress(data, RD_HEADER + RD_WINDOW_MAX,
				   b + at + IX_ITEM,
				   get_le32(b + at + IX_BLOB_LEN));

	ck_assert(!ZSTD_isError(n));
	return n;
}

/* Export b with point k's resume data replaced by data (packed again)
 * and the CRC made right; malloc'd, its length in *out_len. */
static uint8_t *with_point_data(const uint8_t *b, size_t len, uint32_t k,
				const uint8_t *data, size_t data_len,
				size_t *out_len)
{
	size_t at = item_at(b, k), old = get_le32(b + at + IX_BLOB_LEN);
	size_t bound = ZSTD_compressBound(data_len), packed;
	uint8_t *f = malloc(len - old + bound);

	ck_assert(f != NULL);
	memcpy(f, b, at + IX_ITEM);
	packed = ZSTD_compress(f + at + IX_ITEM, bound, data, data_len, 1);
	ck_assert(!ZSTD_isError(packed));
	put_le32(f + at + IX_BLOB_LEN, (uint32_t)packed);
	memcpy(f + at + IX_ITEM + packed, b + at + IX_ITEM + old,
	       len - (at + IX_ITEM + old));
	*out_len = len - old + packed;
	reseal(f, *out_len);
	return f;
}

/* Reads that must come from the point at out and from others: every one
 * gives the right bytes, whatever the index said. */
static void reads_around(uint64_t out)
{
	check_read(plain, PLAIN_LEN, out + 1000, 64 * TU_KIB);
	check_read(plain, PLAIN_LEN, out + 300 * TU_KIB, 4096);
	check_read(plain, PLAIN_LEN, PLAIN_LEN - 5000, 8192);
	check_read(plain, PLAIN_LEN, out > 1000 ? out - 1000 : 0, 64 * TU_KIB);
}

/* What a forged gzip restore point tries. */
enum forgery {
	FORGE_WINDOW_LONG,	/* a window longer than 32 KiB */
	FORGE_WINDOW_HUGE,	/* window length 0xffffffff */
	FORGE_WINDOW_SHORT,	/* a length one short of the bytes */
	FORGE_WINDOW_SMALL,	/* 100 bytes, the member claimed as long */
	FORGE_WINDOW_CUT,	/* 100 bytes, the member still long */
	FORGE_BITS_8,
	FORGE_BITS_255,
	FORGE_BITS_VALUE,	/* a value wider than its bit count */
	FORGE_BITS_FLIPPED,	/* a plausible but wrong bit */
	FORGE_WINDOW_RANDOM,	/* the window's bytes random */
	FORGE_CRC,		/* another member CRC so far */
	FORGE_RESERVED,
	FORGE_MEMBER_HUGE,	/* member length 2^63 */
	FORGE_HEADER_ONLY,	/* no window, member length 0 */
	FORGE_RANDOM,		/* random bytes, the same length */
	FORGE_RANDOM_SHORT,	/* 7 random bytes */
	FORGE_RANDOM_FIELDS,	/* random but in-range fields, random window */
	FORGE_COUNT
};

/*
 * gzip restore points are resume data (a window and a bit position), and
 * an index file can carry anything there.  Every forgery of a point's
 * data, or of a point's offsets and checksum, is refused or found out:
 * reads from that point and elsewhere give exactly the right bytes,
 * never a crash, an out-of-bounds access (valgrind and the sanitizers
 * watch inside and around ISA-L), wrong bytes or EIO.
 */
START_TEST(test_index_forged_points)
{
	uint8_t *data = malloc(RD_HEADER + RD_WINDOW_MAX + 64);
	uint8_t *forged = malloc(RD_HEADER + 2 * RD_WINDOW_MAX + 64);
	uint64_t seed = 777;
	void *exported;
	uint8_t *good, *b;
	size_t len, blen;
	uint32_t count;

	ck_assert(data && forged);
	open_format(F_GZIP);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	ck_assert_int_eq(mfs_stream_index_export(s, &exported, &len), 0);
	good = exported;
	count = get_le32(good + IX_COUNT);
	ck_assert_uint_ge(count, 2);

	for (int f = 0; f < FORGE_COUNT; f++) {
		uint32_t k = (uint32_t)f % count;
		uint64_t out = get_le64(good + item_at(good, k));
		size_t n = point_data(good, k, data), flen = n;
		uint32_t window = get_le32(data + 16);
		int ret;

		ck_assert_uint_eq(n, RD_HEADER + window);
		memcpy(forged, data, n);
		switch ((enum forgery)f) {
		case FORGE_WINDOW_LONG:
			put_le32(forged + 16, RD_WINDOW_MAX + 7000);
			memset(forged + n, 0x41, RD_WINDOW_MAX);
			flen = RD_HEADER + RD_WINDOW_MAX + 7000;
			break;
		case FORGE_WINDOW_HUGE:
			put_le32(forged + 16, 0xffffffffu);
			break;
		case FORGE_WINDOW_SHORT:
			put_le32(forged + 16, window - 1);
			break;
		case FORGE_WINDOW_SMALL:
			put_le32(forged + 16, 100);
			put_le64(forged + 8, 100);
			memcpy(forged + RD_HEADER, data + n - 100, 100);
			flen = RD_HEADER + 100;
			break;
		case FORGE_WINDOW_CUT:
			put_le32(forged + 16, 100);
			flen = RD_HEADER + 100;
			break;
		case FORGE_BITS_8:
			forged[0] = 8;
			break;
		case FORGE_BITS_255:
			forged[0] = 255;
			forged[1] = 255;
			break;
		case FORGE_BITS_VALUE:
			forged[0] = 3;
			forged[1] = 0xf8;
			break;
		case FORGE_BITS_FLIPPED:
			if (forged[0] == 0)
				forged[0] = 1;
			forged[1] ^= 1;
			break;
		case FORGE_WINDOW_RANDOM:
			tu_fill_random(forged + RD_HEADER, window, seed++);
			break;
		case FORGE_CRC:
			forged[4] ^= 0x5a;
			break;
		case FORGE_RESERVED:
			forged[2] = 1;
			break;
		case FORGE_MEMBER_HUGE:
			put_le64(forged + 8, 1ULL << 63);
			break;
		case FORGE_HEADER_ONLY:
			put_le32(forged + 16, 0);
			put_le64(forged + 8, 0);
			flen = RD_HEADER;
			break;
		case FORGE_RANDOM:
			tu_fill_random(forged, n, seed++);
			break;
		case FORGE_RANDOM_SHORT:
			tu_fill_random(forged, 7, seed++);
			flen = 7;
			break;
		case FORGE_RANDOM_FIELDS:
			tu_fill_random(forged, n, seed++);
			forged[0] = (uint8_t)(tu_rand(&seed) % 8);
			forged[1] &= (uint8_t)((1u << forged[0]) - 1);
			forged[2] = forged[3] = 0;
			memcpy(forged + 8, data + 8, 12);
			break;
		case FORGE_COUNT:
			break;
		}
		b = with_point_data(good, len, k, forged, flen, &blen);
		reopen_format(F_GZIP);
		ret = mfs_stream_index_import(s, b, blen);
		ck_assert_msg(ret == 0 || ret == -EINVAL,
			      "forgery %d: import returned %d", f, ret);
		reads_around(out);
		free(b);
	}

	/* The points' own fields: their offsets and checksums. */
	for (uint32_t k = 0; k < count; k++) {
		for (int field = 0; field < 3; field++) {
			size_t at = item_at(good, k);
			uint64_t out = get_le64(good + at);
			int ret;

			b = malloc(len);
			memcpy(b, good, len);
			if (field == 0)		/* in, a byte later */
				put_le64(b + at + 8, get_le64(b + at + 8) + 1);
			else if (field == 1)	/* out, a little earlier */
				put_le64(b + at, out - 4096);
			else			/* the bytes' CRC-32 */
				b[at + 16] ^= 0x80;
			reseal(b, len);
			reopen_format(F_GZIP);
			ret = mfs_stream_index_import(s, b, len);
			ck_assert(ret == 0 || ret == -EINVAL);
			reads_around(out);
			free(b);
		}
	}
	free(good);
	free(forged);
	free(data);
}
END_TEST

/* zstd frame starts from an index: one moved to another frame's start
 * (a real frame, at the wrong decompressed offset) is found out by the
 * bytes' CRC-32 before anything decoded from it is served. */
START_TEST(test_index_forged_restarts)
{
	void *exported;
	uint8_t *good, *b;
	size_t len;
	uint32_t count;

	open_format(F_ZSTD_FRAMES);
	ck_assert_uint_eq(read_sequentially(plain, PLAIN_LEN, 128 * TU_KIB),
			  PLAIN_LEN);
	ck_assert_int_eq(mfs_stream_index_export(s, &exported, &len), 0);
	good = exported;
	count = get_le32(good + IX_COUNT);
	ck_assert_uint_ge(count, 3);
	b = malloc(len);
	ck_assert(b != NULL);
	for (uint32_t k = 0; k + 1 < count; k++) {
		size_t at = item_at(good, k), next = item_at(good, k + 1);

		/* Point k claims point k+1's frame. */
		memcpy(b, good, len);
		put_le64(b + at + 8, get_le64(good + next + 8));
		put_le64(b + next + 8, get_le64(good + next + 8) + 1);
		reseal(b, len);
		reopen_format(F_ZSTD_FRAMES);
		if (mfs_stream_index_import(s, b, len) == 0)
			reads_around(get_le64(good + at));
		/* Or keeps its frame but claims another offset. */
		memcpy(b, good, len);
		put_le64(b + at, get_le64(good + at) + PIECE / 2);
		reseal(b, len);
		reopen_format(F_ZSTD_FRAMES);
		if (mfs_stream_index_import(s, b, len) == 0)
			reads_around(get_le64(good + at));
	}
	free(b);
	free(good);
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
	random_reads(all, total, 8, rounds(100, 20), 128 * TU_KIB);
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
	tcase_add_loop_test(tc, test_backwards_read_rewinds, 1, N_BASIC);
	tcase_add_test(tc, test_checkpoint_random_reads);
	tcase_add_test(tc, test_checkpoint_budget);
	tcase_add_loop_test(tc, test_threads, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_subrange, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_truncated, 1, N_FORMATS);
	tcase_add_loop_test(tc, test_corrupt, 1, N_FORMATS);
	suite_add_tcase(su, tc);

	tc = tcase_create("restarts");
	tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_restart_budget);
	tcase_add_loop_test(tc, test_restart_random_reads, F_XZ_BLOCKS,
			    N_FORMATS);
	tcase_add_loop_test(tc, test_seek_table_refused, 0, 5);
	tcase_add_test(tc, test_seek_table_lies);
	tcase_add_test(tc, test_seek_table_hidden_frame);
	tcase_add_test(tc, test_xz_index_refused);
	tcase_add_loop_test(tc, test_trim, 1, N_FORMATS);
	tcase_add_loop_test(tc, test_trim_while_reading, 1, N_FORMATS);
	tcase_add_loop_test(tc, test_ahead, 0, 3);
	tcase_add_loop_test(tc, test_ahead_threads, 0, 4);
	tcase_add_loop_test(tc, test_ahead_frontier, 0, 3);
	suite_add_tcase(su, tc);

	tc = tcase_create("index");
	tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_index_round_trip, 0, N_INDEX_FORMATS);
	tcase_add_loop_test(tc, test_index_partial, 0, N_INDEX_FORMATS);
	tcase_add_test(tc, test_index_nothing);
	tcase_add_loop_test(tc, test_index_refused, 0, N_INDEX_FORMATS);
	tcase_add_loop_test(tc, test_index_mutations, 0, N_INDEX_FORMATS);
	tcase_add_test(tc, test_index_forged_points);
	tcase_add_test(tc, test_index_forged_restarts);
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
