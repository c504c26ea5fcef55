/* Loading the verification keys named by verify_key and mender_conf,
 * and taking sign_key's public half after them. */
#include <errno.h>
#include <fuse_log.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mender_conf.h"
#include "crypto/pkcs11.h"
#include "fs/keyring.h"

/* Under -d: which PKCS#11 glue read the key, and why that one. */
static void log_backend(const struct mfs_keyring *kr, const struct mfs_key *key)
{
	if (!kr->debug || !mfs_key_backend(key))
		return;
	fuse_log(FUSE_LOG_DEBUG, "menderfs: %s: read through the pkcs11 %s: %s\n",
		 mfs_key_name(key), mfs_key_backend(key),
		 mfs_key_backend_reason(key));
}

/* Takes key into the keyring, or closes it. */
static int keyring_push(struct mfs_keyring *kr, struct mfs_key *key)
{
	struct mfs_key **keys;

	keys = realloc(kr->keys, (kr->count + 1) * sizeof(*keys));
	if (!keys) {
		mfs_key_close(key);
		fprintf(stderr, "menderfs: out of memory\n");
		return -1;
	}
	kr->keys = keys;
	kr->keys[kr->count++] = key;
	return 0;
}

/* A verify_key (a PEM file or a pkcs11: URI), or with conf a key that
 * mender.conf names: a file, as the client reads nothing else there. */
static int keyring_add(struct mfs_keyring *kr, const char *spec, bool conf)
{
	char err[256];
	struct mfs_key *key = NULL;
	int ret;

	char *shown = mfs_p11_redact(spec);	/* never a PIN */

	if (conf)
		ret = mfs_key_load_public(spec, &key, err, sizeof(err));
	else
		ret = mfs_key_load_verify(spec, &key, err, sizeof(err));
	if (ret < 0)
		fprintf(stderr, "menderfs: %s: %s\n", shown ? shown : "key",
			err);
	else if (mfs_key_warning(key))
		fprintf(stderr, "menderfs: warning: %s: %s\n",
			shown ? shown : "key", mfs_key_warning(key));
	free(shown);
	if (ret < 0)
		return -1;
	log_backend(kr, key);
	return keyring_push(kr, key);
}

int mfs_keyring_load(const struct mfs_options *opts, struct mfs_keyring *kr)
{
	char **conf_keys = NULL, err[256];
	size_t conf_count = 0;
	int ret = 0;

	memset(kr, 0, sizeof(*kr));
	kr->debug = opts->debug;
	for (size_t i = 0; i < opts->verify_key_count && ret == 0; i++)
		ret = keyring_add(kr, opts->verify_keys[i], false);
	if (ret == 0 && opts->mender_conf) {
		if (mfs_mender_conf_keys(opts->mender_conf, &conf_keys,
					 &conf_count, err, sizeof(err)) < 0) {
			fprintf(stderr, "menderfs: %s: %s\n", opts->mender_conf,
				err);
			ret = -1;
		}
		/* One naming no key is a device's ordinary configuration:
		 * it adds none, and the artifact is judged as such a
		 * device judges it. */
		for (size_t i = 0; i < conf_count && ret == 0; i++)
			ret = keyring_add(kr, conf_keys[i], true);
		mfs_mender_conf_free(conf_keys, conf_count);
	}
	if (ret < 0)
		mfs_keyring_destroy(kr);
	return ret;
}

int mfs_keyring_add_sign_key(struct mfs_keyring *kr, const struct mfs_key *key)
{
	struct mfs_key *pub = NULL;

	log_backend(kr, key);
	if (mfs_key_public_of(key, &pub) < 0) {
		fprintf(stderr, "menderfs: out of memory\n");
		goto fail;
	}
	if (keyring_push(kr, pub) < 0)
		goto fail;
	return 0;
fail:
	mfs_keyring_destroy(kr);
	return -1;
}

void mfs_keyring_destroy(struct mfs_keyring *kr)
{
	for (size_t i = 0; i < kr->count; i++)
		mfs_key_close(kr->keys[i]);
	free(kr->keys);
	memset(kr, 0, sizeof(*kr));
}
