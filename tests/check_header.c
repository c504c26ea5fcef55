/*
 * mfs_header_load: the files of header tars laid out like Mender's, and
 * the limits that refuse hostile ones.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/header.h"
#include "artifact/outer.h"
#include "artifact/stream.h"
#include "testutil.h"

static const struct file {
	const char *name;
	const char *text;
	mode_t mode;
	int64_t mtime;
} files[] = {
	{ "header-info",
	  "{\"payloads\":[{\"type\":\"rootfs-image\"}],"
	  "\"artifact_provides\":{\"artifact_name\":\"release-1\"},"
	  "\"artifact_depends\":{\"device_type\":[\"qemux86-64\"]}}",
	  0644, 1600000000 },
	{ "scripts/ArtifactInstall_Enter_00", "#!/bin/sh\necho enter\n",
	  0755, 1600000001 },
	{ "headers/0000/type-info",
	  "{\"type\":\"rootfs-image\",\"artifact_provides\":"
	  "{\"rootfs-image.version\":\"release-1\"}}",
	  0600, 1600000002 },
	{ "headers/0000/meta-data", "{\"key\":\"value\",\"n\":1}", 0644,
	  1600000003 },
};
#define N_FILES ((int)(sizeof(files) / sizeof(files[0])))

static const struct format {
	const char *file;
	const char *compress;	/* a filter from tar to file */
} formats[] = {
	{ "header.tar", "cat" },
	{ "header.tar.gz", "gzip -n" },
	{ "header.tar.xz", "xz -T1" },
	{ "header.tar.zst", "zstd -q" },
};

static char *dir;
static int fd = -1;
static struct mfs_stream *s;
static struct mfs_header h;
static char err[512];

static void setup(void)
{
	dir = tu_mkdtemp();
	memset(&h, 0, sizeof(h));
	err[0] = 0;
}

static void teardown(void)
{
	mfs_header_destroy(&h);
	mfs_stream_close(s);
	s = NULL;
	if (fd >= 0)
		close(fd);
	fd = -1;
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static void open_range(const char *name, uint64_t offset, uint64_t size)
{
	fd = tu_open(dir, name);
	if (!size)
		size = tu_file_size(dir, name) - offset;
	ck_assert_int_eq(mfs_stream_open(fd, offset, size, &s), 0);
}

static int load(const char *name)
{
	open_range(name, 0, 0);
	return mfs_header_load(s, &h, err, sizeof(err));
}

/* Writes the header files, then tars them as Mender lays a header out:
 * header-info, scripts/, headers/ (directory entries included). */
static void make_header(const struct format *f)
{
	for (int i = 0; i < N_FILES; i++) {
		tu_sh(dir, "mkdir -p \"src/$(dirname '%s')\"", files[i].name);
		tu_sh(dir, "printf '%%s' '%s' > 'src/%s' && chmod %o 'src/%s' && "
		      "touch -d @%lld 'src/%s'", files[i].text, files[i].name,
		      (unsigned)files[i].mode, files[i].name,
		      (long long)files[i].mtime, files[i].name);
	}
	tu_sh(dir, "tar --format=gnu --owner=0 --group=0 --sort=name -C src "
	      "-cf - header-info scripts headers | %s > %s", f->compress,
	      f->file);
}

START_TEST(test_load)
{
	make_header(&formats[_i]);
	ck_assert_msg(load(formats[_i].file) == 0, "%s", err);
	ck_assert_int_eq(h.count, N_FILES);
	for (int i = 0; i < N_FILES; i++) {
		const struct mfs_blob *b = mfs_header_find(&h, files[i].name);
		size_t len = strlen(files[i].text);

		ck_assert_msg(b != NULL, "%s not loaded", files[i].name);
		ck_assert_str_eq(b->name, files[i].name);
		ck_assert_uint_eq(b->size, len);
		ck_assert_msg(memcmp(b->data, files[i].text, len) == 0,
			      "%s: wrong bytes", files[i].name);
		ck_assert_msg(b->mode == (S_IFREG | files[i].mode),
			      "%s: mode %o", files[i].name, (unsigned)b->mode);
		ck_assert_int_eq(b->mtime, files[i].mtime);
	}
	/* Directories are not files. */
	ck_assert_ptr_null(mfs_header_find(&h, "scripts"));
	ck_assert_ptr_null(mfs_header_find(&h, "scripts/"));
	ck_assert_ptr_null(mfs_header_find(&h, "headers/0000/"));
	ck_assert_ptr_null(mfs_header_find(&h, "header-inf"));
	ck_assert_ptr_null(mfs_header_find(&h, "headers/0001/type-info"));
}
END_TEST

/*
 * A header written by mender-artifact, read in place inside the artifact
 * (a sub-range of the file, found through the outer index), against what
 * GNU tar extracts from it.
 */
START_TEST(test_mender_artifact)
{
	struct mfs_outer outer = { 0 };
	const struct mfs_entry *m;
	char *list, *name, *save = NULL;
	size_t len;
	int n = 0;

	tu_sh(dir, "printf 'hello\\n' > payload && "
	      "printf '#!/bin/sh\\necho enter\\n' > ArtifactInstall_Enter_00 && "
	      "echo '{\"key\":\"value\",\"n\":1}' > meta.json && "
	      "mender-artifact write module-image -T my-module -n release-1 "
	      "-t qemux86-64 -f payload -m meta.json "
	      "-s ArtifactInstall_Enter_00 -o a.mender >/dev/null && "
	      "tar -xOf a.mender header.tar.gz > header.tar.gz && "
	      "mkdir hdr && tar -xzf header.tar.gz -C hdr && "
	      "(cd hdr && find . -type f | cut -c3- | sort) > files");

	fd = tu_open(dir, "a.mender");
	ck_assert_msg(mfs_outer_index(fd, &outer, err, sizeof(err)) == 0,
		      "%s", err);
	m = mfs_outer_find(&outer, "header.tar.gz");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(mfs_stream_open(fd, m->offset, m->size, &s), 0);
	mfs_outer_destroy(&outer);
	ck_assert_msg(mfs_header_load(s, &h, err, sizeof(err)) == 0, "%s", err);

	list = (char *)tu_read_file(dir, "files", &len);
	list = realloc(list, len + 1);
	ck_assert(list != NULL);
	list[len] = 0;
	for (name = strtok_r(list, "\n", &save); name;
	     name = strtok_r(NULL, "\n", &save), n++) {
		const struct mfs_blob *b = mfs_header_find(&h, name);
		char *path = tu_path("hdr", name);
		uint8_t *want = tu_read_file(dir, path, &len);

		ck_assert_msg(b != NULL, "%s not loaded", name);
		ck_assert_uint_eq(b->size, len);
		ck_assert_msg(memcmp(b->data, want, len) == 0,
			      "%s: wrong bytes", name);
		free(want);
		free(path);
	}
	free(list);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(h.count, (size_t)n);
	ck_assert_ptr_nonnull(mfs_header_find(&h, "header-info"));
	ck_assert_ptr_nonnull(mfs_header_find(&h, "headers/0000/type-info"));
	ck_assert_ptr_nonnull(mfs_header_find(&h, "headers/0000/meta-data"));
	ck_assert_ptr_nonnull(mfs_header_find(&h,
			      "scripts/ArtifactInstall_Enter_00"));
}
END_TEST

/* A file of exactly MFS_HEADER_MAX_FILE bytes is taken, one byte more is
 * refused by name. */
START_TEST(test_file_limit)
{
	const int over = _i;
	int r;

	tu_sh(dir, "mkdir -p headers/0000 && echo '{}' > header-info && "
	      "head -c %d /dev/zero > headers/0000/meta-data && "
	      "tar --format=gnu -czf h.tar.gz header-info headers",
	      MFS_HEADER_MAX_FILE + over);
	r = load("h.tar.gz");
	if (!over) {
		ck_assert_msg(r == 0, "%s", err);
		ck_assert_uint_eq(mfs_header_find(&h, "headers/0000/meta-data")
				  ->size, MFS_HEADER_MAX_FILE);
		return;
	}
	ck_assert_int_eq(r, -EFBIG);
	ck_assert_msg(strstr(err, "headers/0000/meta-data") != NULL,
		      "reason does not name the file: %s", err);
	ck_assert_uint_eq(h.count, 0);
}
END_TEST

/* 40 MiB of zeros in one file, gzip'd to a few dozen KiB: refused from
 * its tar header, before any of it is inflated. */
START_TEST(test_bomb_one_file)
{
	struct mfs_stream_stats st;
	double start;
	int r;

	tu_sh(dir, "mkdir -p headers/0000 && echo '{}' > header-info && "
	      "head -c 40M /dev/zero > headers/0000/meta-data && "
	      "tar --format=gnu -cf - header-info headers | gzip -9 -n > "
	      "bomb.tar.gz");
	ck_assert_uint_lt(tu_file_size(dir, "bomb.tar.gz"), 100 * TU_KIB);
	start = tu_now();
	r = load("bomb.tar.gz");
	ck_assert_msg(r == -EFBIG, "returned %d: %s", r, err);
	ck_assert_msg(strstr(err, "headers/0000/meta-data") != NULL,
		      "reason does not name the file: %s", err);
	mfs_stream_stats(s, &st);
	ck_assert_uint_lt(st.decoded, MFS_HEADER_MAX_FILE);
	ck_assert_msg(tu_now() - start < 1.0, "took %.2f s", tu_now() - start);
	ck_assert_uint_eq(h.count, 0);
}
END_TEST

/* Twenty files of zeros, each within the file limit: together over
 * MFS_HEADER_MAX_TOTAL, refused at the cap with the limit named.  With
 * files of 1 MiB the sum of sizes crosses the cap first; with files 1 KiB
 * smaller the bytes read (sizes plus tar headers) cross it first. */
START_TEST(test_bomb_many_files)
{
	const int size = _i ? TU_MIB - TU_KIB : TU_MIB;
	struct mfs_stream_stats st;
	int r;

	tu_sh(dir, "mkdir -p headers && echo '{}' > header-info && "
	      "for i in $(seq -w 0 19); do mkdir headers/00$i; "
	      "head -c %d /dev/zero > headers/00$i/meta-data; done && "
	      "tar --format=gnu --sort=name -cf - header-info headers | "
	      "gzip -9 -n > bomb.tar.gz", size);
	r = load("bomb.tar.gz");
	ck_assert_msg(r == -EFBIG, "returned %d: %s", r, err);
	ck_assert_msg(strstr(err, "16777216") != NULL,
		      "reason does not name the limit: %s", err);
	mfs_stream_stats(s, &st);
	ck_assert_uint_le(st.decoded, MFS_HEADER_MAX_TOTAL + 128 * TU_KIB);
	ck_assert_uint_eq(h.count, 0);
}
END_TEST

/* MFS_HEADER_MAX_FILES files are taken, one more is refused. */
START_TEST(test_file_count_limit)
{
	const int over = _i;
	int r;

	tu_sh(dir, "mkdir f && cd f && seq -w 1 %d | xargs touch && cd .. && "
	      "tar --format=gnu --sort=name -czf many.tar.gz f",
	      MFS_HEADER_MAX_FILES + over);
	r = load("many.tar.gz");
	if (!over) {
		ck_assert_msg(r == 0, "%s", err);
		ck_assert_uint_eq(h.count, MFS_HEADER_MAX_FILES);
		return;
	}
	ck_assert_int_eq(r, -EFBIG);
	ck_assert_msg(strstr(err, "1024") != NULL, "reason: %s", err);
	ck_assert_uint_eq(h.count, 0);
}
END_TEST

/* Links and devices have no place in a header: skipped, not loaded. */
START_TEST(test_skips_non_files)
{
	tu_sh(dir, "echo '{}' > header-info && ln -s header-info sym && "
	      "ln header-info hard && mkfifo fifo && "
	      "tar --format=gnu -czf h.tar.gz header-info sym fifo hard");
	ck_assert_msg(load("h.tar.gz") == 0, "%s", err);
	ck_assert_ptr_nonnull(mfs_header_find(&h, "header-info"));
	ck_assert_ptr_null(mfs_header_find(&h, "sym"));
	ck_assert_ptr_null(mfs_header_find(&h, "fifo"));
	ck_assert_ptr_null(mfs_header_find(&h, "hard"));
	ck_assert_uint_eq(h.count, 1);
}
END_TEST

/* A name twice, also as ./name: the whole header is refused (-EEXIST,
 * the name given), as one reader would take the first copy and another
 * the last. */
START_TEST(test_name_twice)
{
	static const char *const second[] = { "meta-data", "./meta-data" };
	int r;

	tu_sh(dir, "echo '{}' > header-info && mkdir a b && "
	      "echo '{\"good\": 1}' > a/meta-data && echo '{\"evil\": 1}' > b/meta-data && "
	      "tar --format=gnu -cf h.tar header-info -C a meta-data -C ../b %s",
	      second[_i]);
	r = load("h.tar");
	ck_assert_int_eq(r, -EEXIST);
	ck_assert_str_eq(err, "meta-data appears twice");
	ck_assert_uint_eq(h.count, 0);
}
END_TEST

/* Damaged headers fail with a reason; never "out of memory", and
 * nothing half-loaded is left behind. */
START_TEST(test_damaged)
{
	uint8_t junk[8192];
	int r;

	make_header(&formats[1]);
	tu_fill_random(junk, sizeof(junk), 17);
	tu_write_file(dir, "junk", junk, sizeof(junk));
	switch (_i) {
	case 0:		/* not a tar: random bytes */
		tu_sh(dir, "cp junk bad");
		break;
	case 1:		/* not a tar: compressed random bytes */
		tu_sh(dir, "gzip -n -c junk > bad");
		break;
	case 2:		/* cut in the middle */
		tu_sh(dir, "head -c $(($(stat -c %%s header.tar.gz) / 2)) "
		      "header.tar.gz > bad");
		break;
	default:	/* cut before the trailer */
		tu_sh(dir, "head -c $(($(stat -c %%s header.tar.gz) - 4)) "
		      "header.tar.gz > bad");
		break;
	}
	r = load("bad");
	ck_assert_msg(r < 0 && r != -ENOMEM, "returned %d: %s", r, err);
	ck_assert_msg(err[0] != 0, "no reason given");
	ck_assert_msg(strstr(err, "memory") == NULL, "reason: %s", err);
	ck_assert_uint_eq(h.count, 0);
	ck_assert_ptr_null(h.files);
}
END_TEST

START_TEST(test_destroy_empty)
{
	struct mfs_header none = { 0 };

	mfs_header_destroy(&none);
	ck_assert_ptr_null(mfs_header_find(&none, "header-info"));
}
END_TEST

static Suite *header_suite(void)
{
	Suite *su = suite_create("header");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_load, 0,
			    (int)(sizeof(formats) / sizeof(formats[0])));
	tcase_add_test(tc, test_mender_artifact);
	tcase_add_test(tc, test_skips_non_files);
	tcase_add_loop_test(tc, test_name_twice, 0, 2);
	tcase_add_test(tc, test_destroy_empty);
	suite_add_tcase(su, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_file_limit, 0, 2);
	tcase_add_test(tc, test_bomb_one_file);
	tcase_add_loop_test(tc, test_bomb_many_files, 0, 2);
	tcase_add_loop_test(tc, test_file_count_limit, 0, 2);
	suite_add_tcase(su, tc);

	tc = tcase_create("damaged");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_damaged, 0, 4);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(header_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
