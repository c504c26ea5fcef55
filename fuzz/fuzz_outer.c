/*
 * The outer tar walk: mfs_outer_index() over arbitrary bytes, then the
 * promises its header makes about the table it returns.
 */
#include <errno.h>
#include <string.h>

#include "artifact/outer.h"
#include "fuzz/fuzz_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfs_outer outer;
	char err[256];
	int fd, ret;

	fd = fuzz_memfd(data, size);
	memset(err, 'x', sizeof(err));
	ret = mfs_outer_index(fd, &outer, err, sizeof(err));
	if (ret < 0)
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
	/* On success, and on -EINVAL for what was kept before a break,
	 * every member's data lies wholly inside the file. */
	if (ret == 0 || ret == -EINVAL) {
		FUZZ_CHECK(outer.count <= MFS_OUTER_MAX_MEMBERS);
		FUZZ_CHECK(outer.file_size == size);
		for (size_t i = 0; i < outer.count; i++) {
			const struct mfs_entry *m = &outer.members[i];
			const struct mfs_entry *found;

			FUZZ_CHECK(m->name != NULL);
			FUZZ_CHECK(m->offset <= size);
			FUZZ_CHECK(m->size <= size - m->offset);
			FUZZ_CHECK(m->header_offset < m->offset);
			found = mfs_outer_find(&outer, m->name);
			FUZZ_CHECK(found != NULL && found <= m);
			FUZZ_CHECK(strcmp(found->name, m->name) == 0);
		}
	} else {
		FUZZ_CHECK(outer.count == 0 && outer.members == NULL);
	}
	mfs_outer_destroy(&outer);
	close(fd);
	return 0;
}
