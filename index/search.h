/* search.h — exact cosine ranking of a query against the segment matrix,
 * and the bounded heap of the best hits that the scans share. */
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

/* The order of results (qsort): score descending, then row ascending. */
int search_hit_cmp(const void *a, const void *b);

/* heap[0, *have) is a min-heap of the k best hits offered so far: heap[0]
 * is the k-th best once *have == k. A hit scoring no more than heap[0]
 * then stays out, so of equal scores the first offered is kept. */
void search_heap_offer(search_hit *heap, int *have, int k, search_hit h);

#endif
