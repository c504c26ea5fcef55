/*
 * contents/'s squashfs reader on any input: opened as squashfs whatever
 * its magic, then every node reachable within bounds asked every call
 * (fuzz_contents_i.h).  Seeds: fuzz/make-seeds.sh.
 */
#include "fuzz/fuzz_contents_i.h"

const char *__asan_default_options(void);

/* libsquashfs sizes an inode's block list by the file size the inode
 * claims and callocs it before reading it; a crafted size asks for
 * petabytes.  In the daemon calloc returns NULL and the inode is
 * skipped; here too, rather than the sanitizer aborting on the request. */
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fc_run(data, size, MFS_CONTENTS_SQUASHFS);
	return 0;
}
