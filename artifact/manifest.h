/*
 * The manifest: "<64 lowercase hex>  <name>\n" per line, the SHA-256 of
 * every member and payload file.  Parsing is strict; anything off the
 * grammar is reported, never guessed at.
 */
#ifndef MFS_MANIFEST_H
#define MFS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define MFS_MANIFEST_MAX_SIZE (1024 * 1024)

struct mfs_manifest_line {
	char *name;
	uint8_t sha256[32];
};

struct mfs_manifest {
	struct mfs_manifest_line *lines;	/* in file order */
	size_t count;
	struct mfs_manifest_line **by_name;	/* sorted, for lookups */
};

/* Parses len bytes.  Returns 0, or -EINVAL with the reason (naming the
 * line) in err; the manifest is then empty. */
int mfs_manifest_parse(const void *data, size_t len, struct mfs_manifest *m,
		       char *err, size_t errlen);

/* The line for name, or NULL. */
const struct mfs_manifest_line *mfs_manifest_find(const struct mfs_manifest *m,
						  const char *name);

void mfs_manifest_destroy(struct mfs_manifest *m);

#endif
