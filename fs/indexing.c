/*
 * Where the persistent index lives and when the pass starts (indexing.h).
 * Nothing here may stop a mount: without an index directory, or with a
 * bad index file, menderfs only gets slower, so problems are logged.
 */
#include <errno.h>
#include <fuse_log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/index_file.h"
#include "artifact/pass.h"
#include "artifact/span_cache.h"
#include "fs/indexing.h"

/* mkdir -p with mode 0700 for what it creates; true when dir is then a
 * directory. */
static bool make_dirs(char *dir)
{
	struct stat st;

	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(dir, 0700);
		*p = '/';
	}
	(void)mkdir(dir, 0700);
	/* The index is trusted as this user's own (index_file.h): a
	 * directory others can write to is not used. */
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_uid == geteuid() && !(st.st_mode & 022);
}

char *mfs_indexing_dir(const char *dir, int disabled)
{
	const char *base = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *path = NULL;

	if (disabled)
		return NULL;
	if (dir && *dir)
		path = strdup(dir);
	else if (base && base[0] == '/')
		(void)!asprintf(&path, "%s/menderfs", base);
	else if (home && home[0] == '/')
		(void)!asprintf(&path, "%s/.cache/menderfs", home);
	if (path && !make_dirs(path)) {
		fuse_log(FUSE_LOG_WARNING, "menderfs: index directory %s is "
			 "not usable (it must be a directory of this user's "
			 "that nobody else can write to); going on without a "
			 "persistent index\n", path);
		free(path);
		path = NULL;
	}
	return path;
}

struct mfs_span_cache *mfs_indexing_span_cache(const char *dir,
					       const char *index_dir,
					       unsigned long mb)
{
	struct mfs_span_cache *cache = NULL;
	int ret;

	if (mb == 0)
		return NULL;
	if (!dir)
		dir = index_dir ? index_dir : "/var/tmp";
	ret = mfs_span_cache_open(dir, (uint64_t)mb * 1024 * 1024, &cache);
	if (ret < 0) {
		fuse_log(FUSE_LOG_WARNING, "menderfs: no span cache in %s: %s\n",
			 dir, strerror(-ret));
		return NULL;
	}
	return cache;
}

bool mfs_indexing_load(struct mfs_artifact *a, const char *dir)
{
	char why[MFS_ERR_LEN];
	int ret;

	if (!dir)
		return false;
	ret = mfs_index_file_load(a, dir, why, sizeof(why));
	if (ret < 0)
		fuse_log(FUSE_LOG_WARNING, "menderfs: ignoring index %s; it "
			 "will be rebuilt\n", why[0] ? why : "(unreadable)");
	return ret == 1;
}

void mfs_indexing_start(struct mfs_artifact *a, const char *dir,
			bool indexed)
{
	int ret;

	if (indexed)
		return;
	ret = mfs_pass_start(a, dir);

	if (ret < 0)
		fuse_log(FUSE_LOG_WARNING, "menderfs: cannot start the "
			 "background pass: %s\n", strerror(-ret));
}
