/*
 * Signing.  OpenSSL gives ECDSA as DER; Mender wants r||s, so the DER is
 * converted before anything leaves this file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "crypto/base64.h"
#include "crypto/crypto_i.h"
#include "crypto/sign.h"
#include "crypto/verify.h"

/* Signs in OpenSSL's shape.  *out is OPENSSL_malloc'd. */
static int sign_evp(const struct mfs_key *key, const void *msg, size_t msglen,
		    unsigned char **out, size_t *outlen,
		    char *err, size_t errlen)
{
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig = NULL;
	size_t len = 0;
	int ret;

	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		ret = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key->pkey) != 1 ||
	    (key->type == MFS_KEY_RSA &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)) {
		mfs_crypto_seterr_ossl(err, errlen, "cannot set up signing");
		ret = -EIO;
		goto out;
	}
	if (EVP_DigestSignUpdate(ctx, msg, msglen) != 1 ||
	    EVP_DigestSignFinal(ctx, NULL, &len) != 1) {
		mfs_crypto_seterr_ossl(err, errlen, "cannot sign");
		ret = -EIO;
		goto out;
	}
	sig = OPENSSL_malloc(len);
	if (!sig) {
		ret = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSignFinal(ctx, sig, &len) != 1) {
		mfs_crypto_seterr_ossl(err, errlen, "cannot sign");
		ret = -EIO;
		goto out;
	}

	*out = sig;
	sig = NULL;
	*outlen = len;
	ret = 0;
out:
	OPENSSL_free(sig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

int mfs_sig_sign_raw(const struct mfs_key *key, const void *msg,
		     size_t msglen, uint8_t **sig, size_t *siglen,
		     char *err, size_t errlen)
{
	unsigned char *made = NULL;
	uint8_t *result = NULL;
	char why[MFS_SIG_REASON_LEN];
	size_t madelen = 0, len;
	int ret;

	ERR_clear_error();
	if (!key->is_private) {
		mfs_crypto_seterr(err, errlen,
				  "a public key cannot sign; give the private key");
		ret = -EINVAL;
		goto out;
	}
	ret = sign_evp(key, msg, msglen, &made, &madelen, err, errlen);
	if (ret < 0)
		goto out;
	len = key->type == MFS_KEY_EC_P256 ? MFS_SIG_EC_RAW_LEN : madelen;
	result = malloc(len);
	if (!result) {
		ret = -ENOMEM;
		goto out;
	}
	if (key->type == MFS_KEY_EC_P256) {
		ret = mfs_ecdsa_der_to_raw(made, madelen, result, len);
		if (ret < 0) {
			mfs_crypto_seterr(err, errlen,
					  "the ECDSA signature made is not a P-256 signature");
			ret = -EIO;
			goto out;
		}
	} else {
		memcpy(result, made, len);
	}
	/* Check our own work: a token may hold a public object that does
	 * not belong to the private one, and a fault must not ship. */
	ret = mfs_sig_verify(key, msg, msglen, result, len, why, sizeof(why));
	if (ret < 0) {
		mfs_crypto_seterr(err, errlen,
				  "the signature made does not verify with the key's public half: %s",
				  why);
		ret = -EIO;
		goto out;
	}

	*sig = result;
	result = NULL;
	*siglen = len;
	ret = 0;
out:
	free(result);
	OPENSSL_free(made);
	return ret;
}

int mfs_sig_sign(const struct mfs_key *key, const void *msg, size_t msglen,
		 char **b64, char *err, size_t errlen)
{
	uint8_t *sig = NULL;
	size_t len = 0;
	int ret;

	ret = mfs_sig_sign_raw(key, msg, msglen, &sig, &len, err, errlen);
	if (ret < 0)
		goto out;
	ret = mfs_b64_encode(sig, len, b64);
	if (ret < 0)
		mfs_crypto_seterr(err, errlen, "cannot encode the signature");
out:
	free(sig);
	return ret;
}
