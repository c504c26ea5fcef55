/*
 * The persistent index: what the pass learned about an artifact (every
 * payload's entry table and its stream's restore points), saved in a
 * directory so that a second mount of the same artifact has random access
 * at once instead of after a full decode.
 *
 * A file is keyed by the artifact's size, modification time, inode,
 * change time and the SHA-256 of its manifest, and carries a SHA-256 of
 * its own contents.  A file that does not match, does not parse, or fails
 * any check is ignored (and replaced by the next save): it is a cache,
 * never trusted.  Its restore points are data that the decoders check,
 * and each carries the CRC-32 of the bytes it decodes to, checked before
 * any of them is served (stream.h), so a stale index that matches the key
 * costs a decode from the start, not wrong bytes.  Still, only a file
 * owned by this user and writable by nobody else is read (index_dir is
 * checked the same way by the daemon).
 * Digests are deliberately not saved: a file rewritten with the same size
 * and a reset mtime would otherwise be "verified" from stale hashes, so
 * verification always hashes what the artifact holds now.
 */
#ifndef MFS_INDEX_FILE_H
#define MFS_INDEX_FILE_H

#include <stddef.h>

#include "artifact/artifact.h"

/* The most index files a directory keeps; older ones are removed. */
#define MFS_INDEX_DIR_MAX_FILES 32

/* Loads the index of a from dir, when there is a good one.  Returns 1
 * when loaded, 0 when there is none, or a negative errno with the reason
 * in why (a stale or corrupt file: the caller says so and goes on). */
int mfs_index_file_load(struct mfs_artifact *a, const char *dir, char *why,
			size_t whylen);

/* Saves what the pass learned about a (every payload walked to its end
 * without error) into dir, atomically.  Returns 0, -EAGAIN when there is
 * nothing complete to save, or a negative errno. */
int mfs_index_file_save(struct mfs_artifact *a, const char *dir);

/* The file name for a inside dir, into path (PATH_MAX bytes); for tests
 * and the log.  Returns 0 or -ENAMETOOLONG. */
int mfs_index_file_path(const struct mfs_artifact *a, const char *dir,
			char *path);

#endif
