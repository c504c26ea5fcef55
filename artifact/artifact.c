/*
 * Opening an artifact: index the outer tar, check what must be right
 * before anything is shown (a tar, `version` first, a version we read),
 * then load the small parts (manifest, header) and set up one stream per
 * payload.  Nothing here decompresses a payload beyond its first tar
 * header, so opening costs O(number of members).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/artifact.h"
#include "artifact/names.h"
#include "artifact/pass.h"

#define VERSION_MAX_SIZE 4096

/* Where each kind of member may stand; the outer tar must list them in
 * this order (data members among themselves by number). */
enum member_rank {
	RANK_VERSION,
	RANK_MANIFEST,
	RANK_MANIFEST_SIG,
	RANK_MANIFEST_AUGMENT,
	RANK_HEADER,
	RANK_HEADER_AUGMENT,
	RANK_DATA,
	RANK_UNKNOWN,
};

void mfs_artifact_note_malformed(struct mfs_artifact *a, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&a->note_lock);
	if (!a->malformed[0]) {
		va_start(ap, fmt);
		vsnprintf(a->malformed, sizeof(a->malformed), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&a->note_lock);
}

void mfs_artifact_note_lenient(struct mfs_artifact *a, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&a->note_lock);
	if (!a->lenient[0]) {
		va_start(ap, fmt);
		vsnprintf(a->lenient, sizeof(a->lenient), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&a->note_lock);
}

/* True when name is base followed by nothing or a compression suffix. */
static bool is_tar_member(const char *name, const char *base)
{
	static const char *const suffixes[] = { "", ".gz", ".xz", ".zst" };
	size_t len = strlen(base);

	if (strncmp(name, base, len) != 0)
		return false;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++)
		if (strcmp(name + len, suffixes[i]) == 0)
			return true;
	return false;
}

/* The rank of a member name; for data members also their number. */
static enum member_rank member_rank(const char *name, unsigned *data_index)
{
	unsigned n;
	int used = 0;

	if (strcmp(name, "version") == 0)
		return RANK_VERSION;
	if (strcmp(name, "manifest") == 0)
		return RANK_MANIFEST;
	if (strcmp(name, "manifest.sig") == 0)
		return RANK_MANIFEST_SIG;
	if (strcmp(name, "manifest-augment") == 0)
		return RANK_MANIFEST_AUGMENT;
	if (is_tar_member(name, "header.tar"))
		return RANK_HEADER;
	if (is_tar_member(name, "header-augment.tar"))
		return RANK_HEADER_AUGMENT;
	if (sscanf(name, "data/%4u%n", &n, &used) == 1 && used == 9 &&
	    is_tar_member(name + used, ".tar")) {
		*data_index = n;
		return RANK_DATA;
	}
	return RANK_UNKNOWN;
}

/* Reads a small member whole; refuses one over max bytes. */
static int read_small_member(struct mfs_artifact *a, size_t i, size_t max,
			     uint8_t **out, size_t *len)
{
	const struct mfs_entry *m = &a->outer.members[i];
	uint8_t *buf;
	ssize_t n;

	if (m->size > max)
		return -EFBIG;
	buf = malloc(m->size + 1);
	if (!buf)
		return -ENOMEM;
	n = mfs_artifact_read_member(a, i, buf, (size_t)m->size, 0);
	if (n != (ssize_t)m->size) {
		free(buf);
		return n < 0 ? (int)n : -EIO;
	}
	buf[m->size] = '\0';
	*out = buf;
	*len = (size_t)m->size;
	return 0;
}

/* Parses `version`: {"format":"mender","version":N}.  Returns N, or a
 * negative errno with the reason in err. */
static int parse_version(const uint8_t *data, size_t len, char *err,
			 size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = NULL, *format, *version;
	int ret = -EINVAL;

	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, (const char *)data, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(err, errlen, "version member is not valid JSON");
		goto out;
	}
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "format", &format) ||
	    !json_object_is_type(format, json_type_string) ||
	    strcmp(json_object_get_string(format), "mender") != 0) {
		snprintf(err, errlen, "version member does not say \"format\": \"mender\"");
		goto out;
	}
	if (!json_object_object_get_ex(root, "version", &version) ||
	    !json_object_is_type(version, json_type_int)) {
		snprintf(err, errlen, "version member has no version number");
		goto out;
	}
	ret = json_object_get_int(version);
	if (ret != 2 && ret != 3) {
		snprintf(err, errlen, "unsupported artifact version %d "
			 "(2 and 3 are supported)", ret);
		ret = -ENOTSUP;
	}
out:
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}

static int load_manifest(struct mfs_artifact *a, ssize_t member,
			 struct mfs_manifest *m, uint8_t **raw, size_t *raw_len)
{
	char why[MFS_ERR_LEN];
	uint8_t *bytes = NULL;
	size_t len = 0;
	int ret;

	if (member < 0)
		return 0;
	ret = read_small_member(a, (size_t)member, MFS_MANIFEST_MAX_SIZE,
				&bytes, &len);
	if (ret == -EFBIG) {
		mfs_artifact_note_malformed(a, "%s is larger than %d bytes",
			a->outer.members[member].name, MFS_MANIFEST_MAX_SIZE);
		return 0;
	}
	if (ret < 0)
		return ret;
	if (mfs_manifest_parse(bytes, len, m, why, sizeof(why)) < 0)
		mfs_artifact_note_malformed(a, "%s: %s",
			a->outer.members[member].name, why);
	for (size_t i = 0; i < m->count; i++) {
		if (strlen(m->lines[i].name) <= MFS_NAME_MAX_CLIENT)
			continue;
		/* mender-artifact writes and reads such lines; the client
		 * refuses them. */
		mfs_artifact_note_malformed(a, "%s names %.40s... (longer than "
			"%d bytes, which the client refuses)",
			a->outer.members[member].name, m->lines[i].name,
			MFS_NAME_MAX_CLIENT);
		mfs_artifact_note_lenient(a, "names longer than %d bytes",
					  MFS_NAME_MAX_CLIENT);
		break;
	}
	if (raw) {
		*raw = bytes;
		*raw_len = len;
	} else {
		free(bytes);
	}
	return 0;
}

static int load_header(struct mfs_artifact *a, ssize_t member,
		       struct mfs_header *h)
{
	struct mfs_stream *s = NULL;
	const struct mfs_entry *m;
	char why[MFS_ERR_LEN];
	int ret;

	if (member < 0)
		return 0;
	m = &a->outer.members[member];
	ret = mfs_stream_open(a->fd, m->offset, m->size, &s);
	if (ret < 0)
		return ret;
	ret = mfs_header_load(s, h, why, sizeof(why));
	mfs_stream_close(s);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0)
		mfs_artifact_note_malformed(a, "%s: %s", m->name, why);
	/* mender-artifact keeps the last copy of a header file; the
	 * client's lexer refuses the second. */
	if (ret == -EEXIST)
		mfs_artifact_note_lenient(a, "a name twice in %s", m->name);
	return 0;
}

/* Classifies the members, checking order, duplicates and names.  Members
 * that cannot be trusted are dropped from the m_* slots, so never shown. */
static int classify_members(struct mfs_artifact *a)
{
	enum member_rank last = RANK_VERSION;
	unsigned next_data = 0;

	for (size_t i = 1; i < a->outer.count; i++) {
		const struct mfs_entry *m = &a->outer.members[i];
		unsigned data_index = 0;
		enum member_rank rank = member_rank(m->name, &data_index);
		ssize_t *slot = NULL;

		if (!S_ISREG(m->mode) && rank != RANK_UNKNOWN) {
			mfs_artifact_note_malformed(a,
				"member %s is not a regular file", m->name);
			continue;
		}
		switch (rank) {
		case RANK_VERSION:
			mfs_artifact_note_malformed(a, "a second version member");
			continue;
		case RANK_MANIFEST:
			slot = &a->m_manifest;
			break;
		case RANK_MANIFEST_SIG:
			slot = &a->m_manifest_sig;
			break;
		case RANK_MANIFEST_AUGMENT:
			slot = &a->m_manifest_augment;
			break;
		case RANK_HEADER:
			slot = &a->m_header;
			break;
		case RANK_HEADER_AUGMENT:
			slot = &a->m_header_augment;
			break;
		case RANK_DATA:
			break;
		case RANK_UNKNOWN:
			mfs_artifact_note_malformed(a, "unexpected member %s",
						    m->name);
			continue;
		}
		if (rank < last || (rank == last && rank != RANK_DATA))
			mfs_artifact_note_malformed(a,
				"member %s is out of order", m->name);
		last = rank;
		if (slot) {
			if (*slot >= 0) {
				mfs_artifact_note_malformed(a,
					"member %s appears twice", m->name);
				*slot = -2;	/* ambiguous: show neither */
			} else if (*slot == -1) {
				*slot = (ssize_t)i;
			}
			continue;
		}
		if (data_index != next_data) {
			mfs_artifact_note_malformed(a,
				"member %s is out of sequence", m->name);
			continue;
		}
		next_data++;
	}
	/* -2 marked a duplicate; from here on, absent is absent. */
	ssize_t *slots[] = { &a->m_manifest, &a->m_manifest_sig,
			     &a->m_manifest_augment, &a->m_header,
			     &a->m_header_augment };
	for (size_t i = 0; i < sizeof(slots) / sizeof(*slots); i++)
		if (*slots[i] == -2)
			*slots[i] = -1;
	if (a->m_manifest < 0)
		mfs_artifact_note_malformed(a, "no manifest member");
	if (a->m_header < 0)
		mfs_artifact_note_malformed(a, "no header.tar member");
	return (int)next_data;
}

static int payload_step(struct mfs_payload *p);

/* A table entry as a struct mfs_entry, its name borrowed. */
static void entry_out(const struct mfs_payload_entry *r, struct mfs_entry *e)
{
	e->name = (char *)r->name;
	e->offset = r->offset;
	e->size = r->size;
	e->mode = (mode_t)r->mode;
	e->mtime = r->mtime;
	e->header_offset = r->header_offset;
}

/* Where the header after the last entry found starts. */
static uint64_t payload_next_header(const struct mfs_payload *p)
{
	const struct mfs_payload_entry *e = &p->entries[p->count - 1];

	return e->offset + ((e->size + 511) & ~(uint64_t)511);
}

static int setup_payloads(struct mfs_artifact *a, size_t count)
{
	size_t n = 0;

	a->payloads = calloc(count ? count : 1, sizeof(*a->payloads));
	if (!a->payloads)
		return -ENOMEM;
	for (size_t i = 1; i < a->outer.count && n < count; i++) {
		const struct mfs_entry *m = &a->outer.members[i];
		struct mfs_payload *p = &a->payloads[n];
		unsigned index = 0;
		int ret;

		if (member_rank(m->name, &index) != RANK_DATA || index != n ||
		    !S_ISREG(m->mode))
			continue;
		p->member = i;
		p->artifact = a;
		snprintf(p->dir, sizeof(p->dir), "data/%04u", index);
		pthread_mutex_init(&p->lock, NULL);
		pthread_cond_init(&p->pass_changed, NULL);
		a->payload_count = ++n;
		ret = mfs_stream_open(a->fd, m->offset, m->size, &p->stream);
		if (ret < 0)
			return ret;
		ret = mfs_inner_open(p->stream, &p->walker);
		if (ret < 0)
			return ret;
		/* Walk while the next header lies within the first
		 * MFS_MOUNT_WALK_BUDGET bytes: milliseconds of decoding, and a
		 * small payload (a module image) is then known whole, its
		 * duplicates hidden from the start.  A big one costs its first
		 * header; the rest is found on demand. */
		/* The walk reads in order, but skips the data: no helper
		 * decoding ahead, and so no thread, which opening never
		 * starts (the daemon forks after it, and a fork keeps no
		 * threads). */
		mfs_stream_set_decode_ahead(p->stream, false);
		pthread_mutex_lock(&p->lock);
		do
			ret = payload_step(p);
		while (ret == 1 && payload_next_header(p) < MFS_MOUNT_WALK_BUDGET);
		pthread_mutex_unlock(&p->lock);
		mfs_stream_set_decode_ahead(p->stream, true);
		if (ret == -ENOMEM)
			return ret;
	}
	return 0;
}

int mfs_artifact_open(const char *path, struct mfs_artifact **out,
		      char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	int e = errno;

	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(e));
		return -e;
	}
	return mfs_artifact_open_fd(fd, path, out, err, errlen);
}

int mfs_artifact_open_fd(int fd, const char *path, struct mfs_artifact **out,
			 char *err, size_t errlen)
{
	struct mfs_artifact *a;
	uint8_t *version = NULL;
	size_t version_len = 0;
	struct stat st;
	char why[MFS_ERR_LEN];
	int ret, data_count;

	a = calloc(1, sizeof(*a));
	if (!a) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&a->note_lock, NULL);
	a->fd = fd;
	a->m_version = a->m_manifest = a->m_manifest_sig = -1;
	a->m_manifest_augment = a->m_header = a->m_header_augment = -1;
	a->path = strdup(path);
	if (!a->path) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}

	if (fstat(a->fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		snprintf(err, errlen, "is a directory, not an artifact");
		goto out;
	}
	a->file_size = (uint64_t)st.st_size;
	a->file_mtime = st.st_mtime;
	a->file_mtime_ns = st.st_mtim.tv_nsec;

	ret = mfs_outer_index(a->fd, &a->outer, why, sizeof(why));
	if (ret == -EINVAL && a->outer.count > 0) {
		mfs_artifact_note_malformed(a, "%s", why);
	} else if (ret < 0) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	if (a->outer.count == 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "not a Mender artifact: empty tar archive");
		goto out;
	}
	if (strcmp(a->outer.members[0].name, "version") != 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "not a Mender artifact: first member is "
			 "'%.64s', not 'version'", a->outer.members[0].name);
		goto out;
	}
	a->m_version = 0;
	ret = read_small_member(a, 0, VERSION_MAX_SIZE, &version, &version_len);
	if (ret < 0) {
		snprintf(err, errlen, "cannot read the version member: %s",
			 ret == -EFBIG ? "too large" : strerror(-ret));
		goto out;
	}
	ret = parse_version(version, version_len, err, errlen);
	if (ret < 0)
		goto out;
	a->version = ret;

	data_count = classify_members(a);
	ret = load_manifest(a, a->m_manifest, &a->manifest,
			    &a->manifest_bytes, &a->manifest_len);
	if (ret == 0)
		ret = load_manifest(a, a->m_manifest_augment,
				    &a->manifest_augment, NULL, NULL);
	if (ret == 0)
		ret = load_header(a, a->m_header, &a->header);
	if (ret == 0)
		ret = load_header(a, a->m_header_augment, &a->header_augment);
	if (ret == 0)
		ret = setup_payloads(a, (size_t)data_count);
	if (ret < 0) {
		snprintf(err, errlen, "%s", strerror(-ret));
		goto out;
	}
	ret = 0;
out:
	free(version);
	if (ret < 0) {
		mfs_artifact_close(a);
		return ret;
	}
	*out = a;
	return 0;
}

void mfs_artifact_close(struct mfs_artifact *a)
{
	if (!a)
		return;
	mfs_pass_stop(a);
	for (size_t i = 0; i < a->payload_count; i++) {
		struct mfs_payload *p = &a->payloads[i];

		mfs_inner_close(p->walker);
		mfs_stream_close(p->stream);
		while (p->arena) {
			struct mfs_name_block *b = p->arena;

			p->arena = b->next;
			free(b);
		}
		free(p->entries);
		free(p->digests);
		free(p->names);
		pthread_cond_destroy(&p->pass_changed);
		pthread_mutex_destroy(&p->lock);
	}
	free(a->index_dir);
	free(a->payloads);
	mfs_header_destroy(&a->header_augment);
	mfs_header_destroy(&a->header);
	mfs_manifest_destroy(&a->manifest_augment);
	mfs_manifest_destroy(&a->manifest);
	free(a->manifest_bytes);
	mfs_outer_destroy(&a->outer);
	if (a->fd >= 0)
		close(a->fd);
	free(a->path);
	pthread_mutex_destroy(&a->note_lock);
	free(a);
}

ssize_t mfs_artifact_read_member(struct mfs_artifact *a, size_t i, void *buf,
				 size_t len, uint64_t off)
{
	const struct mfs_entry *m = &a->outer.members[i];
	size_t done = 0;

	if (off >= m->size)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	while (done < len) {
		ssize_t n = pread(a->fd, (uint8_t *)buf + done, len - done,
				  (off_t)(m->offset + off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;	/* the file shrank under us */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Doubles the room for entries and their digests.  Called with p->lock
 * held.  Returns 0 or -ENOMEM. */
static int payload_grow(struct mfs_payload *p)
{
	size_t cap = p->capacity ? p->capacity * 2 : 16;
	struct mfs_payload_entry *entries;
	struct mfs_digest *digests;

	entries = realloc(p->entries, cap * sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	p->entries = entries;
	digests = realloc(p->digests, cap * sizeof(*digests));
	if (!digests)
		return -ENOMEM;	/* entries kept its larger block: harmless */
	p->digests = digests;
	p->capacity = cap;
	return 0;
}

/* FNV-1a: names only need spreading over the slots. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 0x811c9dc5u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x01000193u;
	return h;
}

/* Rehashes the name set into twice the slots (it stays under half
 * full).  Returns 0 or -ENOMEM. */
static int names_grow(struct mfs_payload *p)
{
	size_t slots = p->name_slots ? p->name_slots * 2 : 64;
	struct mfs_name_slot *t = calloc(slots, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < p->name_slots; i++) {
		size_t j;

		if (!p->names[i].index)
			continue;
		for (j = p->names[i].hash & (slots - 1); t[j].index;
		     j = (j + 1) & (slots - 1))
			;
		t[j] = p->names[i];
	}
	free(p->names);
	p->names = t;
	p->name_slots = slots;
	return 0;
}

/* Looks the normal name norm up: 1 with the first entry of that name in
 * *first, 0 with the free slot for it in *slot, or -ENOMEM. */
static int names_find(struct mfs_payload *p, const char *norm, uint32_t hash,
		      size_t *first, size_t *slot)
{
	size_t mask = p->name_slots - 1, j;

	for (j = hash & mask; p->names[j].index; j = (j + 1) & mask) {
		size_t k = p->names[j].index - 1;
		char *other;
		bool same;

		if (p->names[j].hash != hash)
			continue;
		other = mfs_name_normalize(p->entries[k].name);
		if (!other)
			return -ENOMEM;
		same = strcmp(other, norm) == 0;
		free(other);
		if (same) {
			*first = k;
			return 1;
		}
	}
	*slot = j;
	return 0;
}

/* The client reads payload names through its manifest line, which holds
 * no blank and no more than MFS_NAME_MAX_CLIENT bytes. */
static void check_client_name(struct mfs_payload *p, const char *name)
{
	if (strpbrk(name, " \t")) {
		mfs_artifact_note_malformed(p->artifact, "%s/%s: a name with a "
			"blank, which the client's manifest cannot carry",
			p->dir, name);
	} else if (strlen(name) > MFS_NAME_MAX_CLIENT) {
		mfs_artifact_note_malformed(p->artifact, "%s/%.40s...: a name "
			"longer than %d bytes, which the client refuses",
			p->dir, name, MFS_NAME_MAX_CLIENT);
		mfs_artifact_note_lenient(p->artifact,
			"names longer than %d bytes", MFS_NAME_MAX_CLIENT);
	}
}

/* Names go to blocks of this size, end to end (one of its own for a
 * longer name): a million short names cost a few allocations, not a
 * million. */
#define NAME_BLOCK_SIZE (256 * 1024)

/* A copy of name (len bytes) in the payload's arena, or NULL. */
static const char *arena_add(struct mfs_payload *p, const char *name,
			     size_t len)
{
	struct mfs_name_block *b = p->arena;
	char *copy;

	if (!b || b->size - b->used < len + 1) {
		size_t size = len + 1 > NAME_BLOCK_SIZE ? len + 1 :
			      NAME_BLOCK_SIZE;

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->used = 0;
		b->size = size;
		/* A block of its own for a long name goes behind the
		 * current one, which still has room for short ones. */
		if (p->arena && size > NAME_BLOCK_SIZE) {
			b->next = p->arena->next;
			p->arena->next = b;
		} else {
			b->next = p->arena;
			p->arena = b;
		}
	}
	copy = b->data + b->used;
	memcpy(copy, name, len + 1);
	b->used += len + 1;
	return copy;
}

/* Counts one more entry of len name bytes against the caps the payloads
 * share.  Returns 0, or -EFBIG with the counts unchanged. */
static int caps_take(struct mfs_payload *p, size_t len)
{
	struct mfs_artifact *a = p->artifact;

	if (atomic_fetch_add(&a->entry_total, 1) >= MFS_PAYLOAD_MAX_ENTRIES) {
		atomic_fetch_sub(&a->entry_total, 1);
		snprintf(p->walk_message, sizeof(p->walk_message),
			 "more than %d entries in the payloads",
			 MFS_PAYLOAD_MAX_ENTRIES);
		return -EFBIG;
	}
	if (atomic_fetch_add(&a->name_bytes, len) + len >
	    MFS_PAYLOAD_MAX_NAME_BYTES) {
		atomic_fetch_sub(&a->name_bytes, len);
		atomic_fetch_sub(&a->entry_total, 1);
		snprintf(p->walk_message, sizeof(p->walk_message),
			 "more than %d bytes of names in the payloads",
			 MFS_PAYLOAD_MAX_NAME_BYTES);
		return -EFBIG;
	}
	return 0;
}

static void caps_give(struct mfs_payload *p, size_t len)
{
	atomic_fetch_sub(&p->artifact->name_bytes, len);
	atomic_fetch_sub(&p->artifact->entry_total, 1);
}

int mfs_payload_append(struct mfs_payload *p, struct mfs_entry *e)
{
	size_t len = strlen(e->name);
	struct mfs_payload_entry *r;
	size_t first = 0, slot = 0;
	const char *name;
	char *norm;
	uint32_t hash;
	int ret;

	ret = caps_take(p, len);
	if (ret < 0)
		return ret;
	norm = mfs_name_normalize(e->name);
	if (!norm) {
		caps_give(p, len);
		return -ENOMEM;
	}
	if (p->count == p->capacity && (ret = payload_grow(p)) < 0)
		goto out;
	if ((p->count + 1) * 2 > p->name_slots && (ret = names_grow(p)) < 0)
		goto out;
	hash = name_hash(norm);
	ret = names_find(p, norm, hash, &first, &slot);
	if (ret < 0)
		goto out;
	name = arena_add(p, e->name, len);
	if (!name) {
		ret = -ENOMEM;
		goto out;
	}
	memset(&p->digests[p->count], 0, sizeof(*p->digests));
	if (ret == 1) {
		/* Which copy a reader takes differs from reader to reader
		 * (the first, the last, both extracted in turn): none is
		 * served, whichever the manifest's checksum matches. */
		p->digests[first].duplicate = true;
		p->digests[p->count].duplicate = true;
		mfs_artifact_note_malformed(p->artifact, "%s/%s appears twice",
					    p->dir, norm);
	} else {
		p->names[slot].hash = hash;
		/* Fits: count stays under MFS_PAYLOAD_MAX_ENTRIES. */
		p->names[slot].index = (uint32_t)(p->count + 1);
	}
	check_client_name(p, name);
	r = &p->entries[p->count++];
	r->name = name;
	r->offset = e->offset;
	r->size = e->size;
	r->mtime = e->mtime;
	r->header_offset = e->header_offset;
	r->mode = (uint32_t)e->mode;
	free(e->name);
	e->name = NULL;
	ret = 0;
out:
	if (ret < 0)
		caps_give(p, len);
	free(norm);
	return ret;
}

int mfs_payload_entry_usable(struct mfs_payload *p, size_t i)
{
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	if (i < p->count && p->digests[i].duplicate)
		ret = -EIO;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Reads one more entry of the payload tar.  Called with p->lock held.
 * Returns 1 with the entry appended, 0 at the end, or a negative errno. */
static int payload_step(struct mfs_payload *p)
{
	struct mfs_entry e;
	int ret;

	if (p->walk_done)
		return p->walk_error;
	p->walk_message[0] = '\0';
	ret = mfs_inner_next(p->walker, &e);
	if (ret <= 0)
		goto done;
	ret = mfs_payload_append(p, &e);
	if (ret < 0) {
		/* Not the tar's fault, but the walker has moved past the
		 * entry: the walk cannot go on without it. */
		mfs_entry_destroy(&e);
		goto done;
	}
	return 1;
done:
	p->walk_done = true;
	p->walk_error = ret;
	if (ret < 0 && p->walk_message[0])
		;	/* a cap: mfs_payload_append said which */
	else if (ret < 0)
		snprintf(p->walk_message, sizeof(p->walk_message), "%s",
			 mfs_inner_error(p->walker));
	mfs_inner_close(p->walker);
	p->walker = NULL;
	return ret;
}

int mfs_payload_find(struct mfs_payload *p, const char *name,
		     struct mfs_entry *e)
{
	size_t i = 0;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (; i < p->count; i++) {
			if (strcmp(p->entries[i].name, name) == 0) {
				entry_out(&p->entries[i], e);
				ret = p->digests[i].duplicate ? -EIO : 1;
				goto out;
			}
		}
		ret = payload_step(p);
		if (ret <= 0)
			goto out;
	}
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void mfs_artifact_set_span_cache(struct mfs_artifact *a,
				 struct mfs_span_cache *cache)
{
	for (size_t i = 0; i < a->payload_count; i++)
		mfs_stream_set_span_cache(a->payloads[i].stream, cache);
}

int mfs_payload_walk_to(struct mfs_payload *p, size_t i, struct mfs_entry *e)
{
	int ret = 1;

	pthread_mutex_lock(&p->lock);
	while (i >= p->count && (ret = payload_step(p)) == 1)
		;
	if (i < p->count) {
		entry_out(&p->entries[i], e);
		ret = 1;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int mfs_payload_walk_all(struct mfs_payload *p)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	while ((ret = payload_step(p)) == 1)
		;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int mfs_payload_entry(struct mfs_payload *p, size_t i, struct mfs_entry *e)
{
	int found = 0;

	pthread_mutex_lock(&p->lock);
	if (i < p->count) {
		entry_out(&p->entries[i], e);
		found = 1;
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}
