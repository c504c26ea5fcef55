/*
 * Changing the signature.  The text written is judged here (is it
 * "sign", a signature a configured key verifies, or on its way to one?);
 * the artifact is judged and rewritten by the mount (artifact/mount.h),
 * which shows the result.  One change at a time: the mount's lock is held
 * from the judgement to the swap, so the artifact judged is the one
 * rewritten; only while sign_command runs is it let go, and what it
 * returns is then judged against the artifact shown when it is taken
 * back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/mount.h"
#include "crypto/base64.h"
#include "crypto/sign.h"
#include "crypto/sign_command.h"
#include "crypto/verify.h"
#include "fs/signing.h"

/* Longest DER ECDSA P-256 signature: SEQUENCE of two 33-byte INTEGERs. */
#define EC_DER_MAX 72

/* The keys that judge an installed signature: the keyring, which holds
 * the verify keys and then sign_key's public half (main.c). */
static const struct mfs_key *const *judging_keys(struct mfs_context *ctx,
						 size_t *count)
{
	*count = ctx->keyring.count;
	return (const struct mfs_key *const *)ctx->keyring.keys;
}

/* Whether text, which no key verifies, may still grow into a signature
 * one of keys would make.  It may not when it holds anything but the
 * base64 alphabet and line breaks, when it is padded (a base64 text ends
 * there), or when it already decodes to as many bytes as a signature of
 * one of the keys has (or more than any has). */
static bool may_grow(const struct mfs_key *const *keys, size_t count,
		     const char *text, size_t len)
{
	size_t chars = 0, most = 0, decoded;
	bool exact = false;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c == '\n' || c == '\r')
			continue;
		if (c == '=')
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
		chars++;
	}
	decoded = chars / 4 * 3;
	for (size_t i = 0; i < count; i++) {
		size_t want = mfs_key_type(keys[i]) == MFS_KEY_RSA ?
			      (size_t)mfs_key_bits(keys[i]) / 8 : EC_DER_MAX;

		if (want > most)
			most = want;
		if (chars % 4 == 0 && decoded == want)
			exact = true;
	}
	return !exact && decoded < most;
}

/* Accepts text only if a configured key verifies it; returns it in the
 * form Mender stores.  1: not (yet) a signature, but may become one. */
static int accept_signature(struct mfs_context *ctx, struct mfs_artifact *a,
			    const char *text, size_t len, char **b64)
{
	const struct mfs_key *const *keys;
	struct mfs_sig_attempt *attempts = NULL;
	uint8_t *sig = NULL, *stored = NULL;
	size_t count = 0, sig_len = 0, stored_len = 0;
	char err[256];
	int ret, idx = -1;

	keys = judging_keys(ctx, &count);
	if (count == 0) {
		ret = -ENOKEY;
		goto out;
	}
	attempts = calloc(count, sizeof(*attempts));
	if (!attempts || !a->manifest_bytes) {
		ret = attempts ? -EIO : -ENOMEM;
		goto out;
	}
	if (mfs_b64_decode(text, len, &sig, &sig_len, NULL, err,
			   sizeof(err)) == 0 && sig_len > 0)
		idx = mfs_sig_verify_any(keys, count, a->manifest_bytes,
					 a->manifest_len, sig, sig_len,
					 attempts, err, sizeof(err));
	if (idx < 0) {
		if (may_grow(keys, count, text, len)) {
			ret = 1;
			goto out;
		}
		fuse_log(FUSE_LOG_ERR, "menderfs: refused a signature no "
			 "configured key verifies\n");
		ret = -EINVAL;
		goto out;
	}
	ret = mfs_sig_to_stored(keys[idx], sig, sig_len, &stored, &stored_len);
	if (ret == 0)
		ret = mfs_b64_encode(stored, stored_len, b64);
out:
	free(stored);
	free(sig);
	free(attempts);
	return ret;
}

static int sign_with_key(struct mfs_context *ctx, struct mfs_artifact *a,
			 char **b64)
{
	char err[256];

	if (!ctx->sign_key)
		return -ENOKEY;
	if (!a->manifest_bytes)
		return -EIO;
	if (mfs_sig_sign(ctx->sign_key, a->manifest_bytes, a->manifest_len, b64,
			 err, sizeof(err)) < 0) {
		fuse_log(FUSE_LOG_ERR, "menderfs: signing failed: %s\n", err);
		return -EIO;
	}
	return 0;
}

static int judge(struct mfs_context *ctx, struct mfs_artifact *a);

/* The command's standard error, a log line per line. */
static void log_command_stderr(const struct mfs_sign_command_result *res,
			       enum fuse_log_level level)
{
	const char *p = res->err_text;

	while (p && *p) {
		size_t n = strcspn(p, "\n");

		fuse_log(level, "menderfs: sign_command: %.*s\n", (int)n, p);
		p += n;
		if (*p)
			p++;
	}
	if (res->err_truncated)
		fuse_log(level, "menderfs: sign_command: (more on its "
			 "standard error, not kept)\n");
}

/* What sign_command printed, as manifest.sig stores it, if a judging key
 * verifies it: its base64 decoding first, then the bytes as they are. */
static int command_signature(struct mfs_context *ctx, struct mfs_artifact *a,
			     const struct mfs_sign_command_result *res,
			     char **b64)
{
	const struct mfs_key *const *keys;
	uint8_t *dec = NULL, *stored = NULL;
	size_t count = 0, dec_len = 0, stored_len = 0;
	const uint8_t *sig = NULL;
	size_t sig_len = 0;
	char err[256] = "";
	int ret, idx = -EBADMSG;

	keys = judging_keys(ctx, &count);
	ret = mfs_sign_command_decode(res->out, res->out_len, &dec, &dec_len);
	if (ret < 0)
		goto out;
	if (dec) {
		sig = dec;
		sig_len = dec_len;
		idx = mfs_sig_verify_any(keys, count, a->manifest_bytes,
					 a->manifest_len, sig, sig_len, NULL,
					 err, sizeof(err));
	}
	if (idx < 0) {
		sig = res->out;
		sig_len = res->out_len;
		idx = mfs_sig_verify_any(keys, count, a->manifest_bytes,
					 a->manifest_len, sig, sig_len, NULL,
					 err, sizeof(err));
	}
	if (idx < 0) {
		fuse_log(FUSE_LOG_ERR, "menderfs: sign_command %s: returned a "
			 "signature no configured key verifies (%s); not "
			 "installed\n", ctx->sign_command, err);
		ret = -EIO;
		goto out;
	}
	ret = mfs_sig_to_stored(keys[idx], sig, sig_len, &stored, &stored_len);
	if (ret == 0)
		ret = mfs_b64_encode(stored, stored_len, b64);
out:
	free(stored);
	free(dec);
	return ret;
}

/*
 * Signs a, the artifact shown, with sign_command.  Called under the lock;
 * lets it go while the command runs (up to the time-out), so that readers
 * and a change noticed on disk do not wait for a signing server, and
 * returns with it held again.  Whatever was shown meanwhile, what is
 * signed is what is shown at the end: the same manifest, judged again if
 * the artifact is another one.
 */
static int sign_with_command(struct mfs_context *ctx, struct mfs_artifact *a,
			     char **b64)
{
	struct mfs_sign_command_result res = { 0 };
	unsigned long generation = ctx->mount.generation;
	uint8_t *manifest = NULL;
	size_t len = a->manifest_len;
	char err[256] = "";
	int ret;

	if (!a->manifest_bytes)
		return -EIO;
	manifest = malloc(len ? len : 1);
	if (!manifest)
		return -ENOMEM;
	memcpy(manifest, a->manifest_bytes, len);
	mfs_mount_unlock(&ctx->mount);
	ret = mfs_sign_command_run(ctx->sign_command, manifest, len,
				   mfs_sign_command_timeout_ms(), &res, err,
				   sizeof(err));
	a = mfs_mount_lock(&ctx->mount);
	if (ret < 0) {
		fuse_log(FUSE_LOG_ERR, "menderfs: sign_command %s: %s; not "
			 "signed\n", ctx->sign_command, err);
		log_command_stderr(&res, FUSE_LOG_ERR);
		ret = -EIO;
		goto out;
	}
	log_command_stderr(&res, FUSE_LOG_INFO);
	if (ctx->mount.generation != generation) {
		if (!a->manifest_bytes || a->manifest_len != len ||
		    memcmp(a->manifest_bytes, manifest, len) != 0) {
			fuse_log(FUSE_LOG_ERR, "menderfs: the artifact changed "
				 "while sign_command ran; not signed\n");
			ret = -EIO;
			goto out;
		}
		ret = judge(ctx, a);
		if (ret < 0)
			goto out;
	}
	ret = command_signature(ctx, a, &res, b64);
out:
	mfs_sign_command_result_destroy(&res);
	free(manifest);
	return ret;
}

/* "sign" with an optional newline: 1; a beginning of it: 0 (more may
 * come); anything else: -1. */
static int sign_request(const char *text, size_t len)
{
	static const char word[] = "sign\n";

	if (len > 5 || memcmp(text, word, len) != 0)
		return -1;
	return len >= 4 ? 1 : 0;
}

/* Whether a, the artifact shown, may be signed (mount.h): 0, -EROFS,
 * -EBADMSG, or -EIO when it could not be judged.  Called under the
 * mount's lock. */
static int judge(struct mfs_context *ctx, struct mfs_artifact *a)
{
	char err[MFS_ERR_LEN];
	int ret = mfs_mount_signable(&ctx->mount, a, err, sizeof(err));

	if (ret < 0)
		fuse_log(FUSE_LOG_ERR, "menderfs: %s\n", err);
	return ret == -EROFS || ret == -EBADMSG || ret == 0 ? ret : -EIO;
}

/* Rewrites the artifact with b64 (NULL: no signature) and shows it.
 * Called under the mount's lock. */
static int rewrite(struct mfs_context *ctx, const char *b64)
{
	char err[MFS_ERR_LEN];
	int ret;

	ret = mfs_mount_set_signature(&ctx->mount, b64, b64 ? strlen(b64) : 0,
				      err, sizeof(err));
	if (ret < 0)
		fuse_log(FUSE_LOG_ERR, "menderfs: %s: rewrite failed: %s\n",
			 b64 ? "signing" : "removing the signature", err);
	/* A target that is not the file mounted, or a removal that
	 * require_signature forbids, is named as such; every other failure
	 * of the rewrite is an I/O error to the writer. */
	return ret < 0 && ret != -ESTALE && ret != -EPERM ? -EIO : ret;
}

int mfs_signing_write(struct mfs_context *ctx, const char *text, size_t len)
{
	struct mfs_artifact *a;
	char *b64 = NULL;
	int ret, cmd = sign_request(text, len);

	a = mfs_mount_lock(&ctx->mount);
	if (cmd == 0) {
		ret = 1;
	} else if (a->version == 2) {
		ret = judge(ctx, a);
	} else if (cmd == 1) {
		/* The verdict first: a key (perhaps on a token) is not
		 * asked to sign what will not be written. */
		ret = ctx->sign_key || ctx->sign_command ? judge(ctx, a) :
		      -ENOKEY;
		if (ret == 0 && ctx->sign_command)
			ret = sign_with_command(ctx, a, &b64);
		else if (ret == 0)
			ret = sign_with_key(ctx, a, &b64);
		if (ret == 0)
			ret = rewrite(ctx, b64);
	} else {
		ret = accept_signature(ctx, a, text, len, &b64);
		if (ret == 0)
			ret = judge(ctx, a);
		if (ret == 0)
			ret = rewrite(ctx, b64);
	}
	mfs_mount_unlock(&ctx->mount);
	free(b64);
	return ret == -ENOMEM ? -EIO : ret;
}

int mfs_signing_remove(struct mfs_context *ctx)
{
	struct mfs_artifact *a;
	int ret = 0;

	a = mfs_mount_lock(&ctx->mount);
	if (a->version == 2)
		ret = judge(ctx, a);
	else if (a->m_manifest_sig >= 0 || ctx->mount.output.dfd >= 0)
		ret = rewrite(ctx, NULL);
	/* else nothing to remove */
	mfs_mount_unlock(&ctx->mount);
	return ret;
}
