/* The virtual signature file: reading gives manifest.sig's text; writing
 * signs, installs or (by truncation) removes the signature. */
#ifndef MFS_SIGNATURE_FILE_H
#define MFS_SIGNATURE_FILE_H

#include "fs/ops.h"

/* Opens for writing (a read-only open goes through the tree). */
void mfs_signature_file_open(fuse_req_t req, struct fuse_file_info *fi);
void mfs_signature_file_write(fuse_req_t req, const char *buf, size_t size,
			      off_t off, struct fuse_file_info *fi);
void mfs_signature_file_flush(fuse_req_t req, struct fuse_file_info *fi);
void mfs_signature_file_release(fuse_req_t req, struct fuse_file_info *fi);
void mfs_signature_file_setattr(fuse_req_t req, fuse_ino_t ino,
				struct stat *attr, int to_set);

/* The context's list of open handles: init before the session, destroy
 * after it (freeing any the kernel never released). */
void mfs_signature_files_init(struct mfs_context *ctx);
void mfs_signature_files_destroy(struct mfs_context *ctx);

#endif
