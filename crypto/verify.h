/*
 * Signature verification as the Mender client does it: SHA-256 over the
 * raw manifest bytes, RSA PKCS#1 v1.5 or ECDSA P-256.
 */
#ifndef MFS_VERIFY_H
#define MFS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"

#define MFS_SIG_REASON_LEN 256

/* Verifies the binary signature sig (already base64-decoded) over msg
 * with key (a public key, or the public half of a private one).  An
 * ECDSA signature may be raw r||s, 64 bytes, as mender-artifact writes
 * it, or DER, as HSMs and `openssl dgst` produce it.  Returns 0 when it
 * verifies; -EBADMSG when it does not (or does not fit the key), with
 * the reason; -ENOMEM or -EIO when the check itself could not run. */
int mfs_sig_verify(const struct mfs_key *key, const void *msg, size_t msglen,
		   const void *sig, size_t siglen, char *err, size_t errlen);

/* The shape of a signature's bytes: for ECDSA, the two forms the client
 * accepts. */
enum mfs_sig_form {
	MFS_SIG_FORM_OTHER = 0,	/* RSA, or bytes of no ECDSA form */
	MFS_SIG_FORM_EC_RAW,	/* r||s, 64 bytes, as Mender writes it */
	MFS_SIG_FORM_EC_DER,	/* DER SEQUENCE { r, s }, as HSMs and KMSs give it */
};

/* One key's outcome in mfs_sig_verify_any. */
struct mfs_sig_attempt {
	bool tried;		/* false for keys after the one that verified */
	int ret;		/* as mfs_sig_verify returned */
	enum mfs_sig_form form;	/* the form that verified (EC keys) */
	char reason[MFS_SIG_REASON_LEN];	/* "" when it verified */
};

/* The form of sig judged from its bytes alone, before any key: shorter
 * than any RSA signature (1024 bits and up) and strict DER is EC_DER,
 * else 64 bytes is EC_RAW.  A 64-byte signature can be either; the
 * attempt that verified it says which it was. */
enum mfs_sig_form mfs_sig_form_of(const void *sig, size_t siglen);

/* "raw", "der", or NULL for MFS_SIG_FORM_OTHER. */
const char *mfs_sig_form_word(enum mfs_sig_form form);

/* Where mender-artifact validate (3.9) judges a signature of this form
 * and length otherwise than the client: its ECDSA reader takes r||s of
 * 64 bytes only, so it refuses every DER signature the client accepts.
 * Writes the reason into buf and returns it, or returns NULL when
 * mender-artifact agrees. */
const char *mfs_sig_mender_artifact_differs(enum mfs_sig_form form,
					    size_t siglen, char *buf,
					    size_t len);

/* Tries keys[0..nkeys) in order and stops at the first that verifies
 * (the client's ArtifactVerifyKeys rule).  Returns that key's index, or
 * -ENOKEY when nkeys is 0, or -EBADMSG when none verifies, or the first
 * error that stopped the check (-ENOMEM, -EIO).  attempts, when not
 * NULL, has room for nkeys outcomes and is filled in either case. */
int mfs_sig_verify_any(const struct mfs_key *const *keys, size_t nkeys,
		       const void *msg, size_t msglen,
		       const void *sig, size_t siglen,
		       struct mfs_sig_attempt *attempts,
		       char *err, size_t errlen);

/* The signature as manifest.sig stores it for key: an ECDSA signature
 * given as DER becomes raw r||s (64 bytes, what Mender's tools read);
 * anything else is copied.  *out is malloc'd.  Returns 0, -EINVAL for a
 * DER signature that does not parse, or -ENOMEM. */
int mfs_sig_to_stored(const struct mfs_key *key, const void *sig,
		      size_t siglen, uint8_t **out, size_t *outlen);

#endif
