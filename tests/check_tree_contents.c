/*
 * contents/ through the tree, without FUSE: an ext4 image made by
 * mke2fs -d and a tar.gz, in artifacts made by mender-artifact, looked up,
 * listed and read through mfs_tree_*; hard links as one inode; a tree
 * built with MFS_TREE_NOCONTENTS has no contents/; a replaced tree's
 * contents nodes go stale.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact/artifact.h"
#include "artifact/tree.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = tu_mkdtemp();
	tu_sh(dir, "mkdir -p src/etc/deep && printf 'hello\\n' >src/etc/deep/f"
		   " && ln src/etc/deep/f src/hard && ln -s etc/deep/f src/sym"
		   " && head -c 300000 /dev/urandom >src/big"
		   " && chmod 04750 src/big"
		   " && mke2fs -q -F -t ext4 -d src rootfs.ext4 8M >/dev/null"
		   " && tar -czf update.tar.gz -C src ."
		   " && mender-artifact write rootfs-image --no-progress -n a"
		   " -t dev -f rootfs.ext4 -o ext4.mender >/dev/null"
		   " && mender-artifact write module-image -T directory -n b"
		   " -t dev -f update.tar.gz -o tar.mender >/dev/null");
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

static struct mfs_artifact *open_art(const char *name)
{
	char *path = tu_path(dir, name), err[256];
	struct mfs_artifact *a = NULL;

	ck_assert_msg(mfs_artifact_open(path, &a, err, sizeof(err)) == 0,
		      "%s: %s", path, err);
	free(path);
	return a;
}

/* The inode at a /-separated path from the root. */
static int walk(struct mfs_tree *t, const char *path, uint64_t *ino)
{
	char *copy = strdup(path), *save = NULL, *name;
	int ret = 0;

	*ino = MFS_TREE_ROOT;
	for (name = strtok_r(copy, "/", &save); name && ret == 0;
	     name = strtok_r(NULL, "/", &save))
		ret = mfs_tree_lookup(t, *ino, name, ino);
	free(copy);
	return ret;
}

static void check_image(const char *art, const char *image)
{
	struct mfs_artifact *a = open_art(art), *old = NULL;
	struct mfs_tree *t = NULL;
	uint64_t ino, hard, dir_ino, child;
	char path[256], buf[64], name[NAME_MAX + 1];
	struct stat st, st2;
	uint8_t *want;
	size_t want_len, i;
	mode_t type;
	bool seen = false;

	ck_assert_int_eq(mfs_tree_build(a, &t), 0);
	snprintf(path, sizeof(path), "contents/0000/%s/etc/deep/f", image);
	ck_assert_int_eq(walk(t, path, &ino), 0);
	ck_assert_int_eq(mfs_tree_getattr(t, ino, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_ino, ino);
	ck_assert_int_eq(st.st_size, 6);
	ck_assert_int_eq(mfs_tree_read(t, ino, buf, sizeof(buf), 0), 6);
	ck_assert(memcmp(buf, "hello\n", 6) == 0);

	/* One inode for both names. */
	snprintf(path, sizeof(path), "contents/0000/%s/hard", image);
	ck_assert_int_eq(walk(t, path, &hard), 0);
	ck_assert_uint_eq(hard, ino);

	snprintf(path, sizeof(path), "contents/0000/%s/sym", image);
	ck_assert_int_eq(walk(t, path, &ino), 0);
	ck_assert_int_eq(mfs_tree_readlink(t, ino, buf, sizeof(buf)), 10);
	ck_assert_str_eq(buf, "etc/deep/f");

	/* Stored bits less the write bits, set-id kept. */
	snprintf(path, sizeof(path), "contents/0000/%s/big", image);
	ck_assert_int_eq(walk(t, path, &ino), 0);
	ck_assert_int_eq(mfs_tree_getattr(t, ino, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 04550);
	want = tu_read_file(dir, "src/big", &want_len);
	ck_assert_int_eq(st.st_size, (off_t)want_len);
	{
		uint8_t *got = malloc(want_len);

		ck_assert_int_eq(mfs_tree_read(t, ino, got, want_len, 0),
				 (ssize_t)want_len);
		ck_assert(memcmp(got, want, want_len) == 0);
		free(got);
	}
	free(want);

	/* The image's root lists its entries under the mount's inodes. */
	snprintf(path, sizeof(path), "contents/0000/%s", image);
	ck_assert_int_eq(walk(t, path, &dir_ino), 0);
	ck_assert_int_eq(mfs_tree_getattr(t, dir_ino, &st2), 0);
	ck_assert(S_ISDIR(st2.st_mode));
	for (i = 0; mfs_tree_child(t, dir_ino, i, &child, &type, name) == 1;
	     i++)
		if (strcmp(name, "hard") == 0)
			seen = child == hard && S_ISREG(type);
	ck_assert(seen);

	/* The tree's own nodes have no symlinks and no attributes. */
	ck_assert_int_eq(mfs_tree_readlink(t, MFS_TREE_ROOT, buf, sizeof(buf)),
			 -EINVAL);
	ck_assert_int_eq(mfs_tree_listxattr(t, MFS_TREE_ROOT, NULL, 0), 0);

	/* Replaced: the old nodes go stale, the new tree shows them again
	 * under fresh inodes. */
	ck_assert_int_eq(mfs_tree_replace(t, open_art(art), &old), 0);
	mfs_artifact_close(old);
	ck_assert_int_eq(mfs_tree_getattr(t, hard, &st), -ESTALE);
	ck_assert_int_eq(mfs_tree_read(t, hard, buf, sizeof(buf), 0), -EIO);
	snprintf(path, sizeof(path), "contents/0000/%s/hard", image);
	ck_assert_int_eq(walk(t, path, &ino), 0);
	ck_assert_uint_ne(ino, hard);
	ck_assert_int_eq(mfs_tree_read(t, ino, buf, sizeof(buf), 0), 6);

	a = mfs_tree_pin(t, NULL);
	mfs_tree_unpin(t);
	mfs_tree_destroy(t);
	mfs_artifact_close(a);
}

START_TEST(test_ext4)
{
	check_image("ext4.mender", "rootfs.ext4");
}
END_TEST

START_TEST(test_tar_gz)
{
	check_image("tar.mender", "update.tar.gz");
}
END_TEST

START_TEST(test_nocontents)
{
	struct mfs_artifact *a = open_art("ext4.mender");
	struct mfs_tree *t = NULL;
	uint64_t ino;

	ck_assert_int_eq(mfs_tree_build_flags(a, MFS_TREE_NOCONTENTS, &t), 0);
	ck_assert_int_eq(mfs_tree_lookup(t, MFS_TREE_ROOT, "contents", &ino),
			 -ENOENT);
	mfs_tree_destroy(t);
	mfs_artifact_close(a);
}
END_TEST

static Suite *tree_contents_suite(void)
{
	Suite *s = suite_create("tree_contents");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ext4);
	tcase_add_test(tc, test_tar_gz);
	tcase_add_test(tc, test_nocontents);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tree_contents_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
