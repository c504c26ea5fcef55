/*
 * What the Check suites share: a scratch directory, fixtures made by
 * running the real tools (gzip, xz, zstd, GNU tar, python3) through the
 * shell, and deterministic pseudo-random data to feed them.
 *
 * The helpers fail the running test (ck_abort_msg) instead of returning
 * errors, so a test reads as the steps it takes.
 */
#ifndef MFS_TESTUTIL_H
#define MFS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TU_KIB	1024
#define TU_MIB	(1024 * 1024)

/* Creates a fresh directory under $TMPDIR (or /tmp); the caller frees
 * the returned path and removes the tree with tu_rmtree(). */
char *tu_mkdtemp(void);
void tu_rmtree(const char *dir);

/* Runs a command with /bin/sh in dir under `set -e`, and fails the test
 * unless it exits 0. */
void tu_sh(const char *dir, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* dir/name, malloc'd. */
char *tu_path(const char *dir, const char *name);

void tu_write_file(const char *dir, const char *name, const void *data,
		   size_t len);
/* The whole file, malloc'd (never NULL, even when empty). */
uint8_t *tu_read_file(const char *dir, const char *name, size_t *len);
uint64_t tu_file_size(const char *dir, const char *name);
/* O_RDONLY; fails the test when the file cannot be opened. */
int tu_open(const char *dir, const char *name);

/* splitmix64: a seeded generator, the same sequence on every run. */
uint64_t tu_rand(uint64_t *state);

/* Fills buf with incompressible random stretches mixed with runs of one
 * byte and of repeated text, so every compressor has both kinds of
 * input and compressed sizes stay in the megabytes. */
void tu_fill(void *buf, size_t len, uint64_t seed);
/* Random bytes only. */
void tu_fill_random(void *buf, size_t len, uint64_t seed);
/* malloc'd tu_fill(). */
uint8_t *tu_data(size_t len, uint64_t seed);

/* Index of the first byte where a and b differ, or -1. */
ssize_t tu_first_diff(const void *a, const void *b, size_t len);

/* Monotonic seconds. */
double tu_now(void);

#endif
