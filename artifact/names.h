/* Deciding which names from an artifact may become paths in the tree. */
#ifndef MFS_NAMES_H
#define MFS_NAMES_H

#include <stdbool.h>

/* True when name is a relative path of ordinary components: not empty,
 * not absolute, no "." or ".." component, no empty component (so no
 * "a//b" and no trailing "/"), no control characters, within PATH_MAX and
 * NAME_MAX.  Anything else is never exposed as a path. */
bool mfs_name_is_safe(const char *name);

/* The name as tar extracts it: empty and "." components dropped, so
 * "./a", "a//b/", "/a/./b" become "a" and "a/b".  ".." is kept (such a
 * name is unsafe anyway).  Two entries whose normal names are equal are
 * one file to whoever unpacks the tar.  Returns a malloc'd string, or
 * NULL when out of memory. */
char *mfs_name_normalize(const char *name);

#endif
