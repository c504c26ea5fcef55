/*
 * The crypto module against the real tools: keys made by openssl,
 * signatures made by `openssl dgst` and by mender-artifact, a SoftHSM2
 * token, and our signatures checked back by openssl alone.  The
 * fixtures come from tests/crypto/make_fixtures.sh; their directory is
 * argv[1] (or $MFS_CRYPTO_FIXTURES).
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "crypto/base64.h"
#include "crypto/keys.h"
#include "crypto/sign.h"
#include "crypto/verify.h"

#ifndef CRYPTO_TEST_DIR
#error "CRYPTO_TEST_DIR must name tests/crypto"
#endif

#define ERRLEN 512

static const char *fixdir;

static char *fx(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", fixdir, name);
	return buf;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *data = NULL;
	long size;
	FILE *f;

	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	data = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t)size, f), (size_t)size);
	data[size] = '\0';
	fclose(f);
	*len = (size_t)size;
	return data;
}

static uint8_t *fx_slurp(const char *name, size_t *len)
{
	char p[PATH_MAX];

	return slurp(fx(p, name), len);
}

static struct mfs_key *load_pub(const char *name)
{
	char p[PATH_MAX], err[ERRLEN] = "";
	struct mfs_key *k = NULL;
	int ret;

	ret = mfs_key_load_public(fx(p, name), &k, err, sizeof(err));
	ck_assert_msg(ret == 0, "%s: %s", name, err);
	ck_assert_ptr_nonnull(k);
	return k;
}

static struct mfs_key *load_priv(const char *name)
{
	char p[PATH_MAX], err[ERRLEN] = "";
	struct mfs_key *k = NULL;
	int ret;

	ret = mfs_key_load_private(fx(p, name), &k, err, sizeof(err));
	ck_assert_msg(ret == 0, "%s: %s", name, err);
	ck_assert_ptr_nonnull(k);
	return k;
}

/* Runs a shell command; returns its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	ck_assert_int_ne(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Checks a base64 signature of msg.bin with openssl alone. */
static void openssl_verifies(const char *pubname, const char *b64)
{
	char p[PATH_MAX], m[PATH_MAX], tmpl[] = "/tmp/check_crypto.XXXXXX";
	FILE *f;
	int fd;

	fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(b64, f);
	fclose(f);
	ck_assert_msg(run("bash '%s/openssl_verify.sh' '%s' '%s' '%s'",
			  CRYPTO_TEST_DIR, fx(p, pubname), fx(m, "msg.bin"),
			  tmpl) == 0,
		      "openssl rejects our signature with %s", pubname);
	unlink(tmpl);
}

/* openssl's DER ECDSA signature as r||s, done with OpenSSL directly
 * rather than with the code under test. */
static void der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64])
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;

	sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	ck_assert_ptr_nonnull(sig);
	ECDSA_SIG_get0(sig, &r, &s);
	ck_assert_int_eq(BN_bn2binpad(r, raw, 32), 32);
	ck_assert_int_eq(BN_bn2binpad(s, raw + 32, 32), 32);
	ECDSA_SIG_free(sig);
}

static void assert_reason_clean(const char *err)
{
	ck_assert_msg(err[0] != '\0', "no reason given");
	ck_assert_msg(!strchr(err, '\n'), "reason is not one line: %s", err);
	ck_assert_msg(!strstr(err, fixdir), "reason names the file: %s", err);
}

/* ---- base64 ---- */

static void decode_ok(const char *text, size_t len, const char *want,
		      size_t wantlen, bool want_canonical)
{
	char err[ERRLEN] = "";
	uint8_t *out = NULL;
	size_t outlen = 99;
	bool canonical = !want_canonical;
	int ret;

	ret = mfs_b64_decode(text, len, &out, &outlen, &canonical,
			     err, sizeof(err));
	ck_assert_msg(ret == 0, "\"%s\": %d %s", text, ret, err);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(outlen, wantlen);
	ck_assert_mem_eq(out, want, wantlen);
	ck_assert_msg(canonical == want_canonical, "\"%s\": canonical %d",
		      text, canonical);
	free(out);
}

static void decode_bad(const char *text, size_t len)
{
	char err[ERRLEN] = "";
	uint8_t *out = NULL;
	size_t outlen = 99;
	int ret;

	ret = mfs_b64_decode(text, len, &out, &outlen, NULL, err, sizeof(err));
	ck_assert_msg(ret == -EINVAL, "\"%.*s\" gave %d", (int)len, text, ret);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(outlen, 99);
	assert_reason_clean(err);
}

START_TEST(test_b64_round_trip)
{
	uint8_t data[300], *back = NULL;
	char *text = NULL, err[ERRLEN];
	size_t n, backlen;
	bool canonical;

	ck_assert_int_eq(RAND_bytes(data, sizeof(data)), 1);
	for (n = 0; n <= sizeof(data); n++) {
		ck_assert_int_eq(mfs_b64_encode(data, n, &text), 0);
		ck_assert_uint_eq(strlen(text), (n + 2) / 3 * 4);
		ck_assert_ptr_null(strchr(text, '\n'));
		canonical = false;
		ck_assert_int_eq(mfs_b64_decode(text, strlen(text), &back,
						&backlen, &canonical,
						err, sizeof(err)), 0);
		ck_assert_uint_eq(backlen, n);
		ck_assert_mem_eq(back, data, n);
		ck_assert(canonical);
		free(back);
		free(text);
	}
}
END_TEST

START_TEST(test_b64_padding)
{
	char *text = NULL;

	decode_ok("QQ==", 4, "A", 1, true);
	decode_ok("QUI=", 4, "AB", 2, true);
	decode_ok("QUJD", 4, "ABC", 3, true);
	decode_ok("QUJDRA==", 8, "ABCD", 4, true);
	decode_ok("AAAA", 4, "\0\0\0", 3, true);
	decode_ok("//79", 4, "\xff\xfe\xfd", 3, true);
	/* Bits under the padding that are not zero: accepted, as Go
	 * does, but not what an encoder writes. */
	decode_ok("QR==", 4, "A", 1, false);
	decode_ok("QUJ=", 4, "AB", 2, false);
	decode_bad("QQ", 2);
	decode_bad("QQ=", 3);
	decode_bad("Q===", 4);
	decode_bad("====", 4);
	decode_bad("=QQ=", 4);
	decode_bad("QQ==QUJD", 8);
	decode_bad("QUJDQ", 5);
	decode_bad("QQ==\n=", 6);

	ck_assert_int_eq(mfs_b64_encode("ABCD", 4, &text), 0);
	ck_assert_str_eq(text, "QUJDRA==");
	free(text);
	ck_assert_int_eq(mfs_b64_encode("ABCDE", 5, &text), 0);
	ck_assert_str_eq(text, "QUJDREU=");
	free(text);
}
END_TEST

START_TEST(test_b64_non_canonical)
{
	decode_ok("QUJD\n", 5, "ABC", 3, false);
	decode_ok("QUJD\r\n", 6, "ABC", 3, false);
	decode_ok("QU\nJD", 5, "ABC", 3, false);
	decode_ok("QUJD\nQUJD\n", 10, "ABCABC", 6, false);
	decode_ok("QUJD\r\nQQ==\r\n", 12, "ABCA", 4, false);
	decode_ok("Q\nQ\n=\n=", 7, "A", 1, false);
	decode_ok("\n", 1, "", 0, false);
}
END_TEST

START_TEST(test_b64_invalid)
{
	char big[MFS_B64_MAX_TEXT + 8];

	decode_bad(" QUJD", 5);
	decode_bad("QUJD ", 5);
	decode_bad("QU JD", 5);
	decode_bad("QU\tJD", 5);
	decode_bad("\tQUJD", 5);
	decode_bad("QUJD\r", 5);	/* a lone CR is not a line break */
	decode_bad("QU\rJD", 5);
	decode_bad("QUJ-", 4);	/* URL-safe alphabet */
	decode_bad("QUJ_", 4);
	decode_bad("QUJD-", 5);	/* OpenSSL trims a trailing '-' */
	decode_bad("QUJD----", 8);
	decode_bad("QU\0JD", 5);
	decode_bad("QUJ\xc3\xa9", 5);
	decode_bad("QUJ.", 4);
	decode_bad("-----BEGIN", 10);

	memset(big, 'A', sizeof(big));
	decode_bad(big, sizeof(big));
}
END_TEST

START_TEST(test_b64_empty)
{
	char *text = NULL;

	ck_assert_int_eq(mfs_b64_encode("", 0, &text), 0);
	ck_assert_str_eq(text, "");
	free(text);
	decode_ok("", 0, "", 0, true);
}
END_TEST

/* ---- keys ---- */

START_TEST(test_key_public_ok)
{
	static const struct {
		const char *name;
		enum mfs_key_type type;
		int bits;
		const char *desc;
	} cases[] = {
		{ "rsa2048.pub.pem", MFS_KEY_RSA, 2048, "RSA 2048" },
		{ "rsa2048.rsapub.pem", MFS_KEY_RSA, 2048, "RSA 2048" },
		{ "rsa3072.pub.pem", MFS_KEY_RSA, 3072, "RSA 3072" },
		{ "ec256.pub.pem", MFS_KEY_EC_P256, 256, "EC P-256" },
	};
	struct mfs_key *k;
	char p[PATH_MAX], d[32];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = load_pub(cases[i].name);
		ck_assert_int_eq(mfs_key_type(k), cases[i].type);
		ck_assert_int_eq(mfs_key_bits(k), cases[i].bits);
		ck_assert_str_eq(mfs_key_describe(k, d, sizeof(d)),
				 cases[i].desc);
		ck_assert(!mfs_key_is_private(k));
		ck_assert_ptr_null(mfs_key_warning(k));
		ck_assert_str_eq(mfs_key_name(k), fx(p, cases[i].name));
		mfs_key_close(k);
	}
	mfs_key_close(NULL);
}
END_TEST

static void refused(int (*load)(const char *, struct mfs_key **, char *,
				size_t),
		    const char *name, int want, const char *reason)
{
	char p[PATH_MAX], err[ERRLEN] = "";
	struct mfs_key *k = NULL;
	int ret;

	ret = load(fx(p, name), &k, err, sizeof(err));
	ck_assert_msg(ret == want, "%s: got %d (%s), want %d", name, ret,
		      err, want);
	ck_assert_ptr_null(k);
	assert_reason_clean(err);
	ck_assert_msg(strstr(err, reason), "%s: reason \"%s\" lacks \"%s\"",
		      name, err, reason);
}

/* Mender's tools verify with RSA 1024 (mender-artifact's reader tests
 * sign with such a key): a device may hold one, so we load it, marked
 * weak, and verify with it. */
START_TEST(test_key_public_weak)
{
	char d[32], err[ERRLEN] = "";
	uint8_t *msg, *sig;
	size_t len, siglen;
	struct mfs_key *k;

	k = load_pub("rsa1024.pub.pem");
	ck_assert_int_eq(mfs_key_type(k), MFS_KEY_RSA);
	ck_assert_int_eq(mfs_key_bits(k), 1024);
	ck_assert(mfs_key_is_weak(k));
	ck_assert_str_eq(mfs_key_describe(k, d, sizeof(d)), "RSA 1024, weak");
	ck_assert_ptr_nonnull(mfs_key_warning(k));
	ck_assert_msg(strstr(mfs_key_warning(k), "weak"), "%s", mfs_key_warning(k));
	msg = fx_slurp("msg.bin", &len);
	sig = fx_slurp("msg.rsa1024.sig", &siglen);
	ck_assert_int_eq(siglen, 128);
	ck_assert_int_eq(mfs_sig_verify(k, msg, len, sig, siglen, err, sizeof(err)), 0);
	sig[7] ^= 0x10;
	ck_assert_int_eq(mfs_sig_verify(k, msg, len, sig, siglen, err, sizeof(err)), -EBADMSG);
	mfs_key_close(k);
	free(sig);
	free(msg);

	k = load_pub("rsa2048.pub.pem");
	ck_assert(!mfs_key_is_weak(k));
	mfs_key_close(k);
}
END_TEST

/* sign_key's public half as a verify key: public only, same name, same
 * verdicts. */
START_TEST(test_key_public_of)
{
	struct mfs_key *priv, *pub = NULL;
	char d[32], err[ERRLEN] = "";
	uint8_t *msg, *sig;
	size_t len, siglen;

	priv = load_priv("rsa2048.pkcs1.pem");
	ck_assert_int_eq(mfs_key_public_of(priv, &pub), 0);
	ck_assert(!mfs_key_is_private(pub));
	ck_assert_str_eq(mfs_key_name(pub), mfs_key_name(priv));
	ck_assert_str_eq(mfs_key_describe(pub, d, sizeof(d)), "RSA 2048");
	mfs_key_close(priv);	/* pub keeps its own reference */
	msg = fx_slurp("msg.bin", &len);
	sig = fx_slurp("msg.rsa2048.sig", &siglen);
	ck_assert_int_eq(mfs_sig_verify(pub, msg, len, sig, siglen, err, sizeof(err)), 0);
	mfs_key_close(pub);
	free(sig);
	free(msg);
}
END_TEST

START_TEST(test_key_public_refused)
{
	refused(mfs_key_load_public, "rsa512.pub.pem", -ENOTSUP,
		"RSA key of 512 bits is too small (1024 minimum)");
	refused(mfs_key_load_public, "ec384.pub.pem", -ENOTSUP,
		"EC curve secp384r1 is not supported (P-256 only)");
	refused(mfs_key_load_public, "ed25519.pub.pem", -ENOTSUP,
		"ED25519 keys are not supported");
	refused(mfs_key_load_public, "rsa2048.pkcs1.pem", -EINVAL,
		"this is a private key; give the public key");
	refused(mfs_key_load_public, "ec256.pkcs8.pem", -EINVAL,
		"this is a private key; give the public key");
	refused(mfs_key_load_public, "cert.pem", -EINVAL, "certificate");
	refused(mfs_key_load_public, "garbage.pem", -EINVAL,
		"not a PEM public key");
	refused(mfs_key_load_public, "empty.pem", -EINVAL,
		"not a PEM public key");
	refused(mfs_key_load_public, "msg.rsa2048.sig", -EINVAL,
		"not a PEM public key");
	refused(mfs_key_load_public, "no-such-key.pem", -ENOENT,
		"No such file or directory");
	refused(mfs_key_load_public, "softhsm", -EISDIR, "Is a directory");
}
END_TEST

START_TEST(test_key_private_ok)
{
	static const struct {
		const char *name;
		enum mfs_key_type type;
		int bits;
	} cases[] = {
		{ "rsa2048.pkcs1.pem", MFS_KEY_RSA, 2048 },
		{ "rsa2048.pkcs8.pem", MFS_KEY_RSA, 2048 },
		{ "rsa3072.pkcs1.pem", MFS_KEY_RSA, 3072 },
		{ "rsa3072.pkcs8.pem", MFS_KEY_RSA, 3072 },
		{ "ec256.sec1.pem", MFS_KEY_EC_P256, 256 },
		{ "ec256.pkcs8.pem", MFS_KEY_EC_P256, 256 },
		{ "ec256p.params.pem", MFS_KEY_EC_P256, 256 },
	};
	struct mfs_key *k;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = load_priv(cases[i].name);
		ck_assert_int_eq(mfs_key_type(k), cases[i].type);
		ck_assert_int_eq(mfs_key_bits(k), cases[i].bits);
		ck_assert(mfs_key_is_private(k));
		ck_assert_ptr_null(mfs_key_warning(k));
		mfs_key_close(k);
	}
}
END_TEST

START_TEST(test_key_private_refused)
{
	/* What we sign with must be strong, though we verify with less. */
	refused(mfs_key_load_private, "rsa1024.pem", -ENOTSUP,
		"RSA key of 1024 bits is too small (2048 minimum for signing)");
	refused(mfs_key_load_private, "rsa512.pem", -ENOTSUP,
		"RSA key of 512 bits is too small (2048 minimum for signing)");
	refused(mfs_key_load_private, "ec384.pem", -ENOTSUP,
		"EC curve secp384r1 is not supported (P-256 only)");
	refused(mfs_key_load_private, "ed25519.pem", -ENOTSUP,
		"ED25519 keys are not supported");
	refused(mfs_key_load_private, "rsa2048.pub.pem", -EINVAL,
		"this is a public key; give the private key");
	refused(mfs_key_load_private, "rsa2048.rsapub.pem", -EINVAL,
		"this is a public key; give the private key");
	refused(mfs_key_load_private, "encrypted.pem", -EINVAL,
		"encrypted private keys are not supported");
	refused(mfs_key_load_private, "cert.pem", -EINVAL, "certificate");
	refused(mfs_key_load_private, "garbage.pem", -EINVAL,
		"not a PEM private key");
	refused(mfs_key_load_private, "no-such-key.pem", -ENOENT,
		"No such file or directory");
}
END_TEST

START_TEST(test_key_private_loose_mode)
{
	struct mfs_key *k;

	k = load_priv("rsa2048.loose.pem");
	ck_assert_ptr_nonnull(mfs_key_warning(k));
	ck_assert_msg(strstr(mfs_key_warning(k), "group or others"),
		      "%s", mfs_key_warning(k));
	ck_assert(strstr(mfs_key_warning(k), "0644"));
	mfs_key_close(k);
}
END_TEST

/* ---- verify ---- */

static int verify_file_sig(const char *pubname, const void *msg, size_t len,
			   const void *sig, size_t siglen)
{
	char err[ERRLEN] = "";
	struct mfs_key *k;
	int ret;

	k = load_pub(pubname);
	ret = mfs_sig_verify(k, msg, len, sig, siglen, err, sizeof(err));
	if (ret < 0)
		assert_reason_clean(err);
	mfs_key_close(k);
	return ret;
}

/* OpenSSL's DER signature of msg with the PEM private key at path. */
static size_t ossl_sign_der(const char *path, const void *msg, size_t len,
			    unsigned char *sig, size_t cap)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY *pkey;
	FILE *f;

	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(pkey);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &cap, msg, len), 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return cap;
}

/* ECDSA in both forms the client takes: DER of every length OpenSSL
 * gives (an HSM's or KMS's form) and r||s; the form is named, and where
 * mender-artifact 3.9 (r||s only) would refuse it is said. */
START_TEST(test_verify_ec_der_lengths)
{
	unsigned char sig[80], seen[80][80], raw[64];
	size_t seen_len[80] = { 0 }, len, n, i;
	const struct mfs_key *keys[2];
	struct mfs_sig_attempt att[2];
	char p[PATH_MAX], err[ERRLEN] = "", why[256];
	struct mfs_key *k, *other;
	uint8_t *msg;

	msg = fx_slurp("msg.bin", &len);
	k = load_pub("ec256.pub.pem");
	other = load_pub("ec256b.pub.pem");
	/* 71 bytes half the time, 70 and 72 a quarter each, 69 and less
	 * about one in 500: sign until each common length is seen. */
	for (i = 0; i < 4000; i++) {
		n = ossl_sign_der(fx(p, "ec256.sec1.pem"), msg, len, sig, sizeof(sig));
		ck_assert_uint_le(n, 72);
		if (!seen_len[n]) {
			memcpy(seen[n], sig, n);
			seen_len[n] = n;
		}
		if (seen_len[70] && seen_len[71] && seen_len[72] && seen_len[69])
			break;
	}
	ck_assert_msg(seen_len[70] && seen_len[71] && seen_len[72],
		      "no DER signature of 70, 71 or 72 bytes in %zu", i);
	for (n = 8; n <= 72; n++) {
		if (!seen_len[n])
			continue;
		ck_assert_msg(mfs_sig_verify(k, msg, len, seen[n], n, err, sizeof(err)) == 0,
			      "DER of %zu bytes: %s", n, err);
		ck_assert_int_eq(mfs_sig_form_of(seen[n], n), MFS_SIG_FORM_EC_DER);
		ck_assert_str_eq(mfs_sig_form_word(MFS_SIG_FORM_EC_DER), "der");
		ck_assert_ptr_nonnull(mfs_sig_mender_artifact_differs(
			MFS_SIG_FORM_EC_DER, n, why, sizeof(why)));
		ck_assert_msg(strstr(why, "refuses an ECDSA signature in DER"), "%s", why);
		/* The attempt says which form verified. */
		keys[0] = other;
		keys[1] = k;
		ck_assert_int_eq(mfs_sig_verify_any(keys, 2, msg, len, seen[n], n,
						    att, err, sizeof(err)), 1);
		ck_assert_int_eq(att[1].form, MFS_SIG_FORM_EC_DER);
		ck_assert_int_eq(mfs_sig_verify(other, msg, len, seen[n], n, err,
						sizeof(err)), -EBADMSG);
	}

	/* The same signature as r||s: raw, which mender-artifact reads. */
	der_to_raw(seen[71], 71, raw);
	ck_assert_int_eq(mfs_sig_verify(k, msg, len, raw, 64, err, sizeof(err)), 0);
	ck_assert_int_eq(mfs_sig_form_of(raw, 64), MFS_SIG_FORM_EC_RAW);
	ck_assert_str_eq(mfs_sig_form_word(MFS_SIG_FORM_EC_RAW), "raw");
	ck_assert_ptr_null(mfs_sig_mender_artifact_differs(MFS_SIG_FORM_EC_RAW, 64,
							   why, sizeof(why)));
	keys[0] = k;
	ck_assert_int_eq(mfs_sig_verify_any(keys, 1, msg, len, raw, 64, att, err,
					    sizeof(err)), 0);
	ck_assert_int_eq(att[0].form, MFS_SIG_FORM_EC_RAW);

	/* Not DER as OpenSSL writes it: a trailing byte, or the SEQUENCE
	 * length in long form.  The client's OpenSSL refuses both. */
	memcpy(sig, seen[71], 71);
	sig[71] = 0;
	ck_assert_int_eq(mfs_sig_form_of(sig, 72), MFS_SIG_FORM_OTHER);
	ck_assert_int_eq(mfs_sig_verify(k, msg, len, sig, 72, err, sizeof(err)), -EBADMSG);
	sig[0] = 0x30;
	sig[1] = 0x81;
	sig[2] = seen[71][1];
	memcpy(sig + 3, seen[71] + 2, 69);
	ck_assert_int_eq(mfs_sig_form_of(sig, 72), MFS_SIG_FORM_OTHER);
	ck_assert_int_eq(mfs_sig_verify(k, msg, len, sig, 72, err, sizeof(err)), -EBADMSG);

	/* RSA has no ECDSA form. */
	free(msg);
	msg = fx_slurp("msg.rsa2048.sig", &len);
	ck_assert_int_eq(mfs_sig_form_of(msg, len), MFS_SIG_FORM_OTHER);
	ck_assert_ptr_null(mfs_sig_form_word(MFS_SIG_FORM_OTHER));
	ck_assert_ptr_null(mfs_sig_mender_artifact_differs(MFS_SIG_FORM_OTHER, len,
							   why, sizeof(why)));
	free(msg);
	mfs_key_close(other);
	mfs_key_close(k);
}
END_TEST

START_TEST(test_verify_rsa_openssl)
{
	uint8_t *msg, *s2048, *s3072;
	size_t len, l2048, l3072;

	msg = fx_slurp("msg.bin", &len);
	s2048 = fx_slurp("msg.rsa2048.sig", &l2048);
	s3072 = fx_slurp("msg.rsa3072.sig", &l3072);
	ck_assert_int_eq(verify_file_sig("rsa2048.pub.pem", msg, len, s2048, l2048), 0);
	ck_assert_int_eq(verify_file_sig("rsa2048.rsapub.pem", msg, len, s2048, l2048), 0);
	ck_assert_int_eq(verify_file_sig("rsa3072.pub.pem", msg, len, s3072, l3072), 0);
	/* Wrong key, wrong size. */
	ck_assert_int_eq(verify_file_sig("rsa2048b.pub.pem", msg, len, s2048, l2048), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("rsa3072.pub.pem", msg, len, s2048, l2048), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, s2048, l2048), -EBADMSG);
	/* Tampered message, tampered or short signature. */
	msg[len / 2] ^= 0x01;
	ck_assert_int_eq(verify_file_sig("rsa2048.pub.pem", msg, len, s2048, l2048), -EBADMSG);
	msg[len / 2] ^= 0x01;
	ck_assert_int_eq(verify_file_sig("rsa2048.pub.pem", msg, len - 1, s2048, l2048), -EBADMSG);
	s2048[10] ^= 0x80;
	ck_assert_int_eq(verify_file_sig("rsa2048.pub.pem", msg, len, s2048, l2048), -EBADMSG);
	s2048[10] ^= 0x80;
	ck_assert_int_eq(verify_file_sig("rsa2048.pub.pem", msg, len, s2048, l2048 - 1), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("rsa2048.pub.pem", msg, len, s2048, 0), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("rsa2048.pub.pem", msg, len, s2048, l2048), 0);
	free(s3072);
	free(s2048);
	free(msg);
}
END_TEST

START_TEST(test_verify_ec_openssl)
{
	uint8_t *msg, *der, raw[64];
	size_t len, derlen;

	msg = fx_slurp("msg.bin", &len);
	der = fx_slurp("msg.ec256.der", &derlen);
	der_to_raw(der, derlen, raw);
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, der, derlen), 0);
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, raw, 64), 0);
	ck_assert_int_eq(verify_file_sig("ec256b.pub.pem", msg, len, der, derlen), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("ec256b.pub.pem", msg, len, raw, 64), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("rsa2048.pub.pem", msg, len, raw, 64), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, raw, 63), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, der, derlen - 1), -EBADMSG);
	msg[0] ^= 0x20;
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, der, derlen), -EBADMSG);
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, raw, 64), -EBADMSG);
	msg[0] ^= 0x20;
	raw[40] ^= 0x04;
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, raw, 64), -EBADMSG);
	/* r||s of zeros must not pass. */
	memset(raw, 0, sizeof(raw));
	ck_assert_int_eq(verify_file_sig("ec256.pub.pem", msg, len, raw, 64), -EBADMSG);
	free(der);
	free(msg);
}
END_TEST

START_TEST(test_verify_with_private_key)
{
	char err[ERRLEN] = "";
	uint8_t *msg, *sig;
	size_t len, siglen;
	struct mfs_key *k;

	msg = fx_slurp("msg.bin", &len);
	sig = fx_slurp("msg.rsa2048.sig", &siglen);
	k = load_priv("rsa2048.pkcs8.pem");
	ck_assert_int_eq(mfs_sig_verify(k, msg, len, sig, siglen, err,
					sizeof(err)), 0);
	mfs_key_close(k);
	free(sig);
	free(msg);
}
END_TEST

START_TEST(test_verify_any_order)
{
	struct mfs_sig_attempt att[3];
	const struct mfs_key *keys[3];
	struct mfs_key *a, *b, *c;
	char err[ERRLEN] = "";
	uint8_t *msg, *sig;
	size_t len, siglen;

	msg = fx_slurp("msg.bin", &len);
	sig = fx_slurp("msg.rsa2048.sig", &siglen);
	a = load_pub("rsa2048b.pub.pem");
	b = load_pub("rsa2048.pub.pem");
	c = load_pub("ec256.pub.pem");

	keys[0] = a; keys[1] = b; keys[2] = c;
	ck_assert_int_eq(mfs_sig_verify_any(keys, 3, msg, len, sig, siglen,
					    att, err, sizeof(err)), 1);
	ck_assert(att[0].tried);
	ck_assert_int_eq(att[0].ret, -EBADMSG);
	ck_assert_str_eq(att[0].reason, "signature does not match");
	ck_assert(att[1].tried);
	ck_assert_int_eq(att[1].ret, 0);
	ck_assert_str_eq(att[1].reason, "");
	ck_assert(!att[2].tried);

	/* The first that verifies wins, even when a later one would. */
	keys[0] = b; keys[1] = b;
	ck_assert_int_eq(mfs_sig_verify_any(keys, 2, msg, len, sig, siglen,
					    NULL, err, sizeof(err)), 0);

	keys[0] = a; keys[1] = c;
	ck_assert_int_eq(mfs_sig_verify_any(keys, 2, msg, len, sig, siglen,
					    att, err, sizeof(err)), -EBADMSG);
	ck_assert(att[0].tried && att[1].tried);
	ck_assert_int_eq(att[1].ret, -EBADMSG);
	ck_assert_msg(strstr(att[1].reason, "neither raw ECDSA"), "%s",
		      att[1].reason);
	ck_assert_msg(strstr(err, "none of the 2 keys"), "%s", err);

	ck_assert_int_eq(mfs_sig_verify_any(keys, 0, msg, len, sig, siglen,
					    NULL, err, sizeof(err)), -ENOKEY);
	mfs_key_close(c);
	mfs_key_close(b);
	mfs_key_close(a);
	free(sig);
	free(msg);
}
END_TEST

/* manifest and manifest.sig of an artifact mender-artifact signed. */
static void check_mender(const char *prefix, const char *pubname,
			 const char *otherpub, size_t want_siglen)
{
	char name[64], err[ERRLEN] = "";
	uint8_t *manifest, *text, *sig = NULL;
	size_t mlen, tlen, siglen;
	bool canonical = false;

	snprintf(name, sizeof(name), "%s.mender.manifest", prefix);
	manifest = fx_slurp(name, &mlen);
	snprintf(name, sizeof(name), "%s.mender.sig", prefix);
	text = fx_slurp(name, &tlen);
	ck_assert_int_eq(mfs_b64_decode((char *)text, tlen, &sig, &siglen,
					&canonical, err, sizeof(err)), 0);
	ck_assert_msg(canonical, "mender-artifact wrote a non-canonical signature");
	ck_assert_uint_eq(siglen, want_siglen);
	ck_assert_int_eq(verify_file_sig(pubname, manifest, mlen, sig, siglen), 0);
	ck_assert_int_eq(verify_file_sig(otherpub, manifest, mlen, sig, siglen), -EBADMSG);
	manifest[mlen - 2] ^= 0x01;
	ck_assert_int_eq(verify_file_sig(pubname, manifest, mlen, sig, siglen), -EBADMSG);
	free(sig);
	free(text);
	free(manifest);
}

START_TEST(test_verify_mender_artifact)
{
	check_mender("rsa2048", "rsa2048.pub.pem", "rsa2048b.pub.pem", 256);
	check_mender("ec256", "ec256.pub.pem", "ec256b.pub.pem", 64);
}
END_TEST

/* ---- sign ---- */

START_TEST(test_sign_each_format)
{
	static const struct {
		const char *priv, *pub;
		size_t siglen;
	} cases[] = {
		{ "rsa2048.pkcs1.pem", "rsa2048.pub.pem", 256 },
		{ "rsa2048.pkcs8.pem", "rsa2048.pub.pem", 256 },
		{ "rsa3072.pkcs1.pem", "rsa3072.pub.pem", 384 },
		{ "rsa3072.pkcs8.pem", "rsa3072.pub.pem", 384 },
		{ "ec256.sec1.pem", "ec256.pub.pem", 64 },
		{ "ec256.pkcs8.pem", "ec256.pub.pem", 64 },
		{ "ec256p.params.pem", "ec256p.pub.pem", 64 },
	};
	char err[ERRLEN] = "", *b64;
	uint8_t *msg, *sig;
	size_t i, len, siglen;
	struct mfs_key *k;
	bool canonical;

	msg = fx_slurp("msg.bin", &len);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = load_priv(cases[i].priv);
		b64 = NULL;
		ck_assert_msg(mfs_sig_sign(k, msg, len, &b64, err,
					   sizeof(err)) == 0,
			      "%s: %s", cases[i].priv, err);
		ck_assert_ptr_null(strchr(b64, '\n'));
		ck_assert_int_eq(mfs_b64_decode(b64, strlen(b64), &sig,
						&siglen, &canonical, err,
						sizeof(err)), 0);
		ck_assert(canonical);
		ck_assert_uint_eq(siglen, cases[i].siglen);
		/* Checked with the public key openssl wrote, by our code
		 * and by openssl alone. */
		ck_assert_int_eq(verify_file_sig(cases[i].pub, msg, len, sig,
						 siglen), 0);
		openssl_verifies(cases[i].pub, b64);
		free(sig);
		free(b64);
		mfs_key_close(k);
	}
	free(msg);
}
END_TEST

START_TEST(test_sign_ec_raw_always_64)
{
	char err[ERRLEN] = "";
	struct mfs_key *k, *pub;
	uint8_t msg[32], *sig;
	size_t siglen;
	int i, padded = 0;

	k = load_priv("ec256.sec1.pem");
	pub = load_pub("ec256.pub.pem");
	/* One half in 128 starts with a zero byte; 2000 signatures all
	 * but guarantee several, which must still be 64 bytes. */
	for (i = 0; i < 2000; i++) {
		ck_assert_int_eq(RAND_bytes(msg, sizeof(msg)), 1);
		ck_assert_int_eq(mfs_sig_sign_raw(k, msg, sizeof(msg), &sig,
						  &siglen, err, sizeof(err)), 0);
		ck_assert_uint_eq(siglen, MFS_SIG_EC_RAW_LEN);
		if (sig[0] == 0 || sig[32] == 0)
			padded++;
		ck_assert_int_eq(mfs_sig_verify(pub, msg, sizeof(msg), sig,
						siglen, err, sizeof(err)), 0);
		free(sig);
	}
	ck_assert_int_gt(padded, 0);
	mfs_key_close(pub);
	mfs_key_close(k);
}
END_TEST

START_TEST(test_sign_refused_with_public)
{
	char err[ERRLEN] = "", *b64 = NULL;
	struct mfs_key *k;

	k = load_pub("rsa2048.pub.pem");
	ck_assert_int_eq(mfs_sig_sign(k, "x", 1, &b64, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_null(b64);
	assert_reason_clean(err);
	mfs_key_close(k);
}
END_TEST

START_TEST(test_sign_empty_message)
{
	char err[ERRLEN] = "";
	struct mfs_key *k;
	uint8_t *sig;
	size_t siglen;

	k = load_priv("ec256.pkcs8.pem");
	ck_assert_int_eq(mfs_sig_sign_raw(k, "", 0, &sig, &siglen, err,
					  sizeof(err)), 0);
	ck_assert_int_eq(mfs_sig_verify(k, "", 0, sig, siglen, err,
					sizeof(err)), 0);
	ck_assert_int_eq(mfs_sig_verify(k, "x", 1, sig, siglen, err,
					sizeof(err)), -EBADMSG);
	free(sig);
	mfs_key_close(k);
}
END_TEST

/* ---- PKCS#11 ---- */

static char p11_module[PATH_MAX];

static void p11_setup(void)
{
	char p[PATH_MAX];
	uint8_t *m;
	size_t len;

	ck_assert_int_eq(setenv("SOFTHSM2_CONF",
				fx(p, "softhsm/softhsm2.conf"), 1), 0);
	m = fx_slurp("softhsm/module", &len);
	ck_assert_uint_gt(len, 1);
	m[len - 1] = '\0';	/* the newline */
	snprintf(p11_module, sizeof(p11_module), "%s", (char *)m);
	free(m);
	unsetenv("PKCS11_MODULE_PATH");
}

static void p11_teardown(void)
{
}

static struct mfs_key *p11_load(const char *uri)
{
	char err[ERRLEN] = "";
	struct mfs_key *k = NULL;
	int ret;

	ret = mfs_key_load_private(uri, &k, err, sizeof(err));
	ck_assert_msg(ret == 0, "%s: %d %s", uri, ret, err);
	ck_assert(mfs_key_is_private(k));
	ck_assert_msg(!strstr(mfs_key_name(k), "1234") &&
		      !strstr(mfs_key_name(k), "pin"),
		      "PIN shown in the name: %s", mfs_key_name(k));
	return k;
}

static void p11_sign_check(struct mfs_key *k, const char *pubname,
			   size_t want_len)
{
	char err[ERRLEN] = "", *b64 = NULL;
	uint8_t *msg, *sig;
	size_t len, siglen;

	msg = fx_slurp("msg.bin", &len);
	ck_assert_msg(mfs_sig_sign(k, msg, len, &b64, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(mfs_b64_decode(b64, strlen(b64), &sig, &siglen, NULL,
					err, sizeof(err)), 0);
	ck_assert_uint_eq(siglen, want_len);
	ck_assert_int_eq(verify_file_sig(pubname, msg, len, sig, siglen), 0);
	openssl_verifies(pubname, b64);
	free(sig);
	free(b64);
	free(msg);
}

START_TEST(test_p11_rsa_env_module)
{
	struct mfs_key *k;

	ck_assert_int_eq(setenv("PKCS11_MODULE_PATH", p11_module, 1), 0);
	k = p11_load("pkcs11:token=menderfs;object=rsa;type=private;pin-value=1234");
	ck_assert_int_eq(mfs_key_type(k), MFS_KEY_RSA);
	ck_assert_int_eq(mfs_key_bits(k), 2048);
	ck_assert_str_eq(mfs_key_name(k), "pkcs11:token=menderfs;object=rsa;type=private");
	p11_sign_check(k, "rsa2048.pub.pem", 256);
	mfs_key_close(k);
}
END_TEST

START_TEST(test_p11_ec_uri_module_pin_source)
{
	char uri[3 * PATH_MAX], p[PATH_MAX];
	struct mfs_key *k;

	snprintf(uri, sizeof(uri),
		 "pkcs11:token=menderfs;object=ec?module-path=%s&pin-source=file:%s",
		 p11_module, fx(p, "softhsm/pin"));
	k = p11_load(uri);
	ck_assert_int_eq(mfs_key_type(k), MFS_KEY_EC_P256);
	p11_sign_check(k, "ec256.pub.pem", 64);
	mfs_key_close(k);
}
END_TEST

START_TEST(test_p11_two_keys)
{
	char uri[2 * PATH_MAX];
	struct mfs_key *rsa, *ec;

	snprintf(uri, sizeof(uri),
		 "pkcs11:token=menderfs;object=rsa;pin-value=1234;module-path=%s",
		 p11_module);
	rsa = p11_load(uri);
	snprintf(uri, sizeof(uri),
		 "pkcs11:token=menderfs;object=ec;pin-value=1234;module-path=%s",
		 p11_module);
	ec = p11_load(uri);
	/* Closing one must leave the other usable. */
	mfs_key_close(rsa);
	p11_sign_check(ec, "ec256.pub.pem", 64);
	mfs_key_close(ec);
}
END_TEST

/* Loads "pkcs11:token=menderfs;<attrs>;module-path=<module><suffix>"
 * and expects the refusal. */
static void p11_refused(const char *attrs, const char *suffix, int want,
			const char *reason)
{
	char uri[2 * PATH_MAX], err[ERRLEN] = "";
	struct mfs_key *k = NULL;
	int ret;

	snprintf(uri, sizeof(uri), "pkcs11:token=menderfs;%s;module-path=%s%s",
		 attrs, p11_module, suffix);
	ret = mfs_key_load_private(uri, &k, err, sizeof(err));
	ck_assert_msg(ret == want, "%s: got %d (%s), want %d", uri, ret, err,
		      want);
	ck_assert_ptr_null(k);
	assert_reason_clean(err);
	ck_assert_msg(strstr(err, reason), "%s: reason \"%s\" lacks \"%s\"",
		      uri, err, reason);
}

START_TEST(test_p11_refused)
{
	p11_refused("object=rsa1024;pin-value=1234", "", -ENOTSUP,
		    "RSA key of 1024 bits is too small");
	p11_refused("object=nothing;pin-value=1234", "", -ENOENT,
		    "cannot load the private key");
	p11_refused("object=rsa;pin-value=%zz", "", -EINVAL, "bad %-escape");
	p11_refused("object", "", -EINVAL, "has no value");
	p11_refused("object=rsa;pin-value=1;pin-source=/x", "", -EINVAL,
		    "both pin-value and pin-source");
	p11_refused("object=rsa;pin-source=/nonexistent", "", -ENOENT,
		    "pin-source");
	p11_refused("object=rsa;pin-value=1234", ".missing", -ENOENT,
		    "cannot use the PKCS#11 module: No such file");
}
END_TEST

/* A PKCS#11 login lasts for the whole process (the standard makes it
 * per application, not per session), so the PIN is only ever checked
 * before the first successful load: this runs in its own forked test,
 * before anything logs in. */
START_TEST(test_p11_wrong_pin)
{
	p11_refused("object=rsa;pin-value=9999", "", -ENOENT,
		    "cannot load the private key");
	p11_refused("object=rsa", "", -ENOENT, "cannot load the private key");
}
END_TEST

/* ---- PKCS#11 verify keys: public-key objects on the token ---- */

static struct mfs_key *p11_load_verify(const char *uri)
{
	char err[ERRLEN] = "";
	struct mfs_key *k = NULL;
	int ret;

	ret = mfs_key_load_verify(uri, &k, err, sizeof(err));
	ck_assert_msg(ret == 0, "%s: %d %s", uri, ret, err);
	ck_assert_ptr_nonnull(k);
	ck_assert(!mfs_key_is_private(k));
	ck_assert_msg(!strstr(mfs_key_name(k), "1234") &&
		      !strstr(mfs_key_name(k), "pin"),
		      "PIN shown in the name: %s", mfs_key_name(k));
	return k;
}

/* The token key k verifies what mender-artifact signed with the PEM key
 * of the same pair (prefix.mender) and msg.bin's signature sigfile, and
 * refuses a tampered manifest. */
static void p11_verify_check(const struct mfs_key *k, const char *prefix,
			     const char *sigfile, size_t want_siglen)
{
	char name[64], err[ERRLEN] = "";
	uint8_t *manifest, *text, *sig = NULL, *msg, *msig;
	size_t mlen, tlen, siglen, len, msiglen;

	snprintf(name, sizeof(name), "%s.mender.manifest", prefix);
	manifest = fx_slurp(name, &mlen);
	snprintf(name, sizeof(name), "%s.mender.sig", prefix);
	text = fx_slurp(name, &tlen);
	ck_assert_int_eq(mfs_b64_decode((char *)text, tlen, &sig, &siglen,
					NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(siglen, want_siglen);
	ck_assert_msg(mfs_sig_verify(k, manifest, mlen, sig, siglen, err,
				     sizeof(err)) == 0, "%s", err);
	manifest[mlen - 2] ^= 0x01;
	ck_assert_int_eq(mfs_sig_verify(k, manifest, mlen, sig, siglen, err,
					sizeof(err)), -EBADMSG);
	msg = fx_slurp("msg.bin", &len);
	msig = fx_slurp(sigfile, &msiglen);
	ck_assert_msg(mfs_sig_verify(k, msg, len, msig, msiglen, err,
				     sizeof(err)) == 0, "%s", err);
	free(msig);
	free(msg);
	free(sig);
	free(text);
	free(manifest);
}

START_TEST(test_p11_verify_rsa_env_module)
{
	struct mfs_key *k;
	char err[ERRLEN];
	uint8_t *msg, *sig;
	size_t len, siglen;

	ck_assert_int_eq(setenv("PKCS11_MODULE_PATH", p11_module, 1), 0);
	k = p11_load_verify("pkcs11:token=menderfs;object=rsa;type=public");
	ck_assert_int_eq(mfs_key_type(k), MFS_KEY_RSA);
	ck_assert_int_eq(mfs_key_bits(k), 2048);
	ck_assert_ptr_null(mfs_key_warning(k));
	ck_assert_str_eq(mfs_key_name(k), "pkcs11:token=menderfs;object=rsa;type=public");
	p11_verify_check(k, "rsa2048", "msg.rsa2048.sig", 256);
	/* Another key's signature. */
	msg = fx_slurp("msg.bin", &len);
	sig = fx_slurp("msg.rsa3072.sig", &siglen);
	ck_assert_int_eq(mfs_sig_verify(k, msg, len, sig, siglen, err,
					sizeof(err)), -EBADMSG);
	free(sig);
	free(msg);
	mfs_key_close(k);
}
END_TEST

START_TEST(test_p11_verify_ec_uri_module_pin)
{
	char uri[2 * PATH_MAX];
	struct mfs_key *k;

	/* RFC 7512's query form; a PIN is not needed for a public object,
	 * but one given must not be shown. */
	snprintf(uri, sizeof(uri),
		 "pkcs11:token=menderfs;object=ec;type=public?pin-value=1234&module-path=%s",
		 p11_module);
	k = p11_load_verify(uri);
	ck_assert_int_eq(mfs_key_type(k), MFS_KEY_EC_P256);
	ck_assert_str_eq(mfs_key_name(k), "pkcs11:token=menderfs;object=ec;type=public");
	p11_verify_check(k, "ec256", "msg.ec256.der", 64);
	mfs_key_close(k);
}
END_TEST

/* By id alone, no type: the public key object of the pair, not the
 * private one (which verifying never needs). */
START_TEST(test_p11_verify_by_id)
{
	char uri[2 * PATH_MAX];
	struct mfs_key *k;

	snprintf(uri, sizeof(uri), "pkcs11:token=menderfs;id=%%02;module-path=%s",
		 p11_module);
	k = p11_load_verify(uri);
	ck_assert_int_eq(mfs_key_type(k), MFS_KEY_EC_P256);
	p11_verify_check(k, "ec256", "msg.ec256.der", 64);
	mfs_key_close(k);
}
END_TEST

/* As for a PEM verify key: RSA 1024 verifies, marked weak. */
START_TEST(test_p11_verify_weak)
{
	char uri[2 * PATH_MAX];
	struct mfs_key *k;
	uint8_t *msg, *sig;
	char err[ERRLEN];
	size_t len, siglen;

	snprintf(uri, sizeof(uri),
		 "pkcs11:token=menderfs;object=rsa1024;type=public;module-path=%s",
		 p11_module);
	k = p11_load_verify(uri);
	ck_assert_int_eq(mfs_key_bits(k), 1024);
	ck_assert(mfs_key_is_weak(k));
	ck_assert_ptr_nonnull(mfs_key_warning(k));
	ck_assert_msg(strstr(mfs_key_warning(k), "weak"), "%s", mfs_key_warning(k));
	msg = fx_slurp("msg.bin", &len);
	sig = fx_slurp("msg.rsa1024.sig", &siglen);
	ck_assert_int_eq(mfs_sig_verify(k, msg, len, sig, siglen, err,
					sizeof(err)), 0);
	free(sig);
	free(msg);
	mfs_key_close(k);
}
END_TEST

/* Loads "pkcs11:token=menderfs;<attrs>;module-path=<module><suffix>" as
 * a verify key and expects the refusal. */
static void p11_verify_refused(const char *attrs, const char *suffix, int want,
			       const char *reason)
{
	char uri[2 * PATH_MAX], err[ERRLEN] = "";
	struct mfs_key *k = NULL;
	int ret;

	snprintf(uri, sizeof(uri), "pkcs11:token=menderfs;%s;module-path=%s%s",
		 attrs, p11_module, suffix);
	ret = mfs_key_load_verify(uri, &k, err, sizeof(err));
	ck_assert_msg(ret == want, "%s: got %d (%s), want %d", uri, ret, err,
		      want);
	ck_assert_ptr_null(k);
	assert_reason_clean(err);
	ck_assert_msg(strstr(err, reason), "%s: reason \"%s\" lacks \"%s\"",
		      uri, err, reason);
	ck_assert_msg(!strstr(err, "1234"), "PIN in the reason: %s", err);
}

START_TEST(test_p11_verify_refused)
{
	p11_verify_refused("object=nothing;pin-value=1234", "", -ENOENT,
			   "no public key or certificate object on the PKCS#11 token matches");
	p11_verify_refused("object=nothing;type=cert", "", -ENOENT,
			   "no certificate object");
	p11_verify_refused("object=rsa;type=private", "", -EINVAL,
			   "type=private is not a public key or certificate");
	p11_verify_refused("object=rsa;pin-value=%zz", "", -EINVAL, "bad %-escape");
	p11_verify_refused("object=rsa", ".missing", -ENOENT,
			   "cannot use the PKCS#11 module: No such file");
}
END_TEST

/* Which glue reads a pkcs11: key, and why, for the debug log: with no
 * provider offering the pkcs11 scheme (no pkcs11-provider in
 * openssl.cnf, as on Debian 12), the engine, saying so; with one
 * loaded, still the engine here, as the test names the module. */
START_TEST(test_p11_backend_choice)
{
	char uri[2 * PATH_MAX];
	OSSL_STORE_LOADER *loader;
	struct mfs_key *pub, *priv;
	const char *want;

	/* Asked of OpenSSL directly, not through the code under test. */
	loader = OSSL_STORE_LOADER_fetch(NULL, "pkcs11", NULL);
	want = loader ? "names the PKCS#11 module, which only the pkcs11 engine loads" :
		"no OpenSSL provider handles pkcs11: URIs";
	OSSL_STORE_LOADER_free(loader);
	ERR_clear_error();

	snprintf(uri, sizeof(uri),
		 "pkcs11:token=menderfs;object=rsa;type=public;module-path=%s",
		 p11_module);
	pub = p11_load_verify(uri);
	ck_assert_ptr_nonnull(mfs_key_backend(pub));
	ck_assert_str_eq(mfs_key_backend(pub), "engine");
	ck_assert_ptr_nonnull(mfs_key_backend_reason(pub));
	ck_assert_msg(strstr(mfs_key_backend_reason(pub), want), "reason: %s",
		      mfs_key_backend_reason(pub));
	ck_assert_msg(!strchr(mfs_key_backend_reason(pub), '\n'), "reason: %s",
		      mfs_key_backend_reason(pub));

	ck_assert_int_eq(setenv("PKCS11_MODULE_PATH", p11_module, 1), 0);
	priv = p11_load("pkcs11:token=menderfs;object=ec;type=private;pin-value=1234");
	ck_assert_str_eq(mfs_key_backend(priv), "engine");
	ck_assert_msg(strstr(mfs_key_backend_reason(priv), want), "reason: %s",
		      mfs_key_backend_reason(priv));
	/* Signing and verifying keys from one token in one process. */
	p11_sign_check(priv, "ec256.pub.pem", 64);
	p11_verify_check(pub, "rsa2048", "msg.rsa2048.sig", 256);
	mfs_key_close(priv);
	mfs_key_close(pub);

	/* A key from a file names no glue. */
	pub = load_pub("rsa2048.pub.pem");
	ck_assert_ptr_null(mfs_key_backend(pub));
	ck_assert_ptr_null(mfs_key_backend_reason(pub));
	mfs_key_close(pub);
}
END_TEST

/* mfs_key_load_verify takes a path as mfs_key_load_public does. */
START_TEST(test_key_load_verify_path)
{
	char p[PATH_MAX], err[ERRLEN] = "";
	struct mfs_key *k = NULL;

	ck_assert_int_eq(mfs_key_load_verify(fx(p, "ec256.pub.pem"), &k, err,
					     sizeof(err)), 0);
	ck_assert_int_eq(mfs_key_type(k), MFS_KEY_EC_P256);
	ck_assert_str_eq(mfs_key_name(k), p);
	mfs_key_close(k);
	k = NULL;
	ck_assert_int_eq(mfs_key_load_verify(fx(p, "nothing.pem"), &k, err,
					     sizeof(err)), -ENOENT);
	ck_assert_ptr_null(k);
}
END_TEST

/* ---- PKCS#11 through an OpenSSL provider ----
 *
 * Debian 12 packages no pkcs11-provider, so a stand-in is built into
 * this test: a provider that offers an OSSL_STORE loader for the pkcs11
 * scheme, as pkcs11-provider does, and serves the fixture files as
 * objects.  object= names a file of the fixture directory, type= says
 * what it is (public: a PEM public key, cert: a PEM certificate,
 * private: a PEM private key that needs the PIN 1234, asked for through
 * the passphrase callback as a token would).  What it shows is the
 * provider path of the code under test: chosen when a provider handles
 * pkcs11:, keys and certificates read through OSSL_STORE, the PIN
 * handed over, and the engine still chosen when the URI names a
 * module. */

#define TEST_PROVIDER "menderfs-test-pkcs11"
#define TEST_PROVIDER_PIN "1234"

struct tp_store {
	char path[PATH_MAX];
	char type[16];
	bool done;
};

/* The value of attribute name in uri, into buf. */
static bool tp_attr(const char *uri, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);
	const char *p, *end;

	for (p = strchr(uri, ':'); p && *p; p = end) {
		p++;
		end = p + strcspn(p, ";?&");
		if ((size_t)(end - p) > n && !strncmp(p, name, n) && p[n] == '=') {
			snprintf(buf, len, "%.*s", (int)(end - p - n - 1), p + n + 1);
			return true;
		}
		if (!*end)
			break;
	}
	return false;
}

static void *tp_open(void *provctx, const char *uri)
{
	char object[128];
	struct tp_store *st;

	(void)provctx;
	if (strncmp(uri, "pkcs11:", 7) != 0 ||
	    !tp_attr(uri, "object", object, sizeof(object)) ||
	    strchr(object, '/'))
		return NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	snprintf(st->path, sizeof(st->path), "%s/%s", fixdir, object);
	if (!tp_attr(uri, "type", st->type, sizeof(st->type)))
		snprintf(st->type, sizeof(st->type), "public");
	return st;
}

static int tp_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
		   OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct tp_store *st = loaderctx;
	int object_type = OSSL_OBJECT_PKEY, ret = 0;
	unsigned char *der = NULL;
	OSSL_PARAM params[3];
	char pin[64];
	size_t pinlen = 0;
	uint8_t *data;
	size_t len;
	X509 *cert;
	BIO *bio;

	if (st->done)
		return 0;
	st->done = true;
	if (!strcmp(st->type, "private") &&
	    (!pw_cb || !pw_cb(pin, sizeof(pin), &pinlen, NULL, pw_cbarg) ||
	     pinlen != strlen(TEST_PROVIDER_PIN) ||
	     memcmp(pin, TEST_PROVIDER_PIN, pinlen) != 0))
		return 0;	/* the login fails */
	if (access(st->path, R_OK) != 0)
		return 1;	/* no such object: nothing, no error */
	data = slurp(st->path, &len);
	if (!strcmp(st->type, "cert")) {
		/* OSSL_STORE takes certificates as DER. */
		bio = BIO_new_mem_buf(data, (int)len);
		cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		free(data);
		if (!cert)
			return 0;
		len = (size_t)i2d_X509(cert, &der);
		X509_free(cert);
		data = der;
		object_type = OSSL_OBJECT_CERT;
	}
	params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
						      data, len);
	params[2] = OSSL_PARAM_construct_end();
	ret = object_cb(params, object_cbarg);
	if (der)
		OPENSSL_free(der);
	else
		free(data);
	return ret;
}

static int tp_eof(void *loaderctx)
{
	return ((struct tp_store *)loaderctx)->done;
}

static int tp_close(void *loaderctx)
{
	free(loaderctx);
	return 1;
}

static const OSSL_DISPATCH tp_store_functions[] = {
	{ OSSL_FUNC_STORE_OPEN, (void (*)(void))tp_open },
	{ OSSL_FUNC_STORE_LOAD, (void (*)(void))tp_load },
	{ OSSL_FUNC_STORE_EOF, (void (*)(void))tp_eof },
	{ OSSL_FUNC_STORE_CLOSE, (void (*)(void))tp_close },
	{ 0, NULL }
};

static const OSSL_ALGORITHM tp_stores[] = {
	{ "pkcs11", "provider=" TEST_PROVIDER, tp_store_functions,
	  "pkcs11: URIs served from the test's fixture files" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *tp_query(void *provctx, int operation_id,
				      int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	return operation_id == OSSL_OP_STORE ? tp_stores : NULL;
}

static const OSSL_DISPATCH tp_functions[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))tp_query },
	{ 0, NULL }
};

static int tp_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		   const OSSL_DISPATCH **out, void **provctx)
{
	(void)in;
	*out = tp_functions;
	*provctx = (void *)handle;
	return 1;
}

START_TEST(test_p11_provider_store)
{
	OSSL_PROVIDER *deflt, *prov;
	struct mfs_key *pub, *cert, *priv;
	char uri[2 * PATH_MAX], err[ERRLEN] = "";
	struct mfs_key *k = NULL;

	unsetenv("PKCS11_MODULE_PATH");
	ck_assert_int_eq(OSSL_PROVIDER_add_builtin(NULL, TEST_PROVIDER, tp_init), 1);
	/* Loading one provider by hand stops the default one loading by
	 * itself: load it too, for the decoders and the algorithms. */
	deflt = OSSL_PROVIDER_load(NULL, "default");
	ck_assert_ptr_nonnull(deflt);
	prov = OSSL_PROVIDER_load(NULL, TEST_PROVIDER);
	ck_assert_ptr_nonnull(prov);

	/* A public key object. */
	pub = p11_load_verify("pkcs11:token=test;object=ec256.pub.pem;type=public");
	ck_assert_str_eq(mfs_key_backend(pub), "provider");
	ck_assert_msg(strstr(mfs_key_backend_reason(pub),
			     "the OpenSSL provider \"" TEST_PROVIDER "\" handles pkcs11: URIs"),
		      "reason: %s", mfs_key_backend_reason(pub));
	ck_assert_int_eq(mfs_key_type(pub), MFS_KEY_EC_P256);
	p11_verify_check(pub, "ec256", "msg.ec256.der", 64);

	/* A certificate object (cert.pem is rsa2048's). */
	cert = p11_load_verify("pkcs11:token=test;object=cert.pem;type=cert");
	ck_assert_str_eq(mfs_key_backend(cert), "provider");
	ck_assert_int_eq(mfs_key_bits(cert), 2048);
	p11_verify_check(cert, "rsa2048", "msg.rsa2048.sig", 256);

	/* A private key, the PIN through the passphrase callback. */
	priv = p11_load("pkcs11:token=test;object=ec256.sec1.pem;type=private;pin-value=" TEST_PROVIDER_PIN);
	ck_assert_str_eq(mfs_key_backend(priv), "provider");
	ck_assert_str_eq(mfs_key_name(priv), "pkcs11:token=test;object=ec256.sec1.pem;type=private");
	p11_sign_check(priv, "ec256.pub.pem", 64);

	/* A wrong PIN, and no PIN: no key, and no prompt. */
	ck_assert_int_eq(mfs_key_load_private("pkcs11:token=test;object=ec256.sec1.pem;type=private;pin-value=9999",
					      &k, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(k);
	ck_assert_msg(strstr(err, "no private key on the PKCS#11 token matches (through the OpenSSL pkcs11 provider"),
		      "%s", err);
	ck_assert_msg(!strstr(err, "9999"), "PIN in the reason: %s", err);
	ck_assert_int_eq(mfs_key_load_private("pkcs11:token=test;object=ec256.sec1.pem;type=private",
					      &k, err, sizeof(err)), -ENOENT);
	/* A public load of a private key object finds no public key. */
	ck_assert_int_eq(mfs_key_load_verify("pkcs11:token=test;object=ec256.sec1.pem;type=private;pin-value=1234",
					     &k, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "no public key or certificate on the PKCS#11 token matches"),
		      "%s", err);
	ck_assert_int_eq(mfs_key_load_verify("pkcs11:token=test;object=nothing.pem",
					     &k, err, sizeof(err)), -ENOENT);
	assert_reason_clean(err);
	mfs_key_close(priv);
	mfs_key_close(cert);
	mfs_key_close(pub);

	/* A module named for the key: the engine, even with the provider
	 * loaded, and the reason says so. */
	snprintf(uri, sizeof(uri),
		 "pkcs11:token=menderfs;object=rsa;type=public;module-path=%s",
		 p11_module);
	pub = p11_load_verify(uri);
	ck_assert_str_eq(mfs_key_backend(pub), "engine");
	ck_assert_msg(strstr(mfs_key_backend_reason(pub),
			     "the URI's module-path names the PKCS#11 module, which only the pkcs11 engine loads per key (the provider \"" TEST_PROVIDER "\""),
		      "reason: %s", mfs_key_backend_reason(pub));
	p11_verify_check(pub, "rsa2048", "msg.rsa2048.sig", 256);
	mfs_key_close(pub);

	OSSL_PROVIDER_unload(prov);
	OSSL_PROVIDER_unload(deflt);
}
END_TEST

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc;

	tc = tcase_create("base64");
	tcase_add_test(tc, test_b64_round_trip);
	tcase_add_test(tc, test_b64_padding);
	tcase_add_test(tc, test_b64_non_canonical);
	tcase_add_test(tc, test_b64_invalid);
	tcase_add_test(tc, test_b64_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, test_key_public_ok);
	tcase_add_test(tc, test_key_public_weak);
	tcase_add_test(tc, test_key_public_of);
	tcase_add_test(tc, test_key_public_refused);
	tcase_add_test(tc, test_key_private_ok);
	tcase_add_test(tc, test_key_private_refused);
	tcase_add_test(tc, test_key_private_loose_mode);
	tcase_add_test(tc, test_key_load_verify_path);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_test(tc, test_verify_rsa_openssl);
	tcase_add_test(tc, test_verify_ec_openssl);
	tcase_add_test(tc, test_verify_ec_der_lengths);
	tcase_add_test(tc, test_verify_with_private_key);
	tcase_add_test(tc, test_verify_any_order);
	tcase_add_test(tc, test_verify_mender_artifact);
	suite_add_tcase(s, tc);

	tc = tcase_create("sign");
	tcase_add_test(tc, test_sign_each_format);
	tcase_add_test(tc, test_sign_ec_raw_always_64);
	tcase_add_test(tc, test_sign_refused_with_public);
	tcase_add_test(tc, test_sign_empty_message);
	suite_add_tcase(s, tc);

	tc = tcase_create("pkcs11");
	tcase_add_checked_fixture(tc, p11_setup, p11_teardown);
	tcase_add_test(tc, test_p11_rsa_env_module);
	tcase_add_test(tc, test_p11_ec_uri_module_pin_source);
	tcase_add_test(tc, test_p11_two_keys);
	tcase_add_test(tc, test_p11_refused);
	tcase_add_test(tc, test_p11_wrong_pin);
	tcase_add_test(tc, test_p11_verify_rsa_env_module);
	tcase_add_test(tc, test_p11_verify_ec_uri_module_pin);
	tcase_add_test(tc, test_p11_verify_by_id);
	tcase_add_test(tc, test_p11_verify_weak);
	tcase_add_test(tc, test_p11_verify_refused);
	tcase_add_test(tc, test_p11_backend_choice);
	tcase_add_test(tc, test_p11_provider_store);
	suite_add_tcase(s, tc);

	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	fixdir = argc > 1 ? argv[1] : getenv("MFS_CRYPTO_FIXTURES");
	if (!fixdir) {
		fprintf(stderr, "usage: %s FIXTURE_DIR (from make_fixtures.sh)\n",
			argv[0]);
		return 2;
	}
	sr = srunner_create(crypto_suite());
	if (srunner_fork_status(sr) == CK_NOFORK)
		fprintf(stderr, "note: without fork, test_p11_wrong_pin runs after a login and fails\n");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
