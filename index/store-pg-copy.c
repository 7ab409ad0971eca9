/* store-pg-copy.c — PATH.rows: header, int64 ids, float32 rows, CRC-32 of both. */
#include "store-pg-copy.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define COPY_MAGIC "CLIPPGRC"
#define COPY_VERSION 1

typedef struct {
  char magic[8];
  uint32_t version, dim;
  int64_t n, watermark, changes;
  char identity[40];
  uint32_t crc, pad;
} copy_header;
G_STATIC_ASSERT(sizeof(copy_header) == 88);

void
pg_copy_init(pg_copy *c, int dim, const char *identity)
{
  memset(c, 0, sizeof *c);
  c->dim = dim;
  g_strlcpy(c->identity, identity, sizeof c->identity);
}

void
pg_copy_clear(pg_copy *c)
{
  g_free(c->ids);
  g_free(c->rows);
  c->ids = NULL;
  c->rows = NULL;
  c->n = c->cap = 0;
}

static void
reserve(pg_copy *c, int64_t cap)
{
  if (cap <= c->cap)
    return;
  c->cap = cap;
  c->ids = g_renew(int64_t, c->ids, cap);
  c->rows = g_renew(float, c->rows, (size_t) cap * c->dim);
}

void
pg_copy_append(pg_copy *c, int64_t id, const float *row)
{
  if (c->n == c->cap)
    reserve(c, MAX(1024, c->cap * 2));
  c->ids[c->n] = id;
  memcpy(c->rows + (size_t) c->n * c->dim, row, c->dim * sizeof(float));
  c->n++;
}

static uint32_t
checksum(const pg_copy *c)
{
  uLong crc = crc32_z(0L, (const Bytef *) c->ids, (size_t) c->n * sizeof *c->ids);
  return (uint32_t) crc32_z(crc, (const Bytef *) c->rows, (size_t) c->n * c->dim * sizeof(float));
}

bool
pg_copy_read(pg_copy *c, const char *path, int dim, const char *identity, char **damaged)
{
  FILE *f = fopen(path, "rb");
  struct stat st;
  copy_header h;
  const char *why = NULL;

  *damaged = NULL;
  pg_copy_init(c, dim, identity);
  if (!f)
    return false;
  if (fstat(fileno(f), &st) != 0 || fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, COPY_MAGIC, 8)
      || h.version != COPY_VERSION)
    why = "not a copy of this version";
  else if (h.dim != (uint32_t) dim || strncmp(h.identity, identity, sizeof h.identity)) {
    fclose(f); /* another index's or model's: not damage, just not ours */
    return false;
  } else if (h.n < 0
             || (uint64_t) st.st_size != sizeof h + (uint64_t) h.n * (8 + 4 * (uint64_t) dim))
    why = "truncated (its size does not match its header)";
  if (!why) {
    reserve(c, h.n + 1024);
    if (fread(c->ids, sizeof *c->ids, h.n, f) != (size_t) h.n
        || fread(c->rows, sizeof(float) * dim, h.n, f) != (size_t) h.n)
      why = "truncated (short read)";
  }
  fclose(f);
  if (!why) {
    c->n = h.n;
    if (checksum(c) != h.crc)
      why = "corrupt (checksum mismatch)";
    for (int64_t i = 0; !why && i < c->n; i++)
      if (c->ids[i] > h.watermark || (i && c->ids[i] <= c->ids[i - 1]))
        why = "corrupt (segment ids out of order)";
  }
  if (why) {
    *damaged = g_strdup(why);
    pg_copy_clear(c);
    return false;
  }
  c->watermark = h.watermark;
  c->changes = h.changes;
  return true;
}

bool
pg_copy_write(const pg_copy *c, const char *path)
{
  char *tmp = g_strdup_printf("%s.%d.tmp", path, (int) getpid());
  FILE *f = fopen(tmp, "wb");
  copy_header h = { .version = COPY_VERSION,
                    .dim = c->dim,
                    .n = c->n,
                    .watermark = c->watermark,
                    .changes = c->changes,
                    .crc = checksum(c) };
  bool ok;

  if (!f) {
    g_free(tmp);
    return false;
  }
  memcpy(h.magic, COPY_MAGIC, 8);
  memcpy(h.identity, c->identity, sizeof h.identity);
  ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(c->ids, sizeof *c->ids, c->n, f) == (size_t) c->n
       && fwrite(c->rows, sizeof(float) * c->dim, c->n, f) == (size_t) c->n;
  ok = fclose(f) == 0 && ok && rename(tmp, path) == 0;
  if (!ok)
    unlink(tmp);
  g_free(tmp);
  return ok;
}
