/*
 * The manifest grammar, strictly: each line is 64 lowercase hex digits,
 * two spaces, a name, and a newline; no blank lines, no duplicates, and
 * the last line ends in a newline.  The checksums are compared as bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/manifest.h"

#define SHA256_HEX 64

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;	/* uppercase is off the grammar too */
}

static int parse_line(const char *line, size_t len,
		      struct mfs_manifest_line *out)
{
	if (len < SHA256_HEX + 3 || line[SHA256_HEX] != ' ' ||
	    line[SHA256_HEX + 1] != ' ')
		return -EINVAL;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_value(line[2 * i]), lo = hex_value(line[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out->sha256[i] = (uint8_t)(hi << 4 | lo);
	}
	out->name = strndup(line + SHA256_HEX + 2, len - SHA256_HEX - 2);
	if (!out->name)
		return -ENOMEM;
	for (const char *c = out->name; *c; c++) {
		/* Control characters (a CR from CRLF line ends among them)
		 * would make names that print one way and match another;
		 * a blank the client's line grammar does not allow
		 * ([^[:blank:]]+). */
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == ' ') {
			free(out->name);
			out->name = NULL;
			return -EINVAL;
		}
	}
	if (strlen(out->name) != len - SHA256_HEX - 2) {
		free(out->name);	/* a NUL inside the name */
		out->name = NULL;
		return -EINVAL;
	}
	return 0;
}

static int compare_lines(const void *a, const void *b)
{
	const struct mfs_manifest_line *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Sorts pointers to the lines by name, which also finds duplicates. */
static int index_by_name(struct mfs_manifest *m, char *err, size_t errlen)
{
	m->by_name = malloc(m->count * sizeof(*m->by_name));
	if (!m->by_name) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->count; i++)
		m->by_name[i] = &m->lines[i];
	qsort(m->by_name, m->count, sizeof(*m->by_name), compare_lines);
	for (size_t i = 1; i < m->count; i++) {
		if (strcmp(m->by_name[i - 1]->name, m->by_name[i]->name) == 0) {
			snprintf(err, errlen, "manifest repeats the name %s",
				 m->by_name[i]->name);
			return -EINVAL;
		}
	}
	return 0;
}

int mfs_manifest_parse(const void *data, size_t len, struct mfs_manifest *m,
		       char *err, size_t errlen)
{
	struct mfs_manifest result = { 0 };
	const char *p = data, *end = p + len;
	size_t capacity = 0, lineno = 0;
	int ret = 0;

	if (len > MFS_MANIFEST_MAX_SIZE) {
		snprintf(err, errlen, "manifest larger than %d bytes",
			 MFS_MANIFEST_MAX_SIZE);
		ret = -EINVAL;
		goto out;
	}
	if (len == 0) {
		snprintf(err, errlen, "manifest is empty");
		ret = -EINVAL;
		goto out;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct mfs_manifest_line line = { 0 };

		lineno++;
		if (!nl) {
			snprintf(err, errlen,
				 "manifest line %zu does not end in a newline",
				 lineno);
			ret = -EINVAL;
			goto out;
		}
		ret = parse_line(p, (size_t)(nl - p), &line);
		if (ret < 0) {
			snprintf(err, errlen, ret == -ENOMEM ? "out of memory" :
				 "manifest line %zu is not '<sha256>  <name>'",
				 lineno);
			goto out;
		}
		if (result.count == capacity) {
			size_t cap = capacity ? capacity * 2 : 16;
			struct mfs_manifest_line *l =
				realloc(result.lines, cap * sizeof(*l));

			if (!l) {
				free(line.name);
				snprintf(err, errlen, "out of memory");
				ret = -ENOMEM;
				goto out;
			}
			result.lines = l;
			capacity = cap;
		}
		result.lines[result.count++] = line;
		p = nl + 1;
	}
	ret = index_by_name(&result, err, errlen);
out:
	if (ret < 0)
		mfs_manifest_destroy(&result);
	*m = result;
	return ret;
}

const struct mfs_manifest_line *mfs_manifest_find(const struct mfs_manifest *m,
						  const char *name)
{
	struct mfs_manifest_line key = { .name = (char *)name }, *kp = &key;
	struct mfs_manifest_line **found;

	if (!m->by_name)
		return NULL;
	found = bsearch(&kp, m->by_name, m->count, sizeof(*m->by_name),
			compare_lines);
	return found ? *found : NULL;
}

void mfs_manifest_destroy(struct mfs_manifest *m)
{
	for (size_t i = 0; i < m->count; i++)
		free(m->lines[i].name);
	free(m->lines);
	free(m->by_name);
	memset(m, 0, sizeof(*m));
}
