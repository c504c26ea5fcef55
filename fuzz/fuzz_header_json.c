/*
 * The header JSON checks (mfs_header_info_check and
 * mfs_header_info_payload_is_empty) on an artifact that holds nothing but
 * a header, which is all they read.
 *
 * Input: one configuration byte, then the header, in one of two forms.
 *   byte 0, bit 0:    artifact version (0: 3, 1: 2)
 *   byte 0, bits 1-2: how many payload members the artifact has (0-3)
 *   The rest, when it is a tar (ustar magic at 257, or gzip, xz or zstd
 *   magic at 0): loaded with mfs_header_load, as the daemon does.
 *   Otherwise: the files themselves, separated by SEPARATOR, in the order
 *   header-info, headers/0000/type-info, headers/0000/meta-data,
 *   headers/0001/type-info, ...  This form lets the fuzzer work on the
 *   JSON directly instead of through tar headers.
 * Each file is stored in a buffer of exactly its size, with no NUL after
 * it, so a parser that reads past the end is caught.
 */
#include <errno.h>
#include <string.h>

#include "artifact/artifact.h"
#include "artifact/header.h"
#include "artifact/header_info.h"
#include "artifact/stream.h"
#include "fuzz/fuzz_i.h"

#define SEPARATOR	"\n--\n"
#define MAX_BLOBS	16

static const uint8_t *find_separator(const uint8_t *p, const uint8_t *end)
{
	size_t seplen = strlen(SEPARATOR);

	for (; (size_t)(end - p) >= seplen; p++)
		if (memcmp(p, SEPARATOR, seplen) == 0)
			return p;
	return NULL;
}

static void blob_name(size_t i, char *buf, size_t len)
{
	if (i == 0)
		snprintf(buf, len, "header-info");
	else
		snprintf(buf, len, "headers/%04zu/%s", (i - 1) / 2,
			 (i - 1) % 2 ? "meta-data" : "type-info");
}

/* Splits the input into header files, as mfs_header_load would give. */
static void load_blobs(const uint8_t *p, const uint8_t *end,
		       struct mfs_header *h)
{
	h->files = calloc(MAX_BLOBS, sizeof(*h->files));
	FUZZ_CHECK(h->files != NULL);
	while (h->count < MAX_BLOBS) {
		const uint8_t *sep = find_separator(p, end);
		const uint8_t *stop = sep ? sep : end;
		struct mfs_blob *b = &h->files[h->count];
		char name[64];

		blob_name(h->count, name, sizeof(name));
		b->name = strdup(name);
		b->size = (size_t)(stop - p);
		b->data = malloc(b->size ? b->size : 1);
		FUZZ_CHECK(b->name && b->data);
		memcpy(b->data, p, b->size);
		b->mode = 0100644;
		h->count++;
		if (!sep)
			break;
		p = sep + strlen(SEPARATOR);
	}
}

static int looks_like_tar(const uint8_t *p, size_t len)
{
	return (len >= 263 && memcmp(p + 257, "ustar", 5) == 0) ||
	       mfs_compression_detect(p, len) != MFS_COMPRESSION_NONE;
}

/* Loads the tar form through the daemon's own loader.  Returns false
 * when the loader refused it. */
static int load_tar(const uint8_t *p, size_t len, struct mfs_header *h)
{
	struct mfs_stream *s = NULL;
	char err[256];
	int fd, ret;

	fd = fuzz_memfd(p, len);
	ret = mfs_stream_open(fd, 0, len, &s);
	if (ret == 0) {
		memset(err, 'x', sizeof(err));
		ret = mfs_header_load(s, h, err, sizeof(err));
		if (ret < 0) {
			FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
			FUZZ_CHECK(h->count == 0 && h->files == NULL);
		}
		for (size_t i = 0; i < h->count; i++) {
			FUZZ_CHECK(h->files[i].size <= MFS_HEADER_MAX_FILE);
			FUZZ_CHECK(mfs_header_find(h, h->files[i].name) != NULL);
		}
		FUZZ_CHECK(h->count <= MFS_HEADER_MAX_FILES);
	}
	mfs_stream_close(s);
	close(fd);
	return ret == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfs_artifact a;
	char err[MFS_ERR_LEN];
	int ret;

	if (size < 1)
		return 0;
	memset(&a, 0, sizeof(a));
	a.version = data[0] & 1 ? 2 : 3;
	a.payload_count = (size_t)(data[0] >> 1 & 3);
	a.m_header = 0;
	if (looks_like_tar(data + 1, size - 1)) {
		if (!load_tar(data + 1, size - 1, &a.header))
			return 0;
	} else {
		load_blobs(data + 1, data + size, &a.header);
	}

	memset(err, 'x', sizeof(err));
	ret = mfs_header_info_check(&a, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	if (ret < 0)
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
	/* One past the payloads too: an index the list lacks is not empty. */
	for (size_t i = 0; i <= a.payload_count; i++) {
		int empty = mfs_header_info_payload_is_empty(&a, i);

		FUZZ_CHECK(empty == 0 || empty == 1);
	}
	mfs_header_destroy(&a.header);
	return 0;
}
