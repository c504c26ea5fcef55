/*
 * Indexing the outer tar.  libarchive parses the headers (ustar, pax, GNU
 * long names); its skip and seek callbacks land on lseek-free position
 * arithmetic over pread, so member data is stepped over, never read.
 * Right after archive_read_next_header() the bytes libarchive has consumed
 * are exactly the offset of the entry's data, which is what we record.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/outer.h"

#define OUTER_BLOCK (64 * 1024)

struct outer_source {
	int fd;
	uint64_t pos;
	uint64_t size;
	uint8_t buf[OUTER_BLOCK];
};

static la_ssize_t outer_read(struct archive *a, void *data, const void **buf)
{
	struct outer_source *src = data;
	ssize_t n;

	do
		n = pread(src->fd, src->buf, sizeof(src->buf), (off_t)src->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read failed: %s", strerror(errno));
		return -1;
	}
	src->pos += (uint64_t)n;
	*buf = src->buf;
	return n;
}

static la_int64_t outer_skip(struct archive *a, void *data, la_int64_t request)
{
	struct outer_source *src = data;
	uint64_t left = src->pos < src->size ? src->size - src->pos : 0;
	uint64_t step = (uint64_t)request < left ? (uint64_t)request : left;

	src->pos += step;
	return (la_int64_t)step;
}

static la_int64_t outer_seek(struct archive *a, void *data, la_int64_t offset,
			     int whence)
{
	struct outer_source *src = data;
	int64_t base = whence == SEEK_SET ? 0 :
		       whence == SEEK_CUR ? (int64_t)src->pos :
					    (int64_t)src->size;

	if (base + offset < 0)
		return ARCHIVE_FATAL;
	src->pos = (uint64_t)(base + offset);
	return (la_int64_t)src->pos;
}

void mfs_entry_destroy(struct mfs_entry *e)
{
	if (!e)
		return;
	free(e->name);
	e->name = NULL;
}

static int entry_from_archive(struct archive *a, struct archive_entry *ae,
			      struct mfs_entry *e)
{
	const char *name = archive_entry_pathname(ae);

	e->name = strdup(name ? name : "");
	if (!e->name)
		return -ENOMEM;
	e->offset = (uint64_t)archive_filter_bytes(a, 0);
	e->size = archive_entry_size_is_set(ae) ?
		  (uint64_t)archive_entry_size(ae) : 0;
	e->mode = archive_entry_mode(ae);
	e->mtime = archive_entry_mtime(ae);
	e->header_offset = (uint64_t)archive_read_header_position(a);
	return 0;
}

static int outer_append(struct mfs_outer *outer, struct mfs_entry *e,
			size_t *capacity)
{
	if (outer->count == *capacity) {
		size_t cap = *capacity ? *capacity * 2 : 16;
		struct mfs_entry *m = realloc(outer->members, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		outer->members = m;
		*capacity = cap;
	}
	outer->members[outer->count++] = *e;
	return 0;
}

int mfs_outer_index(int fd, struct mfs_outer *outer, char *err, size_t errlen)
{
	struct outer_source *src = NULL;
	struct archive *a = NULL;
	struct archive_entry *ae;
	struct mfs_outer result = { 0 };
	size_t capacity = 0;
	struct stat st;
	int ret = 0, r;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "not a regular file");
		goto out;
	}
	result.file_size = (uint64_t)st.st_size;

	src = calloc(1, sizeof(*src));
	a = archive_read_new();
	if (!src || !a) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	src->fd = fd;
	src->size = result.file_size;
	archive_read_support_format_tar(a);
	archive_read_set_read_callback(a, outer_read);
	archive_read_set_skip_callback(a, outer_skip);
	archive_read_set_seek_callback(a, outer_seek);
	archive_read_set_callback_data(a, src);
	if (archive_read_open1(a) != ARCHIVE_OK) {
		ret = -EINVAL;
		snprintf(err, errlen, "not a tar archive: %s",
			 archive_error_string(a));
		goto out;
	}

	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		struct mfs_entry e = { 0 };

		if (result.count >= MFS_OUTER_MAX_MEMBERS) {
			ret = -EINVAL;
			snprintf(err, errlen, "more than %d members",
				 MFS_OUTER_MAX_MEMBERS);
			goto out;
		}
		/* Sparse members are not stored contiguously, and a size
		 * libarchive reads as negative is no size: both are broken. */
		if (archive_entry_sparse_count(ae) > 0 ||
		    (archive_entry_size_is_set(ae) && archive_entry_size(ae) < 0)) {
			archive_set_error(a, EINVAL, "sparse or negative-size member");
			r = ARCHIVE_FATAL;
			break;
		}
		ret = entry_from_archive(a, ae, &e);
		if (ret == 0)
			ret = outer_append(&result, &e, &capacity);
		if (ret < 0) {
			mfs_entry_destroy(&e);
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		if (archive_read_data_skip(a) != ARCHIVE_OK) {
			r = ARCHIVE_FATAL;
			break;
		}
	}
	if (r != ARCHIVE_EOF) {
		/* Report the tar as broken; what was indexed before the break
		 * stays in the table for the caller to judge.  A member whose
		 * data runs past the end of the file is not kept. */
		ret = -EINVAL;
		snprintf(err, errlen, "%s: %s",
			 result.count ? "broken tar" : "not a tar archive",
			 archive_error_string(a) ? archive_error_string(a) :
						   "unreadable header");
		while (result.count) {
			struct mfs_entry *last = &result.members[result.count - 1];

			if (last->offset + last->size <= result.file_size)
				break;
			mfs_entry_destroy(last);
			result.count--;
		}
	}
	result.end_offset = (uint64_t)archive_filter_bytes(a, 0);
out:
	archive_read_free(a);
	free(src);
	if (ret < 0 && ret != -EINVAL)
		mfs_outer_destroy(&result);
	*outer = result;
	return ret;
}

const struct mfs_entry *mfs_outer_find(const struct mfs_outer *outer,
				       const char *name)
{
	for (size_t i = 0; i < outer->count; i++)
		if (strcmp(outer->members[i].name, name) == 0)
			return &outer->members[i];
	return NULL;
}

void mfs_outer_destroy(struct mfs_outer *outer)
{
	for (size_t i = 0; i < outer->count; i++)
		mfs_entry_destroy(&outer->members[i]);
	free(outer->members);
	memset(outer, 0, sizeof(*outer));
}
