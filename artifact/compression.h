/* Recognising how a member is compressed, from its first bytes. */
#ifndef MFS_COMPRESSION_H
#define MFS_COMPRESSION_H

#include <stddef.h>

enum mfs_compression {
	MFS_COMPRESSION_NONE,
	MFS_COMPRESSION_GZIP,
	MFS_COMPRESSION_XZ,
	MFS_COMPRESSION_ZSTD,
};

/* The magic bytes decide, not the name: a member called .gz that holds
 * plain tar is read as plain tar.  Input shorter than a format's magic
 * (2 bytes gzip, 4 zstd, 6 xz) cannot be that format. */
enum mfs_compression mfs_compression_detect(const void *head, size_t len);

/* "none", "gzip", "xz", "zstd". */
const char *mfs_compression_name(enum mfs_compression c);

/* The suffix a member name carries for this compression: "", ".gz"... */
const char *mfs_compression_suffix(enum mfs_compression c);

#endif
