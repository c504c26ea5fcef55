/* The verification keys the command line names, loaded at start-up. */
#ifndef MFS_KEYRING_H
#define MFS_KEYRING_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/keys.h"
#include "fs/options.h"

struct mfs_keyring {
	struct mfs_key **keys;	/* verify_key options, then mender_conf's,
				 * then sign_key's public half */
	size_t count;
	bool debug;		/* -d: log which PKCS#11 glue read each key */
};

/* Loads every key.  On failure prints one line naming the file (or the
 * URI, its PIN shown as pin-value=***) and the reason on stderr and
 * returns -1; the keyring is then empty.  Under -d, logs which PKCS#11
 * glue read each pkcs11: key and why. */
int mfs_keyring_load(const struct mfs_options *opts, struct mfs_keyring *kr);

/* Appends the public half of sign_key (SPEC: it judges .verify after the
 * verify keys), and under -d logs what read sign_key.  On failure prints
 * the reason, empties the keyring and returns -1. */
int mfs_keyring_add_sign_key(struct mfs_keyring *kr, const struct mfs_key *key);

void mfs_keyring_destroy(struct mfs_keyring *kr);

#endif
