/*
 * The one pass (pass.h) and the persistent index (index_file.h) on
 * artifacts that mender-artifact writes during the test: the pass's
 * digests are the files' SHA-256; a saved index, loaded by a second open
 * of the same artifact, makes every entry known without a walk and lets
 * random reads resume from restored checkpoints instead of decoding from
 * the start; and a corrupt, truncated, stale or crafted index file is
 * refused while the artifact still reads right.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/artifact.h"
#include "artifact/index_file.h"
#include "artifact/pass.h"
#include "artifact/verify.h"
#include "testutil.h"

/* Beyond the open-time walk (MFS_MOUNT_WALK_BUDGET), so only a loaded
 * index makes the whole tar known without a pass. */
#define IMAGE_SIZE (48 * TU_MIB)
#define MODULE_FILES 5

static char *dir;
static uint8_t *image;
/* gzip.mender's index, saved once: several tests start from it, and a
 * pass over its 48 MiB is what they would repeat (a long one under
 * valgrind). */
static uint8_t *gzip_index;
static size_t gzip_index_len;

static void cache_gzip_index(void);

static void make_fixtures(void)
{
	dir = tu_mkdtemp();
	image = tu_data(IMAGE_SIZE, 11);
	tu_write_file(dir, "image.bin", image, IMAGE_SIZE);
	for (int i = 0; i < MODULE_FILES; i++) {
		char name[32];
		uint8_t *data = tu_data((size_t)(i + 1) * 300 * TU_KIB,
					(uint64_t)i + 100);

		snprintf(name, sizeof(name), "file%d.bin", i);
		tu_write_file(dir, name, data, (size_t)(i + 1) * 300 * TU_KIB);
		free(data);
	}
	tu_sh(dir, "mender-artifact write rootfs-image --no-progress -n a "
		   "-t dev -f image.bin --compression gzip -o gzip.mender "
		   ">/dev/null && "
		   "mender-artifact write rootfs-image --no-progress -n a "
		   "-t dev -f image.bin --compression lzma -o xz.mender "
		   ">/dev/null && "
		   "mender-artifact write module-image -n m "
		   "-t dev -T my-module -f file0.bin -f file1.bin -f file2.bin "
		   "-f file3.bin -f file4.bin -o module.mender >/dev/null && "
		   "mender-artifact write module-image -n m --compression none "
		   "-t dev -T my-module -f image.bin -f file4.bin "
		   "-o plain.mender >/dev/null && "
		   "mkdir many && for i in $(seq 40); do "
		   "head -c 400000 image.bin > many/f$i; done && "
		   "mender-artifact write module-image -n m -t dev -T my-module "
		   "$(for i in $(seq 40); do printf -- '-f many/f%%s ' $i; done) "
		   "-o many.mender >/dev/null");
	cache_gzip_index();
}

static void remove_fixtures(void)
{
	free(gzip_index);
	gzip_index = NULL;
	tu_rmtree(dir);
	free(dir);
	free(image);
}

static struct mfs_artifact *open_artifact(const char *name)
{
	struct mfs_artifact *a = NULL;
	char err[MFS_ERR_LEN], *path = tu_path(dir, name);
	int ret = mfs_artifact_open(path, &a, err, sizeof(err));

	ck_assert_msg(ret == 0, "open %s: %s", name, err);
	free(path);
	return a;
}

static void pass_all(struct mfs_artifact *a)
{
	for (size_t i = 0; i < a->payload_count; i++)
		ck_assert_int_eq(mfs_payload_pass(a, i), 0);
}

/* An index directory of its own for each test. */
static char *index_dir(const char *name)
{
	char *d = tu_path(dir, name);

	tu_sh(dir, "rm -rf %s && mkdir %s", name, name);
	return d;
}

static char *index_dir(const char *name);
static void save_index(const char *artifact, const char *idx);

/* In the fixture, so that every test (each in a process of its own)
 * finds it. */
static void cache_gzip_index(void)
{
	char *d = index_dir("idx-cache");

	save_index("gzip.mender", d);
	free(d);
}

static void save_index(const char *artifact, const char *idx)
{
	struct mfs_artifact *a = open_artifact(artifact);
	bool cached = strcmp(artifact, "gzip.mender") == 0;
	char path[PATH_MAX];

	if (cached && gzip_index) {
		ck_assert_int_eq(mfs_index_file_path(a, idx, path), 0);
		mfs_artifact_close(a);
		tu_write_file("/", path, gzip_index, gzip_index_len);
		ck_assert_int_eq(chmod(path, 0600), 0);
		return;
	}
	pass_all(a);
	ck_assert_int_eq(mfs_index_file_save(a, idx), 0);
	if (cached) {
		ck_assert_int_eq(mfs_index_file_path(a, idx, path), 0);
		gzip_index = tu_read_file("/", path, &gzip_index_len);
	}
	mfs_artifact_close(a);
}

/* n, or quick_n when MENDERFS_TEST_QUICK is set: fewer rounds of the
 * loops that decode the most, for runs under valgrind. */
static int rounds(int n, int quick_n)
{
	const char *q = getenv("MENDERFS_TEST_QUICK");

	return q && *q && strcmp(q, "0") != 0 ? quick_n : n;
}

/* Reads the image file at random offsets (from min_off on) through
 * payload 0 and compares with the original. */
static void check_reads_from(struct mfs_artifact *a, uint64_t seed,
			     uint64_t min_off, int reads)
{
	struct mfs_payload *p = &a->payloads[0];
	struct mfs_entry e;
	uint8_t *buf = malloc(256 * TU_KIB);

	ck_assert_int_eq(mfs_payload_find(p, "image.bin", &e), 1);
	ck_assert_uint_eq(e.size, IMAGE_SIZE);
	for (int i = 0; i < reads; i++) {
		uint64_t off = min_off + tu_rand(&seed) % (IMAGE_SIZE - min_off);
		size_t len = 1 + tu_rand(&seed) % (256 * TU_KIB);
		ssize_t n;

		if (len > IMAGE_SIZE - off)
			len = (size_t)(IMAGE_SIZE - off);
		n = mfs_stream_pread(p->stream, buf, len, e.offset + off);
		ck_assert_int_eq(n, (ssize_t)len);
		ck_assert_msg(tu_first_diff(buf, image + off, len) < 0,
			      "bytes differ at image offset %llu",
			      (unsigned long long)off);
	}
	free(buf);
}

static void check_random_reads(struct mfs_artifact *a, uint64_t seed)
{
	check_reads_from(a, seed, 0, rounds(40, 6));
}

START_TEST(test_pass_digests)
{
	struct mfs_artifact *a = open_artifact("module.mender");
	struct mfs_payload *p;
	size_t files = 0;

	pass_all(a);
	p = &a->payloads[0];
	ck_assert(p->walk_done);
	ck_assert_int_eq(p->walk_error, 0);
	ck_assert_int_eq(p->pass_error, 0);
	for (size_t i = 0; i < p->count; i++) {
		uint8_t md[32];
		size_t len;
		uint8_t *data;

		if (!S_ISREG(p->entries[i].mode))
			continue;
		data = tu_read_file(dir, p->entries[i].name, &len);
		ck_assert(EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL));
		ck_assert_msg(p->digests[i].done, "%s not hashed",
			      p->entries[i].name);
		ck_assert_msg(memcmp(md, p->digests[i].sha256, 32) == 0,
			      "%s: wrong digest", p->entries[i].name);
		free(data);
		files++;
	}
	ck_assert_uint_eq(files, MODULE_FILES);
	/* A second request finds the pass done and changes nothing. */
	ck_assert_int_eq(mfs_payload_pass(a, 0), 0);
	mfs_artifact_close(a);
}
END_TEST

/* The pass running in the background while readers read. */
START_TEST(test_background_pass)
{
	struct mfs_artifact *a = open_artifact("gzip.mender");

	ck_assert_int_eq(mfs_pass_start(a, NULL), 0);
	check_random_reads(a, 5);
	ck_assert_int_eq(mfs_payload_pass(a, 0), 0);
	ck_assert(a->payloads[0].digests[0].done);
	mfs_artifact_close(a);

	/* Closing while the pass runs cancels it. */
	a = open_artifact("xz.mender");
	ck_assert_int_eq(mfs_pass_start(a, NULL), 0);
	mfs_artifact_close(a);
}
END_TEST

struct busy_reader {
	pthread_t thread;
	struct mfs_payload *p;
	atomic_bool stop;
};

static void *busy_reader_main(void *arg)
{
	struct busy_reader *r = arg;
	const struct timespec pause = { 0, 20 * 1000 * 1000 };

	while (!atomic_load(&r->stop)) {
		mfs_payload_note_read(r->p);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* The background pass steps aside while users read, but not while a user
 * waits for it (.verify): with a reader that never stops, waiting for
 * the pass still ends. */
START_TEST(test_waited_pass_does_not_step_aside)
{
	struct mfs_artifact *a = open_artifact("gzip.mender");
	struct busy_reader r = { .p = &a->payloads[0] };
	double start;

	ck_assert_int_eq(pthread_create(&r.thread, NULL, busy_reader_main, &r),
			 0);
	ck_assert_int_eq(mfs_pass_start(a, NULL), 0);
	for (bool started = false; !started;) {	/* wait for it, not run it */
		pthread_mutex_lock(&r.p->lock);
		started = r.p->pass_state != MFS_PASS_IDLE;
		pthread_mutex_unlock(&r.p->lock);
		if (!started)
			sched_yield();
	}
	start = tu_now();
	ck_assert_int_eq(mfs_payload_pass(a, 0), 0);
	ck_assert_msg(tu_now() - start < 60, "took %.1f s", tu_now() - start);
	ck_assert(a->payloads[0].digests[0].done);
	atomic_store(&r.stop, true);
	pthread_join(r.thread, NULL);
	mfs_artifact_close(a);
}
END_TEST

static void check_round_trip(const char *artifact, bool checkpoints)
{
	char *idx = index_dir("idx-round-trip");
	struct mfs_stream_stats before, after;
	struct mfs_artifact *a;
	char why[MFS_ERR_LEN];

	save_index(artifact, idx);
	a = open_artifact(artifact);
	ck_assert(!a->payloads[0].walk_done);
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), 1);
	ck_assert(a->payloads[0].walk_done);
	ck_assert_uint_ge(a->payloads[0].count, 1);
	mfs_stream_stats(a->payloads[0].stream, &before);
	/* Past the first span: below it there is nothing to resume from. */
	/* Without restore points (xz) each read may decode from the start:
	 * the fewest under valgrind. */
	check_reads_from(a, 9, 2 * TU_MIB, rounds(40, checkpoints ? 6 : 2));
	mfs_stream_stats(a->payloads[0].stream, &after);
	if (checkpoints) {
		/* Every read resumed near its offset: none from the start,
		 * and about a span decoded per read, not half the image. */
		ck_assert_uint_eq(after.rewinds, before.rewinds);
		ck_assert_uint_gt(after.restores, before.restores);
		ck_assert_uint_lt(after.decoded - before.decoded,
				  40ull * 3 * TU_MIB);
	}
	mfs_artifact_close(a);
	free(idx);
}

START_TEST(test_round_trip_gzip)
{
	check_round_trip("gzip.mender", true);
}
END_TEST

START_TEST(test_round_trip_xz)
{
	/* A single-block xz stream has no restore points: the index still
	 * carries the entry table, and reads stay right. */
	check_round_trip("xz.mender", false);
}
END_TEST

/* Every damaged copy is refused, and the artifact still reads right. */
static void check_refused(const char *idx, const char *path,
			  const uint8_t *data, size_t len)
{
	struct mfs_artifact *a;
	char why[MFS_ERR_LEN];
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	a = open_artifact("gzip.mender");
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)),
			 -EINVAL);
	ck_assert_msg(why[0], "no reason given");
	ck_assert(!a->payloads[0].walk_done);
	check_random_reads(a, len);
	mfs_artifact_close(a);
}

START_TEST(test_corrupt_refused)
{
	char *idx = index_dir("idx-corrupt"), path[PATH_MAX];
	struct mfs_artifact *a;
	uint8_t *good, *bad;
	size_t len;

	save_index("gzip.mender", idx);
	a = open_artifact("gzip.mender");
	ck_assert_int_eq(mfs_index_file_path(a, idx, path), 0);
	mfs_artifact_close(a);
	good = tu_read_file("/", path, &len);
	bad = malloc(len);
	ck_assert_uint_gt(len, 100);

	/* Flipped bits spread over the whole file. */
	for (size_t at = 0; at < len; at += len / rounds(7, 2) + 1) {
		memcpy(bad, good, len);
		bad[at] ^= 0x10;
		check_refused(idx, path, bad, len);
	}
	/* Cut short. */
	check_refused(idx, path, good, len - 1);
	check_refused(idx, path, good, len / 2);
	check_refused(idx, path, good, 10);
	free(bad);
	free(good);
	free(idx);
}
END_TEST

/* A file with a valid checksum but impossible contents (as a crafted
 * one would be): the first entry's data before its header. */
START_TEST(test_crafted_refused)
{
	char *idx = index_dir("idx-crafted"), path[PATH_MAX];
	struct mfs_artifact *a;
	size_t len, name_at = 8 + 4 + 8 + 8 + 8 + 24 + 32 + 4 + 8 + 8 + 4;
	uint32_t name_len;
	uint8_t *data;

	save_index("gzip.mender", idx);
	a = open_artifact("gzip.mender");
	ck_assert_int_eq(mfs_index_file_path(a, idx, path), 0);
	mfs_artifact_close(a);
	data = tu_read_file("/", path, &len);
	memcpy(&name_len, data + name_at, 4);	/* little-endian host */
	ck_assert_uint_eq(name_len, strlen("image.bin"));
	memset(data + name_at + 4 + name_len, 0, 8);	/* offset = 0 */
	ck_assert(EVP_Digest(data, len - 32, data + len - 32, NULL,
			     EVP_sha256(), NULL));
	check_refused(idx, path, data, len);
	free(data);
	free(idx);
}
END_TEST

/* A file others could have written is not read at all: its restore
 * points would go into the decoder as they are. */
START_TEST(test_untrusted_refused)
{
	char *idx = index_dir("idx-untrusted"), path[PATH_MAX];
	struct mfs_artifact *a;
	char why[MFS_ERR_LEN];

	save_index("gzip.mender", idx);
	a = open_artifact("gzip.mender");
	ck_assert_int_eq(mfs_index_file_path(a, idx, path), 0);
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), -EPERM);
	ck_assert(!a->payloads[0].walk_done);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), 1);
	mfs_artifact_close(a);
	free(idx);
}
END_TEST

/* A changed modification time keys another file: nothing is loaded. */
START_TEST(test_stale_not_loaded)
{
	char *idx = index_dir("idx-stale");
	struct mfs_artifact *a;
	char why[MFS_ERR_LEN];

	tu_sh(dir, "cp -p gzip.mender stale.mender");
	save_index("stale.mender", idx);
	tu_sh(dir, "touch -d '2001-02-03 04:05:06' stale.mender");
	a = open_artifact("stale.mender");
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), 0);
	ck_assert(!a->payloads[0].walk_done);
	mfs_artifact_close(a);
	free(idx);
}
END_TEST

/* The length of the key an index file starts with (index_file.c). */
#define INDEX_KEY_LEN	(8 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 32)

/* The index file of artifact name in idx, read whole. */
static uint8_t *index_bytes(const char *name, const char *idx, size_t *len,
			    char *path)
{
	struct mfs_artifact *a = open_artifact(name);

	ck_assert_int_eq(mfs_index_file_path(a, idx, path), 0);
	mfs_artifact_close(a);
	return tu_read_file("/", path, len);
}

/* Writes the index old (len bytes, made for another file) as the index
 * of artifact name in idx, under that artifact's key, as if the key had
 * matched. */
static void rekey(const char *name, const char *idx, uint8_t *old, size_t len)
{
	char path[PATH_MAX];
	size_t own_len;
	uint8_t *own;
	FILE *f;

	save_index(name, idx);
	own = index_bytes(name, idx, &own_len, path);
	memcpy(old, own, INDEX_KEY_LEN);
	ck_assert(EVP_Digest(old, len - 32, old + len - 32, NULL,
			     EVP_sha256(), NULL));
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(old, 1, len, f), len);
	fclose(f);
	free(own);
}

/* Another file with the same size, mtime and manifest (a copy), or the
 * same file after a change of its inode's status (chmod): the key tells
 * them apart, so the index of the first is not loaded for the second. */
START_TEST(test_key_has_inode_and_ctime)
{
	char *idx = index_dir("idx-key");
	struct mfs_artifact *a;
	char why[MFS_ERR_LEN];

	tu_sh(dir, "cp -p module.mender key.mender");
	save_index("key.mender", idx);
	a = open_artifact("key.mender");
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), 1);
	mfs_artifact_close(a);

	tu_sh(dir, "cp -p key.mender key2.mender && mv key2.mender key.mender");
	a = open_artifact("key.mender");
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), 0);
	ck_assert(!a->payloads[0].walk_loaded);
	mfs_artifact_close(a);

	save_index("key.mender", idx);
	tu_sh(dir, "chmod 0600 key.mender && chmod 0644 key.mender");
	a = open_artifact("key.mender");
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), 0);
	mfs_artifact_close(a);
	free(idx);
}
END_TEST

/*
 * A stale index that matches the key: artifact B is artifact A with its
 * payload recompressed (the same tar, another deflate encoding, padded
 * to the same size with a gzip comment), the same size, mtime and
 * manifest; A's index is given B's key (as a reused inode and a coarse
 * ctime could).  Its entries agree, but its restore points lie at other
 * compressed offsets: reads anywhere still give B's bytes, from the start
 * once the points' checksums have failed, never wrong bytes or EIO.
 */
START_TEST(test_stale_index_right_bytes)
{
	static const uint64_t at[] = { 5 * TU_MIB, 9 * TU_MIB, 13 * TU_MIB,
				       17 * TU_MIB, 30 * TU_MIB, 2 * TU_MIB };
	char *idx = index_dir("idx-stale-bytes"), path[PATH_MAX];
	char why[MFS_ERR_LEN];
	uint8_t *a_idx, *buf = malloc(256 * TU_KIB);
	struct mfs_artifact *a;
	struct mfs_entry e;
	size_t a_len;

	tu_sh(dir, "cp gzip.mender a.mender && python3 - a.mender b.mender "
		   "<<'EOF'\n"
		   "import os, struct, sys, tarfile, zlib\n"
		   "src, dst = sys.argv[1], sys.argv[2]\n"
		   "data = bytearray(open(src, 'rb').read())\n"
		   "with tarfile.open(src) as t:\n"
		   "    m = t.getmember('data/0000.tar.gz')\n"
		   "off, size = m.offset_data, m.size\n"
		   "inner = zlib.decompress(bytes(data[off:off + size]), 31)\n"
		   "def gz(level, pad):\n"
		   "    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9)\n"
		   "    body = c.compress(inner) + c.flush()\n"
		   "    head = b'\\x1f\\x8b\\x08' + bytes([16 if pad else 0])\n"
		   "    head += b'\\0\\0\\0\\0\\0\\x03'\n"
		   "    if pad:\n"
		   "        head += b'x' * (pad - 1) + b'\\0'\n"
		   "    crc = zlib.crc32(inner) & 0xffffffff\n"
		   "    return head + body + struct.pack('<II', crc, len(inner) & 0xffffffff)\n"
		   "for level in (9, 6, 4, 1):\n"
		   "    pad = size - len(gz(level, 0))\n"
		   "    if pad >= 2:\n"
		   "        break\n"
		   "assert pad >= 2, 'no level fits'\n"
		   "new = gz(level, pad)\n"
		   "assert len(new) == size and new != bytes(data[off:off + size])\n"
		   "data[off:off + size] = new\n"
		   "open(dst, 'wb').write(data)\n"
		   "st = os.stat(src)\n"
		   "os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))\n"
		   "EOF\n"
		   "cmp -s a.mender b.mender && exit 1; "
		   "test $(stat -c %%s.%%Y a.mender) = $(stat -c %%s.%%Y b.mender)");
	save_index("a.mender", idx);
	a_idx = index_bytes("a.mender", idx, &a_len, path);
	rekey("b.mender", idx, a_idx, a_len);

	a = open_artifact("b.mender");
	ck_assert_msg(mfs_index_file_load(a, idx, why, sizeof(why)) == 1, "%s",
		      why);
	ck_assert_int_eq(mfs_payload_find(&a->payloads[0], "image.bin", &e), 1);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		ssize_t n = mfs_stream_pread(a->payloads[0].stream, buf,
					     64 * TU_KIB, e.offset + at[i]);

		ck_assert_msg(n == 64 * TU_KIB, "read at %llu MiB: %zd",
			      (unsigned long long)(at[i] / TU_MIB), n);
		ck_assert_msg(tu_first_diff(buf, image + at[i], 64 * TU_KIB) < 0,
			      "wrong bytes at %llu MiB",
			      (unsigned long long)(at[i] / TU_MIB));
	}
	check_random_reads(a, 77);
	mfs_artifact_close(a);
	free(a_idx);
	free(buf);
	free(idx);
}
END_TEST

static enum mfs_status verify_status(struct mfs_artifact *a)
{
	struct mfs_verification v;
	enum mfs_status status;

	ck_assert_int_eq(mfs_verify_artifact(a, NULL, 0, &v), 0);
	status = v.status;
	mfs_verification_destroy(&v);
	return status;
}

/*
 * A rewrite can keep the artifact's size, mtime and manifest: here a
 * payload file renamed in the (uncompressed) payload tar, its header
 * checksum mended, the mtime put back.  Its ctime changes, so the key
 * does not match; given the old index under the new key (a coarse ctime
 * could miss the change), it still loads and serves reads (the rename
 * lies behind a file larger than the open-time walk, which would
 * otherwise see the change and refuse the index), but verification reads the tar's headers
 * again and calls the artifact malformed (the tar is not what the index
 * says); without the index the renamed file is missing and unlisted.
 */
START_TEST(test_loaded_entries_rechecked)
{
	char *idx = index_dir("idx-recheck"), path[PATH_MAX];
	struct mfs_artifact *a;
	char why[MFS_ERR_LEN];
	uint8_t *old;
	size_t old_len;

	tu_sh(dir, "cp -p plain.mender twin.mender");
	save_index("twin.mender", idx);
	old = index_bytes("twin.mender", idx, &old_len, path);
	/* Untouched, it verifies (as unsigned) from the loaded table. */
	a = open_artifact("twin.mender");
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), 1);
	ck_assert_int_eq(verify_status(a), MFS_STATUS_UNSIGNED);
	mfs_artifact_close(a);

	tu_sh(dir, "python3 - twin.mender <<'EOF'\n"
		   "import os, sys\n"
		   "path = sys.argv[1]\n"
		   "st = os.stat(path)\n"
		   "data = bytearray(open(path, 'rb').read())\n"
		   "at = data.index(b'file4.bin\\0')\n"
		   "assert at %% 512 == 0\n"
		   "data[at:at + 9] = b'file5.bin'\n"
		   "block = data[at:at + 512]\n"
		   "block[148:156] = b' ' * 8\n"
		   "data[at + 148:at + 156] = b'%%06o\\0 ' %% sum(block)\n"
		   "open(path, 'r+b').write(data)\n"
		   "os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))\n"
		   "EOF");
	a = open_artifact("twin.mender");
	ck_assert_int_eq(mfs_index_file_load(a, idx, why, sizeof(why)), 0);
	mfs_artifact_close(a);
	rekey("twin.mender", idx, old, old_len);
	free(old);
	a = open_artifact("twin.mender");
	ck_assert_msg(mfs_index_file_load(a, idx, why, sizeof(why)) == 1,
		      "%s", why);
	ck_assert_int_eq(verify_status(a), MFS_STATUS_MALFORMED);
	ck_assert_int_lt(a->payloads[0].walk_error, 0);
	mfs_artifact_close(a);
	a = open_artifact("twin.mender");
	ck_assert_int_eq(verify_status(a), MFS_STATUS_CHECKSUM_MISMATCH);
	mfs_artifact_close(a);
	free(idx);
}
END_TEST

static int thread_count(void)
{
	char line[256];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Opening walks a module's payload of 40 files in order, 16 MB of it,
 * yet starts no thread (no helper decoding ahead): the daemon forks
 * after opening, and a thread would not survive the fork while its state
 * said it runs. */
START_TEST(test_open_starts_no_thread)
{
	int before = thread_count();
	struct mfs_artifact *a = open_artifact("many.mender");

	ck_assert(a->payloads[0].walk_done);
	ck_assert_uint_eq(a->payloads[0].count, 40);
	ck_assert_int_eq(thread_count(), before);
	mfs_artifact_close(a);
}
END_TEST

/* The directory keeps at most MFS_INDEX_DIR_MAX_FILES index files. */
START_TEST(test_directory_pruned)
{
	char *idx = index_dir("idx-prune");
	struct mfs_artifact *a = open_artifact("module.mender");
	char *path = tu_path(dir, "module.mender");

	pass_all(a);
	mfs_artifact_close(a);
	for (int i = 0; i < MFS_INDEX_DIR_MAX_FILES + 3; i++) {
		/* Each mtime keys a new file. */
		tu_sh(dir, "touch -d '@%d' module.mender", 1000000 + i);
		a = open_artifact("module.mender");
		pass_all(a);
		ck_assert_int_eq(mfs_index_file_save(a, idx), 0);
		mfs_artifact_close(a);
	}
	tu_sh(idx, "test $(ls | wc -l) -eq %d", MFS_INDEX_DIR_MAX_FILES);
	free(path);
	free(idx);
}
END_TEST

static Suite *index_file_suite(void)
{
	Suite *s = suite_create("index_file");
	TCase *tc = tcase_create("pass");

	/* The pass alone; "index" saves, loads and reads back. */
	tcase_add_unchecked_fixture(tc, make_fixtures, remove_fixtures);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_pass_digests);
	tcase_add_test(tc, test_background_pass);
	tcase_add_test(tc, test_waited_pass_does_not_step_aside);
	tcase_add_test(tc, test_open_starts_no_thread);
	suite_add_tcase(s, tc);

	tc = tcase_create("index");
	tcase_add_unchecked_fixture(tc, make_fixtures, remove_fixtures);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_round_trip_gzip);
	tcase_add_test(tc, test_round_trip_xz);
	tcase_add_test(tc, test_corrupt_refused);
	tcase_add_test(tc, test_crafted_refused);
	tcase_add_test(tc, test_untrusted_refused);
	tcase_add_test(tc, test_stale_not_loaded);
	tcase_add_test(tc, test_key_has_inode_and_ctime);
	tcase_add_test(tc, test_stale_index_right_bytes);
	tcase_add_test(tc, test_loaded_entries_rechecked);
	tcase_add_test(tc, test_directory_pruned);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(index_file_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
