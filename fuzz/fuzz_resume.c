/*
 * Resuming a gzip stream from restore points an index file forged.
 *
 * At start-up the harness compresses a fixed 2.2 MiB with zlib, reads
 * it once through a stream and exports its index: real restore points
 * a little past 1 and 2 MiB.  Each input then edits that index the way a
 * tampered file would (index_file.h): it picks a point and patches bytes
 * of its resume data (the window length, the bit count and value, the
 * CRC-32 and length so far, the window), cuts it short, or moves the
 * point's offsets or checksum; the harness packs the result and makes
 * the index's own CRC right, so that the stream really tries it.  Every
 * read must then give exactly the original bytes: a forged point may
 * cost a decode from the start, never a crash, a read out of bounds, an
 * error or a wrong byte.
 *
 * Input: u8 point, u8 what (bit 0: cut to u16 at 2; bit 1: move out by
 * the s16 at 4; bit 2: move in by the s16 at 6; bit 3: flip the CRC),
 * then patches of three bytes each: u16 offset into the resume data
 * (modulo its length), u8 XOR value.
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "artifact/stream.h"
#include "fuzz/fuzz_i.h"

#define PLAIN_LEN	(2 * 1024 * 1024 + 200 * 1024)
#define DATA_MAX	(20 + 32 * 1024)	/* resume data, at most */
/* The layout of an exported stream index (stream_index_i.h). */
#define IX_HEADER	48
#define IX_COUNT	44
#define IX_ITEM		28
#define IX_CRC		16
#define IX_BLOB_LEN	24
#define MAX_POINTS	8

static uint8_t *plain;
static int gz_fd = -1;
static uint64_t gz_len;
static uint8_t *good;		/* the real export */
static size_t good_len;
static uint32_t points;
static size_t item_at[MAX_POINTS];

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Text-like runs and random stretches, so deflate makes dynamic blocks
 * and stored ones; the same bytes on every run. */
static void fill(uint8_t *p, size_t len)
{
	uint64_t x = 0x5eed;

	for (size_t i = 0; i < len;) {
		size_t run;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		run = 1 + (size_t)(x >> 52) % 2048;
		if (run > len - i)
			run = len - i;
		for (size_t k = 0; k < run; k++, i++) {
			x = x * 6364136223846793005ULL + 1;
			p[i] = (x >> 61) == 0 ? (uint8_t)(x >> 33) :
			       (uint8_t)("the quick brown fox "[(i / 7) % 20]);
		}
	}
}

static void setup(void)
{
	z_stream z = { 0 };
	uint8_t *gz, *buf;
	struct mfs_stream *s;
	void *exported;
	size_t bound;

	plain = malloc(PLAIN_LEN);
	FUZZ_CHECK(plain != NULL);
	fill(plain, PLAIN_LEN);
	FUZZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, 31, 8,
				Z_DEFAULT_STRATEGY) == Z_OK);
	bound = deflateBound(&z, PLAIN_LEN);
	gz = malloc(bound);
	FUZZ_CHECK(gz != NULL);
	z.next_in = plain;
	z.avail_in = PLAIN_LEN;
	z.next_out = gz;
	z.avail_out = (uInt)bound;
	FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
	gz_len = z.total_out;
	deflateEnd(&z);
	gz_fd = fuzz_memfd(gz, gz_len);
	free(gz);

	FUZZ_CHECK(mfs_stream_open(gz_fd, 0, gz_len, &s) == 0);
	buf = malloc(256 * 1024);
	FUZZ_CHECK(buf != NULL);
	for (uint64_t off = 0; off < PLAIN_LEN;) {
		ssize_t n = mfs_stream_pread(s, buf, 256 * 1024, off);

		FUZZ_CHECK(n > 0);
		off += (uint64_t)n;
	}
	free(buf);
	FUZZ_CHECK(mfs_stream_index_export(s, &exported, &good_len) == 0);
	mfs_stream_close(s);
	good = exported;
	points = le32(good + IX_COUNT);
	FUZZ_CHECK(points >= 1 && points <= MAX_POINTS);
	for (uint32_t k = 0, at = IX_HEADER; k < points; k++) {
		item_at[k] = at;
		at += IX_ITEM + le32(good + at + IX_BLOB_LEN);
	}
}

/* The forged index: point k's resume data replaced, fields moved. */
static uint8_t *forge(const uint8_t *data, size_t size, size_t *len)
{
	uint32_t k = data[0] % points;
	uint8_t what = size > 1 ? data[1] : 0;
	size_t at = item_at[k], old = le32(good + at + IX_BLOB_LEN);
	uint8_t rd[DATA_MAX];
	size_t rd_len = ZSTD_decompress(rd, sizeof(rd), good + at + IX_ITEM,
					old);
	size_t bound, packed;
	uint8_t *f;

	FUZZ_CHECK(!ZSTD_isError(rd_len) && rd_len > 0);
	for (size_t p = 8; p + 3 <= size; p += 3) {
		size_t off = ((size_t)data[p] | (size_t)data[p + 1] << 8) %
			     rd_len;

		rd[off] ^= data[p + 2];
	}
	if ((what & 1) && size >= 4) {
		size_t cut = ((size_t)data[2] | (size_t)data[3] << 8);

		if (cut < rd_len)
			rd_len = cut ? cut : 1;
	}
	bound = ZSTD_compressBound(rd_len);
	f = malloc(good_len - old + bound);
	FUZZ_CHECK(f != NULL);
	memcpy(f, good, at + IX_ITEM);
	packed = ZSTD_compress(f + at + IX_ITEM, bound, rd, rd_len, 1);
	FUZZ_CHECK(!ZSTD_isError(packed));
	put32(f + at + IX_BLOB_LEN, (uint32_t)packed);
	memcpy(f + at + IX_ITEM + packed, good + at + IX_ITEM + old,
	       good_len - (at + IX_ITEM + old));
	*len = good_len - old + packed;
	if ((what & 2) && size >= 6)
		put64(f + at, le64(f + at) +
		      (uint64_t)(int64_t)(int16_t)(data[4] | data[5] << 8));
	if ((what & 4) && size >= 8)
		put64(f + at + 8, le64(f + at + 8) +
		      (uint64_t)(int64_t)(int16_t)(data[6] | data[7] << 8));
	if (what & 8)
		f[at + IX_CRC] ^= 0x5a;
	put32(f + *len - 4, (uint32_t)crc32(0, f, (uInt)(*len - 4)));
	return f;
}

/* Reads len bytes at off: exactly the original ones. */
static void check_read(struct mfs_stream *s, uint8_t *buf, uint64_t off,
		       size_t len)
{
	size_t want = off >= PLAIN_LEN ? 0 :
		      len < PLAIN_LEN - off ? len : (size_t)(PLAIN_LEN - off);
	ssize_t n = mfs_stream_pread(s, buf, len, off);

	FUZZ_CHECK(n == (ssize_t)want);
	FUZZ_CHECK(want == 0 || memcmp(buf, plain + off, want) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfs_stream *s = NULL;
	uint8_t *forged, *buf;
	uint64_t out;
	size_t len;
	int ret;

	if (!good)
		setup();
	if (size == 0)
		return 0;
	forged = forge(data, size, &len);
	out = le64(good + item_at[data[0] % points]);
	FUZZ_CHECK(mfs_stream_open(gz_fd, 0, gz_len, &s) == 0);
	mfs_stream_set_decode_ahead(s, false);
	ret = mfs_stream_index_import(s, forged, len);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	buf = malloc(64 * 1024);
	FUZZ_CHECK(buf != NULL);
	/* From the point, then behind it and at the end: each from a
	 * point, the start, or a cursor. */
	check_read(s, buf, out + 100, 64 * 1024);
	check_read(s, buf, out > 5000 ? out - 5000 : 0, 8192);
	check_read(s, buf, PLAIN_LEN - 1000, 4096);
	free(buf);
	mfs_stream_close(s);
	free(forged);
	return 0;
}
