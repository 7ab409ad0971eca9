/* store-pg-copy.c — PATH.rows: a header, then one record per segment (int64
 * id, dim float32), with the CRC-32 of the records in the header. */
#include "store-pg-copy.h"

#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define COPY_MAGIC "CLIPPGRC"
#define COPY_VERSION 1
#define CHUNK 4096 /* records per read or write */

typedef struct {
  char magic[8];
  uint32_t version, dim;
  int64_t n, watermark, changes;
  char identity[40];
  uint32_t crc, pad;
} copy_header;
G_STATIC_ASSERT(sizeof(copy_header) == 88);

static size_t
record_size(int dim)
{
  return 8 + 4 * (size_t) dim;
}

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

/* Records [from, c->n) at their place in f, continuing *crc over them. */
static bool
write_records(FILE *f, const pg_copy *c, int64_t from, uint32_t *crc)
{
  size_t rec = record_size(c->dim);
  char *buf = g_malloc(CHUNK * rec);
  bool ok = fseeko(f, sizeof(copy_header) + from * rec, SEEK_SET) == 0;
  for (int64_t i = from; ok && i < c->n; i += CHUNK) {
    int64_t k = MIN(CHUNK, c->n - i);
    for (int64_t j = 0; j < k; j++) {
      memcpy(buf + j * rec, &c->ids[i + j], 8);
      memcpy(buf + j * rec + 8, c->rows + (size_t) (i + j) * c->dim, rec - 8);
    }
    *crc = (uint32_t) crc32_z(*crc, (const Bytef *) buf, k * rec);
    ok = fwrite(buf, rec, k, f) == (size_t) k;
  }
  g_free(buf);
  return ok;
}

static void
fill_header(copy_header *h, const pg_copy *c, uint32_t crc)
{
  *h = (copy_header){ .version = COPY_VERSION,
                      .dim = c->dim,
                      .n = c->n,
                      .watermark = c->watermark,
                      .changes = c->changes,
                      .crc = crc };
  memcpy(h->magic, COPY_MAGIC, 8);
  memcpy(h->identity, c->identity, sizeof h->identity);
}

bool
pg_copy_read(pg_copy *c, const char *path, int dim, const char *identity, char **damaged)
{
  FILE *f = fopen(path, "rb");
  size_t rec = record_size(dim);
  struct stat st;
  copy_header h;
  const char *why = NULL;
  uint32_t crc = 0;

  *damaged = NULL;
  pg_copy_init(c, dim, identity);
  if (!f)
    return false;
  /* Shared: a search appending to this copy holds it exclusively. */
  flock(fileno(f), LOCK_SH);
  if (fstat(fileno(f), &st) != 0 || fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, COPY_MAGIC, 8)
      || h.version != COPY_VERSION)
    why = "not a copy of this version";
  else if (h.dim != (uint32_t) dim || strncmp(h.identity, identity, sizeof h.identity)) {
    fclose(f); /* another index's or model's: not damage, just not ours */
    return false;
  } else if (h.n < 0 || (uint64_t) st.st_size < sizeof h + (uint64_t) h.n * rec)
    why = "truncated (shorter than its header says)";
  if (!why) {
    char *buf = g_malloc(CHUNK * rec);
    reserve(c, h.n + 1024);
    for (int64_t i = 0; !why && i < h.n; i += CHUNK) {
      int64_t k = MIN(CHUNK, h.n - i);
      if (fread(buf, rec, k, f) != (size_t) k) {
        why = "truncated (short read)";
        break;
      }
      crc = (uint32_t) crc32_z(crc, (const Bytef *) buf, k * rec);
      for (int64_t j = 0; j < k; j++) {
        memcpy(&c->ids[i + j], buf + j * rec, 8);
        memcpy(c->rows + (size_t) (i + j) * dim, buf + j * rec + 8, rec - 8);
      }
    }
    g_free(buf);
  }
  fclose(f);
  if (!why) {
    c->n = h.n;
    if (crc != h.crc)
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
  c->crc = h.crc;
  c->on_disk = c->n;
  return true;
}

/* The new records after the ones read, then the header that covers them:
 * only when the file still holds exactly what was read (no other search
 * refreshed it meanwhile). Bytes past the header's records (an append cut
 * short) are overwritten. */
static bool
append(pg_copy *c, const char *path)
{
  FILE *f = fopen(path, "r+b");
  copy_header h, now;
  uint32_t crc = c->crc;
  bool ok;

  if (!f)
    return false;
  ok = flock(fileno(f), LOCK_EX) == 0 && fread(&now, sizeof now, 1, f) == 1;
  fill_header(
      &h,
      &(pg_copy){
          .dim = c->dim, .n = c->on_disk, .watermark = c->read_watermark, .changes = c->changes },
      c->crc);
  memcpy(h.identity, c->identity, sizeof h.identity);
  ok = ok && memcmp(&h, &now, sizeof h) == 0 && write_records(f, c, c->on_disk, &crc)
       && fflush(f) == 0 && ftruncate(fileno(f), sizeof h + c->n * record_size(c->dim)) == 0;
  if (ok) {
    fill_header(&h, c, crc);
    ok = fseeko(f, 0, SEEK_SET) == 0 && fwrite(&h, sizeof h, 1, f) == 1;
  }
  /* The lock goes with the file, after fclose has written the header. */
  return fclose(f) == 0 && ok;
}

bool
pg_copy_write(pg_copy *c, const char *path)
{
  if (c->on_disk > 0 && append(c, path))
    return true;
  char *tmp = g_strdup_printf("%s.%d.tmp", path, (int) getpid());
  FILE *f = fopen(tmp, "wb");
  copy_header h;
  uint32_t crc = 0;
  bool ok;

  if (!f) {
    g_free(tmp);
    return false;
  }
  ok = write_records(f, c, 0, &crc);
  fill_header(&h, c, crc);
  ok = ok && fseeko(f, 0, SEEK_SET) == 0 && fwrite(&h, sizeof h, 1, f) == 1;
  ok = fclose(f) == 0 && ok && rename(tmp, path) == 0;
  if (!ok)
    unlink(tmp);
  g_free(tmp);
  return ok;
}
