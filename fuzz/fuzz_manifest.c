/*
 * The manifest parser.  Its grammar is strict enough that a manifest it
 * accepts can be written back byte for byte from the parsed lines; every
 * parsed name must be found again, and a name it does not hold must not.
 */
#include <errno.h>
#include <string.h>

#include "artifact/manifest.h"
#include "fuzz/fuzz_i.h"

/* Writes the lines back in file order and compares with the input. */
static void check_round_trip(const struct mfs_manifest *m,
			     const uint8_t *data, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t pos = 0;

	for (size_t i = 0; i < m->count; i++) {
		const struct mfs_manifest_line *l = &m->lines[i];
		size_t len = strlen(l->name);

		FUZZ_CHECK(pos + 66 + len + 1 <= size);
		for (size_t j = 0; j < 32; j++) {
			FUZZ_CHECK(data[pos++] == hex[l->sha256[j] >> 4]);
			FUZZ_CHECK(data[pos++] == hex[l->sha256[j] & 15]);
		}
		FUZZ_CHECK(data[pos] == ' ' && data[pos + 1] == ' ');
		pos += 2;
		FUZZ_CHECK(memcmp(data + pos, l->name, len) == 0);
		pos += len;
		FUZZ_CHECK(data[pos++] == '\n');
	}
	FUZZ_CHECK(pos == size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfs_manifest m;
	char err[256], *other;
	int ret;

	memset(err, 'x', sizeof(err));
	ret = mfs_manifest_parse(data, size, &m, err, sizeof(err));
	if (ret < 0) {
		FUZZ_CHECK(ret == -EINVAL || ret == -ENOMEM);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
		FUZZ_CHECK(m.count == 0 && m.lines == NULL && m.by_name == NULL);
		FUZZ_CHECK(mfs_manifest_find(&m, "version") == NULL);
		return 0;
	}
	FUZZ_CHECK(m.count > 0);
	check_round_trip(&m, data, size);
	for (size_t i = 0; i < m.count; i++) {
		const char *name = m.lines[i].name;
		const struct mfs_manifest_line *l;
		size_t len = strlen(name);

		FUZZ_CHECK(memchr(name, '\n', len) == NULL);
		FUZZ_CHECK(mfs_manifest_find(&m, name) == &m.lines[i]);
		/* A longer name is another name. */
		other = malloc(len + 2);
		FUZZ_CHECK(other != NULL);
		memcpy(other, name, len);
		memcpy(other + len, "~", 2);
		l = mfs_manifest_find(&m, other);
		FUZZ_CHECK(l == NULL || strcmp(l->name, other) == 0);
		free(other);
	}
	mfs_manifest_destroy(&m);
	return 0;
}
