/*
 * Loading and checking keys.  PEM is read with OpenSSL's PEM reader so
 * the block's label can be told apart ("this is a private key" is more
 * use to a user than "decoder routines::unsupported"); the DER inside
 * goes to OpenSSL's d2i functions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/crypto_i.h"
#include "crypto/keys.h"

/* Reads the whole file.  *mode gets the permission bits.  The buffer is
 * NUL-terminated and must be released with OPENSSL_clear_free(). */
static int read_key_file(const char *path, char **buf, size_t *len,
			 mode_t *mode, char *err, size_t errlen)
{
	char *data = NULL, *bigger;
	size_t used = 0, cap = 4096;
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		mfs_crypto_seterr_errno(err, errlen, -ret, "cannot open");
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		mfs_crypto_seterr_errno(err, errlen, -ret, "cannot stat");
		goto out;
	}
	data = OPENSSL_malloc(cap);
	if (!data) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (used > MFS_KEY_MAX_FILE) {
			mfs_crypto_seterr(err, errlen,
					  "too large for a key file (%d bytes maximum)",
					  MFS_KEY_MAX_FILE);
			ret = -EFBIG;
			goto out;
		}
		if (used + 1 == cap) {
			/* clear_realloc leaves no copy of a private key in
			 * freed memory. */
			bigger = OPENSSL_clear_realloc(data, cap, cap * 2);
			if (!bigger) {
				ret = -ENOMEM;
				goto out;
			}
			data = bigger;
			cap *= 2;
		}
		n = read(fd, data + used, cap - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			mfs_crypto_seterr_errno(err, errlen, -ret,
						"cannot read");
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	data[used] = '\0';

	*buf = data;
	data = NULL;
	*len = used;
	*mode = st.st_mode;
	ret = 0;
out:
	OPENSSL_clear_free(data, cap);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* One PEM block as read by PEM_read_bio. */
struct pem_block {
	char *name;
	char *header;
	unsigned char *data;
	long len;
};

static void pem_block_clear(struct pem_block *b)
{
	OPENSSL_free(b->name);
	OPENSSL_free(b->header);
	if (b->data)
		OPENSSL_clear_free(b->data, (size_t)b->len);
	memset(b, 0, sizeof(*b));
}

/* Reads the first PEM block of buf that is not "EC PARAMETERS" (which
 * `openssl ecparam -genkey` writes ahead of the key).  what is "public"
 * or "private", for the reason. */
static int read_pem_block(const char *buf, size_t len, const char *what,
			  struct pem_block *b, char *err, size_t errlen)
{
	BIO *bio = NULL;
	unsigned long e;
	int ret;

	if (len > 0x7fffffff) {
		ret = -EFBIG;
		goto out;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (!PEM_read_bio(bio, &b->name, &b->header, &b->data, &b->len)) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				mfs_crypto_seterr(err, errlen,
						  "not a PEM %s key", what);
			} else {
				mfs_crypto_seterr_ossl(err, errlen,
						       "malformed PEM");
			}
			ret = -EINVAL;
			goto out;
		}
		if (strcmp(b->name, "EC PARAMETERS") != 0)
			break;
		pem_block_clear(b);
	}
	ret = 0;
out:
	if (ret < 0)
		pem_block_clear(b);
	BIO_free(bio);
	return ret;
}

/* Checks that a d2i call consumed the whole block. */
static int check_consumed(EVP_PKEY *pkey, const unsigned char *p,
			  const struct pem_block *b, char *err, size_t errlen)
{
	if (!pkey) {
		mfs_crypto_seterr_ossl(err, errlen, "cannot decode the %s block",
				       b->name);
		return -EINVAL;
	}
	if (p != b->data + b->len) {
		mfs_crypto_seterr(err, errlen,
				  "trailing bytes after the key in the %s block",
				  b->name);
		return -EINVAL;
	}
	return 0;
}

static int decode_public(const struct pem_block *b, EVP_PKEY **out,
			 char *err, size_t errlen)
{
	const unsigned char *p = b->data;
	EVP_PKEY *pkey = NULL;
	int ret;

	if (strcmp(b->name, "PUBLIC KEY") == 0) {
		pkey = d2i_PUBKEY(NULL, &p, b->len);
	} else if (strcmp(b->name, "RSA PUBLIC KEY") == 0) {
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, b->len);
	} else if (strstr(b->name, "PRIVATE KEY")) {
		mfs_crypto_seterr(err, errlen,
				  "this is a private key; give the public key");
		ret = -EINVAL;
		goto out;
	} else if (strcmp(b->name, "CERTIFICATE") == 0) {
		mfs_crypto_seterr(err, errlen,
				  "this is a certificate; give the public key");
		ret = -EINVAL;
		goto out;
	} else {
		mfs_crypto_seterr(err, errlen,
				  "not a PEM public key (found \"%s\")", b->name);
		ret = -EINVAL;
		goto out;
	}
	ret = check_consumed(pkey, p, b, err, errlen);
	if (ret < 0)
		goto out;

	*out = pkey;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	return ret;
}

static int decode_private(const struct pem_block *b, EVP_PKEY **out,
			  char *err, size_t errlen)
{
	const unsigned char *p = b->data;
	EVP_PKEY *pkey = NULL;
	int ret;

	if (strcmp(b->name, "ENCRYPTED PRIVATE KEY") == 0 ||
	    (b->header && b->header[0])) {
		/* A daemon has nobody to ask for a passphrase. */
		mfs_crypto_seterr(err, errlen,
				  "encrypted private keys are not supported");
		ret = -EINVAL;
		goto out;
	}
	if (strcmp(b->name, "PRIVATE KEY") == 0) {
		pkey = d2i_AutoPrivateKey(NULL, &p, b->len);
	} else if (strcmp(b->name, "RSA PRIVATE KEY") == 0) {
		pkey = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, b->len);
	} else if (strcmp(b->name, "EC PRIVATE KEY") == 0) {
		pkey = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, b->len);
	} else if (strstr(b->name, "PUBLIC KEY")) {
		mfs_crypto_seterr(err, errlen,
				  "this is a public key; give the private key");
		ret = -EINVAL;
		goto out;
	} else if (strcmp(b->name, "CERTIFICATE") == 0) {
		mfs_crypto_seterr(err, errlen,
				  "this is a certificate; give the private key");
		ret = -EINVAL;
		goto out;
	} else {
		mfs_crypto_seterr(err, errlen,
				  "not a PEM private key (found \"%s\")", b->name);
		ret = -EINVAL;
		goto out;
	}
	ret = check_consumed(pkey, p, b, err, errlen);
	if (ret < 0)
		goto out;

	*out = pkey;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	return ret;
}

int mfs_key_check_pub(EVP_PKEY *pub, bool for_signing, struct mfs_key *k,
		      char *err, size_t errlen)
{
	/* Mender's tools verify with RSA keys of 1024 bits (mender-artifact's
	 * own reader tests sign with one), so a device may hold one; what we
	 * sign with ourselves must be strong. */
	int min_bits = for_signing ? MFS_KEY_RSA_STRONG_BITS : MFS_KEY_RSA_MIN_BITS;
	char curve[64];
	const char *name;
	size_t n = 0;
	int bits;

	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pub);
		if (bits < min_bits) {
			mfs_crypto_seterr(err, errlen,
					  "RSA key of %d bits is too small (%d minimum%s)",
					  bits, min_bits,
					  for_signing ? " for signing" : "");
			return -ENOTSUP;
		}
		k->type = MFS_KEY_RSA;
		k->bits = bits;
		return 0;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pub, curve, sizeof(curve), &n) != 1) {
			ERR_clear_error();
			mfs_crypto_seterr(err, errlen,
					  "EC key without a named curve is not supported (P-256 only)");
			return -ENOTSUP;
		}
		if (strcmp(curve, "prime256v1") != 0) {
			mfs_crypto_seterr(err, errlen,
					  "EC curve %s is not supported (P-256 only)",
					  curve);
			return -ENOTSUP;
		}
		k->type = MFS_KEY_EC_P256;
		k->bits = 256;
		return 0;
	default:
		name = EVP_PKEY_get0_type_name(pub);
		mfs_crypto_seterr(err, errlen,
				  "%s keys are not supported (RSA or EC P-256 only)",
				  name ? name : "these");
		return -ENOTSUP;
	}
}

int mfs_key_derive_pub(EVP_PKEY *pkey, EVP_PKEY **pub,
		       char *err, size_t errlen)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *key = NULL;
	int len, ret;

	/* A DER round trip gives a plain key that needs neither the
	 * private part nor an engine to verify with. */
	len = i2d_PUBKEY(pkey, &der);
	if (len <= 0) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "cannot derive the public key");
		ret = -ENOENT;
		goto out;
	}
	p = der;
	key = d2i_PUBKEY(NULL, &p, len);
	if (!key) {
		mfs_crypto_seterr_ossl(err, errlen,
				       "cannot derive the public key");
		ret = -EINVAL;
		goto out;
	}

	*pub = key;
	key = NULL;
	ret = 0;
out:
	EVP_PKEY_free(key);
	OPENSSL_free(der);
	return ret;
}

static struct mfs_key *key_new(const char *name)
{
	struct mfs_key *k;

	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->name = strdup(name);
	if (!k->name) {
		free(k);
		return NULL;
	}
	return k;
}

int mfs_key_load_public(const char *path, struct mfs_key **out,
			char *err, size_t errlen)
{
	struct pem_block b = { 0 };
	struct mfs_key *k = NULL;
	char *buf = NULL;
	size_t len = 0;
	mode_t mode;
	int ret;

	/* A stale entry would otherwise be taken for our failure's reason. */
	ERR_clear_error();
	ret = read_key_file(path, &buf, &len, &mode, err, errlen);
	if (ret < 0)
		goto out;
	ret = read_pem_block(buf, len, "public", &b, err, errlen);
	if (ret < 0)
		goto out;
	k = key_new(path);
	if (!k) {
		ret = -ENOMEM;
		goto out;
	}
	ret = decode_public(&b, &k->pkey, err, errlen);
	if (ret < 0)
		goto out;
	ret = mfs_key_check_pub(k->pkey, false, k, err, errlen);
	if (ret < 0)
		goto out;
	if (mfs_key_is_weak(k))
		snprintf(k->warning, sizeof(k->warning),
			 "RSA key of %d bits is weak (%d or more advised)",
			 k->bits, MFS_KEY_RSA_STRONG_BITS);
	if (EVP_PKEY_up_ref(k->pkey) != 1) {
		ret = -ENOMEM;
		goto out;
	}
	k->pub = k->pkey;

	*out = k;
	k = NULL;
out:
	mfs_key_close(k);
	pem_block_clear(&b);
	OPENSSL_clear_free(buf, len);
	return ret;
}

int mfs_key_load_private_pem(const char *path, struct mfs_key **out,
			     char *err, size_t errlen)
{
	struct pem_block b = { 0 };
	struct mfs_key *k = NULL;
	char *buf = NULL;
	size_t len = 0;
	mode_t mode = 0;
	int ret;

	ERR_clear_error();
	ret = read_key_file(path, &buf, &len, &mode, err, errlen);
	if (ret < 0)
		goto out;
	ret = read_pem_block(buf, len, "private", &b, err, errlen);
	if (ret < 0)
		goto out;
	k = key_new(path);
	if (!k) {
		ret = -ENOMEM;
		goto out;
	}
	ret = decode_private(&b, &k->pkey, err, errlen);
	if (ret < 0)
		goto out;
	ret = mfs_key_derive_pub(k->pkey, &k->pub, err, errlen);
	if (ret < 0)
		goto out;
	ret = mfs_key_check_pub(k->pub, true, k, err, errlen);
	if (ret < 0)
		goto out;
	k->is_private = true;
	if (mode & 077)
		snprintf(k->warning, sizeof(k->warning),
			 "private key file is accessible by group or others (mode %04o)",
			 (unsigned int)(mode & 07777));

	*out = k;
	k = NULL;
out:
	mfs_key_close(k);
	pem_block_clear(&b);
	OPENSSL_clear_free(buf, len);
	return ret;
}

/* A key on a token, private (to sign with) or public (to verify with).
 * Either way the public half used for checks and verifying is a plain
 * copy in pub, never the token.  The token's key and the engine are kept
 * until close all the same: finishing libp11's engine while it still
 * tracks the object leaks what it holds for it. */
static int load_from_token(const char *uri, bool private, struct mfs_key **out,
			   char *err, size_t errlen)
{
	struct mfs_key *k = NULL;
	int ret;

	k = calloc(1, sizeof(*k));
	if (!k) {
		ret = -ENOMEM;
		goto out;
	}
	ret = mfs_p11_load(uri, private ? MFS_P11_PRIVATE : MFS_P11_PUBLIC, k,
			   err, errlen);
	if (ret < 0)
		goto out;
	ret = mfs_key_derive_pub(k->pkey, &k->pub, err, errlen);
	if (ret < 0) {
		if (private)
			mfs_crypto_seterr(err, errlen,
					  "the token holds no public key or certificate for this private key");
		goto out;
	}
	ret = mfs_key_check_pub(k->pub, private, k, err, errlen);
	if (ret < 0)
		goto out;
	k->is_private = private;
	if (!private && mfs_key_is_weak(k))
		snprintf(k->warning, sizeof(k->warning),
			 "RSA key of %d bits is weak (%d or more advised)",
			 k->bits, MFS_KEY_RSA_STRONG_BITS);

	*out = k;
	k = NULL;
out:
	mfs_key_close(k);
	return ret;
}

int mfs_key_load_pkcs11(const char *uri, struct mfs_key **out,
			char *err, size_t errlen)
{
	return load_from_token(uri, true, out, err, errlen);
}

int mfs_key_load_pkcs11_public(const char *uri, struct mfs_key **out,
			       char *err, size_t errlen)
{
	return load_from_token(uri, false, out, err, errlen);
}

int mfs_key_load_verify(const char *spec, struct mfs_key **out,
			char *err, size_t errlen)
{
	if (strncasecmp(spec, "pkcs11:", 7) == 0)
		return mfs_key_load_pkcs11_public(spec, out, err, errlen);
	return mfs_key_load_public(spec, out, err, errlen);
}

int mfs_key_load_private(const char *spec, struct mfs_key **out,
			 char *err, size_t errlen)
{
	if (strncasecmp(spec, "pkcs11:", 7) == 0)
		return mfs_key_load_pkcs11(spec, out, err, errlen);
	return mfs_key_load_private_pem(spec, out, err, errlen);
}

void mfs_key_close(struct mfs_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pub);
	EVP_PKEY_free(key->pkey);
	mfs_p11_release(key->engine);
	free(key->name);
	free(key);
}

enum mfs_key_type mfs_key_type(const struct mfs_key *key)
{
	return key->type;
}

int mfs_key_bits(const struct mfs_key *key)
{
	return key->bits;
}

bool mfs_key_is_private(const struct mfs_key *key)
{
	return key->is_private;
}

const char *mfs_key_describe(const struct mfs_key *key, char *buf, size_t len)
{
	if (key->type == MFS_KEY_EC_P256)
		snprintf(buf, len, "EC P-256");
	else
		snprintf(buf, len, "RSA %d%s", key->bits,
			 mfs_key_is_weak(key) ? ", weak" : "");
	return buf;
}

bool mfs_key_is_weak(const struct mfs_key *key)
{
	return key->type == MFS_KEY_RSA && key->bits < MFS_KEY_RSA_STRONG_BITS;
}

int mfs_key_public_of(const struct mfs_key *key, struct mfs_key **out)
{
	struct mfs_key *k;

	k = key_new(key->name);
	if (!k)
		return -ENOMEM;
	if (EVP_PKEY_up_ref(key->pub) != 1) {
		mfs_key_close(k);
		return -ENOMEM;
	}
	/* Both fields own a reference, as for a loaded public key. */
	k->pkey = key->pub;
	if (EVP_PKEY_up_ref(key->pub) != 1) {
		mfs_key_close(k);
		return -ENOMEM;
	}
	k->pub = key->pub;
	k->type = key->type;
	k->bits = key->bits;
	*out = k;
	return 0;
}

const char *mfs_key_name(const struct mfs_key *key)
{
	return key->name;
}

const char *mfs_key_backend(const struct mfs_key *key)
{
	return key->backend;
}

const char *mfs_key_backend_reason(const struct mfs_key *key)
{
	return key->backend ? key->backend_why : NULL;
}

const char *mfs_key_warning(const struct mfs_key *key)
{
	return key->warning[0] ? key->warning : NULL;
}
