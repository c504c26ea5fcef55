/* Loading the verification keys named by verify_key and mender_conf. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mender_conf.h"
#include "crypto/pkcs11.h"
#include "fs/keyring.h"

static int keyring_add(struct mfs_keyring *kr, const char *path)
{
	char err[256];
	struct mfs_key *key = NULL, **keys;
	int ret;

	ret = mfs_key_load_public(path, &key, err, sizeof(err));
	if (ret < 0) {
		char *shown = mfs_p11_redact(path);	/* never a PIN */

		fprintf(stderr, "menderfs: %s: %s\n", shown ? shown : "key",
			err);
		free(shown);
		return -1;
	}
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

int mfs_keyring_load(const struct mfs_options *opts, struct mfs_keyring *kr)
{
	char **conf_keys = NULL, err[256];
	size_t conf_count = 0;
	int ret = 0;

	memset(kr, 0, sizeof(*kr));
	for (size_t i = 0; i < opts->verify_key_count && ret == 0; i++)
		ret = keyring_add(kr, opts->verify_keys[i]);
	if (ret == 0 && opts->mender_conf) {
		if (mfs_mender_conf_keys(opts->mender_conf, &conf_keys,
					 &conf_count, err, sizeof(err)) < 0) {
			fprintf(stderr, "menderfs: %s: %s\n", opts->mender_conf,
				err);
			ret = -1;
		} else if (conf_count == 0) {
			fprintf(stderr, "menderfs: %s: names neither "
				"ArtifactVerifyKey nor ArtifactVerifyKeys\n",
				opts->mender_conf);
			ret = -1;
		}
		for (size_t i = 0; i < conf_count && ret == 0; i++)
			ret = keyring_add(kr, conf_keys[i]);
		mfs_mender_conf_free(conf_keys, conf_count);
	}
	if (ret < 0)
		mfs_keyring_destroy(kr);
	return ret;
}

void mfs_keyring_destroy(struct mfs_keyring *kr)
{
	for (size_t i = 0; i < kr->count; i++)
		mfs_key_close(kr->keys[i]);
	free(kr->keys);
	memset(kr, 0, sizeof(*kr));
}
