/* mfs_compression_*: the first bytes decide, as written by the real tools. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifact/compression.h"
#include "artifact/stream.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	uint8_t *data = tu_data(300 * TU_KIB, 1);

	dir = tu_mkdtemp();
	tu_write_file(dir, "data", data, 300 * TU_KIB);
	free(data);
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* The first len bytes of dir/name (len <= 64). */
static size_t head_of(const char *name, uint8_t *buf, size_t len)
{
	size_t size;
	uint8_t *all = tu_read_file(dir, name, &size);

	if (size < len)
		len = size;
	memcpy(buf, all, len);
	free(all);
	return len;
}

static const struct {
	const char *command;	/* run in the fixture directory */
	const char *file;
	enum mfs_compression expect;
} tools[] = {
	{ "gzip -n -c data > data.gz", "data.gz", MFS_COMPRESSION_GZIP },
	{ "gzip -1 -c data > data.gz", "data.gz", MFS_COMPRESSION_GZIP },
	{ "xz -T1 -c data > data.xz", "data.xz", MFS_COMPRESSION_XZ },
	{ "xz -T1 -0 --check=none -c data > data.xz", "data.xz",
	  MFS_COMPRESSION_XZ },
	{ "zstd -q -c data > data.zst", "data.zst", MFS_COMPRESSION_ZSTD },
	{ "zstd -q --no-check -19 -c data > data.zst", "data.zst",
	  MFS_COMPRESSION_ZSTD },
	{ "tar --format=gnu -cf data.tar data", "data.tar",
	  MFS_COMPRESSION_NONE },
	{ "cp data data.bin", "data.bin", MFS_COMPRESSION_NONE },
	/* Formats we do not decode are read as plain bytes. */
	{ "xz --format=lzma -c data > data.lzma", "data.lzma",
	  MFS_COMPRESSION_NONE },
	{ "bzip2 -c data > data.bz2", "data.bz2", MFS_COMPRESSION_NONE },
};

START_TEST(test_detect_tool_output)
{
	uint8_t head[16];
	size_t n;

	tu_sh(dir, "%s", tools[_i].command);
	n = head_of(tools[_i].file, head, sizeof(head));
	ck_assert_uint_eq(n, sizeof(head));
	ck_assert_msg(mfs_compression_detect(head, n) == tools[_i].expect,
		      "%s: detected %s, expected %s", tools[_i].command,
		      mfs_compression_name(mfs_compression_detect(head, n)),
		      mfs_compression_name(tools[_i].expect));
}
END_TEST

/* The magic decides: a plain tar called .tar.gz is plain, a gzip file
 * called .tar is gzip, both when detected and when opened as a stream. */
START_TEST(test_magic_beats_name)
{
	struct mfs_stream *s = NULL;
	uint8_t head[16];
	size_t n;
	int fd;

	tu_sh(dir, "tar --format=ustar -cf plain.tar.gz data");
	tu_sh(dir, "gzip -n -c data > gzip.tar");

	n = head_of("plain.tar.gz", head, sizeof(head));
	ck_assert_int_eq(mfs_compression_detect(head, n), MFS_COMPRESSION_NONE);
	fd = tu_open(dir, "plain.tar.gz");
	ck_assert_int_eq(mfs_stream_open(fd, 0, tu_file_size(dir,
					 "plain.tar.gz"), &s), 0);
	ck_assert_int_eq(mfs_stream_compression(s), MFS_COMPRESSION_NONE);
	mfs_stream_close(s);
	close(fd);

	n = head_of("gzip.tar", head, sizeof(head));
	ck_assert_int_eq(mfs_compression_detect(head, n), MFS_COMPRESSION_GZIP);
	fd = tu_open(dir, "gzip.tar");
	ck_assert_int_eq(mfs_stream_open(fd, 0, tu_file_size(dir, "gzip.tar"),
					 &s), 0);
	ck_assert_int_eq(mfs_stream_compression(s), MFS_COMPRESSION_GZIP);
	mfs_stream_close(s);
	close(fd);
}
END_TEST

/* Any prefix shorter than a format's magic is not that format. */
START_TEST(test_short_prefix_is_none)
{
	static const struct {
		const char *command, *file;
		size_t magic_len;
	} formats[] = {
		{ "gzip -n -c data > f", "f", 2 },
		{ "xz -T1 -c data > f", "f", 6 },
		{ "zstd -q -c data > f", "f", 4 },
	};
	uint8_t head[16];

	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
		tu_sh(dir, "%s", formats[f].command);
		ck_assert_uint_eq(head_of(formats[f].file, head, sizeof(head)),
				  sizeof(head));
		for (size_t len = 0; len < formats[f].magic_len; len++)
			ck_assert_msg(mfs_compression_detect(head, len) ==
				      MFS_COMPRESSION_NONE,
				      "%s: %zu bytes detected as %s",
				      formats[f].command, len,
				      mfs_compression_name(
					      mfs_compression_detect(head, len)));
		ck_assert_int_ne(mfs_compression_detect(head,
							formats[f].magic_len),
				 MFS_COMPRESSION_NONE);
	}
	ck_assert_int_eq(mfs_compression_detect(NULL, 0), MFS_COMPRESSION_NONE);
}
END_TEST

/* A prefix shorter than a format's magic cannot be that format. */
START_TEST(test_cut_magic_is_none)
{
	static const uint8_t gzip[] = { 0x1f, 0x8b };
	static const uint8_t zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };

	for (size_t len = 0; len < sizeof(gzip); len++)
		ck_assert_int_eq(mfs_compression_detect(gzip, len),
				 MFS_COMPRESSION_NONE);
	for (size_t len = 0; len < sizeof(zstd); len++)
		ck_assert_int_eq(mfs_compression_detect(zstd, len),
				 MFS_COMPRESSION_NONE);
	for (size_t len = 0; len < sizeof(xz); len++)
		ck_assert_int_eq(mfs_compression_detect(xz, len),
				 MFS_COMPRESSION_NONE);
	ck_assert_int_eq(mfs_compression_detect(gzip, 2), MFS_COMPRESSION_GZIP);
	ck_assert_int_eq(mfs_compression_detect(zstd, 4), MFS_COMPRESSION_ZSTD);
	ck_assert_int_eq(mfs_compression_detect(xz, 6), MFS_COMPRESSION_XZ);
}
END_TEST

/* One byte off the magic is not the format. */
START_TEST(test_near_misses)
{
	static const uint8_t gzip[8] = { 0x1f, 0x8c, 8, 0, 0, 0, 0, 0 };
	static const uint8_t xz[8] = { 0xfd, '7', 'z', 'X', 'Z', 0x01, 0, 0 };
	static const uint8_t zstd[8] = { 0x28, 0xb5, 0x2f, 0xfe, 0, 0, 0, 0 };
	static const uint8_t tar[8] = { 'v', 'e', 'r', 's', 'i', 'o', 'n', 0 };

	ck_assert_int_eq(mfs_compression_detect(gzip, 8), MFS_COMPRESSION_NONE);
	ck_assert_int_eq(mfs_compression_detect(xz, 8), MFS_COMPRESSION_NONE);
	ck_assert_int_eq(mfs_compression_detect(zstd, 8), MFS_COMPRESSION_NONE);
	ck_assert_int_eq(mfs_compression_detect(tar, 8), MFS_COMPRESSION_NONE);
}
END_TEST

START_TEST(test_names_and_suffixes)
{
	ck_assert_str_eq(mfs_compression_name(MFS_COMPRESSION_NONE), "none");
	ck_assert_str_eq(mfs_compression_name(MFS_COMPRESSION_GZIP), "gzip");
	ck_assert_str_eq(mfs_compression_name(MFS_COMPRESSION_XZ), "xz");
	ck_assert_str_eq(mfs_compression_name(MFS_COMPRESSION_ZSTD), "zstd");
	ck_assert_str_eq(mfs_compression_suffix(MFS_COMPRESSION_NONE), "");
	ck_assert_str_eq(mfs_compression_suffix(MFS_COMPRESSION_GZIP), ".gz");
	ck_assert_str_eq(mfs_compression_suffix(MFS_COMPRESSION_XZ), ".xz");
	ck_assert_str_eq(mfs_compression_suffix(MFS_COMPRESSION_ZSTD), ".zst");
}
END_TEST

static Suite *compression_suite(void)
{
	Suite *s = suite_create("compression");
	TCase *tc;

	tc = tcase_create("detect");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_detect_tool_output, 0,
			    sizeof(tools) / sizeof(tools[0]));
	tcase_add_test(tc, test_magic_beats_name);
	tcase_add_test(tc, test_short_prefix_is_none);
	tcase_add_test(tc, test_cut_magic_is_none);
	tcase_add_test(tc, test_near_misses);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_names_and_suffixes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(compression_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
