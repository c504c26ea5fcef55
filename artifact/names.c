/* Deciding which names from an artifact may become paths in the tree. */
#include <limits.h>
#include <stdlib.h>
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

/* Appends component c (len bytes) to out at *at, with a '/' before it
 * unless it is the first. */
static void append_component(char *out, size_t *at, const char *c, size_t len)
{
	if (*at)
		out[(*at)++] = '/';
	memcpy(out + *at, c, len);
	*at += len;
}

char *mfs_name_normalize(const char *name)
{
	size_t len = strlen(name), at = 0;
	char *out = malloc(len + 1);
	const char *p = name;

	if (!out)
		return NULL;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		/* Empty and "." components name nothing: "./a", "a//b",
		 * "/a" and "a/" all mean what tar extracts as "a". */
		if (n && !(n == 1 && p[0] == '.'))
			append_component(out, &at, p, n);
		p += n;
		if (*p == '/')
			p++;
	}
	out[at] = '\0';
	return out;
}
