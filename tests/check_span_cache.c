/*
 * mfs_span_cache: spans stored and read back at any offset, misses, the
 * budget and the LRU order, space returned by forget, a full file system,
 * a cache file changed underneath the cache, and many threads at once.
 *
 * Every span's bytes derive from its (stream, index) key, so a read can
 * always be checked against what that key must hold.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "artifact/span_cache.h"
#include "artifact/stream.h"
#include "testutil.h"

#define SPAN	MFS_SPAN_SIZE

/* Per test (checked fixture). */
static char *dir;
static struct mfs_span_cache *c;
static uint8_t *data;		/* what a put stores */
static uint8_t *expect;		/* what a get must return */
static uint8_t *buf;		/* what a get returned */

static void setup(void)
{
	dir = tu_mkdtemp();
	data = malloc(SPAN);
	expect = malloc(SPAN);
	buf = malloc(2 * SPAN);
	ck_assert(data && expect && buf);
}

static void teardown(void)
{
	mfs_span_cache_close(c);
	c = NULL;
	free(data);
	free(expect);
	free(buf);
	data = expect = buf = NULL;
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* The bytes of span index of stream id. */
static void span_bytes(uint64_t id, uint64_t index, uint8_t *out, size_t len)
{
	tu_fill_random(out, len, (id << 32) ^ index ^ 0x5a5a);
}

/* A cache in d whose reserve is lifted, so that the tests do not depend
 * on how full the machine's disk is (test_full_fs tests the reserve). */
static void open_cache_in(const char *d, uint64_t budget)
{
	ck_assert_int_eq(mfs_span_cache_open(d, budget, &c), 0);
	mfs_span_cache_test_reserve(c, 0);
}

static void open_cache(uint64_t spans)
{
	open_cache_in(dir, spans * SPAN);
}

static int put(uint64_t id, uint64_t index, size_t len)
{
	span_bytes(id, index, data, len);
	return mfs_span_cache_put(c, id, index, data, len);
}

/* A get at offset that must hit and return the span's bytes, of a span
 * span_len long. */
static void check_hit(uint64_t id, uint64_t index, size_t span_len,
		      size_t offset, size_t len)
{
	size_t want = span_len - offset < len ? span_len - offset : len;
	ssize_t n, diff;

	span_bytes(id, index, expect, span_len);
	memset(buf, 0xee, want);
	n = mfs_span_cache_get(c, id, index, offset, buf, len);
	ck_assert_msg(n == (ssize_t)want,
		      "get(%llu/%llu, %zu bytes at %zu) = %zd, expected %zu",
		      (unsigned long long)id, (unsigned long long)index, len,
		      offset, n, want);
	diff = tu_first_diff(buf, expect + offset, want);
	ck_assert_msg(diff < 0, "get(%llu/%llu, %zu bytes at %zu) differs "
		      "at byte %zd", (unsigned long long)id,
		      (unsigned long long)index, len, offset, diff);
}

static void check_miss(uint64_t id, uint64_t index, size_t offset,
		       size_t len)
{
	ssize_t n = mfs_span_cache_get(c, id, index, offset, buf, len);

	ck_assert_msg(n == 0, "get(%llu/%llu, %zu bytes at %zu) = %zd, "
		      "expected a miss", (unsigned long long)id,
		      (unsigned long long)index, len, offset, n);
}

static struct mfs_span_cache_stats stats(void)
{
	struct mfs_span_cache_stats st;

	mfs_span_cache_stats(c, &st);
	return st;
}

static struct stat file_stat(void)
{
	struct stat st;

	ck_assert_int_eq(fstat(mfs_span_cache_test_fd(c), &st), 0);
	return st;
}

/* Bytes the cache file takes on disk. */
static uint64_t file_blocks(void)
{
	return (uint64_t)file_stat().st_blocks * 512;
}

static const struct {
	size_t offset, len;
} reads[] = {
	{ 0, 1 },
	{ 0, SPAN },
	{ 0, 2 * SPAN },		/* more than the span holds */
	{ SPAN - 1, 1 },
	{ SPAN - 1, 100 },
	{ 1, SPAN - 2 },
	{ 4096, 4096 },
	{ 12345, 100000 },
	{ 16383, 2 },
	{ 16384, 16384 },
	{ 65535, 131073 },
	{ 500000, SPAN },
};
#define N_READS ((int)(sizeof(reads) / sizeof(reads[0])))

START_TEST(test_round_trip)
{
	struct mfs_span_cache_stats st;
	uint64_t a;

	open_cache(8);
	a = mfs_span_cache_stream_id(c);
	for (uint64_t i = 0; i < 3; i++)
		ck_assert_int_eq(put(a, i, SPAN), 0);
	for (uint64_t i = 0; i < 3; i++)
		for (int r = 0; r < N_READS; r++)
			check_hit(a, i, SPAN, reads[r].offset, reads[r].len);
	/* Storing a span again changes nothing. */
	ck_assert_int_eq(put(a, 1, SPAN), 0);
	check_hit(a, 1, SPAN, 0, SPAN);
	st = stats();
	ck_assert_uint_eq(st.hits, 3 * N_READS + 1);
	ck_assert_uint_eq(st.misses, 0);
	ck_assert_uint_eq(st.stored, 3);
	ck_assert_uint_eq(st.evicted, 0);
	ck_assert_uint_eq(st.bytes_on_disk, 3 * SPAN);
	ck_assert_uint_eq(file_stat().st_size, 3 * SPAN);
}
END_TEST

START_TEST(test_short_last_span)
{
	const size_t len = SPAN / 3 + 7;
	uint64_t a;

	open_cache(8);
	a = mfs_span_cache_stream_id(c);
	ck_assert_int_eq(put(a, 4, SPAN), 0);
	ck_assert_int_eq(put(a, 5, len), 0);
	check_hit(a, 5, len, 0, len);
	check_hit(a, 5, len, 0, SPAN);
	check_hit(a, 5, len, len - 1, 10);
	check_hit(a, 5, len, 100, SPAN);
	check_hit(a, 5, len, 16384, 16384);
	/* At and past its end: nothing there. */
	check_miss(a, 5, len, 1);
	check_miss(a, 5, SPAN - 1, 1);
	check_hit(a, 4, SPAN, len, SPAN);
	ck_assert_uint_eq(stats().bytes_on_disk, SPAN + len);
}
END_TEST

START_TEST(test_misses)
{
	struct mfs_span_cache_stats st;
	uint64_t a, b;

	open_cache(8);
	a = mfs_span_cache_stream_id(c);
	b = mfs_span_cache_stream_id(c);
	check_miss(a, 0, 0, 100);
	ck_assert_int_eq(put(a, 0, SPAN), 0);
	check_miss(a, 1, 0, 100);
	check_miss(b, 0, 0, 100);	/* the same index, another stream */
	check_hit(a, 0, SPAN, 0, 100);
	st = stats();
	ck_assert_uint_eq(st.misses, 3);
	ck_assert_uint_eq(st.hits, 1);

	ck_assert_int_eq(mfs_span_cache_get(c, a, 0, SPAN, buf, 1), -EINVAL);
	ck_assert_int_eq(mfs_span_cache_get(c, 0, 0, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(mfs_span_cache_get(c, a, 0, 0, buf, 0), 0);
	ck_assert_int_eq(mfs_span_cache_put(c, 0, 0, data, SPAN), -EINVAL);
	ck_assert_int_eq(mfs_span_cache_put(c, a, 1, data, 0), -EINVAL);
	ck_assert_int_eq(mfs_span_cache_put(c, a, 1, buf, SPAN + 1), -EINVAL);
	st = stats();
	ck_assert_uint_eq(st.stored, 1);
	ck_assert_uint_eq(st.hits + st.misses, 4);
}
END_TEST

START_TEST(test_stream_ids)
{
	uint64_t last = 0;

	open_cache(1);
	for (int i = 0; i < 1000; i++) {
		uint64_t id = mfs_span_cache_stream_id(c);

		ck_assert_uint_ne(id, 0);
		ck_assert_uint_gt(id, last);
		last = id;
	}
}
END_TEST

START_TEST(test_lru_eviction)
{
	uint64_t a;

	/* Budgets count whole spans: this one holds three. */
	ck_assert_int_eq(mfs_span_cache_open(dir, 3 * SPAN + SPAN / 2, &c), 0);
	mfs_span_cache_test_reserve(c, 0);
	a = mfs_span_cache_stream_id(c);
	for (uint64_t i = 0; i < 3; i++)
		ck_assert_int_eq(put(a, i, SPAN), 0);
	check_hit(a, 0, SPAN, 0, 10);		/* order: 0 2 1 */
	ck_assert_int_eq(put(a, 3, SPAN), 0);	/* evicts 1: 3 0 2 */
	ck_assert_uint_eq(stats().evicted, 1);
	check_miss(a, 1, 0, 10);
	check_hit(a, 0, SPAN, 0, 10);
	check_hit(a, 2, SPAN, 0, 10);
	check_hit(a, 3, SPAN, 0, 10);		/* order: 3 2 0 */
	ck_assert_int_eq(put(a, 4, SPAN), 0);	/* evicts 0: 4 3 2 */
	check_miss(a, 0, 0, 10);
	/* A put of a span held counts as a use. */
	ck_assert_int_eq(put(a, 2, SPAN), 0);	/* order: 2 4 3 */
	ck_assert_int_eq(put(a, 5, SPAN), 0);	/* evicts 3: 5 2 4 */
	check_miss(a, 3, 0, 10);
	check_hit(a, 2, SPAN, 0, SPAN);
	check_hit(a, 4, SPAN, 0, SPAN);
	check_hit(a, 5, SPAN, 0, SPAN);
	ck_assert_uint_eq(stats().evicted, 3);
	ck_assert_uint_eq(stats().stored, 6);
	ck_assert_uint_eq(stats().bytes_on_disk, 3 * SPAN);
	ck_assert_uint_le(file_stat().st_size, 3 * SPAN);
	ck_assert_uint_le(file_blocks(), 3 * SPAN);
}
END_TEST

START_TEST(test_budget_below_a_span)
{
	uint64_t a;

	ck_assert_int_eq(mfs_span_cache_open(dir, SPAN - 1, &c), 0);
	a = mfs_span_cache_stream_id(c);
	ck_assert_int_eq(put(a, 0, 100), -ENOSPC);
	check_miss(a, 0, 0, 100);
	ck_assert_uint_eq(stats().refused_no_room, 1);
	ck_assert_uint_eq(stats().stored, 0);
	ck_assert_uint_eq(file_stat().st_size, 0);
}
END_TEST

START_TEST(test_forget_frees_space)
{
	uint64_t a, b, d;
	off_t size;

	open_cache(16);
	a = mfs_span_cache_stream_id(c);
	b = mfs_span_cache_stream_id(c);
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(put(a, i, SPAN), 0);
	ck_assert_int_eq(put(b, 0, SPAN), 0);
	ck_assert_int_eq(put(b, 1, SPAN / 2), 0);
	ck_assert_uint_ge(file_blocks(), 5 * SPAN + SPAN / 2);
	size = file_stat().st_size;

	mfs_span_cache_forget(c, a);
	for (uint64_t i = 0; i < 4; i++)
		check_miss(a, i, 0, 100);
	check_hit(b, 0, SPAN, 0, SPAN);
	check_hit(b, 1, SPAN / 2, 0, SPAN);
	ck_assert_uint_eq(stats().bytes_on_disk, SPAN + SPAN / 2);
	/* The space is back in the file system (some slack for the file
	 * system's own blocks). */
	ck_assert_uint_le(file_blocks(), SPAN + SPAN / 2 + 64 * TU_KIB);
	ck_assert_int_eq(file_stat().st_size, size);

	/* New spans go into the freed slots, not past the end. */
	d = mfs_span_cache_stream_id(c);
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(put(d, i, SPAN), 0);
	ck_assert_int_eq(file_stat().st_size, size);
	for (uint64_t i = 0; i < 4; i++)
		check_hit(d, i, SPAN, 1000, 5000);
	check_hit(b, 1, SPAN / 2, 0, SPAN);

	/* Forgetting an unknown or forgotten stream does nothing. */
	mfs_span_cache_forget(c, a);
	mfs_span_cache_forget(c, 999);
	mfs_span_cache_forget(c, b);
	mfs_span_cache_forget(c, d);
	ck_assert_uint_eq(stats().bytes_on_disk, 0);
	ck_assert_uint_le(file_blocks(), 64 * TU_KIB);
}
END_TEST

/* Many threads putting, getting and forgetting a few streams' spans in a
 * cache that holds half of them, so spans are evicted and reused under
 * readers all the time.  Every hit must carry the key's bytes. */
#define THREADS		8
#define THREAD_OPS	1000
#define STREAMS		3
#define SPANS		4
#define CACHE_SPANS	6

static uint8_t *contents[STREAMS][SPANS];
static uint64_t ids[STREAMS];

static size_t span_len(int stream, int index)
{
	return index == SPANS - 1 ? SPAN - 1000 * (size_t)(stream + 1) : SPAN;
}

struct worker {
	pthread_t thread;
	uint64_t seed;
	int bad;
	uint64_t hits;
	char what[160];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *mine = malloc(256 * TU_KIB);
	uint64_t st = w->seed;

	if (!mine) {
		w->bad = -1;
		return NULL;
	}
	for (int k = 0; k < THREAD_OPS; k++) {
		int stream = (int)(tu_rand(&st) % STREAMS);
		int index = (int)(tu_rand(&st) % SPANS);
		size_t len = span_len(stream, index);
		size_t off = (size_t)(tu_rand(&st) % len);
		size_t want = 1 + (size_t)(tu_rand(&st) % (256 * TU_KIB));
		const uint8_t *expected = contents[stream][index];
		ssize_t n;

		if (tu_rand(&st) % 64 == 0) {
			mfs_span_cache_forget(c, ids[stream]);
			continue;
		}
		n = mfs_span_cache_get(c, ids[stream], (uint64_t)index, off,
				       mine, want);
		if (want > len - off)
			want = len - off;
		if (n == 0) {
			mfs_span_cache_put(c, ids[stream], (uint64_t)index,
					   expected, len);
			continue;
		}
		if (n == (ssize_t)want && !memcmp(mine, expected + off, want)) {
			w->hits++;
			continue;
		}
		if (!w->bad++)
			snprintf(w->what, sizeof(w->what),
				 "get(%d/%d, %zu at %zu) = %zd", stream, index,
				 want, off, n);
	}
	free(mine);
	return NULL;
}

START_TEST(test_threads)
{
	struct worker workers[THREADS] = { 0 };
	struct mfs_span_cache_stats st;
	uint64_t hits = 0;

	open_cache(CACHE_SPANS);
	for (int s = 0; s < STREAMS; s++) {
		ids[s] = mfs_span_cache_stream_id(c);
		for (int i = 0; i < SPANS; i++) {
			contents[s][i] = malloc(SPAN);
			ck_assert(contents[s][i] != NULL);
			span_bytes(ids[s], (uint64_t)i, contents[s][i],
				   span_len(s, i));
		}
	}
	for (int t = 0; t < THREADS; t++) {
		workers[t].seed = 1234 + 77 * (uint64_t)t;
		ck_assert_int_eq(pthread_create(&workers[t].thread, NULL,
						worker_main, &workers[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_join(workers[t].thread, NULL), 0);
	for (int t = 0; t < THREADS; t++) {
		ck_assert_msg(workers[t].bad == 0, "thread %d: %d bad gets, "
			      "first %s", t, workers[t].bad, workers[t].what);
		hits += workers[t].hits;
	}
	st = stats();
	ck_assert_uint_eq(st.hits, hits);
	ck_assert_uint_gt(st.hits, 0);
	ck_assert_uint_gt(st.evicted, 0);
	ck_assert_uint_le(st.bytes_on_disk, CACHE_SPANS * SPAN);
	ck_assert_uint_le(file_stat().st_size, CACHE_SPANS * SPAN);
	ck_assert_uint_le(file_blocks(), CACHE_SPANS * SPAN + 64 * TU_KIB);

	/* Still consistent afterwards. */
	for (int s = 0; s < STREAMS; s++)
		for (int i = 0; i < SPANS; i++) {
			ck_assert_int_eq(put(ids[s], (uint64_t)i,
					     span_len(s, i)), 0);
			check_hit(ids[s], (uint64_t)i, span_len(s, i), 0, SPAN);
		}
	for (int s = 0; s < STREAMS; s++)
		for (int i = 0; i < SPANS; i++) {
			free(contents[s][i]);
			contents[s][i] = NULL;
		}
}
END_TEST

/* Bytes changed in the cache file make misses, never wrong bytes. */
START_TEST(test_corrupt_file)
{
	int fd;
	int64_t off;
	uint64_t a;
	ssize_t n;
	uint8_t *junk;

	open_cache(4);
	fd = mfs_span_cache_test_fd(c);
	a = mfs_span_cache_stream_id(c);
	for (uint64_t i = 0; i < 3; i++)
		ck_assert_int_eq(put(a, i, SPAN), 0);

	off = mfs_span_cache_test_offset(c, a, 0);
	ck_assert_int_ge(off, 0);
	ck_assert_int_eq(pwrite(fd, "garbage!", 8, off + 300000), 8);
	/* Bytes away from the damage may still be served, but only right. */
	n = mfs_span_cache_get(c, a, 0, 0, buf, 4096);
	ck_assert(n == 0 || n == 4096);
	if (n)
		check_hit(a, 0, SPAN, 0, 4096);
	/* A read over it misses, and the span is gone. */
	check_miss(a, 0, 299990, 100);
	ck_assert_int_eq(mfs_span_cache_test_offset(c, a, 0), -ENOENT);
	check_miss(a, 0, 0, 4096);
	check_hit(a, 1, SPAN, 0, SPAN);
	ck_assert_uint_eq(stats().bytes_on_disk, 2 * SPAN);
	/* Stored again, it is served again. */
	ck_assert_int_eq(put(a, 0, SPAN), 0);
	check_hit(a, 0, SPAN, 299990, 100);

	/* Garbage over the whole file: every read misses. */
	junk = tu_data(3 * SPAN, 42);
	ck_assert_int_eq(pwrite(fd, junk, 3 * SPAN, 0), 3 * SPAN);
	free(junk);
	for (uint64_t i = 0; i < 3; i++)
		for (int r = 0; r < N_READS; r++)
			check_miss(a, i, reads[r].offset, reads[r].len);
	ck_assert_uint_eq(stats().bytes_on_disk, 0);
	ck_assert_uint_le(file_blocks(), 64 * TU_KIB);
	/* And the cache goes on working. */
	ck_assert_int_eq(put(a, 2, SPAN), 0);
	check_hit(a, 2, SPAN, 12345, 100000);
}
END_TEST

START_TEST(test_truncated_file)
{
	uint64_t a;

	open_cache(4);
	a = mfs_span_cache_stream_id(c);
	ck_assert_int_eq(put(a, 0, SPAN), 0);
	ck_assert_int_eq(put(a, 1, SPAN), 0);
	ck_assert_int_eq(ftruncate(mfs_span_cache_test_fd(c), SPAN + 100), 0);
	check_hit(a, 0, SPAN, 0, SPAN);
	check_miss(a, 1, 0, SPAN);
	check_miss(a, 1, 0, 10);
	ck_assert_int_eq(put(a, 1, SPAN), 0);
	check_hit(a, 1, SPAN, 0, SPAN);
}
END_TEST

/* Bytes free on the cache file's file system. */
static uint64_t fs_avail(void)
{
	struct statvfs sv;

	ck_assert_int_eq(fstatvfs(mfs_span_cache_test_fd(c), &sv), 0);
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* A 4 MiB tmpfs: the default reserve (1 GiB at least) leaves it no room
 * at all; a smaller one is kept free; with the check off, writes run
 * into the full disk and fail, and the cache goes on serving. */
START_TEST(test_full_fs)
{
	struct mfs_span_cache_stats st;
	char *fs = tu_path(dir, "fs");
	uint64_t a, b, stored = 0;
	int ret = 0;

	ck_assert_int_eq(mkdir(fs, 0700), 0);
	if (geteuid() != 0) {	/* as CI runs it, root always mounts one */
		fprintf(stderr, "test_full_fs skipped: not root\n");
		free(fs);
		return;
	}
	ck_assert_msg(mount("menderfs-check", fs, "tmpfs", 0, "size=4m") == 0,
		      "cannot mount a tmpfs: %s", strerror(errno));
	ret = mfs_span_cache_open(fs, 16 * SPAN, &c);
	/* Detached at once: the cache file keeps the tmpfs alive, and a
	 * failing test leaves no mount behind. */
	ck_assert_int_eq(umount2(fs, MNT_DETACH), 0);
	free(fs);
	ck_assert_int_eq(ret, 0);
	a = mfs_span_cache_stream_id(c);
	b = mfs_span_cache_stream_id(c);

	/* The default reserve. */
	ck_assert_int_eq(put(a, 0, SPAN), -ENOSPC);
	ck_assert_uint_eq(stats().refused_no_room, 1);
	ck_assert_uint_eq(file_blocks(), 0);
	check_miss(a, 0, 0, 100);

	/* A 2 MiB reserve: puts stop before they would eat into it. */
	mfs_span_cache_test_reserve(c, 2 * SPAN);
	while (stored < 16 && (ret = put(a, stored, SPAN)) == 0)
		stored++;
	ck_assert_int_eq(ret, -ENOSPC);
	ck_assert_uint_ge(stored, 1);
	ck_assert_uint_ge(fs_avail(), 2 * SPAN);
	ck_assert_uint_eq(stats().refused_no_room, 2);
	for (uint64_t i = 0; i < stored; i++)
		check_hit(a, i, SPAN, 777, SPAN);

	/* No check: writes fill the disk until one fails. */
	mfs_span_cache_test_reserve(c, -1);
	while (stored < 16 && (ret = put(a, stored, SPAN)) == 0)
		stored++;
	ck_assert_int_eq(ret, -ENOSPC);
	st = stats();
	ck_assert_uint_eq(st.refused_no_room, 2);	/* a failure, not a refusal */
	ck_assert_uint_eq(st.stored, stored);
	ck_assert_uint_eq(st.bytes_on_disk, stored * SPAN);
	/* The failed span's slot was punched: only whole spans remain. */
	ck_assert_uint_eq(file_blocks(), stored * SPAN);
	check_miss(a, stored, 0, 100);
	for (uint64_t i = 0; i < stored; i++)
		check_hit(a, i, SPAN, 0, SPAN);

	/* Room made by forgetting is used again. */
	mfs_span_cache_forget(c, a);
	ck_assert_uint_eq(file_blocks(), 0);
	ck_assert_int_eq(put(b, 0, SPAN), 0);
	check_hit(b, 0, SPAN, 0, SPAN);
}
END_TEST

static int entries(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *e;
	int n = 0;

	ck_assert(dh != NULL);
	while ((e = readdir(dh)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(dh);
	return n;
}

/* Nothing in the directory, with O_TMPFILE (0) or without (1). */
START_TEST(test_nothing_left_behind)
{
	uint64_t a;

	ck_assert_int_eq(mfs_span_cache_test_open(dir, 4 * SPAN, _i, &c), 0);
	mfs_span_cache_test_reserve(c, 0);
	ck_assert_int_eq(entries(dir), 0);
	a = mfs_span_cache_stream_id(c);
	ck_assert_int_eq(put(a, 0, SPAN), 0);
	check_hit(a, 0, SPAN, 0, SPAN);
	ck_assert_int_eq(entries(dir), 0);
	ck_assert_int_eq(file_stat().st_nlink, 0);
}
END_TEST

START_TEST(test_open_errors)
{
	char *missing = tu_path(dir, "missing");

	ck_assert_int_eq(mfs_span_cache_open(missing, SPAN, &c), -ENOENT);
	ck_assert_int_eq(mfs_span_cache_test_open(missing, SPAN, 1, &c),
			 -ENOENT);
	ck_assert(c == NULL);
	free(missing);
	mfs_span_cache_close(NULL);
}
END_TEST

/* The cache behind a stream (stream_spans.c): an xz stream of one block
 * and a zstd stream of one frame, read once in order, then at random
 * offsets: every random read is served from disk, none decodes again, and
 * the bytes are right.  A gzip stream (checkpoints) does not use it. */
static void check_stream_spans(const char *tool, const char *suffix,
			       bool cached)
{
	const size_t size = 9 * SPAN + 12345;
	uint8_t *plain = tu_data(size, 21), *got = malloc(64 * 1024);
	struct mfs_span_cache_stats cs;
	struct mfs_stream_stats before, after;
	struct mfs_stream *st;
	char name[32];
	uint64_t seed = 5;
	int fd;

	tu_write_file(dir, "plain", plain, size);
	snprintf(name, sizeof(name), "plain.%s", suffix);
	tu_sh(dir, "%s < plain > %s", tool, name);
	fd = tu_open(dir, name);
	ck_assert_int_eq(mfs_span_cache_open(dir, 64 * SPAN, &c), 0);
	ck_assert_int_eq(mfs_stream_open(fd, 0, tu_file_size(dir, name), &st), 0);
	mfs_stream_set_span_cache(st, c);
	for (uint64_t off = 0; off < size; off += 64 * 1024) {
		ssize_t n = mfs_stream_pread(st, got, 64 * 1024, off);

		ck_assert_int_gt(n, 0);
		ck_assert(tu_first_diff(got, plain + off, (size_t)n) < 0);
	}
	mfs_stream_stats(st, &before);
	for (int i = 0; i < 50; i++) {
		uint64_t off = tu_rand(&seed) % size;
		size_t len = 1 + tu_rand(&seed) % (64 * 1024);
		ssize_t n;

		if (len > size - off)
			len = size - off;
		n = mfs_stream_pread(st, got, len, off);
		ck_assert_int_eq(n, (ssize_t)len);
		ck_assert_msg(tu_first_diff(got, plain + off, len) < 0,
			      "%s: wrong bytes at %llu", suffix,
			      (unsigned long long)off);
	}
	mfs_stream_stats(st, &after);
	mfs_span_cache_stats(c, &cs);
	if (cached) {
		ck_assert_uint_eq(after.rewinds, before.rewinds);
		ck_assert_uint_eq(after.decoded, before.decoded);
		ck_assert_uint_ge(cs.hits, 50);
	} else {
		ck_assert_uint_eq(cs.stored, 0);
	}
	mfs_stream_close(st);
	close(fd);
	free(got);
	free(plain);
}

START_TEST(test_stream_xz)
{
	check_stream_spans("xz -c", "xz", true);
}
END_TEST

START_TEST(test_stream_zstd)
{
	check_stream_spans("zstd -q -c", "zst", true);
}
END_TEST

START_TEST(test_stream_gzip_ignores)
{
	check_stream_spans("gzip -c", "gz", false);
}
END_TEST

static Suite *span_cache_suite(void)
{
	Suite *su = suite_create("span_cache");
	TCase *tc = tcase_create("span_cache");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_short_last_span);
	tcase_add_test(tc, test_misses);
	tcase_add_test(tc, test_stream_ids);
	tcase_add_test(tc, test_lru_eviction);
	tcase_add_test(tc, test_budget_below_a_span);
	tcase_add_test(tc, test_forget_frees_space);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_corrupt_file);
	tcase_add_test(tc, test_truncated_file);
	tcase_add_test(tc, test_full_fs);
	tcase_add_loop_test(tc, test_nothing_left_behind, 0, 2);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_stream_xz);
	tcase_add_test(tc, test_stream_zstd);
	tcase_add_test(tc, test_stream_gzip_ignores);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(span_cache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
