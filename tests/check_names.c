/* mfs_name_is_safe: which names may become paths in the tree. */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/names.h"

static const char *const safe[] = {
	"a",
	"version",
	"data/0000/rootfs.img",
	"headers/0000/type-info",
	"with space",
	" leading and trailing space ",
	"caf\xc3\xa9/\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab",
	".hidden",
	"a/.b",
	"..a",
	"a..",
	"...",
	"a/b/c/d/e/f",
	"-dash",
	"back\\slash",
	"quote\"'",
	"\xc2\xa0",		/* a no-break space, not a control */
};

static const char *const unsafe[] = {
	"",
	"/",
	"/abs",
	"/etc/passwd",
	".",
	"..",
	"./a",
	"a/.",
	"a/..",
	"../a",
	"a/../b",
	"a/./b",
	"a//b",
	"//",
	"a/",
	"a/b/",
	"new\nline",
	"\n",
	"carriage\rreturn",
	"tab\there",
	"esc\x1b[31m",
	"bell\x07",
	"\x01",
	"del\x7f",
	"\x7f",
	"dir/\x1f",
};

START_TEST(test_safe)
{
	ck_assert_msg(mfs_name_is_safe(safe[_i]), "\"%s\" refused", safe[_i]);
}
END_TEST

START_TEST(test_unsafe)
{
	ck_assert_msg(!mfs_name_is_safe(unsafe[_i]), "unsafe name #%d accepted",
		      _i);
}
END_TEST

START_TEST(test_null)
{
	ck_assert(!mfs_name_is_safe(NULL));
}
END_TEST

/* A component of NAME_MAX bytes is fine, one more is not, wherever it
 * sits in the path. */
START_TEST(test_name_max)
{
	char name[NAME_MAX + 32];

	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = 0;
	ck_assert(mfs_name_is_safe(name));
	name[NAME_MAX] = 'n';
	name[NAME_MAX + 1] = 0;
	ck_assert(!mfs_name_is_safe(name));

	memcpy(name, "dir/", 4);
	memset(name + 4, 'n', NAME_MAX);
	name[4 + NAME_MAX] = 0;
	ck_assert(mfs_name_is_safe(name));
	name[4 + NAME_MAX] = 'n';
	name[5 + NAME_MAX] = 0;
	ck_assert(!mfs_name_is_safe(name));
	name[5 + NAME_MAX] = '/';
	name[6 + NAME_MAX] = 'x';
	name[7 + NAME_MAX] = 0;
	ck_assert(!mfs_name_is_safe(name));
}
END_TEST

/* Paths shorter than PATH_MAX (made of components within NAME_MAX) are
 * fine; PATH_MAX bytes and more are not. */
START_TEST(test_path_max)
{
	char *path = malloc(PATH_MAX + 2);

	ck_assert(path != NULL);
	for (size_t len = PATH_MAX - 1; len <= PATH_MAX + 1; len++) {
		for (size_t i = 0; i < len; i++)
			path[i] = i % 100 == 99 ? '/' : 'p';
		path[len - 1] = 'p';
		path[len] = 0;
		ck_assert_uint_eq(strlen(path), len);
		ck_assert_msg(mfs_name_is_safe(path) == (len < PATH_MAX),
			      "a path of %zu bytes judged %s", len,
			      mfs_name_is_safe(path) ? "safe" : "unsafe");
	}
	free(path);
}
END_TEST

/* Every byte below 0x20, and 0x7f, is refused inside a name; every
 * other ASCII byte ("ab/cd" included) is fine there. */
START_TEST(test_every_control)
{
	char name[] = "ab?cd";

	for (int c = 1; c < 0x80; c++) {
		name[2] = (char)c;
		ck_assert_msg(mfs_name_is_safe(name) == (c >= 0x20 && c != 0x7f),
			      "byte %#x judged wrongly", c);
	}
}
END_TEST

static Suite *names_suite(void)
{
	Suite *s = suite_create("names");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_loop_test(tc, test_safe, 0,
			    (int)(sizeof(safe) / sizeof(safe[0])));
	tcase_add_loop_test(tc, test_unsafe, 0,
			    (int)(sizeof(unsafe) / sizeof(unsafe[0])));
	tcase_add_test(tc, test_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, test_name_max);
	tcase_add_test(tc, test_path_max);
	tcase_add_test(tc, test_every_control);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(names_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
