/* quant.c — the int8 prefilter of quant.h and its error bound.
 *
 * Row x = s·q + e (q int8, |e_i| <= s/2), query y = t·p + f (p int8). Then
 *   x·y = s·t·(q·p) + s·(q·f) + e·y,
 *   |x·y - s·t·(q·p)| <= s·|q|_1·max|f| + |e|_1·max|y|,
 * with s·|q|_1 and |e|_1 computed once per row. */
#include "quant.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct quant_matrix {
  const float *rows;
  int64_t n;
  int dim;
  int8_t *q;     /* [n, dim] */
  float *scale;  /* [n] */
  float *l1q;    /* [n] s·|q|_1 */
  float *l1e;    /* [n] |e|_1 */
  float *approx; /* [n] scratch: the candidates' upper bounds */
  int64_t *cand; /* [n] scratch: candidate rows */
  void *map;     /* when mapped from a file: q, scale, l1q, l1e point into it */
  size_t map_size;
};

/* The file: this header, scale, l1q and l1e as float32 [n] each, then q
 * [n, dim] from a 64-byte boundary. */
#define QUANT_MAGIC "CLIPIDXQ"
#define QUANT_VERSION 1

typedef struct {
  char magic[8];
  uint32_t version, dim;
  int64_t n, generation, q_offset;
  char pad[24];
} quant_header;
G_STATIC_ASSERT(sizeof(quant_header) == 64);

static size_t
q_offset_for(int64_t n)
{
  size_t off = sizeof(quant_header) + (size_t) n * 3 * sizeof(float);
  return (off + 63) & ~(size_t) 63;
}

/* Scale, int8 values and residual of one vector; returns the scale. */
static float
quantize(const float *x, int dim, int8_t *q, float *l1q, float *l1e)
{
  float amax = 0, s;
  double sq = 0, se = 0;
  for (int i = 0; i < dim; i++)
    amax = fmaxf(amax, fabsf(x[i]));
  s = amax > 0 ? amax / 127.0f : 1.0f;
  for (int i = 0; i < dim; i++) {
    int v = (int) lrintf(x[i] / s);
    v = v > 127 ? 127 : v < -127 ? -127 : v;
    q[i] = (int8_t) v;
    sq += abs(v);
    se += fabs((double) x[i] - (double) s * v);
  }
  if (l1q)
    *l1q = (float) (s * sq);
  if (l1e)
    *l1e = (float) se;
  return s;
}

quant_matrix *
quant_matrix_new(const float *rows, int64_t n, int dim)
{
  quant_matrix *m = g_new0(quant_matrix, 1);
  m->rows = rows;
  m->n = n;
  m->dim = dim;
  m->q = g_new(int8_t, (size_t) n * dim);
  m->scale = g_new(float, MAX(n, 1));
  m->l1q = g_new(float, MAX(n, 1));
  m->l1e = g_new(float, MAX(n, 1));
  m->approx = g_new(float, MAX(n, 1));
  m->cand = g_new(int64_t, MAX(n, 1));
  for (int64_t r = 0; r < n; r++)
    m->scale[r] =
        quantize(rows + (size_t) r * dim, dim, m->q + (size_t) r * dim, &m->l1q[r], &m->l1e[r]);
  return m;
}

void
quant_matrix_free(quant_matrix *m)
{
  if (!m)
    return;
  if (m->map) {
    munmap(m->map, m->map_size);
  } else {
    g_free(m->q);
    g_free(m->scale);
    g_free(m->l1q);
    g_free(m->l1e);
  }
  g_free(m->approx);
  g_free(m->cand);
  g_free(m);
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

bool
quant_matrix_save(const quant_matrix *m, const char *path, int64_t generation)
{
  char *tmp = g_strdup_printf("%s.%d.tmp", path, (int) getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  quant_header h = { .version = QUANT_VERSION,
                     .dim = m->dim,
                     .n = m->n,
                     .generation = generation,
                     .q_offset = q_offset_for(m->n) };
  static const char zeros[64];
  size_t vec = (size_t) m->n * sizeof(float);
  bool ok;

  if (fd < 0) {
    g_free(tmp);
    return false;
  }
  memcpy(h.magic, QUANT_MAGIC, 8);
  ok = write_all(fd, &h, sizeof h) && write_all(fd, m->scale, vec) && write_all(fd, m->l1q, vec)
       && write_all(fd, m->l1e, vec) && write_all(fd, zeros, h.q_offset - sizeof h - 3 * vec)
       && write_all(fd, m->q, (size_t) m->n * m->dim);
  ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
  if (!ok)
    unlink(tmp);
  g_free(tmp);
  return ok;
}

quant_matrix *
quant_matrix_map(const char *path, const float *rows, int64_t n, int dim, int64_t generation)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  quant_header h;
  char *p;

  if (fd < 0)
    return NULL;
  if (fstat(fd, &st) != 0 || (size_t) st.st_size < sizeof h
      || pread(fd, &h, sizeof h, 0) != (ssize_t) sizeof h || memcmp(h.magic, QUANT_MAGIC, 8)
      || h.version != QUANT_VERSION || (int) h.dim != dim || h.n != n || h.generation != generation
      || (size_t) h.q_offset != q_offset_for(n)
      || (size_t) st.st_size != (size_t) h.q_offset + (size_t) n * dim) {
    close(fd);
    return NULL;
  }
  /* MAP_POPULATE: every page is read by the scan, so map them all at once
   * rather than fault them in one by one inside it. */
  p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED)
    return NULL;
  quant_matrix *m = g_new0(quant_matrix, 1);
  m->rows = rows;
  m->n = n;
  m->dim = dim;
  m->map = p;
  m->map_size = st.st_size;
  m->scale = (float *) (p + sizeof h);
  m->l1q = m->scale + n;
  m->l1e = m->l1q + n;
  m->q = (int8_t *) (p + h.q_offset);
  m->approx = g_new(float, MAX(n, 1));
  m->cand = g_new(int64_t, MAX(n, 1));
  return m;
}

/* Min-heap of k floats: the k largest values seen; h[0] the k-th largest. */
static void
sift_down(float *h, int n, int i)
{
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && h[l] < h[m])
      m = l;
    if (r < n && h[r] < h[m])
      m = r;
    if (m == i)
      return;
    float t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

/* Pass 1: approximate scores; a row is a candidate while its upper bound
 * reaches the k-th best lower bound so far (which only rises). Inlined
 * with the dimension as a constant for the common models, so the compiler
 * unrolls and vectorizes the int8 products with one sum per row. */
static inline __attribute__((always_inline)) int64_t
scan_dim(quant_matrix *m, const int dim, int64_t r0, int64_t r1, const int8_t *p, float t,
         float fmax_, float ymax, int k, float *heap, int *have_out)
{
  const float slack = 1e-5f; /* float rounding of the bound itself, with room to spare */
  int have = 0;
  int64_t nc = r0; /* a part's candidates go where its rows start */
  float threshold = -INFINITY;
  for (int64_t r = r0; r < r1; r++) {
    const int8_t *q = m->q + (size_t) r * dim;
    int32_t acc = 0;
    for (int i = 0; i < dim; i++)
      acc += (int16_t) q[i] * (int16_t) p[i];
    float a = m->scale[r] * t * (float) acc;
    float b = m->l1q[r] * fmax_ + m->l1e[r] * ymax + slack;
    if (a + b < threshold)
      continue;
    m->cand[nc] = r;
    m->approx[nc++] = a + b;
    if (have < k) {
      heap[have++] = a - b;
      if (have == k) {
        for (int j = k / 2 - 1; j >= 0; j--)
          sift_down(heap, k, j);
        threshold = heap[0];
      }
    } else if (a - b > heap[0]) {
      heap[0] = a - b;
      sift_down(heap, k, 0);
      threshold = heap[0];
    }
  }
  *have_out = have;
  return nc - r0;
}

/* One part of pass 1, run by a thread of its own. */
typedef struct {
  quant_matrix *m;
  int64_t r0, r1;
  const int8_t *p;
  float t, fmax_, ymax;
  int k;
  float *heap; /* [k] */
  int have;
  int64_t nc;
} scan_part;

/* Built for AVX2 too (picked at load time): 32 int8 products per
 * instruction instead of SSE2's 8, the difference between a compute-bound
 * and a memory-bound scan. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static gpointer
scan(gpointer data)
{
  scan_part *s = data;
#define SCAN(D)                                                                                    \
  scan_dim(s->m, D, s->r0, s->r1, s->p, s->t, s->fmax_, s->ymax, s->k, s->heap, &s->have)
  switch (s->m->dim) {
  case 64: s->nc = SCAN(64); break;
  case 512: s->nc = SCAN(512); break;
  case 768: s->nc = SCAN(768); break;
  default: s->nc = SCAN(s->m->dim);
  }
#undef SCAN
  return NULL;
}

static int
float_desc(const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return x < y ? 1 : x > y ? -1 : 0;
}

static int
by_score_desc(const void *a, const void *b)
{
  const search_hit *x = a, *y = b;
  if (x->score != y->score)
    return x->score < y->score ? 1 : -1;
  return x->row < y->row ? -1 : x->row > y->row;
}

int
quant_top_k(quant_matrix *m, const float *query, int k, search_hit *hits, int64_t *candidates)
{
  int dim = m->dim, have = 0;
  int8_t *p = g_new(int8_t, dim);
  float *heap = g_new(float, (size_t) MAX(k, 1) * 8);
  float ymax = 0, fmax_ = 0, t;
  int64_t nc = 0;

  if (k <= 0 || m->n == 0) {
    g_free(p);
    g_free(heap);
    if (candidates)
      *candidates = 0;
    return 0;
  }
  t = quantize(query, dim, p, NULL, NULL);
  for (int i = 0; i < dim; i++) {
    ymax = fmaxf(ymax, fabsf(query[i]));
    fmax_ = fmaxf(fmax_, fabsf(query[i] - t * p[i]));
  }

  /* Pass 1 in one part per core for large matrices: the scan is the
   * query's cost, and on a busy machine each thread gets its own share. */
  int n_parts = m->n >= (1 << 16) ? CLAMP((int) g_get_num_processors(), 1, 8) : 1;
  scan_part parts[8];
  GThread *threads[8] = { NULL };
  for (int i = 0; i < n_parts; i++) {
    parts[i] = (scan_part){ .m = m,
                            .r0 = m->n * i / n_parts,
                            .r1 = m->n * (i + 1) / n_parts,
                            .p = p,
                            .t = t,
                            .fmax_ = fmax_,
                            .ymax = ymax,
                            .k = k,
                            .heap = heap + (size_t) i * k };
    if (i > 0)
      threads[i] = g_thread_try_new("quant-scan", scan, &parts[i], NULL);
  }
  scan(&parts[0]);
  for (int i = 1; i < n_parts; i++) {
    if (threads[i])
      g_thread_join(threads[i]);
    else
      scan(&parts[i]); /* no thread: scan it here */
  }
  /* The k-th best lower bound over all parts (each kept its k best). */
  int n_lower = 0;
  for (int i = 0; i < n_parts; i++) {
    memmove(heap + n_lower, parts[i].heap, parts[i].have * sizeof(float));
    n_lower += parts[i].have;
  }
  float threshold = -INFINITY;
  if (n_lower >= k) {
    qsort(heap, n_lower, sizeof(float), float_desc);
    threshold = heap[k - 1];
  }

  /* 2. the candidates that still reach it, scored exactly */
  nc = 0;
  for (int i = 0; i < n_parts; i++)
    for (int64_t j = parts[i].r0; j < parts[i].r0 + parts[i].nc; j++)
      if (m->approx[j] >= threshold)
        m->cand[nc++] = m->cand[j];
  have = 0;
  for (int64_t i = 0; i < nc; i++) {
    int64_t r = m->cand[i];
    float s = cblas_sdot(dim, m->rows + (size_t) r * dim, 1, query, 1);
    search_hit h = { r, s };
    if (have < k) {
      hits[have++] = h;
    } else {
      /* replace the worst kept hit (k is small: a linear pass) */
      int w = 0;
      for (int j = 1; j < k; j++)
        if (by_score_desc(&hits[j], &hits[w]) > 0)
          w = j;
      if (by_score_desc(&h, &hits[w]) < 0)
        hits[w] = h;
    }
  }
  qsort(hits, have, sizeof *hits, by_score_desc);
  if (candidates)
    *candidates = nc;
  g_free(p);
  g_free(heap);
  return have;
}
