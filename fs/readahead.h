/*
 * A larger kernel readahead window for the mount.  FUSE can only lower
 * the window the kernel proposes at init (128 KiB), which caps every
 * sequential read request at 128 KiB; the window is a property of the
 * mount's backing device, which root may raise afterwards through sysfs.
 */
#ifndef MFS_READAHEAD_H
#define MFS_READAHEAD_H

/* The readahead window menderfs asks for, in KiB. */
#define MFS_READAHEAD_KB 4096

/* Raises the readahead of the FUSE mount at mountpoint (an absolute
 * path, already mounted) to MFS_READAHEAD_KB.  Best effort: without
 * privilege or sysfs it changes nothing, and reads stay correct. */
void mfs_readahead_raise(const char *mountpoint);

#endif
