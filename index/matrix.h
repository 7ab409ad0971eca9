/* matrix.h — the segment matrix of an index, memory-mapped for search.
 *
 * SQLite holds the truth; reading a million 2 KB BLOBs out of it takes
 * seconds, so search keeps a derived copy beside the index (INDEX.matrix:
 * a header, the segment ids, the rows as float32) and maps it. The copy
 * records the index's generation (bumped by every file written) and is
 * rebuilt when it differs, so it is never stale; deleting it is harmless.
 * When the store can tell that rows were only added since (a lineage,
 * store.h), the file, which keeps room for more rows, is extended in place
 * instead (cachefile.h), and so is INDEX.qmatrix. */
#ifndef CLIP_INDEX_MATRIX_H
#define CLIP_INDEX_MATRIX_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "quant.h"
#include "store.h"

typedef struct {
  int64_t n;
  int dim;
  const int64_t *ids; /* [n] */
  const float *rows;  /* [n, dim], unit norm */
  /* private */
  void *map;
  size_t map_size;
  int64_t *own_ids;
  float *own_rows;
  int64_t generation;
  uint64_t lineage;
  bool rebuilt;
  char *note; /* what opening did to the files, for --timing; NULL: mapped as they were */
} segment_matrix;

/* Maps INDEX.matrix when current, else extends or rebuilds it from the
 * store's rows (which it keeps in memory). */
bool segment_matrix_open(segment_matrix *m, store *s, const char *index_path, int dim,
                         GError **error);
void segment_matrix_close(segment_matrix *m);

/* As segment_matrix_open(), for a scan of the int8 copy (quant.h): the fp32
 * rows are mapped without reading them ahead, since only the candidates'
 * rows are read, and *quant is INDEX.qmatrix when it was made from the same
 * generation (or, of the same lineage, extended by the new rows), else
 * quantized now and saved there (kept in memory when it cannot be written).
 * Free *quant before closing the matrix. */
bool segment_matrix_open_quant(segment_matrix *m, quant_matrix **quant, store *s,
                               const char *index_path, int dim, GError **error);

#endif
