/*
 * contents/ (artifact/contents/contents.h) on images the real tools make
 * during the test from one source directory: ext4 (mke2fs -d, then
 * e2fsck -D so large directories are hashed trees), squashfs (mksquashfs)
 * and tars (GNU tar in pax format with xattrs, plain and through gzip,
 * xz, zstd and bzip2).  Every entry the reader shows is compared with
 * the source directory the tools packed (type, mode by SPEC's rule,
 * owner, size, times, link targets, hard links, device numbers,
 * xattrs, every byte), and the other way round; statfs with dumpe2fs,
 * the tar's entries with Python's tarfile.  Damaged and crafted images
 * (bytes overwritten in the inode table and directory blocks that
 * dumpe2fs and debugfs locate, a directory loop and a huge symlink made
 * with debugfs) open, and every file reads or fails cleanly in bounded
 * time.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "artifact/contents/contents.h"
#include "testutil.h"

#define CHUNK (1024 * 1024)
/* Past this much hole, only the ends of a hole are compared. */
#define HOLE_SAMPLE (1024 * 1024)

static char *dir;		/* scratch: src/ and the images */
static char *src;		/* the source directory */

/* What a format keeps, so the comparison asks only for that. */
struct expect {
	bool nsec;		/* mtime to the nanosecond */
	bool xattrs;
	bool dir_nlink;		/* a directory's link count as on disk */
	const char *root_extra;	/* a name only the image has at its root */
	const char *skip;	/* a name only the source has (not packed) */
};

/* A source over an fd. */

struct fd_source {
	int fd;
};

static ssize_t fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct fd_source *s = ctx;
	ssize_t n = pread(s->fd, buf, len, (off_t)off);

	return n < 0 ? -errno : n;
}

struct image {
	struct fd_source fs;
	struct mfs_contents_source src;
	struct mfs_contents *c;
};

static int image_open(struct image *im, const char *name)
{
	struct stat st;
	char err[256] = "";
	int ret;

	im->fs.fd = tu_open(dir, name);
	ck_assert_int_eq(fstat(im->fs.fd, &st), 0);
	im->src.ctx = &im->fs;
	im->src.size = (uint64_t)st.st_size;
	im->src.pread = fd_pread;
	im->c = NULL;
	ret = mfs_contents_open(&im->src, MFS_CONTENTS_NONE, &im->c, err,
				sizeof(err));
	if (ret < 0)
		fprintf(stderr, "open %s: %d %s\n", name, ret, err);
	return ret;
}

static void image_close(struct image *im)
{
	mfs_contents_close(im->c);
	close(im->fs.fd);
}

/* Makes the source directory: every kind of entry SPEC names. */
static void make_source(void)
{
	dir = tu_mkdtemp();
	src = tu_path(dir, "src");
	tu_sh(dir,
	      "mkdir -p src/etc/app src/usr/bin src/usr/lib/deep/er/still "
	      "'src/dir with space' src/ünïcødé src/many && "
	      "python3 - <<'EOF'\n"
	      "import random\n"
	      "for i in range(300):\n"
	      "    r = random.Random(i)\n"
	      "    size = r.randrange(0, 48 * 1024) if i %% 60 else (1 + i // 60) * 700 * 1024\n"
	      "    open('src/usr/lib/f%%03d.bin' %% i, 'wb').write(r.randbytes(size))\n"
	      "for i in range(1500):\n"
	      "    open('src/many/entry-with-a-longish-name-%%04d' %% i, 'w').write(str(i))\n"
	      "open('src/usr/lib/deep/er/still/big.bin', 'wb').write(random.Random(7).randbytes(3 * 1024 * 1024 + 17))\n"
	      "EOF\n"
	      "printf 'root:*:19000:0:99999:7:::\\n' > src/etc/shadow && "
	      "printf 'key = value\\n' > src/etc/app/app.conf && "
	      "printf '#!/bin/sh\\nexit 0\\n' > src/usr/bin/tool && "
	      "printf '#!/bin/sh\\nid\\n' > src/usr/bin/suid && "
	      "printf 'spaces\\n' > 'src/dir with space/a file with spaces.txt' && "
	      "printf 'utf-8\\n' > 'src/ünïcødé/файл-日本語.txt' && "
	      ": > src/empty && "
	      "truncate -s 8M src/sparse && "
	      "printf 'in the middle' | dd of=src/sparse bs=1 seek=4194304 "
	      "conv=notrunc status=none && "
	      "truncate -s 5G src/huge && "
	      "printf 'past four gigabytes' | dd of=src/huge bs=1 "
	      "seek=4294979641 conv=notrunc status=none && "
	      "ln -s ../../etc/shadow src/usr/bin/rel-link && "
	      "ln -s /etc/passwd src/abs-link && "
	      "ln -s does/not/exist src/dangling && "
	      "ln src/usr/bin/tool src/usr/bin/tool-hardlink && "
	      "mkfifo src/fifo && mknod src/null c 1 3 && "
	      "mknod src/disk b 8 17 && "
	      "chown -R 1000:1000 src && chown 0:0 src/etc/shadow && "
	      "chmod 0600 src/etc/shadow && chmod 0755 src/usr/bin/tool && "
	      "chmod 04755 src/usr/bin/suid && chmod 0700 src/etc/app && "
	      "setfattr -n user.comment -v 'hello xattr' src/etc/app/app.conf && "
	      "setfattr -n user.empty src/empty && "
	      "setcap cap_net_raw+ep src/usr/bin/tool && "
	      "find src -exec touch -h -d '2023-01-02 03:04:05.123456789' {} + && "
	      "touch -h -d '2021-06-07 08:09:10.987654321' src/usr/bin/rel-link "
	      "src/etc/shadow src/usr/lib");
}

static void remove_source(void)
{
	tu_rmtree(dir);
	free(src);
	free(dir);
}

/* Walking the image by path. */

static int lookup_path(struct mfs_contents *c, const char *path,
		       uint64_t *node)
{
	char *copy = strdup(path), *save = NULL, *part;
	uint64_t cur = mfs_contents_root(c);
	int ret = 0;

	for (part = strtok_r(copy, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		ret = mfs_contents_lookup(c, cur, part, &cur);
		if (ret < 0)
			break;
	}
	free(copy);
	*node = cur;
	return ret;
}

static void compare_xattrs(struct mfs_contents *c, uint64_t node,
			   const char *path, const char *rel)
{
	char want[4096], got[4096];
	ssize_t wn = llistxattr(path, want, sizeof(want));
	ssize_t gn = mfs_contents_listxattr(c, node, NULL, 0);
	size_t count = 0;

	ck_assert_msg(wn >= 0, "llistxattr %s", path);
	ck_assert_msg(gn >= 0, "%s: listxattr size %zd", rel, gn);
	ck_assert_int_eq(mfs_contents_listxattr(c, node, got, sizeof(got)), gn);
	if (gn > 0)
		ck_assert_int_eq(mfs_contents_listxattr(c, node, got, 1),
				 -ERANGE);
	for (ssize_t i = 0; i < wn; i += (ssize_t)strlen(want + i) + 1) {
		char wv[4096], gv[4096];
		ssize_t a = lgetxattr(path, want + i, wv, sizeof(wv));
		ssize_t b = mfs_contents_getxattr(c, node, want + i, gv,
						  sizeof(gv));

		ck_assert_msg(a == b, "%s: xattr %s: %zd, want %zd", rel,
			      want + i, b, a);
		ck_assert_msg(memcmp(wv, gv, (size_t)a) == 0, "%s: xattr %s",
			      rel, want + i);
		ck_assert_int_eq(mfs_contents_getxattr(c, node, want + i, NULL,
						       0), a);
		count++;
	}
	for (ssize_t i = 0; i < gn; i += (ssize_t)strlen(got + i) + 1)
		count--;
	ck_assert_msg(count == 0, "%s: other xattrs than the source's", rel);
	ck_assert_int_eq(mfs_contents_getxattr(c, node, "user.not-there", got,
					       sizeof(got)), -ENODATA);
}

static void compare_range(struct mfs_contents *c, uint64_t node, int fd,
			  const char *rel, uint64_t off, uint64_t len,
			  uint8_t *a, uint8_t *b)
{
	while (len) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;
		ssize_t want = pread(fd, a, n, (off_t)off);
		ssize_t got = mfs_contents_read(c, node, b, n, off);

		ck_assert_msg(got == want, "%s: read at %llu: %zd, want %zd",
			      rel, (unsigned long long)off, got, want);
		ck_assert_msg(memcmp(a, b, n) == 0, "%s: bytes differ at %llu",
			      rel, (unsigned long long)off);
		off += n;
		len -= n;
	}
}

/* Every byte of the data the source holds, and of holes their ends:
 * the source says where its data and holes lie (SEEK_DATA). */
static void compare_content(struct mfs_contents *c, uint64_t node,
			    const char *path, const char *rel, uint64_t size)
{
	int fd = open(path, O_RDONLY);
	uint8_t *a = malloc(CHUNK), *b = malloc(CHUNK);
	uint64_t pos = 0;

	ck_assert(fd >= 0 && a && b);
	while (pos < size) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
		off_t hole;

		if (data < 0)
			data = (off_t)size;
		if ((uint64_t)data > pos) {
			uint64_t h = (uint64_t)data - pos;

			if (h <= 2 * HOLE_SAMPLE) {
				compare_range(c, node, fd, rel, pos, h, a, b);
			} else {
				compare_range(c, node, fd, rel, pos,
					      HOLE_SAMPLE, a, b);
				compare_range(c, node, fd, rel,
					      (uint64_t)data - HOLE_SAMPLE,
					      HOLE_SAMPLE, a, b);
			}
		}
		if ((uint64_t)data >= size)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		ck_assert(hole > data);
		compare_range(c, node, fd, rel, (uint64_t)data,
			      (uint64_t)(hole - data), a, b);
		pos = (uint64_t)hole;
	}
	/* At and past the end. */
	ck_assert_int_eq(mfs_contents_read(c, node, b, 16, size), 0);
	ck_assert_int_eq(mfs_contents_read(c, node, b, 16, size + 4096), 0);
	free(a);
	free(b);
	close(fd);
}

static void compare_entry(struct mfs_contents *c, const struct expect *x,
			  const char *rel, uint64_t node, const struct stat *want)
{
	char *path = tu_path(src, rel);
	struct stat got;
	mode_t mode;

	ck_assert_msg(mfs_contents_getattr(c, node, &got) == 0, "%s", rel);
	mode = want->st_mode & ~(mode_t)0222;
	ck_assert_msg(got.st_mode == mode, "%s: mode %o, want %o", rel,
		      got.st_mode, mode);
	ck_assert_msg(got.st_uid == want->st_uid && got.st_gid == want->st_gid,
		      "%s: owner %u:%u, want %u:%u", rel, got.st_uid,
		      got.st_gid, want->st_uid, want->st_gid);
	ck_assert_uint_eq(got.st_ino, node);
	ck_assert_msg(got.st_mtim.tv_sec == want->st_mtim.tv_sec, "%s: mtime",
		      rel);
	if (x->nsec)
		ck_assert_msg(got.st_mtim.tv_nsec == want->st_mtim.tv_nsec,
			      "%s: mtime ns %ld, want %ld", rel,
			      got.st_mtim.tv_nsec, want->st_mtim.tv_nsec);
	if (!S_ISDIR(want->st_mode) || x->dir_nlink)
		ck_assert_msg(got.st_nlink == want->st_nlink,
			      "%s: nlink %lu, want %lu", rel,
			      (unsigned long)got.st_nlink,
			      (unsigned long)want->st_nlink);
	if (S_ISCHR(want->st_mode) || S_ISBLK(want->st_mode))
		ck_assert_msg(got.st_rdev == want->st_rdev, "%s: rdev", rel);
	if (S_ISREG(want->st_mode) || S_ISLNK(want->st_mode))
		ck_assert_msg(got.st_size == want->st_size,
			      "%s: size %lld, want %lld", rel,
			      (long long)got.st_size, (long long)want->st_size);
	if (S_ISLNK(want->st_mode)) {
		char a[PATH_MAX], b[PATH_MAX];
		ssize_t n = readlink(path, a, sizeof(a));

		ck_assert(n > 0);
		ck_assert_int_eq(mfs_contents_readlink(c, node, b, sizeof(b)),
				 n);
		ck_assert_msg(memcmp(a, b, (size_t)n) == 0 && b[n] == '\0',
			      "%s: target", rel);
		ck_assert_int_eq(mfs_contents_readlink(c, node, b, (size_t)n),
				 -ENAMETOOLONG);
	} else {
		char b[16];

		ck_assert_int_eq(mfs_contents_readlink(c, node, b, sizeof(b)),
				 -EINVAL);
	}
	if (S_ISREG(want->st_mode))
		compare_content(c, node, path, rel, (uint64_t)want->st_size);
	else if (S_ISDIR(want->st_mode))
		ck_assert_int_eq(mfs_contents_read(c, node, path, 1, 0),
				 -EISDIR);
	if (x->xattrs)
		compare_xattrs(c, node, path, rel);
	free(path);
}

/* Both ways: every source entry is in the image and matches; every
 * entry the image lists is in the source.  Returns the entries met. */
static size_t compare_dir(struct mfs_contents *c, const struct expect *x,
			  const char *rel, uint64_t node)
{
	char *path = tu_path(src, rel);
	DIR *d = opendir(path);
	struct dirent *de;
	size_t seen = 0, listed = 0;
	char name[NAME_MAX + 1];
	uint64_t child;
	mode_t type;
	int ret;

	ck_assert_msg(d != NULL, "opendir %s", path);
	while ((de = readdir(d))) {
		char *crel, *cpath;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (x->skip && !rel[1] && !strcmp(de->d_name, x->skip))
			continue;
		ck_assert(asprintf(&crel, "%s/%s", rel, de->d_name) > 0);
		cpath = tu_path(src, crel);
		ck_assert_int_eq(lstat(cpath, &st), 0);
		ret = mfs_contents_lookup(c, node, de->d_name, &child);
		ck_assert_msg(ret == 0, "%s: lookup %d", crel, ret);
		compare_entry(c, x, crel, child, &st);
		seen++;
		if (S_ISDIR(st.st_mode))
			seen += compare_dir(c, x, crel, child);
		free(cpath);
		free(crel);
	}
	closedir(d);
	for (size_t i = 0;; i++) {
		char *cpath;
		struct stat st;

		ret = mfs_contents_readdir(c, node, i, name, &child, &type);
		ck_assert_int_ge(ret, 0);
		if (ret == 0)
			break;
		if (x->root_extra && !rel[1] && !strcmp(name, x->root_extra))
			continue;
		ck_assert(asprintf(&cpath, "%s/%s", path, name) > 0);
		ck_assert_msg(lstat(cpath, &st) == 0, "%s only in the image",
			      cpath);
		ck_assert_msg(type == (st.st_mode & S_IFMT), "%s: type %o",
			      cpath, type);
		free(cpath);
		listed++;
	}
	ck_assert_int_eq(mfs_contents_lookup(c, node, "not-there", &child),
			 -ENOENT);
	free(path);
	(void)listed;
	return seen;
}

static void compare_image(const char *name, const struct expect *x)
{
	struct image im;
	struct stat st;
	uint64_t a, b;
	int ret;

	ret = image_open(&im, name);
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_gt(compare_dir(im.c, x, "/", mfs_contents_root(im.c)),
			  1800);
	/* The hard-link pair is one node, counted twice. */
	ck_assert_int_eq(lookup_path(im.c, "usr/bin/tool", &a), 0);
	ck_assert_int_eq(lookup_path(im.c, "usr/bin/tool-hardlink", &b), 0);
	ck_assert_uint_eq(a, b);
	ck_assert_int_eq(mfs_contents_getattr(im.c, a, &st), 0);
	ck_assert_uint_eq(st.st_nlink, 2);
	/* Not a directory. */
	ck_assert_int_eq(mfs_contents_lookup(im.c, a, "x", &b), -ENOTDIR);
	image_close(&im);
}

/* ext4 */

static void make_ext4(void)
{
	make_source();
	/* mke2fs copies the tree; e2fsck -D then indexes the directories
	 * of more than a block (exit 1: it changed the filesystem). */
	tu_sh(dir, "mke2fs -q -F -t ext4 -b 4096 -I 256 -d src rootfs.ext4 "
		   "160M && { e2fsck -fyD rootfs.ext4 >/dev/null 2>&1 || "
		   "[ $? -eq 1 ]; } && "
		   "mke2fs -q -F -t ext2 -b 1024 -d src rootfs.ext2 160M && "
		   "mke2fs -q -F -t ext3 -b 4096 -d src rootfs.ext3 160M && "
		   "debugfs -R 'htree_dump /many' rootfs.ext4 2>/dev/null | "
		   "grep -q 'Number of entries'");
}

START_TEST(test_ext4_probe)
{
	struct image im;

	ck_assert_int_eq(image_open(&im, "rootfs.ext4"), 0);
	ck_assert_int_eq(mfs_contents_kind(im.c), MFS_CONTENTS_EXT);
	ck_assert_int_eq(mfs_contents_probe(&im.src), MFS_CONTENTS_EXT);
	image_close(&im);
}
END_TEST

START_TEST(test_ext4_entries)
{
	/* mke2fs -d copies seconds only: the nanoseconds are checked
	 * against debugfs below. */
	static const struct expect x = {
		.xattrs = true, .dir_nlink = true, .root_extra = "lost+found",
	};

	compare_image("rootfs.ext4", &x);
}
END_TEST

/* ext2 and ext3: files mapped by indirect blocks, not extents (1 KiB
 * blocks for ext2, so the big files need double indirect ones). */
START_TEST(test_ext23_entries)
{
	static const char *const names[] = { "rootfs.ext2", "rootfs.ext3" };
	static const struct expect x = {
		.xattrs = true, .dir_nlink = true, .root_extra = "lost+found",
	};

	compare_image(names[_i], &x);
}
END_TEST

/* dumpe2fs -h's value of a field. */
static unsigned long long dumpe2fs_field(const char *image, const char *key)
{
	char *out = tu_path(dir, "field.txt");
	unsigned long long v = 0;
	uint8_t *text;
	size_t len;

	tu_sh(dir, "dumpe2fs -h %s 2>/dev/null | sed -n 's/^%s: *//p' "
		   "> field.txt", image, key);
	text = tu_read_file(dir, "field.txt", &len);
	ck_assert_msg(len > 0, "dumpe2fs has no %s", key);
	v = strtoull((char *)text, NULL, 10);
	free(text);
	free(out);
	return v;
}

START_TEST(test_ext4_statfs)
{
	struct image im;
	struct statvfs st;

	ck_assert_int_eq(image_open(&im, "rootfs.ext4"), 0);
	ck_assert_int_eq(mfs_contents_statfs(im.c, &st), 0);
	ck_assert_uint_eq(st.f_bsize, dumpe2fs_field("rootfs.ext4",
						      "Block size"));
	ck_assert_uint_eq(st.f_blocks, dumpe2fs_field("rootfs.ext4",
						       "Block count"));
	ck_assert_uint_eq(st.f_bfree, dumpe2fs_field("rootfs.ext4",
						      "Free blocks"));
	ck_assert_uint_eq(st.f_files, dumpe2fs_field("rootfs.ext4",
						      "Inode count"));
	ck_assert_uint_eq(st.f_ffree, dumpe2fs_field("rootfs.ext4",
						      "Free inodes"));
	ck_assert(st.f_flag & ST_RDONLY);
	image_close(&im);
}
END_TEST

/* The inode numbers are debugfs's. */
START_TEST(test_ext4_inode_numbers)
{
	struct image im;
	uint64_t node;
	uint8_t *text;
	size_t len;

	tu_sh(dir, "debugfs -R 'stat /usr/bin/tool' rootfs.ext4 2>/dev/null |"
		   " sed -n 's/^Inode: *\\([0-9]*\\).*/\\1/p' > ino.txt");
	text = tu_read_file(dir, "ino.txt", &len);
	ck_assert_int_eq(image_open(&im, "rootfs.ext4"), 0);
	ck_assert_int_eq(lookup_path(im.c, "usr/bin/tool", &node), 0);
	ck_assert_uint_eq(node, strtoull((char *)text, NULL, 10));
	ck_assert_uint_eq(mfs_contents_root(im.c), 2);
	free(text);
	image_close(&im);
}
END_TEST

/* Nanoseconds and the epoch bits past 2038, set with debugfs and read
 * back as debugfs prints them (its date string, in UTC, gives the
 * seconds; the extra field's upper 30 bits the nanoseconds). */
START_TEST(test_ext4_times)
{
	struct image im;
	struct stat st;
	uint64_t node;
	long long secs, nsec;
	uint8_t *text;
	size_t len;

	tu_sh(dir, "cp rootfs.ext4 times.ext4 && "
		   "debugfs -w -R 'sif /etc/shadow mtime_extra 0x1d6f3455' "
		   "times.ext4 >/dev/null 2>&1 && "
		   "debugfs -w -R 'sif /etc/shadow atime_extra 0xee6b2800' "
		   "times.ext4 >/dev/null 2>&1 && "
		   "line=$(TZ=UTC debugfs -R 'stat /etc/shadow' times.ext4 "
		   "2>/dev/null | grep '^ mtime:') && "
		   "extra=$(echo \"$line\" | sed 's/.*0x[0-9a-f]*:\\([0-9a-f]*\\) .*/\\1/') && "
		   "when=$(echo \"$line\" | sed 's/.* -- //') && "
		   "echo $(TZ=UTC date -d \"$when\" +%%s) "
		   "$(( 0x$extra >> 2 )) > times.txt");
	text = tu_read_file(dir, "times.txt", &len);
	ck_assert_int_eq(sscanf((char *)text, "%lld %lld", &secs, &nsec), 2);
	ck_assert_int_eq(nsec, 123456789);
	ck_assert_int_gt(secs, 1LL << 32);
	ck_assert_int_eq(image_open(&im, "times.ext4"), 0);
	ck_assert_int_eq(lookup_path(im.c, "etc/shadow", &node), 0);
	ck_assert_int_eq(mfs_contents_getattr(im.c, node, &st), 0);
	ck_assert_int_eq(st.st_mtim.tv_sec, secs);
	ck_assert_int_eq(st.st_mtim.tv_nsec, nsec);
	/* Nanoseconds past a second (a crafted field) are not served. */
	ck_assert_int_lt(st.st_atim.tv_nsec, 1000000000);
	free(text);
	image_close(&im);
}
END_TEST

/* Many readers at once get the right bytes. */

struct reader_arg {
	struct mfs_contents *c;
	int which;
	int failures;
};

static void *reader_main(void *p)
{
	struct reader_arg *r = p;
	char rel[64], *path;
	uint8_t *a = malloc(65536), *b = malloc(65536);
	uint64_t node;

	for (int i = r->which; i < 300; i += 4) {
		int fd;
		ssize_t n, m;

		snprintf(rel, sizeof(rel), "usr/lib/f%03d.bin", i);
		path = tu_path(src, rel);
		fd = open(path, O_RDONLY);
		if (fd < 0 || lookup_path(r->c, rel, &node) < 0) {
			r->failures++;
		} else {
			for (uint64_t off = 0;; off += 65536) {
				n = pread(fd, a, 65536, (off_t)off);
				m = mfs_contents_read(r->c, node, b, 65536,
						      off);
				if (n != m || (n > 0 &&
					       memcmp(a, b, (size_t)n))) {
					r->failures++;
					break;
				}
				if (n <= 0)
					break;
			}
		}
		if (fd >= 0)
			close(fd);
		free(path);
	}
	free(a);
	free(b);
	return NULL;
}

static void parallel_readers(const char *image)
{
	struct reader_arg args[4];
	pthread_t t[4];
	struct image im;

	ck_assert_int_eq(image_open(&im, image), 0);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct reader_arg){ .c = im.c, .which = i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader_main,
						&args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(args[i].failures, 0);
	}
	image_close(&im);
}

START_TEST(test_ext4_parallel)
{
	parallel_readers("rootfs.ext4");
}
END_TEST

/* Damaged and crafted images: every call returns, with a clean errno. */

static bool clean_error(long ret)
{
	return ret >= 0 || ret == -EIO || ret == -ENOENT || ret == -ENOTDIR ||
	       ret == -EINVAL || ret == -EISDIR || ret == -ENODATA ||
	       ret == -ENAMETOOLONG || ret == -ERANGE || ret == -ENOMEM;
}

struct survey {
	size_t nodes, files, read_ok, read_failed;
	uint8_t *buf;
};

/* Visits everything reachable (depth and count bounded: a loop in a
 * damaged tree must not make the test itself run forever), reading every
 * file whole and asking every other question once. */
static void survey_dir(struct mfs_contents *c, uint64_t node, int depth,
		       struct survey *s)
{
	char name[NAME_MAX + 1];
	uint64_t child;
	mode_t type;
	int ret;

	if (depth > 32)
		return;
	for (size_t i = 0; s->nodes < 20000; i++) {
		struct stat st;
		char link[MFS_CONTENTS_LINK_MAX];
		char xl[4096];
		uint64_t again;
		long r;

		ret = mfs_contents_readdir(c, node, i, name, &child, &type);
		ck_assert_msg(clean_error(ret), "readdir: %d", ret);
		if (ret <= 0)
			break;
		s->nodes++;
		r = mfs_contents_lookup(c, node, name, &again);
		ck_assert_msg(clean_error(r), "lookup %s: %ld", name, r);
		r = mfs_contents_getattr(c, child, &st);
		ck_assert_msg(clean_error(r), "getattr %s: %ld", name, r);
		r = mfs_contents_readlink(c, child, link, sizeof(link));
		ck_assert_msg(clean_error(r), "readlink %s: %ld", name, r);
		r = mfs_contents_listxattr(c, child, xl, sizeof(xl));
		ck_assert_msg(clean_error(r), "listxattr %s: %ld", name, r);
		r = mfs_contents_getxattr(c, child, "user.comment", xl,
					  sizeof(xl));
		ck_assert_msg(clean_error(r), "getxattr %s: %ld", name, r);
		if (type == S_IFDIR) {
			survey_dir(c, child, depth + 1, s);
		} else if (type == S_IFREG) {
			s->files++;
			for (uint64_t off = 0; off < 64 * TU_MIB;
			     off += CHUNK) {
				r = mfs_contents_read(c, child, s->buf, CHUNK,
						      off);
				ck_assert_msg(clean_error(r), "read %s: %ld",
					      name, r);
				if (r < 0)
					s->read_failed++;
				if (r <= 0)
					break;
				if (r < CHUNK) {
					s->read_ok++;
					break;
				}
			}
		}
	}
}

static void survey_image(const char *name, struct survey *s, double limit)
{
	struct image im;
	struct statvfs sv;
	double t0 = tu_now();
	int ret;

	memset(s, 0, sizeof(*s));
	s->buf = malloc(CHUNK);
	ret = image_open(&im, name);
	ck_assert_msg(ret == 0 || ret == -EINVAL || ret == -EIO,
		      "open: %d", ret);
	if (ret == 0) {
		ck_assert_int_eq(mfs_contents_statfs(im.c, &sv), 0);
		survey_dir(im.c, mfs_contents_root(im.c), 0, s);
		image_close(&im);
	} else {
		close(im.fs.fd);
	}
	free(s->buf);
	ck_assert_msg(tu_now() - t0 < limit, "%s: %.1f s", name,
		      tu_now() - t0);
}

START_TEST(test_ext4_damaged)
{
	struct survey s;

	/* Random bytes over a stretch of the first group's inode table and
	 * over the blocks of three directories. */
	tu_sh(dir, "cp rootfs.ext4 damaged.ext4 && "
		   "it=$(dumpe2fs damaged.ext4 2>/dev/null | "
		   "sed -n 's/^ *Inode table at \\([0-9]*\\)-.*/\\1/p' | "
		   "head -1) && "
		   "dd if=/dev/urandom of=damaged.ext4 bs=4096 seek=$((it + 1))"
		   " count=3 conv=notrunc status=none && "
		   "for d in /usr/lib /many /usr/lib/deep/er; do "
		   "for b in $(debugfs -R \"blocks $d\" damaged.ext4 "
		   "2>/dev/null | tr ' ' '\\n' | head -2); do "
		   "dd if=/dev/urandom of=damaged.ext4 bs=4096 seek=$b "
		   "count=1 conv=notrunc status=none; done; done");
	survey_image("damaged.ext4", &s, 60);
	/* What the damage spared is still there. */
	ck_assert_uint_gt(s.read_ok, 3);
}
END_TEST

START_TEST(test_ext4_crafted)
{
	struct image im;
	struct survey s;
	uint64_t node, top, loop;
	char buf[MFS_CONTENTS_LINK_MAX];

	/* A directory entry back to an ancestor, a symlink claiming a
	 * gigabyte, a file claiming 2^46 bytes. */
	tu_sh(dir, "cp rootfs.ext4 crafted.ext4 && "
		   "debugfs -w -R 'ln /usr /usr/lib/deep/back' crafted.ext4 "
		   ">/dev/null 2>&1 && "
		   "debugfs -w -R 'sif /usr/bin/rel-link size 1000000000' "
		   "crafted.ext4 >/dev/null 2>&1 && "
		   "debugfs -w -R 'sif /empty size 0x400000000000' "
		   "crafted.ext4 >/dev/null 2>&1");
	ck_assert_int_eq(image_open(&im, "crafted.ext4"), 0);
	ck_assert_int_eq(lookup_path(im.c, "usr", &top), 0);
	ck_assert_int_eq(lookup_path(im.c, "usr/lib/deep/back/lib/deep/back/"
					   "lib/deep/back", &loop), 0);
	ck_assert_uint_eq(top, loop);
	ck_assert_int_eq(lookup_path(im.c, "usr/bin/rel-link", &node), 0);
	ck_assert_int_eq(mfs_contents_readlink(im.c, node, buf, sizeof(buf)),
			 -EIO);
	ck_assert_int_eq(lookup_path(im.c, "empty", &node), 0);
	memset(buf, 1, sizeof(buf));
	ck_assert_int_eq(mfs_contents_read(im.c, node, buf, 16,
					   0x3fffffff0000ull), 16);
	ck_assert(buf[0] == 0 && buf[15] == 0);
	image_close(&im);
	survey_image("crafted.ext4", &s, 60);
}
END_TEST

/* Tars */

static void make_tars(void)
{
	make_source();
	/* pax keeps nanoseconds and xattrs; --sparse stores the holes of
	 * sparse and huge as a sparse map. */
	tu_sh(dir, "tar --xattrs --xattrs-include='*' --format=pax --sparse "
		   "--numeric-owner -cf rootfs.tar -C src . && "
		   "gzip -n -c rootfs.tar > rootfs.tar.gz && "
		   "xz -T1 -c rootfs.tar > rootfs.tar.xz && "
		   "zstd -q -c rootfs.tar > rootfs.tar.zst && "
		   "bzip2 -c rootfs.tar > rootfs.tar.bz2 && "
		   "python3 - <<'EOF'\n"
		   "import tarfile\n"
		   "out = open('tarfile.txt', 'w')\n"
		   "for m in tarfile.open('rootfs.tar'):\n"
		   "    name = m.name[2:] if m.name.startswith('./') else m.name\n"
		   "    if name in ('', '.'):\n"
		   "        continue\n"
		   "    t = 'h' if m.islnk() else 'l' if m.issym() else 'd' if m.isdir() else 'f' if m.isfile() else 'c' if m.ischr() else 'b' if m.isblk() else 'p' if m.isfifo() else '?'\n"
		   "    mt = m.pax_headers.get('mtime', str(int(m.mtime)))\n"
		   "    sec, _, ns = mt.partition('.')\n"
		   "    ns = int((ns + '000000000')[:9])\n"
		   "    link = m.linkname[2:] if m.islnk() and m.linkname.startswith('./') else m.linkname\n"
		   "    xs = [(k[len('SCHILY.xattr.'):], v) for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.')]\n"
		   "    enc = lambda v: v.encode('utf-8', 'surrogateescape').hex() or '-'\n"
		   "    f = [enc(name), t, '%%o' %% m.mode, str(m.uid), str(m.gid), str(m.size), sec, str(ns), enc(link), str(len(xs))]\n"
		   "    for k, v in xs:\n"
		   "        f += [enc(k), enc(v)]\n"
		   "    out.write(' '.join(f) + '\\n')\n"
		   "EOF\n");
}

static size_t unhex(const char *h, char *out, size_t cap)
{
	size_t n = 0;

	if (!strcmp(h, "-")) {
		out[0] = '\0';
		return 0;
	}
	for (; h[0] && h[1] && n + 1 < cap; h += 2) {
		unsigned v;

		ck_assert_int_eq(sscanf(h, "%2x", &v), 1);
		out[n++] = (char)v;
	}
	out[n] = '\0';
	return n;
}

/* Every member Python's tarfile lists is there with tarfile's type,
 * mode (less the write bits), owner, size, mtime, link and xattrs. */
static void compare_tarfile(const char *image)
{
	FILE *f;
	char *path = tu_path(dir, "tarfile.txt"), line[65536];
	struct image im;
	size_t members = 0;

	ck_assert_int_eq(image_open(&im, image), 0);
	f = fopen(path, "r");
	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *tok[64];
		char name[PATH_MAX], link[PATH_MAX];
		int ntok = 0;
		uint64_t node, other;
		struct stat st;
		mode_t mode;

		for (char *t = strtok_r(line, " \n", &save); t && ntok < 64;
		     t = strtok_r(NULL, " \n", &save))
			tok[ntok++] = t;
		ck_assert_int_ge(ntok, 10);
		unhex(tok[0], name, sizeof(name));
		unhex(tok[8], link, sizeof(link));
		ck_assert_msg(lookup_path(im.c, name, &node) == 0, "%s", name);
		ck_assert_int_eq(mfs_contents_getattr(im.c, node, &st), 0);
		members++;
		if (tok[1][0] == 'h') {
			ck_assert_int_eq(lookup_path(im.c, link, &other), 0);
			ck_assert_uint_eq(node, other);
			continue;
		}
		mode = (mode_t)strtoul(tok[2], NULL, 8) & ~(mode_t)0222;
		ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %o", name,
			      st.st_mode);
		switch (tok[1][0]) {
		case 'f': ck_assert(S_ISREG(st.st_mode)); break;
		case 'd': ck_assert(S_ISDIR(st.st_mode)); break;
		case 'l': ck_assert(S_ISLNK(st.st_mode)); break;
		case 'c': ck_assert(S_ISCHR(st.st_mode)); break;
		case 'b': ck_assert(S_ISBLK(st.st_mode)); break;
		case 'p': ck_assert(S_ISFIFO(st.st_mode)); break;
		default: ck_abort_msg("%s: type %s", name, tok[1]);
		}
		ck_assert_uint_eq(st.st_uid, strtoul(tok[3], NULL, 10));
		ck_assert_uint_eq(st.st_gid, strtoul(tok[4], NULL, 10));
		if (tok[1][0] == 'f')
			ck_assert_uint_eq((uint64_t)st.st_size,
					  strtoull(tok[5], NULL, 10));
		ck_assert_int_eq(st.st_mtim.tv_sec, strtoll(tok[6], NULL, 10));
		ck_assert_int_eq(st.st_mtim.tv_nsec, strtol(tok[7], NULL, 10));
		if (tok[1][0] == 'l') {
			char got[PATH_MAX];

			ck_assert_int_eq(mfs_contents_readlink(im.c, node, got,
							       sizeof(got)),
					 (long)strlen(link));
			ck_assert_str_eq(got, link);
		}
		ck_assert_int_eq(ntok, 10 + 2 * atoi(tok[9]));
		for (int i = 0; i < atoi(tok[9]); i++) {
			char xn[256], xv[4096], got[4096];
			size_t vl;

			unhex(tok[10 + 2 * i], xn, sizeof(xn));
			vl = unhex(tok[11 + 2 * i], xv, sizeof(xv));
			ck_assert_int_eq(mfs_contents_getxattr(im.c, node, xn,
							       got,
							       sizeof(got)),
					 (long)vl);
			ck_assert(memcmp(got, xv, vl) == 0);
		}
	}
	fclose(f);
	ck_assert_uint_gt(members, 1800);
	free(path);
	image_close(&im);
}

static const struct expect tar_expect = { .nsec = true, .xattrs = true };

START_TEST(test_tar_entries)
{
	static const char *const names[] = {
		"rootfs.tar", "rootfs.tar.gz", "rootfs.tar.xz",
		"rootfs.tar.zst", "rootfs.tar.bz2",
	};
	struct image im;

	ck_assert_int_eq(image_open(&im, names[_i]), 0);
	ck_assert_int_eq(mfs_contents_kind(im.c), MFS_CONTENTS_TAR);
	image_close(&im);
	compare_image(names[_i], &tar_expect);
	compare_tarfile(names[_i]);
}
END_TEST

START_TEST(test_tar_parallel)
{
	parallel_readers("rootfs.tar");
	parallel_readers("rootfs.tar.gz");
}
END_TEST

/* A tar cut short shows the members before the cut; one damaged in its
 * compressed data reads what it can. */
START_TEST(test_tar_damaged)
{
	struct survey s;

	tu_sh(dir, "head -c 3000000 rootfs.tar > cut.tar && "
		   "head -c 3000000 rootfs.tar.gz > cut.tar.gz && "
		   "cp rootfs.tar.xz bad.tar.xz && "
		   "dd if=/dev/urandom of=bad.tar.xz bs=1 seek=2000000 "
		   "count=64 conv=notrunc status=none");
	survey_image("cut.tar", &s, 60);
	ck_assert_uint_gt(s.read_ok, 3);
	survey_image("cut.tar.gz", &s, 60);
	ck_assert_uint_gt(s.read_ok, 3);
	survey_image("bad.tar.xz", &s, 60);
}
END_TEST

/* Names that climb out, absolute names, and a hard link to nothing. */
START_TEST(test_tar_names)
{
	struct image im;
	uint64_t node;
	char buf[64];

	tu_sh(dir, "mkdir -p names && cd names && printf 'a' > a && "
		   "python3 - <<'EOF'\n"
		   "import tarfile, io\n"
		   "t = tarfile.open('../names.tar', 'w', format=tarfile.GNU_FORMAT)\n"
		   "def add(name, data=b'x', **kw):\n"
		   "    i = tarfile.TarInfo(name)\n"
		   "    i.size = len(data)\n"
		   "    for k, v in kw.items(): setattr(i, k, v)\n"
		   "    t.addfile(i, io.BytesIO(data) if i.isfile() else None)\n"
		   "add('../escape')\n"
		   "add('a/../../escape2')\n"
		   "add('/abs/file', b'abs')\n"
		   "add('./dot/./file', b'dot')\n"
		   "add('twice', b'first')\n"
		   "add('twice', b'second!')\n"
		   "add('ghost', type=tarfile.LNKTYPE, linkname='nowhere')\n"
		   "add('lnk', type=tarfile.SYMTYPE, linkname='x' * 5000)\n"
		   "t.close()\n"
		   "EOF\n");
	ck_assert_int_eq(image_open(&im, "names.tar"), 0);
	ck_assert_int_eq(lookup_path(im.c, "escape", &node), -ENOENT);
	ck_assert_int_eq(lookup_path(im.c, "escape2", &node), -ENOENT);
	ck_assert_int_eq(lookup_path(im.c, "ghost", &node), -ENOENT);
	ck_assert_int_eq(lookup_path(im.c, "abs/file", &node), 0);
	ck_assert_int_eq(mfs_contents_read(im.c, node, buf, sizeof(buf), 0),
			 3);
	ck_assert_int_eq(lookup_path(im.c, "dot/file", &node), 0);
	/* A later member of one name replaces the earlier, as tar -x. */
	ck_assert_int_eq(lookup_path(im.c, "twice", &node), 0);
	ck_assert_int_eq(mfs_contents_read(im.c, node, buf, sizeof(buf), 0),
			 7);
	ck_assert_int_eq(lookup_path(im.c, "lnk", &node), 0);
	ck_assert_int_eq(mfs_contents_readlink(im.c, node, buf, sizeof(buf)),
			 -EIO);
	image_close(&im);
}
END_TEST

/* squashfs */

static void make_squashfs(void)
{
	make_source();
	tu_sh(dir, "mksquashfs src rootfs.squashfs -noappend -quiet "
		   "-no-progress >/dev/null && "
		   "mksquashfs src rootfs-zstd.squashfs -noappend -quiet "
		   "-no-progress -comp zstd -b 65536 >/dev/null");
}

static const struct expect squashfs_expect = {
	.xattrs = true, .dir_nlink = true,
};

START_TEST(test_squashfs_entries)
{
	static const char *const names[] = {
		"rootfs.squashfs", "rootfs-zstd.squashfs",
	};
	struct image im;

	ck_assert_int_eq(image_open(&im, names[_i]), 0);
	ck_assert_int_eq(mfs_contents_kind(im.c), MFS_CONTENTS_SQUASHFS);
	image_close(&im);
	compare_image(names[_i], &squashfs_expect);
}
END_TEST

START_TEST(test_squashfs_parallel)
{
	parallel_readers("rootfs.squashfs");
}
END_TEST

/* unsquashfs -lls lists what the image holds; each line's type, mode,
 * owner and size are ours too. */
START_TEST(test_squashfs_unsquashfs)
{
	struct image im;
	FILE *f;
	char *path = tu_path(dir, "lls.txt"), line[8192];
	size_t lines = 0;

	tu_sh(dir, "unsquashfs -n -lln -d '' rootfs.squashfs > lls.txt");
	ck_assert_int_eq(image_open(&im, "rootfs.squashfs"), 0);
	f = fopen(path, "r");
	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		char perm[16], owner[64], name[4096];
		unsigned long long size;
		int off = 0;
		uint64_t node;
		struct stat st;
		char *arrow;

		if (sscanf(line, "%15s %63s %llu %*s %*s %n", perm, owner,
			   &size, &off) < 3 || !off || strlen(perm) != 10)
			continue;
		snprintf(name, sizeof(name), "%s", line + off);
		name[strcspn(name, "\n")] = '\0';
		if (perm[0] == 'l' && (arrow = strstr(name, " -> ")))
			*arrow = '\0';
		if (!name[0] || !strcmp(name, "/") || perm[0] == 'c' ||
		    perm[0] == 'b')
			continue;
		ck_assert_msg(lookup_path(im.c, name, &node) == 0, "%s", name);
		ck_assert_int_eq(mfs_contents_getattr(im.c, node, &st), 0);
		ck_assert_msg(perm[0] == '-' ? S_ISREG(st.st_mode) :
			      perm[0] == 'd' ? S_ISDIR(st.st_mode) :
			      perm[0] == 'l' ? S_ISLNK(st.st_mode) : true,
			      "%s: type", name);
		ck_assert_msg(perm[3] != 's' || (st.st_mode & S_ISUID),
			      "%s: set-uid", name);
		ck_assert_msg((perm[1] == 'r') == !!(st.st_mode & S_IRUSR),
			      "%s: mode", name);
		ck_assert_msg(!(st.st_mode & 0222), "%s: writable", name);
		if (perm[0] == '-')
			ck_assert_uint_eq((uint64_t)st.st_size, size);
		{
			char want[64];

			snprintf(want, sizeof(want), "%u/%u", st.st_uid,
				 st.st_gid);
			ck_assert_str_eq(owner, want);
		}
		lines++;
	}
	fclose(f);
	ck_assert_uint_gt(lines, 1800);
	free(path);
	image_close(&im);
}
END_TEST

START_TEST(test_squashfs_damaged)
{
	struct survey s;

	/* Random bytes over the inode and directory tables, which lie
	 * after the data, near the end of the image. */
	tu_sh(dir, "cp rootfs.squashfs damaged.squashfs && "
		   "size=$(stat -c %%s damaged.squashfs) && "
		   "for at in $((size - 40000)) $((size - 20000)) "
		   "$((size * 3 / 4)); do "
		   "dd if=/dev/urandom of=damaged.squashfs bs=1 seek=$at "
		   "count=256 conv=notrunc status=none; done");
	survey_image("damaged.squashfs", &s, 60);
	tu_sh(dir, "head -c 5000000 rootfs.squashfs > cut.squashfs");
	survey_image("cut.squashfs", &s, 60);
}
END_TEST

/* A superblock libext2fs 1.47 would divide by zero on (a 64bit
 * filesystem with 0-byte descriptors) is refused, not a crash. */
START_TEST(test_ext4_bad_superblock)
{
	struct image im;

	tu_sh(dir, "cp rootfs.ext4 badsb.ext4 && "
		   "debugfs -w -R 'ssv desc_size 0' badsb.ext4 >/dev/null 2>&1"
		   " && dumpe2fs -h badsb.ext4 2>&1 | grep -q 'descriptor size'");
	ck_assert_int_eq(image_open(&im, "badsb.ext4"), -EINVAL);
	close(im.fs.fd);
}
END_TEST

/* Recognising reads the first bytes only: a source that records how far
 * it was read. */
struct counting {
	struct fd_source fs;
	uint64_t furthest;
};

static ssize_t counting_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct counting *k = ctx;
	ssize_t n = fd_pread(&k->fs, buf, len, off);

	if (n > 0 && off + (uint64_t)n > k->furthest)
		k->furthest = off + (uint64_t)n;
	return n;
}

static uint64_t probe_reach(const char *name, int *kind)
{
	struct counting k = { 0 };
	struct mfs_contents_source s;
	struct stat st;

	k.fs.fd = tu_open(dir, name);
	ck_assert_int_eq(fstat(k.fs.fd, &st), 0);
	s = (struct mfs_contents_source){ &k, (uint64_t)st.st_size,
					  counting_pread };
	*kind = mfs_contents_probe(&s);
	close(k.fs.fd);
	return k.furthest;
}

START_TEST(test_probe_reads_little)
{
	static const struct {
		const char *name;
		int kind;
	} cases[] = {
		{ "rootfs.ext4", MFS_CONTENTS_EXT },
		{ "p.squashfs", MFS_CONTENTS_SQUASHFS },
		{ "p.tar", MFS_CONTENTS_TAR },
		{ "p.tar.gz", MFS_CONTENTS_TAR },
		{ "p.tar.xz", MFS_CONTENTS_TAR },
		{ "p.tar.zst", MFS_CONTENTS_TAR },
		{ "p.tar.bz2", MFS_CONTENTS_TAR },
	};

	tu_sh(dir, "mksquashfs src/usr p.squashfs -noappend -quiet "
		   "-no-progress >/dev/null && tar -cf p.tar -C src usr && "
		   "gzip -c p.tar > p.tar.gz && xz -T1 -c p.tar > p.tar.xz && "
		   "zstd -q -c p.tar > p.tar.zst && bzip2 -c p.tar > p.tar.bz2");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int kind = -1;
		uint64_t reach = probe_reach(cases[i].name, &kind);

		ck_assert_msg(kind == cases[i].kind, "%s: kind %d",
			      cases[i].name, kind);
		ck_assert_msg(reach <= 2 * TU_MIB, "%s: read %llu bytes",
			      cases[i].name, (unsigned long long)reach);
		ck_assert_msg(reach < tu_file_size(dir, cases[i].name) / 4,
			      "%s: read %llu bytes", cases[i].name,
			      (unsigned long long)reach);
	}
}
END_TEST

/* The inputs the fuzz harnesses found (fuzz/regressions/contents_*):
 * each opens or is refused, and what opens is surveyed, quickly. */
START_TEST(test_fuzz_regressions)
{
	static const char *const names[] = {
		"contents_ext/desc-size-zero.img",
		"contents_ext/groups-past-image.img",
		"contents_squashfs/directory-loop.sqfs",
		"contents_squashfs/fragment-count.sqfs",
	};
	struct survey s;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tu_sh(dir, "cp '%s/../fuzz/regressions/%s' regression.img",
		      TEST_SOURCE_DIR, names[i]);
		survey_image("regression.img", &s, 20);
	}
}
END_TEST

/* Not an image at all. */
START_TEST(test_probe_none)
{
	struct image im;
	char err[128];

	tu_sh(dir, "head -c 100000 /dev/urandom > random.bin && "
		   "gzip -c src/etc/app/app.conf > conf.gz && : > zero.bin");
	for (int i = 0; i < 3; i++) {
		const char *n[] = { "random.bin", "conf.gz", "zero.bin" };
		struct stat st;

		im.fs.fd = tu_open(dir, n[i]);
		ck_assert_int_eq(fstat(im.fs.fd, &st), 0);
		im.src = (struct mfs_contents_source){ &im.fs,
			(uint64_t)st.st_size, fd_pread };
		ck_assert_int_eq(mfs_contents_probe(&im.src),
				 MFS_CONTENTS_NONE);
		ck_assert_int_eq(mfs_contents_open(&im.src, MFS_CONTENTS_NONE,
						   &im.c, err, sizeof(err)),
				 -EINVAL);
		close(im.fs.fd);
	}
}
END_TEST

static Suite *contents_suite(void)
{
	Suite *s = suite_create("contents");
	TCase *tc = tcase_create("ext4");

	tcase_add_unchecked_fixture(tc, make_ext4, remove_source);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_ext4_probe);
	tcase_add_test(tc, test_ext4_entries);
	tcase_add_loop_test(tc, test_ext23_entries, 0, 2);
	tcase_add_test(tc, test_ext4_statfs);
	tcase_add_test(tc, test_ext4_inode_numbers);
	tcase_add_test(tc, test_ext4_times);
	tcase_add_test(tc, test_ext4_parallel);
	tcase_add_test(tc, test_ext4_damaged);
	tcase_add_test(tc, test_ext4_crafted);
	tcase_add_test(tc, test_ext4_bad_superblock);
	tcase_add_test(tc, test_fuzz_regressions);
	tcase_add_test(tc, test_probe_none);
	tcase_add_test(tc, test_probe_reads_little);
	suite_add_tcase(s, tc);

	tc = tcase_create("tar");
	tcase_add_unchecked_fixture(tc, make_tars, remove_source);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_tar_entries, 0, 5);
	tcase_add_test(tc, test_tar_parallel);
	tcase_add_test(tc, test_tar_damaged);
	tcase_add_test(tc, test_tar_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("squashfs");
	tcase_add_unchecked_fixture(tc, make_squashfs, remove_source);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_squashfs_entries, 0, 2);
	tcase_add_test(tc, test_squashfs_parallel);
	tcase_add_test(tc, test_squashfs_unsquashfs);
	tcase_add_test(tc, test_squashfs_damaged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(contents_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
