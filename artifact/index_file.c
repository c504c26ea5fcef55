/*
 * The persistent index file (index_file.h).  Layout, all integers
 * little-endian:
 *
 *   "MFSINDEX" u32 format  u64 size  i64 mtime_s  i64 mtime_ns
 *   u64 inode  i64 ctime_s  i64 ctime_ns  sha256(manifest)  u32 payloads
 *   per payload: u64 member offset  u64 member size  u32 entries
 *     per entry: u32 name length, name, u64 offset, u64 size,
 *                u32 mode, i64 mtime, u64 header offset
 *     u64 length, then mfs_stream_index_export()'s bytes
 *   sha256 of everything before it
 *
 * Loading parses everything into new tables and checks it (the trailing
 * hash, the key, every length against what is left, entries in tar order
 * inside the stream, the entries against those the artifact found, every
 * stream index) before it changes anything in the artifact; then it
 * imports the restore points, then installs the entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/index_file.h"

#define INDEX_MAGIC		"MFSINDEX"
#define INDEX_FORMAT		2
/* Far above what a real index needs (the stream indexes are capped by
 * the checkpoint budget), low enough to read whole. */
#define INDEX_MAX_SIZE		(256u * 1024 * 1024)
#define INDEX_SUFFIX		".idx"
/* The least an entry takes: name length, a one-byte name, offset, size,
 * mode, mtime, header offset. */
#define INDEX_ENTRY_MIN		(4 + 1 + 8 + 8 + 4 + 8 + 8)

/* The file being written, through a small buffer, hashed as it goes:
 * an index holds every restore point, so it is not built in memory
 * whole.  The first failure is remembered, not checked at every put. */
#define OUT_BUFFER	(64 * 1024)

struct out {
	int fd;
	EVP_MD_CTX *sha;
	uint8_t buf[OUT_BUFFER];
	size_t len;
	int error;
};

static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void flush(struct out *o)
{
	if (o->error || o->len == 0)
		return;
	if (!EVP_DigestUpdate(o->sha, o->buf, o->len))
		o->error = -ENOMEM;
	else
		o->error = write_all(o->fd, o->buf, o->len);
	o->len = 0;
}

static void put(struct out *o, const void *p, size_t n)
{
	const uint8_t *from = p;

	while (!o->error && n > 0) {
		size_t step = n < OUT_BUFFER - o->len ? n : OUT_BUFFER - o->len;

		memcpy(o->buf + o->len, from, step);
		o->len += step;
		from += step;
		n -= step;
		if (o->len == OUT_BUFFER)
			flush(o);
	}
}

static void le_bytes(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(struct out *o, uint32_t v)
{
	uint8_t b[4];

	le_bytes(b, v, 4);
	put(o, b, sizeof(b));
}

static void put_u64(struct out *o, uint64_t v)
{
	uint8_t b[8];

	le_bytes(b, v, 8);
	put(o, b, sizeof(b));
}

/* A reader over the loaded bytes; running short marks it bad. */
struct in {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *take(struct in *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint32_t get_u32(struct in *r)
{
	const uint8_t *b = take(r, 4);
	uint32_t v = 0;

	for (int i = 0; b && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static uint64_t get_u64(struct in *r)
{
	const uint8_t *b = take(r, 8);
	uint64_t v = 0;

	for (int i = 0; b && i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static int sha256(const void *data, size_t len, uint8_t md[32])
{
	unsigned int n = 0;

	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32)
		return -ENOMEM;
	return 0;
}

/* The key every index file starts with: magic, format, size, mtime (s,
 * ns), inode, ctime (s, ns), the manifest's SHA-256.  A rewrite can keep
 * the size, put the mtime back and keep the manifest (a recompressed
 * payload), but it changes the ctime, and a new file has a new inode. */
#define INDEX_KEY_LEN	(8 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 32)

static int encode_key(const struct mfs_artifact *a,
		      const uint8_t manifest_md[32],
		      uint8_t key[INDEX_KEY_LEN])
{
	struct stat st;

	/* The file the artifact has open, whatever its path names now. */
	if (fstat(a->fd, &st) < 0)
		return -errno;
	memcpy(key, INDEX_MAGIC, 8);
	le_bytes(key + 8, INDEX_FORMAT, 4);
	le_bytes(key + 12, a->file_size, 8);
	le_bytes(key + 20, (uint64_t)a->file_mtime, 8);
	le_bytes(key + 28, (uint64_t)a->file_mtime_ns, 8);
	le_bytes(key + 36, (uint64_t)st.st_ino, 8);
	le_bytes(key + 44, (uint64_t)st.st_ctim.tv_sec, 8);
	le_bytes(key + 52, (uint64_t)st.st_ctim.tv_nsec, 8);
	memcpy(key + 60, manifest_md, 32);
	return 0;
}

static int manifest_digest(const struct mfs_artifact *a, uint8_t md[32])
{
	if (!a->manifest_bytes)
		return -ENOENT;	/* nothing to key a version 3 index by */
	return sha256(a->manifest_bytes, a->manifest_len, md);
}

int mfs_index_file_path(const struct mfs_artifact *a, const char *dir,
			char *path)
{
	uint8_t manifest_md[32], md[32], key[INDEX_KEY_LEN];
	char hex[33];
	int ret, n;

	ret = manifest_digest(a, manifest_md);
	if (ret < 0)
		return ret;
	ret = encode_key(a, manifest_md, key);
	if (ret < 0)
		return ret;
	ret = sha256(key, sizeof(key), md);
	if (ret < 0)
		return ret;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	n = snprintf(path, PATH_MAX, "%s/%s%s", dir, hex, INDEX_SUFFIX);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* ---- saving ---- */

static int put_payload(struct out *o, struct mfs_payload *p,
		       const struct mfs_entry *member)
{
	void *stream_index = NULL;
	size_t stream_len = 0;
	int ret = 0;

	put_u64(o, member->offset);
	put_u64(o, member->size);
	pthread_mutex_lock(&p->lock);
	if (!p->walk_done || p->walk_error < 0) {
		ret = -EAGAIN;
	} else {
		put_u32(o, (uint32_t)p->count);
		for (size_t i = 0; i < p->count; i++) {
			const struct mfs_payload_entry *e = &p->entries[i];
			size_t len = strlen(e->name);

			put_u32(o, (uint32_t)len);
			put(o, e->name, len);
			put_u64(o, e->offset);
			put_u64(o, e->size);
			put_u32(o, (uint32_t)e->mode);
			put_u64(o, (uint64_t)e->mtime);
			put_u64(o, e->header_offset);
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (ret < 0)
		return ret;
	ret = mfs_stream_index_export(p->stream, &stream_index, &stream_len);
	if (ret < 0)
		return ret;
	put_u64(o, stream_len);
	put(o, stream_index, stream_len);
	free(stream_index);
	return 0;
}

/* Keeps the directory to MFS_INDEX_DIR_MAX_FILES index files by removing
 * the least recently written. */
static void prune(const char *dir)
{
	char oldest[NAME_MAX + 1] = "";
	struct timespec oldest_time = { 0 };
	struct dirent *d;
	size_t count = 0;
	DIR *dp;

	do {
		dp = opendir(dir);
		if (!dp)
			return;
		count = 0;
		oldest[0] = '\0';
		while ((d = readdir(dp)) != NULL) {
			size_t len = strlen(d->d_name);
			struct stat st;

			if (len <= strlen(INDEX_SUFFIX) ||
			    strcmp(d->d_name + len - strlen(INDEX_SUFFIX),
				   INDEX_SUFFIX) != 0 ||
			    fstatat(dirfd(dp), d->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			count++;
			if (!oldest[0] ||
			    st.st_mtim.tv_sec < oldest_time.tv_sec ||
			    (st.st_mtim.tv_sec == oldest_time.tv_sec &&
			     st.st_mtim.tv_nsec < oldest_time.tv_nsec)) {
				snprintf(oldest, sizeof(oldest), "%s", d->d_name);
				oldest_time = st.st_mtim;
			}
		}
		if (count > MFS_INDEX_DIR_MAX_FILES && oldest[0] &&
		    unlinkat(dirfd(dp), oldest, 0) < 0)
			count = 0;	/* cannot remove: stop trying */
		closedir(dp);
	} while (count > MFS_INDEX_DIR_MAX_FILES);
}

int mfs_index_file_save(struct mfs_artifact *a, const char *dir)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	uint8_t manifest_md[32], md[32];
	unsigned int md_len = 0;
	struct out *o;
	int ret;

	ret = mfs_index_file_path(a, dir, path);
	if (ret < 0)
		return ret;
	ret = manifest_digest(a, manifest_md);
	if (ret < 0)
		return ret;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->sha = EVP_MD_CTX_new();
	if (!o->sha || !EVP_DigestInit_ex(o->sha, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	/* Whole or not at all: a temporary file renamed over the name. */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	o->fd = mkostemp(tmp, O_CLOEXEC);
	if (o->fd < 0) {
		ret = -errno;
		goto out;
	}
	{
		uint8_t key[INDEX_KEY_LEN];

		ret = encode_key(a, manifest_md, key);
		if (ret == 0)
			put(o, key, sizeof(key));
	}
	if (ret == 0)
		put_u32(o, (uint32_t)a->payload_count);
	for (size_t i = 0; i < a->payload_count && ret == 0; i++)
		ret = put_payload(o, &a->payloads[i],
				  &a->outer.members[a->payloads[i].member]);
	flush(o);
	if (ret == 0)
		ret = o->error;
	if (ret == 0 && (!EVP_DigestFinal_ex(o->sha, md, &md_len) ||
			 md_len != sizeof(md)))
		ret = -ENOMEM;
	if (ret == 0)
		ret = write_all(o->fd, md, sizeof(md));
	if (close(o->fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	else
		prune(dir);
out:
	EVP_MD_CTX_free(o->sha);
	free(o);
	return ret;
}

/* ---- loading ---- */

struct loaded_payload {
	struct mfs_entry *entries;
	size_t count;
	const uint8_t *stream_index;
	size_t stream_len;
};

static void loaded_destroy(struct loaded_payload *lp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < lp[i].count; j++)
			mfs_entry_destroy(&lp[i].entries[j]);
		free(lp[i].entries);
	}
	free(lp);
}

/* Parses one payload's table, checking that its entries follow each
 * other in tar order.  Returns 0 or -EINVAL with why. */
static int parse_payload(struct in *r, const struct mfs_entry *member,
			 struct loaded_payload *lp, char *why, size_t whylen)
{
	uint64_t count, end = 0;

	if (get_u64(r) != member->offset || get_u64(r) != member->size) {
		snprintf(why, whylen, "the payload members moved");
		return -EINVAL;
	}
	count = get_u32(r);
	if (r->bad || count > MFS_PAYLOAD_MAX_ENTRIES ||
	    count > r->left / INDEX_ENTRY_MIN) {
		snprintf(why, whylen, "bad entry count");
		return -EINVAL;
	}
	lp->entries = calloc(count ? count : 1, sizeof(*lp->entries));
	if (!lp->entries)
		return -ENOMEM;
	while (lp->count < count) {
		struct mfs_entry *e = &lp->entries[lp->count];
		uint32_t len = get_u32(r);
		const uint8_t *name = len > 0 && len <= 2 * PATH_MAX ?
				      take(r, len) : NULL;

		if (!name || memchr(name, '\0', len)) {
			snprintf(why, whylen, "bad entry name");
			return -EINVAL;
		}
		e->name = strndup((const char *)name, len);
		if (!e->name)
			return -ENOMEM;
		lp->count++;	/* from here on it is the caller's to free */
		e->offset = get_u64(r);
		e->size = get_u64(r);
		e->mode = (mode_t)get_u32(r);
		e->mtime = (int64_t)get_u64(r);
		e->header_offset = get_u64(r);
		/* Headers and data in tar order, never overlapping. */
		if (r->bad || e->header_offset < end ||
		    e->offset <= e->header_offset || e->size > INT64_MAX ||
		    e->offset > INT64_MAX - e->size) {
			snprintf(why, whylen, "entries out of order");
			return -EINVAL;
		}
		end = e->offset + e->size;
	}
	lp->stream_len = get_u64(r);
	lp->stream_index = lp->stream_len <= r->left ?
			   take(r, lp->stream_len) : NULL;
	if (!lp->stream_index && lp->stream_len) {
		r->bad = true;
		snprintf(why, whylen, "truncated");
		return -EINVAL;
	}
	return 0;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	size_t done = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	/* Restore points are checked before use, but a file another user
	 * could have written is still not worth reading: it could say
	 * consistently where wrong bytes lie. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > INDEX_MAX_SIZE || st.st_uid != geteuid() ||
	    (st.st_mode & 022)) {
		close(fd);
		return -EPERM;
	}
	*data = malloc((size_t)st.st_size + 1);
	if (!*data) {
		close(fd);
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EINVAL;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	*len = done;
	if (ret < 0) {
		free(*data);
		*data = NULL;
	}
	return ret;
}

/* Whether the loaded table starts with the entries payload p already
 * found. */
static bool entries_agree(struct mfs_payload *p, const struct loaded_payload *lp)
{
	bool agree = true;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; agree && i < p->count; i++)
		agree = i < lp->count &&
			strcmp(p->entries[i].name, lp->entries[i].name) == 0 &&
			p->entries[i].offset == lp->entries[i].offset &&
			p->entries[i].size == lp->entries[i].size;
	pthread_mutex_unlock(&p->lock);
	return agree;
}

/* Completes what payload p knows with the loaded table, whose first
 * entries must be those the payload already found.  The rest go through
 * mfs_payload_append(), as entries the walk finds do: a name twice is
 * found, and judged, the same whether the table came from the tar or
 * from a file. */
static int install(struct mfs_payload *p, struct loaded_payload *lp)
{
	size_t known;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	known = p->count;
	for (size_t i = 0; i < known; i++) {
		if (i >= lp->count ||
		    strcmp(p->entries[i].name, lp->entries[i].name) != 0 ||
		    p->entries[i].offset != lp->entries[i].offset ||
		    p->entries[i].size != lp->entries[i].size) {
			ret = -EINVAL;
			goto out;
		}
	}
	for (size_t i = known; i < lp->count; i++) {
		ret = mfs_payload_append(p, &lp->entries[i]);
		if (ret < 0) {
			/* The walker still stands after the entries it
			 * found itself: without the rest, walking on from
			 * there would skip them, so the walk ends here. */
			p->walk_done = true;
			p->walk_error = ret;
			/* -EFBIG: a cap, which the append named. */
			if (ret != -EFBIG)
				snprintf(p->walk_message,
					 sizeof(p->walk_message),
					 "out of memory");
			mfs_inner_close(p->walker);
			p->walker = NULL;
			goto out;
		}
		lp->entries[i].name = NULL;	/* the payload's now */
	}
	p->walk_done = true;
	p->walk_loaded = true;
	p->walk_error = 0;
	mfs_inner_close(p->walker);
	p->walker = NULL;
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int mfs_index_file_load(struct mfs_artifact *a, const char *dir, char *why,
			size_t whylen)
{
	char path[PATH_MAX];
	uint8_t manifest_md[32], md[32];
	struct loaded_payload *lp = NULL;
	struct mfs_stream_import **imports = NULL;
	uint8_t key[INDEX_KEY_LEN];
	uint8_t *data = NULL;
	struct in r;
	size_t len = 0, n = 0;
	int ret;

	why[0] = '\0';
	ret = mfs_index_file_path(a, dir, path);
	if (ret < 0)
		return ret == -ENOENT ? 0 : ret;
	ret = read_file(path, &data, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0) {
		snprintf(why, whylen, "%s: %s", path,
			 ret == -EPERM ? "not a regular file of a sane size, "
			 "owned by this user and writable by nobody else" :
			 strerror(-ret));
		return ret;
	}
	ret = -EINVAL;
	if (len < 32 || sha256(data, len - 32, md) < 0 ||
	    memcmp(md, data + len - 32, 32) != 0) {
		snprintf(why, whylen, "%s: corrupt (its checksum does not match)",
			 path);
		goto out;
	}
	r = (struct in){ .p = data, .left = len - 32 };
	if (manifest_digest(a, manifest_md) < 0 ||
	    encode_key(a, manifest_md, key) < 0)
		goto out;
	if (!take(&r, sizeof(key)) || memcmp(data, key, sizeof(key)) != 0) {
		snprintf(why, whylen, "%s: stale (made for another artifact "
			 "or another format)", path);
		goto out;
	}
	if (get_u32(&r) != a->payload_count) {
		snprintf(why, whylen, "%s: wrong payload count", path);
		goto out;
	}
	lp = calloc(a->payload_count + 1, sizeof(*lp));
	if (!lp) {
		ret = -ENOMEM;
		goto out;
	}
	for (; n < a->payload_count; n++) {
		char reason[128];

		ret = parse_payload(&r, &a->outer.members[a->payloads[n].member],
				    &lp[n], reason, sizeof(reason));
		if (ret < 0) {
			n++;	/* destroy what it parsed too */
			snprintf(why, whylen, "%s: %s", path, reason);
			goto out;
		}
	}
	ret = -EINVAL;
	if (r.left != 0) {
		snprintf(why, whylen, "%s: trailing bytes", path);
		goto out;
	}
	/* Everything is checked before anything changes: the entries
	 * against what the walk found, then every stream index. */
	for (size_t i = 0; i < a->payload_count; i++) {
		if (!entries_agree(&a->payloads[i], &lp[i])) {
			snprintf(why, whylen, "%s: its entries disagree with "
				 "the artifact", path);
			goto out;
		}
	}
	imports = calloc(a->payload_count + 1, sizeof(*imports));
	if (!imports) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < a->payload_count; i++) {
		int err = lp[i].stream_len ?
			  mfs_stream_index_prepare(a->payloads[i].stream,
						   lp[i].stream_index,
						   lp[i].stream_len,
						   &imports[i]) : 0;

		if (err < 0) {
			ret = err == -ENOMEM ? err : -EINVAL;
			snprintf(why, whylen, "%s: a stream index does not fit",
				 path);
			goto out;
		}
	}
	/* Then the restore points (checked again as they are decoded
	 * from), then the entries. */
	for (size_t i = 0; i < a->payload_count; i++) {
		if (imports[i])
			(void)mfs_stream_index_commit(a->payloads[i].stream,
						      imports[i]);
		imports[i] = NULL;	/* commit frees it, even failing */
	}
	for (size_t i = 0; i < a->payload_count; i++) {
		if (install(&a->payloads[i], &lp[i]) < 0) {
			snprintf(why, whylen, "%s: its entries disagree with "
				 "the artifact", path);
			goto out;
		}
	}
	ret = 1;
out:
	for (size_t i = 0; imports && i < a->payload_count; i++)
		mfs_stream_import_free(imports[i]);
	free(imports);
	loaded_destroy(lp, n);
	free(data);
	return ret;
}
