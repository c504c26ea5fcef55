/* Deciding which names from an artifact may become paths in the tree. */
#include <limits.h>
#include <string.h>

#include "artifact/names.h"

static bool component_is_safe(const char *c, size_t len)
{
	if (len == 0 || len > NAME_MAX)
		return false;
	if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
		return false;
	return true;
}

bool mfs_name_is_safe(const char *name)
{
	const char *start = name, *p;

	if (!name || !*name || *name == '/' || strlen(name) >= PATH_MAX)
		return false;
	for (p = name; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		/* Control characters make names that lie on a terminal. */
		if (ch < 0x20 || ch == 0x7f)
			return false;
		if (ch == '/') {
			if (!component_is_safe(start, (size_t)(p - start)))
				return false;
			start = p + 1;
		}
	}
	return component_is_safe(start, (size_t)(p - start));
}
