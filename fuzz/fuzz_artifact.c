/*
 * The whole read path, as a mount uses it: open the artifact, build the
 * tree, list every directory, stat and read every file, then verify it
 * (with no keys) and render the .verify report.
 *
 * Checked on the way: no name the tree shows is unsafe; what a directory
 * lists can be looked up and stat'ed as listed; reads stay within the
 * sizes stat reports; the report starts with "status: WORD"; and when the
 * verification finds nothing wrong with structure and checksums, every
 * manifest line holds for the bytes the tree serves under that path --
 * the contract's `cd MOUNTPOINT && sha256sum -c manifest`.
 *
 * With MENDERFS_FUZZ_VERBOSE set in the environment, the report is
 * printed: handy when replaying one input.
 *
 * A payload may decompress to far more than the input (a bomb), and the
 * tree and the verification both decode payloads whole.  That is the
 * contract, not a bug, so the harness measures first: when the payloads
 * together decompress to more than DECODE_BUDGET, only the tree's
 * listing is walked and nothing that decodes a payload runs.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact/artifact.h"
#include "artifact/names.h"
#include "artifact/tree.h"
#include "artifact/verify.h"
#include "fuzz/fuzz_i.h"

#define DECODE_BUDGET	(32u * 1024 * 1024)
#define READ_CHUNK	(64 * 1024)
#define READ_FILE_CAP	(1024 * 1024)
#define READ_TOTAL_CAP	(8u * 1024 * 1024)
#define MAX_DEPTH	(PATH_MAX / 2)

struct walk {
	struct mfs_tree *tree;
	bool decode;		/* payloads are within the budget */
	uint8_t *buf;		/* READ_CHUNK bytes */
	uint64_t read_left;	/* of READ_TOTAL_CAP */
};

/* True when every payload decompresses within the budget, together. */
static bool payloads_fit(struct mfs_artifact *a)
{
	uint64_t left = DECODE_BUDGET;

	for (size_t i = 0; i < a->payload_count; i++) {
		struct mfs_stream *s = a->payloads[i].stream;
		struct mfs_stream_stats st;
		uint8_t byte;

		if (mfs_stream_pread(s, &byte, 1, left) == 1)
			return false;
		mfs_stream_stats(s, &st);
		if (st.decoded >= left)
			return false;
		left -= st.decoded;
	}
	return true;
}

static void read_file(struct walk *w, uint64_t ino, const struct stat *st)
{
	uint64_t off = 0;
	ssize_t n;

	/* At and past the end: nothing, whatever the offset. */
	if (st->st_size >= 0) {
		n = mfs_tree_read(w->tree, ino, w->buf, 16, (uint64_t)st->st_size);
		FUZZ_CHECK(n <= 0);
	}
	n = mfs_tree_read(w->tree, ino, w->buf, 16, UINT64_MAX - 8);
	FUZZ_CHECK(n <= 0);

	while (off < READ_FILE_CAP && w->read_left > 0) {
		size_t want = READ_CHUNK < w->read_left ? READ_CHUNK :
			      (size_t)w->read_left;
		n = mfs_tree_read(w->tree, ino, w->buf, want, off);
		if (n <= 0)
			break;
		FUZZ_CHECK((size_t)n <= want);
		off += (uint64_t)n;
		w->read_left -= (uint64_t)n;
		FUZZ_CHECK(off <= (uint64_t)st->st_size);
	}
}

static void walk_dir(struct walk *w, uint64_t dir, int depth)
{
	static const char *const no_such[] = { "", ".", "..", "a/b", "/" };
	char name[NAME_MAX + 1];
	uint64_t ino, found;
	mode_t type;
	struct stat st;
	int ret;

	FUZZ_CHECK(depth < MAX_DEPTH);
	for (size_t i = 0; i < sizeof(no_such) / sizeof(*no_such); i++)
		FUZZ_CHECK(mfs_tree_lookup(w->tree, dir, no_such[i], &found) ==
			   -ENOENT);
	for (size_t i = 0;; i++) {
		ret = mfs_tree_child(w->tree, dir, i, &ino, &type, name);
		FUZZ_CHECK(ret >= 0);
		if (ret == 0)
			break;
		/* The contract: unsafe names are never exposed as paths. */
		FUZZ_CHECK(mfs_name_is_safe(name) && !strchr(name, '/'));
		FUZZ_CHECK(type == S_IFDIR || type == S_IFREG);
		FUZZ_CHECK(mfs_tree_lookup(w->tree, dir, name, &found) == 0);
		FUZZ_CHECK(found == ino);
		(void)mfs_tree_is_mutable(w->tree, ino);
		(void)mfs_tree_is_writable(w->tree, ino);
		if (type == S_IFDIR) {
			FUZZ_CHECK(mfs_tree_getattr(w->tree, ino, &st) == 0);
			FUZZ_CHECK(S_ISDIR(st.st_mode));
			walk_dir(w, ino, depth + 1);
			continue;
		}
		if (!w->decode)
			continue;
		ret = mfs_tree_getattr(w->tree, ino, &st);
		if (ret < 0)
			continue;	/* a payload file the tar lacks */
		FUZZ_CHECK(S_ISREG(st.st_mode) && st.st_ino == ino);
		if (mfs_tree_virtual(w->tree, ino) != MFS_VIRTUAL_VERIFY)
			read_file(w, ino, &st);
	}
}

/* The inode at path, or 0. */
static uint64_t lookup_path(struct mfs_tree *t, const char *path)
{
	uint64_t ino = MFS_TREE_ROOT;
	char *copy = strdup(path), *save = NULL;

	FUZZ_CHECK(copy != NULL);
	for (char *c = strtok_r(copy, "/", &save); c && ino;
	     c = strtok_r(NULL, "/", &save))
		if (mfs_tree_lookup(t, ino, c, &ino) < 0)
			ino = 0;
	free(copy);
	return ino;
}

/* The SHA-256 of the file at ino as the tree serves it. */
static void tree_sha256(struct walk *w, uint64_t ino, uint8_t md[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t off = 0;
	struct stat st;

	FUZZ_CHECK(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
	FUZZ_CHECK(mfs_tree_getattr(w->tree, ino, &st) == 0);
	for (;;) {
		ssize_t n = mfs_tree_read(w->tree, ino, w->buf, READ_CHUNK, off);

		FUZZ_CHECK(n >= 0);
		if (n == 0)
			break;
		FUZZ_CHECK(EVP_DigestUpdate(ctx, w->buf, (size_t)n) == 1);
		off += (uint64_t)n;
	}
	FUZZ_CHECK(off == (uint64_t)st.st_size);
	FUZZ_CHECK(EVP_DigestFinal_ex(ctx, md, NULL) == 1);
	EVP_MD_CTX_free(ctx);
}

/* `sha256sum -c manifest` in the mount. */
static void check_manifest_holds(struct walk *w, const struct mfs_manifest *m)
{
	for (size_t i = 0; i < m->count; i++) {
		uint64_t ino = lookup_path(w->tree, m->lines[i].name);
		uint8_t md[32];

		if (!ino)
			fprintf(stderr, "manifest name not in the tree: %s\n",
				m->lines[i].name);
		FUZZ_CHECK(ino != 0);
		tree_sha256(w, ino, md);
		if (memcmp(md, m->lines[i].sha256, 32) != 0)
			fprintf(stderr, "tree bytes differ from the manifest: "
				"%s\n", m->lines[i].name);
		FUZZ_CHECK(memcmp(md, m->lines[i].sha256, 32) == 0);
	}
}

static void verify(struct walk *w, struct mfs_artifact *a)
{
	struct mfs_verification v;
	char *text = NULL;
	size_t len = 0;
	int ret;

	ret = mfs_verify_artifact(a, NULL, 0, &v);
	FUZZ_CHECK(ret == 0 || ret == -ENOMEM);
	if (ret < 0)
		return;
	/* Without keys nothing verifies, and only undecodable base64 makes
	 * a signature invalid. */
	FUZZ_CHECK(v.status != MFS_STATUS_VERIFIED);
	if (v.status == MFS_STATUS_INVALID_SIGNATURE)
		FUZZ_CHECK(v.signature_problem[0] != '\0');
	ret = mfs_verification_report(&v, &text, &len);
	FUZZ_CHECK(ret == 0 || ret == -ENOMEM);
	if (ret == 0) {
		const char *word = mfs_status_word(v.status);

		FUZZ_CHECK(strlen(text) == len);
		FUZZ_CHECK(strncmp(text, "status: ", 8) == 0);
		FUZZ_CHECK(strncmp(text + 8, word, strlen(word)) == 0);
		FUZZ_CHECK(text[8 + strlen(word)] == '\n');
		if (getenv("MENDERFS_FUZZ_VERBOSE"))
			fprintf(stderr, "%s", text);
		free(text);
	}
	if (v.status == MFS_STATUS_UNSIGNED || v.status == MFS_STATUS_NO_KEYS) {
		check_manifest_holds(w, &a->manifest);
		check_manifest_holds(w, &a->manifest_augment);
	}
	mfs_verification_destroy(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfs_artifact *a = NULL;
	struct walk w = { 0 };
	char path[64], err[MFS_ERR_LEN];
	int fd, ret;

	fd = fuzz_memfd(data, size);
	fuzz_fd_path(fd, path, sizeof(path));
	memset(err, 'x', sizeof(err));
	ret = mfs_artifact_open(path, &a, err, sizeof(err));
	close(fd);
	if (ret < 0) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
		return 0;
	}
	FUZZ_CHECK(a->version == 2 || a->version == 3);

	w.buf = malloc(READ_CHUNK);
	FUZZ_CHECK(w.buf != NULL);
	w.read_left = READ_TOTAL_CAP;
	ret = mfs_tree_build(a, &w.tree);
	FUZZ_CHECK(ret == 0 || ret == -ENOMEM);
	if (ret == 0) {
		w.decode = payloads_fit(a);
		walk_dir(&w, MFS_TREE_ROOT, 0);
		if (w.decode) {
			verify(&w, a);
			/* Files the manifest does not list appear once the
			 * payload walk has found them. */
			for (size_t i = 0; i < a->payload_count; i++)
				(void)mfs_payload_walk_all(&a->payloads[i]);
			walk_dir(&w, MFS_TREE_ROOT, 0);
		}
	}
	mfs_tree_destroy(w.tree);
	free(w.buf);
	mfs_artifact_close(a);
	return 0;
}
