/*
 * The on-disk cache of decoded spans; see span_cache.h.
 *
 * The file is an array of slots, MFS_SPAN_SIZE bytes each; a slot holds
 * one span.  A hash table finds the slot of (stream id, span index) and
 * an LRU list orders the held spans for eviction.  The lock guards only
 * this bookkeeping: reads and writes of the file happen outside it, on
 * slots that the bookkeeping keeps from being reused meanwhile.  A put
 * owns its slot alone while it writes (SLOT_WRITING, which gets treat as
 * a miss), and a get pins the slot it reads, so eviction passes it over
 * and a forget only marks it (SLOT_DOOMED) for the last reader to drop.
 */
#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc64.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "artifact/span_cache.h"

/* Integrity hashes cover chunks rather than whole spans, so a small read
 * reads and hashes one or two chunks instead of a whole MiB. */
#define CHUNK		(16 * 1024)
#define CHUNKS		(MFS_SPAN_SIZE / CHUNK)

#define TABLE_MIN	64

#define RESERVE_DEFAULT	(-1)	/* the larger of the two in span_cache.h */
#define NO_CHECK	(-2)

enum slot_state {
	SLOT_FREE,	/* on the free list, holds no span */
	SLOT_WRITING,	/* in the table; its put is writing it */
	SLOT_READY,	/* in the table and on the LRU list */
	SLOT_DOOMED,	/* out of both; dropped when its user leaves */
	SLOT_PUNCHING,	/* its disk space is being returned */
};

struct slot {
	uint64_t id, index;	/* the span it holds (not FREE) */
	uint64_t number;	/* its place in the file, in spans */
	uint32_t len;		/* of the span */
	uint32_t pins;		/* gets reading it now */
	enum slot_state state;
	uint64_t extent;	/* bytes of its region that may be allocated */
	struct slot *hnext;	/* in its hash bucket */
	struct slot *prev, *next; /* LRU list; next alone on the free list */
	uint64_t crc[CHUNKS];	/* of each chunk of the span */
};

struct mfs_span_cache {
	pthread_mutex_t lock;
	int fd;
	uint64_t max_slots;	/* the budget, in whole spans */
	struct slot **slots;	/* every slot made so far, by number */
	uint64_t nslots, slots_cap;
	struct slot **table;
	size_t table_size;	/* a power of two */
	struct slot *lru_head, *lru_tail; /* most recently used first */
	struct slot *free;
	uint64_t last_id;
	uint64_t growing;	/* bytes puts are adding to the file now */
	int64_t reserve;	/* RESERVE_DEFAULT, NO_CHECK or bytes */
	struct mfs_span_cache_stats stats;
};

static size_t bucket(const struct mfs_span_cache *c, uint64_t id,
		     uint64_t index)
{
	uint64_t h = (id * 0x9e3779b97f4a7c15ULL) ^
		     (index * 0xc2b2ae3d27d4eb4fULL);

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return (size_t)h & (c->table_size - 1);
}

static struct slot *lookup(const struct mfs_span_cache *c, uint64_t id,
			   uint64_t index)
{
	struct slot *s = c->table[bucket(c, id, index)];

	while (s && (s->id != id || s->index != index))
		s = s->hnext;
	return s;
}

static void table_insert(struct mfs_span_cache *c, struct slot *s)
{
	struct slot **head = &c->table[bucket(c, s->id, s->index)];

	s->hnext = *head;
	*head = s;
}

static void table_remove(struct mfs_span_cache *c, struct slot *s)
{
	struct slot **p = &c->table[bucket(c, s->id, s->index)];

	while (*p != s)
		p = &(*p)->hnext;
	*p = s->hnext;
	s->hnext = NULL;
}

/* Keeps the load at one slot per bucket or less; a failed allocation
 * only leaves the chains longer. */
static void table_grow(struct mfs_span_cache *c)
{
	struct slot **old = c->table;
	size_t old_size = c->table_size;
	struct slot **table = calloc(old_size * 2, sizeof(*table));

	if (!table)
		return;
	c->table = table;
	c->table_size = old_size * 2;
	for (size_t b = 0; b < old_size; b++) {
		struct slot *s = old[b], *next;

		for (; s; s = next) {
			next = s->hnext;
			table_insert(c, s);
		}
	}
	free(old);
}

static void lru_unlink(struct mfs_span_cache *c, struct slot *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->lru_head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		c->lru_tail = s->prev;
	s->prev = s->next = NULL;
}

static void lru_push(struct mfs_span_cache *c, struct slot *s)
{
	s->prev = NULL;
	s->next = c->lru_head;
	if (c->lru_head)
		c->lru_head->prev = s;
	else
		c->lru_tail = s;
	c->lru_head = s;
}

static void lru_touch(struct mfs_span_cache *c, struct slot *s)
{
	if (c->lru_head != s) {
		lru_unlink(c, s);
		lru_push(c, s);
	}
}

static void free_push(struct mfs_span_cache *c, struct slot *s)
{
	s->state = SLOT_FREE;
	s->id = 0;
	s->next = c->free;
	c->free = s;
}

/* A slot past the end of the file; the file grows when it is written. */
static struct slot *new_slot(struct mfs_span_cache *c)
{
	struct slot *s;

	if (c->nslots == c->slots_cap) {
		uint64_t cap = c->slots_cap ? c->slots_cap * 2 : 16;
		struct slot **slots = realloc(c->slots, cap * sizeof(*slots));

		if (!slots)
			return NULL;
		c->slots = slots;
		c->slots_cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->number = c->nslots;
	c->slots[c->nslots++] = s;
	if (c->nslots > c->table_size)
		table_grow(c);
	return s;
}

/* A slot for a new span: a free one, a new one while the budget allows,
 * or else the least recently used span that nobody is reading. */
static struct slot *claim(struct mfs_span_cache *c, int *err)
{
	struct slot *s = c->free;

	if (s) {
		c->free = s->next;
		s->next = NULL;
		return s;
	}
	if (c->nslots < c->max_slots) {
		s = new_slot(c);
		if (!s)
			*err = -ENOMEM;
		return s;
	}
	for (s = c->lru_tail; s && s->pins; s = s->prev)
		;
	if (!s) {
		*err = c->max_slots ? -EBUSY : -ENOSPC;
		return NULL;
	}
	lru_unlink(c, s);
	table_remove(c, s);
	c->stats.evicted++;
	return s;
}

/* Takes a slot out of use: one that holds nothing on disk goes straight
 * back to the free list; for any other, returns true, and the caller
 * punches it with punch() once it has dropped the lock. */
static bool retire(struct mfs_span_cache *c, struct slot *s)
{
	if (!s->extent) {
		free_push(c, s);
		return false;
	}
	s->state = SLOT_PUNCHING;
	return true;
}

static void punch(struct mfs_span_cache *c, struct slot *s)
{
	bool punched = fallocate(c->fd, FALLOC_FL_PUNCH_HOLE |
				 FALLOC_FL_KEEP_SIZE,
				 (off_t)(s->number * MFS_SPAN_SIZE),
				 MFS_SPAN_SIZE) == 0;

	pthread_mutex_lock(&c->lock);
	/* When the file system cannot punch, the space stays counted, and
	 * the slot is reused before the file grows again. */
	if (punched) {
		c->stats.bytes_on_disk -= s->extent;
		s->extent = 0;
	}
	free_push(c, s);
	pthread_mutex_unlock(&c->lock);
}

/* Whether the file system can take need more bytes and still keep
 * reserve (bytes, RESERVE_DEFAULT or NO_CHECK) free.  Called without the
 * lock: a statfs is cheap but not free, and the growth of concurrent puts
 * is counted in need. */
static int check_room(int fd, uint64_t need, int64_t reserve)
{
	struct statvfs sv;
	uint64_t avail, keep;

	if (reserve == NO_CHECK)
		return 0;
	if (fstatvfs(fd, &sv) < 0)
		return -errno;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (reserve == RESERVE_DEFAULT) {
		keep = (uint64_t)sv.f_blocks * sv.f_frsize / 100 *
		       MFS_SPAN_CACHE_RESERVE_PERCENT;
		if (keep < MFS_SPAN_CACHE_RESERVE_MIN)
			keep = MFS_SPAN_CACHE_RESERVE_MIN;
	} else {
		keep = (uint64_t)reserve;
	}
	if (avail < need || avail - need < keep)
		return -ENOSPC;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Fills the vector; the end of the file before its end is -EIO (the file
 * was truncated underneath us). */
static int read_all(int fd, struct iovec *iov, int cnt, off_t off)
{
	while (cnt) {
		ssize_t n = preadv(fd, iov, cnt, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += n;
		while (cnt && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static void hash_chunks(const uint8_t *data, size_t len, uint64_t *crc)
{
	for (size_t k = 0; k * CHUNK < len; k++) {
		size_t n = len - k * CHUNK < CHUNK ? len - k * CHUNK : CHUNK;

		crc[k] = crc64_ecma_refl(0, data + k * CHUNK, n);
	}
}

/* Whether the whole chunks that iov holds, starting at offset lo of the
 * span, match their hashes.  The CRC runs on across the pieces. */
static bool chunks_match(const struct slot *s, size_t lo,
			 const struct iovec *iov, int cnt)
{
	size_t pos = lo;
	uint64_t crc = 0;

	for (int i = 0; i < cnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left) {
			size_t take = CHUNK - pos % CHUNK;

			if (take > left)
				take = left;
			crc = crc64_ecma_refl(crc, p, take);
			pos += take;
			p += take;
			left -= take;
			if (pos % CHUNK == 0 || pos == s->len) {
				if (crc != s->crc[(pos - 1) / CHUNK])
					return false;
				crc = 0;
			}
		}
	}
	return true;
}

/* Reads [offset, offset + n) of a pinned slot into buf, together with the
 * rest of the chunks around it so that their hashes can be checked.
 * Returns 0, -ENOMEM, or another negative errno when the bytes are not
 * the ones stored. */
static int read_checked(struct mfs_span_cache *c, const struct slot *s,
			size_t offset, void *buf, size_t n)
{
	size_t lo = offset / CHUNK * CHUNK;
	size_t hi = (offset + n + CHUNK - 1) / CHUNK * CHUNK;
	size_t head, tail;
	struct iovec iov[3], work[3];
	uint8_t *bounce = NULL;
	int cnt = 0, ret;

	if (hi > s->len)
		hi = s->len;
	head = offset - lo;
	tail = hi - (offset + n);
	if (head + tail) {
		bounce = malloc(head + tail);
		if (!bounce)
			return -ENOMEM;
	}
	if (head)
		iov[cnt++] = (struct iovec){ bounce, head };
	iov[cnt++] = (struct iovec){ buf, n };
	if (tail)
		iov[cnt++] = (struct iovec){ bounce + head, tail };
	memcpy(work, iov, sizeof(iov));
	ret = read_all(c->fd, work, cnt, (off_t)(s->number * MFS_SPAN_SIZE + lo));
	if (ret == 0 && !chunks_match(s, lo, iov, cnt))
		ret = -EBADMSG;
	free(bounce);
	return ret;
}

static int open_file(const char *dir, bool no_tmpfile)
{
	char *path;
	int fd, ret = 0;

	if (!no_tmpfile) {
		fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		/* EISDIR: a kernel that predates O_TMPFILE. */
		if (errno != EOPNOTSUPP && errno != EISDIR)
			return -errno;
	}
	if (asprintf(&path, "%s/.menderfs-spans.XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
	} else if (unlink(path) < 0) {
		ret = -errno;
		close(fd);
	}
	free(path);
	return ret < 0 ? ret : fd;
}

int mfs_span_cache_test_open(const char *dir, uint64_t budget, int no_tmpfile,
			     struct mfs_span_cache **out)
{
	struct mfs_span_cache *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->table_size = TABLE_MIN;
	c->table = calloc(c->table_size, sizeof(*c->table));
	if (!c->table) {
		ret = -ENOMEM;
		goto out;
	}
	ret = open_file(dir, no_tmpfile);
	if (ret < 0)
		goto out;
	c->fd = ret;
	ret = 0;
	c->max_slots = budget / MFS_SPAN_SIZE;
	c->reserve = RESERVE_DEFAULT;
	pthread_mutex_init(&c->lock, NULL);
out:
	if (ret < 0) {
		free(c->table);
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

int mfs_span_cache_open(const char *dir, uint64_t budget,
			struct mfs_span_cache **out)
{
	return mfs_span_cache_test_open(dir, budget, false, out);
}

void mfs_span_cache_close(struct mfs_span_cache *c)
{
	if (!c)
		return;
	for (uint64_t i = 0; i < c->nslots; i++)
		free(c->slots[i]);
	free(c->slots);
	free(c->table);
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

uint64_t mfs_span_cache_stream_id(struct mfs_span_cache *c)
{
	uint64_t id;

	pthread_mutex_lock(&c->lock);
	id = ++c->last_id;
	pthread_mutex_unlock(&c->lock);
	return id;
}

int mfs_span_cache_put(struct mfs_span_cache *c, uint64_t id, uint64_t index,
		       const void *data, size_t len)
{
	uint64_t crc[CHUNKS] = { 0 };
	uint64_t need, growing;
	int64_t reserve;
	struct slot *s;
	bool dropped, refused = false;
	int ret = 0;

	if (!id || !len || len > MFS_SPAN_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	s = lookup(c, id, index);
	if (s) {
		if (s->state == SLOT_READY)
			lru_touch(c, s);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	s = claim(c, &ret);
	if (!s) {
		if (ret != -ENOMEM)
			c->stats.refused_no_room++;
		pthread_mutex_unlock(&c->lock);
		return ret;
	}
	s->id = id;
	s->index = index;
	s->len = (uint32_t)len;
	s->state = SLOT_WRITING;
	table_insert(c, s);
	need = len > s->extent ? len - s->extent : 0;
	growing = c->growing;
	c->growing += need;
	reserve = c->reserve;
	pthread_mutex_unlock(&c->lock);

	if (need)
		ret = check_room(c->fd, need + growing, reserve);
	if (ret < 0) {
		refused = ret == -ENOSPC;
	} else {
		ret = write_all(c->fd, data, len,
				(off_t)(s->number * MFS_SPAN_SIZE));
		if (ret == 0)
			hash_chunks(data, len, crc);
	}

	pthread_mutex_lock(&c->lock);
	c->growing -= need;
	if (refused) {
		c->stats.refused_no_room++;
	} else if (need) {
		/* A failed write may have allocated part of the span: all
		 * of it counts until the slot is punched. */
		c->stats.bytes_on_disk += need;
		s->extent = len;
	}
	if (ret == 0 && s->state == SLOT_WRITING) {
		memcpy(s->crc, crc, sizeof(crc));
		s->state = SLOT_READY;
		lru_push(c, s);
		c->stats.stored++;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	/* Failed, or forgotten (SLOT_DOOMED) while it was written. */
	if (s->state == SLOT_WRITING)
		table_remove(c, s);
	dropped = retire(c, s);
	pthread_mutex_unlock(&c->lock);
	if (dropped)
		punch(c, s);
	return ret;
}

ssize_t mfs_span_cache_get(struct mfs_span_cache *c, uint64_t id,
			   uint64_t index, size_t offset, void *buf,
			   size_t len)
{
	struct slot *s;
	bool dropped;
	size_t n;
	int ret;

	if (!id || offset >= MFS_SPAN_SIZE)
		return -EINVAL;
	if (!len)
		return 0;
	pthread_mutex_lock(&c->lock);
	s = lookup(c, id, index);
	if (!s || s->state != SLOT_READY || offset >= s->len) {
		c->stats.misses++;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	n = s->len - offset < len ? s->len - offset : len;
	s->pins++;
	lru_touch(c, s);
	pthread_mutex_unlock(&c->lock);

	ret = read_checked(c, s, offset, buf, n);

	pthread_mutex_lock(&c->lock);
	s->pins--;
	if (ret == 0) {
		c->stats.hits++;
	} else {
		c->stats.misses++;
		/* Not the bytes stored: nobody gets them again. */
		if (ret != -ENOMEM && s->state == SLOT_READY) {
			lru_unlink(c, s);
			table_remove(c, s);
			s->state = SLOT_DOOMED;
		}
	}
	dropped = s->state == SLOT_DOOMED && !s->pins && retire(c, s);
	pthread_mutex_unlock(&c->lock);
	if (dropped)
		punch(c, s);
	if (ret == -ENOMEM)
		return ret;
	return ret == 0 ? (ssize_t)n : 0;
}

void mfs_span_cache_forget(struct mfs_span_cache *c, uint64_t id)
{
	struct slot *punch_list = NULL, *s, *next;

	pthread_mutex_lock(&c->lock);
	for (uint64_t i = 0; i < c->nslots; i++) {
		s = c->slots[i];
		if (s->id != id)
			continue;
		if (s->state == SLOT_WRITING) {
			/* Its put drops it when the write is done. */
			table_remove(c, s);
			s->state = SLOT_DOOMED;
		} else if (s->state == SLOT_READY) {
			lru_unlink(c, s);
			table_remove(c, s);
			s->state = SLOT_DOOMED;
			if (!s->pins && retire(c, s)) {
				s->next = punch_list;
				punch_list = s;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	for (s = punch_list; s; s = next) {
		next = s->next;
		punch(c, s);
	}
}

void mfs_span_cache_stats(struct mfs_span_cache *c,
			  struct mfs_span_cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

void mfs_span_cache_test_reserve(struct mfs_span_cache *c, int64_t reserve)
{
	pthread_mutex_lock(&c->lock);
	c->reserve = reserve >= 0 ? reserve : NO_CHECK;
	pthread_mutex_unlock(&c->lock);
}

int mfs_span_cache_test_fd(struct mfs_span_cache *c)
{
	return c->fd;
}

int64_t mfs_span_cache_test_offset(struct mfs_span_cache *c, uint64_t id,
				   uint64_t index)
{
	struct slot *s;
	int64_t off = -ENOENT;

	pthread_mutex_lock(&c->lock);
	s = lookup(c, id, index);
	if (s && s->state == SLOT_READY)
		off = (int64_t)(s->number * MFS_SPAN_SIZE);
	pthread_mutex_unlock(&c->lock);
	return off;
}
