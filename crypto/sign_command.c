/*
 * Running sign_command (sign_command.h).
 *
 * posix_spawn rather than fork: the daemon is multi-threaded and large,
 * and the child needs nothing but its three pipes, its own process group
 * (so a time-out kills whatever it started too) and default signals.
 * Every other descriptor of the daemon (the artifact, /dev/fuse, a
 * token's session) is closed in the child.  The parent feeds standard
 * input and drains both outputs in one poll loop, so a program that
 * writes before it has read everything cannot deadlock with us.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto/base64.h"
#include "crypto/crypto_i.h"
#include "crypto/sign_command.h"

extern char **environ;

#define POLL_TICK_MS 50

int mfs_sign_command_timeout_ms(void)
{
	const char *v = getenv(MFS_SIGN_COMMAND_TIMEOUT_ENV);
	char *end;
	long s;

	if (!v || !*v)
		return MFS_SIGN_COMMAND_TIMEOUT_S * 1000;
	errno = 0;
	s = strtol(v, &end, 10);
	if (errno || *end || s <= 0 || s > 24 * 3600)
		return MFS_SIGN_COMMAND_TIMEOUT_S * 1000;
	return (int)s * 1000;
}

int mfs_sign_command_check(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int e = errno;

		mfs_crypto_seterr_errno(err, errlen, e, "cannot run it");
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		mfs_crypto_seterr(err, errlen, "not a regular file");
		return -EINVAL;
	}
	if (access(path, X_OK) < 0) {
		int e = errno;

		mfs_crypto_seterr_errno(err, errlen, e, "cannot execute it");
		return -e;
	}
	return 0;
}

/* The daemon's environment, less any digest it had, plus msg's. */
static char **child_env(const void *msg, size_t msglen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], *b64 = NULL, **env = NULL;
	size_t n = 0, count = 0;

	if (EVP_Digest(msg, msglen, md, &mdlen, EVP_sha256(), NULL) != 1)
		return NULL;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (mfs_b64_encode(md, mdlen, &b64) < 0)
		return NULL;
	while (environ && environ[count])
		count++;
	env = calloc(count + 3, sizeof(*env));
	if (!env)
		goto fail;
	for (size_t i = 0; i < count; i++)
		if (strncmp(environ[i], "MENDERFS_DIGEST_", 16) != 0)
			env[n++] = environ[i];	/* borrowed */
	/* The two we add are the last two: freed by free_env. */
	if (asprintf(&env[n], "MENDERFS_DIGEST_HEX=%s", hex) < 0) {
		env[n] = NULL;
		goto fail;
	}
	n++;
	if (asprintf(&env[n], "MENDERFS_DIGEST_B64=%s", b64) < 0) {
		env[n] = NULL;
		free(env[n - 1]);
		goto fail;
	}
	free(b64);
	return env;
fail:
	free(env);
	free(b64);
	return NULL;
}

static void free_env(char **env)
{
	size_t n = 0;

	if (!env)
		return;
	while (env[n])
		n++;
	if (n >= 2) {
		free(env[n - 1]);
		free(env[n - 2]);
	}
	free(env);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes to the command's standard input.  A program that stops reading
 * (one that signs the digest from its environment) closes the pipe: that
 * is EPIPE, not a SIGPIPE that would end the daemon, so the signal is
 * blocked around the write and a pending one taken back. */
static ssize_t feed(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, old;
	struct timespec zero = { 0, 0 };
	ssize_t n;
	int e;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	e = errno;
	if (n < 0 && e == EPIPE)
		while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

static int spawn(const char *path, char **env, int in[2], int out[2],
		 int errp[2], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	char *argv[] = { (char *)path, NULL };
	int ret;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	/* A clean set: nothing of the daemon's but the three pipes. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	sigemptyset(&none);
	sigfillset(&dflt);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
				 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	ret = posix_spawn(pid, path, &fa, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -ret;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Keeps what fits of the command's standard error, drops the rest. */
static void keep_err(struct mfs_sign_command_result *res, size_t *len,
		     const char *buf, size_t n)
{
	size_t room = MFS_SIGN_COMMAND_ERR_MAX - *len;

	if (n > room) {
		res->err_truncated = 1;
		n = room;
	}
	memcpy(res->err_text + *len, buf, n);
	*len += n;
	res->err_text[*len] = '\0';
}

/* Ends the command: the group is killed while the leader is still a
 * zombie (its pid, the group's id, cannot be reused until reaped), so
 * whatever it left behind dies too; then it is reaped. */
static int finish(pid_t pid, bool kill_first, int *status)
{
	siginfo_t si;

	if (kill_first)
		kill(-pid, SIGKILL);
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 &&
	       errno == EINTR)
		;
	kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int mfs_sign_command_run(const char *path, const void *msg, size_t msglen,
			 int timeout_ms, struct mfs_sign_command_result *res,
			 char *err, size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	char **env = NULL, buf[4096];
	size_t fed = 0, err_len = 0;
	long long deadline = now_ms() + timeout_ms;
	bool exited = false, timed_out = false, too_much = false;
	siginfo_t si;
	pid_t pid = -1;
	int status = 0, ret;

	memset(res, 0, sizeof(*res));
	res->out = malloc(MFS_SIGN_COMMAND_OUT_MAX);
	res->err_text = calloc(1, MFS_SIGN_COMMAND_ERR_MAX + 1);
	env = child_env(msg, msglen);
	if (!res->out || !res->err_text || !env) {
		ret = -ENOMEM;
		goto out;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0) {
		mfs_crypto_seterr_errno(err, errlen, errno, "cannot make pipes");
		ret = -EIO;
		goto out;
	}
	ret = spawn(path, env, in, out, errp, &pid);
	if (ret < 0) {
		mfs_crypto_seterr_errno(err, errlen, -ret, "cannot run it");
		pid = -1;
		ret = -EIO;
		goto out;
	}
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&errp[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (msglen == 0)
		close_fd(&in[1]);

	while (out[0] >= 0 || errp[0] >= 0) {
		struct pollfd p[3];
		int np = 0, wait_ms = (int)(deadline - now_ms());

		if (wait_ms <= 0) {
			timed_out = true;
			break;
		}
		if (wait_ms > POLL_TICK_MS)
			wait_ms = POLL_TICK_MS;
		p[np++] = (struct pollfd){ .fd = out[0], .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		if (poll(p, (nfds_t)np, wait_ms) < 0 && errno != EINTR) {
			mfs_crypto_seterr_errno(err, errlen, errno, "poll");
			break;
		}
		if (p[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t n = feed(in[1], (const char *)msg + fed,
					 msglen - fed);

			if (n > 0)
				fed += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
			    fed == msglen)
				close_fd(&in[1]);	/* EOF, or it stopped reading */
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(out[0], buf, sizeof(buf));

			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				close_fd(&out[0]);
			} else if (n > 0) {
				if ((size_t)n > MFS_SIGN_COMMAND_OUT_MAX - res->out_len) {
					too_much = true;
					break;
				}
				memcpy(res->out + res->out_len, buf, (size_t)n);
				res->out_len += (size_t)n;
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(errp[0], buf, sizeof(buf));

			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				close_fd(&errp[0]);
			else if (n > 0)
				keep_err(res, &err_len, buf, (size_t)n);
		}
	}
	close_fd(&in[1]);
	/* Both outputs are closed; the command may still be running (it
	 * closed them, or something it started holds them). */
	while (!timed_out && !too_much) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid) {
			exited = true;
			break;
		}
		if (now_ms() >= deadline) {
			timed_out = true;
			break;
		}
		poll(NULL, 0, 10);
	}
	ret = finish(pid, !exited, &status);
	pid = -1;
	if (ret < 0) {
		mfs_crypto_seterr_errno(err, errlen, -ret, "cannot reap it");
		ret = -EIO;
	} else if (timed_out) {
		mfs_crypto_seterr(err, errlen, "timed out after %d s; killed",
				  timeout_ms / 1000);
		ret = -EIO;
	} else if (too_much) {
		mfs_crypto_seterr(err, errlen, "wrote more than %d bytes; killed",
				  MFS_SIGN_COMMAND_OUT_MAX);
		ret = -EIO;
	} else if (WIFSIGNALED(status)) {
		mfs_crypto_seterr(err, errlen, "killed by signal %d",
				  WTERMSIG(status));
		ret = -EIO;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		mfs_crypto_seterr(err, errlen, "exited with status %d",
				  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		ret = -EIO;
	} else if (res->out_len == 0) {
		mfs_crypto_seterr(err, errlen, "printed no signature");
		ret = -EIO;
	} else {
		ret = 0;
	}
out:
	if (pid > 0)
		finish(pid, true, &status);
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	free_env(env);
	return ret;
}

void mfs_sign_command_result_destroy(struct mfs_sign_command_result *res)
{
	free(res->out);
	free(res->err_text);
	memset(res, 0, sizeof(*res));
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int mfs_sign_command_decode(const uint8_t *out, size_t len, uint8_t **b64,
			    size_t *b64_len)
{
	size_t start = 0, end = len;
	uint8_t *dec = NULL;
	size_t dec_len = 0;

	*b64 = NULL;
	*b64_len = 0;
	while (start < end && is_space(out[start]))
		start++;
	while (end > start && is_space(out[end - 1]))
		end--;
	/* Not base64 (raw bytes, most likely) is no error: the caller
	 * tries the bytes as they are too. */
	if (end > start &&
	    mfs_b64_decode((const char *)out + start, end - start, &dec,
			   &dec_len, NULL, NULL, 0) == 0) {
		if (dec_len > 0) {
			*b64 = dec;
			*b64_len = dec_len;
			return 0;
		}
		free(dec);
	}
	return 0;
}
