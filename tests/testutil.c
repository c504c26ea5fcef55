/* Helpers shared by the Check suites; see testutil.h. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

char *tu_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	ck_assert(asprintf(&dir, "%s/menderfs-check.XXXXXX", tmp) > 0);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir,
		      strerror(errno));
	return dir;
}

void tu_rmtree(const char *dir)
{
	if (dir)
		tu_sh("/", "rm -rf -- '%s'", dir);
}

void tu_sh(const char *dir, const char *fmt, ...)
{
	char *cmd, *line;
	va_list ap;
	int status;

	va_start(ap, fmt);
	ck_assert(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	ck_assert(asprintf(&line, "set -e; cd '%s'; %s", dir, cmd) > 0);
	status = system(line);
	ck_assert_msg(status != -1 && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0,
		      "command failed (status %#x): %s", status, cmd);
	free(line);
	free(cmd);
}

char *tu_path(const char *dir, const char *name)
{
	char *path;

	ck_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	return path;
}

void tu_write_file(const char *dir, const char *name, const void *data,
		   size_t len)
{
	char *path = tu_path(dir, name);
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_msg(len == 0 || fwrite(data, 1, len, f) == len,
		      "writing %s", path);
	ck_assert_msg(fclose(f) == 0, "closing %s", path);
	free(path);
}

uint8_t *tu_read_file(const char *dir, const char *name, size_t *len)
{
	char *path = tu_path(dir, name);
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t size = 0, cap = 0, n;

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	do {
		if (size == cap) {
			cap = cap ? cap * 2 : 64 * TU_KIB;
			data = realloc(data, cap);
			ck_assert(data != NULL);
		}
		n = fread(data + size, 1, cap - size, f);
		size += n;
	} while (n > 0);
	ck_assert_msg(!ferror(f), "reading %s", path);
	fclose(f);
	free(path);
	*len = size;
	return data;
}

uint64_t tu_file_size(const char *dir, const char *name)
{
	char *path = tu_path(dir, name);
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path,
		      strerror(errno));
	free(path);
	return (uint64_t)st.st_size;
}

int tu_open(const char *dir, const char *name)
{
	char *path = tu_path(dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	free(path);
	return fd;
}

uint64_t tu_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void tu_fill_random(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t st = seed;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = tu_rand(&st);
		size_t n = len - i < 8 ? len - i : 8;

		memcpy(p + i, &r, n);
	}
}

void tu_fill(void *buf, size_t len, uint64_t seed)
{
	static const char text[] = "menderfs reads artifacts in place. ";
	uint8_t *p = buf;
	uint64_t st = seed;
	size_t i = 0;

	while (i < len) {
		uint64_t r = tu_rand(&st);
		size_t run = 256 + (size_t)(r % (40 * TU_KIB));

		if (run > len - i)
			run = len - i;
		switch ((r >> 40) % 4) {
		case 0:
		case 1:
			tu_fill_random(p + i, run, r);
			break;
		case 2:
			memset(p + i, (int)(r >> 56), run);
			break;
		default:
			for (size_t k = 0; k < run; k++)
				p[i + k] = (uint8_t)text[(k + (r >> 48)) %
							 (sizeof(text) - 1)];
			break;
		}
		i += run;
	}
}

uint8_t *tu_data(size_t len, uint64_t seed)
{
	uint8_t *data = malloc(len ? len : 1);

	ck_assert(data != NULL);
	tu_fill(data, len, seed);
	return data;
}

ssize_t tu_first_diff(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;

	if (memcmp(x, y, len) == 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (x[i] != y[i])
			return (ssize_t)i;
	return -1;
}

double tu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
