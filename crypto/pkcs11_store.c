/*
 * PKCS#11 objects through OSSL_STORE: what an OpenSSL 3 provider that
 * handles the pkcs11: scheme (pkcs11-provider, loaded by openssl.cnf)
 * serves.  No ENGINE call here, so this file builds with OpenSSL's
 * deprecation warnings on, and keeps building once the engine is gone.
 *
 * The provider reads the token and object attributes of the URI itself;
 * its module is the one openssl.cnf configures.  The PIN goes to it
 * through the passphrase callback, so it never travels in a URI that an
 * error message could quote.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

#include "crypto/crypto_i.h"

/* More would mean a URI that matches half the token: give up. */
#define P11_STORE_MAX_OBJECTS 256

bool mfs_p11_store_available(char *provider, size_t len)
{
	OSSL_STORE_LOADER *loader;
	const OSSL_PROVIDER *prov;
	const char *name = NULL;

	/* A failed fetch queues "unsupported"; that is an answer here,
	 * not an error for a later call to find. */
	loader = OSSL_STORE_LOADER_fetch(NULL, "pkcs11", NULL);
	if (!loader) {
		ERR_clear_error();
		return false;
	}
	prov = OSSL_STORE_LOADER_get0_provider(loader);
	if (prov)
		name = OSSL_PROVIDER_get0_name(prov);
	if (provider && len > 0)
		snprintf(provider, len, "%s", name ? name : "(unnamed)");
	OSSL_STORE_LOADER_free(loader);
	return true;
}

/* The passphrase callback: the PIN we were given, or a refusal, never a
 * prompt (a daemon has no terminal to ask on). */
static int store_pin_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pin = u;
	size_t n;

	(void)rwflag;
	if (!pin || size <= 0)
		return -1;
	n = strlen(pin);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pin, n);
	return (int)n;
}

/* The key an object gives: the private key itself, or for a public
 * load a public key object or a certificate's key.  NULL when the
 * object is of another kind. */
static EVP_PKEY *store_info_key(OSSL_STORE_INFO *info, enum mfs_p11_object what)
{
	EVP_PKEY *pkey = NULL;
	X509 *cert;

	switch (OSSL_STORE_INFO_get_type(info)) {
	case OSSL_STORE_INFO_PKEY:
		if (what == MFS_P11_PRIVATE)
			pkey = OSSL_STORE_INFO_get1_PKEY(info);
		break;
	case OSSL_STORE_INFO_PUBKEY:
		if (what == MFS_P11_PUBLIC)
			pkey = OSSL_STORE_INFO_get1_PUBKEY(info);
		break;
	case OSSL_STORE_INFO_CERT:
		if (what == MFS_P11_PUBLIC) {
			cert = OSSL_STORE_INFO_get0_CERT(info);
			pkey = cert ? X509_get_pubkey(cert) : NULL;
		}
		break;
	default:
		break;
	}
	return pkey;
}

int mfs_p11_store_load(const char *uri, const char *pin,
		       enum mfs_p11_object what, EVP_PKEY **out,
		       char *err, size_t errlen)
{
	const char *kind = what == MFS_P11_PRIVATE ?
		"private key" : "public key or certificate";
	OSSL_STORE_CTX *store = NULL;
	OSSL_STORE_INFO *info;
	UI_METHOD *ui = NULL;
	EVP_PKEY *pkey = NULL;
	int ret, n;

	ERR_clear_error();
	ui = UI_UTIL_wrap_read_pem_callback(store_pin_cb, 0);
	if (!ui) {
		ret = -ENOMEM;
		goto out;
	}
	/* ui_data is not const; the callback only reads the PIN. */
	store = OSSL_STORE_open_ex(uri, NULL, NULL, ui, (void *)pin, NULL,
				   NULL, NULL);
	if (!store) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "the OpenSSL pkcs11 provider cannot open the URI (wrong token or module?)");
		ret = -ENOENT;
		goto out;
	}
	if (what == MFS_P11_PRIVATE &&
	    OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY) != 1)
		ERR_clear_error();	/* only a hint to the provider */
	/* The first matching object wins, as with the engine. */
	for (n = 0; !pkey && n < P11_STORE_MAX_OBJECTS; n++) {
		if (OSSL_STORE_eof(store))
			break;
		info = OSSL_STORE_load(store);
		if (!info) {
			if (OSSL_STORE_error(store))
				break;
			continue;
		}
		pkey = store_info_key(info, what);
		OSSL_STORE_INFO_free(info);
	}
	if (!pkey) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "no %s on the PKCS#11 token matches (through the OpenSSL pkcs11 provider; wrong PIN, token or object?)",
				       kind);
		ret = -ENOENT;
		goto out;
	}

	*out = pkey;
	pkey = NULL;
	ret = 0;
out:
	EVP_PKEY_free(pkey);
	OSSL_STORE_close(store);
	UI_destroy_method(ui);
	return ret;
}
