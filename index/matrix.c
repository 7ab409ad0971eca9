/* matrix.c — INDEX.matrix: header (64 bytes), int64 ids, float32 rows. */
#include "matrix.h"

#include <string.h>
#include <sys/mman.h>

#include "cachefile.h"

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
  return cachefile_align(sizeof(matrix_header) + (size_t) n * sizeof(int64_t));
}

typedef struct {
  int dim;
  int64_t generation;
} matrix_want;

static bool
matrix_header_ok(const void *header, size_t size, const void *data)
{
  const matrix_header *h = header;
  const matrix_want *w = data;
  return !memcmp(h->magic, MATRIX_MAGIC, 8) && h->version == MATRIX_VERSION
         && (int) h->dim == w->dim && h->generation == w->generation && h->n >= 0
         && (size_t) h->ids_offset == sizeof *h && (size_t) h->rows_offset == rows_offset_for(h->n)
         && size == (size_t) h->rows_offset + (size_t) h->n * w->dim * sizeof(float);
}

static bool
try_map(segment_matrix *m, const char *path, int dim, int64_t generation, bool populate)
{
  matrix_header h;
  matrix_want w = { dim, generation };
  /* MAP_POPULATE: the page-table work happens here, not inside the scan. */
  void *p = cachefile_map(path, &h, sizeof h, matrix_header_ok, &w, populate, &m->map_size);
  if (!p)
    return false;
  m->map = p;
  m->n = h.n;
  m->ids = (const int64_t *) ((const char *) p + h.ids_offset);
  m->rows = (const float *) ((const char *) p + h.rows_offset);
  return true;
}

static bool
write_cache(const char *path, int dim, int64_t generation, const int64_t *ids, const float *rows,
            int64_t n)
{
  matrix_header h = { .version = MATRIX_VERSION, .dim = dim, .n = n, .generation = generation };
  memcpy(h.magic, MATRIX_MAGIC, 8);
  h.ids_offset = sizeof h;
  h.rows_offset = rows_offset_for(n);
  cachefile_part parts[] = {
    { &h, sizeof h },
    { ids, (size_t) n * sizeof *ids },
    { NULL, h.rows_offset - sizeof h - (size_t) n * sizeof *ids },
    { rows, (size_t) n * dim * sizeof *rows },
  };
  return cachefile_write(path, parts, G_N_ELEMENTS(parts));
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
