/*
 * Between the two shapes of an ECDSA signature.  Mender stores r||s,
 * each half big-endian and zero-padded to the curve size; OpenSSL signs
 * and verifies the DER SEQUENCE { INTEGER r, INTEGER s }.
 */
#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "crypto/crypto_i.h"
#include "crypto/sign.h"

#define HALF (MFS_SIG_EC_RAW_LEN / 2)

int mfs_ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen,
			 unsigned char **der, size_t *derlen)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *buf = NULL;
	int len, ret;

	if (rawlen != MFS_SIG_EC_RAW_LEN) {
		ret = -EINVAL;
		goto out;
	}
	r = BN_bin2bn(raw, HALF, NULL);
	s = BN_bin2bn(raw + HALF, HALF, NULL);
	sig = ECDSA_SIG_new();
	if (!r || !s || !sig) {
		ret = -ENOMEM;
		goto out;
	}
	if (ECDSA_SIG_set0(sig, r, s) != 1) {
		ret = -ENOMEM;
		goto out;
	}
	r = s = NULL;	/* owned by sig now */
	len = i2d_ECDSA_SIG(sig, &buf);
	if (len <= 0) {
		ret = -ENOMEM;
		goto out;
	}

	*der = buf;
	buf = NULL;
	*derlen = (size_t)len;
	ret = 0;
out:
	OPENSSL_free(buf);
	ECDSA_SIG_free(sig);
	BN_free(s);
	BN_free(r);
	ERR_clear_error();
	return ret;
}

int mfs_ecdsa_der_to_raw(const unsigned char *der, size_t derlen,
			 uint8_t *raw, size_t rawlen)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig = NULL;
	uint8_t out[MFS_SIG_EC_RAW_LEN];
	int ret;

	if (rawlen != MFS_SIG_EC_RAW_LEN || derlen > 0x7fffffff) {
		ret = -EINVAL;
		goto out;
	}
	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (!sig || p != der + derlen) {
		ret = -EINVAL;
		goto out;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_is_negative(r) || BN_is_negative(s)) {
		ret = -EINVAL;
		goto out;
	}
	/* BN_bn2binpad fails, rather than truncates, a value too wide. */
	if (BN_bn2binpad(r, out, HALF) != HALF ||
	    BN_bn2binpad(s, out + HALF, HALF) != HALF) {
		ret = -EINVAL;
		goto out;
	}

	memcpy(raw, out, sizeof(out));
	ret = 0;
out:
	ECDSA_SIG_free(sig);
	ERR_clear_error();
	return ret;
}

bool mfs_ecdsa_der_is_strict(const unsigned char *der, size_t derlen)
{
	const unsigned char *p = der;
	unsigned char *again = NULL;
	ECDSA_SIG *sig = NULL;
	bool strict = false;
	int len;

	if (derlen > 0x7fffffff)
		goto out;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (!sig || p != der + derlen)
		goto out;
	/* What OpenSSL's verification demands: the encoding it would write
	 * itself, so no padded integer or long-form length slips by. */
	len = i2d_ECDSA_SIG(sig, &again);
	strict = len > 0 && (size_t)len == derlen &&
		 memcmp(again, der, derlen) == 0;
out:
	OPENSSL_free(again);
	ECDSA_SIG_free(sig);
	ERR_clear_error();
	return strict;
}
