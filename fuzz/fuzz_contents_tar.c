/*
 * contents/'s tar reader on any input: opened as tar whatever its magic,
 * then every node reachable within bounds asked every call
 * (fuzz_contents_i.h).  Seeds: fuzz/make-seeds.sh.
 */
#include "fuzz/fuzz_contents_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fc_run(data, size, MFS_CONTENTS_TAR);
	return 0;
}
