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
	/* Two buffers in turn: libarchive is done with one when it asks
	 * for the next, and the headers of the entry just read are still
	 * in one of them (check_extensions). */
	int cur;
	uint64_t buf_start[2];
	size_t buf_len[2];
	uint8_t buf[2][INNER_BLOCK];
};

static la_ssize_t inner_read(struct archive *a, void *data, const void **buf)
{
	struct mfs_inner *w = data;
	size_t want = INNER_BLOCK;
	uint8_t *buf_next = w->buf[w->cur ^ 1];
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
	n = mfs_stream_pread(w->stream, buf_next, want, w->pos);
	if (n < 0) {
		archive_set_error(a, (int)-n, "%s", n == -EIO ?
				  "corrupt or truncated compressed data" :
				  strerror((int)-n));
		return -1;
	}
	w->cur ^= 1;
	w->buf_start[w->cur] = w->pos;
	w->buf_len[w->cur] = (size_t)n;
	w->pos += (uint64_t)n;
	*buf = buf_next;
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

/* The 512-byte tar block at stream offset at, from the buffers when
 * they hold it (nearly always), else read again.  Returns 0 or a
 * negative errno. */
static int block_at(struct mfs_inner *w, uint64_t at, uint8_t *out)
{
	size_t got = 0;

	while (got < 512) {
		uint64_t want = at + got;
		int k;

		for (k = 0; k < 2; k++)
			if (want >= w->buf_start[k] &&
			    want < w->buf_start[k] + w->buf_len[k])
				break;
		if (k == 2)
			break;
		size_t off = (size_t)(want - w->buf_start[k]);
		size_t n = w->buf_len[k] - off;

		if (n > 512 - got)
			n = 512 - got;
		memcpy(out + got, w->buf[k] + off, n);
		got += n;
	}
	if (got == 512)
		return 0;
	ssize_t n = mfs_stream_pread(w->stream, out, 512, at);

	return n == 512 ? 0 : n < 0 ? (int)n : -EIO;
}

/* The size field of a tar header block, when it is plain octal. */
static bool block_size(const uint8_t *b, uint64_t *size)
{
	uint64_t v = 0;
	int i = 0;

	while (i < 12 && b[124 + i] == ' ')
		i++;
	for (; i < 12 && b[124 + i] >= '0' && b[124 + i] <= '7'; i++)
		v = v * 8 + (uint64_t)(b[124 + i] - '0');
	*size = v;
	return i > 0 && (i == 12 || b[124 + i] == '\0' || b[124 + i] == ' ');
}

/* libarchive folds the extension records before an entry (pax 'x' and
 * 'g', GNU long names) into the entry, and a global pax header ('g')
 * into nothing at all.  The client's tar reader hands a 'g' record over
 * as an entry of its own, which no manifest names: such a tar is
 * refused.  So the records between the entry's first header block and
 * its data are read again and their types checked.  Returns 0 or
 * -EINVAL with the reason in w->error. */
static int check_extensions(struct mfs_inner *w, uint64_t start, uint64_t end)
{
	uint8_t b[512];
	uint64_t at = start, size;

	while (at + 512 < end) {
		if (block_at(w, at, b) < 0)
			return 0;	/* libarchive read it: nothing new */
		if (b[156] == 'g') {
			snprintf(w->error, sizeof(w->error), "a global pax "
				 "header (typeflag g) at offset %ju, which the "
				 "client reads as an entry", (uintmax_t)at);
			return -EINVAL;
		}
		if (!b[156] || !strchr("xLK", b[156]) || !block_size(b, &size))
			break;
		at += 512 + ((size + 511) & ~(uint64_t)511);
	}
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
	r = check_extensions(w, (uint64_t)archive_read_header_position(w->archive),
			     (uint64_t)archive_filter_bytes(w->archive, 0));
	if (r < 0)
		return r;
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
