/* cachefile.h — the files an index keeps beside itself for search
 * (INDEX.matrix, INDEX.qmatrix): derived from the store, each starting with
 * a header that tags it with what it was made from, so that a stale or
 * foreign one is rebuilt rather than used. */
#ifndef CLIP_INDEX_CACHEFILE_H
#define CLIP_INDEX_CACHEFILE_H

#include <stdbool.h>
#include <stddef.h>

/* One piece of a file: len bytes of data, or of zeros when data is NULL. */
typedef struct {
  const void *data;
  size_t len;
} cachefile_part;

/* Writes the parts in order to a temporary name beside path and renames it
 * over path, so that a reader maps the old file or the whole new one. */
bool cachefile_write(const char *path, const cachefile_part *parts, int n_parts);

/* Reads path's first header_len bytes into header and, when check accepts
 * them and the file's size, maps the whole file read-only (populate: every
 * page now rather than at first touch). NULL when the file is missing,
 * shorter than the header, refused by check or cannot be mapped. Unmap
 * with munmap(map, *size). */
void *cachefile_map(const char *path, void *header, size_t header_len,
                    bool (*check)(const void *header, size_t size, const void *data),
                    const void *data, bool populate, size_t *size);

/* off rounded up to the 64-byte boundary where a file's arrays start. */
static inline size_t
cachefile_align(size_t off)
{
  return (off + 63) & ~(size_t) 63;
}

#endif
