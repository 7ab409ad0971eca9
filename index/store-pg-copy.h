/* store-pg-copy.h — the local copy of a PostgreSQL index's embeddings.
 *
 * Search needs every segment's embedding; reading them all from the server
 * for each query costs G·4d bytes over the network. The copy keeps them on
 * local disk with what it covers: every segment id up to a watermark, as of
 * a count of deletions (a sequence the server bumps on any DELETE, UPDATE or
 * TRUNCATE of segments), for one index (its random index_id). A refresh then
 * fetches only the ids above the watermark while the count is unchanged, and
 * everything when it moved. store-pg.c fetches; this file reads, checks and
 * writes the copy (no libpq). */
#ifndef CLIP_INDEX_STORE_PG_COPY_H
#define CLIP_INDEX_STORE_PG_COPY_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
  int dim;
  int64_t n, cap;
  int64_t *ids; /* [n], ascending, all <= watermark */
  float *rows;  /* [n, dim] */
  int64_t watermark, changes;
  char identity[40]; /* the index's index_id, NUL-padded */
  /* private: what pg_copy_read found on disk, for appending to it */
  int64_t on_disk, read_watermark;
  uint32_t crc;
} pg_copy;

void pg_copy_init(pg_copy *c, int dim, const char *identity);
void pg_copy_clear(pg_copy *c);
void pg_copy_append(pg_copy *c, int64_t id, const float *row);

/* Reads the copy at path made for this index and dimension. False when there
 * is none to use: *damaged (g_free) then says why when the file exists but is
 * truncated, corrupt (checksum) or not a copy; NULL when it is absent or
 * belongs to another index or dimension. */
bool pg_copy_read(pg_copy *c, const char *path, int dim, const char *identity, char **damaged);

/* Saves c at path. A copy that was read and has only grown since gets its
 * new records appended under an exclusive flock (readers take a shared
 * one), the header last, so a reader sees the old records or all of them;
 * otherwise (a new copy, or the file changed meanwhile) the whole copy is
 * written to a temporary name and renamed, and the last rename wins. */
bool pg_copy_write(pg_copy *c, const char *path);

#endif
