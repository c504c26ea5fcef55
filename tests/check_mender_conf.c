/*
 * mfs_mender_conf_keys: the verification keys a Mender client
 * configuration names, "ArtifactVerifyKey" (one path) or
 * "ArtifactVerifyKeys" (a list), and the configurations the client
 * refuses.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mender_conf.h"
#include "testutil.h"

static char *dir;
static char **paths;
static size_t count;
static char err[512];

static void setup(void)
{
	dir = tu_mkdtemp();
	paths = NULL;
	count = 0;
	err[0] = '\0';
}

static void teardown(void)
{
	mfs_mender_conf_free(paths, count);
	tu_rmtree(dir);
	free(dir);
}

/* Writes text as dir/mender.conf and reads its keys. */
static int conf(const char *text)
{
	char *path = tu_path(dir, "mender.conf");
	int ret;

	tu_write_file(dir, "mender.conf", text, strlen(text));
	strcpy(err, "untouched");
	ret = mfs_mender_conf_keys(path, &paths, &count, err, sizeof(err));
	free(path);
	return ret;
}

/* conf(text) must succeed with exactly these keys. */
static void expect_keys(const char *text, const char *const *want, size_t n)
{
	int ret = conf(text);

	ck_assert_msg(ret == 0, "%s: %d (%s)", text, ret, err);
	ck_assert_msg(count == n, "%s: %zu keys, want %zu", text, count, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(paths[i], want[i]);
}

/* conf(text) must fail with -EINVAL and a reason containing word. */
static void expect_invalid(const char *text, const char *word)
{
	int ret = conf(text);

	ck_assert_msg(ret == -EINVAL, "%s: returned %d, want -EINVAL", text,
		      ret);
	ck_assert_msg(strstr(err, word) != NULL, "%s: reason '%s' lacks '%s'",
		      text, err, word);
	ck_assert_uint_eq(count, 0);
	ck_assert_ptr_null(paths);
}

START_TEST(test_one_key)
{
	static const char *const want[] = { "/etc/mender/artifact-verify-key.pem" };

	expect_keys("{\"ServerURL\": \"https://example.invalid\",\n"
		    " \"ArtifactVerifyKey\": \"/etc/mender/artifact-verify-key.pem\"}\n",
		    want, 1);
}
END_TEST

START_TEST(test_key_list)
{
	static const char *const want[] = { "/keys/old.pem", "/keys/new.pem",
					    "relative.pem" };

	expect_keys("{\"ArtifactVerifyKeys\": [\"/keys/old.pem\", "
		    "\"/keys/new.pem\", \"relative.pem\"]}", want, 3);
}
END_TEST

START_TEST(test_neither)
{
	expect_keys("{\"ServerURL\": \"https://example.invalid\", "
		    "\"RootfsPartA\": \"/dev/mmcblk0p2\"}", NULL, 0);
	ck_assert_ptr_null(paths);
}
END_TEST

START_TEST(test_empty_object)
{
	expect_keys("{}", NULL, 0);
}
END_TEST

START_TEST(test_empty_list)
{
	expect_keys("{\"ArtifactVerifyKeys\": []}", NULL, 0);
}
END_TEST

/* null is how JSON leaves an option unset. */
START_TEST(test_null_values)
{
	static const char *const list[] = { "/a.pem", "/b.pem" };
	static const char *const one[] = { "/c.pem" };

	expect_keys("{\"ArtifactVerifyKey\": null}", NULL, 0);
	mfs_mender_conf_free(paths, count);
	paths = NULL;
	count = 0;
	expect_keys("{\"ArtifactVerifyKey\": null, \"ArtifactVerifyKeys\": "
		    "[\"/a.pem\", \"/b.pem\"]}", list, 2);
	mfs_mender_conf_free(paths, count);
	paths = NULL;
	count = 0;
	expect_keys("{\"ArtifactVerifyKey\": \"/c.pem\", "
		    "\"ArtifactVerifyKeys\": null}", one, 1);
}
END_TEST

/* The client refuses a configuration with both (mender-update: "Both
 * 'ArtifactVerifyKey' and 'ArtifactVerifyKeys' are set"). */
START_TEST(test_both)
{
	int ret = conf("{\"ArtifactVerifyKey\": \"/a.pem\", "
		       "\"ArtifactVerifyKeys\": [\"/b.pem\"]}");

	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_msg(strstr(err, "ArtifactVerifyKey") &&
		      strstr(err, "ArtifactVerifyKeys"),
		      "reason '%s' does not name both options", err);
	ck_assert_ptr_null(paths);
}
END_TEST

/* "both set is an error, as in the client": the client counts the list
 * as set only when it holds a key (mender-update's configuration parser
 * reads ArtifactVerifyKeys first, then refuses ArtifactVerifyKey only
 * when artifact_verify_keys.size() != 0), so an empty list beside
 * ArtifactVerifyKey is not "both": the one key is used. */
START_TEST(test_key_beside_empty_list)
{
	static const char *const want[] = { "/a.pem" };

	expect_keys("{\"ArtifactVerifyKey\": \"/a.pem\", "
		    "\"ArtifactVerifyKeys\": []}", want, 1);
}
END_TEST

/* The client adds a path of ArtifactVerifyKeys only once (its parser
 * skips one already in the list), so a key named twice is tried once. */
START_TEST(test_list_duplicate)
{
	static const char *const want[] = { "/a.pem", "/b.pem" };

	expect_keys("{\"ArtifactVerifyKeys\": [\"/a.pem\", \"/b.pem\", "
		    "\"/a.pem\"]}", want, 2);
}
END_TEST

START_TEST(test_not_json)
{
	int ret = conf("ArtifactVerifyKey = /etc/mender/key.pem\n");

	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_str_ne(err, "untouched");
	ck_assert_str_ne(err, "");
	ck_assert_ptr_null(paths);
}
END_TEST

START_TEST(test_truncated_json)
{
	int ret = conf("{\"ArtifactVerifyKeys\": [\"/a.pem\"");

	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_ptr_null(paths);
}
END_TEST

START_TEST(test_empty_file)
{
	int ret = conf("");

	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_ptr_null(paths);
}
END_TEST

START_TEST(test_not_an_object)
{
	expect_invalid("[\"/a.pem\"]", "object");
	expect_invalid("\"/a.pem\"", "object");
	expect_invalid("null", "object");
	expect_invalid("42", "object");
}
END_TEST

START_TEST(test_wrong_types)
{
	expect_invalid("{\"ArtifactVerifyKey\": 42}", "ArtifactVerifyKey");
	expect_invalid("{\"ArtifactVerifyKey\": [\"/a.pem\"]}", "ArtifactVerifyKey");
	expect_invalid("{\"ArtifactVerifyKeys\": \"/a.pem\"}", "ArtifactVerifyKeys");
	expect_invalid("{\"ArtifactVerifyKeys\": {\"k\": \"/a.pem\"}}",
		       "ArtifactVerifyKeys");
}
END_TEST

/* A non-string element: the reason says which, and nothing leaks (the
 * keys before it were already copied). */
START_TEST(test_non_string_element)
{
	expect_invalid("{\"ArtifactVerifyKeys\": [\"/a.pem\", 3, \"/b.pem\"]}",
		       "[1]");
	expect_invalid("{\"ArtifactVerifyKeys\": [\"/a.pem\", null]}", "[1]");
	expect_invalid("{\"ArtifactVerifyKeys\": [[\"/a.pem\"]]}", "[0]");
}
END_TEST

START_TEST(test_missing_file)
{
	char *path = tu_path(dir, "no-such.conf");
	int ret = mfs_mender_conf_keys(path, &paths, &count, err, sizeof(err));

	ck_assert_int_eq(ret, -ENOENT);
	ck_assert_msg(strstr(err, strerror(ENOENT)) != NULL,
		      "reason '%s' does not say '%s'", err, strerror(ENOENT));
	ck_assert_ptr_null(paths);
	free(path);
}
END_TEST

START_TEST(test_directory)
{
	int ret = mfs_mender_conf_keys(dir, &paths, &count, err, sizeof(err));

	ck_assert_int_lt(ret, 0);
	ck_assert_str_ne(err, "");
	ck_assert_ptr_null(paths);
}
END_TEST

START_TEST(test_too_large)
{
	size_t len = MFS_MENDER_CONF_MAX + 1;
	char *text = malloc(len + 1);

	ck_assert_ptr_nonnull(text);
	/* Valid JSON, padded with whitespace past the limit. */
	memset(text, ' ', len);
	memcpy(text, "{}", 2);
	text[len] = '\0';
	ck_assert_int_eq(conf(text), -EFBIG);
	ck_assert_ptr_null(paths);
	free(text);
}
END_TEST

START_TEST(test_at_the_limit)
{
	static const char *const want[] = { "/a.pem" };
	static const char body[] = "{\"ArtifactVerifyKey\": \"/a.pem\"}";
	size_t len = MFS_MENDER_CONF_MAX;
	char *text = malloc(len + 1);

	ck_assert_ptr_nonnull(text);
	memset(text, ' ', len);
	memcpy(text, body, strlen(body));
	text[len] = '\0';
	expect_keys(text, want, 1);
	free(text);
}
END_TEST

static Suite *mender_conf_suite(void)
{
	Suite *s = suite_create("mender_conf");
	TCase *tc;

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_one_key);
	tcase_add_test(tc, test_key_list);
	tcase_add_test(tc, test_neither);
	tcase_add_test(tc, test_list_duplicate);
	tcase_add_test(tc, test_empty_object);
	tcase_add_test(tc, test_empty_list);
	tcase_add_test(tc, test_null_values);
	tcase_add_test(tc, test_both);
	tcase_add_test(tc, test_key_beside_empty_list);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_not_json);
	tcase_add_test(tc, test_truncated_json);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_not_an_object);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_non_string_element);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_directory);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_at_the_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mender_conf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
