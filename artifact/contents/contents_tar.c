#include <errno.h>
#include "artifact/contents/contents_i.h"
bool mfs_contents_tar_probe(const struct mfs_contents_source *src) { return false; }
static int tar_open(struct mfs_contents *c) { return -EINVAL; }
static void tar_close(struct mfs_contents *c) { }
const struct mfs_contents_ops mfs_contents_tar_ops = { .name = "tar", .open = tar_open, .close = tar_close };
