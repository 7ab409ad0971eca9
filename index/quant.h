/* quant.h — exact top-k from an int8 copy of the segment matrix.
 *
 * The fp32 scan reads 4 bytes per value; on a busy machine that is the
 * server's whole query time. The copy holds each row as int8 with a scale
 * and, per row, how far its approximate score can be from the exact one.
 * A query scores every row approximately (1 byte per value), keeps the rows
 * whose upper bound reaches the k-th best lower bound, and scores only those
 * exactly from the fp32 rows: the same hits as search_top_k(), in the same
 * order, whatever the data. A copy holds scratch space for a query: one
 * query at a time per copy. */
#ifndef CLIP_INDEX_QUANT_H
#define CLIP_INDEX_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "search.h"

typedef struct quant_matrix quant_matrix;

/* Quantizes rows [n, dim] (which must outlive the copy: kept for rescoring). */
quant_matrix *quant_matrix_new(const float *rows, int64_t n, int dim);
void quant_matrix_free(quant_matrix *m);

/* The copy as a file, so that a one-shot process maps it instead of
 * quantizing every row again: written under a temporary name and renamed,
 * tagged with the index generation it was made from and the rows' lineage
 * (store.h; when nonzero, with room for more rows). */
bool quant_matrix_save(const quant_matrix *m, const char *path, int64_t generation,
                       uint64_t lineage);
/* Quantizes rows [n', n) and appends them to the file at path, made from
 * rows [0, n') of the same nonzero lineage, in place (cachefile.h), now
 * tagged with GENERATION: returns n - n', or -1 when the file must be
 * rebuilt instead (*damaged, to g_free, then says why if it is damaged). */
int64_t quant_matrix_extend(const char *path, const float *rows, int64_t n, int dim,
                            int64_t generation, uint64_t lineage, char **damaged);
/* Maps a copy saved from rows [n, dim] of GENERATION (rows as for
 * quant_matrix_new()); NULL when the file is missing, malformed or was made
 * from other rows. */
quant_matrix *quant_matrix_map(const char *path, const float *rows, int64_t n, int dim,
                               int64_t generation);

/* As search_top_k(); candidates (may be NULL) gets how many rows were
 * rescored exactly. */
int quant_top_k(quant_matrix *m, const float *query, int k, search_hit *hits, int64_t *candidates);

/* The int8 products of quant_top_k(): with an AVX-512 VNNI kernel where the
 * CPU has one, unless PORTABLE asks for the plain C one (for tests and
 * comparisons; not while a scan runs). Returns the name of the kernel now
 * in use: "avx512-vnni" or "portable". */
const char *quant_kernel_select(bool portable);

#endif
