/*
 * Walking an inner tar with libarchive over a decompressed stream.  The
 * read callback pulls from mfs_stream_pread() at the walker's position;
 * the skip callback only moves that position, so stepping over an entry
 * costs what the stream needs to reach the next header (nothing for a
 * plain member, a forward decode otherwise), and no data is copied.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/inner.h"

#define INNER_BLOCK (64 * 1024)

struct mfs_inner {
	struct mfs_stream *stream;
	struct archive *archive;
	uint64_t pos;
	uint64_t limit;		/* 0: none */
	bool started;		/* archive_read_open1 done */
	char error[256];
	uint8_t buf[INNER_BLOCK];
};

static la_ssize_t inner_read(struct archive *a, void *data, const void **buf)
{
	struct mfs_inner *w = data;
	size_t want = sizeof(w->buf);
	ssize_t n;

	if (w->limit) {
		if (w->pos >= w->limit) {
			/* libarchive's formatter knows %ju, not %llu. */
			archive_set_error(a, EFBIG, "more than %ju bytes",
					  (uintmax_t)w->limit);
			return -1;
		}
		if (want > w->limit - w->pos)
			want = (size_t)(w->limit - w->pos);
	}
	n = mfs_stream_pread(w->stream, w->buf, want, w->pos);
	if (n < 0) {
		archive_set_error(a, (int)-n, "%s", n == -EIO ?
				  "corrupt or truncated compressed data" :
				  strerror((int)-n));
		return -1;
	}
	w->pos += (uint64_t)n;
	*buf = w->buf;
	return n;
}

static la_int64_t inner_skip(struct archive *a, void *data, la_int64_t request)
{
	struct mfs_inner *w = data;
	int64_t size = mfs_stream_size(w->stream);
	uint64_t step = (uint64_t)request;

	/* Past a known end nothing can be skipped; libarchive then reads
	 * and reports the truncation. */
	if (size >= 0) {
		uint64_t left = w->pos < (uint64_t)size ?
				(uint64_t)size - w->pos : 0;
		if (step > left)
			step = left;
	}
	if (w->limit && step > w->limit - w->pos)
		step = w->pos < w->limit ? w->limit - w->pos : 0;
	w->pos += step;
	return (la_int64_t)step;
}

int mfs_inner_open(struct mfs_stream *stream, struct mfs_inner **out)
{
	struct mfs_inner *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->stream = stream;
	w->archive = archive_read_new();
	if (!w->archive) {
		free(w);
		return -ENOMEM;
	}
	archive_read_support_format_tar(w->archive);
	archive_read_set_read_callback(w->archive, inner_read);
	archive_read_set_skip_callback(w->archive, inner_skip);
	archive_read_set_callback_data(w->archive, w);
	*out = w;
	return 0;
}

/* The errno for the walk's last failure: what the callbacks or
 * libarchive recorded (EFBIG from the limit), else fallback. */
static int walk_errno(struct mfs_inner *w, int fallback)
{
	int e = archive_errno(w->archive);
	const char *why = archive_error_string(w->archive);

	snprintf(w->error, sizeof(w->error), "%s", why ? why : "unreadable tar");
	return e == EFBIG || e == ENOMEM ? -e : fallback;
}

/* libarchive reads the first block when opening, to recognise the
 * format; that is done at the first entry, so its failure is reported
 * like any other bad input, with libarchive's reason kept. */
static int inner_start(struct mfs_inner *w)
{
	if (w->started)
		return 0;
	if (archive_read_open1(w->archive) != ARCHIVE_OK)
		return walk_errno(w, -EINVAL);
	w->started = true;
	return 0;
}

int mfs_inner_next(struct mfs_inner *w, struct mfs_entry *e)
{
	struct archive_entry *ae;
	const char *name;
	int r;

	r = inner_start(w);
	if (r < 0)
		return r;
	r = archive_read_next_header(w->archive, &ae);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return walk_errno(w, -EINVAL);
	/* Entry data is read at its offset in the stream, so it must be
	 * stored contiguously: no sparse entries, no negative sizes. */
	if (archive_entry_sparse_count(ae) > 0 ||
	    (archive_entry_size_is_set(ae) && archive_entry_size(ae) < 0)) {
		snprintf(w->error, sizeof(w->error),
			 "sparse or negative-size entry %s",
			 archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "");
		return -EINVAL;
	}
	name = archive_entry_pathname(ae);
	memset(e, 0, sizeof(*e));
	e->name = strdup(name ? name : "");
	if (!e->name)
		return -ENOMEM;
	e->offset = (uint64_t)archive_filter_bytes(w->archive, 0);
	e->size = archive_entry_size_is_set(ae) ?
		  (uint64_t)archive_entry_size(ae) : 0;
	e->mode = archive_entry_mode(ae);
	e->mtime = archive_entry_mtime(ae);
	e->header_offset = (uint64_t)archive_read_header_position(w->archive);
	return 1;
}

ssize_t mfs_inner_read_data(struct mfs_inner *w, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		la_ssize_t n = archive_read_data(w->archive,
						 (uint8_t *)buf + done,
						 len - done);
		if (n < 0)
			return walk_errno(w, -EIO);
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

void mfs_inner_set_limit(struct mfs_inner *w, uint64_t limit)
{
	w->limit = limit;
}

uint64_t mfs_inner_position(const struct mfs_inner *w)
{
	return w->pos;
}

const char *mfs_inner_error(const struct mfs_inner *w)
{
	return w->error;
}

void mfs_inner_close(struct mfs_inner *w)
{
	if (!w)
		return;
	archive_read_free(w->archive);
	free(w);
}
