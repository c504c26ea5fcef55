/*
 * The files of header.tar* (and header-augment.tar*), read whole into
 * memory at mount: they are small, and capped so a hostile header (a
 * compression bomb, thousands of entries) is refused, not swallowed.
 */
#ifndef MFS_HEADER_H
#define MFS_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "artifact/stream.h"

#define MFS_HEADER_MAX_FILE	(1024 * 1024)		/* one header file */
#define MFS_HEADER_MAX_TOTAL	(16 * 1024 * 1024)	/* the whole tar */
#define MFS_HEADER_MAX_FILES	1024

struct mfs_blob {
	char *name;
	uint8_t *data;
	size_t size;
	mode_t mode;
	int64_t mtime;
};

struct mfs_header {
	struct mfs_blob *files;
	size_t count;
};

/* Reads every regular file of the tar in s.  Returns 0, or a negative
 * errno with the reason in err (-EEXIST: a name twice). */
int mfs_header_load(struct mfs_stream *s, struct mfs_header *h,
		    char *err, size_t errlen);

const struct mfs_blob *mfs_header_find(const struct mfs_header *h,
				       const char *name);

void mfs_header_destroy(struct mfs_header *h);

#endif
