/* The command line: menderfs's own options, parsed before libfuse's. */
#ifndef MFS_OPTIONS_H
#define MFS_OPTIONS_H

#include <fuse_lowlevel.h>
#include <stdio.h>

/* -o cache_size default, in MiB. */
#define MFS_DEFAULT_CACHE_SIZE_MB 1024

struct mfs_options {
	char *artifact;		/* the first non-option argument */
	char **verify_keys;	/* -o verify_key=, in the order given */
	size_t verify_key_count;
	char *mender_conf;
	int require_signature;
	char *sign_key;		/* a PEM path or a pkcs11: URI */
	char *sign_command;	/* a program's path */
	char *sign_output;
	char *index_dir;
	int no_index;
	int no_contents;	/* -o nocontents */
	char *cache_dir;
	unsigned long cache_size_mb;
	int debug;		/* -d or -o debug, which libfuse also sees */
	int show_help;
	int show_version;
};

/* Takes our options out of args, leaving libfuse's (and the mount point)
 * in place.  Returns 0, or -1 after printing the reason on stderr. */
int mfs_options_parse(struct fuse_args *args, struct mfs_options *opts);

/* Masks every pin-value in the process's own arguments (argv as main got
 * it), once mfs_options_parse has taken copies: they are readable by
 * every user in /proc/PID/cmdline. */
void mfs_options_scrub(int argc, char *argv[]);

/* Adds fsname=ARTIFACT and subtype=menderfs so mount(8) names the mount.
 * Returns 0 or -1 without memory. */
int mfs_options_name_mount(struct fuse_args *args, const char *artifact_path);

void mfs_options_usage(FILE *out, const char *prog);
void mfs_options_help(const char *prog);
void mfs_options_version(void);

void mfs_options_destroy(struct mfs_options *opts);

#endif
