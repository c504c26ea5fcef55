/*
 * The command line.  Our options come off the argument list first (with
 * a fuse_opt table); what remains, the mount point and libfuse's own
 * options, goes to fuse_parse_cmdline() and fuse_session_new().
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/pkcs11.h"
#include "fs/options.h"

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_VERIFY_KEY,
};

#define OPT(t, p) { t, offsetof(struct mfs_options, p), 1 }

static const struct fuse_opt option_spec[] = {
	OPT("mender_conf=%s", mender_conf),
	OPT("require_signature", require_signature),
	OPT("sign_key=%s", sign_key),
	OPT("sign_command=%s", sign_command),
	OPT("sign_output=%s", sign_output),
	OPT("index_dir=%s", index_dir),
	OPT("noindex", no_index),
	OPT("nocontents", no_contents),
	OPT("cache_dir=%s", cache_dir),
	OPT("cache_size=%lu", cache_size_mb),
	FUSE_OPT_KEY("verify_key=", KEY_VERIFY_KEY),
	/* -d is libfuse's too: noted here, and kept for it. */
	OPT("-d", debug),
	OPT("debug", debug),
	FUSE_OPT_KEY("-d", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("debug", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static int add_verify_key(struct mfs_options *opts, const char *path)
{
	char **keys;

	if (!*path) {
		fprintf(stderr, "menderfs: verify_key needs a file name or a pkcs11: URI\n");
		return -1;
	}
	keys = realloc(opts->verify_keys,
		       (opts->verify_key_count + 1) * sizeof(*keys));
	if (!keys)
		return -1;
	opts->verify_keys = keys;
	keys[opts->verify_key_count] = strdup(path);
	if (!keys[opts->verify_key_count])
		return -1;
	opts->verify_key_count++;
	return 0;
}

static int option_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct mfs_options *opts = data;

	switch (key) {
	case KEY_HELP:
		opts->show_help = 1;
		return 0;
	case KEY_VERSION:
		opts->show_version = 1;
		return 0;
	case KEY_VERIFY_KEY:
		/* Repeatable, so not a plain %s template: keep them all. */
		return add_verify_key(opts, arg + strlen("verify_key="));
	case FUSE_OPT_KEY_NONOPT:
		if (!opts->artifact) {
			opts->artifact = strdup(arg);
			return opts->artifact ? 0 : -1;
		}
		return 1;	/* the mount point, for fuse_parse_cmdline */
	default:
		return 1;	/* libfuse's to judge */
	}
}

int mfs_options_parse(struct fuse_args *args, struct mfs_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->cache_size_mb = MFS_DEFAULT_CACHE_SIZE_MB;
	if (fuse_opt_parse(args, opts, option_spec, option_proc) != 0)
		return -1;
	return 0;
}

void mfs_options_scrub(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++)
		mfs_p11_redact_in_place(argv[i]);
}

/* fuse_opt treats ',' as a separator and '\' as its escape. */
static char *escape_option_value(const char *value)
{
	char *out = malloc(2 * strlen(value) + 1), *p = out;

	if (!out)
		return NULL;
	for (; *value; value++) {
		if (*value == ',' || *value == '\\')
			*p++ = '\\';
		*p++ = *value;
	}
	*p = '\0';
	return out;
}

int mfs_options_name_mount(struct fuse_args *args, const char *artifact_path)
{
	char *escaped = escape_option_value(artifact_path), *opt = NULL;
	int ret = -1;

	if (!escaped)
		goto out;
	if (asprintf(&opt, "-osubtype=menderfs,fsname=%s", escaped) < 0) {
		opt = NULL;
		goto out;
	}
	ret = fuse_opt_add_arg(args, opt);
out:
	free(opt);
	free(escaped);
	return ret;
}

void mfs_options_usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [options] ARTIFACT MOUNTPOINT\n"
		"       %s --help | --version\n", prog, prog);
}

void mfs_options_help(const char *prog)
{
	mfs_options_usage(stdout, prog);
	printf("\n"
	       "Mounts a Mender Artifact (.mender) as a directory tree.\n"
	       "\n"
	       "menderfs options:\n"
	       "    -h, --help             print this help and exit\n"
	       "    -V, --version          print the version and exit\n"
	       "    -o verify_key=KEY      public key to verify the signature with: a\n"
	       "                           PEM file (RSA >= 1024 bits, weak under 2048,\n"
	       "                           or EC P-256) or a pkcs11: URI of a public key\n"
	       "                           or certificate object; repeatable, tried in\n"
	       "                           order, then sign_key's public half\n"
	       "                           (default: none)\n"
	       "    -o mender_conf=PATH    take the verification keys from a Mender\n"
	       "                           client configuration: ArtifactVerifyKey or\n"
	       "                           ArtifactVerifyKeys (default: none)\n"
	       "    -o require_signature   refuse to mount unless .verify would say\n"
	       "                           'status: verified' (default: off)\n"
	       "    -o sign_key=KEY        private key that `echo sign > MNT/signature`\n"
	       "                           signs with: a PEM file (RSA >= 2048 bits or\n"
	       "                           EC P-256) or a pkcs11: URI (default: none)\n"
	       "    -o sign_command=PATH   sign with the program PATH instead (a KMS\n"
	       "                           client, a signing server's client): the\n"
	       "                           manifest on its stdin, its SHA-256 in\n"
	       "                           MENDERFS_DIGEST_HEX and MENDERFS_DIGEST_B64,\n"
	       "                           the signature (raw or base64) on its stdout,\n"
	       "                           installed only if a verify key verifies it;\n"
	       "                           not with sign_key (default: none)\n"
	       "    -o sign_output=PATH    write the re-signed artifact to PATH instead\n"
	       "                           of replacing ARTIFACT (default: replace)\n"
	       "    -o index_dir=DIR       keep the payloads' random-access index in DIR,\n"
	       "                           so the next mount reads at random at once\n"
	       "                           (default: $XDG_CACHE_HOME/menderfs, else\n"
	       "                           ~/.cache/menderfs)\n"
	       "    -o noindex             keep no index on disk\n"
	       "    -o cache_dir=DIR       where decoded spans of xz and zstd payloads\n"
	       "                           that cannot be resumed mid-way are kept, in\n"
	       "                           an unlinked file (default: the index\n"
	       "                           directory, else /var/tmp)\n"
	       "    -o cache_size=MIB      the most that file holds (default: 1024;\n"
	       "                           0: none); it never leaves less than 10%% of\n"
	       "                           the file system (at least 1 GiB) free\n"
	       "    -o nocontents          do not show contents/, the files inside\n"
	       "                           payload files that hold an ext2/3/4 or\n"
	       "                           squashfs filesystem or a tar (default:\n"
	       "                           shown)\n"
	       "\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

void mfs_options_version(void)
{
	printf("menderfs version %s\n", MENDERFS_VERSION);
	printf("FUSE library version %s\n", fuse_pkgversion());
	/* fuse_lowlevel_version() runs fusermount3, whose line would come
	 * before ours still sitting in a pipe's buffer. */
	fflush(stdout);
	fuse_lowlevel_version();
}

void mfs_options_destroy(struct mfs_options *opts)
{
	for (size_t i = 0; i < opts->verify_key_count; i++)
		free(opts->verify_keys[i]);
	free(opts->verify_keys);
	free(opts->mender_conf);
	free(opts->sign_key);
	free(opts->sign_command);
	free(opts->sign_output);
	free(opts->index_dir);
	free(opts->cache_dir);
	free(opts->artifact);
	memset(opts, 0, sizeof(*opts));
}
