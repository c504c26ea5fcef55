/*
 * contents/: the files inside a payload file that holds a filesystem or
 * an archive (ext2/3/4, squashfs, tar plain or compressed), FUSE-free.
 *
 * The image is read through a source: anything with a size and a
 * thread-safe pread (a payload file of the tree is the payload stream read
 * at that entry's offset).  mfs_contents_probe() tells from the first
 * bytes whether a source is worth showing; mfs_contents_open() reads what
 * the reader needs to answer node calls (an ext superblock and group
 * descriptors, a squashfs directory tree, a tar's index); the node calls
 * then map one to one onto FUSE operations.
 *
 * Nodes are numbered by the reader: the root is mfs_contents_root(), and
 * a node number stays valid for the life of the handle.  Hard links are
 * one node.  Every call is safe from many threads; a damaged image gives
 * -EIO for what cannot be read and never crashes or loops: the work of
 * one call is bounded (entries per directory, nodes per image, symlink
 * length, extent depth).
 */
#ifndef MFS_CONTENTS_H
#define MFS_CONTENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/* Where the image's bytes come from.  pread returns the bytes read (short
 * only at the end), or a negative errno; it is called from many threads
 * at once.  The source must outlive every handle opened on it. */
struct mfs_contents_source {
	void *ctx;
	uint64_t size;
	ssize_t (*pread)(void *ctx, void *buf, size_t len, uint64_t off);
};

enum mfs_contents_kind {
	MFS_CONTENTS_NONE = 0,
	MFS_CONTENTS_EXT,	/* ext2, ext3, ext4 */
	MFS_CONTENTS_SQUASHFS,
	MFS_CONTENTS_TAR,	/* plain, gzip, xz, zstd, bzip2 */
};

/* The longest symlink target served; a longer one reads -EIO. */
#define MFS_CONTENTS_LINK_MAX 4096

/* Entries listed per directory at most; the rest of a larger one is not
 * shown. */
#define MFS_CONTENTS_DIR_MAX (1u << 20)

/* Nodes one squashfs or tar image holds at most (what memory allows);
 * what lies beyond is not shown. */
#define MFS_CONTENTS_NODES_MAX (1u << 20)

struct mfs_contents;

/* Which kind of image the source holds, judged from its first bytes (at
 * most about a MiB, for a bzip2 tar whose first block must be decoded
 * whole).  Returns a kind, MFS_CONTENTS_NONE, or a negative errno when
 * the source cannot be read. */
int mfs_contents_probe(const struct mfs_contents_source *src);

/* "ext", "squashfs", "tar" or "none". */
const char *mfs_contents_kind_name(enum mfs_contents_kind kind);

/* Opens the image (kind MFS_CONTENTS_NONE probes first).  Nothing is read
 * before this call, so the caller opens when someone first looks inside.
 * A tar is indexed whole here.  Returns 0, -EINVAL for an image the reader
 * refuses (with the reason in errbuf, when given), -EIO or -ENOMEM. */
int mfs_contents_open(const struct mfs_contents_source *src,
		      enum mfs_contents_kind kind, struct mfs_contents **out,
		      char *errbuf, size_t errlen);

/* Accepts NULL. */
void mfs_contents_close(struct mfs_contents *c);

enum mfs_contents_kind mfs_contents_kind(const struct mfs_contents *c);

uint64_t mfs_contents_root(const struct mfs_contents *c);

/* The node called name in directory dir: 0, -ENOENT, -ENOTDIR, -EIO. */
int mfs_contents_lookup(struct mfs_contents *c, uint64_t dir,
			const char *name, uint64_t *node);

/* st_ino (the node), st_mode (the type and the permission bits as stored
 * less the write bits: set-id and sticky bits kept, nothing added),
 * st_nlink, st_uid, st_gid, st_rdev, st_size, st_blocks, st_blksize and
 * the three times to the nanosecond where the format has them. */
int mfs_contents_getattr(struct mfs_contents *c, uint64_t node,
			 struct stat *st);

/* Entry i (0-based; no "." or "..") of directory dir: its name copied
 * into name (NAME_MAX + 1 bytes), its node and its type (S_IF*).  Returns
 * 1, 0 past the last entry, or a negative errno. */
int mfs_contents_readdir(struct mfs_contents *c, uint64_t dir, size_t i,
			 char *name, uint64_t *node, mode_t *type);

/* A regular file's bytes (holes read as zeros).  Returns the byte count
 * (short only at the end of the file) or a negative errno: -EISDIR,
 * -EINVAL for other types, -EIO. */
ssize_t mfs_contents_read(struct mfs_contents *c, uint64_t node, void *buf,
			  size_t len, uint64_t off);

/* A symlink's target, verbatim, NUL-terminated in buf.  Returns its
 * length, -EINVAL for a node that is no symlink, -ENAMETOOLONG when buf
 * is too small, -EIO. */
ssize_t mfs_contents_readlink(struct mfs_contents *c, uint64_t node,
			      char *buf, size_t len);

/* listxattr(2) and getxattr(2): len 0 asks for the size; -ERANGE when
 * len is too small; getxattr gives -ENODATA for a name not there. */
ssize_t mfs_contents_listxattr(struct mfs_contents *c, uint64_t node,
			       char *buf, size_t len);
ssize_t mfs_contents_getxattr(struct mfs_contents *c, uint64_t node,
			      const char *name, void *buf, size_t len);

/* The image's block size, block and inode counts and free counts. */
int mfs_contents_statfs(struct mfs_contents *c, struct statvfs *st);

#endif
