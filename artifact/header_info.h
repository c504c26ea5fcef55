/*
 * The JSON inside the header (header-info, headers/NNNN/type-info,
 * headers/NNNN/meta-data), checked with json-c against what the Mender
 * client reads, and against the payload members actually present.
 */
#ifndef MFS_HEADER_INFO_H
#define MFS_HEADER_INFO_H

#include <stddef.h>

#include "artifact/artifact.h"

/* Returns 0 when the header agrees with itself and with the payload
 * members, or -EINVAL with the first problem in err. */
int mfs_header_info_check(struct mfs_artifact *a, char *err,
			  size_t errlen);

/* True when payload i is empty by declaration (a bootstrap artifact's
 * "type": null), so its tar must hold no files. */
int mfs_header_info_payload_is_empty(const struct mfs_artifact *a, size_t i);

#endif
