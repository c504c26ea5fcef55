/*
 * mfs_outer_index: the member table of tars written by GNU tar in each of
 * its formats, and of tars that are broken or not tars at all.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/outer.h"
#include "testutil.h"

#define LONG_PATH \
	"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/" \
	"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/" \
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" \
	"ffffffffffffffffffffffffffffff"
#define LONG_NAME \
	"llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll" \
	"llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll" \
	"llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll.bin"

static const struct member {
	const char *name;
	size_t size;
	mode_t mode;
	int64_t mtime;
	bool ustar;		/* ustar can store the name */
} members[] = {
	{ "version", 44, 0644, 1600000000, true },
	{ "empty", 0, 0600, 1600000001, true },
	{ "one", 1, 0755, 1600000002, true },
	{ "b511", 511, 0444, 1500000000, true },
	{ "b512", 512, 0640, 1, true },
	{ "b513", 513, 0604, 2000000000, true },
	{ "data/0000.tar.gz", TU_MIB + 77, 0644, 1600000100, true },
	{ "with space \xc3\xbc.txt", 1000, 0644, 1600000200, true },
	{ LONG_PATH, 3000, 0640, 1600000300, true },
	{ LONG_NAME, 70000, 0600, 1600000400, false },
	{ "last", 100, 0644, 1600000500, true },
};
#define N_MEMBERS (sizeof(members) / sizeof(members[0]))

static const char *const formats[] = { "ustar", "pax", "gnu" };

static char *dir;
static int fd = -1;
static struct mfs_outer outer;
static char err[512];

static void setup(void)
{
	dir = tu_mkdtemp();
	memset(&outer, 0, sizeof(outer));
	err[0] = 0;
}

static void teardown(void)
{
	mfs_outer_destroy(&outer);
	if (fd >= 0)
		close(fd);
	fd = -1;
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static bool member_in(const struct member *m, const char *format)
{
	return m->ustar || strcmp(format, "ustar") != 0;
}

/* Writes the member files with their modes and mtimes, and tars them in
 * table order into name. */
static void make_tar(const char *format, const char *name)
{
	FILE *list;
	char *path = tu_path(dir, "list");

	list = fopen(path, "w");
	ck_assert(list != NULL);
	for (size_t i = 0; i < N_MEMBERS; i++) {
		const struct member *m = &members[i];
		uint8_t *data;

		if (!member_in(m, format))
			continue;
		data = tu_data(m->size, 100 + i);
		tu_sh(dir, "mkdir -p \"$(dirname '%s')\"", m->name);
		tu_write_file(dir, m->name, data, m->size);
		free(data);
		tu_sh(dir, "chmod %o '%s' && touch -d @%lld '%s'",
		      (unsigned)m->mode, m->name, (long long)m->mtime, m->name);
		fprintf(list, "%s\n", m->name);
	}
	ck_assert(fclose(list) == 0);
	free(path);
	tu_sh(dir, "tar --format=%s --owner=0 --group=0 --no-recursion "
	      "-T list -cf '%s'", format, name);
}

static int index_file(const char *name)
{
	if (fd >= 0)
		close(fd);
	fd = tu_open(dir, name);
	return mfs_outer_index(fd, &outer, err, sizeof(err));
}

/* The member's bytes, read at its offset, are the file's. */
static void check_member_data(const struct mfs_entry *e)
{
	size_t len;
	uint8_t *want = tu_read_file(dir, e->name, &len);
	uint8_t *got = malloc(len + 1);
	ssize_t n;

	ck_assert(got != NULL);
	ck_assert_uint_eq(e->size, len);
	n = pread(fd, got, len + 1, (off_t)e->offset);
	ck_assert_int_ge(n, (ssize_t)len);
	ck_assert_msg(tu_first_diff(got, want, len) < 0, "%s: wrong bytes",
		      e->name);
	free(got);
	free(want);
}

static uint64_t round_block(uint64_t n)
{
	return (n + 511) / 512 * 512;
}

START_TEST(test_index)
{
	const char *format = formats[_i];
	size_t k = 0;
	struct stat st;

	make_tar(format, "a.tar");
	ck_assert_msg(index_file("a.tar") == 0, "%s: %s", format, err);
	for (size_t i = 0; i < N_MEMBERS; i++) {
		const struct member *m = &members[i];
		const struct mfs_entry *e;
		uint8_t block[512];

		if (!member_in(m, format))
			continue;
		ck_assert_uint_lt(k, outer.count);
		e = &outer.members[k++];
		ck_assert_str_eq(e->name, m->name);
		ck_assert_uint_eq(e->size, m->size);
		ck_assert_msg(e->mode == (S_IFREG | m->mode),
			      "%s: mode %o, expected %o", m->name,
			      (unsigned)e->mode, (unsigned)(S_IFREG | m->mode));
		ck_assert_int_eq(e->mtime, m->mtime);
		check_member_data(e);

		/* The first header block of the entry, which for long names
		 * is the GNU or pax extension, comes whole blocks before. */
		ck_assert_uint_eq(e->offset % 512, 0);
		ck_assert_uint_eq(e->header_offset % 512, 0);
		ck_assert_uint_ge(e->offset, e->header_offset + 512);
		ck_assert_int_eq(pread(fd, block, 512,
				       (off_t)e->header_offset), 512);
		ck_assert_msg(memcmp(block + 257, "ustar", 5) == 0,
			      "%s: no header at %llu", m->name,
			      (unsigned long long)e->header_offset);
		if (strlen(m->name) > 100 && strcmp(format, "ustar") != 0) {
			/* An extension header precedes the real one. */
			ck_assert_uint_ge(e->offset, e->header_offset + 1024);
			ck_assert_int_eq(block[156],
					 strcmp(format, "gnu") == 0 ? 'L' : 'x');
		}
		/* Members follow each other. */
		if (k > 1)
			ck_assert_uint_eq(e->header_offset,
				round_block(outer.members[k - 2].offset +
					    outer.members[k - 2].size));
	}
	ck_assert_uint_eq(outer.count, k);

	/* Just past the two zero blocks that end the archive; GNU tar pads
	 * the file on to a 10 KiB record. */
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(outer.file_size, (uint64_t)st.st_size);
	ck_assert_uint_eq(outer.end_offset,
			  round_block(outer.members[k - 1].offset +
				      outer.members[k - 1].size) + 1024);
	ck_assert_uint_le(outer.end_offset, outer.file_size);
	ck_assert_uint_eq(outer.file_size % 10240, 0);
}
END_TEST

START_TEST(test_find)
{
	const struct mfs_entry *e;

	make_tar("gnu", "a.tar");
	ck_assert_int_eq(index_file("a.tar"), 0);
	for (size_t i = 0; i < N_MEMBERS; i++) {
		e = mfs_outer_find(&outer, members[i].name);
		ck_assert_msg(e != NULL, "%s not found", members[i].name);
		ck_assert_str_eq(e->name, members[i].name);
		ck_assert_uint_eq(e->size, members[i].size);
	}
	ck_assert_ptr_eq(mfs_outer_find(&outer, "version"), &outer.members[0]);
	ck_assert_ptr_null(mfs_outer_find(&outer, "versio"));
	ck_assert_ptr_null(mfs_outer_find(&outer, "version/"));
	ck_assert_ptr_null(mfs_outer_find(&outer, "./version"));
	ck_assert_ptr_null(mfs_outer_find(&outer, "Version"));
	ck_assert_ptr_null(mfs_outer_find(&outer, ""));
	ck_assert_ptr_null(mfs_outer_find(&outer, "data/0000.tar"));
}
END_TEST

/* Names come back exactly as stored, however odd: judging them is the
 * caller's job. */
START_TEST(test_names_verbatim)
{
	static const char *const names[] = {
		"../evil", "/abs/path", "a\nb", "dir/./x", "a//b",
		"tab\there", "del\x7f", ".",
	};

	tu_sh(dir, "python3 -c '\n"
	      "import io, tarfile\n"
	      "names = [\"../evil\", \"/abs/path\", \"a\\nb\", \"dir/./x\",\n"
	      "         \"a//b\", \"tab\\there\", \"del\\x7f\", \".\"]\n"
	      "with tarfile.open(\"odd.tar\", \"w\", format=tarfile.PAX_FORMAT) as t:\n"
	      "    for i, n in enumerate(names):\n"
	      "        ti = tarfile.TarInfo(n)\n"
	      "        data = bytes([65 + i]) * (i + 1)\n"
	      "        ti.size = len(data)\n"
	      "        t.addfile(ti, io.BytesIO(data))\n"
	      "'");
	ck_assert_msg(index_file("odd.tar") == 0, "%s", err);
	ck_assert_uint_eq(outer.count, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < outer.count; i++) {
		const struct mfs_entry *e = &outer.members[i];
		uint8_t got[16];

		ck_assert_str_eq(e->name, names[i]);
		ck_assert_uint_eq(e->size, i + 1);
		ck_assert_int_eq(pread(fd, got, e->size, (off_t)e->offset),
				 (ssize_t)e->size);
		for (size_t j = 0; j < e->size; j++)
			ck_assert_int_eq(got[j], 'A' + (int)i);
	}
}
END_TEST

START_TEST(test_random_bytes)
{
	uint8_t junk[4096];

	tu_fill_random(junk, sizeof(junk), 42);
	tu_write_file(dir, "random", junk, sizeof(junk));
	ck_assert_int_eq(index_file("random"), -EINVAL);
	ck_assert_msg(err[0] != 0, "no reason given");
	ck_assert_uint_eq(outer.count, 0);
}
END_TEST

START_TEST(test_empty_file)
{
	tu_write_file(dir, "empty", "", 0);
	ck_assert_int_eq(index_file("empty"), -EINVAL);
	ck_assert_msg(err[0] != 0, "no reason given");
	ck_assert_uint_eq(outer.count, 0);
}
END_TEST

/* The outer tar is plain; a compressed tar is not one. */
START_TEST(test_compressed_tar)
{
	make_tar("gnu", "a.tar");
	tu_sh(dir, "gzip -n a.tar");
	ck_assert_int_eq(index_file("a.tar.gz"), -EINVAL);
	ck_assert_msg(err[0] != 0, "no reason given");
	ck_assert_uint_eq(outer.count, 0);
}
END_TEST

START_TEST(test_directory)
{
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(mfs_outer_index(fd, &outer, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(err[0] != 0, "no reason given");
	ck_assert_uint_eq(outer.count, 0);
}
END_TEST

/*
 * Cut inside the header of data/0000.tar.gz, right after it, inside its
 * data, and at the end of its data (before the padding and the next
 * header): the members whose data lies wholly inside the file stay in the
 * table, the others are dropped.
 */
START_TEST(test_truncated)
{
	struct mfs_outer whole = { 0 };
	const struct mfs_entry *big;
	uint64_t cut;
	size_t keep;

	make_tar("gnu", "a.tar");
	ck_assert_int_eq(index_file("a.tar"), 0);
	whole = outer;
	memset(&outer, 0, sizeof(outer));
	big = &whole.members[6];
	ck_assert_str_eq(big->name, "data/0000.tar.gz");
	switch (_i) {
	case 0:
		cut = big->header_offset + 300;
		keep = 6;
		break;
	case 1:
		cut = big->offset;
		keep = 6;
		break;
	case 2:
		cut = big->offset + big->size / 2;
		keep = 6;
		break;
	default:
		cut = big->offset + big->size;
		keep = 7;
		break;
	}
	tu_sh(dir, "head -c %llu a.tar > cut.tar", (unsigned long long)cut);

	ck_assert_int_eq(index_file("cut.tar"), -EINVAL);
	ck_assert_msg(err[0] != 0, "no reason given");
	ck_assert_msg(outer.count == keep, "cut at %llu: kept %zu, expected %zu",
		      (unsigned long long)cut, outer.count, keep);
	for (size_t i = 0; i < keep; i++) {
		ck_assert_str_eq(outer.members[i].name, whole.members[i].name);
		ck_assert_uint_eq(outer.members[i].offset,
				  whole.members[i].offset);
		ck_assert_uint_le(outer.members[i].offset +
				  outer.members[i].size, cut);
		check_member_data(&outer.members[i]);
	}
	ck_assert_uint_le(outer.end_offset, cut);
	ck_assert_uint_eq(outer.file_size, cut);
	mfs_outer_destroy(&whole);
}
END_TEST

/* MFS_OUTER_MAX_MEMBERS members are fine, one more is hostile. */
START_TEST(test_member_limit)
{
	const int extra = _i;

	tu_sh(dir, "mkdir m && cd m && seq -w 1 %d | xargs touch && cd .. && "
	      "tar --format=gnu --sort=name -cf many.tar m",
	      MFS_OUTER_MAX_MEMBERS - 1 + extra);
	if (!extra) {
		ck_assert_msg(index_file("many.tar") == 0, "%s", err);
		ck_assert_uint_eq(outer.count, MFS_OUTER_MAX_MEMBERS);
	} else {
		ck_assert_int_eq(index_file("many.tar"), -EINVAL);
		ck_assert_msg(strstr(err, "4096") != NULL, "reason: %s", err);
	}
}
END_TEST

START_TEST(test_destroy_empty)
{
	struct mfs_outer none = { 0 };

	mfs_outer_destroy(&none);
	mfs_entry_destroy(NULL);
}
END_TEST

static Suite *outer_suite(void)
{
	Suite *s = suite_create("outer");
	TCase *tc;

	tc = tcase_create("good");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_index, 0,
			    (int)(sizeof(formats) / sizeof(formats[0])));
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_names_verbatim);
	tcase_add_loop_test(tc, test_member_limit, 0, 2);
	tcase_add_test(tc, test_destroy_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_random_bytes);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_compressed_tar);
	tcase_add_test(tc, test_directory);
	tcase_add_loop_test(tc, test_truncated, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(outer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
