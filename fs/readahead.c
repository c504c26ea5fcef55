/*
 * Raising the mount's readahead (readahead.h).  The mount's device
 * numbers come from /proc/self/mountinfo rather than stat() of the
 * mount point, which the daemon cannot answer before its session loop
 * runs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/readahead.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

void mfs_readahead_raise(const char *mountpoint)
{
	unsigned major = 0, minor = 0;
	char *line = NULL, path[64];
	size_t cap = 0;
	bool found = false;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	/* The last match is the newest mount: ours. */
	while (getline(&line, &cap, f) > 0) {
		unsigned ma, mi;
		char point[4096], *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi,
				   point) != 3 ||
		    strncmp(sep, " - fuse.menderfs ", 17) != 0)
			continue;
		unescape(point);
		if (strcmp(point, mountpoint) == 0) {
			major = ma;
			minor = mi;
			found = true;
		}
	}
	free(line);
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major, minor);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%d\n", MFS_READAHEAD_KB);
	fclose(f);	/* a refusal only keeps the kernel's window */
}
