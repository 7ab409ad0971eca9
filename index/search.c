/* search.c — brute force is exact and, with BLAS, fast enough for millions
 * of rows: one matrix-vector product, then a bounded min-heap for the top k. */
#include "search.h"

#include <cblas.h>
#include <glib.h>

static void
heap_sift_down(search_hit *h, int n, int i)
{
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && h[l].score < h[m].score)
      m = l;
    if (r < n && h[r].score < h[m].score)
      m = r;
    if (m == i)
      return;
    search_hit t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

void
search_heap_offer(search_hit *heap, int *have, int k, search_hit h)
{
  if (*have < k) {
    int i = (*have)++;
    /* sift up */
    while (i > 0 && heap[(i - 1) / 2].score > h.score) {
      heap[i] = heap[(i - 1) / 2];
      i = (i - 1) / 2;
    }
    heap[i] = h;
  } else if (k > 0 && h.score > heap[0].score) {
    heap[0] = h;
    heap_sift_down(heap, k, 0);
  }
}

int
search_hit_cmp(const void *a, const void *b)
{
  const search_hit *x = a, *y = b;
  if (x->score != y->score)
    return x->score < y->score ? 1 : -1;
  return x->row < y->row ? -1 : x->row > y->row;
}

int
search_top_k(const float *rows, int64_t n, int dim, const float *query, int k, search_hit *hits,
             double *scan_seconds)
{
  const int64_t chunk = 1 << 16;
  float *scores = g_new(float, chunk);
  gint64 t0 = g_get_monotonic_time();
  int have = 0;

  /* The scan is bound by memory bandwidth, which one core does not use up;
   * the engine holds OpenBLAS at one thread for its own products. */
  openblas_set_num_threads(g_get_num_processors());
  if (k <= 0) {
    g_free(scores);
    return 0;
  }
  /* Row chunks keep the scores in cache and the int arguments of BLAS in
   * range whatever n is. */
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    int m = (int) MIN(chunk, n - r0);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, m, dim, 1.0f, rows + (size_t) r0 * dim, dim, query, 1,
                0.0f, scores, 1);
    for (int i = 0; i < m; i++)
      if (have < k || scores[i] > hits[0].score)
        search_heap_offer(hits, &have, k, (search_hit){ r0 + i, scores[i] });
  }
  /* The reported scores are the dot products of quant_top_k()'s rescoring
   * (sgemv sums in another order, a last-bit difference), so both scans
   * print the same hits. */
  for (int i = 0; i < have; i++)
    hits[i].score = cblas_sdot(dim, rows + (size_t) hits[i].row * dim, 1, query, 1);
  qsort(hits, have, sizeof *hits, search_hit_cmp);
  if (scan_seconds)
    *scan_seconds = (g_get_monotonic_time() - t0) / 1e6;
  g_free(scores);
  return have;
}
