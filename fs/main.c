/*
 * menderfs: mount a Mender Artifact as a directory tree.
 *
 * Everything that can fail for a reason the user should read (bad usage,
 * an unreadable or malformed artifact) is checked before mounting, while
 * stderr is still the terminal; only then does the daemon detach.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "artifact/mount.h"
#include "artifact/span_cache.h"
#include "crypto/pkcs11.h"
#include "crypto/sign_command.h"
#include "fs/indexing.h"
#include "fs/log.h"
#include "fs/ops.h"
#include "fs/options.h"
#include "fs/readahead.h"
#include "fs/signature_file.h"

static const char *prog = "menderfs";

/* libfuse's own messages reach the terminal a line at a time, without
 * the PINs they may quote.  libfuse writes one in pieces (an unknown
 * option's line is three calls), and its log hook takes no argument, so
 * the line being put together lives here: this sink serves start-up
 * only, while one thread runs; redacting_stderr() serves after. */
static struct {
	char text[4096];
	size_t len;
} stderr_line;

/* libfuse's "fuse: unknown option(s): `-o bogus'" becomes one line of
 * ours naming the option; any other line is shown as it came. */
static void show_stderr_line(const char *line)
{
	static const char unknown[] = "fuse: unknown option(s): `";
	char *shown = mfs_p11_redact(line), *what, *end;

	if (!shown) {
		fputs("menderfs: (a message lost: out of memory)\n", stderr);
		return;
	}
	what = shown + strlen(unknown);
	end = strrchr(shown, '\'');
	if (strncmp(shown, unknown, strlen(unknown)) == 0 && end &&
	    end >= what) {
		*end = '\0';
		/* "-o bogus" names the option as it was given: "bogus". */
		if (strncmp(what, "-o ", 3) == 0)
			what += 3;
		fprintf(stderr, "%s: unknown option%s '%s' (%s --help lists "
			"them)\n", prog, strpbrk(what, ", ") ? "s" : "", what,
			prog);
	} else {
		fputs(shown, stderr);
	}
	free(shown);
}

static void startup_stderr(enum fuse_log_level level, const char *fmt,
			   va_list ap)
{
	size_t room = sizeof(stderr_line.text) - stderr_line.len;
	int n;

	(void)level;
	n = vsnprintf(stderr_line.text + stderr_line.len, room, fmt, ap);
	if (n < 0)
		return;
	stderr_line.len += (size_t)n < room ? (size_t)n : room - 1;
	/* A whole line, or all that fits of one. */
	if (stderr_line.len > 0 &&
	    (stderr_line.text[stderr_line.len - 1] == '\n' ||
	     stderr_line.len == sizeof(stderr_line.text) - 1)) {
		show_stderr_line(stderr_line.text);
		stderr_line.len = 0;
		stderr_line.text[0] = '\0';
	}
}

/* Once the session exists: the daemon's threads log whole lines. */
static void redacting_stderr(enum fuse_log_level level, const char *fmt,
			     va_list ap)
{
	char *text = NULL, *shown;

	(void)level;
	if (vasprintf(&text, fmt, ap) < 0)
		return;
	shown = mfs_p11_redact(text);
	fputs(shown ? shown : "menderfs: (a message lost: out of memory)\n",
	      stderr);
	free(shown);
	free(text);
}

static int run_session(struct fuse_session *se,
		       const struct fuse_cmdline_opts *cmd)
{
	struct fuse_loop_config *loop;
	int ret;

	if (cmd->singlethread)
		return fuse_session_loop(se);
	loop = fuse_loop_cfg_create();
	if (!loop)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(loop, (unsigned int)cmd->clone_fd);
	/* libfuse 3.14 reports its own "unset" default (UINT_MAX) as
	 * invalid; pass the value on only when the user gave one. */
	if (cmd->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop, cmd->max_idle_threads);
	fuse_loop_cfg_set_max_threads(loop, cmd->max_threads);
	ret = fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);
	return ret;
}

/* The daemon changes to / when it detaches, so every path it keeps
 * using must be absolute.  Not realpath(): the output need not exist. */
static char *absolute_path(const char *path)
{
	char *cwd, *abs = NULL;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&abs, "%s/%s", cwd, path) < 0)
		abs = NULL;
	free(cwd);
	return abs;
}

static int load_sign_key(struct mfs_context *ctx, const char *spec)
{
	char err[256], *shown = mfs_p11_redact(spec);
	int ret = 0;

	/* The key's name as the user gave it, but never its PIN. */
	if (!shown) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return -1;
	}
	if (mfs_key_load_private(spec, &ctx->sign_key, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, shown, err);
		ret = -1;
	} else if (mfs_key_warning(ctx->sign_key)) {
		fprintf(stderr, "%s: warning: %s: %s\n", prog, shown,
			mfs_key_warning(ctx->sign_key));
	}
	free(shown);
	return ret;
}

/* sign_command: one way to sign, so not with sign_key (which of the two
 * would "sign" mean?); a program that exists and may be run, named by
 * an absolute path since the daemon changes to / when it detaches. */
static int check_sign_command(const struct mfs_options *opts, char **abs)
{
	char err[256];

	if (opts->sign_key) {
		fprintf(stderr, "%s: sign_key and sign_command exclude each "
			"other: give one\n", prog);
		return -1;
	}
	if (!*opts->sign_command) {
		fprintf(stderr, "%s: sign_command needs the path of a "
			"program\n", prog);
		return -1;
	}
	*abs = absolute_path(opts->sign_command);
	if (!*abs) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return -1;
	}
	if (mfs_sign_command_check(*abs, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: sign_command %s: %s\n", prog,
			opts->sign_command, err);
		return -1;
	}
	return 0;
}

/* What every artifact the mount opens after the first gets: the span
 * cache, its saved index, and the background pass. */
static void artifact_opened(struct mfs_artifact *a, void *arg)
{
	struct mfs_context *ctx = arg;

	mfs_artifact_set_span_cache(a, ctx->spans);
	mfs_indexing_start(a, ctx->index_dir,
			   mfs_indexing_load(a, ctx->index_dir));
}

/* require_signature: mount only what a device with these keys would
 * install. */
static int require_verified(struct mfs_context *ctx, const char *artifact)
{
	struct mfs_report *r;
	int ret;

	ret = mfs_verify_cache_get(&ctx->verify, &r);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: cannot verify: %s\n", prog, artifact,
			strerror(-ret));
		return -1;
	}
	ret = r->status == MFS_STATUS_VERIFIED ? 0 : -1;
	if (ret < 0)
		fprintf(stderr, "%s: %s: refusing to mount: %s: %s\n", prog,
			artifact, mfs_status_word(r->status), r->reason);
	/* A device would install it, but the tree would show bytes that
	 * no signature covers (the augmented parts). */
	if (ret == 0 && r->has_unsigned) {
		fprintf(stderr, "%s: %s: refusing to mount: verified, but "
			"manifest-augment and what it lists are not signed\n",
			prog, artifact);
		ret = -1;
	}
	mfs_verify_cache_put(&ctx->verify, r);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct mfs_options opts;
	struct mfs_context ctx = { 0 };
	struct fuse_session *se = NULL;
	struct mfs_mount_hooks hooks = { artifact_opened, &ctx };
	char err[MFS_ERR_LEN], *artifact_path = NULL, *sign_output = NULL;
	char *index_dir = NULL, *sign_command = NULL;
	bool indexed = false;
	int ret = 1, mounted = 0, handlers = 0, verify_ready = 0;
	int mount_ready = 0;

	memset(&cmd, 0, sizeof(cmd));
	mfs_signature_files_init(&ctx);
	fuse_set_log_func(startup_stderr);
	if (mfs_options_parse(&args, &opts) < 0) {
		mfs_options_usage(stderr, prog);
		goto out;
	}
	/* Parsed into copies: what ps and /proc/PID/cmdline show of our
	 * arguments may lose its PINs now. */
	mfs_options_scrub(argc, argv);
	if (opts.show_help) {
		mfs_options_help(prog);
		ret = 0;
		goto out;
	}
	if (opts.show_version) {
		mfs_options_version();
		ret = 0;
		goto out;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0) {
		mfs_options_usage(stderr, prog);
		goto out;
	}
	if (!opts.artifact || !cmd.mountpoint) {
		fprintf(stderr, "%s: missing %s\n", prog,
			opts.artifact ? "MOUNTPOINT" : "ARTIFACT and MOUNTPOINT");
		mfs_options_usage(stderr, prog);
		goto out;
	}

	artifact_path = absolute_path(opts.artifact);
	sign_output = opts.sign_output ? absolute_path(opts.sign_output) : NULL;
	if (!artifact_path || (opts.sign_output && !sign_output)) {
		fprintf(stderr, "%s: cannot resolve paths: %s\n", prog,
			strerror(errno));
		goto out;
	}
	if (opts.sign_command && check_sign_command(&opts, &sign_command) < 0)
		goto out;
	ctx.sign_command = sign_command;
	if (mfs_keyring_load(&opts, &ctx.keyring) < 0)
		goto out;
	if (sign_command && ctx.keyring.count == 0) {
		fprintf(stderr, "%s: sign_command needs a key to check what it "
			"returns: verify_key, or a mender_conf naming one\n",
			prog);
		goto out;
	}
	/* A process holding a private key leaves no core dump (and cannot
	 * be ptrace-attached by the same user), before the key is read. */
	if (opts.sign_key && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fprintf(stderr, "%s: cannot disable core dumps: %s\n", prog,
			strerror(errno));
		goto out;
	}
	if (opts.sign_key && load_sign_key(&ctx, opts.sign_key) < 0)
		goto out;
	if (ctx.sign_key && mfs_keyring_add_sign_key(&ctx.keyring, ctx.sign_key) < 0)
		goto out;
	if (opts.require_signature && ctx.keyring.count == 0) {
		fprintf(stderr, "%s: require_signature needs a key: verify_key, "
			"sign_key, or a mender_conf naming one\n", prog);
		goto out;
	}
	if (mfs_artifact_open(artifact_path, &ctx.artifact, err,
			      sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, opts.artifact, err);
		goto out;
	}
	index_dir = mfs_indexing_dir(opts.index_dir, opts.no_index);
	ctx.index_dir = index_dir;
	indexed = mfs_indexing_load(ctx.artifact, index_dir);
	ctx.spans = mfs_indexing_span_cache(opts.cache_dir, index_dir,
					    opts.cache_size_mb);
	mfs_artifact_set_span_cache(ctx.artifact, ctx.spans);
	if (mfs_tree_build_flags(ctx.artifact, opts.no_contents ?
				 MFS_TREE_NOCONTENTS : 0, &ctx.tree) < 0) {
		fprintf(stderr, "%s: %s: out of memory\n", prog, opts.artifact);
		goto out;
	}
	/* Also removes what a crash in an earlier rewrite left. */
	if (mfs_mount_init(&ctx.mount, ctx.tree, artifact_path, sign_output,
			   &hooks, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		goto out;
	}
	mount_ready = 1;
	mfs_verify_cache_init(&ctx.verify, ctx.tree,
			      (const struct mfs_key *const *)ctx.keyring.keys,
			      ctx.keyring.count);
	verify_ready = 1;
	if (opts.require_signature && require_verified(&ctx, opts.artifact) < 0)
		goto out;
	if (opts.require_signature)
		mfs_mount_require(&ctx.mount,
				  (const struct mfs_key *const *)ctx.keyring.keys,
				  ctx.keyring.count);

	/* The kernel checks file modes, so with allow_other the signature
	 * file (0644, the daemon's owner) is writable by its owner only:
	 * nobody else can sign or remove the signature.  nosuid,nodev come
	 * last so that they win over the dev,suid mount.fuse3 adds. */
	if (mfs_options_name_mount(&args, artifact_path) < 0 ||
	    fuse_opt_add_arg(&args, "-odefault_permissions") < 0 ||
	    fuse_opt_add_arg(&args, "-onosuid,nodev") < 0) {
		fprintf(stderr, "%s: out of memory\n", prog);
		goto out;
	}
	se = fuse_session_new(&args, &mfs_ops, sizeof(mfs_ops), &ctx);
	ctx.se = se;
	if (!se)
		goto out;	/* libfuse has said why, in one line */
	fuse_set_log_func(redacting_stderr);
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = 1;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out;
	mounted = 1;
	mfs_readahead_raise(cmd.mountpoint);
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out;
	if (!cmd.foreground)
		mfs_log_to_syslog();
	/* After fuse_daemonize(): its fork keeps no threads. */
	mfs_indexing_start(ctx.artifact, index_dir, indexed);

	ret = run_session(se, &cmd) == 0 ? 0 : 1;
out:
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	if (se)
		fuse_session_destroy(se);
	mfs_signature_files_destroy(&ctx);
	if (verify_ready)
		mfs_verify_cache_destroy(&ctx.verify);
	if (mount_ready)
		mfs_mount_destroy(&ctx.mount);
	/* A signing swapped the artifact: the tree holds the current one
	 * (the one opened at start was closed at the swap). */
	if (ctx.tree) {
		ctx.artifact = mfs_tree_pin(ctx.tree, NULL);
		mfs_tree_unpin(ctx.tree);
	}
	mfs_tree_destroy(ctx.tree);
	mfs_artifact_close(ctx.artifact);
	mfs_span_cache_close(ctx.spans);	/* after every stream using it */
	mfs_keyring_destroy(&ctx.keyring);
	mfs_key_close(ctx.sign_key);
	free(artifact_path);
	free(sign_output);
	free(sign_command);
	free(index_dir);
	free(cmd.mountpoint);
	mfs_options_destroy(&opts);
	fuse_opt_free_args(&args);
	return ret;
}
