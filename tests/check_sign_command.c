/*
 * mfs_sign_command_run: the program gets the manifest on stdin and its
 * digest in the environment, only descriptors 0-2, and its output back;
 * failures, signals, time-outs and floods are -EIO with the reason; its
 * standard error is kept, bounded.  And mfs_sign_command_decode.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto/sign_command.h"
#include "testutil.h"

static char *dir;
static struct mfs_sign_command_result res;
static char err[256];

static const char manifest[] =
	"6d3ad0a5e6e8f4b2cbc1b1d9f0e6e2b5c0d0f0e1a2b3c4d5e6f7a8b9c0d1e2f3  data/0000/rootfs.ext4\n";
/* sha256sum of manifest, as hex and base64. */
static char want_hex[65], want_b64[64];

static void setup(void)
{
	uint8_t *b;
	size_t len;

	dir = tu_mkdtemp();
	memset(&res, 0, sizeof(res));
	err[0] = '\0';
	tu_write_file(dir, "manifest", manifest, strlen(manifest));
	tu_sh(dir, "sha256sum <manifest | cut -c1-64 | tr -d '\\n' >hex");
	tu_sh(dir, "sha256sum <manifest | cut -c1-64 | xxd -r -p | base64 -w0 >b64");
	b = tu_read_file(dir, "hex", &len);
	ck_assert_uint_eq(len, 64);
	memcpy(want_hex, b, len);
	want_hex[len] = '\0';
	free(b);
	b = tu_read_file(dir, "b64", &len);
	ck_assert_uint_lt(len, sizeof(want_b64));
	memcpy(want_b64, b, len);
	want_b64[len] = '\0';
	free(b);
}

static void teardown(void)
{
	mfs_sign_command_result_destroy(&res);
	tu_rmtree(dir);
	free(dir);
}

/* dir/name, an executable shell script with body. */
static char *script(const char *name, const char *body)
{
	char *path = tu_path(dir, name), *text = NULL;

	ck_assert_int_ge(asprintf(&text, "#!/bin/sh\n%s\n", body), 0);
	tu_write_file(dir, name, text, strlen(text));
	ck_assert_int_eq(chmod(path, 0755), 0);
	free(text);
	return path;
}

static int run(const char *path, int timeout_ms)
{
	return mfs_sign_command_run(path, manifest, strlen(manifest),
				    timeout_ms, &res, err, sizeof(err));
}

START_TEST(test_stdin_and_environment)
{
	char *p = script("echo.sh", "cat; echo \"$MENDERFS_DIGEST_HEX\"; "
			 "echo \"$MENDERFS_DIGEST_B64\"");
	char *want = NULL;

	ck_assert_int_eq(run(p, 10000), 0);
	ck_assert_int_ge(asprintf(&want, "%s%s\n%s\n", manifest, want_hex,
				  want_b64), 0);
	ck_assert_uint_eq(res.out_len, strlen(want));
	ck_assert(memcmp(res.out, want, res.out_len) == 0);
	free(want);
	free(p);
}
END_TEST

START_TEST(test_only_three_descriptors)
{
	/* ls's own descriptor for the directory is the one beyond 0-2. */
	char *p = script("fds.sh", "ls /proc/self/fd | wc -l");

	ck_assert_int_eq(run(p, 10000), 0);
	ck_assert_uint_eq(res.out_len, 2);
	ck_assert(memcmp(res.out, "4\n", 2) == 0);
	free(p);
}
END_TEST

START_TEST(test_failure_keeps_stderr)
{
	char *p = script("fail.sh", "echo 'no such key' >&2; exit 3");

	ck_assert_int_eq(run(p, 10000), -EIO);
	ck_assert_str_eq(err, "exited with status 3");
	ck_assert_str_eq(res.err_text, "no such key\n");
	free(p);
}
END_TEST

START_TEST(test_signal)
{
	char *p = script("kill.sh", "kill -TERM $$");

	ck_assert_int_eq(run(p, 10000), -EIO);
	ck_assert_str_eq(err, "killed by signal 15");
	free(p);
}
END_TEST

START_TEST(test_no_output)
{
	char *p = script("quiet.sh", "exit 0");

	ck_assert_int_eq(run(p, 10000), -EIO);
	ck_assert_str_eq(err, "printed no signature");
	free(p);
}
END_TEST

START_TEST(test_timeout_kills_the_group)
{
	char *body = NULL, *p;
	struct timespec t0, t1;
	uint8_t *pid;
	size_t len;
	char proc[256];

	ck_assert_int_ge(asprintf(&body, "sleep 600 & echo $! >%s/child; wait",
				  dir), 0);
	p = script("hang.sh", body);
	free(body);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(run(p, 1000), -EIO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_str_eq(err, "timed out after 1 s; killed");
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
	pid = tu_read_file(dir, "child", &len);
	ck_assert_uint_gt(len, 1);
	pid[len - 1] = '\0';
	/* Killed, so at most a zombie until init reaps it. */
	snprintf(proc, sizeof(proc), "grep -q '^State:.*Z' /proc/%s/status "
		 "2>/dev/null || ! test -e /proc/%s", (char *)pid, (char *)pid);
	tu_sh(dir, "i=0; until %s; do i=$((i+1)); test $i -lt 100; "
	      "sleep 0.02; done", proc);
	free(pid);
	free(p);
}
END_TEST

START_TEST(test_output_bounded)
{
	char *p = script("flood.sh", "exec yes");

	ck_assert_int_eq(run(p, 10000), -EIO);
	ck_assert_str_eq(err, "wrote more than 65536 bytes; killed");
	free(p);
}
END_TEST

START_TEST(test_stderr_bounded)
{
	char *p = script("noisy.sh", "head -c 100000 /dev/zero | tr '\\0' x >&2; "
			 "echo sig");

	ck_assert_int_eq(run(p, 10000), 0);
	ck_assert_uint_eq(strlen(res.err_text), MFS_SIGN_COMMAND_ERR_MAX);
	ck_assert(res.err_truncated);
	free(p);
}
END_TEST

START_TEST(test_stops_reading)
{
	/* It signs the digest and never reads stdin: no SIGPIPE for us. */
	char *p = script("noread.sh", "exec 0<&-; echo sig");
	char big[256 * 1024];

	memset(big, 'm', sizeof(big));
	ck_assert_int_eq(mfs_sign_command_run(p, big, sizeof(big), 10000, &res,
					      err, sizeof(err)), 0);
	ck_assert_uint_eq(res.out_len, 4);
	free(p);
}
END_TEST

START_TEST(test_decode)
{
	static const uint8_t wrapped[] = " AAEC\nAwQF\n";
	static const uint8_t raw[] = { 0x30, 0x44, 0xff, 0x00 };
	uint8_t *b64;
	size_t len;

	ck_assert_int_eq(mfs_sign_command_decode(wrapped, sizeof(wrapped) - 1,
						 &b64, &len), 0);
	ck_assert_ptr_nonnull(b64);
	ck_assert_uint_eq(len, 6);
	ck_assert(memcmp(b64, "\0\1\2\3\4\5", 6) == 0);
	free(b64);
	ck_assert_int_eq(mfs_sign_command_decode(raw, sizeof(raw), &b64, &len), 0);
	ck_assert_ptr_null(b64);
}
END_TEST

START_TEST(test_check)
{
	char *p = script("ok.sh", "exit 0"), *q = tu_path(dir, "missing");

	ck_assert_int_eq(mfs_sign_command_check(p, err, sizeof(err)), 0);
	ck_assert_int_eq(mfs_sign_command_check(q, err, sizeof(err)), -ENOENT);
	ck_assert_int_eq(mfs_sign_command_check(dir, err, sizeof(err)), -EINVAL);
	free(q);
	free(p);
}
END_TEST

START_TEST(test_timeout_knob)
{
	setenv(MFS_SIGN_COMMAND_TIMEOUT_ENV, "5", 1);
	ck_assert_int_eq(mfs_sign_command_timeout_ms(), 5000);
	setenv(MFS_SIGN_COMMAND_TIMEOUT_ENV, "nonsense", 1);
	ck_assert_int_eq(mfs_sign_command_timeout_ms(), 60000);
	unsetenv(MFS_SIGN_COMMAND_TIMEOUT_ENV);
	ck_assert_int_eq(mfs_sign_command_timeout_ms(), 60000);
}
END_TEST

static Suite *sign_command_suite(void)
{
	Suite *s = suite_create("sign_command");
	TCase *tc;

	tc = tcase_create("run");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stdin_and_environment);
	tcase_add_test(tc, test_only_three_descriptors);
	tcase_add_test(tc, test_failure_keeps_stderr);
	tcase_add_test(tc, test_signal);
	tcase_add_test(tc, test_no_output);
	tcase_add_test(tc, test_timeout_kills_the_group);
	tcase_add_test(tc, test_output_bounded);
	tcase_add_test(tc, test_stderr_bounded);
	tcase_add_test(tc, test_stops_reading);
	tcase_add_test(tc, test_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("parts");
	tcase_add_test(tc, test_decode);
	tcase_add_test(tc, test_timeout_knob);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sign_command_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
