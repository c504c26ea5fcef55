/*
 * Helpers shared by the fuzz harnesses.  The core reads file descriptors,
 * so every input is handed over as a memfd: a regular file with no name
 * on disk that disappears when its last descriptor closes.
 */
#ifndef MFS_FUZZ_I_H
#define MFS_FUZZ_I_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the core promises did not hold: abort, so libFuzzer keeps
 * the input as a crash.  Never give it an expression with side effects. */
#define FUZZ_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: check failed: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

/* A memfd holding data, positioned at 0.  Failing here is the machine,
 * not the input: abort rather than let the run look clean. */
static inline int fuzz_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0) {
			perror("write to memfd");
			abort();
		}
		done += (size_t)n;
	}
	return fd;
}

/* The path under which the core can open fd itself. */
static inline void fuzz_fd_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

#endif
