/* cachefile.h — the files an index keeps beside itself for search
 * (INDEX.matrix, INDEX.qmatrix): derived from the store, each starting with
 * a header that tags it with what it was made from, so that a stale or
 * foreign one is rebuilt rather than used. */
#ifndef CLIP_INDEX_CACHEFILE_H
#define CLIP_INDEX_CACHEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One piece of a file: len bytes of data, or of zeros when data is NULL
 * (left as a hole where the file system allows). */
typedef struct {
  const void *data;
  size_t len;
} cachefile_part;

/* Writes the parts in order to a temporary name beside path and renames it
 * over path, so that a reader maps the old file or the whole new one. */
bool cachefile_write(const char *path, const cachefile_part *parts, int n_parts);

/* Reads path's first header_len bytes into header and, when check accepts
 * them and the file's size (returning how many bytes from the start are in
 * use, 0 to refuse), maps those read-only (populate: every page now rather
 * than at first touch). NULL when the file is missing, shorter than the
 * header, refused by check or cannot be mapped. Unmap with
 * munmap(map, *size). The header is read under a shared flock, so never
 * half-way through cachefile_extend_commit(). */
void *cachefile_map(const char *path, void *header, size_t header_len,
                    size_t (*check)(const void *header, size_t size, const void *data),
                    const void *data, bool populate, size_t *size);

/* Extending a file in place, for files laid out with room for more rows
 * than their header counts: open it under an exclusive flock and read its
 * header and size (-1 when it is missing or shorter than the header), write
 * the new rows past the counted ones with cachefile_pwrite(), then
 * cachefile_extend_commit() flushes them and only then writes the header
 * that counts them, and closes (releasing the lock). A reader thus sees the
 * old header or the new one with every row it counts, and a process that
 * dies in between leaves the old header over rows it does not count. */
int cachefile_extend_open(const char *path, void *header, size_t header_len, size_t *size);
bool cachefile_pwrite(int fd, const void *data, size_t len, size_t off);
bool cachefile_extend_commit(int fd, const void *header, size_t header_len);

/* The rows a rebuilt file makes room for when it can later be extended:
 * a quarter more (the room is a hole, costing no disk). */
static inline int64_t
cachefile_capacity(int64_t n)
{
  return n + n / 4 + 1024;
}

/* off rounded up to the 64-byte boundary where a file's arrays start. */
static inline size_t
cachefile_align(size_t off)
{
  return (off + 63) & ~(size_t) 63;
}

#endif
