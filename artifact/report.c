/*
 * The text of .verify.  The first line is exactly "status: WORD", so
 * `grep -qx 'status: verified'` is the scripted check; then "key: value"
 * lines, one fact each, in a fixed order (documented in menderfs(1)):
 *
 *   status: WORD
 *   reason: ...                  unless verified
 *   structure: ok | <problem>
 *   mender-artifact: accepts <what>        where validate would pass it
 *   unsigned: NAME                 augmented: each part no signature covers
 *   signature: verified | none | invalid | not-checked
 *   signature-encoding: canonical | non-canonical | <problem> [raw | der]
 *                                                               when signed
 *   mender-artifact: <how validate would differ>    when it would
 *   key: PATH (TYPE): verified | rejected: why | not-tried     per key
 *   verified-by: PATH                                          when verified
 *   manifest-order: sorted | unsorted
 *   NAME: ok | mismatch | missing | unlisted | unreadable      per entry
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/verify.h"

struct text {
	char *buf;
	size_t len, capacity;
	int error;
};

static void text_add(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->error)
		return;
	for (;;) {
		size_t room = t->capacity - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->error = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->capacity ? t->capacity * 2 : 1024;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *buf = realloc(t->buf, cap);
		if (!buf) {
			t->error = -ENOMEM;
			return;
		}
		t->buf = buf;
		t->capacity = cap;
	}
}

static const char *signature_state(const struct mfs_verification *v)
{
	if (!v->is_signed)
		return "none";
	if (v->signature_problem[0])
		return "invalid";
	if (!v->key_count)
		return "not-checked";
	return v->key_index >= 0 ? "verified" : "invalid";
}

static void add_keys(struct text *t, const struct mfs_verification *v)
{
	char type[32];

	for (size_t i = 0; i < v->key_count; i++) {
		const struct mfs_sig_attempt *at = &v->attempts[i];
		const struct mfs_key *k = v->keys[i];

		text_add(t, "key: %s (%s): ", mfs_key_name(k),
			 mfs_key_describe(k, type, sizeof(type)));
		if (!v->is_signed || v->signature_problem[0] || !at->tried)
			text_add(t, "not-tried\n");
		else if ((int)i == v->key_index)
			text_add(t, "verified\n");
		else
			text_add(t, "rejected: %s\n",
				 at->reason[0] ? at->reason : "does not verify");
	}
	if (v->key_index >= 0)
		text_add(t, "verified-by: %s\n",
			 mfs_key_name(v->keys[v->key_index]));
}

/* The parts of an augmented artifact that no signature covers: the
 * augment members and every name manifest-augment lists. */
static void add_unsigned(struct text *t, const struct mfs_verification *v)
{
	if (!v->augmented)
		return;
	text_add(t, "unsigned: manifest-augment\n");
	for (size_t i = 0; i < v->line_count; i++)
		if (v->lines[i].augment)
			text_add(t, "unsigned: %s\n", v->lines[i].name);
}

int mfs_verification_report(const struct mfs_verification *v, char **out,
			    size_t *len)
{
	struct text t = { 0 };
	const char *form = mfs_sig_form_word(v->signature_form);
	char tool[160];

	text_add(&t, "status: %s\n", mfs_status_word(v->status));
	if (v->status != MFS_STATUS_VERIFIED)
		text_add(&t, "reason: %s\n", v->reason);
	text_add(&t, "structure: %s\n", v->structure[0] ? v->structure : "ok");
	if (v->lenient[0])
		text_add(&t, "mender-artifact: accepts %s\n", v->lenient);
	add_unsigned(&t, v);
	text_add(&t, "signature: %s\n", signature_state(v));
	if (v->is_signed)
		text_add(&t, "signature-encoding: %s%s%s\n",
			 v->signature_problem[0] ? v->signature_problem :
			 v->signature_canonical ? "canonical" : "non-canonical",
			 form ? " " : "", form ? form : "");
	/* Where mender-artifact validate would refuse what the client
	 * takes (it cannot matter once no key verifies the signature). */
	if (v->is_signed && !v->signature_problem[0] &&
	    (v->key_index >= 0 || !v->key_count) &&
	    mfs_sig_mender_artifact_differs(v->signature_form, v->signature_len,
					    tool, sizeof(tool)))
		text_add(&t, "mender-artifact: %s\n", tool);
	add_keys(&t, v);
	text_add(&t, "manifest-order: %s\n",
		 v->manifest_sorted ? "sorted" : "unsorted");
	for (size_t i = 0; i < v->line_count; i++) {
		const struct mfs_check_line *l = &v->lines[i];

		text_add(&t, "%s%s%s: %s\n", l->dir ? l->dir : "",
			 l->dir ? "/" : "", l->name, mfs_check_word(l->result));
	}
	if (t.error) {
		free(t.buf);
		return t.error;
	}
	/* Kept as long as the report: no doubling's slack (a million
	 * lines are tens of MiB). */
	if (t.capacity > t.len + 1) {
		char *buf = realloc(t.buf, t.len + 1);

		if (buf)
			t.buf = buf;
	}
	*out = t.buf;
	*len = t.len;
	return 0;
}
