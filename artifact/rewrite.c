/*
 * Rewriting an artifact around a new manifest.sig.
 *
 * The outer tar is spliced, not re-encoded: the bytes up to the end of
 * manifest, then the new manifest.sig member, then everything after the
 * old one (or after manifest), end-of-archive blocks included.  Only the
 * manifest.sig member is new; its header comes from libarchive's ustar
 * writer.  The copies use copy_file_range(2), so payloads stay in the
 * kernel (or are reflinked), with a pread/pwrite loop where it is not
 * available.
 *
 * The new file is an O_TMPFILE in the target's directory, so a crash or a
 * kill while copying leaves nothing behind; once it is complete and
 * synced it gets a temporary name, which is renamed over the target.  A
 * crash between those two steps leaves `.<name>.menderfs-XXXXXX`, which
 * mfs_rewrite_cleanup() removes.  Where O_TMPFILE is unsupported the file
 * is made with such a name from the start (O_CREAT | O_EXCL).
 *
 * Everything happens relative to the directory opened at start-up, and
 * the target's name is never followed: the directory may be writable by
 * others (the artifact's owner in a sticky /tmp), who could put a symlink
 * or another file at the name at any moment.  So the name must still hold
 * the file that was mounted (device and inode, checked without following
 * it) before anything is written and again right before the rename;
 * otherwise the rewrite fails with ESTALE.  The rename itself replaces
 * the name, never what a link there points to.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/rewrite.h"

#define TAR_BLOCK	512

/* Far above any real signature (RSA-8192 in base64 is 1.4 KiB). */
#define SIG_MAX		(64 * 1024)

/* What `mender-artifact sign` gives manifest.sig (`write -k` uses 0600;
 * readers ignore it). */
#define SIG_MODE	0644

/* The kernel caps one copy_file_range call near 2 GiB anyway. */
#define COPY_CHUNK	((size_t)1 << 30)
#define PLAIN_BUF	(1024 * 1024)

#define TEMP_INFIX	".menderfs-"
#define TEMP_RANDOM	6		/* like mkstemp's XXXXXX */
#define TEMP_TRIES	100

/* Where the old file is cut: [0, head_end) and [tail_start, file_end) are
 * kept, whatever lies between (the old manifest.sig) is replaced. */
struct rw_layout {
	uint64_t head_end;
	uint64_t tail_start;
	uint64_t file_end;
};

struct rw_copy {
	int in, out;
	bool plain;		/* copy_file_range unusable: pread/pwrite */
	uint8_t *buf;		/* for the plain copy */
};

/* Formats "what: strerror(e)" into err and returns -e. */
__attribute__((format(printf, 4, 5)))
static int rw_error(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	n = strnlen(err, errlen);
	if (n + 1 < errlen)
		snprintf(err + n, errlen - n, ": %s", strerror(e));
	return -e;
}

static uint64_t round_block(uint64_t n)
{
	return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

/* The member's data lies wholly within the first size bytes (checked
 * without overflow, whatever the tar claimed). */
static bool inside(const struct mfs_entry *m, uint64_t size)
{
	return m->offset <= size && m->size <= size - m->offset;
}

static int plan_layout(const struct mfs_artifact *a, struct rw_layout *lay,
		       char *err, size_t errlen)
{
	const struct mfs_outer *o = &a->outer;
	const struct mfs_entry *man, *sig = NULL;
	struct rw_layout l;
	struct stat st;
	size_t next;

	if (a->m_manifest < 0 || (size_t)a->m_manifest >= o->count) {
		snprintf(err, errlen, "no single manifest member to sign");
		return -EINVAL;
	}
	man = &o->members[a->m_manifest];
	next = (size_t)a->m_manifest + 1;
	/* Every manifest.sig, not only the indexed one: a duplicate is not
	 * indexed at all, and must not survive the rewrite either. */
	for (size_t i = 0; i < o->count; i++) {
		if (strcmp(o->members[i].name, "manifest.sig") != 0)
			continue;
		if (i != next || sig) {
			snprintf(err, errlen, "manifest.sig is not right after "
				 "manifest, or not the only one");
			return -EINVAL;
		}
		sig = &o->members[i];
	}

	if (fstat(a->fd, &st) < 0)
		return rw_error(err, errlen, errno, "cannot stat the artifact");
	l.file_end = (uint64_t)st.st_size;
	if (l.file_end != a->file_size || st.st_mtime != a->file_mtime ||
	    st.st_mtim.tv_nsec != a->file_mtime_ns) {
		snprintf(err, errlen, "the artifact changed since it was "
			 "opened");
		return -ESTALE;
	}
	if (!inside(man, l.file_end) || (sig && !inside(sig, l.file_end)))
		goto truncated;
	l.head_end = round_block(man->offset + man->size);
	l.tail_start = l.head_end;
	if (sig) {
		if (sig->header_offset != l.head_end) {
			snprintf(err, errlen, "manifest.sig does not start "
				 "where manifest ends");
			return -EINVAL;
		}
		l.tail_start = round_block(sig->offset + sig->size);
	}
	if (l.tail_start > l.file_end)
		goto truncated;
	*lay = l;
	return 0;
truncated:
	snprintf(err, errlen, "the artifact is truncated");
	return -EINVAL;
}

/* manifest.sig as a ustar member: header, data, padding to the block;
 * libarchive's end-of-archive blocks are not part of it. */
static int build_sig_member(const char *sig, size_t sig_len, uint8_t **out,
			    size_t *out_len, char *err, size_t errlen)
{
	struct archive *w = NULL;
	struct archive_entry *e = NULL;
	uint8_t *buf = NULL;
	size_t want = TAR_BLOCK + (size_t)round_block(sig_len);
	size_t cap = want + 2 * TAR_BLOCK, used = 0;
	int ret = 0;

	w = archive_write_new();
	e = archive_entry_new();
	buf = malloc(cap);
	if (!w || !e || !buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	archive_entry_set_pathname(e, "manifest.sig");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, SIG_MODE);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_size(e, (la_int64_t)sig_len);
	if (archive_write_set_format_ustar(w) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w, 1) != ARCHIVE_OK ||
	    archive_write_open_memory(w, buf, cap, &used) != ARCHIVE_OK ||
	    archive_write_header(w, e) != ARCHIVE_OK ||
	    archive_write_data(w, sig, sig_len) != (la_ssize_t)sig_len ||
	    archive_write_close(w) != ARCHIVE_OK) {
		ret = -EIO;
		snprintf(err, errlen, "building the manifest.sig header: %s",
			 archive_error_string(w) ? archive_error_string(w) :
						   "libarchive failed");
		goto out;
	}
	if (used < want) {
		ret = -EIO;
		snprintf(err, errlen, "building the manifest.sig header: "
			 "libarchive wrote %zu bytes, expected %zu",
			 used, want);
		goto out;
	}
	*out = buf;
	*out_len = want;
	buf = NULL;
out:
	free(buf);
	archive_entry_free(e);
	archive_write_free(w);
	return ret;
}

void mfs_rewrite_place_close(struct mfs_rewrite_place *p)
{
	if (p->dfd >= 0)
		close(p->dfd);
	free(p->name);
	free(p->dir);
	p->dfd = -1;
	p->name = p->dir = NULL;
}

int mfs_rewrite_place_open(const char *path, struct mfs_rewrite_place *out,
			   char *err, size_t errlen)
{
	struct mfs_rewrite_place p = { .dfd = -1 };
	const char *slash = strrchr(path, '/');
	int ret = 0;

	if (!slash)
		p.dir = strdup(".");
	else if (slash == path)
		p.dir = strdup("/");
	else
		p.dir = strndup(path, (size_t)(slash - path));
	p.name = strdup(slash ? slash + 1 : path);
	if (!p.dir || !p.name) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!p.name[0] || strcmp(p.name, ".") == 0 ||
	    strcmp(p.name, "..") == 0) {
		ret = -EISDIR;
		snprintf(err, errlen, "%s names a directory, not a file",
			 path);
		goto out;
	}
	p.dfd = open(p.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.dfd < 0) {
		ret = rw_error(err, errlen, errno, "cannot open directory %s",
			       p.dir);
		goto out;
	}
	*out = p;
	p = (struct mfs_rewrite_place){ .dfd = -1 };
out:
	mfs_rewrite_place_close(&p);
	return ret;
}

/*
 * What the target's name holds now, never followed: with expect, exactly
 * that file (the one mounted); without, nothing or a regular file.  *st
 * gets what is there (all zero when nothing is).  Anything else,
 * a symlink above all, is -ESTALE: someone replaced the file.
 */
static int check_target(const struct mfs_rewrite_place *p,
			const struct stat *expect, struct stat *st,
			char *err, size_t errlen)
{
	if (fstatat(p->dfd, p->name, st, AT_SYMLINK_NOFOLLOW) < 0) {
		int e = errno;

		memset(st, 0, sizeof(*st));
		if (e == ENOENT && !expect)
			return 0;
		if (e == ENOENT) {
			snprintf(err, errlen, "%s/%s is gone: it is no longer "
				 "the file that was mounted", p->dir, p->name);
			return -ESTALE;
		}
		return rw_error(err, errlen, e, "cannot stat %s/%s",
				p->dir, p->name);
	}
	if (S_ISLNK(st->st_mode)) {
		snprintf(err, errlen, "%s/%s is now a symlink; not followed",
			 p->dir, p->name);
		return -ESTALE;
	}
	if (expect && (st->st_dev != expect->st_dev ||
		       st->st_ino != expect->st_ino)) {
		snprintf(err, errlen, "%s/%s is no longer the file that was "
			 "mounted (it was replaced)", p->dir, p->name);
		return -ESTALE;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s/%s is not a regular file",
			 p->dir, p->name);
		return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	return 0;
}

/* The owner and mode the new file gets: those of the file it replaces,
 * or when there is none yet, the artifact's. */
static int wanted_owner(const struct mfs_artifact *a, const struct stat *there,
			struct stat *st, char *err, size_t errlen)
{
	if (there->st_mode) {
		*st = *there;
		return 0;
	}
	if (fstat(a->fd, st) < 0)
		return rw_error(err, errlen, errno, "cannot stat the artifact");
	return 0;
}

/* A fresh name ".<base>.menderfs-XXXXXX" with a random suffix. */
static int temp_name(const struct mfs_rewrite_place *p, char *name, size_t size,
		     char *err, size_t errlen)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[TEMP_RANDOM];
	char suffix[TEMP_RANDOM + 1];
	ssize_t n;
	int len;

	do
		n = getrandom(rnd, sizeof(rnd), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rnd))
		return rw_error(err, errlen, n < 0 ? errno : EIO,
				"cannot get random bytes");
	for (size_t i = 0; i < TEMP_RANDOM; i++)
		suffix[i] = alnum[rnd[i] % (sizeof(alnum) - 1)];
	suffix[TEMP_RANDOM] = 0;
	len = snprintf(name, size, ".%s" TEMP_INFIX "%s", p->name, suffix);
	if (len < 0 || (size_t)len >= size || len > NAME_MAX) {
		snprintf(err, errlen, "the name %s is too long", p->name);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Creates the new, empty file: unnamed when the filesystem can, else
 * under a fresh temporary name (then *named is set).  O_EXCL: a name
 * someone put there first, a symlink included, is never opened. */
static int temp_create(const struct mfs_rewrite_place *p, int *fd, char *name,
		       size_t size, bool *named, char *err, size_t errlen)
{
	int f, e, ret;

	f = openat(p->dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (f >= 0) {
		*fd = f;
		*named = false;
		return 0;
	}
	e = errno;
	if (e != EOPNOTSUPP && e != EISDIR && e != EINVAL)
		return rw_error(err, errlen, e,
				"cannot create a file in %s", p->dir);

	for (int tries = 0; tries < TEMP_TRIES; tries++) {
		ret = temp_name(p, name, size, err, errlen);
		if (ret < 0)
			return ret;
		f = openat(p->dfd, name, O_CREAT | O_EXCL | O_RDWR |
			   O_NOFOLLOW | O_CLOEXEC, 0600);
		if (f >= 0) {
			*fd = f;
			*named = true;
			return 0;
		}
		if (errno != EEXIST)
			return rw_error(err, errlen, errno,
					"cannot create a file in %s", p->dir);
	}
	snprintf(err, errlen, "cannot find a free temporary name in %s",
		 p->dir);
	return -EEXIST;
}

/* Gives the unnamed file a temporary name beside the target. */
static int temp_link(const struct mfs_rewrite_place *p, int fd, char *name,
		     size_t size, char *err, size_t errlen)
{
	char proc[64];
	int ret, e;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int tries = 0; tries < TEMP_TRIES; tries++) {
		ret = temp_name(p, name, size, err, errlen);
		if (ret < 0)
			return ret;
		if (linkat(AT_FDCWD, proc, p->dfd, name,
			   AT_SYMLINK_FOLLOW) == 0)
			return 0;
		e = errno;
		/* Without /proc, AT_EMPTY_PATH does the same for a caller
		 * with CAP_DAC_READ_SEARCH. */
		if (e == ENOENT &&
		    linkat(fd, "", p->dfd, name, AT_EMPTY_PATH) == 0)
			return 0;
		if (e != EEXIST)
			return rw_error(err, errlen, e, "cannot link the new "
					"file into %s", p->dir);
	}
	snprintf(err, errlen, "cannot find a free temporary name in %s",
		 p->dir);
	return -EEXIST;
}

static int keep_owner_mode(int fd, const struct stat *want,
			   char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return rw_error(err, errlen, errno, "cannot stat the new file");
	/* Only change what differs: an unprivileged caller may keep its
	 * own uid but cannot give the file to anyone else. */
	if ((st.st_uid != want->st_uid || st.st_gid != want->st_gid) &&
	    fchown(fd, want->st_uid, want->st_gid) < 0)
		return rw_error(err, errlen, errno, "cannot give the new file "
				"owner %u:%u", (unsigned)want->st_uid,
				(unsigned)want->st_gid);
	/* After fchown, which may clear set-id bits. */
	if (fchmod(fd, want->st_mode & 07777) < 0)
		return rw_error(err, errlen, errno, "cannot give the new file "
				"mode %04o", (unsigned)(want->st_mode & 07777));
	return 0;
}

static int write_at(int fd, const void *buf, size_t len, uint64_t off,
		    char *err, size_t errlen)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rw_error(err, errlen, errno,
					"writing the new artifact");
		if (n == 0) {
			snprintf(err, errlen, "writing the new artifact: "
				 "no progress");
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int copy_plain(struct rw_copy *c, uint64_t *in_off, uint64_t *out_off,
		      uint64_t len, char *err, size_t errlen)
{
	if (!c->buf) {
		c->buf = malloc(PLAIN_BUF);
		if (!c->buf) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	while (len > 0) {
		size_t want = len < PLAIN_BUF ? (size_t)len : PLAIN_BUF;
		ssize_t n = pread(c->in, c->buf, want, (off_t)*in_off);
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rw_error(err, errlen, errno,
					"reading the artifact");
		if (n == 0) {
			snprintf(err, errlen, "the artifact is shorter than "
				 "when it was opened");
			return -EIO;
		}
		ret = write_at(c->out, c->buf, (size_t)n, *out_off,
			       err, errlen);
		if (ret < 0)
			return ret;
		*in_off += (uint64_t)n;
		*out_off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* Copies len bytes at in_off of the artifact to out_off of the new file. */
static int copy_range(struct rw_copy *c, uint64_t in_off, uint64_t out_off,
		      uint64_t len, char *err, size_t errlen)
{
	while (len > 0 && !c->plain) {
		loff_t i = (loff_t)in_off, o = (loff_t)out_off;
		size_t want = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t n = copy_file_range(c->in, &i, c->out, &o, want, 0);
		int e = errno;

		if (n < 0 && e == EINTR)
			continue;
		if (n < 0 && (e == EXDEV || e == ENOSYS || e == EOPNOTSUPP ||
			      e == EINVAL)) {
			c->plain = true;
			break;
		}
		if (n < 0)
			return rw_error(err, errlen, e,
					"writing the new artifact");
		if (n == 0) {
			snprintf(err, errlen, "the artifact is shorter than "
				 "when it was opened");
			return -EIO;
		}
		in_off += (uint64_t)n;
		out_off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	if (len > 0)
		return copy_plain(c, &in_off, &out_off, len, err, errlen);
	return 0;
}

/*
 * On success the target is the new file.  A failing fsync of the
 * directory after the rename is not reported as a failure: the rename has
 * been done and the new file is what the target now shows, so only its
 * durability across a crash is in doubt (either file, whole, survives
 * one); the reason is still left in err.
 */
int mfs_rewrite_signature(struct mfs_artifact *a, const char *sig,
			  size_t sig_len, const struct mfs_rewrite_place *place,
			  const struct stat *expect, int *out_fd,
			  char *err, size_t errlen)
{
	struct rw_layout lay = { 0 };
	struct rw_copy copy = { .in = a->fd, .out = -1 };
	struct stat want, there, now;
	uint8_t *member = NULL;
	size_t member_len = 0;
	char name[NAME_MAX + 1] = "";
	bool named = false;
	int fd = -1, ret;

	if (sig_len > SIG_MAX) {
		snprintf(err, errlen, "a signature of %zu bytes is too large",
			 sig_len);
		return -EINVAL;
	}
	ret = plan_layout(a, &lay, err, errlen);
	if (ret == 0 && sig_len > 0)
		ret = build_sig_member(sig, sig_len, &member, &member_len,
				       err, errlen);
	if (ret == 0)
		ret = check_target(place, expect, &there, err, errlen);
	if (ret == 0)
		ret = wanted_owner(a, &there, &want, err, errlen);
	if (ret == 0)
		ret = temp_create(place, &fd, name, sizeof(name), &named,
				  err, errlen);
	if (ret < 0)
		goto out;
	copy.out = fd;

	/* Owner first: failing there costs nothing yet. */
	ret = keep_owner_mode(fd, &want, err, errlen);
	if (ret == 0)
		ret = copy_range(&copy, 0, 0, lay.head_end, err, errlen);
	if (ret == 0)
		ret = write_at(fd, member, member_len, lay.head_end,
			       err, errlen);
	if (ret == 0)
		ret = copy_range(&copy, lay.tail_start,
				 lay.head_end + member_len,
				 lay.file_end - lay.tail_start, err, errlen);
	if (ret < 0)
		goto out;
	if (fsync(fd) < 0) {
		ret = rw_error(err, errlen, errno, "syncing the new artifact");
		goto out;
	}
	if (!named) {
		ret = temp_link(place, fd, name, sizeof(name), err, errlen);
		if (ret < 0)
			goto out;
		named = true;
	}
	/* Right before the rename: the name must still hold what it held
	 * when we began (the mounted file, or for a new output nothing or
	 * a regular file), and the artifact's bytes must not have moved
	 * under the copy. */
	ret = check_target(place, expect ? expect :
			   (there.st_mode ? &there : NULL), &now, err, errlen);
	if (ret == 0)
		ret = plan_layout(a, &lay, err, errlen);
	if (ret < 0)
		goto out;
	if (renameat(place->dfd, name, place->dfd, place->name) < 0) {
		ret = rw_error(err, errlen, errno, "cannot rename %s over %s",
			       name, place->name);
		goto out;
	}
	named = false;
	if (fsync(place->dfd) < 0)
		rw_error(err, errlen, errno, "replaced %s, but syncing %s",
			 place->name, place->dir);
	if (out_fd) {
		*out_fd = fd;
		fd = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	if (named)
		unlinkat(place->dfd, name, 0);
	free(copy.buf);
	free(member);
	return ret;
}

/* True for exactly prefix followed by TEMP_RANDOM letters or digits. */
static bool is_temp_name(const char *name, const char *prefix, size_t plen)
{
	if (strncmp(name, prefix, plen) != 0 ||
	    strlen(name + plen) != TEMP_RANDOM)
		return false;
	for (const char *c = name + plen; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9')))
			return false;
	return true;
}

void mfs_rewrite_cleanup(const struct mfs_rewrite_place *place)
{
	char *prefix = NULL;
	DIR *d = NULL;
	struct dirent *de;
	size_t plen;
	int dfd;

	/* Best effort: whatever cannot be removed stays, harmlessly. */
	if (asprintf(&prefix, ".%s" TEMP_INFIX, place->name) < 0) {
		prefix = NULL;
		goto out;
	}
	plen = strlen(prefix);
	dfd = dup(place->dfd);
	if (dfd < 0)
		goto out;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!is_temp_name(de->d_name, prefix, plen))
			continue;
		if (fstatat(place->dfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		unlinkat(place->dfd, de->d_name, 0);
	}
out:
	if (d)
		closedir(d);
	free(prefix);
}
