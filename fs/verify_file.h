/* The virtual .verify file: a snapshot of the verification report per
 * open, computed on first open and shared after. */
#ifndef MFS_VERIFY_FILE_H
#define MFS_VERIFY_FILE_H

#include "fs/ops.h"

void mfs_verify_file_open(fuse_req_t req, struct fuse_file_info *fi);
void mfs_verify_file_read(fuse_req_t req, size_t size, off_t off,
			  struct fuse_file_info *fi);
void mfs_verify_file_release(fuse_req_t req, struct fuse_file_info *fi);

/* The report's size if already computed or cheap to compute (every
 * payload hashed by the background pass), else 0. */
off_t mfs_verify_file_size(fuse_req_t req);

#endif
