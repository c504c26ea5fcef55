/*
 * Verifying an artifact as a device configured with ArtifactVerifyKey(s)
 * would before installing it: structure, then the signature over the raw
 * manifest, then every checksum the manifests list.  The first failing
 * stage decides the status; the details of every stage are kept for the
 * report.
 */
#ifndef MFS_VERIFY_ARTIFACT_H
#define MFS_VERIFY_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>

#include "artifact/artifact.h"
#include "crypto/keys.h"
#include "crypto/verify.h"

enum mfs_status {
	MFS_STATUS_VERIFIED,
	MFS_STATUS_UNSIGNED,
	MFS_STATUS_INVALID_SIGNATURE,
	MFS_STATUS_CHECKSUM_MISMATCH,
	MFS_STATUS_MALFORMED,
	MFS_STATUS_NO_KEYS,
};

/* What became of one name the manifests list, or one payload file. */
enum mfs_check {
	MFS_CHECK_OK,
	MFS_CHECK_MISMATCH,
	MFS_CHECK_MISSING,	/* listed, but no such file */
	MFS_CHECK_UNLISTED,	/* a payload file no manifest lists */
	MFS_CHECK_UNREADABLE,	/* its bytes could not be read whole */
};

/* Names are borrowed from the artifact verified (its manifests, its
 * payload tables): the verification is read, and its report rendered,
 * while that artifact is open. */
struct mfs_check_line {
	const char *dir;	/* "data/NNNN" before name, or NULL */
	const char *name;
	enum mfs_check result;
	bool augment;		/* listed in manifest-augment */
};

/* A payload file no manifest lists, by payload and entry index. */
struct mfs_unlisted {
	uint32_t payload, entry;
};

struct mfs_verification {
	enum mfs_status status;
	char reason[MFS_ERR_LEN];	/* why, when not verified */

	char structure[MFS_ERR_LEN];	/* "" when the structure is sound */
	/* What mender-artifact validate accepts that the client refuses
	 * (mfs_artifact_note_lenient), or "". */
	char lenient[MFS_ERR_LEN];
	/* manifest-augment or header-augment present: what they cover is
	 * not signed, and the report names it (unsigned: lines). */
	bool augmented;

	bool is_signed;
	bool signature_canonical;	/* base64 exactly as Mender writes it */
	char signature_problem[MFS_ERR_LEN];	/* undecodable base64 */
	enum mfs_sig_form signature_form;	/* ECDSA raw or DER, else OTHER */
	size_t signature_len;		/* decoded bytes */
	int key_index;			/* the key that verified, or -1 */
	size_t key_count;
	struct mfs_sig_attempt *attempts;	/* key_count of them */
	const struct mfs_key *const *keys;	/* borrowed, for names */

	bool manifest_sorted;		/* lines in name order, as written */

	struct mfs_check_line *lines;
	size_t line_count, line_capacity;
};

/* Verifies a with the keys, in order.  Reads every payload whole.  v
 * borrows names from a: use it, and render its report, before closing a.
 * Returns 0 with the outcome in v (destroy it after), or a negative
 * errno when verification itself could not run (-ENOMEM). */
int mfs_verify_artifact(struct mfs_artifact *a,
			const struct mfs_key *const *keys, size_t key_count,
			struct mfs_verification *v);

void mfs_verification_destroy(struct mfs_verification *v);

/* "verified", "unsigned", ... as the report's first line names them. */
const char *mfs_status_word(enum mfs_status s);
const char *mfs_check_word(enum mfs_check c);

/* Renders the report (see the man page for the format) into a malloc'd
 * NUL-terminated string.  Returns 0 or -ENOMEM. */
int mfs_verification_report(const struct mfs_verification *v, char **text,
			    size_t *len);

#endif
