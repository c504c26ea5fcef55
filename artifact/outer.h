/*
 * The outer tar of an artifact: a table of its members, built by walking
 * the tar with libarchive and seeking over member data, so indexing costs
 * one header read per member whatever the payload size.
 */
#ifndef MFS_OUTER_H
#define MFS_OUTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One tar entry: where its data lies and the metadata tar gives it.  Used
 * for outer members and for the entries of inner tars alike. */
struct mfs_entry {
	char *name;		/* as stored; not yet checked for safety */
	uint64_t offset;	/* of the data, in the (decompressed) tar */
	uint64_t size;
	mode_t mode;		/* file type and permission bits */
	int64_t mtime;
	uint64_t header_offset;	/* of the entry's first header block */
};

struct mfs_outer {
	struct mfs_entry *members;
	size_t count;
	uint64_t end_offset;	/* just past the end-of-archive marker */
	uint64_t file_size;
};

/* Upper bound on outer members: an artifact has a handful plus one per
 * payload; far more is hostile input. */
#define MFS_OUTER_MAX_MEMBERS 4096

/* Indexes the tar in fd.  Returns 0, or a negative errno with a reason in
 * err.  On -EINVAL (not a tar, or a broken one) the table still holds the
 * members indexed before the break whose data lies wholly inside the file,
 * for the caller to show or judge; destroy it either way. */
int mfs_outer_index(int fd, struct mfs_outer *outer, char *err, size_t errlen);

/* The member named name, or NULL. */
const struct mfs_entry *mfs_outer_find(const struct mfs_outer *outer,
				       const char *name);

void mfs_outer_destroy(struct mfs_outer *outer);

void mfs_entry_destroy(struct mfs_entry *e);

#endif
