/*
 * Verifying an artifact: structure, signature, checksums, in that order
 * of precedence.  Every stage runs whatever the earlier ones found, so
 * the report can say everything that is wrong, but the status names the
 * first stage that failed, as a device would refuse at the first.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/header_info.h"
#include "artifact/names.h"
#include "artifact/pass.h"
#include "artifact/verify.h"
#include "crypto/base64.h"

#define HASH_CHUNK (256 * 1024)
#define SIGNATURE_MAX_SIZE (64 * 1024)

/* A checksum computed from an outer member (version, the headers). */
struct actual {
	const char *name;	/* borrowed from the artifact */
	uint8_t sha256[32];
	bool readable;
	bool unlisted;		/* no manifest names it */
};

struct actuals {
	struct actual *items;
	size_t count, capacity;
};

/* What the manifests' lines got, by line index; lines no file claims
 * stay missing.  Payload files are judged in place, from the payload's
 * own table, so nothing is copied per file: a million files cost the
 * unlisted list, eight bytes each, and no name. */
struct judged {
	enum mfs_check *main_r, *aug_r;
	struct mfs_unlisted *unlisted;	/* payload files no manifest lists */
	size_t unlisted_count, unlisted_capacity;
};

static void set_structure(struct mfs_verification *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_structure(struct mfs_verification *v, const char *fmt, ...)
{
	va_list ap;

	if (v->structure[0])
		return;		/* the first problem is the one reported */
	va_start(ap, fmt);
	vsnprintf(v->structure, sizeof(v->structure), fmt, ap);
	va_end(ap);
}

static struct actual *actual_add(struct actuals *list, const char *name)
{
	struct actual *a;

	if (list->count == list->capacity) {
		size_t cap = list->capacity ? list->capacity * 2 : 16;
		struct actual *items = realloc(list->items, cap * sizeof(*items));

		if (!items)
			return NULL;
		list->items = items;
		list->capacity = cap;
	}
	a = &list->items[list->count];
	memset(a, 0, sizeof(*a));
	a->name = name;
	list->count++;
	return a;
}

static void actuals_destroy(struct actuals *list)
{
	free(list->items);
}

static int unlisted_add(struct judged *j, size_t payload, size_t entry)
{
	if (j->unlisted_count == j->unlisted_capacity) {
		size_t cap = j->unlisted_capacity ? j->unlisted_capacity * 2 : 16;
		struct mfs_unlisted *u = realloc(j->unlisted, cap * sizeof(*u));

		if (!u)
			return -ENOMEM;
		j->unlisted = u;
		j->unlisted_capacity = cap;
	}
	/* Both fit: payloads and entries are capped far below 2^32. */
	j->unlisted[j->unlisted_count].payload = (uint32_t)payload;
	j->unlisted[j->unlisted_count].entry = (uint32_t)entry;
	j->unlisted_count++;
	return 0;
}

static enum mfs_check judge_digest(bool readable, const uint8_t *sha256,
				   const struct mfs_manifest_line *l)
{
	if (!readable)
		return MFS_CHECK_UNREADABLE;
	return memcmp(sha256, l->sha256, 32) ? MFS_CHECK_MISMATCH :
					       MFS_CHECK_OK;
}

/* Files a payload file's result under the manifest line that lists it,
 * or as unlisted. */
static int judge_file(struct mfs_artifact *a, struct judged *jd, size_t i,
		      size_t j, const char *name, bool readable,
		      const uint8_t *sha256)
{
	const struct mfs_manifest *m = &a->manifest, *aug = &a->manifest_augment;
	const struct mfs_manifest_line *l = mfs_manifest_find(m, name);

	if (l) {
		jd->main_r[l - m->lines] = judge_digest(readable, sha256, l);
		return 0;
	}
	if ((l = mfs_manifest_find(aug, name))) {
		jd->aug_r[l - aug->lines] = judge_digest(readable, sha256, l);
		return 0;
	}
	return unlisted_add(jd, i, j);
}

/* SHA-256 of an outer member's raw bytes. */
static int hash_member(struct mfs_artifact *a, size_t i, struct actual *out,
		       uint8_t *buf)
{
	const struct mfs_entry *m = &a->outer.members[i];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t off = 0;
	int ret = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	while (off < m->size) {
		ssize_t n = mfs_artifact_read_member(a, i, buf, HASH_CHUNK, off);

		if (n <= 0)
			goto out;	/* stays unreadable */
		/* A digest that did not take every byte is no digest. */
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			goto out;
		off += (uint64_t)n;
	}
	out->readable = EVP_DigestFinal_ex(ctx, out->sha256, NULL) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Payload i's files and their digests, from the one pass over it
 * (pass.h), which hashed the bytes read from the stream at each entry's
 * offset: the very bytes the tree serves, so what .verify judges is what
 * users read, even where libarchive would expand an entry differently (a
 * pax sparse map it does not report as sparse). */
static int hash_payload(struct mfs_artifact *a, size_t i,
			struct mfs_verification *v, struct judged *jd)
{
	struct mfs_payload *p = &a->payloads[i];
	bool empty = mfs_header_info_payload_is_empty(a, i);
	char name[PATH_MAX + 32];
	int ret;

	ret = mfs_payload_pass(a, i);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&p->lock);
	for (size_t j = 0; j < p->count; j++) {
		const struct mfs_payload_entry *e = &p->entries[j];

		if (!mfs_name_is_safe(e->name)) {
			set_structure(v, "%s holds an unsafe name", p->dir);
			continue;
		}
		if (S_ISDIR(e->mode))
			continue;	/* implied by the file names anyway */
		if (!S_ISREG(e->mode)) {
			set_structure(v, "%s/%s is not a regular file", p->dir,
				      e->name);
			continue;
		}
		if (empty)
			set_structure(v, "%s is declared empty (type null) but "
				      "holds %s", p->dir, e->name);
		if (p->pass_error && j >= p->pass_error_entry) {
			set_structure(v, "%s is truncated or corrupt",
				      a->outer.members[p->member].name);
			break;
		}
		snprintf(name, sizeof(name), "%s/%s", p->dir, e->name);
		/* A name twice has no one content to judge. */
		ret = judge_file(a, jd, i, j, name, p->digests[j].done &&
				 !p->digests[j].duplicate, p->digests[j].sha256);
		if (ret < 0)
			break;
	}
	if (ret == 0 && p->walk_error == -ENOMEM)
		ret = -ENOMEM;	/* not the tar's fault: no verdict */
	else if (ret == 0 && p->walk_error < 0)
		set_structure(v, "%s is not a readable tar: %s",
			      a->outer.members[p->member].name,
			      p->walk_message);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Nothing but zero blocks may follow the end-of-archive marker. */
static void check_trailer(struct mfs_artifact *a, struct mfs_verification *v,
			  uint8_t *buf)
{
	uint64_t off = a->outer.end_offset;

	while (off < a->file_size) {
		size_t want = a->file_size - off < HASH_CHUNK ?
			      (size_t)(a->file_size - off) : HASH_CHUNK;
		ssize_t n = pread(a->fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		/* What cannot be read cannot be judged empty. */
		if (n <= 0) {
			set_structure(v, "cannot read past the end of the tar "
				      "archive at offset %llu: %s",
				      (unsigned long long)off,
				      n < 0 ? strerror(errno) : "the file shrank");
			return;
		}
		for (ssize_t j = 0; j < n; j++) {
			if (buf[j]) {
				set_structure(v, "data after the end of the tar "
					      "archive at offset %llu",
					      (unsigned long long)(off + (uint64_t)j));
				return;
			}
		}
		off += (uint64_t)n;
	}
}

/* What no signature covers, by design: manifest-augment lists the
 * checksums of header-augment and of the payload files it adds, and
 * nothing signs it.  Both parts or neither, and no script in
 * header-augment (the client would run it unsigned). */
static void check_augment(struct mfs_artifact *a, struct mfs_verification *v)
{
	const struct mfs_header *h = &a->header_augment;

	if (a->m_header_augment >= 0 && a->m_manifest_augment < 0)
		set_structure(v, "header-augment without manifest-augment");
	if (a->m_manifest_augment >= 0 && a->m_header_augment < 0)
		set_structure(v, "manifest-augment without header-augment");
	for (size_t i = 0; i < h->count; i++) {
		if (strncmp(h->files[i].name, "scripts/", 8) == 0) {
			set_structure(v, "header-augment holds a script (%s)",
				      h->files[i].name);
			break;
		}
	}
	/* Unsigned lines may add what the signature cannot cover and
	 * nothing else: not version or header.tar (mender-artifact:
	 * "checksum missing"), not a second checksum for a signed name
	 * ("file already exists"). */
	for (size_t i = 0; i < a->manifest_augment.count; i++) {
		const char *name = a->manifest_augment.lines[i].name;

		if (mfs_manifest_find(&a->manifest, name)) {
			set_structure(v, "%s is listed in both manifest and "
				      "manifest-augment", name);
			break;
		}
		if (strncmp(name, "data/", 5) != 0 &&
		    strncmp(name, "header-augment.tar", 18) != 0) {
			set_structure(v, "manifest-augment lists %s, which only "
				      "the signed manifest may", name);
			break;
		}
	}
	v->augmented = a->m_manifest_augment >= 0 || a->m_header_augment >= 0;
}

static void check_structure(struct mfs_artifact *a, struct mfs_verification *v,
			    uint8_t *buf)
{
	char why[MFS_ERR_LEN];

	pthread_mutex_lock(&a->note_lock);
	if (a->malformed[0])
		set_structure(v, "%s", a->malformed);
	pthread_mutex_unlock(&a->note_lock);
	if (a->m_manifest >= 0 && a->manifest.count == 0)
		set_structure(v, "the manifest lists nothing");
	if (a->m_header >= 0 && mfs_header_info_check(a, why, sizeof(why)) < 0)
		set_structure(v, "%s", why);
	check_augment(a, v);
	check_trailer(a, v, buf);
	/* Last: the header check above may add to it. */
	pthread_mutex_lock(&a->note_lock);
	snprintf(v->lenient, sizeof(v->lenient), "%s", a->lenient);
	pthread_mutex_unlock(&a->note_lock);
}

static void check_signature(struct mfs_artifact *a, struct mfs_verification *v)
{
	uint8_t *text = NULL, *sig = NULL;
	size_t sig_len = 0;
	char why[256];
	const struct mfs_entry *m;
	ssize_t n;
	int idx;

	if (a->m_manifest_sig < 0)
		return;
	v->is_signed = true;
	m = &a->outer.members[a->m_manifest_sig];
	if (m->size > SIGNATURE_MAX_SIZE) {
		snprintf(v->signature_problem, sizeof(v->signature_problem),
			 "manifest.sig is larger than %d bytes", SIGNATURE_MAX_SIZE);
		return;
	}
	text = malloc(m->size + 1);
	if (!text) {
		snprintf(v->signature_problem, sizeof(v->signature_problem),
			 "out of memory");
		return;
	}
	n = mfs_artifact_read_member(a, (size_t)a->m_manifest_sig, text,
				     (size_t)m->size, 0);
	if (n != (ssize_t)m->size) {
		snprintf(v->signature_problem, sizeof(v->signature_problem),
			 "manifest.sig is unreadable");
		goto out;
	}
	if (mfs_b64_decode((const char *)text, (size_t)n, &sig, &sig_len,
			   &v->signature_canonical, why, sizeof(why)) < 0) {
		snprintf(v->signature_problem, sizeof(v->signature_problem),
			 "manifest.sig is not base64: %s", why);
		goto out;
	}
	v->signature_form = mfs_sig_form_of(sig, sig_len);
	v->signature_len = sig_len;
	if (v->key_count == 0 || !a->manifest_bytes)
		goto out;
	idx = mfs_sig_verify_any(v->keys, v->key_count, a->manifest_bytes,
				 a->manifest_len, sig, sig_len, v->attempts,
				 why, sizeof(why));
	v->key_index = idx >= 0 ? idx : -1;
	if (idx >= 0)	/* the key knows: a 64-byte DER is rare, not impossible */
		v->signature_form = v->attempts[idx].form;
out:
	free(sig);
	free(text);
}

static int line_add(struct mfs_verification *v, const char *dir,
		    const char *name, enum mfs_check result, bool augment)
{
	struct mfs_check_line *l;

	if (v->line_count == v->line_capacity) {
		size_t cap = v->line_capacity ? v->line_capacity * 2 : 16;
		struct mfs_check_line *lines = realloc(v->lines,
						       cap * sizeof(*lines));
		if (!lines)
			return -ENOMEM;
		v->lines = lines;
		v->line_capacity = cap;
	}
	l = &v->lines[v->line_count];
	l->dir = dir;
	l->name = name;
	l->result = result;
	l->augment = augment;
	v->line_count++;
	return 0;
}

/* The result each manifest line gets, by its index; lines no hashed
 * file claims stay missing. */
static enum mfs_check *results_new(const struct mfs_manifest *m)
{
	enum mfs_check *r = malloc((m->count + 1) * sizeof(*r));

	for (size_t i = 0; r && i < m->count; i++)
		r[i] = MFS_CHECK_MISSING;
	return r;
}

/* One line per manifest entry in manifest order, then manifest-augment's,
 * then the members and files neither lists.  The payload files were
 * judged as their payloads were (hash_payload); each name is looked up
 * in the manifests' sorted index, so this stays O(n log n). */
static int check_checksums(struct mfs_artifact *a, struct mfs_verification *v,
			   struct actuals *list, struct judged *jd)
{
	const struct mfs_manifest *m = &a->manifest, *aug = &a->manifest_augment;
	int ret = 0;

	for (size_t i = 0; i < list->count; i++) {
		struct actual *act = &list->items[i];
		const struct mfs_manifest_line *l = mfs_manifest_find(m, act->name);

		if (l) {
			jd->main_r[l - m->lines] =
				judge_digest(act->readable, act->sha256, l);
		} else if ((l = mfs_manifest_find(aug, act->name))) {
			jd->aug_r[l - aug->lines] =
				judge_digest(act->readable, act->sha256, l);
		} else {
			act->unlisted = true;
		}
	}
	for (size_t i = 0; i < m->count && ret == 0; i++)
		ret = line_add(v, NULL, m->lines[i].name, jd->main_r[i], false);
	for (size_t i = 0; i < aug->count && ret == 0; i++)
		ret = line_add(v, NULL, aug->lines[i].name, jd->aug_r[i], true);
	for (size_t i = 0; i < list->count && ret == 0; i++)
		if (list->items[i].unlisted)
			ret = line_add(v, NULL, list->items[i].name,
				       MFS_CHECK_UNLISTED, false);
	/* Files of payloads: names from their tables, which stay as they
	 * are (the pass is done) for the artifact's life. */
	for (size_t i = 0; i < jd->unlisted_count && ret == 0; i++) {
		struct mfs_payload *p = &a->payloads[jd->unlisted[i].payload];

		ret = line_add(v, p->dir, p->entries[jd->unlisted[i].entry].name,
			       MFS_CHECK_UNLISTED, false);
	}
	return ret;
}

static bool manifest_is_sorted(const struct mfs_manifest *m)
{
	for (size_t i = 1; i < m->count; i++)
		if (strcmp(m->lines[i - 1].name, m->lines[i].name) >= 0)
			return false;
	return true;
}

static void decide(struct mfs_verification *v)
{
	const struct mfs_check_line *bad = NULL;

	for (size_t i = 0; i < v->line_count && !bad; i++)
		if (v->lines[i].result != MFS_CHECK_OK)
			bad = &v->lines[i];

	if (v->structure[0]) {
		v->status = MFS_STATUS_MALFORMED;
		snprintf(v->reason, sizeof(v->reason), "%s", v->structure);
	} else if (v->signature_problem[0]) {
		v->status = MFS_STATUS_INVALID_SIGNATURE;
		snprintf(v->reason, sizeof(v->reason), "%s", v->signature_problem);
	} else if (v->key_count && !v->is_signed) {
		v->status = MFS_STATUS_UNSIGNED;
		snprintf(v->reason, sizeof(v->reason),
			 "the artifact is not signed, and keys are configured");
	} else if (v->key_count && v->key_index < 0) {
		v->status = MFS_STATUS_INVALID_SIGNATURE;
		snprintf(v->reason, sizeof(v->reason),
			 "no configured key verifies the signature");
	} else if (bad) {
		v->status = MFS_STATUS_CHECKSUM_MISMATCH;
		snprintf(v->reason, sizeof(v->reason), "%s%s%s: %s",
			 bad->dir ? bad->dir : "", bad->dir ? "/" : "",
			 bad->name, mfs_check_word(bad->result));
	} else if (!v->is_signed) {
		v->status = MFS_STATUS_UNSIGNED;
		snprintf(v->reason, sizeof(v->reason), "the artifact is not signed");
	} else if (!v->key_count) {
		v->status = MFS_STATUS_NO_KEYS;
		snprintf(v->reason, sizeof(v->reason),
			 "no key is configured to judge the signature");
	} else {
		v->status = MFS_STATUS_VERIFIED;
	}
}

int mfs_verify_artifact(struct mfs_artifact *a,
			const struct mfs_key *const *keys, size_t key_count,
			struct mfs_verification *v)
{
	struct actuals list = { 0 };
	struct judged jd = { 0 };
	uint8_t *buf = NULL;
	struct actual *act;
	int ret = -ENOMEM;

	memset(v, 0, sizeof(*v));
	v->key_index = -1;
	v->keys = keys;
	v->key_count = key_count;
	v->attempts = calloc(key_count + 1, sizeof(*v->attempts));
	buf = malloc(HASH_CHUNK);
	jd.main_r = results_new(&a->manifest);
	jd.aug_r = results_new(&a->manifest_augment);
	if (!v->attempts || !buf || !jd.main_r || !jd.aug_r)
		goto out;

	/* Every payload walked to its end first: the walk notes what it
	 * finds (a name twice, names the client refuses), and the
	 * structure is judged on all of it, never on a part. */
	for (size_t i = 0; i < a->payload_count; i++)
		if (mfs_payload_pass(a, i) < 0)
			goto out;
	check_structure(a, v, buf);

	/* What the artifact holds, hashed: members, then payload files. */
	if ((act = actual_add(&list, "version")) == NULL ||
	    hash_member(a, 0, act, buf) < 0)
		goto out;
	if (a->m_header >= 0 &&
	    ((act = actual_add(&list, a->outer.members[a->m_header].name)) == NULL ||
	     hash_member(a, (size_t)a->m_header, act, buf) < 0))
		goto out;
	if (a->m_header_augment >= 0 &&
	    ((act = actual_add(&list,
			a->outer.members[a->m_header_augment].name)) == NULL ||
	     hash_member(a, (size_t)a->m_header_augment, act, buf) < 0))
		goto out;
	for (size_t i = 0; i < a->payload_count; i++)
		if (hash_payload(a, i, v, &jd) < 0)
			goto out;

	check_signature(a, v);
	v->manifest_sorted = manifest_is_sorted(&a->manifest);
	if (check_checksums(a, v, &list, &jd) < 0)
		goto out;
	decide(v);
	ret = 0;
out:
	actuals_destroy(&list);
	free(jd.unlisted);
	free(jd.aug_r);
	free(jd.main_r);
	free(buf);
	if (ret < 0)
		mfs_verification_destroy(v);
	return ret;
}

void mfs_verification_destroy(struct mfs_verification *v)
{
	free(v->lines);
	free(v->attempts);
	memset(v, 0, sizeof(*v));
}

const char *mfs_status_word(enum mfs_status s)
{
	static const char *const words[] = {
		[MFS_STATUS_VERIFIED] = "verified",
		[MFS_STATUS_UNSIGNED] = "unsigned",
		[MFS_STATUS_INVALID_SIGNATURE] = "invalid-signature",
		[MFS_STATUS_CHECKSUM_MISMATCH] = "checksum-mismatch",
		[MFS_STATUS_MALFORMED] = "malformed",
		[MFS_STATUS_NO_KEYS] = "no-keys",
	};

	return words[s];
}

const char *mfs_check_word(enum mfs_check c)
{
	static const char *const words[] = {
		[MFS_CHECK_OK] = "ok",
		[MFS_CHECK_MISMATCH] = "mismatch",
		[MFS_CHECK_MISSING] = "missing",
		[MFS_CHECK_UNLISTED] = "unlisted",
		[MFS_CHECK_UNREADABLE] = "unreadable",
	};

	return words[c];
}
