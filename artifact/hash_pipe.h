/*
 * SHA-256 on a thread of its own, so that one pass over a payload decodes
 * on one core while the bytes already decoded are hashed on the other.
 * The producer fills buffers from a small fixed ring and submits them in
 * order; the hashing thread feeds them to the current digest and, at each
 * mfs_hash_pipe_finish(), hands the digest to a callback.  Digests come
 * out in the order they were begun.
 */
#ifndef MFS_HASH_PIPE_H
#define MFS_HASH_PIPE_H

#include <stddef.h>
#include <stdint.h>

#define MFS_HASH_PIPE_BUFFER (1024 * 1024)

struct mfs_hash_pipe;

/* Called on the hashing thread with each finished digest (NULL when the
 * digest could not be computed) and the tag given to finish. */
typedef void (*mfs_hash_done_fn)(void *arg, uint64_t tag,
				 const uint8_t *sha256);

/* Starts the hashing thread.  Returns 0 or a negative errno. */
int mfs_hash_pipe_start(mfs_hash_done_fn done, void *arg,
			struct mfs_hash_pipe **out);

/* A free buffer of MFS_HASH_PIPE_BUFFER bytes, waiting while all are
 * queued.  Fill it and submit it, or give it back with len 0. */
uint8_t *mfs_hash_pipe_buffer(struct mfs_hash_pipe *p);

/* Queues len bytes of buf (from mfs_hash_pipe_buffer) for the current
 * digest; a digest begins with the first submit after a finish. */
void mfs_hash_pipe_submit(struct mfs_hash_pipe *p, uint8_t *buf, size_t len);

/* Ends the current digest; the callback gets it with tag. */
void mfs_hash_pipe_finish(struct mfs_hash_pipe *p, uint64_t tag);

/* Waits for everything queued, then stops the thread.  Accepts NULL. */
void mfs_hash_pipe_stop(struct mfs_hash_pipe *p);

#endif
