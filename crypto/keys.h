/*
 * Keys for signing and verifying artifacts, as Mender's tools accept
 * them: RSA or EC on P-256.  A verify key may be RSA of 1024 bits or
 * more (Mender's tools verify with such keys; under 2048 bits it is
 * marked weak); a key we sign with must be RSA of 2048 bits or more.
 * Public keys come from PEM files, or from a public-key or certificate
 * object on a PKCS#11 token; private keys from PEM files or from a
 * PKCS#11 token.  Token objects are named by RFC 7512 URIs.
 *
 * Every loader returns 0 or a negative errno and, on failure, a one-line
 * reason in err that does not name the file (the caller adds the name).
 * A key is immutable once loaded and may be used from several threads.
 */
#ifndef MFS_KEYS_H
#define MFS_KEYS_H

#include <stdbool.h>
#include <stddef.h>

/* Largest key file read. */
#define MFS_KEY_MAX_FILE (1024 * 1024)

/* The least RSA size verified with, and the least signed with (under it
 * a verify key is weak). */
#define MFS_KEY_RSA_MIN_BITS 1024
#define MFS_KEY_RSA_STRONG_BITS 2048

enum mfs_key_type {
	MFS_KEY_RSA = 1,
	MFS_KEY_EC_P256,
};

struct mfs_key;

/* A PEM public key: SPKI ("BEGIN PUBLIC KEY") or PKCS#1 ("BEGIN RSA
 * PUBLIC KEY").  Errors: the open/read errno (-ENOENT, -EACCES, ...),
 * -EFBIG, -EINVAL (not a PEM public key, a private key or certificate
 * given instead), -ENOTSUP (type, curve or size not accepted),
 * -ENOMEM. */
int mfs_key_load_public(const char *path, struct mfs_key **out,
			char *err, size_t errlen);

/* A PEM private key: RSA in PKCS#1 or PKCS#8, EC in SEC1 or PKCS#8,
 * unencrypted.  Errors as for mfs_key_load_public, plus -EINVAL for an
 * encrypted key.  A file that group or others can access loads, with
 * mfs_key_warning() saying so. */
int mfs_key_load_private_pem(const char *path, struct mfs_key **out,
			     char *err, size_t errlen);

/* A private key on a PKCS#11 token,
 * e.g. "pkcs11:token=menderfs;object=rsa;pin-value=1234".
 * The PIN comes from the URI's pin-value, or from the file its
 * pin-source names.  It is read through OSSL_STORE when an OpenSSL
 * provider handles the pkcs11 scheme (pkcs11-provider, loaded by
 * openssl.cnf, with the module that configuration names) and no module
 * is named for the key; otherwise through OpenSSL's "pkcs11" engine
 * (libp11), with the module from the URI's module-path, else from the
 * PKCS11_MODULE_PATH environment variable, else the engine's default
 * (p11-kit's proxy).  mfs_key_backend() says which served it.  The public half is read from the token and kept
 * for verification.  PKCS#11 logins are per process: once a token has
 * been logged in to, later loads from it in the same process do not
 * check the PIN again, and the first PKCS#11 module loaded serves every
 * later pkcs11: key of the process.  Errors: -ENOPKG (no engine), -EINVAL (bad URI),
 * -ENOENT (no such object, or no public half), -EIO (token or module
 * failure), -ENOTSUP, -ENOMEM. */
int mfs_key_load_pkcs11(const char *uri, struct mfs_key **out,
			char *err, size_t errlen);

/* A public key object or, failing that, a certificate object on a
 * PKCS#11 token ("type=public" or "type=cert" in the URI keeps to that
 * kind), loaded as mfs_key_load_pkcs11 loads a private key and then
 * kept as a plain public key: verifying needs no token.  Errors as for
 * mfs_key_load_pkcs11; -ENOTSUP for a key we do not verify with. */
int mfs_key_load_pkcs11_public(const char *uri, struct mfs_key **out,
			       char *err, size_t errlen);

/* mfs_key_load_pkcs11_public for a "pkcs11:" spec, else
 * mfs_key_load_public: what -o verify_key= takes. */
int mfs_key_load_verify(const char *spec, struct mfs_key **out,
			char *err, size_t errlen);

/* mfs_key_load_pkcs11 for a "pkcs11:" spec, else mfs_key_load_private_pem:
 * what -o sign_key= takes. */
int mfs_key_load_private(const char *spec, struct mfs_key **out,
			 char *err, size_t errlen);

/* Accepts NULL. */
void mfs_key_close(struct mfs_key *key);

enum mfs_key_type mfs_key_type(const struct mfs_key *key);
int mfs_key_bits(const struct mfs_key *key);
bool mfs_key_is_private(const struct mfs_key *key);

/* "RSA 3072", "RSA 1024, weak" or "EC P-256". */
const char *mfs_key_describe(const struct mfs_key *key, char *buf, size_t len);

/* An RSA key under MFS_KEY_RSA_STRONG_BITS. */
bool mfs_key_is_weak(const struct mfs_key *key);

/* A public key of its own (verifying only) from the public half of key,
 * named as key is: sign_key's half among the verify keys.  Returns 0 or
 * -ENOMEM. */
int mfs_key_public_of(const struct mfs_key *key, struct mfs_key **out);

/* The path as given, or the URI without its PIN attributes. */
const char *mfs_key_name(const struct mfs_key *key);

/* What read a PKCS#11 key: "provider" (OSSL_STORE) or "engine"
 * (libp11); NULL for a key from a file. */
const char *mfs_key_backend(const struct mfs_key *key);

/* Why that one was chosen, one line for a debug log; NULL for a key
 * from a file. */
const char *mfs_key_backend_reason(const struct mfs_key *key);

/* A one-line warning about the key (a private key file group or others
 * can access, a weak verify key), or NULL. */
const char *mfs_key_warning(const struct mfs_key *key);

#endif
