/* search.h — exact cosine ranking of a query against the segment matrix. */
#ifndef CLIP_INDEX_SEARCH_H
#define CLIP_INDEX_SEARCH_H

#include <stdint.h>

typedef struct {
  int64_t row;
  float score;
} search_hit;

/* scores = rows · query (rows [n, dim], unit norm) with one cblas_sgemv, then
 * the k best in descending score order into hits; returns how many. */
int search_top_k(const float *rows, int64_t n, int dim, const float *query, int k, search_hit *hits,
                 double *scan_seconds);

#endif
