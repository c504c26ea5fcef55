/*
 * Base64 through OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.  The block
 * functions are lenient in ways a strict decoder must not be: they
 * trim leading blanks and trailing blanks, line ends and '-', decode
 * '=' as zero bits anywhere, and count padding in the output length.
 * So the text is checked here first (characters, length, padding), and
 * the decoded length is taken from the '=' count, not from OpenSSL.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/base64.h"
#include "crypto/crypto_i.h"

int mfs_b64_encode(const void *data, size_t len, char **out)
{
	char *text;
	size_t cap;
	int n;

	if (len > (size_t)INT_MAX / 4 * 3)
		return -EOVERFLOW;
	cap = (len + 2) / 3 * 4 + 1;
	text = malloc(cap);
	if (!text)
		return -ENOMEM;
	n = EVP_EncodeBlock((unsigned char *)text, data, (int)len);
	if (n < 0 || (size_t)n != cap - 1) {
		free(text);
		return -EOVERFLOW;
	}
	*out = text;
	return 0;
}

static bool b64_alphabet(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Copies text without its line breaks into compact; *n is the length
 * kept.  Returns 0, or -EINVAL for a character outside the alphabet. */
static int strip_breaks(const char *text, size_t len, char *compact,
			size_t *n, bool *breaks, char *err, size_t errlen)
{
	size_t i, kept = 0;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)text[i];
		if (c == '\n' || (c == '\r' && i + 1 < len &&
				  text[i + 1] == '\n')) {
			*breaks = true;
			continue;
		}
		if (!b64_alphabet((char)c) && c != '=') {
			mfs_crypto_seterr(err, errlen,
					  "not base64: character 0x%02x at offset %zu",
					  c, i);
			return -EINVAL;
		}
		compact[kept++] = (char)c;
	}
	*n = kept;
	return 0;
}

/* Returns the number of '=' (0 to 2) ending compact, or -EINVAL. */
static int count_padding(const char *compact, size_t n,
			 char *err, size_t errlen)
{
	size_t pad = 0;

	if (n % 4 != 0) {
		mfs_crypto_seterr(err, errlen,
				  "not base64: %zu characters is not a multiple of 4 (missing padding?)",
				  n);
		return -EINVAL;
	}
	while (pad < n && compact[n - 1 - pad] == '=')
		pad++;
	if (pad > 2 || memchr(compact, '=', n - pad)) {
		mfs_crypto_seterr(err, errlen, "not base64: misplaced '=' padding");
		return -EINVAL;
	}
	return (int)pad;
}

int mfs_b64_decode(const char *text, size_t len, uint8_t **out, size_t *outlen,
		   bool *canonical, char *err, size_t errlen)
{
	char *compact = NULL, *again = NULL;
	uint8_t *bin = NULL;
	bool breaks = false;
	size_t n = 0, full;
	int pad, got, ret;

	if (len > MFS_B64_MAX_TEXT) {
		mfs_crypto_seterr(err, errlen,
				  "base64 text of %zu bytes is too long (%d maximum)",
				  len, MFS_B64_MAX_TEXT);
		ret = -EINVAL;
		goto out;
	}
	compact = malloc(len + 1);
	if (!compact) {
		ret = -ENOMEM;
		goto out;
	}
	ret = strip_breaks(text, len, compact, &n, &breaks, err, errlen);
	if (ret < 0)
		goto out;
	pad = count_padding(compact, n, err, errlen);
	if (pad < 0) {
		ret = pad;
		goto out;
	}
	full = n / 4 * 3;
	bin = malloc(full + 1);
	if (!bin) {
		ret = -ENOMEM;
		goto out;
	}
	if (n > 0) {
		got = EVP_DecodeBlock(bin, (const unsigned char *)compact, (int)n);
		if (got < 0 || (size_t)got != full) {
			mfs_crypto_seterr_ossl(err, errlen, "not base64");
			ret = -EINVAL;
			goto out;
		}
	}
	/* Canonical means the encoder gives back exactly this text: no
	 * line breaks, no trailing newline, zero bits under the padding. */
	ret = mfs_b64_encode(bin, full - (size_t)pad, &again);
	if (ret < 0)
		goto out;

	*out = bin;
	bin = NULL;
	*outlen = full - (size_t)pad;
	if (canonical)
		*canonical = !breaks && strlen(again) == len &&
			     memcmp(again, text, len) == 0;
	ret = 0;
out:
	free(again);
	free(bin);
	free(compact);
	return ret;
}
