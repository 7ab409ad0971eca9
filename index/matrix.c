/* matrix.c — INDEX.matrix: header (64 bytes), int64 ids, float32 rows. */
#include "matrix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MATRIX_MAGIC "CLIPIDXM"
#define MATRIX_VERSION 1
#define MATRIX_ERROR g_quark_from_static_string("clip-index-matrix")

typedef struct {
  char magic[8];
  uint32_t version, dim;
  int64_t n, generation, ids_offset, rows_offset;
  char pad[16];
} matrix_header;
G_STATIC_ASSERT(sizeof(matrix_header) == 64);

static size_t
rows_offset_for(int64_t n)
{
  size_t off = sizeof(matrix_header) + (size_t) n * sizeof(int64_t);
  return (off + 63) & ~(size_t) 63;
}

static bool
try_map(segment_matrix *m, const char *path, int dim, int64_t generation, bool populate)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  matrix_header h;
  void *p;

  if (fd < 0)
    return false;
  if (fstat(fd, &st) != 0 || (size_t) st.st_size < sizeof h
      || pread(fd, &h, sizeof h, 0) != (ssize_t) sizeof h || memcmp(h.magic, MATRIX_MAGIC, 8)
      || h.version != MATRIX_VERSION || (int) h.dim != dim || h.generation != generation || h.n < 0
      || (size_t) h.rows_offset != rows_offset_for(h.n)
      || (size_t) st.st_size != (size_t) h.rows_offset + (size_t) h.n * dim * sizeof(float)) {
    close(fd);
    return false;
  }
  /* MAP_POPULATE: the page-table work happens here, not inside the scan. */
  p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  close(fd);
  if (p == MAP_FAILED)
    return false;
  m->map = p;
  m->map_size = st.st_size;
  m->n = h.n;
  m->ids = (const int64_t *) ((const char *) p + h.ids_offset);
  m->rows = (const float *) ((const char *) p + h.rows_offset);
  return true;
}

static bool
write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    len -= w;
  }
  return true;
}

/* Written to a temporary name and renamed, so a reader never maps half a file. */
static bool
write_cache(const char *path, int dim, int64_t generation, const int64_t *ids, const float *rows,
            int64_t n)
{
  char *tmp = g_strdup_printf("%s.%d.tmp", path, (int) getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  matrix_header h = { .version = MATRIX_VERSION, .dim = dim, .n = n, .generation = generation };
  static const char zeros[64];
  bool ok;

  if (fd < 0) {
    g_free(tmp);
    return false;
  }
  memcpy(h.magic, MATRIX_MAGIC, 8);
  h.ids_offset = sizeof h;
  h.rows_offset = rows_offset_for(n);
  ok = write_all(fd, &h, sizeof h) && write_all(fd, ids, (size_t) n * sizeof *ids)
       && write_all(fd, zeros, h.rows_offset - sizeof h - (size_t) n * sizeof *ids)
       && write_all(fd, rows, (size_t) n * dim * sizeof *rows);
  ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
  if (!ok)
    unlink(tmp);
  g_free(tmp);
  return ok;
}

static bool
open_matrix(segment_matrix *m, store *s, const char *index_path, int dim, bool populate,
            GError **error)
{
  char *path = g_strconcat(index_path, ".matrix", NULL);
  /* The generation is read before the rows: a file committed in between
   * makes the copy look older than it is, never newer. */
  int64_t generation = store_generation(s);
  bool ok = true;

  memset(m, 0, sizeof *m);
  m->dim = dim;
  m->generation = generation;
  if (!try_map(m, path, dim, generation, populate)) {
    ok = store_load_matrix(s, dim, &m->own_ids, &m->own_rows, &m->n, error);
    if (ok) {
      m->ids = m->own_ids;
      m->rows = m->own_rows;
      m->rebuilt = write_cache(path, dim, generation, m->ids, m->rows, m->n);
    }
  }
  g_free(path);
  return ok;
}

bool
segment_matrix_open(segment_matrix *m, store *s, const char *index_path, int dim, GError **error)
{
  return open_matrix(m, s, index_path, dim, true, error);
}

bool
segment_matrix_open_quant(segment_matrix *m, quant_matrix **quant, store *s, const char *index_path,
                          int dim, GError **error)
{
  char *path;

  *quant = NULL;
  if (!open_matrix(m, s, index_path, dim, false, error))
    return false;
  path = g_strconcat(index_path, ".qmatrix", NULL);
  /* A copy from the same generation was made from these very rows. */
  if (!(*quant = quant_matrix_map(path, m->rows, m->n, dim, m->generation))) {
    *quant = quant_matrix_new(m->rows, m->n, dim);
    quant_matrix_save(*quant, path, m->generation);
  }
  g_free(path);
  return true;
}

void
segment_matrix_close(segment_matrix *m)
{
  if (m->map)
    munmap(m->map, m->map_size);
  g_free(m->own_ids);
  g_free(m->own_rows);
  memset(m, 0, sizeof *m);
}
