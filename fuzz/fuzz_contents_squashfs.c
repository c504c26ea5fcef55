/*
 * contents/'s squashfs reader on any input: opened as squashfs whatever
 * its magic, then every node reachable within bounds asked every call
 * (fuzz_contents_i.h).  Seeds: fuzz/make-seeds.sh.
 */
#include "fuzz/fuzz_contents_i.h"

const char *__asan_default_options(void);

/* libsquashfs sizes an inode's block list (and a symlink's target) by
 * what the inode claims and callocs it before reading it; a crafted size
 * asks for gigabytes or petabytes.  In the daemon such a calloc either
 * fails or maps pages that are freed untouched when the read runs out of
 * metadata, and the inode is skipped; here allocations past 512 MiB fail,
 * rather than the sanitizer or libFuzzer's malloc limit aborting on the
 * request. */
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=512";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fc_run(data, size, MFS_CONTENTS_SQUASHFS);
	return 0;
}
