/*
 * The one pass over each payload: a single sequential decode that walks
 * the payload tar to its end (every entry and its offset), leaves the
 * stream's restore points behind it (random access afterwards), and
 * hashes every entry for verification, so no later action decodes a
 * payload again just to verify it.
 *
 * The daemon starts the pass in the background at mount.  Readers never
 * wait for it: they read through the stream as always.  The background
 * pass also steps aside while users read a payload (it pauses until they
 * have been idle for a moment), so a `cat` or a loop mount gets both
 * cores; it resumes from the restore points the readers left.
 * Verification waits for the payloads the pass has not finished, or runs
 * the pass itself when none was started (the library without the daemon,
 * or a mount that loaded a saved index and so skipped it).
 */
#ifndef MFS_PASS_H
#define MFS_PASS_H

#include "artifact/artifact.h"

/* Starts the background pass over every payload of a, on a thread of its
 * own.  When it completes and index_dir is not NULL, the index is saved
 * there (index_file.h).  Returns 0 or a negative errno. */
int mfs_pass_start(struct mfs_artifact *a, const char *index_dir);

/* Cancels the background pass and waits for its thread; called by
 * mfs_artifact_close().  Accepts an artifact whose pass never started. */
void mfs_pass_stop(struct mfs_artifact *a);

/* Records that a user read payload p just now (tree.c). */
void mfs_payload_note_read(struct mfs_payload *p);

/* Makes sure payload i has been passed over: waits while another thread
 * runs its pass, runs it here when nobody has.  Afterwards the payload's
 * entries are all known (or walk_error says why not) and every entry
 * before pass_error_entry has its digest.  Returns 0, or a negative errno
 * when the pass could not run (-ENOMEM, -ECANCELED at close). */
int mfs_payload_pass(struct mfs_artifact *a, size_t i);

/* Whether every payload of a has been passed over, so that verifying
 * it decodes nothing (the size of .verify is then cheap to know). */
bool mfs_pass_all_done(struct mfs_artifact *a);

#endif
