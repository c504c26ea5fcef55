/*
 * An opened artifact: the outer member table, the parsed version and
 * manifest, the header files in memory, and one seekable stream per
 * payload whose entries are discovered as they are needed.
 *
 * Opening checks what a user must hear about before anything is mounted
 * (not a tar, no version first, unsupported version).  Problems that
 * still leave something worth showing (an unsafe name, a missing member,
 * a bad manifest line) do not fail the open: they are noted in
 * `malformed` for the verification report, and the offending names are
 * simply not exposed.
 */
#ifndef MFS_ARTIFACT_H
#define MFS_ARTIFACT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "artifact/header.h"
#include "artifact/inner.h"
#include "artifact/manifest.h"
#include "artifact/outer.h"
#include "artifact/stream.h"

#define MFS_ERR_LEN 512

/* How far into a payload's decompressed tar opening walks. */
#define MFS_MOUNT_WALK_BUDGET (32 * 1024 * 1024)

/* Upper bounds on the entries of all payload tars together and on the
 * bytes of their names.  What the daemon keeps per file (the entry table
 * and its digests, the tree's nodes, the .verify lines: some 370 bytes
 * and each name about four times) then stays under SPEC's 128 MiB (about
 * 90 MiB at both caps), however the files are spread over payloads.  No
 * user needs more: every payload file must be listed in the manifest,
 * whose 1 MiB cap holds at most some 13000 lines and 1 MiB of names, so
 * an artifact with more files than that cannot verify anyway. */
#define MFS_PAYLOAD_MAX_ENTRIES (128 * 1024)
#define MFS_PAYLOAD_MAX_NAME_BYTES (8 * 1024 * 1024)

/* One payload entry as the table keeps it: fixed size, no allocation of
 * its own; its name lies in the payload's name arena, which never moves,
 * so a name borrowed from the table stays valid for the artifact's life. */
struct mfs_payload_entry {
	const char *name;
	uint64_t offset;	/* of the data, in the decompressed tar */
	uint64_t size;
	int64_t mtime;
	uint64_t header_offset;	/* of the entry's first header block */
	uint32_t mode;		/* file type and permission bits */
};

/* A block of the name arena: names packed end to end, NUL-terminated. */
struct mfs_name_block {
	struct mfs_name_block *next;
	size_t used, size;
	char data[];
};

/* The SHA-256 of one payload entry's bytes, once the pass hashed it,
 * and whether the entry may be served at all. */
struct mfs_digest {
	uint8_t sha256[32];
	bool done;		/* computed (false also when unreadable) */
	bool duplicate;		/* its name (normalised) is in the tar twice */
};

/* One slot of a payload's name set: an entry's normal name (names.h)
 * by its hash; index 0 marks an empty slot.  Eight bytes, as a payload
 * of MFS_PAYLOAD_MAX_ENTRIES needs 2^18 of them. */
struct mfs_name_slot {
	uint32_t hash;
	uint32_t index;		/* entry index + 1 */
};

/* Where the one pass over a payload stands (pass.h). */
enum mfs_pass_state {
	MFS_PASS_IDLE,
	MFS_PASS_RUNNING,
	MFS_PASS_DONE,
};

/* One data/NNNN.tar* member and what is known of its files so far. */
struct mfs_payload {
	size_t member;			/* index in outer.members */
	char dir[16];			/* "data/0000" */
	struct mfs_stream *stream;

	pthread_mutex_t lock;		/* guards everything below */
	struct mfs_inner *walker;	/* NULL once the walk ended */
	struct mfs_payload_entry *entries;	/* in tar order, as discovered */
	struct mfs_digest *digests;	/* one per entry, same capacity */
	size_t count, capacity;
	struct mfs_name_block *arena;	/* the entries' names, newest first */
	struct mfs_artifact *artifact;	/* that holds it, for its notes */
	/* Every entry's normal name, hashed (open addressing), so that
	 * mfs_payload_append() finds a name seen before in O(1). */
	struct mfs_name_slot *names;
	size_t name_slots;
	bool walk_done;
	bool walk_loaded;		/* entries from an index file, not yet
					 * read again from the tar (pass.c) */
	int walk_error;			/* negative errno, or 0 */
	char walk_message[MFS_ERR_LEN];	/* why the walk broke off */

	/* Monotonic nanoseconds of the last read a user made (pass.h). */
	atomic_uint_least64_t last_read;

	/* The pass: walks to the end and hashes every entry (pass.h). */
	enum mfs_pass_state pass_state;
	atomic_int pass_waiters;	/* users waiting for it to finish */
	pthread_cond_t pass_changed;	/* state or digests moved on */
	int pass_error;			/* -EIO: data corrupt at... */
	size_t pass_error_entry;	/* ...this entry; 0 error: none */
};

struct mfs_artifact {
	char *path;
	int fd;
	uint64_t file_size;
	int64_t file_mtime;
	int64_t file_mtime_ns;		/* the nanoseconds part */
	int version;			/* 2 or 3 */

	struct mfs_outer outer;
	/* Indexes into outer.members, or -1 when absent. */
	ssize_t m_version, m_manifest, m_manifest_sig, m_manifest_augment;
	ssize_t m_header, m_header_augment;

	uint8_t *manifest_bytes;	/* raw, as signed */
	size_t manifest_len;
	struct mfs_manifest manifest;
	struct mfs_manifest manifest_augment;

	struct mfs_header header;
	struct mfs_header header_augment;

	struct mfs_payload *payloads;
	size_t payload_count;
	/* Entries and name bytes of all payloads so far, against the caps
	 * (MFS_PAYLOAD_MAX_*). */
	atomic_size_t entry_total, name_bytes;

	/* The first structural problem found, for the verification report;
	 * empty when none.  Payload walks may add one later: note_lock. */
	pthread_mutex_t note_lock;
	char malformed[MFS_ERR_LEN];
	/* Where `mender-artifact validate` accepts what the client refuses
	 * (mfs_artifact_note_lenient): the first such thing, or empty. */
	char lenient[MFS_ERR_LEN];

	/* The background pass over the payloads (pass.h), if started. */
	pthread_t pass_thread;
	bool pass_started;
	atomic_bool pass_cancel;	/* read between chunks */
	char *index_dir;		/* where the pass saves its index */
};

/* Opens and indexes path.  Starts no thread, so a caller may fork after
 * it.  Returns 0, or a negative errno with a one-line reason (without the
 * file name) in err. */
int mfs_artifact_open(const char *path, struct mfs_artifact **out,
		      char *err, size_t errlen);

/* The same for a file already open: fd (readable, positioned anywhere)
 * is the artifact's from then on, closed with it, even on failure; path
 * only names it. */
int mfs_artifact_open_fd(int fd, const char *path, struct mfs_artifact **out,
			 char *err, size_t errlen);

/* Accepts NULL. */
void mfs_artifact_close(struct mfs_artifact *a);

/* Reads the raw bytes of outer member i. */
ssize_t mfs_artifact_read_member(struct mfs_artifact *a, size_t i, void *buf,
				 size_t len, uint64_t off);

/* Looks up a payload file by its name inside the payload tar, walking the
 * tar as far as needed.  Copies the entry into *e (its name borrowed from
 * the payload, valid for the artifact's life).  Returns 1 when found, 0
 * when the tar has no such file, -EIO when the walk has met the name
 * twice, or another negative errno. */
int mfs_payload_find(struct mfs_payload *p, const char *name,
		     struct mfs_entry *e);


/* Entry i (0-based, tar order), walking the tar as far as needed; copied
 * into *e with its name borrowed.  Returns 1, 0 when the tar holds fewer
 * entries, or the negative errno that ended the walk before entry i. */
int mfs_payload_walk_to(struct mfs_payload *p, size_t i, struct mfs_entry *e);

/* Walks the payload tar to its end.  Returns 0, or a negative errno when
 * the tar is broken (the entries before the break stay known). */
int mfs_payload_walk_all(struct mfs_payload *p);

/* Entry i of those discovered so far, copied into *e with its name
 * borrowed.  Returns 1, or 0 when fewer than i + 1 are known. */
int mfs_payload_entry(struct mfs_payload *p, size_t i, struct mfs_entry *e);

/* Lets every payload stream that needs it keep decoded spans in cache
 * (mfs_stream_set_span_cache); the cache must outlive the artifact. */
struct mfs_span_cache;
void mfs_artifact_set_span_cache(struct mfs_artifact *a,
				 struct mfs_span_cache *cache);

/* Records a structural problem (the first one wins). */
void mfs_artifact_note_malformed(struct mfs_artifact *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records what mender-artifact validate (3.9) accepts although the client
 * refuses it, as the report's "mender-artifact: accepts ..." line says
 * (the first one wins); the caller notes it malformed too. */
void mfs_artifact_note_lenient(struct mfs_artifact *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The longest name the client's manifest carries, in bytes. */
#define MFS_NAME_MAX_CLIENT 100

/* The one place a payload's entry table grows: the walk at open and in
 * the pass (payload_step) and the load of an index file append through
 * it.  Takes e: its name is copied into the table and freed.  A name whose normal form
 * (names.h) is there already marks both copies duplicate, so they serve
 * EIO from then on, and the artifact malformed; names the client cannot
 * carry in its manifest make it malformed too.  Called with p->lock held.
 * Returns 0, or -ENOMEM, or -EFBIG past a cap (MFS_PAYLOAD_MAX_*), with
 * e still the caller's. */
int mfs_payload_append(struct mfs_payload *p, struct mfs_entry *e);

/* Whether entry i may be served: 0, or -EIO once its name is known to be
 * in the tar twice. */
int mfs_payload_entry_usable(struct mfs_payload *p, size_t i);

#endif
