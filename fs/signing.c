/*
 * Changing the signature.  The artifact is pinned (reads go on) while
 * the new file is written beside it and renamed into place; then the
 * new file is opened and swapped in under the tree, which waits for
 * in-flight reads of the old one.  One change at a time.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/rewrite.h"
#include "crypto/base64.h"
#include "crypto/sign.h"
#include "crypto/verify.h"
#include "fs/indexing.h"
#include "fs/signing.h"

/* Rewrites the pinned artifact a with sig, then shows the result. */
static int replace_signature(struct mfs_context *ctx, struct mfs_artifact *a,
			     const char *sig, size_t sig_len)
{
	const char *target = ctx->sign_output ? ctx->sign_output : a->path;
	struct mfs_artifact *fresh = NULL;
	char err[MFS_ERR_LEN];
	int ret;

	ret = mfs_rewrite_signature(a, sig, sig_len, target, err, sizeof(err));
	mfs_tree_unpin(ctx->tree);
	if (ret < 0) {
		fuse_log(FUSE_LOG_ERR, "menderfs: %s: rewrite failed: %s\n",
			 target, err);
		return -EIO;
	}
	ret = mfs_artifact_open(target, &fresh, err, sizeof(err));
	if (ret < 0) {
		fuse_log(FUSE_LOG_ERR, "menderfs: %s: cannot reopen the "
			 "rewritten artifact: %s\n", target, err);
		return -EIO;
	}
	mfs_artifact_set_span_cache(fresh, ctx->spans);
	mfs_indexing_start(fresh, ctx->index_dir,
			   mfs_indexing_load(fresh, ctx->index_dir));
	mfs_artifact_close(mfs_tree_swap(ctx->tree, fresh));
	return 0;
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

/* Accepts text only if a configured key (a verify_key, or sign_key's
 * public half) verifies it; returns it in the form Mender stores. */
static int accept_signature(struct mfs_context *ctx, struct mfs_artifact *a,
			    const char *text, size_t len, char **b64)
{
	const struct mfs_key **keys;
	struct mfs_sig_attempt *attempts;
	size_t count = 0;
	uint8_t *sig = NULL, *stored = NULL;
	size_t sig_len = 0, stored_len = 0;
	char err[256];
	int ret, idx;

	keys = calloc(ctx->keyring.count + 1, sizeof(*keys));
	attempts = calloc(ctx->keyring.count + 1, sizeof(*attempts));
	if (!keys || !attempts) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ctx->keyring.count; i++)
		keys[count++] = ctx->keyring.keys[i];
	if (ctx->sign_key)
		keys[count++] = ctx->sign_key;
	if (count == 0) {
		ret = -ENOKEY;
		goto out;
	}
	if (mfs_b64_decode(text, len, &sig, &sig_len, NULL, err,
			   sizeof(err)) < 0 || sig_len == 0 || !a->manifest_bytes) {
		ret = -EINVAL;
		goto out;
	}
	idx = mfs_sig_verify_any(keys, count, a->manifest_bytes,
				 a->manifest_len, sig, sig_len, attempts, err,
				 sizeof(err));
	if (idx < 0) {
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
	free(keys);
	return ret;
}

static bool is_sign_command(const char *text, size_t len)
{
	if (len && text[len - 1] == '\n')
		len--;
	return len == 4 && memcmp(text, "sign", 4) == 0;
}

int mfs_signing_write(struct mfs_context *ctx, const char *text, size_t len)
{
	struct mfs_artifact *a;
	char *b64 = NULL;
	int ret;

	pthread_mutex_lock(&ctx->sign_lock);
	a = mfs_tree_pin(ctx->tree, NULL);
	if (is_sign_command(text, len))
		ret = sign_with_key(ctx, a, &b64);
	else
		ret = accept_signature(ctx, a, text, len, &b64);
	if (ret < 0)
		mfs_tree_unpin(ctx->tree);
	else
		ret = replace_signature(ctx, a, b64, strlen(b64));
	pthread_mutex_unlock(&ctx->sign_lock);
	free(b64);
	return ret == -ENOMEM ? -EIO : ret;
}

int mfs_signing_remove(struct mfs_context *ctx)
{
	struct mfs_artifact *a;
	int ret = 0;

	pthread_mutex_lock(&ctx->sign_lock);
	a = mfs_tree_pin(ctx->tree, NULL);
	if (a->m_manifest_sig < 0 && !ctx->sign_output)
		mfs_tree_unpin(ctx->tree);	/* nothing to remove */
	else
		ret = replace_signature(ctx, a, NULL, 0);
	pthread_mutex_unlock(&ctx->sign_lock);
	return ret;
}
