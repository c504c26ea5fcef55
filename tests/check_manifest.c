/*
 * mfs_manifest_parse: manifests as mender-artifact writes them, and every
 * way off the grammar "<64 lowercase hex>  <name>\n".
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/manifest.h"
#include "testutil.h"

/* sha256 of "hello\n", "abc" and "". */
#define SHA_HELLO "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define SHA_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char valid[] =
	SHA_HELLO "  data/0000/rootfs.img\n"
	SHA_ABC "  header.tar.gz\n"
	SHA_EMPTY "  version\n";

static struct mfs_manifest m;
static char err[512];
static char *dir;

static void setup(void)
{
	memset(&m, 0, sizeof(m));
	err[0] = 0;
	dir = NULL;
}

static void teardown(void)
{
	mfs_manifest_destroy(&m);
	tu_rmtree(dir);
	free(dir);
}

static void hex_to_bytes(const char *hex, uint8_t out[32])
{
	for (int i = 0; i < 32; i++) {
		unsigned v;

		ck_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
}

static void check_line(const char *name, const char *hex)
{
	const struct mfs_manifest_line *l = mfs_manifest_find(&m, name);
	uint8_t want[32];

	ck_assert_msg(l != NULL, "%s not found", name);
	ck_assert_str_eq(l->name, name);
	hex_to_bytes(hex, want);
	ck_assert_msg(memcmp(l->sha256, want, 32) == 0, "%s: wrong digest",
		      name);
}

START_TEST(test_valid)
{
	ck_assert_msg(mfs_manifest_parse(valid, strlen(valid), &m, err,
					 sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m.count, 3);
	/* File order kept. */
	ck_assert_str_eq(m.lines[0].name, "data/0000/rootfs.img");
	ck_assert_str_eq(m.lines[1].name, "header.tar.gz");
	ck_assert_str_eq(m.lines[2].name, "version");
	check_line("data/0000/rootfs.img", SHA_HELLO);
	check_line("header.tar.gz", SHA_ABC);
	check_line("version", SHA_EMPTY);
}
END_TEST

START_TEST(test_find_misses)
{
	ck_assert_int_eq(mfs_manifest_parse(valid, strlen(valid), &m, err,
					    sizeof(err)), 0);
	ck_assert_ptr_null(mfs_manifest_find(&m, "manifest"));
	ck_assert_ptr_null(mfs_manifest_find(&m, "versio"));
	ck_assert_ptr_null(mfs_manifest_find(&m, "version "));
	ck_assert_ptr_null(mfs_manifest_find(&m, "Version"));
	ck_assert_ptr_null(mfs_manifest_find(&m, "data/0000"));
	ck_assert_ptr_null(mfs_manifest_find(&m, "header.tar"));
	ck_assert_ptr_null(mfs_manifest_find(&m, ""));
	ck_assert_ptr_null(mfs_manifest_find(&m, "zzz"));
	ck_assert_ptr_null(mfs_manifest_find(&m, "a"));
}
END_TEST

/* Names are anything after the two spaces but blanks, UTF-8 included:
 * whether they may become paths is decided elsewhere. */
START_TEST(test_odd_names_parse)
{
	static const char text[] =
		SHA_EMPTY "  data/0000/caf\xc3\xa9\n"
		SHA_HELLO "  data/0000/\"quoted\"*?\n";

	ck_assert_msg(mfs_manifest_parse(text, strlen(text), &m, err,
					 sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m.count, 2);
	check_line("data/0000/caf\xc3\xa9", SHA_EMPTY);
	check_line("data/0000/\"quoted\"*?", SHA_HELLO);
}
END_TEST

/* The client's line is ^([0-9a-z]{64})[[:space:]]{2}([^[:blank:]]+)$: a
 * blank anywhere in the name, or a third space before it, is off it. */
START_TEST(test_blank_in_name_refused)
{
	static const char *const lines[] = {
		SHA_ABC "  data/0000/with space.bin\n",
		SHA_ABC "  data/0000/with\ttab.bin\n",
		SHA_ABC "   leading-space\n",
		SHA_ABC "  trailing-space \n",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(*lines); i++) {
		ck_assert_int_eq(mfs_manifest_parse(lines[i], strlen(lines[i]),
						    &m, err, sizeof(err)),
				 -EINVAL);
		ck_assert_str_eq(err, "manifest line 1 is not '<sha256>  <name>'");
		mfs_manifest_destroy(&m);
	}
}
END_TEST

/* The manifest mender-artifact writes, against sha256sum of the members. */
START_TEST(test_mender_artifact)
{
	static const char *const members[] = { "version", "header.tar.gz" };
	uint8_t *text;
	size_t len;

	dir = tu_mkdtemp();
	tu_sh(dir, "printf 'hello\\n' > payload && "
	      "mender-artifact write module-image -T my-module -n release-1 "
	      "-t qemux86-64 -f payload -o a.mender >/dev/null && "
	      "tar -xOf a.mender manifest > manifest && "
	      "for m in version header.tar.gz; do "
	      "tar -xOf a.mender $m | sha256sum | cut -c1-64 > $m.sha; done");
	text = tu_read_file(dir, "manifest", &len);
	ck_assert_msg(mfs_manifest_parse(text, len, &m, err, sizeof(err)) == 0,
		      "%s", err);
	free(text);
	ck_assert_uint_eq(m.count, 3);
	check_line("data/0000/payload", SHA_HELLO);
	for (size_t i = 0; i < 2; i++) {
		char *name;
		uint8_t *hex;

		ck_assert(asprintf(&name, "%s.sha", members[i]) > 0);
		hex = tu_read_file(dir, name, &len);
		ck_assert_uint_eq(len, 65);
		hex[64] = 0;
		check_line(members[i], (char *)hex);
		free(hex);
		free(name);
	}
}
END_TEST

/*
 * Off the grammar: each is refused with -EINVAL and a reason naming the
 * line (or the repeated name), and leaves the manifest empty.
 */
struct bad {
	const char *what;
	char *text;
	size_t len;
	const char *reason;	/* must appear in err */
};

static void bad_case(int i, struct bad *b)
{
	const char *t = NULL;
	const char *why = "line 1";
	FILE *f;

	memset(b, 0, sizeof(*b));
	switch (i) {
	case 0:
		b->what = "uppercase hex";
		t = SHA_EMPTY "  version\n"
		    "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
		    "  header.tar.gz\n";
		why = "line 2";
		break;
	case 1:
		b->what = "one uppercase digit";
		t = "Ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
		    "  header.tar.gz\n";
		break;
	case 2:
		b->what = "63 hex digits";
		t = "a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
		    "  header.tar.gz\n";
		break;
	case 3:
		b->what = "65 hex digits";
		t = "0ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
		    "  header.tar.gz\n";
		break;
	case 4:
		b->what = "one space";
		t = SHA_EMPTY "  version\n" SHA_ABC " header.tar.gz\n";
		why = "line 2";
		break;
	case 5:
		b->what = "a tab";
		t = SHA_ABC "\theader.tar.gz\n";
		break;
	case 6:
		b->what = "a space and a tab";
		t = SHA_ABC " \theader.tar.gz\n";
		break;
	case 7:
		b->what = "no final newline";
		t = SHA_HELLO "  data/0000/rootfs.img\n" SHA_ABC
		    "  header.tar.gz\n" SHA_EMPTY "  version";
		why = "line 3";
		break;
	case 8:
		b->what = "a blank line";
		t = SHA_HELLO "  data/0000/rootfs.img\n\n" SHA_EMPTY
		    "  version\n";
		why = "line 2";
		break;
	case 9:
		b->what = "a blank line at the end";
		t = SHA_HELLO "  data/0000/rootfs.img\n" SHA_EMPTY
		    "  version\n\n";
		why = "line 3";
		break;
	case 10:
		b->what = "CRLF";
		t = SHA_HELLO "  data/0000/rootfs.img\r\n" SHA_EMPTY
		    "  version\r\n";
		break;
	case 11:
		b->what = "a repeated name";
		t = SHA_HELLO "  version\n" SHA_ABC "  header.tar.gz\n"
		    SHA_EMPTY "  version\n";
		why = "version";
		break;
	case 12:
		b->what = "empty";
		t = "";
		why = "empty";
		break;
	case 13:
		b->what = "no name";
		t = SHA_EMPTY "  version\n" SHA_ABC "  \n";
		why = "line 2";
		break;
	case 14:
		b->what = "not hex";
		t = "ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
		    "  header.tar.gz\n";
		break;
	case 15:
		b->what = "a leading space";
		t = " " SHA_ABC "  header.tar.gz\n";
		break;
	case 16:
		b->what = "only a newline";
		t = "\n";
		break;
	case 17: {
		static const char nul[] = SHA_EMPTY "  version\n" SHA_ABC
					  "  head\0er.tar.gz\n";

		b->what = "a NUL in the name";
		b->len = sizeof(nul) - 1;
		b->text = malloc(b->len);
		ck_assert(b->text != NULL);
		memcpy(b->text, nul, b->len);
		b->reason = "line 2";
		return;
	}
	case 18: {
		static const char nul[] = SHA_EMPTY "  version\n" "ba78\0"
					  "6bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
					  "  header.tar.gz\n";

		b->what = "a NUL in the digest";
		b->len = sizeof(nul) - 1;
		b->text = malloc(b->len);
		ck_assert(b->text != NULL);
		memcpy(b->text, nul, b->len);
		b->reason = "line 2";
		return;
	}
	default:
		/* One byte over MFS_MANIFEST_MAX_SIZE of valid lines. */
		b->what = "too large";
		f = open_memstream(&b->text, &b->len);
		ck_assert(f != NULL);
		for (int n = 0; n < MFS_MANIFEST_MAX_SIZE / 80 + 1; n++)
			fprintf(f, "%s  data/0000/file-%06d.bin\n", SHA_ABC, n);
		ck_assert(fclose(f) == 0);
		ck_assert_uint_gt(b->len, MFS_MANIFEST_MAX_SIZE);
		b->len = MFS_MANIFEST_MAX_SIZE + 1;
		b->reason = "larger";
		return;
	}
	b->text = strdup(t);
	ck_assert(b->text != NULL);
	b->len = strlen(t);
	b->reason = why;
}
#define N_BAD 20

START_TEST(test_bad)
{
	struct bad b;
	int r;

	bad_case(_i, &b);
	r = mfs_manifest_parse(b.text, b.len, &m, err, sizeof(err));
	ck_assert_msg(r == -EINVAL, "%s: returned %d", b.what, r);
	ck_assert_msg(strstr(err, b.reason) != NULL,
		      "%s: reason \"%s\" does not say \"%s\"", b.what, err,
		      b.reason);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_ptr_null(m.lines);
	ck_assert_ptr_null(m.by_name);
	ck_assert_ptr_null(mfs_manifest_find(&m, "version"));
	free(b.text);
}
END_TEST

/* A manifest of exactly MFS_MANIFEST_MAX_SIZE bytes is taken. */
START_TEST(test_max_size)
{
	const size_t line = 64 + 2 + 27 + 1;	/* as printed below */
	size_t count = MFS_MANIFEST_MAX_SIZE / line;
	size_t last = MFS_MANIFEST_MAX_SIZE - (count - 1) * line;
	char *text = malloc(MFS_MANIFEST_MAX_SIZE + 1), *p = text;

	ck_assert(text != NULL);
	ck_assert_uint_ge(last, line);
	for (size_t n = 0; n < count - 1; n++)
		p += sprintf(p, "%s  data/0000/file-%08zu.bin\n", SHA_ABC, n);
	p += sprintf(p, "%s  ", SHA_ABC);
	memset(p, 'x', last - 67);
	p[last - 67] = '\n';
	p += last - 66;
	ck_assert_uint_eq((size_t)(p - text), MFS_MANIFEST_MAX_SIZE);
	ck_assert_msg(mfs_manifest_parse(text, MFS_MANIFEST_MAX_SIZE, &m, err,
					 sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m.count, count);
	free(text);
}
END_TEST

/*
 * A big module payload: 20000 lines, or as many as MFS_MANIFEST_MAX_SIZE
 * holds (a line is at least 68 bytes, so 1 MiB holds about 15000), parse
 * and index in well under a second, and every name is found.
 */
START_TEST(test_many_lines_fast)
{
	const size_t line = 64 + 2 + 17 + 1;	/* as printed below */
	const int lines = MFS_MANIFEST_MAX_SIZE / line < 20000 ?
			  (int)(MFS_MANIFEST_MAX_SIZE / line) : 20000;
	uint64_t st = 2024;
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	double start;

	ck_assert(f != NULL);
	ck_assert_int_gt(lines, 10000);
	/* Not in sorted order, so the index has work to do. */
	for (int n = 0; n < lines; n++) {
		uint64_t r = tu_rand(&st);

		fprintf(f, "%016llx%016llx%016llx%016llx  data/0000/f-%05d\n",
			(unsigned long long)r, (unsigned long long)~r,
			(unsigned long long)(r * 3), (unsigned long long)(r ^ 7),
			(n * 7919) % lines);
	}
	ck_assert(fclose(f) == 0);
	ck_assert_uint_eq(len, line * (size_t)lines);

	start = tu_now();
	ck_assert_msg(mfs_manifest_parse(text, len, &m, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(tu_now() - start < 1.0, "took %.2f s", tu_now() - start);
	ck_assert_uint_eq(m.count, (size_t)lines);
	for (int n = 0; n < lines; n++) {
		const struct mfs_manifest_line *l =
			mfs_manifest_find(&m, m.lines[n].name);

		ck_assert_ptr_eq(l, &m.lines[n]);
	}
	ck_assert_ptr_null(mfs_manifest_find(&m, "data/0000/f-99999"));
	free(text);
}
END_TEST

START_TEST(test_destroy_empty)
{
	struct mfs_manifest none = { 0 };

	mfs_manifest_destroy(&none);
	ck_assert_ptr_null(mfs_manifest_find(&none, "version"));
}
END_TEST

static Suite *manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc;

	tc = tcase_create("valid");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_find_misses);
	tcase_add_test(tc, test_odd_names_parse);
	tcase_add_test(tc, test_blank_in_name_refused);
	tcase_add_test(tc, test_mender_artifact);
	tcase_add_test(tc, test_max_size);
	tcase_add_test(tc, test_many_lines_fast);
	tcase_add_test(tc, test_destroy_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("invalid");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad, 0, N_BAD);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(manifest_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
