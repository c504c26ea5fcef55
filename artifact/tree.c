/*
 * The directory tree of a mount, as a table of nodes indexed by inode - 1.
 *
 * Payload files are the only nodes that change after the build: listed in
 * the manifest they start unresolved, and learn their offset and size when
 * the payload walk reaches them; files the tar holds beyond the manifest
 * are added when the walk finds them.  A read-write lock guards the table;
 * it is never held across decompression.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifact/names.h"
#include "artifact/pass.h"
#include "artifact/tree.h"
#include "artifact/tree_contents_i.h"

enum node_kind {
	NODE_DIR,
	NODE_MEMBER,		/* raw bytes of an outer member, by role */
	NODE_BLOB,		/* a header file, in memory */
	NODE_PAYLOAD,		/* a file inside a payload tar */
	NODE_SIGNATURE,		/* virtual: the text of manifest.sig */
	NODE_VERIFY,		/* virtual: served by the daemon */
	NODE_IMAGE,		/* contents/NNNN/FILE: an image's root */
};

/* Which member a member node shows.  Nodes name members by role, not
 * by index, so they stay right when a rewrite adds or drops manifest.sig
 * and the indexes shift. */
enum member_role {
	ROLE_VERSION,
	ROLE_MANIFEST,
	ROLE_MANIFEST_SIG,
	ROLE_MANIFEST_AUGMENT,
	ROLE_HEADER,
	ROLE_HEADER_AUGMENT,
	ROLE_DATA,		/* with the payload number in node.payload */
};

/* Payload node states besides a negative errno. */
#define PAYLOAD_UNRESOLVED	0
#define PAYLOAD_RESOLVED	1

struct node {
	char *name;
	uint64_t parent;
	enum node_kind kind;
	mode_t perm;
	int64_t mtime;
	uint64_t size;

	uint64_t *children;
	size_t child_count, child_capacity;
	bool detached;			/* no name leads here now */
	bool stale;			/* of an artifact no longer shown: the
					 * file changed on disk (replace) */

	enum member_role role;		/* NODE_MEMBER */
	/* NODE_BLOB: file blob_index of the header (or header-augment) of
	 * whichever artifact the tree shows now: never a pointer, which a
	 * swap after a rewrite would leave dangling. */
	size_t blob_index;
	bool blob_augment;
	size_t payload;			/* NODE_PAYLOAD */
	char *entry_name;		/* NODE_PAYLOAD: its name in the tar */
	int state;			/* NODE_PAYLOAD */
	uint64_t offset;		/* NODE_PAYLOAD, once resolved */
	size_t entry;			/* ...and its index in the payload */
	bool listed;			/* NODE_PAYLOAD: the manifest has it */
	/* contents/NNNN (a NODE_DIR): its payload's files are probed on
	 * the first look into it, once. */
	bool probe_pending;
	size_t image;			/* NODE_IMAGE: its slot */
};

struct mfs_tree {
	/* Held shared by every public call for its whole length, and
	 * exclusively to swap the artifact after a rewrite; it prefers the
	 * writer so a stream of readers cannot starve a swap. */
	pthread_rwlock_t swap_lock;
	struct mfs_artifact *artifact;
	uint64_t generation;		/* swaps so far */
	uint64_t manifest_sig_ino;	/* reserved even when unsigned */

	pthread_rwlock_t lock;		/* the node table */
	struct node *nodes;
	size_t count, capacity;
	/* Every node added under a directory, by (parent, name): open
	 * addressing, inode 0 for an empty slot.  Lookups cost O(1) instead
	 * of a scan of the directory, which would make building the tree of
	 * a payload tar with a million files in one directory quadratic.
	 * Nodes are never removed; detached ones are skipped. */
	uint64_t *names;
	size_t names_capacity, names_used;	/* a power of two */
	size_t *payload_synced;		/* entries already turned into nodes */

	unsigned flags;			/* MFS_TREE_* */
	pthread_mutex_t probe_lock;	/* one probe of contents/NNNN at once */
	struct tree_images images;	/* under lock; see tree_contents_i.h */
};

static struct node *node_at(struct mfs_tree *t, uint64_t ino)
{
	if (ino < 1 || ino > t->count)
		return NULL;
	return &t->nodes[ino - 1];
}

/* FNV-1a of the name, seeded with the directory's inode. */
static size_t name_hash(uint64_t dir, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (dir * 0x9e3779b97f4a7c15ull);

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 0x100000001b3ull;
	}
	return (size_t)(h ^ (h >> 32));
}

static void names_put(uint64_t *slots, size_t capacity, const struct node *n,
		      uint64_t ino)
{
	size_t i = name_hash(n->parent, n->name, strlen(n->name)) &
		   (capacity - 1);

	while (slots[i])
		i = (i + 1) & (capacity - 1);
	slots[i] = ino;
}

/* Indexes node ino by its parent and name.  Returns 0 or -ENOMEM. */
static int names_add(struct mfs_tree *t, uint64_t ino)
{
	if (2 * (t->names_used + 1) > t->names_capacity) {
		size_t cap = t->names_capacity ? 2 * t->names_capacity : 64;
		uint64_t *slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < t->names_capacity; i++)
			if (t->names[i])
				names_put(slots, cap, node_at(t, t->names[i]),
					  t->names[i]);
		free(t->names);
		t->names = slots;
		t->names_capacity = cap;
	}
	names_put(t->names, t->names_capacity, node_at(t, ino), ino);
	t->names_used++;
	return 0;
}

static uint64_t child_named(struct mfs_tree *t, uint64_t dir, const char *name,
			    size_t len)
{
	size_t mask = t->names_capacity - 1, i;

	if (!t->names_capacity)
		return 0;
	for (i = name_hash(dir, name, len) & mask; t->names[i];
	     i = (i + 1) & mask) {
		const struct node *n = node_at(t, t->names[i]);

		if (n->parent == dir && !n->detached &&
		    strncmp(n->name, name, len) == 0 && n->name[len] == '\0')
			return t->names[i];
	}
	return 0;
}

/* Appends a node under dir; returns its inode, or 0 without memory.  The
 * table may move: pointers into it are stale afterwards. */
static uint64_t node_add(struct mfs_tree *t, uint64_t dir, const char *name,
			 size_t len, enum node_kind kind)
{
	struct node *n, *d;
	uint64_t ino;

	if (t->count == t->capacity) {
		size_t cap = t->capacity ? t->capacity * 2 : 64;
		struct node *nodes = realloc(t->nodes, cap * sizeof(*nodes));

		if (!nodes)
			return 0;
		t->nodes = nodes;
		t->capacity = cap;
	}
	n = &t->nodes[t->count];
	memset(n, 0, sizeof(*n));
	n->name = strndup(name, len);
	if (!n->name)
		return 0;
	n->parent = dir ? dir : MFS_TREE_ROOT;
	n->kind = kind;
	n->perm = kind == NODE_DIR ? 0555 : 0444;
	n->mtime = t->artifact->file_mtime;
	ino = ++t->count;

	if (dir) {
		d = node_at(t, dir);
		if (d->child_count == d->child_capacity) {
			size_t cap = d->child_capacity ? d->child_capacity * 2 : 8;
			uint64_t *c = realloc(d->children, cap * sizeof(*c));

			if (!c) {
				free(t->nodes[--t->count].name);
				return 0;
			}
			d->children = c;
			d->child_capacity = cap;
		}
		if (names_add(t, ino) < 0) {
			free(t->nodes[--t->count].name);
			return 0;
		}
		d->children[d->child_count++] = ino;
	}
	return ino;
}

/* Takes a node out of its directory; its inode stays valid (the kernel
 * may still hold it) but no name leads to it any more. */
static void node_detach(struct mfs_tree *t, uint64_t ino)
{
	struct node *d = node_at(t, node_at(t, ino)->parent);

	node_at(t, ino)->detached = true;
	for (size_t i = 0; i < d->child_count; i++) {
		if (d->children[i] == ino) {
			memmove(&d->children[i], &d->children[i + 1],
				(d->child_count - i - 1) * sizeof(*d->children));
			d->child_count--;
			return;
		}
	}
}

/* Puts a detached node back in its directory. */
static int node_attach(struct mfs_tree *t, uint64_t ino)
{
	struct node *n = node_at(t, ino), *d = node_at(t, n->parent);

	if (d->child_count == d->child_capacity) {
		size_t cap = d->child_capacity ? d->child_capacity * 2 : 8;
		uint64_t *c = realloc(d->children, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		d->children = c;
		d->child_capacity = cap;
	}
	d->children[d->child_count++] = ino;
	n->detached = false;
	return 0;
}

/* Adds the file at path (relative to dir), creating the directories on
 * the way.  Returns the new inode, -EEXIST when the path is taken (or runs
 * through a file), or -ENOMEM.  The caller has checked path is safe. */
static int64_t path_add(struct mfs_tree *t, uint64_t dir, const char *path,
			enum node_kind kind)
{
	const char *p = path, *slash;

	while ((slash = strchr(p, '/'))) {
		uint64_t sub = child_named(t, dir, p, (size_t)(slash - p));

		if (!sub)
			sub = node_add(t, dir, p, (size_t)(slash - p), NODE_DIR);
		if (!sub)
			return -ENOMEM;
		if (node_at(t, sub)->kind != NODE_DIR)
			return -EEXIST;
		dir = sub;
		p = slash + 1;
	}
	uint64_t ino;

	if (child_named(t, dir, p, strlen(p)))
		return -EEXIST;
	ino = node_add(t, dir, p, strlen(p), kind);
	return ino ? (int64_t)ino : -ENOMEM;
}

/* Like path_add for directories, but an existing directory is fine. */
static int64_t dir_add(struct mfs_tree *t, uint64_t dir, const char *path)
{
	int64_t ino = path_add(t, dir, path, NODE_DIR);
	const char *base;
	uint64_t parent = dir;

	if (ino != -EEXIST)
		return ino;
	/* Find what is there; a file in the way is still a conflict. */
	for (base = path; strchr(base, '/'); base = strchr(base, '/') + 1)
		parent = child_named(t, parent, base,
				     (size_t)(strchr(base, '/') - base));
	ino = (int64_t)child_named(t, parent, base, strlen(base));
	return node_at(t, (uint64_t)ino)->kind == NODE_DIR ? ino : -EEXIST;
}

/* The index of the member a role names in a, or -1 when a has none. */
static ssize_t member_index(const struct mfs_artifact *a, enum member_role role,
			    size_t payload)
{
	switch (role) {
	case ROLE_VERSION:
		return a->m_version;
	case ROLE_MANIFEST:
		return a->m_manifest;
	case ROLE_MANIFEST_SIG:
		return a->m_manifest_sig;
	case ROLE_MANIFEST_AUGMENT:
		return a->m_manifest_augment;
	case ROLE_HEADER:
		return a->m_header;
	case ROLE_HEADER_AUGMENT:
		return a->m_header_augment;
	case ROLE_DATA:
		break;
	}
	return payload < a->payload_count ?
	       (ssize_t)a->payloads[payload].member : -1;
}

/* The mode a file from a tar shows: its permission bits less write and
 * set-id, plus read for everyone.  Execute bits are kept (a payload's
 * program is seen as one); with allow_other, default_permissions applies
 * the mode, and every user must be able to read what mender-artifact
 * writes 0600. */
static mode_t shown_perm(mode_t tar_mode)
{
	return (tar_mode & 0555) | 0444;
}

/* Copies a member's metadata into its node. */
static void member_attrs(struct node *n, const struct mfs_entry *m)
{
	n->perm = shown_perm(m->mode);
	n->mtime = m->mtime;
	n->size = m->size;
}

static int add_member(struct mfs_tree *t, enum member_role role,
		      size_t payload)
{
	ssize_t index = member_index(t->artifact, role, payload);
	const struct mfs_entry *m;
	struct node *n;
	int64_t ino;

	if (index < 0)
		return 0;
	m = &t->artifact->outer.members[index];
	ino = path_add(t, MFS_TREE_ROOT, m->name, NODE_MEMBER);
	if (ino < 0)
		return ino == -EEXIST ? 0 : (int)ino;
	n = node_at(t, (uint64_t)ino);
	n->role = role;
	n->payload = payload;
	member_attrs(n, m);
	return 0;
}

/* manifest.sig comes and goes with signing; its node stays, attached to
 * the root only while the artifact has the member. */
static int add_manifest_sig(struct mfs_tree *t)
{
	ssize_t index = t->artifact->m_manifest_sig;
	int64_t ino = path_add(t, MFS_TREE_ROOT, "manifest.sig", NODE_MEMBER);
	struct node *n;

	if (ino < 0)
		return (int)ino;
	t->manifest_sig_ino = (uint64_t)ino;
	n = node_at(t, (uint64_t)ino);
	n->role = ROLE_MANIFEST_SIG;
	if (index >= 0)
		member_attrs(n, &t->artifact->outer.members[index]);
	else
		node_detach(t, (uint64_t)ino);
	return 0;
}

static int add_header(struct mfs_tree *t, const char *dir_name,
		      const struct mfs_header *h)
{
	int64_t dir = dir_add(t, MFS_TREE_ROOT, dir_name);

	if (dir < 0)
		return (int)dir;
	for (size_t i = 0; i < h->count; i++) {
		const struct mfs_blob *b = &h->files[i];
		struct node *n;
		int64_t ino;

		if (!mfs_name_is_safe(b->name)) {
			mfs_artifact_note_malformed(t->artifact,
				"%s/: unsafe name not shown", dir_name);
			continue;
		}
		ino = path_add(t, (uint64_t)dir, b->name, NODE_BLOB);
		if (ino == -EEXIST) {
			mfs_artifact_note_malformed(t->artifact,
				"%s/%s appears twice", dir_name, b->name);
			continue;
		}
		if (ino < 0)
			return (int)ino;
		n = node_at(t, (uint64_t)ino);
		n->blob_index = i;
		n->blob_augment = h == &t->artifact->header_augment;
		n->perm = shown_perm(b->mode);
		n->mtime = b->mtime;
		n->size = b->size;
	}
	return 0;
}

/* Adds an unresolved payload file node for the tar entry name. */
static int64_t payload_add(struct mfs_tree *t, uint64_t dir, size_t p,
			   const char *name)
{
	int64_t ino = path_add(t, dir, name, NODE_PAYLOAD);
	struct node *n;

	if (ino < 0)
		return ino;
	n = node_at(t, (uint64_t)ino);
	n->payload = p;
	n->entry_name = strdup(name);
	return n->entry_name ? ino : -ENOMEM;
}

/* Adds the unresolved payload files that a manifest lists for payload p. */
static int add_listed_payload_files(struct mfs_tree *t, size_t p,
				    uint64_t dir, const struct mfs_manifest *m)
{
	const char *prefix = t->artifact->payloads[p].dir;
	size_t prefix_len = strlen(prefix);

	for (size_t i = 0; i < m->count; i++) {
		const char *name = m->lines[i].name;
		int64_t ino;

		if (strncmp(name, prefix, prefix_len) != 0 ||
		    name[prefix_len] != '/')
			continue;
		name += prefix_len + 1;
		if (!mfs_name_is_safe(name))
			continue;	/* the walk reports it if the tar has it */
		ino = payload_add(t, dir, p, name);
		if (ino == -EEXIST)
			continue;
		if (ino < 0)
			return (int)ino;
		node_at(t, (uint64_t)ino)->listed = true;
	}
	return 0;
}

/* The payload node the manifest made for path under dir, or 0. */
static uint64_t payload_node_at(struct mfs_tree *t, uint64_t dir,
				const char *path)
{
	const char *slash, *base;
	uint64_t ino;

	for (base = path; dir && (slash = strchr(base, '/')); base = slash + 1)
		dir = child_named(t, dir, base, (size_t)(slash - base));
	ino = dir ? child_named(t, dir, base, strlen(base)) : 0;
	return ino && node_at(t, ino)->kind == NODE_PAYLOAD ? ino : 0;
}

/* A tar entry that is not a regular file stands behind the name: a node
 * the manifest made for it would show a file the tar does not hold. */
static void hide_listed(struct mfs_tree *t, uint64_t dir, const char *path)
{
	uint64_t ino = payload_node_at(t, dir, path);

	if (ino && node_at(t, ino)->state == PAYLOAD_UNRESOLVED) {
		node_at(t, ino)->state = -ENOENT;
		node_detach(t, ino);
	}
}

/* Turns the payload entries the walk found since the last call into
 * nodes.  Called with the write lock held. */
static int sync_payload(struct mfs_tree *t, size_t p)
{
	struct mfs_payload *pl = &t->artifact->payloads[p];
	struct mfs_entry e;
	uint64_t dir;

	dir = child_named(t, MFS_TREE_ROOT, "data", 4);
	dir = dir ? child_named(t, dir, pl->dir + 5, strlen(pl->dir + 5)) : 0;
	if (!dir)
		return -ENOENT;
	while (mfs_payload_entry(pl, t->payload_synced[p], &e)) {
		uint64_t ino = 0;
		const char *slash, *base;
		uint64_t parent = dir;
		size_t index = t->payload_synced[p]++;
		struct node *n;

		if (!mfs_name_is_safe(e.name)) {
			mfs_artifact_note_malformed(t->artifact,
				"%s: unsafe name not shown", pl->dir);
			continue;
		}
		if (S_ISDIR(e.mode)) {
			int64_t added = dir_add(t, dir, e.name);

			if (added == -ENOMEM)
				return -ENOMEM;
			if (added < 0)
				hide_listed(t, dir, e.name);
			continue;
		}
		if (!S_ISREG(e.mode)) {
			mfs_artifact_note_malformed(t->artifact,
				"%s/%s is not a regular file; not shown",
				pl->dir, e.name);
			hide_listed(t, dir, e.name);
			continue;
		}
		/* Find the node the manifest made, if any. */
		for (base = e.name; parent && (slash = strchr(base, '/'));
		     base = slash + 1)
			parent = child_named(t, parent, base,
					     (size_t)(slash - base));
		if (parent)
			ino = child_named(t, parent, base, strlen(base));
		if (!ino) {
			int64_t added = payload_add(t, dir, p, e.name);

			if (added == -ENOMEM)
				return -ENOMEM;
			if (added < 0) {
				mfs_artifact_note_malformed(t->artifact,
					"%s/%s clashes with a directory",
					pl->dir, e.name);
				continue;
			}
			ino = (uint64_t)added;
		}
		n = node_at(t, ino);
		if (n->kind != NODE_PAYLOAD) {
			mfs_artifact_note_malformed(t->artifact,
				"%s/%s clashes with a directory", pl->dir, e.name);
			continue;
		}
		if (n->state == PAYLOAD_RESOLVED && n->offset == e.offset)
			continue;	/* seen again after a swap */
		/* Two entries, one name: the payload table marked both
		 * (mfs_payload_append), and neither is served. */
		if (n->state != PAYLOAD_UNRESOLVED ||
		    mfs_payload_entry_usable(pl, index) < 0) {
			n->state = -EIO;
			continue;
		}
		n->state = PAYLOAD_RESOLVED;
		n->entry = index;
		n->offset = e.offset;
		n->size = e.size;
		n->perm = shown_perm(e.mode);
		n->mtime = e.mtime;
	}
	return 0;
}

static int sync_all_payloads(struct mfs_tree *t)
{
	int ret = 0;

	pthread_rwlock_wrlock(&t->lock);
	for (size_t p = 0; p < t->artifact->payload_count && ret == 0; p++)
		ret = sync_payload(t, p);
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

/* contents/ and a contents/NNNN for each payload, whose files are looked
 * at only when someone looks into it (probe_contents). */
static int add_contents_dirs(struct mfs_tree *t)
{
	struct mfs_artifact *a = t->artifact;
	int64_t ino = path_add(t, MFS_TREE_ROOT, MFS_CONTENTS_NAME, NODE_DIR);

	if (ino < 0)
		return ino == -EEXIST ? 0 : (int)ino;
	for (size_t p = 0; p < a->payload_count; p++) {
		/* payloads[p].dir is "data/NNNN" */
		int64_t d = path_add(t, (uint64_t)ino, a->payloads[p].dir + 5,
				     NODE_DIR);

		if (d == -EEXIST)
			continue;
		if (d < 0)
			return (int)d;
		node_at(t, (uint64_t)d)->probe_pending = true;
		node_at(t, (uint64_t)d)->payload = p;
	}
	return 0;
}

/* Everything under the root (inode 1), for the artifact shown. */
static int populate_root(struct mfs_tree *t)
{
	struct mfs_artifact *a = t->artifact;
	int64_t ino;
	int ret = 0;

	ret = add_member(t, ROLE_VERSION, 0);
	if (!ret)
		ret = add_member(t, ROLE_MANIFEST, 0);
	if (!ret)
		ret = add_manifest_sig(t);
	for (enum member_role r = ROLE_MANIFEST_AUGMENT; r < ROLE_DATA && !ret; r++)
		ret = add_member(t, r, 0);
	for (size_t p = 0; p < a->payload_count && !ret; p++)
		ret = add_member(t, ROLE_DATA, p);
	if (!ret && a->m_header >= 0)
		ret = add_header(t, "header", &a->header);
	if (!ret && a->m_header_augment >= 0)
		ret = add_header(t, "header-augment", &a->header_augment);
	for (size_t p = 0; p < a->payload_count && !ret; p++) {
		ino = dir_add(t, MFS_TREE_ROOT, a->payloads[p].dir);
		if (ino < 0)
			return (int)ino;
		ret = add_listed_payload_files(t, p, (uint64_t)ino, &a->manifest);
		if (!ret)
			ret = add_listed_payload_files(t, p, (uint64_t)ino,
						       &a->manifest_augment);
		if (!ret)
			ret = sync_payload(t, p);
	}
	if (!ret && !(t->flags & MFS_TREE_NOCONTENTS))
		ret = add_contents_dirs(t);
	if (ret)
		return ret;
	ino = path_add(t, MFS_TREE_ROOT, MFS_SIGNATURE_NAME, NODE_SIGNATURE);
	if (ino < 0)
		return (int)ino;
	node_at(t, (uint64_t)ino)->perm = 0644;
	ino = path_add(t, MFS_TREE_ROOT, MFS_VERIFY_NAME, NODE_VERIFY);
	return ino < 0 ? (int)ino : 0;
}

static int tree_populate(struct mfs_tree *t)
{
	if (!node_add(t, 0, "", 0, NODE_DIR))
		return -ENOMEM;
	return populate_root(t);
}

int mfs_tree_build(struct mfs_artifact *a, struct mfs_tree **out)
{
	return mfs_tree_build_flags(a, 0, out);
}

int mfs_tree_build_flags(struct mfs_artifact *a, unsigned flags,
			 struct mfs_tree **out)
{
	struct mfs_tree *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	pthread_rwlockattr_t attr;

	t->artifact = a;
	t->flags = flags;
	pthread_mutex_init(&t->probe_lock, NULL);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->swap_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_rwlock_init(&t->lock, NULL);
	t->payload_synced = calloc(a->payload_count + 1,
				   sizeof(*t->payload_synced));
	ret = t->payload_synced ? tree_populate(t) : -ENOMEM;
	if (ret < 0) {
		mfs_tree_destroy(t);
		return ret;
	}
	*out = t;
	return 0;
}

void mfs_tree_destroy(struct mfs_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count; i++) {
		free(t->nodes[i].name);
		free(t->nodes[i].entry_name);
		free(t->nodes[i].children);
	}
	free(t->nodes);
	free(t->names);
	free(t->payload_synced);
	tree_images_destroy(&t->images);
	pthread_mutex_destroy(&t->probe_lock);
	pthread_rwlock_destroy(&t->lock);
	pthread_rwlock_destroy(&t->swap_lock);
	free(t);
}

/* Makes a payload node's offset and size known, walking its tar as far as
 * needed.  Returns 0 or a negative errno (-ENOENT: the tar lacks it). */
static int resolve_payload(struct mfs_tree *t, uint64_t ino)
{
	struct mfs_payload *pl;
	const char *entry_name;
	struct mfs_entry e;
	int state, found;
	struct node *n;
	size_t index;

	pthread_rwlock_rdlock(&t->lock);
	n = node_at(t, ino);
	state = n->state;
	index = n->entry;
	pl = &t->artifact->payloads[n->payload];
	entry_name = n->entry_name;	/* heap string: stable while we walk */
	pthread_rwlock_unlock(&t->lock);
	/* A second copy the walk met since makes a resolved name EIO. */
	if (state == PAYLOAD_RESOLVED)
		return mfs_payload_entry_usable(pl, index);
	if (state != PAYLOAD_UNRESOLVED)
		return state;

	found = mfs_payload_find(pl, entry_name, &e);
	pthread_rwlock_wrlock(&t->lock);
	if (sync_payload(t, (size_t)(pl - t->artifact->payloads)) == -ENOMEM)
		found = -ENOMEM;
	n = node_at(t, ino);
	if (n->state == PAYLOAD_UNRESOLVED && found >= 0)
		n->state = -ENOENT;	/* not in the tar, or not a file there */
	else if (n->state == PAYLOAD_UNRESOLVED && found < 0 && found != -ENOMEM)
		n->state = -EIO;	/* the tar breaks before it */
	state = n->state;
	pthread_rwlock_unlock(&t->lock);
	if (found == -ENOMEM)
		return -ENOMEM;
	return state < 0 ? state : 0;
}

static ssize_t read_payload(struct mfs_tree *t, uint64_t ino, uint8_t *buf,
			    size_t len, uint64_t off);

/*
 * contents/.  An image's bytes are read the way its payload file is read
 * (read_payload), so a duplicate name's EIO and a change on disk apply
 * inside it too.
 */
static ssize_t image_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct tree_image *img = ctx;
	struct mfs_tree *t = img->tree;
	bool stale;

	pthread_rwlock_rdlock(&t->lock);
	stale = node_at(t, img->file_ino)->stale;
	pthread_rwlock_unlock(&t->lock);
	if (stale)
		return -EIO;
	return read_payload(t, img->file_ino, buf, len, off);
}

/* The listed files of payload p, whose names contents/NNNN may show. */
static uint64_t *listed_files(struct mfs_tree *t, size_t p, size_t *count)
{
	uint64_t *files = malloc((t->count + 1) * sizeof(*files));

	*count = 0;
	if (!files)
		return NULL;
	for (size_t i = 0; i < t->count; i++) {
		const struct node *n = &t->nodes[i];

		if (n->kind == NODE_PAYLOAD && n->listed && n->payload == p &&
		    !n->stale && !n->detached)
			files[(*count)++] = i + 1;
	}
	return files;
}

/* Tells which payload files of contents/NNNN (dir) hold an image, from
 * their first bytes, on the first look into it; the images themselves
 * are opened when someone looks into them.  Returns 0 or -ENOMEM. */
static int probe_contents(struct mfs_tree *t, uint64_t dir)
{
	uint64_t *files = NULL;
	size_t count = 0, p;
	struct node *d;
	bool pending;
	int ret = 0;

	pthread_mutex_lock(&t->probe_lock);
	pthread_rwlock_rdlock(&t->lock);
	d = node_at(t, dir);
	pending = d->probe_pending && !d->stale;
	p = d->payload;
	if (pending)
		files = listed_files(t, p, &count);
	pthread_rwlock_unlock(&t->lock);
	if (!pending)
		goto out;
	if (!files) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count && ret == 0; i++) {
		struct tree_image probe = { .tree = t, .file_ino = files[i] };
		int64_t ino;
		size_t slot;
		int kind;

		/* A file that cannot be read has no contents to show. */
		if (resolve_payload(t, files[i]) < 0)
			continue;
		pthread_rwlock_rdlock(&t->lock);
		probe.src.size = node_at(t, files[i])->size;
		pthread_rwlock_unlock(&t->lock);
		probe.src.ctx = &probe;
		probe.src.pread = image_pread;
		kind = mfs_contents_probe(&probe.src);
		if (kind <= 0)
			continue;

		pthread_rwlock_wrlock(&t->lock);
		slot = tree_images_add(&t->images, t, files[i], probe.src.size,
				       (enum mfs_contents_kind)kind,
				       image_pread);
		ino = slot ? path_add(t, dir, node_at(t, files[i])->entry_name,
				      NODE_IMAGE) : -ENOMEM;
		if (ino > 0) {
			struct node *n = node_at(t, (uint64_t)ino);

			n->image = slot;
			n->perm = 0555;
			n->mtime = node_at(t, files[i])->mtime;
			tree_images_at(&t->images, slot)->root_ino =
				(uint64_t)ino;
		}
		if (ino == -ENOMEM)
			ret = -ENOMEM;
		pthread_rwlock_unlock(&t->lock);
	}
	if (ret == 0) {
		pthread_rwlock_wrlock(&t->lock);
		node_at(t, dir)->probe_pending = false;
		pthread_rwlock_unlock(&t->lock);
	}
out:
	pthread_mutex_unlock(&t->probe_lock);
	free(files);
	return ret;
}

/* Probes dir first when it is a contents/NNNN not yet looked into. */
static int probe_if_pending(struct mfs_tree *t, uint64_t dir)
{
	struct node *d;
	bool pending;

	pthread_rwlock_rdlock(&t->lock);
	d = node_at(t, dir);
	pending = d && d->probe_pending;
	pthread_rwlock_unlock(&t->lock);
	return pending ? probe_contents(t, dir) : 0;
}

/* The image behind ino (a node inside one, or an image's root) and the
 * reader's node, or 1 when ino is no part of an image.  Opens the image
 * on first use.  Returns 0, 1 or a negative errno. */
static int image_node(struct mfs_tree *t, uint64_t ino, struct tree_image **img,
		      struct mfs_contents **c, uint64_t *node)
{
	size_t slot = 0;
	bool root = false;
	int ret;

	pthread_rwlock_rdlock(&t->lock);
	if (tree_contents_is_ino(ino)) {
		slot = tree_contents_slot(ino);
	} else {
		struct node *n = node_at(t, ino);

		if (n && n->kind == NODE_IMAGE) {
			slot = n->image;
			root = true;
		}
	}
	*img = slot ? tree_images_at(&t->images, slot) : NULL;
	pthread_rwlock_unlock(&t->lock);
	if (!slot)
		return 1;
	if (!*img)
		return -ENOENT;
	ret = tree_image_handle(*img, c);
	if (ret < 0)
		return ret;
	*node = root ? mfs_contents_root(*c) : tree_contents_node(ino);
	return 0;
}

/* The inode a reader's node shows as: the image's root is its tree node. */
static uint64_t image_ino(struct mfs_tree *t, struct tree_image *img,
			  struct mfs_contents *c, uint64_t node)
{
	if (node == mfs_contents_root(c))
		return img->root_ino;
	return tree_contents_ino(img->slot, node);
}

static int image_lookup(struct mfs_tree *t, uint64_t dir, const char *name,
			uint64_t *ino)
{
	struct tree_image *img;
	struct mfs_contents *c;
	uint64_t node, found;
	int ret = image_node(t, dir, &img, &c, &node);

	if (ret == 0)
		ret = mfs_contents_lookup(c, node, name, &found);
	if (ret == 0)
		*ino = image_ino(t, img, c, found);
	return ret;
}

static int tree_lookup(struct mfs_tree *t, uint64_t dir, const char *name,
		    uint64_t *ino)
{
	struct node *d;
	uint64_t found = 0;
	int ret;

	ret = image_lookup(t, dir, name, ino);
	if (ret <= 0)
		return ret;
	ret = probe_if_pending(t, dir);
	if (ret < 0)
		return ret;
	pthread_rwlock_rdlock(&t->lock);
	d = node_at(t, dir);
	if (!d)
		ret = -ENOENT;
	else if (d->stale)
		ret = -ESTALE;
	else if (d->kind != NODE_DIR)
		ret = -ENOTDIR;
	else
		found = child_named(t, dir, name, strlen(name));
	pthread_rwlock_unlock(&t->lock);
	if (ret == 0 && !found) {
		/* A walk may have found it since the last listing. */
		sync_all_payloads(t);
		pthread_rwlock_rdlock(&t->lock);
		found = child_named(t, dir, name, strlen(name));
		pthread_rwlock_unlock(&t->lock);
	}
	if (ret == 0 && !found)
		ret = -ENOENT;
	if (ret == 0)
		*ino = found;
	return ret;
}

/* A node inside an image: its own attributes, under the mount's inode. */
static int image_getattr(struct mfs_tree *t, uint64_t ino, struct stat *st)
{
	struct tree_image *img;
	struct mfs_contents *c;
	uint64_t node;
	int ret;

	if (!tree_contents_is_ino(ino))
		return 1;
	ret = image_node(t, ino, &img, &c, &node);
	if (ret == 0)
		ret = mfs_contents_getattr(c, node, st);
	if (ret == 0)
		st->st_ino = ino;
	return ret;
}

static bool is_dir(const struct node *n)
{
	return n->kind == NODE_DIR || n->kind == NODE_IMAGE;
}

static int tree_getattr(struct mfs_tree *t, uint64_t ino, struct stat *st)
{
	struct node *n;
	int ret;

	/* An image's root shows as a directory of the tree, so that
	 * listing contents/NNNN opens nothing. */
	ret = image_getattr(t, ino, st);
	if (ret <= 0)
		return ret;
	ret = 0;
	pthread_rwlock_rdlock(&t->lock);
	n = node_at(t, ino);
	if (n && n->stale)
		ret = -ESTALE;
	else if (!n || n->detached)
		ret = -ENOENT;
	else if (n->kind == NODE_PAYLOAD)
		ret = 1;	/* unresolved, or a duplicate found since */
	pthread_rwlock_unlock(&t->lock);
	if (ret == 1)
		ret = resolve_payload(t, ino);
	if (ret < 0)
		return ret;

	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&t->lock);
	n = node_at(t, ino);
	st->st_ino = ino;
	st->st_mode = n->perm | (is_dir(n) ? S_IFDIR : S_IFREG);
	st->st_nlink = is_dir(n) ? 2 : 1;
	/* And each subdirectory's "..", as find and du expect. */
	for (size_t i = 0; is_dir(n) && i < n->child_count; i++)
		if (is_dir(node_at(t, n->children[i])))
			st->st_nlink++;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = is_dir(n) ? 0 : (off_t)n->size;
	if (n->kind == NODE_SIGNATURE && t->artifact->m_manifest_sig >= 0)
		st->st_size = (off_t)t->artifact->outer.members[
					t->artifact->m_manifest_sig].size;
	st->st_blksize = 4096;
	st->st_blocks = is_dir(n) ? 0 : (blkcnt_t)((n->size + 511) / 512);
	st->st_mtime = st->st_ctime = st->st_atime = (time_t)n->mtime;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

static int image_child(struct mfs_tree *t, uint64_t dir, size_t i,
		       uint64_t *ino, mode_t *type, char *name)
{
	struct tree_image *img;
	struct mfs_contents *c;
	uint64_t node, child;
	int ret = image_node(t, dir, &img, &c, &node);

	if (ret != 0)
		return ret;
	ret = mfs_contents_readdir(c, node, i, name, &child, type);
	if (ret == 1)
		*ino = image_ino(t, img, c, child);
	return ret == 1 ? 2 : ret;
}

static int tree_child(struct mfs_tree *t, uint64_t dir, size_t i, uint64_t *ino,
		   mode_t *type, char *name)
{
	struct node *d;
	int ret;

	ret = image_child(t, dir, i, ino, type, name);
	if (ret != 1)
		return ret == 2 ? 1 : ret;
	ret = probe_if_pending(t, dir);
	if (ret < 0)
		return ret;
	if (i == 0)
		sync_all_payloads(t);
	pthread_rwlock_rdlock(&t->lock);
	d = node_at(t, dir);
	if (!d) {
		ret = -ENOENT;
	} else if (d->stale) {
		ret = -ESTALE;
	} else if (d->kind != NODE_DIR) {
		ret = -ENOTDIR;
	} else if (i < d->child_count) {
		*ino = d->children[i];
		*type = is_dir(&t->nodes[*ino - 1]) ? S_IFDIR : S_IFREG;
		strncpy(name, t->nodes[*ino - 1].name, NAME_MAX);
		name[NAME_MAX] = '\0';
		ret = 1;
	}
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

static ssize_t read_payload(struct mfs_tree *t, uint64_t ino, uint8_t *buf,
			    size_t len, uint64_t off)
{
	struct mfs_stream *stream;
	uint64_t offset, size;
	size_t done = 0;
	struct node *n;
	int ret;

	ret = resolve_payload(t, ino);
	if (ret < 0)
		return ret;
	pthread_rwlock_rdlock(&t->lock);
	n = node_at(t, ino);
	stream = t->artifact->payloads[n->payload].stream;
	offset = n->offset;
	size = n->size;
	/* The background pass steps aside while users read (pass.h). */
	mfs_payload_note_read(&t->artifact->payloads[n->payload]);
	pthread_rwlock_unlock(&t->lock);

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	while (done < len) {
		ssize_t got = mfs_stream_pread(stream, buf + done, len - done,
					       offset + off + done);
		/* FUSE takes a short read for the end of the file, so a
		 * file the stream cannot deliver whole fails, never shrinks. */
		if (got < 0)
			return got;
		if (got == 0)	/* the stream ends inside the file */
			return -EIO;
		done += (size_t)got;
	}
	return (ssize_t)done;
}


static ssize_t tree_read(struct mfs_tree *t, uint64_t ino, void *buf, size_t len,
		      uint64_t off)
{
	struct mfs_artifact *a = t->artifact;
	enum node_kind kind;
	const struct mfs_blob *blob;
	ssize_t member;
	struct node *n;

	if (tree_contents_is_ino(ino)) {
		struct tree_image *img;
		struct mfs_contents *c;
		uint64_t node;
		int ret = image_node(t, ino, &img, &c, &node);

		/* Opened before the file changed on disk, as below. */
		if (ret < 0)
			return ret == -ESTALE ? -EIO : ret;
		return mfs_contents_read(c, node, buf, len, off);
	}
	pthread_rwlock_rdlock(&t->lock);
	n = node_at(t, ino);
	if (!n || n->stale) {
		/* Opened before the file changed on disk: neither the old
		 * bytes (gone) nor the new ones (another file). */
		pthread_rwlock_unlock(&t->lock);
		return n ? -EIO : -ENOENT;
	}
	kind = n->kind;
	blob = NULL;
	if (kind == NODE_BLOB) {
		const struct mfs_header *h = n->blob_augment ?
					     &a->header_augment : &a->header;

		if (n->blob_index < h->count)
			blob = &h->files[n->blob_index];
	}
	member = member_index(a, n->role, n->payload);
	pthread_rwlock_unlock(&t->lock);

	switch (kind) {
	case NODE_DIR:
	case NODE_IMAGE:
		return -EISDIR;
	case NODE_VERIFY:
		return -EINVAL;	/* the daemon serves it */
	case NODE_MEMBER:
		if (member < 0)
			return -ENOENT;
		return mfs_artifact_read_member(a, (size_t)member, buf, len, off);
	case NODE_SIGNATURE:
		if (a->m_manifest_sig < 0)
			return 0;
		return mfs_artifact_read_member(a, (size_t)a->m_manifest_sig,
						buf, len, off);
	case NODE_BLOB:
		if (!blob)
			return -EIO;	/* a rewrite lost it: cannot happen */
		if (off >= blob->size)
			return 0;
		if (len > blob->size - off)
			len = (size_t)(blob->size - off);
		memcpy(buf, blob->data + off, len);
		return (ssize_t)len;
	case NODE_PAYLOAD:
		break;
	}
	return read_payload(t, ino, buf, len, off);
}

enum mfs_virtual mfs_tree_virtual(struct mfs_tree *t, uint64_t ino)
{
	enum mfs_virtual v = MFS_VIRTUAL_NONE;
	struct node *n;

	pthread_rwlock_rdlock(&t->lock);
	n = node_at(t, ino);
	if (n && n->kind == NODE_SIGNATURE)
		v = MFS_VIRTUAL_SIGNATURE;
	else if (n && n->kind == NODE_VERIFY)
		v = MFS_VIRTUAL_VERIFY;
	pthread_rwlock_unlock(&t->lock);
	return v;
}

int mfs_tree_is_writable(struct mfs_tree *t, uint64_t ino)
{
	return mfs_tree_virtual(t, ino) == MFS_VIRTUAL_SIGNATURE;
}

/* Public calls hold the swap lock shared for their whole length, so the
 * artifact they use cannot be closed under them. */
int mfs_tree_lookup(struct mfs_tree *t, uint64_t dir, const char *name,
		    uint64_t *ino)
{
	int ret;

	pthread_rwlock_rdlock(&t->swap_lock);
	ret = tree_lookup(t, dir, name, ino);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret;
}

int mfs_tree_getattr(struct mfs_tree *t, uint64_t ino, struct stat *st)
{
	int ret;

	pthread_rwlock_rdlock(&t->swap_lock);
	ret = tree_getattr(t, ino, st);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret;
}

int mfs_tree_child(struct mfs_tree *t, uint64_t dir, size_t i, uint64_t *ino,
		   mode_t *type, char *name)
{
	int ret;

	pthread_rwlock_rdlock(&t->swap_lock);
	ret = tree_child(t, dir, i, ino, type, name);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret;
}

ssize_t mfs_tree_read(struct mfs_tree *t, uint64_t ino, void *buf, size_t len,
		      uint64_t off)
{
	ssize_t ret;

	pthread_rwlock_rdlock(&t->swap_lock);
	ret = tree_read(t, ino, buf, len, off);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret;
}

/* The calls only nodes inside an image answer.  For the tree's own
 * nodes: no symlinks, no extended attributes, no statfs of their own. */
ssize_t mfs_tree_readlink(struct mfs_tree *t, uint64_t ino, char *buf,
			  size_t len)
{
	struct tree_image *img;
	struct mfs_contents *c;
	uint64_t node;
	ssize_t ret;

	pthread_rwlock_rdlock(&t->swap_lock);
	ret = image_node(t, ino, &img, &c, &node);
	if (ret == 0)
		ret = mfs_contents_readlink(c, node, buf, len);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret == 1 ? -EINVAL : ret;
}

ssize_t mfs_tree_listxattr(struct mfs_tree *t, uint64_t ino, char *buf,
			   size_t len)
{
	struct tree_image *img;
	struct mfs_contents *c;
	uint64_t node;
	ssize_t ret;

	pthread_rwlock_rdlock(&t->swap_lock);
	ret = image_node(t, ino, &img, &c, &node);
	if (ret == 0)
		ret = mfs_contents_listxattr(c, node, buf, len);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret == 1 ? 0 : ret;
}

ssize_t mfs_tree_getxattr(struct mfs_tree *t, uint64_t ino, const char *name,
			  void *buf, size_t len)
{
	struct tree_image *img;
	struct mfs_contents *c;
	uint64_t node;
	ssize_t ret;

	pthread_rwlock_rdlock(&t->swap_lock);
	ret = image_node(t, ino, &img, &c, &node);
	if (ret == 0)
		ret = mfs_contents_getxattr(c, node, name, buf, len);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret == 1 ? -ENODATA : ret;
}

int mfs_tree_statfs(struct mfs_tree *t, uint64_t ino, struct statvfs *st)
{
	struct tree_image *img;
	struct mfs_contents *c;
	uint64_t node;
	int ret;

	pthread_rwlock_rdlock(&t->swap_lock);
	ret = image_node(t, ino, &img, &c, &node);
	if (ret == 0)
		ret = mfs_contents_statfs(c, st);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret;
}

int mfs_tree_is_mutable(struct mfs_tree *t, uint64_t ino)
{
	return ino == t->manifest_sig_ino ||
	       mfs_tree_virtual(t, ino) != MFS_VIRTUAL_NONE;
}

struct mfs_artifact *mfs_tree_pin(struct mfs_tree *t, uint64_t *generation)
{
	pthread_rwlock_rdlock(&t->swap_lock);
	if (generation)
		*generation = t->generation;
	return t->artifact;
}

void mfs_tree_unpin(struct mfs_tree *t)
{
	pthread_rwlock_unlock(&t->swap_lock);
}

uint64_t mfs_tree_generation(struct mfs_tree *t)
{
	uint64_t g;

	pthread_rwlock_rdlock(&t->swap_lock);
	g = t->generation;
	pthread_rwlock_unlock(&t->swap_lock);
	return g;
}

/* Member i of a, counting past manifest.sig: the members a rewrite of
 * the signature keeps. */
static const struct mfs_entry *kept_member(const struct mfs_artifact *a,
					   size_t i)
{
	for (size_t j = 0; j < a->outer.count; j++) {
		if ((ssize_t)j == a->m_manifest_sig ||
		    strcmp(a->outer.members[j].name, "manifest.sig") == 0)
			continue;
		if (i-- == 0)
			return &a->outer.members[j];
	}
	return NULL;
}

static bool same_headers(const struct mfs_header *x, const struct mfs_header *y)
{
	if (x->count != y->count)
		return false;
	for (size_t i = 0; i < x->count; i++)
		if (strcmp(x->files[i].name, y->files[i].name) != 0 ||
		    x->files[i].size != y->files[i].size)
			return false;
	return true;
}

/* b is a rewrite of a's signature: every member but manifest.sig has
 * the same name, size and time, in the same order, and the manifest and
 * the header files are the same.  The nodes were built for a, and say so
 * to the kernel, which caches them. */
static bool same_layout(const struct mfs_artifact *a,
			const struct mfs_artifact *b)
{
	const struct mfs_entry *x, *y;

	if (a->version != b->version || a->payload_count != b->payload_count ||
	    a->manifest_len != b->manifest_len ||
	    (a->manifest_len && memcmp(a->manifest_bytes, b->manifest_bytes,
				       a->manifest_len) != 0) ||
	    !same_headers(&a->header, &b->header) ||
	    !same_headers(&a->header_augment, &b->header_augment))
		return false;
	for (size_t i = 0;; i++) {
		x = kept_member(a, i);
		y = kept_member(b, i);
		if (!x || !y)
			return !x && !y;
		if (strcmp(x->name, y->name) != 0 || x->size != y->size ||
		    x->mtime != y->mtime)
			return false;
	}
}

int mfs_tree_swap(struct mfs_tree *t, struct mfs_artifact *a,
		  struct mfs_artifact **old)
{
	struct node *n;
	ssize_t sig;
	int ret = 0;

	pthread_rwlock_wrlock(&t->swap_lock);
	pthread_rwlock_wrlock(&t->lock);
	if (!same_layout(t->artifact, a)) {
		ret = -EIO;
		goto out;
	}
	*old = t->artifact;
	t->artifact = a;
	t->generation++;
	/* Same bytes, so the readers number the nodes the same way when
	 * they open them again over the new artifact. */
	tree_images_close(&t->images, false);
	/* The new artifact walks its payloads afresh; entries it finds
	 * again match the resolved nodes by offset.  Same payload count
	 * (same_layout), so the table keeps its size. */
	memset(t->payload_synced, 0, (a->payload_count + 1) *
	       sizeof(*t->payload_synced));
	n = node_at(t, t->manifest_sig_ino);
	sig = a->m_manifest_sig;
	if (sig >= 0)
		member_attrs(n, &a->outer.members[sig]);
	if (sig >= 0 && n->detached)
		node_attach(t, t->manifest_sig_ino);
	else if (sig < 0 && !n->detached)
		node_detach(t, t->manifest_sig_ino);
out:
	pthread_rwlock_unlock(&t->lock);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret;
}

int mfs_tree_replace(struct mfs_tree *t, struct mfs_artifact *a,
		     struct mfs_artifact **old)
{
	size_t *synced = calloc(a->payload_count + 1, sizeof(*synced));
	struct node *root;
	int ret;

	pthread_rwlock_wrlock(&t->swap_lock);
	pthread_rwlock_wrlock(&t->lock);
	*old = t->artifact;
	t->artifact = a;
	t->generation++;
	/* Every node but the root goes stale and out of every directory;
	 * the root gets the new artifact's nodes, under fresh inodes, so
	 * nothing the kernel cached of the old ones can show them. */
	for (size_t i = 1; i < t->count; i++) {
		t->nodes[i].stale = true;
		t->nodes[i].detached = true;
	}
	tree_images_close(&t->images, true);
	root = node_at(t, MFS_TREE_ROOT);
	root->child_count = 0;
	root->mtime = a->file_mtime;
	/* Sized for the new artifact's payloads, however many. */
	free(t->payload_synced);
	t->payload_synced = synced;
	ret = synced ? populate_root(t) : -ENOMEM;
	pthread_rwlock_unlock(&t->lock);
	pthread_rwlock_unlock(&t->swap_lock);
	return ret;
}
