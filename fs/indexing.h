/*
 * The daemon's side of the one pass and the persistent index: where the
 * index lives (-o index_dir, else the user's cache directory), loading it
 * when an artifact is opened, and starting the background pass once the
 * daemon runs.
 */
#ifndef MFS_INDEXING_H
#define MFS_INDEXING_H

#include <stdbool.h>

#include "artifact/artifact.h"

/* The index directory to use: dir when given (created if missing), else
 * $XDG_CACHE_HOME/menderfs or $HOME/.cache/menderfs when that can be
 * created; NULL (no persistent index) when disabled or none is usable.
 * The result is malloc'd. */
char *mfs_indexing_dir(const char *dir, int disabled);

/* The span cache for xz and zstd payloads that cannot resume mid-way:
 * an unlinked file in dir (else index_dir, else /var/tmp) of at most mb
 * MiB; NULL when mb is 0 or no file can be made there (logged). */
struct mfs_span_cache *mfs_indexing_span_cache(const char *dir,
					       const char *index_dir,
					       unsigned long mb);

/* Loads a's saved index from dir, if any; a stale or corrupt one is
 * logged and left to be replaced.  dir may be NULL.  Returns true when
 * an index was loaded. */
bool mfs_indexing_load(struct mfs_artifact *a, const char *dir);

/* Starts a's background pass (saving its index into dir, if not NULL),
 * unless indexed says a saved index made it unnecessary: then only
 * reading .verify hashes the payloads.  A failure only costs speed, and
 * is logged. */
void mfs_indexing_start(struct mfs_artifact *a, const char *dir,
			bool indexed);

#endif
