/*
 * mfs_rewrite_signature and mfs_rewrite_cleanup, and the swap of the
 * rewritten file under a tree.  Artifacts made by mender-artifact are
 * signed, re-signed and unsigned; the results are judged by
 * mender-artifact validate, tar, and byte comparisons with the originals.
 * Failures (a read-only directory, a full disk, a kill in the middle of
 * the copy, a symlink or another file put at the target's name) must
 * leave the target as it was and no file behind.  The tests that mount a tmpfs or change owners need root and
 * say so when skipped.
 */
#undef _FORTIFY_SOURCE		/* openat is defined below */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "artifact/artifact.h"
#include "artifact/mount.h"
#include "artifact/rewrite.h"
#include "artifact/tree.h"
#include "crypto/keys.h"
#include "testutil.h"

#define BLOCK		512
#define MAX_MOUNTS	4

/* Appended to a noisy command: its output shows only when it fails. */
#define QUIETLY \
	" > tool.log 2>&1 || { cat tool.log >&2; exit 1; }; rm tool.log"

/* A Mender artifact's members in order, for one compression. */
static const struct compression {
	const char *name;	/* for mender-artifact --compression */
	const char *suffix;	/* of header.tar and data/0000.tar */
} compressions[] = {
	{ "gzip", ".gz" },
	{ "lzma", ".xz" },
	{ "none", "" },
};
#define N_COMPRESSIONS (int)(sizeof(compressions) / sizeof(compressions[0]))

static char *keys;		/* per test case: rsa.pem, ec.pem and .pub */
static char *dir;		/* per test */
static char *mounts[MAX_MOUNTS];
static size_t n_mounts;
static char err[MFS_ERR_LEN];

/*
 * The mkstemp fallback runs only where O_TMPFILE is unsupported (old
 * kernels, some network filesystems), and no filesystem here is like
 * that.  Linked into the test program, this openat is the one the rewrite
 * calls: it passes everything to the kernel, except that it refuses
 * O_TMPFILE as such a filesystem would while refuse_tmpfile is set.
 */
static bool refuse_tmpfile;
static unsigned tmpfile_refusals;

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (refuse_tmpfile && (flags & O_TMPFILE) == O_TMPFILE) {
		tmpfile_refusals++;
		errno = EOPNOTSUPP;
		return -1;
	}
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

static void keys_setup(void)
{
	keys = tu_mkdtemp();
	tu_sh(keys, "openssl genrsa -traditional -out rsa.pem 3072 2>/dev/null"
		    " && openssl rsa -in rsa.pem -pubout -out rsa.pub"
		    " 2>/dev/null"
		    " && openssl ecparam -genkey -name prime256v1 -noout"
		    " -out ec.pem"
		    " && openssl ec -in ec.pem -pubout -out ec.pub"
		    " 2>/dev/null");
}

static void keys_teardown(void)
{
	tu_rmtree(keys);
	free(keys);
	keys = NULL;
}

static void setup(void)
{
	dir = tu_mkdtemp();
	n_mounts = 0;
	err[0] = 0;
	refuse_tmpfile = false;
	tmpfile_refusals = 0;
}

static void teardown(void)
{
	while (n_mounts > 0) {
		char *m = mounts[--n_mounts];

		tu_sh("/", "umount '%s'", m);
		free(m);
	}
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static bool have_root(const char *test)
{
	if (geteuid() == 0)
		return true;
	printf("%s: skipped, needs root\n", test);
	return false;
}

/* Mounts a fresh tmpfs on dir/name.  The test's process (a fork of the
 * runner) first gets a mount namespace of its own, so that a test that
 * fails before its teardown leaves no mount behind. */
static void mount_tmpfs(const char *name, const char *opts)
{
	ck_assert(n_mounts < MAX_MOUNTS);
	if (n_mounts == 0) {
		ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s",
			      strerror(errno));
		ck_assert_msg(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE,
				    NULL) == 0, "mount: %s", strerror(errno));
	}
	tu_sh(dir, "mkdir '%s' && mount -t tmpfs -o '%s' tmpfs '%s'",
	      name, opts, name);
	mounts[n_mounts++] = tu_path(dir, name);
}

static char *key(const char *name)
{
	return tu_path(keys, name);
}

/* dir/name: a rootfs-image artifact around payload bytes of pseudo-random
 * data (the same for the same seed), signed when key_name is set. */
static void make_rootfs(const char *name, const char *comp, size_t payload,
			uint64_t seed, const char *key_name)
{
	uint8_t *data = tu_data(payload, seed);
	char *k = key_name ? key(key_name) : NULL;

	tu_write_file(dir, "rootfs.ext4", data, payload);
	tu_sh(dir, "mender-artifact write rootfs-image -t test-device"
		   " -n release-1 --compression %s -f rootfs.ext4 %s%s"
		   " -o '%s'" QUIETLY "; rm rootfs.ext4",
	      comp, k ? "-k " : "", k ? k : "", name);
	free(k);
	free(data);
}

/* The base64 signature of name's manifest, made by openssl as
 * mender-artifact makes RSA signatures; sig_file keeps a copy. */
static char *openssl_sig(const char *name, const char *key_name,
			 const char *sig_file, size_t *len)
{
	char *k = key(key_name);

	tu_sh(dir, "tar -xOf '%s' manifest | openssl dgst -sha256 -sign %s"
		   " | openssl base64 -A > '%s'", name, k, sig_file);
	free(k);
	return (char *)tu_read_file(dir, sig_file, len);
}

/* Rewrites the open artifact a to dir/dst: in place (the name must hold
 * a's file) when in_place, else as a new output. */
static int rewrite_open(struct mfs_artifact *a, const char *sig, size_t len,
			const char *dst, bool in_place)
{
	struct mfs_rewrite_place place = { .dfd = -1 };
	char *target = tu_path(dir, dst);
	struct stat st;
	int ret;

	err[0] = 0;
	ck_assert(fstat(a->fd, &st) == 0);
	ret = mfs_rewrite_place_open(target, &place, err, sizeof(err));
	if (ret == 0)
		ret = mfs_rewrite_signature(a, sig, len, &place,
					    in_place ? &st : NULL, NULL,
					    err, sizeof(err));
	mfs_rewrite_place_close(&place);
	free(target);
	return ret;
}

/* Opens dir/src and rewrites it to dir/dst (in place when they are the
 * same name). */
static int rewrite(const char *src, const char *sig, size_t len,
		   const char *dst)
{
	struct mfs_artifact *a = NULL;
	char *path = tu_path(dir, src);
	int ret;

	ret = mfs_artifact_open(path, &a, err, sizeof(err));
	ck_assert_msg(ret == 0, "opening %s: %s", src, err);
	ret = rewrite_open(a, sig, len, dst, strcmp(src, dst) == 0);
	mfs_artifact_close(a);
	free(path);
	return ret;
}

static void validate(const char *name, const char *key_name)
{
	char *k = key_name ? key(key_name) : NULL;

	tu_sh(dir, "mender-artifact validate %s%s '%s'" QUIETLY,
	      k ? "-k " : "", k ? k : "", name);
	free(k);
}

static void validate_fails(const char *name, const char *key_name)
{
	char *k = key(key_name);

	tu_sh(dir, "! mender-artifact validate -k %s '%s' >/dev/null 2>&1",
	      k, name);
	free(k);
}

static void expect_members(const char *name, const char *list)
{
	tu_sh(dir, "test \"$(tar -tf '%s' | tr '\\n' ' ')\" = '%s'",
	      name, list);
}

/* Every member of orig but manifest.sig has the same bytes in out. */
static void expect_same_members(const char *orig, const char *out)
{
	tu_sh(dir, "for m in $(tar -tf '%s'); do"
		   " [ \"$m\" = manifest.sig ] && continue;"
		   " tar -xOf '%s' \"$m\" > member.tmp;"
		   " tar -xOf '%s' \"$m\" | cmp -s - member.tmp"
		   " || { echo \"$m differs\" >&2; exit 1; };"
		   " done; rm -f member.tmp", orig, orig, out);
}

/* manifest.sig as `tar -tv` shows it: mode, owner, size, time. */
static void expect_sig_entry(const char *name, size_t sig_len)
{
	tu_sh(dir, "test \"$(TZ=UTC tar --numeric-owner -tvf '%s'"
		   " | awk '$6 == \"manifest.sig\""
		   " { print $1, $2, $3, $4, $5 }')\""
		   " = '-rw-r--r-- 0/0 %zu 1970-01-01 00:00'", name, sig_len);
}

static void save_hash(const char *name, const char *hash_file)
{
	tu_sh(dir, "sha256sum '%s' > '%s'", name, hash_file);
}

static void expect_hash(const char *hash_file)
{
	tu_sh(dir, "sha256sum --quiet -c '%s'", hash_file);
}

/* The names in dir/sub, sorted, each followed by a space. */
static void expect_dir(const char *sub, const char *names)
{
	tu_sh(dir, "test \"$(LC_ALL=C ls -A '%s' | tr '\\n' ' ')\" = '%s'",
	      sub, names);
}

static uint64_t round_block(uint64_t n)
{
	return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* Fails unless len bytes at offa of fda equal those at offb of fdb. */
static void expect_same_bytes(int fda, uint64_t offa, int fdb, uint64_t offb,
			      uint64_t len)
{
	size_t cap = TU_MIB;
	uint8_t *x = malloc(cap), *y = malloc(cap);

	ck_assert(x && y);
	while (len > 0) {
		size_t n = len < cap ? (size_t)len : cap;
		ssize_t d;

		ck_assert(pread(fda, x, n, (off_t)offa) == (ssize_t)n);
		ck_assert(pread(fdb, y, n, (off_t)offb) == (ssize_t)n);
		d = tu_first_diff(x, y, n);
		ck_assert_msg(d < 0, "bytes differ at %llu / %llu",
			      (unsigned long long)(offa + (uint64_t)d),
			      (unsigned long long)(offb + (uint64_t)d));
		offa += n;
		offb += n;
		len -= n;
	}
	free(y);
	free(x);
}

/* Where orig is cut: the end of manifest's data, and the start of what
 * follows the old manifest.sig member (or manifest). */
static void cut_points(const char *orig, uint64_t *head, uint64_t *tail,
		       uint64_t *size)
{
	struct mfs_artifact *a = NULL;
	char *path = tu_path(dir, orig);
	const struct mfs_entry *m, *s;

	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert(a->m_manifest >= 0);
	m = &a->outer.members[a->m_manifest];
	*head = round_block(m->offset + m->size);
	*tail = *head;
	if (a->m_manifest_sig >= 0) {
		s = &a->outer.members[a->m_manifest_sig];
		ck_assert_uint_eq(s->header_offset, *head);
		*tail = round_block(s->offset + s->size);
	}
	*size = a->file_size;
	mfs_artifact_close(a);
	free(path);
}

/* out is orig with the manifest.sig member replaced by one holding sig
 * (none when sig_len is 0), every other byte the same; the new member is
 * a ustar regular file. */
static void expect_splice(const char *orig, const char *out, const char *sig,
			  size_t sig_len)
{
	uint64_t head, tail, size, member = 0;
	int fo = tu_open(dir, orig), fn = tu_open(dir, out);
	uint8_t hdr[BLOCK], *data;
	size_t pad;

	cut_points(orig, &head, &tail, &size);
	if (sig_len)
		member = BLOCK + round_block(sig_len);
	ck_assert_uint_eq(tu_file_size(dir, out), head + member + size - tail);
	expect_same_bytes(fo, 0, fn, 0, head);
	expect_same_bytes(fo, tail, fn, head + member, size - tail);
	if (sig_len) {
		ck_assert(pread(fn, hdr, BLOCK, (off_t)head) == BLOCK);
		ck_assert_str_eq((char *)hdr, "manifest.sig");
		ck_assert_int_eq(hdr[156], '0');
		ck_assert(memcmp(hdr + 257, "ustar\0" "00", 8) == 0);
		pad = (size_t)(member - BLOCK);
		data = malloc(pad);
		ck_assert(data != NULL);
		ck_assert(pread(fn, data, pad, (off_t)(head + BLOCK)) ==
			  (ssize_t)pad);
		ck_assert(memcmp(data, sig, sig_len) == 0);
		for (size_t i = sig_len; i < pad; i++)
			ck_assert_int_eq(data[i], 0);
		free(data);
	}
	close(fn);
	close(fo);
}

static ino_t inode_of(const char *name)
{
	char *path = tu_path(dir, name);
	struct stat st;

	ck_assert(stat(path, &st) == 0);
	free(path);
	return st.st_ino;
}

/* An unsigned artifact signed by openssl's signature is a valid signed
 * artifact, and is what `mender-artifact sign` makes of it to the byte,
 * but for the formatting of the numbers in the manifest.sig header
 * (libarchive's ustar writer, not Go's). */
START_TEST(test_sign_unsigned)
{
	const struct compression *c = &compressions[_i];
	char list[256], *k = key("rsa.pem"), *sig;
	uint64_t head, tail, size;
	size_t len;
	int fo, fr;

	make_rootfs("a.mender", c->name, 300 * TU_KIB, 1, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	ck_assert_int_eq(rewrite("a.mender", sig, len, "out.mender"), 0);

	validate("out.mender", "rsa.pub");
	snprintf(list, sizeof(list), "version manifest manifest.sig "
		 "header.tar%s data/0000.tar%s ", c->suffix, c->suffix);
	expect_members("out.mender", list);
	expect_same_members("a.mender", "out.mender");
	expect_sig_entry("out.mender", len);
	expect_splice("a.mender", "out.mender", sig, len);
	tu_sh(dir, "tar -xOf out.mender manifest.sig | cmp - a.sig");

	tu_sh(dir, "mender-artifact sign -k %s a.mender -o ref.mender"
		   QUIETLY, k);
	cut_points("a.mender", &head, &tail, &size);
	ck_assert_uint_eq(tu_file_size(dir, "ref.mender"),
			  tu_file_size(dir, "out.mender"));
	fo = tu_open(dir, "out.mender");
	fr = tu_open(dir, "ref.mender");
	expect_same_bytes(fo, 0, fr, 0, head);
	expect_same_bytes(fo, head + BLOCK, fr, head + BLOCK,
			  tu_file_size(dir, "out.mender") - head - BLOCK);
	close(fr);
	close(fo);
	tu_sh(dir, "TZ=UTC tar --numeric-owner -tvf ref.mender > ref.list"
		   " && TZ=UTC tar --numeric-owner -tvf out.mender"
		   " | cmp - ref.list");
	free(sig);
	free(k);
}
END_TEST

/* A signed artifact re-signed in place with another key (EC, its
 * signature taken from `mender-artifact sign`). */
START_TEST(test_resign_in_place)
{
	char *k = key("ec.pem"), *sig;
	size_t len;
	ino_t before;

	make_rootfs("signed.mender", "gzip", 200 * TU_KIB, 2, "rsa.pem");
	tu_sh(dir, "cp signed.mender a.mender"
		   " && mender-artifact sign -f -k %s signed.mender"
		   " -o ec.mender" QUIETLY
		   " && tar -xOf ec.mender manifest.sig > ec.sig", k);
	sig = (char *)tu_read_file(dir, "ec.sig", &len);
	before = inode_of("a.mender");

	ck_assert_int_eq(rewrite("a.mender", sig, len, "a.mender"), 0);
	ck_assert(inode_of("a.mender") != before);
	validate("a.mender", "ec.pub");
	validate_fails("a.mender", "rsa.pub");
	expect_members("a.mender", "version manifest manifest.sig "
		       "header.tar.gz data/0000.tar.gz ");
	expect_same_members("signed.mender", "a.mender");
	expect_sig_entry("a.mender", len);
	expect_splice("signed.mender", "a.mender", sig, len);
	expect_dir(".", "a.mender ec.mender ec.sig signed.mender ");
	free(sig);
	free(k);
}
END_TEST

START_TEST(test_remove_signature)
{
	make_rootfs("signed.mender", "gzip", 200 * TU_KIB, 3, "rsa.pem");
	ck_assert_int_eq(rewrite("signed.mender", NULL, 0, "out.mender"), 0);

	validate("out.mender", NULL);
	expect_members("out.mender", "version manifest header.tar.gz "
		       "data/0000.tar.gz ");
	expect_same_members("signed.mender", "out.mender");
	expect_splice("signed.mender", "out.mender", NULL, 0);
}
END_TEST

/* Installing the signature an artifact already has changes nothing. */
START_TEST(test_same_signature_same_bytes)
{
	char *sig;
	size_t len;

	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 4, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	ck_assert_int_eq(rewrite("a.mender", sig, len, "b.mender"), 0);
	ck_assert_int_eq(rewrite("b.mender", sig, len, "c.mender"), 0);
	tu_sh(dir, "cmp b.mender c.mender");
	ck_assert_int_eq(rewrite("c.mender", NULL, 0, "d.mender"), 0);
	tu_sh(dir, "cmp a.mender d.mender");
	free(sig);
}
END_TEST

/* A manifest.sig with a pax extended header is replaced whole. */
START_TEST(test_pax_signature)
{
	char *sig;
	size_t len;

	make_rootfs("signed.mender", "gzip", 100 * TU_KIB, 5, "rsa.pem");
	tu_sh(dir, "mkdir x && cd x && tar -mxf ../signed.mender"
		   " && tar --format=pax -cf ../pax.mender version manifest"
		   " manifest.sig header.tar.gz data/0000.tar.gz");
	validate("pax.mender", "rsa.pub");
	sig = openssl_sig("pax.mender", "rsa.pem", "pax.sig", &len);
	ck_assert_int_eq(rewrite("pax.mender", sig, len, "out.mender"), 0);

	validate("out.mender", "rsa.pub");
	expect_sig_entry("out.mender", len);
	expect_same_members("pax.mender", "out.mender");
	expect_splice("pax.mender", "out.mender", sig, len);
	ck_assert_uint_lt(tu_file_size(dir, "out.mender"),
			  tu_file_size(dir, "pax.mender"));
	free(sig);
}
END_TEST

/* A module image with several files and an augmented header: manifest.sig
 * goes between manifest and manifest-augment. */
START_TEST(test_module_image)
{
	char *sig;
	size_t len;

	tu_sh(dir, "mkdir files && cd files"
		   " && head -c 70000 /dev/urandom > one.bin"
		   " && echo two > two.txt && : > empty"
		   " && head -c 1234567 /dev/zero > zeros"
		   " && echo aug > aug.txt");
	tu_sh(dir, "mender-artifact write module-image -T test-module"
		   " -t test-device -n module-1 -f files/one.bin"
		   " -f files/two.txt -f files/empty -f files/zeros"
		   " --augment-type test-module --augment-file files/aug.txt"
		   " -o m.mender" QUIETLY);
	sig = openssl_sig("m.mender", "rsa.pem", "m.sig", &len);
	ck_assert_int_eq(rewrite("m.mender", sig, len, "out.mender"), 0);

	validate("out.mender", "rsa.pub");
	expect_members("out.mender", "version manifest manifest.sig "
		       "manifest-augment header.tar.gz header-augment.tar.gz "
		       "data/0000.tar.gz ");
	expect_same_members("m.mender", "out.mender");
	expect_splice("m.mender", "out.mender", sig, len);
	free(sig);
}
END_TEST

/* Layouts mender-artifact never writes are refused, not repaired. */
START_TEST(test_odd_layout)
{
	static const char *const orders[] = {
		"version manifest header.tar.gz manifest.sig data/0000.tar.gz",
		("version manifest manifest.sig manifest.sig header.tar.gz "
		 "data/0000.tar.gz"),
		"version manifest.sig manifest header.tar.gz data/0000.tar.gz",
	};

	make_rootfs("signed.mender", "gzip", 50 * TU_KIB, 6, "rsa.pem");
	tu_sh(dir, "mkdir x && cd x && tar -mxf ../signed.mender"
		   " && tar --format=ustar -cf ../odd.mender %s && cd .."
		   " && rm -r x", orders[_i]);
	save_hash("odd.mender", "odd.sha256");

	ck_assert_int_eq(rewrite("odd.mender", "c2ln", 4, "odd.mender"),
			 -EINVAL);
	ck_assert_msg(strstr(err, "manifest.sig") != NULL, "err: %s", err);
	expect_hash("odd.sha256");
	expect_dir(".", "odd.mender odd.sha256 signed.mender ");
}
END_TEST

START_TEST(test_owner_mode_kept)
{
	struct stat st;
	char *sig, *path;
	size_t len;

	if (!have_root("owner_mode_kept"))
		return;
	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 7, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	tu_sh(dir, "chmod 0640 a.mender && chown 1234:5678 a.mender");

	ck_assert_int_eq(rewrite("a.mender", sig, len, "a.mender"), 0);
	path = tu_path(dir, "a.mender");
	ck_assert(stat(path, &st) == 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_uint_eq(st.st_uid, 1234);
	ck_assert_uint_eq(st.st_gid, 5678);
	validate("a.mender", "rsa.pub");

	/* An existing separate target keeps its own. */
	tu_sh(dir, "cp a.mender b.mender && chmod 0604 b.mender"
		   " && chown 42:43 b.mender");
	ck_assert_int_eq(rewrite("a.mender", NULL, 0, "b.mender"), 0);
	free(path);
	path = tu_path(dir, "b.mender");
	ck_assert(stat(path, &st) == 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0604);
	ck_assert_uint_eq(st.st_uid, 42);
	ck_assert_uint_eq(st.st_gid, 43);
	free(path);
	free(sig);
}
END_TEST

/* A new output file gets the artifact's owner and mode; the artifact is
 * left alone. */
START_TEST(test_separate_output)
{
	bool root = geteuid() == 0;
	struct stat st;
	char *sig, *path;
	size_t len;

	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 8, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	tu_sh(dir, "chmod 0604 a.mender && mkdir out");
	if (root)
		tu_sh(dir, "chown 42:43 a.mender");
	save_hash("a.mender", "a.sha256");

	ck_assert_int_eq(rewrite("a.mender", sig, len, "out/new.mender"), 0);
	expect_hash("a.sha256");
	validate("out/new.mender", "rsa.pub");
	expect_splice("a.mender", "out/new.mender", sig, len);
	path = tu_path(dir, "out/new.mender");
	ck_assert(stat(path, &st) == 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0604);
	if (root) {
		ck_assert_uint_eq(st.st_uid, 42);
		ck_assert_uint_eq(st.st_gid, 43);
	}
	expect_dir("out", "new.mender ");
	free(path);
	free(sig);
}
END_TEST

/* Onto another filesystem copy_file_range gives EXDEV, and the copy goes
 * through pread/pwrite. */
START_TEST(test_output_other_filesystem)
{
	char *sig;
	size_t len;

	if (!have_root("output_other_filesystem"))
		return;
	mount_tmpfs("t", "size=16m");
	make_rootfs("a.mender", "none", 2 * TU_MIB, 9, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	ck_assert_int_eq(rewrite("a.mender", sig, len, "t/a.mender"), 0);
	validate("t/a.mender", "rsa.pub");
	expect_splice("a.mender", "t/a.mender", sig, len);
	expect_dir("t", "a.mender ");
	free(sig);
}
END_TEST

/* A symlink at the target's name is never followed: not when it was
 * there all along (an output), not when it took the mounted file's
 * place.  ESTALE, and the file behind it is untouched. */
START_TEST(test_symlink_target)
{
	struct mfs_artifact *a = NULL;
	char *sig, *path;
	size_t len;

	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 10, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	tu_sh(dir, "mkdir real && echo secret > real/secret"
		   " && ln -s real/secret out.mender");
	save_hash("real/secret", "secret.sha256");
	ck_assert_int_eq(rewrite("a.mender", sig, len, "out.mender"), -ESTALE);
	ck_assert_msg(strstr(err, "symlink") != NULL, "err: %s", err);

	path = tu_path(dir, "a.mender");
	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0,
		      "%s", err);
	tu_sh(dir, "mv a.mender moved.mender && ln -s real/secret a.mender");
	ck_assert_int_eq(rewrite_open(a, sig, len, "a.mender", true), -ESTALE);
	mfs_artifact_close(a);
	tu_sh(dir, "test -L out.mender && test -L a.mender");
	expect_hash("secret.sha256");
	expect_dir("real", "secret ");
	expect_dir(".", "a.mender a.sig moved.mender out.mender real "
		   "secret.sha256 ");
	free(path);
	free(sig);
}
END_TEST

/* Another file moved over the mounted one's name is not replaced. */
START_TEST(test_replaced_target)
{
	struct mfs_artifact *a = NULL;
	char *sig, *path;
	size_t len;

	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 15, NULL);
	make_rootfs("b.mender", "gzip", 100 * TU_KIB, 16, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	save_hash("b.mender", "b.sha256");
	path = tu_path(dir, "a.mender");
	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0,
		      "%s", err);
	tu_sh(dir, "sed -i 's/b.mender/a.mender/' b.sha256"
		   " && mv b.mender a.mender");
	ck_assert_int_eq(rewrite_open(a, sig, len, "a.mender", true), -ESTALE);
	ck_assert_msg(strstr(err, "replaced") != NULL, "err: %s", err);
	mfs_artifact_close(a);
	expect_hash("b.sha256");
	expect_dir(".", "a.mender a.sig b.sha256 ");
	free(path);
	free(sig);
}
END_TEST

/* The new file comes back open: what the caller shows is what was
 * written, whatever takes the name after the rename. */
START_TEST(test_new_file_descriptor)
{
	struct mfs_rewrite_place place = { .dfd = -1 };
	struct mfs_artifact *a = NULL, *b = NULL;
	char *sig, *path;
	struct stat st;
	size_t len;
	int fd = -1;

	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 17, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	path = tu_path(dir, "a.mender");
	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert(fstat(a->fd, &st) == 0);
	ck_assert_int_eq(mfs_rewrite_place_open(path, &place, err,
						sizeof(err)), 0);
	ck_assert_int_eq(mfs_rewrite_signature(a, sig, len, &place, &st, &fd,
					       err, sizeof(err)), 0);
	ck_assert(fd >= 0);
	tu_sh(dir, "cp a.mender signed.mender && echo other > a.mender.new"
		   " && mv a.mender.new a.mender");
	ck_assert_int_eq(mfs_artifact_open_fd(fd, path, &b, err, sizeof(err)),
			 0);
	ck_assert(b->m_manifest_sig >= 0);
	ck_assert_uint_eq(b->file_size, tu_file_size(dir, "signed.mender"));
	mfs_artifact_close(b);
	mfs_artifact_close(a);
	mfs_rewrite_place_close(&place);
	validate("signed.mender", "rsa.pub");
	free(path);
	free(sig);
}
END_TEST

/* two.mender: one.mender with its payload member repeated as
 * data/0001.tar.gz (two payloads, one header). */
static void make_two_payloads(const char *one, const char *two)
{
	tu_sh(dir, "python3 - '%s' '%s' <<'EOF'\n"
		   "import io, sys, tarfile\n"
		   "src = tarfile.open(sys.argv[1])\n"
		   "out = tarfile.open(sys.argv[2], 'w',"
		   " format=tarfile.USTAR_FORMAT)\n"
		   "for m in src.getmembers():\n"
		   "    data = src.extractfile(m).read()\n"
		   "    out.addfile(m, io.BytesIO(data))\n"
		   "    if m.name.startswith('data/0000'):\n"
		   "        m.name = m.name.replace('0000', '0001')\n"
		   "        out.addfile(m, io.BytesIO(data))\n"
		   "out.close()\n"
		   "EOF", one, two);
}

static struct mfs_artifact *open_in_dir(const char *name)
{
	struct mfs_artifact *a = NULL;
	char *path = tu_path(dir, name);

	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0,
		      "%s: %s", name, err);
	free(path);
	return a;
}

/* A swap after signing takes only a rewrite of the signature: anything
 * else (here more payloads, whose bookkeeping a swap once cleared past
 * its end) is refused and the tree keeps showing what it showed.  A
 * replace (the file changed on disk) takes any artifact. */
START_TEST(test_swap_layout)
{
	struct mfs_artifact *a, *b, *c, *old = NULL;
	struct mfs_tree *t = NULL;
	uint64_t ino, gen;
	char *sig;
	size_t len;

	make_rootfs("one.mender", "gzip", 100 * TU_KIB, 18, NULL);
	make_two_payloads("one.mender", "two.mender");
	sig = openssl_sig("one.mender", "rsa.pem", "one.sig", &len);
	ck_assert_int_eq(rewrite("one.mender", sig, len, "signed.mender"), 0);
	a = open_in_dir("one.mender");
	b = open_in_dir("two.mender");
	c = open_in_dir("signed.mender");
	ck_assert_uint_eq(b->payload_count, 2);
	ck_assert_int_eq(mfs_tree_build(a, &t), 0);
	gen = mfs_tree_generation(t);

	ck_assert_int_eq(mfs_tree_swap(t, b, &old), -EIO);
	ck_assert_uint_eq(mfs_tree_generation(t), gen);
	ck_assert(mfs_tree_pin(t, NULL) == a);
	mfs_tree_unpin(t);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "data", &ino), 0);
	ck_assert_int_eq(mfs_tree_lookup(t, ino, "0001", &ino), -ENOENT);

	ck_assert_int_eq(mfs_tree_swap(t, c, &old), 0);
	ck_assert(old == a);
	mfs_artifact_close(old);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "manifest.sig",
					 &ino), 0);

	ck_assert_int_eq(mfs_tree_replace(t, b, &old), 0);
	ck_assert(old == c);
	mfs_artifact_close(old);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "data", &ino), 0);
	ck_assert_int_eq(mfs_tree_lookup(t, ino, "0001", &ino), 0);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "manifest.sig",
					 &ino), -ENOENT);
	mfs_tree_destroy(t);
	mfs_artifact_close(b);
	free(sig);
}
END_TEST

/* Where O_TMPFILE is unsupported the file is made by mkstemp. */
START_TEST(test_mkstemp_fallback)
{
	char *sig;
	size_t len;

	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 11, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	tu_sh(dir, "cp a.mender orig.mender");
	refuse_tmpfile = true;
	ck_assert_int_eq(rewrite("a.mender", sig, len, "a.mender"), 0);
	ck_assert_uint_gt(tmpfile_refusals, 0);
	validate("a.mender", "rsa.pub");
	expect_splice("orig.mender", "a.mender", sig, len);
	expect_dir(".", "a.mender a.sig orig.mender ");
	free(sig);
}
END_TEST

START_TEST(test_bad_arguments)
{
	char *big = calloc(1, 1024 * 1024);

	ck_assert(big != NULL);
	make_rootfs("a.mender", "gzip", 10 * TU_KIB, 12, NULL);
	save_hash("a.mender", "a.sha256");
	tu_sh(dir, "mkdir sub && mkfifo fifo");
	ck_assert_int_eq(rewrite("a.mender", "c2ln", 4, "sub"), -EISDIR);
	ck_assert_int_eq(rewrite("a.mender", "c2ln", 4, "new/"), -EISDIR);
	ck_assert_int_eq(rewrite("a.mender", "c2ln", 4, "fifo"), -EINVAL);
	ck_assert_int_eq(rewrite("a.mender", "c2ln", 4, "none/a.mender"),
			 -ENOENT);
	ck_assert_int_eq(rewrite("a.mender", big, 1024 * 1024, "a.mender"),
			 -EINVAL);
	ck_assert(err[0] != 0);
	expect_hash("a.sha256");
	expect_dir(".", "a.mender a.sha256 fifo sub ");
	expect_dir("sub", "");
	free(big);
}
END_TEST

/* A directory on a read-only filesystem (a read-only tmpfs, since root
 * writes into directories whatever their permissions). */
START_TEST(test_readonly_directory)
{
	if (!have_root("readonly_directory"))
		return;
	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 13, NULL);
	mount_tmpfs("ro", "size=1m");
	tu_sh(dir, "cp a.mender ro/ && mount -o remount,ro ro");
	save_hash("ro/a.mender", "a.sha256");
	ck_assert_int_eq(rewrite("ro/a.mender", "c2ln", 4, "ro/a.mender"),
			 -EROFS);
	ck_assert(err[0] != 0);
	expect_hash("a.sha256");
	expect_dir("ro", "a.mender ");
}
END_TEST

/* A full disk, with an unnamed temporary file (_i 0) and a named one. */
START_TEST(test_disk_full)
{
	char *sig;
	size_t len;

	if (!have_root("disk_full"))
		return;
	make_rootfs("a.mender", "none", 3 * TU_MIB, 14, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	mount_tmpfs("small", "size=4m");
	tu_sh(dir, "cp a.mender small/");
	save_hash("small/a.mender", "a.sha256");
	refuse_tmpfile = _i == 1;

	ck_assert_int_eq(rewrite("small/a.mender", sig, len,
				 "small/a.mender"), -ENOSPC);
	ck_assert_msg(strstr(err, strerror(ENOSPC)) != NULL, "err: %s", err);
	ck_assert_uint_eq(tmpfile_refusals, (unsigned)_i);
	expect_hash("a.sha256");
	expect_dir("small", "a.mender ");
	free(sig);
}
END_TEST

START_TEST(test_cleanup)
{
	struct mfs_rewrite_place place = { .dfd = -1 };
	char *target = tu_path(dir, "a.mender");

	tu_sh(dir, "touch a.mender .a.mender.menderfs-abc123 .other"
		   " .a.mender.menderfs-XyZ789"
		   " .a.mender.menderfs-abc12 .a.mender.menderfs-abc1234"
		   " .a.mender.menderfs-ab_123 a.mender.menderfs-abc123"
		   " .b.mender.menderfs-abc123"
		   " && mkdir .a.mender.menderfs-dir123"
		   " && ln -s a.mender .a.mender.menderfs-lnk123");
	ck_assert_int_eq(mfs_rewrite_place_open(target, &place, err,
						sizeof(err)), 0);
	mfs_rewrite_cleanup(&place);
	mfs_rewrite_place_close(&place);
	expect_dir(".", ".a.mender.menderfs-ab_123 .a.mender.menderfs-abc12 "
		   ".a.mender.menderfs-abc1234 .a.mender.menderfs-dir123 "
		   ".a.mender.menderfs-lnk123 .b.mender.menderfs-abc123 "
		   ".other a.mender a.mender.menderfs-abc123 ");
	/* A directory that does not exist gives no place to clean. */
	ck_assert_int_eq(mfs_rewrite_place_open("/nonexistent/dir/x.mender",
						&place, err, sizeof(err)),
			 -ENOENT);
	mfs_rewrite_place_close(&place);
	free(target);
}
END_TEST

/* The mount object without FUSE: a signature set in place is shown from
 * the file written; the file changed in place is noticed and shown; a
 * file moved over the name is neither shown nor replaced. */
START_TEST(test_mount_lifecycle)
{
	struct mfs_mount m;
	struct mfs_artifact *a, *shown;
	struct mfs_tree *t = NULL;
	char *path, *sig;
	uint64_t ino;
	size_t len;

	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 19, NULL);
	make_two_payloads("a.mender", "two.mender");
	make_rootfs("c.mender", "gzip", 100 * TU_KIB, 20, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	save_hash("c.mender", "c.sha256");
	path = tu_path(dir, "a.mender");
	a = open_in_dir("a.mender");
	ck_assert_int_eq(mfs_tree_build(a, &t), 0);
	ck_assert_int_eq(mfs_mount_init(&m, t, path, NULL, NULL, err,
					sizeof(err)), 0);

	shown = mfs_mount_lock(&m);
	ck_assert(shown == a);
	ck_assert_int_eq(mfs_mount_signable(&m, shown, err, sizeof(err)), 0);
	ck_assert_int_eq(mfs_mount_set_signature(&m, sig, len, err,
						 sizeof(err)), 0);
	mfs_mount_unlock(&m);
	validate("a.mender", "rsa.pub");
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "manifest.sig",
					 &ino), 0);
	ck_assert_int_eq(mfs_mount_refresh(&m, NULL, NULL, err, sizeof(err)),
			 0);

	/* In place: the same inode, other bytes (two payloads now). */
	tu_sh(dir, "cat two.mender > a.mender && touch -d @1700000200 a.mender");
	ck_assert(mfs_mount_changed(&m));
	ck_assert_int_eq(mfs_mount_refresh(&m, NULL, NULL, err, sizeof(err)),
			 1);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "manifest.sig",
					 &ino), -ENOENT);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "data", &ino), 0);
	ck_assert_int_eq(mfs_tree_lookup(t, ino, "0001", &ino), 0);

	/* Moved over: not a change, and not replaced by a signing. */
	tu_sh(dir, "sed -i 's/c.mender/a.mender/' c.sha256"
		   " && mv c.mender a.mender");
	ck_assert(!mfs_mount_changed(&m));
	mfs_mount_lock(&m);
	ck_assert_int_eq(mfs_mount_set_signature(&m, NULL, 0, err,
						 sizeof(err)), -ESTALE);
	mfs_mount_unlock(&m);
	expect_hash("c.sha256");

	mfs_mount_destroy(&m);
	shown = mfs_tree_pin(t, NULL);
	mfs_tree_unpin(t);
	mfs_tree_destroy(t);
	mfs_artifact_close(shown);
	free(path);
	free(sig);
}
END_TEST

/* require_signature: a file changed in place is shown only if it
 * verifies; refused, it is judged once (EACCES at once after), and the
 * signature is never removed (EPERM). */
START_TEST(test_mount_required)
{
	struct mfs_mount m;
	struct mfs_artifact *a, *shown;
	struct mfs_tree *t = NULL;
	struct mfs_key *pub = NULL;
	const struct mfs_key *judging[1];
	char *path, *sig, *pub_path;
	uint64_t ino;
	size_t len;

	make_rootfs("a.mender", "gzip", 100 * TU_KIB, 22, NULL);
	make_rootfs("b.mender", "gzip", 100 * TU_KIB, 23, NULL);
	sig = openssl_sig("a.mender", "rsa.pem", "a.sig", &len);
	pub_path = key("rsa.pub");
	ck_assert_int_eq(mfs_key_load_public(pub_path, &pub, err,
					     sizeof(err)), 0);
	judging[0] = pub;
	path = tu_path(dir, "a.mender");
	a = open_in_dir("a.mender");
	ck_assert_int_eq(mfs_tree_build(a, &t), 0);
	ck_assert_int_eq(mfs_mount_init(&m, t, path, NULL, NULL, err,
					sizeof(err)), 0);
	mfs_mount_lock(&m);
	ck_assert_int_eq(mfs_mount_set_signature(&m, sig, len, err,
						 sizeof(err)), 0);
	mfs_mount_unlock(&m);
	tu_sh(dir, "cp a.mender signed.mender");
	shown = mfs_mount_lock(&m);
	ck_assert_int_eq(mfs_mount_judge_required(shown, judging, 1, err,
						  sizeof(err)), 0);
	mfs_mount_unlock(&m);
	mfs_mount_require(&m, judging, 1);

	mfs_mount_lock(&m);
	ck_assert_int_eq(mfs_mount_set_signature(&m, NULL, 0, err,
						 sizeof(err)), -EPERM);
	mfs_mount_unlock(&m);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "manifest.sig",
					 &ino), 0);

	/* Unsigned, in place: refused, and refused at once the next time. */
	tu_sh(dir, "cat b.mender > a.mender");
	ck_assert_int_eq(mfs_mount_refresh(&m, NULL, NULL, err, sizeof(err)),
			 -EACCES);
	ck_assert_msg(strncmp(err, "unsigned", 8) == 0, "%s", err);
	ck_assert_int_eq(mfs_mount_refresh(&m, NULL, NULL, err, sizeof(err)),
			 -EACCES);
	ck_assert_str_eq(err, "");

	/* Verified again, in place: shown. */
	tu_sh(dir, "cat signed.mender > a.mender");
	ck_assert_int_eq(mfs_mount_refresh(&m, NULL, NULL, err, sizeof(err)),
			 1);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "manifest.sig",
					 &ino), 0);

	mfs_mount_destroy(&m);
	shown = mfs_tree_pin(t, NULL);
	mfs_tree_unpin(t);
	mfs_tree_destroy(t);
	mfs_artifact_close(shown);
	mfs_key_close(pub);
	free(pub_path);
	free(path);
	free(sig);
}
END_TEST

/* Never signed: an artifact failing its own checksums (EBADMSG). */
START_TEST(test_mount_not_signable)
{
	struct mfs_artifact *a;
	struct mfs_mount m;
	struct mfs_tree *t = NULL;
	char *path;

	make_rootfs("a.mender", "none", 100 * TU_KIB, 21, NULL);
	/* One byte of the payload (far past every header) flipped. */
	tu_sh(dir, "printf '\\377' | dd of=a.mender bs=1 seek=$((8 * 1024 + "
		   "50 * 1024)) conv=notrunc status=none");
	path = tu_path(dir, "a.mender");
	a = open_in_dir("a.mender");
	ck_assert_int_eq(mfs_tree_build(a, &t), 0);
	ck_assert_int_eq(mfs_mount_init(&m, t, path, NULL, NULL, err,
					sizeof(err)), 0);
	ck_assert_int_eq(mfs_mount_signable(&m, mfs_mount_lock(&m), err,
					    sizeof(err)), -EBADMSG);
	mfs_mount_unlock(&m);
	ck_assert_msg(strstr(err, "checksum-mismatch") != NULL, "err: %s", err);
	mfs_mount_destroy(&m);
	mfs_tree_destroy(t);
	mfs_artifact_close(a);
	free(path);
}
END_TEST

/* The large artifact, made once for its test case. */
static char *large;

static void large_setup(void)
{
	keys_setup();
	large = tu_mkdtemp();
	tu_sh(large, "truncate -s 200M big.img"
		     " && for i in $(seq 0 8 199); do dd if=/dev/urandom"
		     " of=big.img bs=1M seek=$i count=3 conv=notrunc"
		     " status=none; done"
		     " && mender-artifact write rootfs-image -t test-device"
		     " -n big-1 --compression none -f big.img -o big.mender"
		     QUIETLY "; rm big.img"
		     " && tar -xOf big.mender manifest | openssl dgst -sha256"
		     " -sign %s/rsa.pem | openssl base64 -A > big.sig", keys);
}

static void large_teardown(void)
{
	tu_rmtree(large);
	free(large);
	large = NULL;
	keys_teardown();
}

/* Payload bytes stay in the kernel: a 200 MiB artifact takes a fraction
 * of a second to rewrite (plus the time to sync it to the disk). */
START_TEST(test_large)
{
	char *src = tu_path(large, "big.mender"), *sig;
	size_t len;
	double t0, t1;
	int ret;

	tu_sh(dir, "ln -s '%s' big.mender", src);
	sig = (char *)tu_read_file(large, "big.sig", &len);
	t0 = tu_now();
	ret = rewrite("big.mender", sig, len, "out.mender");
	t1 = tu_now();
	ck_assert_msg(ret == 0, "%s", err);
	printf("rewrite of a %llu MiB artifact: %.3f s\n",
	       (unsigned long long)(tu_file_size(large, "big.mender") >> 20),
	       t1 - t0);
	ck_assert_msg(t1 - t0 < 10.0, "took %.1f s", t1 - t0);
	validate("out.mender", "rsa.pub");
	expect_splice("big.mender", "out.mender", sig, len);
	free(sig);
	free(src);
}
END_TEST

/* The pid's open file that is an unnamed file in dir, once it holds more
 * than min bytes; -1 when there is none (yet). */
static int tmpfile_size_over(pid_t pid, const char *in_dir, off_t min)
{
	char fds[64], link[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int found = -1;

	snprintf(fds, sizeof(fds), "/proc/%d/fd", (int)pid);
	d = opendir(fds);
	if (!d)
		return -1;
	while (found < 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", fds, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		/* An O_TMPFILE shows as "DIR/#INODE (deleted)". */
		if (strncmp(target, in_dir, strlen(in_dir)) != 0 ||
		    strncmp(target + strlen(in_dir), "/#", 2) != 0)
			continue;
		if (stat(link, &st) == 0 && st.st_size > min)
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/* A kill -9 in the middle of the copy leaves the target and nothing
 * else. */
START_TEST(test_killed_mid_copy)
{
	struct mfs_artifact *a = NULL;
	char *path, *kdir, *sig;
	size_t len;
	ino_t before;
	pid_t pid;
	int status = 0;
	bool finished = false;

	tu_sh(dir, "mkdir k && cp '%s/big.mender' k/", large);
	sig = (char *)tu_read_file(large, "big.sig", &len);
	path = tu_path(dir, "k/big.mender");
	kdir = realpath(dir, NULL);
	ck_assert(kdir != NULL);
	kdir = realloc(kdir, strlen(kdir) + 3);
	ck_assert(kdir != NULL);
	strcat(kdir, "/k");
	before = inode_of("k/big.mender");
	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0,
		      "%s", err);

	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0)
		_exit(rewrite_open(a, sig, len, "k/big.mender", true) == 0 ?
		      0 : 1);
	while (tmpfile_size_over(pid, kdir, 16 * TU_MIB) < 0) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			finished = true;
			break;
		}
	}
	if (!finished) {
		ck_assert(kill(pid, SIGKILL) == 0);
		ck_assert(waitpid(pid, &status, 0) == pid);
	}
	mfs_artifact_close(a);
	if (finished || !WIFSIGNALED(status)) {
		/* The copy finished first (a reflink copy is instant): the
		 * target is then wholly new, and still nothing is left. */
		printf("killed_mid_copy: the copy finished first\n");
		validate("k/big.mender", "rsa.pub");
	} else {
		ck_assert(inode_of("k/big.mender") == before);
		tu_sh(dir, "cmp k/big.mender '%s/big.mender'", large);
	}
	expect_dir("k", "big.mender ");
	free(kdir);
	free(path);
	free(sig);
}
END_TEST

static Suite *rewrite_suite(void)
{
	Suite *s = suite_create("rewrite");
	TCase *tc;

	tc = tcase_create("sign");
	tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_sign_unsigned, 0, N_COMPRESSIONS);
	tcase_add_test(tc, test_resign_in_place);
	tcase_add_test(tc, test_remove_signature);
	tcase_add_test(tc, test_same_signature_same_bytes);
	tcase_add_test(tc, test_pax_signature);
	tcase_add_test(tc, test_module_image);
	tcase_add_loop_test(tc, test_odd_layout, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_owner_mode_kept);
	tcase_add_test(tc, test_separate_output);
	tcase_add_test(tc, test_output_other_filesystem);
	tcase_add_test(tc, test_symlink_target);
	tcase_add_test(tc, test_replaced_target);
	tcase_add_test(tc, test_new_file_descriptor);
	tcase_add_test(tc, test_swap_layout);
	tcase_add_test(tc, test_mount_lifecycle);
	tcase_add_test(tc, test_mount_not_signable);
	tcase_add_test(tc, test_mount_required);
	tcase_add_test(tc, test_mkstemp_fallback);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_cleanup);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_readonly_directory);
	tcase_add_loop_test(tc, test_disk_full, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_add_unchecked_fixture(tc, large_setup, large_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_killed_mid_copy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rewrite_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
