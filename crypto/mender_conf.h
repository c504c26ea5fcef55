/*
 * The verification keys a Mender client configuration names:
 * "ArtifactVerifyKey" (one path) or "ArtifactVerifyKeys" (a list, tried
 * in order, each path once).  Both set is an error, as it is for the
 * client.
 */
#ifndef MFS_MENDER_CONF_H
#define MFS_MENDER_CONF_H

#include <stddef.h>

/* Largest configuration file read. */
#define MFS_MENDER_CONF_MAX (1024 * 1024)

/* Reads the key paths of the configuration at path into a malloc'd array
 * of malloc'd strings (free with mfs_mender_conf_free).  Returns 0 (with
 * *count 0 when the file names no key), or a negative errno with the
 * reason in err: the read error, or -EINVAL for bad JSON or both keys. */
int mfs_mender_conf_keys(const char *path, char ***paths, size_t *count,
			 char *err, size_t errlen);

void mfs_mender_conf_free(char **paths, size_t count);

#endif
