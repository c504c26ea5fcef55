/*
 * mfs_inner: walking tars made by GNU tar, plain and compressed by the
 * real gzip, xz and zstd, over an mfs_stream.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/inner.h"
#include "artifact/stream.h"
#include "testutil.h"

#define LONG_NAME \
	"a-long-payload-file-name-that-needs-a-pax-header-because-it-is-" \
	"longer-than-the-one-hundred-bytes-a-ustar-name-field-holds-" \
	"0123456789.bin"

/* In tar order.  Symlinks and directories carry no data. */
static const struct entry {
	const char *path;	/* as given to tar */
	const char *name;	/* as the tar stores it */
	size_t size;
	mode_t type;
} entries[] = {
	{ "small.txt", "small.txt", 13, S_IFREG },
	{ "empty", "empty", 0, S_IFREG },
	{ "dir", "dir/", 0, S_IFDIR },
	{ "dir/big.bin", "dir/big.bin", 3 * TU_MIB + 7, S_IFREG },
	{ "dir/mid.bin", "dir/mid.bin", 100 * TU_KIB + 3, S_IFREG },
	{ "link", "link", 0, S_IFLNK },
	{ LONG_NAME, LONG_NAME, 5000, S_IFREG },
	{ "z-last", "z-last", 600, S_IFREG },
};
#define N_ENTRIES ((int)(sizeof(entries) / sizeof(entries[0])))
#define BIG 3		/* index of dir/big.bin */

static const struct format {
	const char *file;
	const char *command;	/* makes file from p.tar */
	enum mfs_compression compression;
} formats[] = {
	{ "p.tar", "true", MFS_COMPRESSION_NONE },
	{ "p.tar.gz", "gzip -n -c p.tar > p.tar.gz", MFS_COMPRESSION_GZIP },
	{ "p.tar.xz", "xz -T1 -c p.tar > p.tar.xz", MFS_COMPRESSION_XZ },
	{ "p.tar.zst", "zstd -q -c p.tar > p.tar.zst", MFS_COMPRESSION_ZSTD },
};
#define N_FORMATS ((int)(sizeof(formats) / sizeof(formats[0])))

/* Made once per test case. */
static char *shared;
static uint8_t *contents[N_ENTRIES];

/* Per test. */
static char *dir;
static int fd = -1;
static struct mfs_stream *s;
static struct mfs_inner *w;
static struct mfs_entry e;
static uint8_t *buf;

static void shared_setup(void)
{
	FILE *list;
	char *path;

	shared = tu_mkdtemp();
	tu_sh(shared, "mkdir src");
	path = tu_path(shared, "list");
	list = fopen(path, "w");
	ck_assert(list != NULL);
	for (int i = 0; i < N_ENTRIES; i++) {
		const struct entry *en = &entries[i];
		char *name;

		fprintf(list, "%s\n", en->path);
		if (en->type == S_IFDIR) {
			tu_sh(shared, "mkdir src/%s", en->path);
			continue;
		}
		if (en->type == S_IFLNK) {
			tu_sh(shared, "ln -s empty src/%s", en->path);
			continue;
		}
		contents[i] = tu_data(en->size, 700 + (uint64_t)i);
		ck_assert(asprintf(&name, "src/%s", en->path) > 0);
		tu_write_file(shared, name, contents[i], en->size);
		free(name);
	}
	ck_assert(fclose(list) == 0);
	free(path);
	tu_sh(shared, "tar --format=pax --owner=0 --group=0 --mtime=@1600000000 "
	      "--no-recursion -C src -T list -cf p.tar");
	for (int i = 0; i < N_FORMATS; i++)
		tu_sh(shared, "%s", formats[i].command);
}

static void shared_teardown(void)
{
	for (int i = 0; i < N_ENTRIES; i++) {
		free(contents[i]);
		contents[i] = NULL;
	}
	tu_rmtree(shared);
	free(shared);
	shared = NULL;
}

static void setup(void)
{
	dir = tu_mkdtemp();
	memset(&e, 0, sizeof(e));
	buf = malloc(4 * TU_MIB);
	ck_assert(buf != NULL);
}

static void teardown(void)
{
	mfs_entry_destroy(&e);
	mfs_inner_close(w);
	w = NULL;
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

/* A walker over [0, size) of d/name; size 0 means the whole file.
 * Returns what mfs_inner_open() returned. */
static int try_walker(const char *d, const char *name, uint64_t size)
{
	fd = tu_open(d, name);
	if (!size)
		size = tu_file_size(d, name);
	ck_assert_int_eq(mfs_stream_open(fd, 0, size, &s), 0);
	return mfs_inner_open(s, &w);
}

static void open_walker(const char *d, const char *name, uint64_t size)
{
	ck_assert_int_eq(try_walker(d, name, size), 0);
}

/* Damaged input may be refused when the walker opens (libarchive reads
 * the first block to recognise the format) or by the first
 * mfs_inner_next(); either way with an errno that says what happened:
 * it is not a memory shortage. */
static int open_damaged(const char *d, const char *name, uint64_t size)
{
	int r = try_walker(d, name, size);

	ck_assert_msg(r == 0 || (r < 0 && r != -ENOMEM),
		      "%s (%s%llu bytes): mfs_inner_open returned %d", name,
		      size ? "cut at " : "all ", (unsigned long long)(size ?
		      size : tu_file_size(d, name)), r);
	return r;
}

static void check_entry(int i)
{
	const struct entry *en = &entries[i];

	ck_assert_str_eq(e.name, en->name);
	ck_assert_uint_eq(e.size, en->size);
	ck_assert_msg((e.mode & S_IFMT) == en->type, "%s: mode %o", en->name,
		      (unsigned)e.mode);
	ck_assert_int_eq(e.mtime, 1600000000);
	ck_assert_uint_ge(e.offset, e.header_offset + 512);
	ck_assert_uint_eq(e.offset % 512, 0);
}

/* Through the stream, at the entry's offset: the file's bytes. */
static void check_entry_data(int i)
{
	size_t size = entries[i].size;
	ssize_t n;

	if (entries[i].type != S_IFREG)
		return;
	n = mfs_stream_pread(s, buf, size, e.offset);
	ck_assert_int_eq(n, (ssize_t)size);
	ck_assert_msg(tu_first_diff(buf, contents[i], size) < 0,
		      "%s: wrong bytes at offset %llu", entries[i].name,
		      (unsigned long long)e.offset);
}

START_TEST(test_walk)
{
	int i;

	open_walker(shared, formats[_i].file, 0);
	ck_assert_int_eq(mfs_stream_compression(s), formats[_i].compression);
	for (i = 0; i < N_ENTRIES; i++) {
		int r = mfs_inner_next(w, &e);

		ck_assert_msg(r == 1, "entry %d: %d (%s)", i, r,
			      mfs_inner_error(w));
		check_entry(i);
		check_entry_data(i);
		mfs_entry_destroy(&e);
	}
	ck_assert_int_eq(mfs_inner_next(w, &e), 0);
	ck_assert_uint_gt(mfs_inner_position(w), entries[BIG].size);
}
END_TEST

/* Entry offsets stay valid for reads in any order after the walk. */
START_TEST(test_offsets_after_walk)
{
	uint64_t offsets[N_ENTRIES];

	open_walker(shared, formats[_i].file, 0);
	for (int i = 0; i < N_ENTRIES; i++) {
		ck_assert_int_eq(mfs_inner_next(w, &e), 1);
		offsets[i] = e.offset;
		mfs_entry_destroy(&e);
	}
	ck_assert_int_eq(mfs_inner_next(w, &e), 0);
	for (int i = N_ENTRIES - 1; i >= 0; i--) {
		if (entries[i].type != S_IFREG)
			continue;
		e.offset = offsets[i];
		check_entry_data(i);
	}
}
END_TEST

/* Entries copied through libarchive (meant for small ones, but a large
 * one comes whole too, across many reads). */
START_TEST(test_read_data)
{
	open_walker(shared, formats[_i].file, 0);
	for (int i = 0; i < N_ENTRIES; i++) {
		size_t size = entries[i].size;
		ssize_t n;

		ck_assert_int_eq(mfs_inner_next(w, &e), 1);
		check_entry(i);
		mfs_entry_destroy(&e);
		if (entries[i].type != S_IFREG)
			continue;
		/* In two pieces, asking for more than there is. */
		n = mfs_inner_read_data(w, buf, size / 3);
		ck_assert_int_eq(n, (ssize_t)(size / 3));
		n = mfs_inner_read_data(w, buf + size / 3, size + 100);
		ck_assert_int_eq(n, (ssize_t)(size - size / 3));
		ck_assert_msg(tu_first_diff(buf, contents[i], size) < 0,
			      "%s: wrong bytes", entries[i].name);
		ck_assert_int_eq(mfs_inner_read_data(w, buf, 10), 0);
	}
	ck_assert_int_eq(mfs_inner_next(w, &e), 0);
}
END_TEST

/* A limit below the tar's size stops the walk with an error at the cap;
 * one above it changes nothing. */
START_TEST(test_limit)
{
	int r, i = 0;

	open_walker(shared, formats[_i].file, 0);
	mfs_inner_set_limit(w, TU_MIB);
	while ((r = mfs_inner_next(w, &e)) == 1) {
		ck_assert_int_lt(i, N_ENTRIES);
		check_entry(i++);
		mfs_entry_destroy(&e);
	}
	ck_assert_msg(r < 0, "walk ended with %d after %d entries", r, i);
	ck_assert_int_eq(i, BIG + 1);
	ck_assert_msg(mfs_inner_error(w)[0] != 0, "no reason given");
	ck_assert_uint_le(mfs_inner_position(w), TU_MIB);
	/* Failing again, not walking on. */
	ck_assert_int_lt(mfs_inner_next(w, &e), 0);

	mfs_inner_close(w);
	ck_assert_int_eq(mfs_inner_open(s, &w), 0);
	mfs_inner_set_limit(w, 16 * TU_MIB);
	for (i = 0; (r = mfs_inner_next(w, &e)) == 1; i++)
		mfs_entry_destroy(&e);
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(i, N_ENTRIES);
}
END_TEST

/*
 * Cut short at several places: the walk gives the entries whose headers
 * lie before the cut, exactly as stored, then a negative errno; never a
 * hang and never an entry made up from what lies past the end.
 */
START_TEST(test_truncated)
{
	const uint64_t full = tu_file_size(shared, formats[_i].file);
	const uint64_t cuts[] = { full / 2, full / 10, full / 10 * 9, 700 };

	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		uint64_t cut = cuts[c];
		int r, i = 0;

		if (open_damaged(shared, formats[_i].file, cut) < 0)
			goto next;
		while ((r = mfs_inner_next(w, &e)) == 1) {
			ck_assert_msg(i < N_ENTRIES, "cut at %llu: entry %d "
				      "past the end: %s",
				      (unsigned long long)cut, i, e.name);
			check_entry(i++);
			if (formats[_i].compression == MFS_COMPRESSION_NONE)
				ck_assert_uint_le(e.header_offset + 512, cut);
			mfs_entry_destroy(&e);
		}
		ck_assert_msg(r < 0, "cut at %llu of %llu: walk ended with %d "
			      "after %d entries", (unsigned long long)cut,
			      (unsigned long long)full, r, i);
		ck_assert_msg(mfs_inner_error(w)[0] != 0, "no reason given");
		ck_assert_int_lt(mfs_inner_next(w, &e), 0);
next:
		mfs_inner_close(w);
		w = NULL;
		mfs_stream_close(s);
		s = NULL;
		close(fd);
		fd = -1;
	}
}
END_TEST

/* Not a tar: random bytes, plain and gzip-compressed. */
START_TEST(test_not_tar)
{
	uint8_t junk[8192];

	tu_fill_random(junk, sizeof(junk), 9);
	tu_write_file(dir, "junk", junk, sizeof(junk));
	tu_sh(dir, "gzip -n -c junk > junk.gz");
	if (open_damaged(dir, _i ? "junk.gz" : "junk", 0) < 0)
		return;
	ck_assert_int_lt(mfs_inner_next(w, &e), 0);
	ck_assert_msg(mfs_inner_error(w)[0] != 0, "no reason given");
}
END_TEST

/* A tar with no entries ends at once. */
START_TEST(test_empty_tar)
{
	tu_sh(dir, "tar -cf e.tar --files-from /dev/null && gzip -n -k e.tar");
	open_walker(dir, _i ? "e.tar.gz" : "e.tar", 0);
	ck_assert_int_eq(mfs_inner_next(w, &e), 0);
}
END_TEST

/* A global pax header ('g'), which libarchive folds into nothing and
 * the client's tar reader hands over as an entry: refused, where it
 * stands (first in the tar, or between two entries).  Per-entry pax
 * records ('x') and GNU long names ('L') are read as before. */
START_TEST(test_global_pax_refused)
{
	static const char *const where[] = {
		"[g, f('a', b'a')]",
		"[f('a', b'a'), g, f('b', b'b')]",
	};
	int r;

	tu_sh(dir, "python3 - <<'EOF'\n"
	      "import io, tarfile\n"
	      "def f(n, d):\n"
	      "    i = tarfile.TarInfo(n); i.size = len(d)\n"
	      "    return i.tobuf(tarfile.PAX_FORMAT) + d + bytes(-len(d) %% 512)\n"
	      "g = tarfile.TarInfo.create_pax_global_header({'comment': 'x'})\n"
	      "open('g.tar', 'wb').write(b''.join(%s) + bytes(1024))\n"
	      "EOF", where[_i]);
	open_walker(dir, "g.tar", 0);
	if (_i) {
		ck_assert_int_eq(mfs_inner_next(w, &e), 1);
		ck_assert_str_eq(e.name, "a");
		mfs_entry_destroy(&e);
	}
	r = mfs_inner_next(w, &e);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_msg(strstr(mfs_inner_error(w), "global pax header"), "%s",
		      mfs_inner_error(w));
}
END_TEST

START_TEST(test_extension_records_read)
{
	tu_sh(dir, "python3 - <<'EOF'\n"
	      "import tarfile\n"
	      "def f(n, d, fmt, pax=None):\n"
	      "    i = tarfile.TarInfo(n); i.size = len(d)\n"
	      "    if pax: i.pax_headers = pax\n"
	      "    return i.tobuf(fmt) + d + bytes(-len(d) %% 512)\n"
	      "long = 'l' * 300\n"
	      "open('x.tar', 'wb').write(f('decoy', b'p', tarfile.PAX_FORMAT,"
	      " {'path': 'pax-name'}) + f(long, b'g', tarfile.GNU_FORMAT) +"
	      " f(long, b'x', tarfile.PAX_FORMAT) + bytes(1024))\n"
	      "EOF");
	open_walker(dir, "x.tar", 0);
	ck_assert_int_eq(mfs_inner_next(w, &e), 1);
	ck_assert_str_eq(e.name, "pax-name");
	mfs_entry_destroy(&e);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(mfs_inner_next(w, &e), 1);
		ck_assert_uint_eq(strlen(e.name), 300);
		mfs_entry_destroy(&e);
	}
	ck_assert_int_eq(mfs_inner_next(w, &e), 0);
}
END_TEST

START_TEST(test_close_null)
{
	mfs_inner_close(NULL);
}
END_TEST

static Suite *inner_suite(void)
{
	Suite *su = suite_create("inner");
	TCase *tc;

	tc = tcase_create("walk");
	tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_walk, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_offsets_after_walk, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_read_data, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_limit, 0, N_FORMATS);
	tcase_add_loop_test(tc, test_truncated, 0, N_FORMATS);
	suite_add_tcase(su, tc);

	tc = tcase_create("odd");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_not_tar, 0, 2);
	tcase_add_loop_test(tc, test_empty_tar, 0, 2);
	tcase_add_test(tc, test_close_null);
	tcase_add_loop_test(tc, test_global_pax_refused, 0, 2);
	tcase_add_test(tc, test_extension_records_read);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(inner_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
