/*
 * Reading header.tar* whole into memory.  Every limit is checked before
 * memory is committed, so a compression bomb or an entry flood is refused
 * with the limit named.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact/header.h"
#include "artifact/inner.h"
#include "artifact/names.h"

static int header_append(struct mfs_header *h, size_t *capacity,
			 struct mfs_blob *b)
{
	if (h->count == *capacity) {
		size_t cap = *capacity ? *capacity * 2 : 8;
		struct mfs_blob *files = realloc(h->files, cap * sizeof(*files));

		if (!files)
			return -ENOMEM;
		h->files = files;
		*capacity = cap;
	}
	h->files[h->count++] = *b;
	return 0;
}

/* A header file whose name (normalised, names.h) came before: one
 * reader takes the first copy, another the last, so the header is
 * refused whole.  Headers hold a few files: a scan is enough.  Returns
 * 0, -EEXIST with the name in err, or -ENOMEM. */
static int check_repeat(const struct mfs_header *h, const char *name,
			char *err, size_t errlen)
{
	char *norm = mfs_name_normalize(name), *other;
	int ret = 0;

	if (!norm) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->count && ret == 0; i++) {
		other = mfs_name_normalize(h->files[i].name);
		if (!other) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			break;
		}
		if (strcmp(norm, other) == 0) {
			snprintf(err, errlen, "%s appears twice", norm);
			ret = -EEXIST;
		}
		free(other);
	}
	free(norm);
	return ret;
}

int mfs_header_load(struct mfs_stream *s, struct mfs_header *h,
		    char *err, size_t errlen)
{
	struct mfs_header result = { 0 };
	struct mfs_inner *w = NULL;
	struct mfs_entry e = { 0 };
	size_t capacity = 0, total = 0;
	int ret;

	/* Read once, and only up to the caps: decoding ahead of this reader
	 * would decode past them, into a bomb. */
	mfs_stream_set_decode_ahead(s, false);
	ret = mfs_inner_open(s, &w);
	if (ret < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* Padding, skipped entries and long-name records count too, so a
	 * compression bomb stops at the cap whatever it holds. */
	mfs_inner_set_limit(w, MFS_HEADER_MAX_TOTAL);
	while ((ret = mfs_inner_next(w, &e)) == 1) {
		struct mfs_blob b = { 0 };
		ssize_t n;

		/* Directories are implied by file names; links and devices
		 * have no place in a header and are skipped. */
		if (!S_ISREG(e.mode)) {
			mfs_entry_destroy(&e);
			continue;
		}
		if (result.count >= MFS_HEADER_MAX_FILES) {
			snprintf(err, errlen, "more than %d files in the header",
				 MFS_HEADER_MAX_FILES);
			ret = -EFBIG;
			goto out;
		}
		if (e.size > MFS_HEADER_MAX_FILE) {
			snprintf(err, errlen,
				 "header file %s is larger than the %d byte limit",
				 e.name, MFS_HEADER_MAX_FILE);
			ret = -EFBIG;
			goto out;
		}
		total += (size_t)e.size;
		if (total > MFS_HEADER_MAX_TOTAL) {
			snprintf(err, errlen,
				 "header is larger than the %d byte limit",
				 MFS_HEADER_MAX_TOTAL);
			ret = -EFBIG;
			goto out;
		}
		b.data = malloc(e.size ? (size_t)e.size : 1);
		if (!b.data) {
			ret = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		n = mfs_inner_read_data(w, b.data, (size_t)e.size);
		if (n != (ssize_t)e.size) {
			free(b.data);
			snprintf(err, errlen, "header file %s: %s", e.name,
				 n < 0 ? mfs_inner_error(w) : "truncated");
			ret = n == -EFBIG || n == -ENOMEM ? (int)n : -EINVAL;
			goto out;
		}
		ret = check_repeat(&result, e.name, err, errlen);
		if (ret < 0) {
			free(b.data);
			goto out;
		}
		b.name = e.name;
		e.name = NULL;
		b.size = (size_t)e.size;
		b.mode = e.mode;
		b.mtime = e.mtime;
		ret = header_append(&result, &capacity, &b);
		if (ret < 0) {
			free(b.name);
			free(b.data);
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	if (ret < 0)
		snprintf(err, errlen, "header: %s", mfs_inner_error(w));
out:
	mfs_entry_destroy(&e);
	mfs_inner_close(w);
	if (ret < 0)
		mfs_header_destroy(&result);
	*h = result;
	return ret < 0 ? ret : 0;
}

const struct mfs_blob *mfs_header_find(const struct mfs_header *h,
				       const char *name)
{
	for (size_t i = 0; i < h->count; i++)
		if (strcmp(h->files[i].name, name) == 0)
			return &h->files[i];
	return NULL;
}

void mfs_header_destroy(struct mfs_header *h)
{
	for (size_t i = 0; i < h->count; i++) {
		free(h->files[i].name);
		free(h->files[i].data);
	}
	free(h->files);
	memset(h, 0, sizeof(*h));
}
