/*
 * What the files of crypto/ share and nobody else needs: the key
 * structure, the PKCS#11 loader that fills one, and the helpers that
 * turn a failure into the one-line reason handed back to the caller.
 */
#ifndef MFS_CRYPTO_I_H
#define MFS_CRYPTO_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/keys.h"

#define MFS_KEY_WARNING_LEN 128
#define MFS_KEY_BACKEND_LEN 256

struct mfs_key {
	EVP_PKEY *pkey;		/* as loaded: the private key when signing */
	EVP_PKEY *pub;		/* the public half, a plain in-memory key */
	ENGINE *engine;		/* functional reference, PKCS#11 keys only */
	char *name;		/* the path, or the URI without its PIN */
	enum mfs_key_type type;
	int bits;
	bool is_private;
	char warning[MFS_KEY_WARNING_LEN];
	const char *backend;	/* "provider" or "engine", PKCS#11 keys only */
	char backend_why[MFS_KEY_BACKEND_LEN];	/* why that one, for -d */
};

/* Writes the reason into err (when err is not NULL and errlen > 0). */
void mfs_crypto_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The same, with ": <OpenSSL's reason>" appended when OpenSSL queued
 * one.  Either way the thread's OpenSSL error queue is left empty, so a
 * stale entry never leaks into a later, unrelated call. */
void mfs_crypto_seterr_ossl(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "what: <strerror(errnum)>", errnum positive. */
void mfs_crypto_seterr_errno(char *err, size_t errlen, int errnum,
			     const char *what);

/* Checks that pub is a key we verify with (RSA of 1024 bits or more,
 * EC P-256) or, for_signing, one we sign with (RSA of 2048 bits or more,
 * EC P-256), and fills k->type and k->bits.  Returns 0 or -ENOTSUP with
 * the reason. */
int mfs_key_check_pub(EVP_PKEY *pub, bool for_signing, struct mfs_key *k,
		      char *err, size_t errlen);

/* Derives a plain public key from any key, including an engine's. */
int mfs_key_derive_pub(EVP_PKEY *pkey, EVP_PKEY **pub,
		       char *err, size_t errlen);

/* ECDSA P-256 signatures: raw r||s (64 bytes, what Mender stores) and
 * DER (what OpenSSL makes and takes).  *der is OPENSSL_malloc'd. */
int mfs_ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen,
			 unsigned char **der, size_t *derlen);
int mfs_ecdsa_der_to_raw(const unsigned char *der, size_t derlen,
			 uint8_t *raw, size_t rawlen);
/* der is a DER ECDSA signature exactly as OpenSSL would encode it. */
bool mfs_ecdsa_der_is_strict(const unsigned char *der, size_t derlen);

/* What a pkcs11: URI is loaded as: the private key (signing), or a
 * public key or certificate object (verifying). */
enum mfs_p11_object {
	MFS_P11_PRIVATE,
	MFS_P11_PUBLIC,
};

/* Loads the object named by a pkcs11: URI into k (pkey, engine when the
 * engine served it, name, backend and backend_why): through OSSL_STORE
 * when an OpenSSL provider handles the pkcs11 scheme, else through
 * libp11's engine (see mfs_key_load_pkcs11 for the choice).  Returns 0
 * or a negative errno with the reason. */
int mfs_p11_load(const char *uri, enum mfs_p11_object what, struct mfs_key *k,
		 char *err, size_t errlen);

/* Drops the functional reference mfs_p11_load took; accepts NULL. */
void mfs_p11_release(ENGINE *engine);

/* True when an OpenSSL provider offers an OSSL_STORE loader for the
 * pkcs11 scheme (pkcs11-provider loaded by openssl.cnf); its name then
 * goes to provider.  Leaves OpenSSL's error queue empty. */
bool mfs_p11_store_available(char *provider, size_t len);

/* Loads what through OSSL_STORE from uri (the URI without its PIN
 * attributes), giving pin (or NULL) to the provider's passphrase
 * callback.  *out is the provider's key.  Returns 0, -ENOENT (no such
 * object, or the store cannot be opened) or -ENOMEM, with the reason. */
int mfs_p11_store_load(const char *uri, const char *pin,
		       enum mfs_p11_object what, EVP_PKEY **out,
		       char *err, size_t errlen);

#endif
