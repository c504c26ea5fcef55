/*
 * The persistent index loader (index_file.h) on forged index files.
 *
 * At start-up the harness opens the artifact that $MENDERFS_FUZZ_ARTIFACT
 * names (scripts/fuzz.sh gives it a seed artifact), passes over it, saves
 * its index and keeps the file's body: everything between the key and
 * the trailing SHA-256.  Each input edits that body (it may be cut short
 * at the u16 at 1 when bit 0 of byte 0 is set; then patches of three
 * bytes each from byte 3: u16 offset modulo the length, u8 XOR value),
 * and the harness puts the artifact's key in front and a good SHA-256
 * behind, so that the loader parses what the input says instead of
 * refusing it at the checksum.  The load must succeed or refuse cleanly,
 * and every payload then reads the same bytes as without an index.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact/artifact.h"
#include "artifact/index_file.h"
#include "artifact/pass.h"
#include "fuzz/fuzz_i.h"

/* index_file.c's key: magic, format, size, mtime (s, ns), inode, ctime
 * (s, ns), the manifest's SHA-256. */
#define KEY_LEN		(8 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 32)
#define READ_MAX	(256 * 1024)

static char artifact[PATH_MAX], dir[PATH_MAX], path[PATH_MAX];
static uint8_t *file;		/* the real index file */
static size_t file_len;
static uint8_t **expect;	/* per payload: its stream's first bytes */
static ssize_t *expect_len;
static size_t payloads;

static struct mfs_artifact *open_artifact(void)
{
	struct mfs_artifact *a = NULL;
	char err[MFS_ERR_LEN];

	FUZZ_CHECK(mfs_artifact_open(artifact, &a, err, sizeof(err)) == 0);
	return a;
}

static uint8_t *read_whole(const char *p, size_t *len)
{
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *data;

	FUZZ_CHECK(fd >= 0 && fstat(fd, &st) == 0);
	data = malloc((size_t)st.st_size + 1);
	FUZZ_CHECK(data != NULL);
	FUZZ_CHECK(read(fd, data, (size_t)st.st_size) == st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return data;
}

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	const char *env = getenv("MENDERFS_FUZZ_ARTIFACT");
	const char *tmp = getenv("TMPDIR");
	struct mfs_artifact *a;

	if (!env) {
		fprintf(stderr, "fuzz_index: set MENDERFS_FUZZ_ARTIFACT to a "
			"version 3 artifact (scripts/fuzz.sh does)\n");
		abort();
	}
	snprintf(artifact, sizeof(artifact), "%s", env);
	snprintf(dir, sizeof(dir), "%s/fuzz-index.XXXXXX", tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	a = open_artifact();
	payloads = a->payload_count;
	expect = calloc(payloads + 1, sizeof(*expect));
	expect_len = calloc(payloads + 1, sizeof(*expect_len));
	FUZZ_CHECK(expect && expect_len);
	for (size_t i = 0; i < payloads; i++) {
		FUZZ_CHECK(mfs_payload_pass(a, i) == 0);
		expect[i] = malloc(READ_MAX);
		FUZZ_CHECK(expect[i] != NULL);
		expect_len[i] = mfs_stream_pread(a->payloads[i].stream,
						 expect[i], READ_MAX, 0);
		FUZZ_CHECK(expect_len[i] >= 0);
	}
	FUZZ_CHECK(mfs_index_file_save(a, dir) == 0);
	FUZZ_CHECK(mfs_index_file_path(a, dir, path) == 0);
	mfs_artifact_close(a);
	file = read_whole(path, &file_len);
	FUZZ_CHECK(file_len >= KEY_LEN + 32);
}

/* The index file for this input, written where the loader looks. */
static void write_forged(const uint8_t *data, size_t size)
{
	size_t body = file_len - KEY_LEN - 32, len = body;
	uint8_t *f = malloc(file_len);
	unsigned int md_len = 0;
	int fd;

	FUZZ_CHECK(f != NULL);
	memcpy(f, file, file_len);
	for (size_t p = 3; p + 3 <= size && body; p += 3)
		f[KEY_LEN + ((size_t)data[p] | (size_t)data[p + 1] << 8) %
			    body] ^= data[p + 2];
	if ((data[0] & 1) && size >= 3)
		len = ((size_t)data[1] | (size_t)data[2] << 8) % (body + 1);
	FUZZ_CHECK(EVP_Digest(f, KEY_LEN + len, f + KEY_LEN + len, &md_len,
			      EVP_sha256(), NULL) && md_len == 32);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, f, KEY_LEN + len + 32) ==
		   (ssize_t)(KEY_LEN + len + 32));
	close(fd);
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfs_artifact *a;
	char why[MFS_ERR_LEN];
	uint8_t *buf;
	int ret;

	if (!file)
		setup();
	if (size == 0)
		return 0;
	write_forged(data, size);
	a = open_artifact();
	ret = mfs_index_file_load(a, dir, why, sizeof(why));
	FUZZ_CHECK(ret == 1 || ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	FUZZ_CHECK(ret >= 0 || why[0] != '\0');
	buf = malloc(READ_MAX);
	FUZZ_CHECK(buf != NULL);
	/* Whatever it loaded, the payloads read as they are. */
	for (size_t i = 0; i < a->payload_count && i < payloads; i++) {
		ssize_t n = mfs_stream_pread(a->payloads[i].stream, buf,
					     READ_MAX, 0);

		FUZZ_CHECK(n == expect_len[i]);
		FUZZ_CHECK(memcmp(buf, expect[i], (size_t)n) == 0);
	}
	free(buf);
	mfs_artifact_close(a);
	return 0;
}
