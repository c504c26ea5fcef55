/*
 * Verification.  EVP_DigestVerifyFinal returns 1 for a match, 0 for a
 * mismatch and a negative value for a malformed signature or an
 * internal error: only 1 passes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "crypto/crypto_i.h"
#include "crypto/sign.h"
#include "crypto/verify.h"

/* No RSA signature we verify (1024 bits and up) is this short. */
#define RSA_SIG_MIN_LEN (MFS_KEY_RSA_MIN_BITS / 8)

/* Verifies a signature in OpenSSL's shape (RSA bytes, ECDSA DER). */
static int verify_evp(const struct mfs_key *key, const void *msg,
		      size_t msglen, const unsigned char *sig, size_t siglen,
		      char *err, size_t errlen)
{
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int ret, ok;

	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		ret = -ENOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key->pub) != 1 ||
	    (key->type == MFS_KEY_RSA &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "cannot set up signature verification");
		ret = -EIO;
		goto out;
	}
	if (EVP_DigestVerifyUpdate(ctx, msg, msglen) != 1) {
		mfs_crypto_seterr_ossl(err, errlen, "cannot hash the message");
		ret = -EIO;
		goto out;
	}
	ok = EVP_DigestVerifyFinal(ctx, sig, siglen);
	if (ok != 1) {
		ERR_clear_error();
		mfs_crypto_seterr(err, errlen, ok == 0 ?
				  "signature does not match" :
				  "signature is malformed for this key");
		ret = -EBADMSG;
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

static int verify_ec(const struct mfs_key *key, const void *msg,
		     size_t msglen, const unsigned char *sig, size_t siglen,
		     enum mfs_sig_form *form, char *err, size_t errlen)
{
	unsigned char *der = NULL;
	size_t derlen = 0;
	int ret;

	if (siglen != MFS_SIG_EC_RAW_LEN) {
		/* Not r||s: DER, or nothing we know. */
		if (siglen < 8 || sig[0] != 0x30) {
			mfs_crypto_seterr(err, errlen,
					  "a signature of %zu bytes is neither raw ECDSA r||s (%d bytes) nor DER",
					  siglen, MFS_SIG_EC_RAW_LEN);
			ret = -EBADMSG;
			goto out;
		}
		/* OpenSSL takes strict DER only, of any valid length, as
		 * the client (OpenSSL too) does. */
		ret = verify_evp(key, msg, msglen, sig, siglen, err, errlen);
		*form = MFS_SIG_FORM_EC_DER;
		goto out;
	}
	ret = mfs_ecdsa_raw_to_der(sig, siglen, &der, &derlen);
	if (ret < 0)
		goto out;
	ret = verify_evp(key, msg, msglen, der, derlen, err, errlen);
	*form = MFS_SIG_FORM_EC_RAW;
	/* A DER signature can be 64 bytes too (r and s of 29 bytes); it
	 * starts with SEQUENCE and the length of the rest. */
	if (ret == -EBADMSG && sig[0] == 0x30 && sig[1] == siglen - 2) {
		ret = verify_evp(key, msg, msglen, sig, siglen, err, errlen);
		if (ret == 0)
			*form = MFS_SIG_FORM_EC_DER;
	}
out:
	OPENSSL_free(der);
	return ret;
}

static int sig_verify(const struct mfs_key *key, const void *msg,
		      size_t msglen, const void *sig, size_t siglen,
		      enum mfs_sig_form *form, char *err, size_t errlen)
{
	int size;

	*form = MFS_SIG_FORM_OTHER;
	ERR_clear_error();
	if (siglen == 0) {
		mfs_crypto_seterr(err, errlen, "the signature is empty");
		return -EBADMSG;
	}
	if (key->type == MFS_KEY_EC_P256)
		return verify_ec(key, msg, msglen, sig, siglen, form, err,
				 errlen);

	size = EVP_PKEY_get_size(key->pub);
	if (size > 0 && siglen != (size_t)size) {
		mfs_crypto_seterr(err, errlen,
				  "a signature of %zu bytes cannot be from an RSA %d key (%d bytes)",
				  siglen, key->bits, size);
		return -EBADMSG;
	}
	return verify_evp(key, msg, msglen, sig, siglen, err, errlen);
}

int mfs_sig_verify(const struct mfs_key *key, const void *msg, size_t msglen,
		   const void *sig, size_t siglen, char *err, size_t errlen)
{
	enum mfs_sig_form form;

	return sig_verify(key, msg, msglen, sig, siglen, &form, err, errlen);
}

int mfs_sig_verify_any(const struct mfs_key *const *keys, size_t nkeys,
		       const void *msg, size_t msglen,
		       const void *sig, size_t siglen,
		       struct mfs_sig_attempt *attempts,
		       char *err, size_t errlen)
{
	char reason[MFS_SIG_REASON_LEN];
	enum mfs_sig_form form;
	size_t i;
	int ret = -EBADMSG;

	if (attempts)
		memset(attempts, 0, nkeys * sizeof(*attempts));
	if (nkeys == 0) {
		mfs_crypto_seterr(err, errlen, "no key to verify with");
		return -ENOKEY;
	}
	for (i = 0; i < nkeys; i++) {
		reason[0] = '\0';
		ret = sig_verify(keys[i], msg, msglen, sig, siglen, &form,
				 reason, sizeof(reason));
		if (attempts) {
			attempts[i].tried = true;
			attempts[i].ret = ret;
			attempts[i].form = form;
			memcpy(attempts[i].reason, reason, sizeof(reason));
		}
		if (ret == 0)
			return (int)i;
		if (ret != -EBADMSG) {
			mfs_crypto_seterr(err, errlen, "key %zu: %s", i + 1,
					  reason);
			return ret;
		}
	}
	if (nkeys == 1)
		mfs_crypto_seterr(err, errlen, "%s", reason);
	else
		mfs_crypto_seterr(err, errlen,
				  "none of the %zu keys verifies the signature",
				  nkeys);
	return -EBADMSG;
}

int mfs_sig_to_stored(const struct mfs_key *key, const void *sig,
		      size_t siglen, uint8_t **out, size_t *outlen)
{
	size_t len = key->type == MFS_KEY_EC_P256 &&
		     siglen != MFS_SIG_EC_RAW_LEN ? MFS_SIG_EC_RAW_LEN : siglen;
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return -ENOMEM;
	if (len != siglen) {
		if (mfs_ecdsa_der_to_raw(sig, siglen, buf, len) < 0) {
			free(buf);
			return -EINVAL;
		}
	} else {
		memcpy(buf, sig, len);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

enum mfs_sig_form mfs_sig_form_of(const void *sig, size_t siglen)
{
	uint8_t raw[MFS_SIG_EC_RAW_LEN];

	if (siglen >= RSA_SIG_MIN_LEN)
		return MFS_SIG_FORM_OTHER;
	/* Raw first, as verification tries it first. */
	if (siglen == MFS_SIG_EC_RAW_LEN)
		return MFS_SIG_FORM_EC_RAW;
	/* Strict DER: the decoder refuses trailing bytes and values wider
	 * than the curve. */
	if (mfs_ecdsa_der_to_raw(sig, siglen, raw, sizeof(raw)) == 0 &&
	    mfs_ecdsa_der_is_strict(sig, siglen))
		return MFS_SIG_FORM_EC_DER;
	return MFS_SIG_FORM_OTHER;
}

const char *mfs_sig_form_word(enum mfs_sig_form form)
{
	switch (form) {
	case MFS_SIG_FORM_EC_RAW:
		return "raw";
	case MFS_SIG_FORM_EC_DER:
		return "der";
	default:
		return NULL;
	}
}

const char *mfs_sig_mender_artifact_differs(enum mfs_sig_form form,
					    size_t siglen, char *buf,
					    size_t len)
{
	/* mender-artifact 3.9 reads an ECDSA signature as r||s of 64 bytes
	 * and refuses any other length ("invalid ecdsa key size"); a
	 * 64-byte DER signature it reads as r||s, which does not verify.
	 * (Later releases also parse DER, but only of exactly 72 bytes.) */
	if (form != MFS_SIG_FORM_EC_DER)
		return NULL;
	snprintf(buf, len,
		 "refuses an ECDSA signature in DER of %zu bytes (3.9 reads r||s of %d bytes only)",
		 siglen, MFS_SIG_EC_RAW_LEN);
	return buf;
}
