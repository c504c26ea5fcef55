/*
 * Signing with an external program (-o sign_command=PATH): a cloud KMS
 * client, a signing server's client, an HSM tool.  The program gets the
 * raw manifest on standard input and its SHA-256 in the environment
 * (MENDERFS_DIGEST_HEX, MENDERFS_DIGEST_B64), and writes the signature on
 * standard output, raw bytes or base64.  Nothing here trusts what it
 * returns: the caller verifies it with the configured keys.
 */
#ifndef MFS_SIGN_COMMAND_H
#define MFS_SIGN_COMMAND_H

#include <stddef.h>
#include <stdint.h>

/* How long the program may run, and the environment variable that
 * shortens (or lengthens) it, in seconds: a knob for tests. */
#define MFS_SIGN_COMMAND_TIMEOUT_S 60
#define MFS_SIGN_COMMAND_TIMEOUT_ENV "MENDERFS_SIGN_COMMAND_TIMEOUT"

/* Most bytes read from its standard output (far above any signature's
 * base64), and most of its standard error kept for the log. */
#define MFS_SIGN_COMMAND_OUT_MAX (64 * 1024)
#define MFS_SIGN_COMMAND_ERR_MAX (8 * 1024)

/* The time-out in milliseconds: MFS_SIGN_COMMAND_TIMEOUT_ENV when it is
 * a positive number of seconds, else MFS_SIGN_COMMAND_TIMEOUT_S. */
int mfs_sign_command_timeout_ms(void);

/* Start-up check: path names a regular file the daemon may execute.
 * Returns 0 or a negative errno with the reason in err. */
int mfs_sign_command_check(const char *path, char *err, size_t errlen);

/* What one run gave. */
struct mfs_sign_command_result {
	uint8_t *out;		/* standard output, malloc'd */
	size_t out_len;
	char *err_text;		/* standard error, NUL-terminated, malloc'd,
				 * at most MFS_SIGN_COMMAND_ERR_MAX bytes */
	int err_truncated;	/* it wrote more than that */
};

/* Runs path (no shell, no arguments) in a process group of its own, with
 * descriptors 0, 1 and 2 the only ones open: msg on standard input, the
 * digests of msg added to the environment.  Waits at most timeout_ms;
 * then the whole group is killed, and it is always reaped.  Returns 0
 * when it exited with status 0 (res filled), else -EIO with the reason
 * in err (res->err_text filled when it ran at all), or -ENOMEM.  The
 * caller frees res with mfs_sign_command_result_destroy() either way. */
int mfs_sign_command_run(const char *path, const void *msg, size_t msglen,
			 int timeout_ms, struct mfs_sign_command_result *res,
			 char *err, size_t errlen);

void mfs_sign_command_result_destroy(struct mfs_sign_command_result *res);

/* The signature candidates in what a program printed: its base64
 * decoding (surrounding whitespace and line breaks allowed), when it is
 * base64, and the bytes as they are.  *b64 is malloc'd or NULL. */
int mfs_sign_command_decode(const uint8_t *out, size_t len, uint8_t **b64,
			    size_t *b64_len);

#endif
