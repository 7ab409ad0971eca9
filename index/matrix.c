/* matrix.c — INDEX.matrix: header (64 bytes), int64 ids [cap], float32 rows
 * [cap, dim] from a 64-byte boundary, of which the first n are in use. */
#include "matrix.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cachefile.h"

#define MATRIX_MAGIC "CLIPIDXM"
#define MATRIX_VERSION 2
#define MATRIX_ERROR g_quark_from_static_string("clip-index-matrix")

typedef struct {
  char magic[8];
  uint32_t version, dim;
  int64_t n, cap, generation;
  uint64_t lineage; /* store_matrix_lineage() of the rows, 0 when unknown */
  char pad[16];
} matrix_header;
G_STATIC_ASSERT(sizeof(matrix_header) == 64);

static size_t
rows_offset_for(int64_t cap)
{
  return cachefile_align(sizeof(matrix_header) + (size_t) cap * sizeof(int64_t));
}

static size_t
file_size_for(int64_t cap, int dim)
{
  return rows_offset_for(cap) + (size_t) cap * dim * sizeof(float);
}

/* A header of this version and dimension whose counts fit the file's size. */
static bool
matrix_header_sane(const matrix_header *h, size_t size, int dim)
{
  return !memcmp(h->magic, MATRIX_MAGIC, 8) && h->version == MATRIX_VERSION && (int) h->dim == dim
         && h->n >= 0 && h->cap >= h->n && size == file_size_for(h->cap, dim);
}

typedef struct {
  int dim;
  int64_t generation;
} matrix_want;

static size_t
matrix_header_ok(const void *header, size_t size, const void *data)
{
  const matrix_header *h = header;
  const matrix_want *w = data;
  if (!matrix_header_sane(h, size, w->dim) || h->generation != w->generation)
    return 0;
  return rows_offset_for(h->cap) + (size_t) h->n * w->dim * sizeof(float);
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
  m->lineage = h.lineage;
  m->ids = (const int64_t *) ((const char *) p + sizeof h);
  m->rows = (const float *) ((const char *) p + rows_offset_for(h.cap));
  return true;
}

static bool
write_cache(const char *path, int dim, int64_t generation, uint64_t lineage, const int64_t *ids,
            const float *rows, int64_t n)
{
  /* Room to grow only where the rows can be told to have only grown. */
  int64_t cap = lineage ? cachefile_capacity(n) : n;
  matrix_header h = { .version = MATRIX_VERSION,
                      .dim = dim,
                      .n = n,
                      .cap = cap,
                      .generation = generation,
                      .lineage = lineage };
  memcpy(h.magic, MATRIX_MAGIC, 8);
  cachefile_part parts[] = {
    { &h, sizeof h },
    { ids, (size_t) n * sizeof *ids },
    { NULL, rows_offset_for(cap) - sizeof h - (size_t) n * sizeof *ids },
    { rows, (size_t) n * dim * sizeof *rows },
    { NULL, (size_t) (cap - n) * dim * sizeof *rows },
  };
  return cachefile_write(path, parts, G_N_ELEMENTS(parts));
}

/* Appends rows [h.n, n) to the file at path when it holds a prefix of
 * them (same lineage, same ids) and has room: returns how many rows were
 * appended, or -1 when the file must be rebuilt (*damaged then says why
 * when the file is of this version but inconsistent). */
static int64_t
extend_cache(const char *path, int dim, int64_t generation, uint64_t lineage, const int64_t *ids,
             const float *rows, int64_t n, char **damaged)
{
  matrix_header h;
  size_t size;
  int fd = cachefile_extend_open(path, &h, sizeof h, &size);
  int64_t added = -1;
  int64_t *old_ids = NULL;

  if (fd < 0)
    return -1;
  if (!memcmp(h.magic, MATRIX_MAGIC, 8) && h.version == MATRIX_VERSION && (int) h.dim == dim
      && !matrix_header_sane(&h, size, dim))
    *damaged = h.n >= 0 && h.cap >= h.n
                   ? g_strdup_printf("damaged (%zu bytes where its header makes %zu)", size,
                                     file_size_for(h.cap, dim))
                   : g_strdup("damaged (its header counts more rows than it has room for)");
  else if (matrix_header_sane(&h, size, dim) && lineage && h.lineage == lineage && h.n <= n
           && n <= h.cap) {
    old_ids = g_new(int64_t, MAX(h.n, 1));
    if (pread(fd, old_ids, (size_t) h.n * sizeof *ids, sizeof h) != (ssize_t) (h.n * sizeof *ids)
        || memcmp(old_ids, ids, (size_t) h.n * sizeof *ids))
      *damaged = g_strdup("damaged (its segment ids are not those of the index)");
    else if (cachefile_pwrite(fd, ids + h.n, (size_t) (n - h.n) * sizeof *ids,
                              sizeof h + (size_t) h.n * sizeof *ids)
             && cachefile_pwrite(fd, rows + (size_t) h.n * dim,
                                 (size_t) (n - h.n) * dim * sizeof *rows,
                                 rows_offset_for(h.cap) + (size_t) h.n * dim * sizeof *rows)) {
      added = n - h.n;
      h.n = n;
      h.generation = generation;
      if (!cachefile_extend_commit(fd, &h, sizeof h))
        added = -1;
      fd = -1;
    }
  }
  if (fd >= 0)
    close(fd);
  g_free(old_ids);
  return added;
}

static void add_note(segment_matrix *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
add_note(segment_matrix *m, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *s = g_strdup_vprintf(fmt, ap), *old = m->note;
  va_end(ap);
  m->note = old ? g_strconcat(old, ", ", s, NULL) : g_strdup(s);
  g_free(old);
  g_free(s);
}

static bool
open_matrix(segment_matrix *m, store *s, const char *index_path, int dim, bool populate,
            GError **error)
{
  char *path = g_strconcat(index_path, ".matrix", NULL), *damaged = NULL;
  /* The generation is read before the rows: a file committed in between
   * makes the copy look older than it is, never newer. */
  int64_t generation = store_generation(s), added;
  bool ok = true;

  memset(m, 0, sizeof *m);
  m->dim = dim;
  m->generation = generation;
  if (!try_map(m, path, dim, generation, populate)) {
    ok = store_load_matrix(s, dim, &m->own_ids, &m->own_rows, &m->n, error);
    if (ok) {
      m->ids = m->own_ids;
      m->rows = m->own_rows;
      m->lineage = store_matrix_lineage(s);
      added = extend_cache(path, dim, generation, m->lineage, m->ids, m->rows, m->n, &damaged);
      if (damaged)
        g_printerr("clip-index: %s is %s; rebuilding it\n", path, damaged);
      if (added >= 0) {
        add_note(m, "matrix appended %" G_GINT64_FORMAT " rows", added);
      } else {
        m->rebuilt = write_cache(path, dim, generation, m->lineage, m->ids, m->rows, m->n);
        add_note(m, "matrix rebuilt");
      }
    }
  }
  g_free(damaged);
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
  char *path, *damaged = NULL;
  int64_t added;

  *quant = NULL;
  if (!open_matrix(m, s, index_path, dim, false, error))
    return false;
  path = g_strconcat(index_path, ".qmatrix", NULL);
  /* A copy from the same generation was made from these very rows; one of
   * the same lineage from their first rows. */
  if (!(*quant = quant_matrix_map(path, m->rows, m->n, dim, m->generation))) {
    added = quant_matrix_extend(path, m->rows, m->n, dim, m->generation, m->lineage, &damaged);
    if (damaged)
      g_printerr("clip-index: %s is %s; rebuilding it\n", path, damaged);
    if (added >= 0 && (*quant = quant_matrix_map(path, m->rows, m->n, dim, m->generation))) {
      add_note(m, "int8 appended %" G_GINT64_FORMAT " rows", added);
    } else {
      *quant = quant_matrix_new(m->rows, m->n, dim);
      quant_matrix_save(*quant, path, m->generation, m->lineage);
      add_note(m, "int8 rebuilt");
    }
  }
  g_free(damaged);
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
  g_free(m->note);
  memset(m, 0, sizeof *m);
}
