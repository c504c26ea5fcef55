/*
 * An inner tar over a decompressed stream.  The input is the raw member:
 * mfs_stream_open() picks none, gzip, xz or zstd from its magic, so one
 * harness covers every decoder.  The walk checks that entries do not
 * overlap, reads the data of small entries through libarchive and checks
 * it against the same bytes read through the stream at the entry's
 * offset (what the tree serves); then the stream is read at a few
 * offsets taken from the input, in an order that makes its cursors seek
 * forward and rewind, and every read must agree with the others.
 *
 * Work is bounded whatever the input decompresses to: the walk stops at
 * MAX_ENTRIES or at the 8 MiB limit, and no read lies past READ_SPAN.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact/inner.h"
#include "artifact/stream.h"
#include "fuzz/fuzz_i.h"

#define WALK_LIMIT	(8u * 1024 * 1024)
#define MAX_ENTRIES	256
#define SMALL_ENTRY	(64 * 1024)
#define READ_SPAN	(8u * 1024 * 1024)
#define PROBE_LEN	4096
#define PROBES		4

/* Reads [off, off + len) and checks what the stream promises about a
 * short read: it happens only at the end, which is then known. */
static ssize_t checked_pread(struct mfs_stream *s, uint8_t *buf, size_t len,
			     uint64_t off)
{
	ssize_t n = mfs_stream_pread(s, buf, len, off);
	int64_t total;

	FUZZ_CHECK(n <= (ssize_t)len);
	if (n < 0) {
		FUZZ_CHECK(n == -EIO || n == -ENOMEM);
		return n;
	}
	total = mfs_stream_size(s);
	if ((size_t)n < len) {
		FUZZ_CHECK(total >= 0);
		FUZZ_CHECK(n == 0 ? (uint64_t)total <= off :
				    (uint64_t)total == off + (uint64_t)n);
	}
	if (total >= 0 && n > 0)
		FUZZ_CHECK(off + (uint64_t)n <= (uint64_t)total);
	return n;
}

/* The data of the entry just returned, both ways. */
static void check_entry_data(struct mfs_inner *w, struct mfs_stream *s,
			     const struct mfs_entry *e)
{
	uint8_t *via_tar, *via_stream;
	ssize_t n, m;

	via_tar = malloc(e->size ? e->size : 1);
	via_stream = malloc(e->size ? e->size : 1);
	FUZZ_CHECK(via_tar && via_stream);
	n = mfs_inner_read_data(w, via_tar, (size_t)e->size);
	FUZZ_CHECK(n <= (ssize_t)e->size);
	if (n == (ssize_t)e->size && n > 0) {
		m = checked_pread(s, via_stream, (size_t)n, e->offset);
		/* Where libarchive expands an entry (a pax sparse map it does
		 * not report as sparse) the stream holds other bytes; menderfs
		 * serves and hashes the stream's, so the two must agree only
		 * where the stream has the whole entry. */
		if (m > 0)
			FUZZ_CHECK(memcmp(via_tar, via_stream, (size_t)m) == 0 ||
				   m < n);
	}
	free(via_stream);
	free(via_tar);
}

static void walk(struct mfs_stream *s)
{
	struct mfs_inner *w = NULL;
	struct mfs_entry e = { 0 };
	uint64_t prev_end = 0;	/* where the last entry's data ends */
	int ret;

	ret = mfs_inner_open(s, &w);
	if (ret < 0) {
		FUZZ_CHECK(ret == -ENOMEM);
		return;
	}
	mfs_inner_set_limit(w, WALK_LIMIT);
	for (int i = 0; i < MAX_ENTRIES; i++) {
		ret = mfs_inner_next(w, &e);
		if (ret <= 0) {
			if (ret < 0)
				FUZZ_CHECK(mfs_inner_error(w)[0] != '\0');
			break;
		}
		FUZZ_CHECK(e.name != NULL);
		FUZZ_CHECK(e.header_offset < e.offset);
		/* The walk got past the previous entry to this header, so
		 * that entry's data lies before it: entries never overlap. */
		FUZZ_CHECK(prev_end <= e.header_offset);
		prev_end = e.size <= UINT64_MAX - e.offset ?
			   e.offset + e.size : UINT64_MAX;
		FUZZ_CHECK(mfs_inner_position(w) <= WALK_LIMIT);
		if (S_ISREG(e.mode) && e.size <= SMALL_ENTRY)
			check_entry_data(w, s, &e);
		mfs_entry_destroy(&e);
	}
	mfs_entry_destroy(&e);
	mfs_inner_close(w);
}

static uint64_t input_u32(const uint8_t *data, size_t size, size_t at)
{
	uint32_t v = 0;

	for (size_t i = 0; i < 4 && size; i++)
		v = v << 8 | data[(at + i) % size];
	return v;
}

/* Reads PROBE_LEN bytes at each offset, backwards then forwards, and in
 * two halves in reverse order: all must return the same bytes. */
static void probe(struct mfs_stream *s, const uint8_t *data, size_t size)
{
	static const size_t half = PROBE_LEN / 2;
	uint64_t offs[PROBES];
	uint8_t *first, *again;

	first = malloc(PROBES * PROBE_LEN);
	again = malloc(PROBE_LEN);
	FUZZ_CHECK(first && again);
	for (size_t i = 0; i < PROBES; i++)
		offs[i] = input_u32(data, size, i * 4) % READ_SPAN;
	offs[0] = 0;
	for (size_t i = PROBES; i-- > 0;) {
		ssize_t n = checked_pread(s, first + i * PROBE_LEN, PROBE_LEN,
					  offs[i]);
		ssize_t a, b;

		if (n < 0)
			continue;
		/* Second half first, then the first: a seek forward and a
		 * rewind or another cursor. */
		b = checked_pread(s, again + half, half, offs[i] + half);
		a = checked_pread(s, again, half, offs[i]);
		/* What decoded once decodes again. */
		FUZZ_CHECK(a >= 0 && b >= 0);
		FUZZ_CHECK(a == (n < (ssize_t)half ? n : (ssize_t)half));
		FUZZ_CHECK(a + b == n);
		FUZZ_CHECK(memcmp(first + i * PROBE_LEN, again, (size_t)a) == 0);
		FUZZ_CHECK(memcmp(first + i * PROBE_LEN + half, again + half,
				  (size_t)b) == 0);
	}
	free(again);
	free(first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfs_stream *s = NULL;
	int fd, ret;

	fd = fuzz_memfd(data, size);
	ret = mfs_stream_open(fd, 0, size, &s);
	FUZZ_CHECK(ret == 0 || ret == -ENOMEM);
	if (ret == 0) {
		FUZZ_CHECK(mfs_stream_compression(s) ==
			   mfs_compression_detect(data, size));
		walk(s);
		probe(s, data, size);
	}
	mfs_stream_close(s);
	close(fd);
	return 0;
}
