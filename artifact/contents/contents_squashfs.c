#include <errno.h>
#include "artifact/contents/contents_i.h"
static int sq_open(struct mfs_contents *c) { return -EINVAL; }
static void sq_close(struct mfs_contents *c) { }
const struct mfs_contents_ops mfs_contents_squashfs_ops = { .name = "squashfs", .open = sq_open, .close = sq_close };
