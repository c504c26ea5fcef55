/*
 * The images of contents/ (tree_contents_i.h): a table of slots that only
 * grows, each opened once when someone first looks inside.
 */
#include <errno.h>
#include <stdlib.h>

#include "artifact/tree_contents_i.h"

size_t tree_images_add(struct tree_images *im, void *tree, uint64_t file_ino,
		       uint64_t size, enum mfs_contents_kind kind,
		       ssize_t (*pread)(void *, void *, size_t, uint64_t))
{
	struct tree_image *img;

	if (im->count >= MFS_CONTENTS_SLOT_MAX)
		return 0;
	if (im->count == im->capacity) {
		size_t cap = im->capacity ? 2 * im->capacity : 8;
		struct tree_image **slots = realloc(im->slots,
						    cap * sizeof(*slots));

		if (!slots)
			return 0;
		im->slots = slots;
		im->capacity = cap;
	}
	img = calloc(1, sizeof(*img));
	if (!img)
		return 0;
	img->tree = tree;
	img->slot = im->count + 1;
	img->file_ino = file_ino;
	img->kind = kind;
	img->src.ctx = img;
	img->src.size = size;
	img->src.pread = pread;
	pthread_mutex_init(&img->lock, NULL);
	im->slots[im->count++] = img;
	return im->count;
}

struct tree_image *tree_images_at(struct tree_images *im, size_t slot)
{
	if (slot < 1 || slot > im->count)
		return NULL;
	return im->slots[slot - 1];
}

int tree_image_handle(struct tree_image *img, struct mfs_contents **c)
{
	struct mfs_contents *h;
	int ret = 0;

	/* Every read comes here: once open, no lock.  The handle is
	 * closed, and stale set, only while no call runs (the tree's swap
	 * lock held exclusively). */
	h = __atomic_load_n(&img->c, __ATOMIC_ACQUIRE);
	if (h && !img->stale) {
		*c = h;
		return 0;
	}
	pthread_mutex_lock(&img->lock);
	if (img->stale)
		ret = -ESTALE;
	else if (img->err)
		ret = img->err;
	else if (!img->c) {
		ret = mfs_contents_open(&img->src, img->kind, &h, NULL, 0);
		if (ret == 0)
			__atomic_store_n(&img->c, h, __ATOMIC_RELEASE);
	}
	/* A refusal stays: the bytes do not change under a shown artifact.
	 * Running out of memory may pass. */
	if (ret < 0 && ret != -ESTALE && ret != -ENOMEM && !img->err)
		img->err = ret == -EINVAL ? -EIO : ret;
	if (ret == -EINVAL)
		ret = -EIO;
	if (ret == 0)
		*c = img->c;
	pthread_mutex_unlock(&img->lock);
	return ret;
}

void tree_images_close(struct tree_images *im, bool stale)
{
	for (size_t i = 0; i < im->count; i++) {
		struct tree_image *img = im->slots[i];

		pthread_mutex_lock(&img->lock);
		mfs_contents_close(img->c);
		img->c = NULL;
		if (stale)
			img->stale = true;
		else
			img->err = 0;	/* the new artifact's bytes decide */
		pthread_mutex_unlock(&img->lock);
	}
}

void tree_images_destroy(struct tree_images *im)
{
	for (size_t i = 0; i < im->count; i++) {
		mfs_contents_close(im->slots[i]->c);
		pthread_mutex_destroy(&im->slots[i]->lock);
		free(im->slots[i]);
	}
	free(im->slots);
	im->slots = NULL;
	im->count = im->capacity = 0;
}
