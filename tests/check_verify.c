/*
 * mfs_verify_artifact and mfs_verification_report on artifacts that
 * mender-artifact writes and signs during the test, some then tampered
 * with: which status each precedence rule gives (structure, signature,
 * checksums, then unsigned / no-keys), and the report's lines in their
 * documented order.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/artifact.h"
#include "artifact/index_file.h"
#include "artifact/verify.h"
#include "crypto/keys.h"
#include "testutil.h"

#define PAYLOAD_SIZE (64 * TU_KIB)
#define FLIP_AT 1000		/* a payload byte changed in flip.mender */
#define MAX_KEYS 4

/* Made once for every test (an unchecked fixture): keys and artifacts. */
static char *dir;

/* Per test. */
static struct mfs_artifact *a;
static struct mfs_verification v;
static bool have_v;
static struct mfs_key *keys[MAX_KEYS];
static size_t nkeys;
static char *text;
static size_t text_len;

static void make_fixtures(void)
{
	uint8_t *payload = malloc(PAYLOAD_SIZE);

	ck_assert_ptr_nonnull(payload);
	dir = tu_mkdtemp();
	tu_fill_random(payload, PAYLOAD_SIZE, 7);
	tu_write_file(dir, "payload.bin", payload, PAYLOAD_SIZE);
	tu_write_file(dir, "zeta.txt", "zeta\n", 5);
	tu_write_file(dir, "alpha.txt", "alpha\n", 6);

	tu_sh(dir, "for k in rsa other; do "
		   "openssl genrsa -traditional -out $k.pem 2048 2>/dev/null; "
		   "openssl pkey -in $k.pem -pubout -out $k.pub.pem; done; "
		   "openssl ecparam -name prime256v1 -genkey -noout -out ec.pem; "
		   "openssl pkey -in ec.pem -pubout -out ec.pub.pem");

#define WRITE "mender-artifact write rootfs-image --no-progress -n a " \
	      "-t test-device -f payload.bin "
	tu_sh(dir, WRITE "--compression gzip -k rsa.pem -o rsa-gzip.mender "
		   ">/dev/null");
	tu_sh(dir, WRITE "--compression gzip -k ec.pem -o ec-gzip.mender "
		   ">/dev/null");
	tu_sh(dir, WRITE "--compression none -k rsa.pem -o rsa-none.mender "
		   ">/dev/null");
	tu_sh(dir, WRITE "--compression gzip -o unsigned.mender >/dev/null");
#undef WRITE
	/* mender-artifact lists module files in the order given. */
	tu_sh(dir, "mender-artifact write module-image -T my-module -n m "
		   "-t test-device -f zeta.txt -f alpha.txt "
		   "-o unsorted.mender >/dev/null");

	/* One payload byte changed inside the uncompressed data/0000.tar
	 * (its only file's data starts after one 512-byte tar header),
	 * manifest and signature kept.  Re-packed in Mender's order. */
	tu_sh(dir, "mkdir flip && cd flip && tar -mxf ../rsa-none.mender && "
		   "printf '\\%03o' | dd of=data/0000.tar bs=1 seek=%d "
		   "conv=notrunc status=none && "
		   "tar --format=ustar -cf ../flip.mender version manifest "
		   "manifest.sig header.tar data/0000.tar",
	      (unsigned)(payload[FLIP_AT] ^ 0xff), 512 + FLIP_AT);

	/* The manifest without the payload file's line. */
	tu_sh(dir, "mkdir unlisted && cd unlisted && tar -mxf ../unsigned.mender && "
		   "grep -v '  data/0000/payload.bin$' manifest >m && mv m manifest && "
		   "tar --format=ustar -cf ../unlisted.mender version manifest "
		   "header.tar.gz data/0000.tar.gz");
	/* The manifest with a line for a file the payload lacks. */
	tu_sh(dir, "mkdir missing && cd missing && tar -mxf ../unsigned.mender && "
		   "{ cat manifest; printf '%%064d  data/0000/ghost.bin\\n' 0; } | "
		   "LC_ALL=C sort -k2 >m && mv m manifest && "
		   "tar --format=ustar -cf ../missing.mender version manifest "
		   "header.tar.gz data/0000.tar.gz");
	/* Bytes after the end of the outer tar. */
	tu_sh(dir, "cp rsa-gzip.mender trailing.mender && "
		   "printf 'trailing' >>trailing.mender");
	/* payload.bin twice in data/0000.tar, a tampered copy first and
	 * the signed one second (tar appends a name as often as it is
	 * given); manifest and signature kept.  And the same with the
	 * second copy named ./payload.bin. */
	tu_sh(dir, "mkdir dup dup/bad dup/good && cd dup && tar -mxf ../rsa-none.mender && "
		   "cp ../payload.bin good/ && cp ../payload.bin bad/ && "
		   "printf x | dd of=bad/payload.bin bs=1 seek=5 conv=notrunc status=none && "
		   "tar --format=ustar -cf data/0000.tar -C bad payload.bin -C ../good payload.bin && "
		   "tar --format=ustar -cf ../dup.mender version manifest "
		   "manifest.sig header.tar data/0000.tar && "
		   "tar --format=ustar -cf data/0000.tar -C good payload.bin ./payload.bin && "
		   "tar --format=ustar -cf ../dup-dot.mender version manifest "
		   "manifest.sig header.tar data/0000.tar");
	free(payload);
}

static void remove_fixtures(void)
{
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static void setup(void)
{
	a = NULL;
	have_v = false;
	nkeys = 0;
	text = NULL;
	text_len = 0;
}

static void teardown(void)
{
	free(text);
	if (have_v)
		mfs_verification_destroy(&v);
	mfs_artifact_close(a);
	for (size_t i = 0; i < nkeys; i++)
		mfs_key_close(keys[i]);
}

/* dir/NAME.pub.pem, malloc'd: the name the report gives the key. */
static char *key_path(const char *name)
{
	char *file, *path;

	ck_assert(asprintf(&file, "%s.pub.pem", name) > 0);
	path = tu_path(dir, file);
	free(file);
	return path;
}

static void add_key(const char *name)
{
	char err[256], *path = key_path(name);

	ck_assert_uint_lt(nkeys, MAX_KEYS);
	ck_assert_msg(mfs_key_load_public(path, &keys[nkeys], err,
					  sizeof(err)) == 0, "%s: %s", path, err);
	nkeys++;
	free(path);
}

/* Opens and verifies dir/artifact with the keys added, and renders the
 * report into text. */
static void run(const char *artifact)
{
	char err[MFS_ERR_LEN], *path = tu_path(dir, artifact);

	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0,
		      "%s: %s", path, err);
	ck_assert_int_eq(mfs_verify_artifact(a, (const struct mfs_key *const *)keys,
					     nkeys, &v), 0);
	have_v = true;
	ck_assert_int_eq(mfs_verification_report(&v, &text, &text_len), 0);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(strlen(text), text_len);
	free(path);
}

/* pattern with "@1" and "@2" replaced by k1 and k2, malloc'd. */
static char *expand(const char *pattern, const char *k1, const char *k2)
{
	size_t cap = strlen(pattern) + 1 + 2 * (strlen(k1) + strlen(k2));
	char *out = malloc(cap), *o = out;

	ck_assert_ptr_nonnull(out);
	for (const char *p = pattern; *p; p++) {
		if (p[0] == '@' && (p[1] == '1' || p[1] == '2')) {
			const char *k = p[1] == '1' ? k1 : k2;

			memcpy(o, k, strlen(k));
			o += strlen(k);
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* The report must be exactly these lines, each ended by "\n"; a
 * pattern ending in '*' matches any line that starts with the rest, and
 * "@1" and "@2" stand for the key paths k1 and k2. */
static void expect_report(const char *const *patterns, size_t n,
			  const char *k1, const char *k2)
{
	const char *p = text;

	for (size_t i = 0; i < n; i++) {
		const char *nl = strchr(p, '\n');
		char *want;
		size_t len, wlen;
		bool prefix;

		ck_assert_msg(nl != NULL, "report ends before line %zu (want "
			      "'%s'):\n%s", i + 1, patterns[i], text);
		want = expand(patterns[i], k1 ? k1 : "", k2 ? k2 : "");
		len = (size_t)(nl - p);
		wlen = strlen(want);
		prefix = wlen > 0 && want[wlen - 1] == '*';
		if (prefix)
			wlen--;
		ck_assert_msg(prefix ? len >= wlen && memcmp(p, want, wlen) == 0 :
			      len == wlen && memcmp(p, want, wlen) == 0,
			      "line %zu is '%.*s', want '%s'; report:\n%s",
			      i + 1, (int)len, p, want, text);
		free(want);
		p = nl + 1;
	}
	ck_assert_msg(*p == '\0', "report has more than %zu lines:\n%s", n,
		      text);
}

#define EXPECT(k1, k2, ...) do {					\
	static const char *const lines_[] = { __VA_ARGS__ };		\
	expect_report(lines_, sizeof(lines_) / sizeof(lines_[0]),	\
		      (k1), (k2));					\
} while (0)

START_TEST(test_verified)
{
	char *rsa = key_path("rsa");

	add_key("rsa");
	run("rsa-gzip.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_VERIFIED);
	ck_assert(v.is_signed);
	ck_assert(v.signature_canonical);
	ck_assert_int_eq(v.key_index, 0);
	ck_assert(v.manifest_sorted);
	ck_assert_str_eq(v.structure, "");
	ck_assert_uint_eq(v.line_count, 3);
	EXPECT(rsa, NULL,
	       "status: verified",
	       "structure: ok",
	       "signature: verified",
	       "signature-encoding: canonical",
	       "key: @1 (RSA 2048): verified",
	       "verified-by: @1",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
	free(rsa);
}
END_TEST

START_TEST(test_second_key_verifies)
{
	char *other = key_path("other"), *ec = key_path("ec");

	add_key("other");
	add_key("ec");
	run("ec-gzip.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_VERIFIED);
	ck_assert_int_eq(v.key_index, 1);
	ck_assert(v.attempts[0].tried);
	ck_assert_int_lt(v.attempts[0].ret, 0);
	ck_assert(v.attempts[1].tried);
	EXPECT(other, ec,
	       "status: verified",
	       "structure: ok",
	       "signature: verified",
	       "signature-encoding: canonical raw",
	       "key: @1 (RSA 2048): rejected: *",
	       "key: @2 (EC P-256): verified",
	       "verified-by: @2",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
	free(other);
	free(ec);
}
END_TEST

START_TEST(test_first_key_wins)
{
	char *rsa = key_path("rsa"), *other = key_path("other");

	add_key("rsa");
	add_key("other");
	run("rsa-gzip.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_VERIFIED);
	ck_assert_int_eq(v.key_index, 0);
	ck_assert(!v.attempts[1].tried);
	EXPECT(rsa, other,
	       "status: verified",
	       "structure: ok",
	       "signature: verified",
	       "signature-encoding: canonical",
	       "key: @1 (RSA 2048): verified",
	       "key: @2 (RSA 2048): not-tried",
	       "verified-by: @1",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
	free(rsa);
	free(other);
}
END_TEST

START_TEST(test_invalid_signature)
{
	char *other = key_path("other"), *ec = key_path("ec");

	add_key("other");
	add_key("ec");
	run("rsa-gzip.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_INVALID_SIGNATURE);
	ck_assert_int_eq(v.key_index, -1);
	ck_assert_str_ne(v.reason, "");
	EXPECT(other, ec,
	       "status: invalid-signature",
	       "reason: *",
	       "structure: ok",
	       "signature: invalid",
	       "signature-encoding: canonical",
	       "key: @1 (RSA 2048): rejected: *",
	       "key: @2 (EC P-256): rejected: *",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
	free(other);
	free(ec);
}
END_TEST

START_TEST(test_no_keys)
{
	run("rsa-gzip.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_NO_KEYS);
	EXPECT(NULL, NULL,
	       "status: no-keys",
	       "reason: *",
	       "structure: ok",
	       "signature: not-checked",
	       "signature-encoding: canonical",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
}
END_TEST

START_TEST(test_unsigned)
{
	run("unsigned.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_UNSIGNED);
	ck_assert(!v.is_signed);
	EXPECT(NULL, NULL,
	       "status: unsigned",
	       "reason: *",
	       "structure: ok",
	       "signature: none",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
}
END_TEST

START_TEST(test_unsigned_with_key)
{
	char *rsa = key_path("rsa");

	add_key("rsa");
	run("unsigned.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_UNSIGNED);
	EXPECT(rsa, NULL,
	       "status: unsigned",
	       "reason: *",
	       "structure: ok",
	       "signature: none",
	       "key: @1 (RSA 2048): not-tried",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
	free(rsa);
}
END_TEST

START_TEST(test_checksum_mismatch)
{
	char *rsa = key_path("rsa");

	add_key("rsa");
	run("flip.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_CHECKSUM_MISMATCH);
	ck_assert_int_eq(v.key_index, 0);
	ck_assert_msg(strstr(v.reason, "data/0000/payload.bin") != NULL,
		      "reason '%s' does not name the file", v.reason);
	EXPECT(rsa, NULL,
	       "status: checksum-mismatch",
	       "reason: *",
	       "structure: ok",
	       "signature: verified",
	       "signature-encoding: canonical",
	       "key: @1 (RSA 2048): verified",
	       "verified-by: @1",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: mismatch",
	       "header.tar: ok",
	       "version: ok");
	free(rsa);
}
END_TEST

/* A signature no key verifies outranks a checksum mismatch. */
START_TEST(test_signature_outranks_checksums)
{
	add_key("other");
	run("flip.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_INVALID_SIGNATURE);
	ck_assert_int_eq(v.lines[0].result, MFS_CHECK_MISMATCH);
}
END_TEST

/* A mismatch outranks having no key to judge the signature. */
START_TEST(test_checksums_outrank_no_keys)
{
	run("flip.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_CHECKSUM_MISMATCH);
	ck_assert_int_eq(v.lines[0].result, MFS_CHECK_MISMATCH);
}
END_TEST

/* Structure outranks everything, even a signature that verifies. */
START_TEST(test_malformed)
{
	char *rsa = key_path("rsa");

	add_key("rsa");
	run("trailing.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_MALFORMED);
	ck_assert_str_ne(v.structure, "");
	EXPECT(rsa, NULL,
	       "status: malformed",
	       "reason: *",
	       "structure: data after the end*",
	       "signature: verified",
	       "signature-encoding: canonical",
	       "key: @1 (RSA 2048): verified",
	       "verified-by: @1",
	       "manifest-order: sorted",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
	free(rsa);
}
END_TEST

START_TEST(test_malformed_outranks_signature)
{
	add_key("other");
	run("trailing.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_MALFORMED);
}
END_TEST

/* A name twice: malformed, whichever copy the checksum matches, and
 * neither copy found any more; the index saved from such an artifact
 * gives the same verdict when the next open loads it. */
static void check_duplicate(const char *artifact, const char *structure)
{
	char err[MFS_ERR_LEN], *idx = tu_path(dir, "dup-index");
	char *path = tu_path(dir, artifact);
	struct mfs_entry e;

	add_key("rsa");
	tu_sh(dir, "rm -rf dup-index && mkdir dup-index");
	run(artifact);
	ck_assert_int_eq(v.status, MFS_STATUS_MALFORMED);
	ck_assert_str_eq(v.structure, structure);
	ck_assert_int_eq(mfs_payload_find(&a->payloads[0], "payload.bin", &e),
			 -EIO);
	ck_assert_int_eq(mfs_index_file_save(a, idx), 0);
	mfs_verification_destroy(&v);
	have_v = false;
	mfs_artifact_close(a);

	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(mfs_index_file_load(a, idx, err, sizeof(err)), 1);
	ck_assert_int_eq(mfs_verify_artifact(a, (const struct mfs_key *const *)keys,
					     nkeys, &v), 0);
	have_v = true;
	ck_assert_int_eq(v.status, MFS_STATUS_MALFORMED);
	ck_assert_str_eq(v.structure, structure);
	ck_assert_int_eq(mfs_payload_find(&a->payloads[0], "payload.bin", &e),
			 -EIO);
	free(path);
	free(idx);
}

START_TEST(test_duplicate_tampered_first)
{
	check_duplicate("dup.mender", "data/0000/payload.bin appears twice");
}
END_TEST

START_TEST(test_duplicate_dot_slash)
{
	check_duplicate("dup-dot.mender", "data/0000/payload.bin appears twice");
}
END_TEST

/* The file shrinks under the open artifact, in the zeros after the tar's
 * end: what could not be read is not judged to be zeros. */
START_TEST(test_trailer_unreadable)
{
	char err[MFS_ERR_LEN], *path = tu_path(dir, "shrink.mender");

	add_key("rsa");
	tu_sh(dir, "cp rsa-gzip.mender shrink.mender && "
		   "head -c 10240 /dev/zero >>shrink.mender");
	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0, "%s", err);
	tu_sh(dir, "truncate -s -10240 shrink.mender");
	ck_assert_int_eq(mfs_verify_artifact(a, (const struct mfs_key *const *)keys,
					     nkeys, &v), 0);
	have_v = true;
	ck_assert_int_eq(v.status, MFS_STATUS_MALFORMED);
	ck_assert_msg(strncmp(v.structure, "cannot read past the end of the tar",
			      35) == 0, "%s", v.structure);
	free(path);
}
END_TEST

/* Entries in manifest order, whatever that order is. */
START_TEST(test_unsorted)
{
	run("unsorted.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_UNSIGNED);
	ck_assert(!v.manifest_sorted);
	EXPECT(NULL, NULL,
	       "status: unsigned",
	       "reason: *",
	       "structure: ok",
	       "signature: none",
	       "manifest-order: unsorted",
	       "data/0000/zeta.txt: ok",
	       "data/0000/alpha.txt: ok",
	       "header.tar.gz: ok",
	       "version: ok");
}
END_TEST

/* A payload file the manifest does not list comes after the manifest's
 * entries. */
START_TEST(test_unlisted)
{
	run("unlisted.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_CHECKSUM_MISMATCH);
	EXPECT(NULL, NULL,
	       "status: checksum-mismatch",
	       "reason: *",
	       "structure: ok",
	       "signature: none",
	       "manifest-order: sorted",
	       "header.tar.gz: ok",
	       "version: ok",
	       "data/0000/payload.bin: unlisted");
}
END_TEST

START_TEST(test_missing)
{
	run("missing.mender");
	ck_assert_int_eq(v.status, MFS_STATUS_CHECKSUM_MISMATCH);
	ck_assert_msg(strstr(v.reason, "data/0000/ghost.bin") != NULL,
		      "reason '%s' does not name the file", v.reason);
	EXPECT(NULL, NULL,
	       "status: checksum-mismatch",
	       "reason: *",
	       "structure: ok",
	       "signature: none",
	       "manifest-order: sorted",
	       "data/0000/ghost.bin: missing",
	       "data/0000/payload.bin: ok",
	       "header.tar.gz: ok",
	       "version: ok");
}
END_TEST

/* Rendering is a pure function of the verification. */
START_TEST(test_report_twice)
{
	char *again = NULL;
	size_t len = 0;

	add_key("rsa");
	run("flip.mender");
	ck_assert_int_eq(mfs_verification_report(&v, &again, &len), 0);
	ck_assert_uint_eq(len, text_len);
	ck_assert_mem_eq(again, text, len);
	free(again);
}
END_TEST

START_TEST(test_words)
{
	ck_assert_str_eq(mfs_status_word(MFS_STATUS_VERIFIED), "verified");
	ck_assert_str_eq(mfs_status_word(MFS_STATUS_UNSIGNED), "unsigned");
	ck_assert_str_eq(mfs_status_word(MFS_STATUS_INVALID_SIGNATURE),
			 "invalid-signature");
	ck_assert_str_eq(mfs_status_word(MFS_STATUS_CHECKSUM_MISMATCH),
			 "checksum-mismatch");
	ck_assert_str_eq(mfs_status_word(MFS_STATUS_MALFORMED), "malformed");
	ck_assert_str_eq(mfs_status_word(MFS_STATUS_NO_KEYS), "no-keys");
	ck_assert_str_eq(mfs_check_word(MFS_CHECK_OK), "ok");
	ck_assert_str_eq(mfs_check_word(MFS_CHECK_MISMATCH), "mismatch");
	ck_assert_str_eq(mfs_check_word(MFS_CHECK_MISSING), "missing");
	ck_assert_str_eq(mfs_check_word(MFS_CHECK_UNLISTED), "unlisted");
	ck_assert_str_eq(mfs_check_word(MFS_CHECK_UNREADABLE), "unreadable");
}
END_TEST

static Suite *verify_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc;

	tc = tcase_create("artifacts");
	tcase_add_unchecked_fixture(tc, make_fixtures, remove_fixtures);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_verified);
	tcase_add_test(tc, test_second_key_verifies);
	tcase_add_test(tc, test_first_key_wins);
	tcase_add_test(tc, test_invalid_signature);
	tcase_add_test(tc, test_no_keys);
	tcase_add_test(tc, test_unsigned);
	tcase_add_test(tc, test_unsigned_with_key);
	tcase_add_test(tc, test_checksum_mismatch);
	tcase_add_test(tc, test_signature_outranks_checksums);
	tcase_add_test(tc, test_checksums_outrank_no_keys);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_malformed_outranks_signature);
	tcase_add_test(tc, test_duplicate_tampered_first);
	tcase_add_test(tc, test_duplicate_dot_slash);
	tcase_add_test(tc, test_trailer_unreadable);
	tcase_add_test(tc, test_unsorted);
	tcase_add_test(tc, test_unlisted);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_report_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("words");
	tcase_add_test(tc, test_words);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(verify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
