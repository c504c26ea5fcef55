/* Recognising how a member is compressed, from its first bytes. */
#include <string.h>

#include "artifact/compression.h"

static const unsigned char gzip_magic[] = { 0x1f, 0x8b };
static const unsigned char xz_magic[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
static const unsigned char zstd_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };

static int starts_with(const void *head, size_t len, const unsigned char *magic,
		       size_t magic_len)
{
	return len >= magic_len && memcmp(head, magic, magic_len) == 0;
}

enum mfs_compression mfs_compression_detect(const void *head, size_t len)
{
	if (starts_with(head, len, gzip_magic, sizeof(gzip_magic)))
		return MFS_COMPRESSION_GZIP;
	if (starts_with(head, len, xz_magic, sizeof(xz_magic)))
		return MFS_COMPRESSION_XZ;
	if (starts_with(head, len, zstd_magic, sizeof(zstd_magic)))
		return MFS_COMPRESSION_ZSTD;
	return MFS_COMPRESSION_NONE;
}

const char *mfs_compression_name(enum mfs_compression c)
{
	switch (c) {
	case MFS_COMPRESSION_GZIP:
		return "gzip";
	case MFS_COMPRESSION_XZ:
		return "xz";
	case MFS_COMPRESSION_ZSTD:
		return "zstd";
	case MFS_COMPRESSION_NONE:
		break;
	}
	return "none";
}

const char *mfs_compression_suffix(enum mfs_compression c)
{
	switch (c) {
	case MFS_COMPRESSION_GZIP:
		return ".gz";
	case MFS_COMPRESSION_XZ:
		return ".xz";
	case MFS_COMPRESSION_ZSTD:
		return ".zst";
	case MFS_COMPRESSION_NONE:
		break;
	}
	return "";
}
