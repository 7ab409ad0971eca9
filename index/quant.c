/* quant.c — the int8 prefilter of quant.h and its error bound.
 *
 * Row x = s·q + e (q int8, |e_i| <= s/2), query y = t·p + f (p int8). Then
 *   x·y = s·t·(q·p) + s·(q·f) + e·y,
 *   |x·y - s·t·(q·p)| <= s·|q|_1·max|f| + |e|_1·max|y|,
 * with s·|q|_1 and |e|_1 computed once per row. */
#include "quant.h"

#include <cblas.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cachefile.h"

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

/* The file: this header, scale, l1q and l1e as float32 [cap] each, then q
 * [cap, dim] from a 64-byte boundary; the first n rows of each are in use. */
#define QUANT_MAGIC "CLIPIDXQ"
#define QUANT_VERSION 2

typedef struct {
  char magic[8];
  uint32_t version, dim;
  int64_t n, cap, generation;
  uint64_t lineage; /* as the matrix's (matrix.h) */
  char pad[16];
} quant_header;
G_STATIC_ASSERT(sizeof(quant_header) == 64);

static size_t
q_offset_for(int64_t cap)
{
  return cachefile_align(sizeof(quant_header) + (size_t) cap * 3 * sizeof(float));
}

static bool
quant_header_sane(const quant_header *h, size_t size, int dim)
{
  return !memcmp(h->magic, QUANT_MAGIC, 8) && h->version == QUANT_VERSION && (int) h->dim == dim
         && h->n >= 0 && h->cap >= h->n && size == q_offset_for(h->cap) + (size_t) h->cap * dim;
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

bool
quant_matrix_save(const quant_matrix *m, const char *path, int64_t generation, uint64_t lineage)
{
  int64_t cap = lineage ? cachefile_capacity(m->n) : m->n;
  quant_header h = { .version = QUANT_VERSION,
                     .dim = m->dim,
                     .n = m->n,
                     .cap = cap,
                     .generation = generation,
                     .lineage = lineage };
  size_t vec = (size_t) m->n * sizeof(float), room = (size_t) (cap - m->n) * sizeof(float);
  memcpy(h.magic, QUANT_MAGIC, 8);
  cachefile_part parts[] = {
    { &h, sizeof h },
    { m->scale, vec },
    { NULL, room },
    { m->l1q, vec },
    { NULL, room },
    { m->l1e, vec },
    { NULL, q_offset_for(cap) - sizeof h - 3 * (vec + room) + room },
    { m->q, (size_t) m->n * m->dim },
    { NULL, (size_t) (cap - m->n) * m->dim },
  };
  return cachefile_write(path, parts, G_N_ELEMENTS(parts));
}

int64_t
quant_matrix_extend(const char *path, const float *rows, int64_t n, int dim, int64_t generation,
                    uint64_t lineage, char **damaged)
{
  quant_header h;
  size_t size;
  int fd = cachefile_extend_open(path, &h, sizeof h, &size);
  int64_t added = -1;

  if (fd < 0)
    return -1;
  if (!memcmp(h.magic, QUANT_MAGIC, 8) && h.version == QUANT_VERSION && (int) h.dim == dim
      && !quant_header_sane(&h, size, dim))
    *damaged = h.n >= 0 && h.cap >= h.n
                   ? g_strdup_printf("damaged (%zu bytes where its header makes %zu)", size,
                                     q_offset_for(h.cap) + (size_t) h.cap * dim)
                   : g_strdup("damaged (its header counts more rows than it has room for)");
  else if (quant_header_sane(&h, size, dim) && lineage && h.lineage == lineage && h.n <= n
           && n <= h.cap) {
    /* Each row's scale and bounds are its own: quantizing only the new
     * rows gives the bytes a full rebuild would. */
    int64_t k = n - h.n;
    quant_matrix *t = quant_matrix_new(rows + (size_t) h.n * dim, k, dim);
    size_t at = (size_t) h.n * sizeof(float), vec = (size_t) h.cap * sizeof(float);
    if (cachefile_pwrite(fd, t->scale, k * sizeof(float), sizeof h + at)
        && cachefile_pwrite(fd, t->l1q, k * sizeof(float), sizeof h + vec + at)
        && cachefile_pwrite(fd, t->l1e, k * sizeof(float), sizeof h + 2 * vec + at)
        && cachefile_pwrite(fd, t->q, (size_t) k * dim, q_offset_for(h.cap) + (size_t) h.n * dim)) {
      h.n = n;
      h.generation = generation;
      added = cachefile_extend_commit(fd, &h, sizeof h) ? k : -1;
      fd = -1;
    }
    quant_matrix_free(t);
  }
  if (fd >= 0)
    close(fd);
  return added;
}

typedef struct {
  int64_t n, generation;
  int dim;
} quant_want;

static size_t
quant_header_ok(const void *header, size_t size, const void *data)
{
  const quant_header *h = header;
  const quant_want *w = data;
  if (!quant_header_sane(h, size, w->dim) || h->n != w->n || h->generation != w->generation)
    return 0;
  return q_offset_for(h->cap) + (size_t) w->n * w->dim;
}

quant_matrix *
quant_matrix_map(const char *path, const float *rows, int64_t n, int dim, int64_t generation)
{
  quant_header h;
  quant_want w = { n, generation, dim };
  size_t size;
  /* MAP_POPULATE: every page is read by the scan, so map them all at once
   * rather than fault them in one by one inside it. */
  char *p = cachefile_map(path, &h, sizeof h, quant_header_ok, &w, true, &size);
  if (!p)
    return NULL;
  quant_matrix *m = g_new0(quant_matrix, 1);
  m->rows = rows;
  m->n = n;
  m->dim = dim;
  m->map = p;
  m->map_size = size;
  m->scale = (float *) (p + sizeof h);
  m->l1q = m->scale + h.cap;
  m->l1e = m->l1q + h.cap;
  m->q = (int8_t *) (p + q_offset_for(h.cap));
  m->approx = g_new(float, MAX(n, 1));
  m->cand = g_new(int64_t, MAX(n, 1));
  return m;
}

/* Pass 1 is cut into chunks of rows that its threads take in turn, so that
 * a thread the scheduler holds back leaves the rest to the others. */
#define CHUNK_ROWS 16384

/* One thread of pass 1, and the chunk it is scanning. */
typedef struct {
  quant_matrix *m;
  const int8_t *p; /* the query as int8, zero-padded to a multiple of 64 */
  float t, fmax_, ymax;
  int k;
  search_hit *heap; /* [k]: the k best lower bounds of its chunks (search_heap_offer) */
  int have;
  float threshold;  /* heap[0] once it holds k, until then -inf */
  gint *next_chunk; /* shared: the next chunk to take */
  int n_chunks;
  int64_t *chunk_nc;  /* shared: [n_chunks] candidates of each chunk */
  int64_t r0, r1, nc; /* the chunk: its rows, and its candidates in cand/approx from r0 on */
} scan_part;

/* Pass 1 for one row, given acc, its int8 dot product with the query: the
 * row is a candidate while its upper bound reaches the k-th best lower
 * bound so far (which only rises). */
#define SLACK 1e-5f /* float rounding of the bound itself, with room to spare */

/* The row's approximate score a and bound b (a kernel that computes them
 * for many rows at once must round the same way: same operations, in the
 * same order, no fused multiply-add) decide. */
static inline __attribute__((always_inline)) void
consider_ab(scan_part *s, int64_t r, float a, float b)
{
  const quant_matrix *m = s->m;
  if (a + b < s->threshold)
    return;
  int64_t j = s->r0 + s->nc++; /* a chunk's candidates go where its rows start */
  m->cand[j] = r;
  m->approx[j] = a + b;
  search_heap_offer(s->heap, &s->have, s->k, (search_hit){ r, a - b });
  if (s->have == s->k)
    s->threshold = s->heap[0].score;
}

static inline __attribute__((always_inline)) void
consider(scan_part *s, int64_t r, int32_t acc)
{
  const quant_matrix *m = s->m;
  consider_ab(s, r, m->scale[r] * s->t * (float) acc,
              m->l1q[r] * s->fmax_ + m->l1e[r] * s->ymax + SLACK);
}

/* The portable kernel, inlined with the dimension as a constant for the
 * common models so that the compiler unrolls and vectorizes the products. */
static inline __attribute__((always_inline)) void
scan_rows(scan_part *s, const int dim)
{
  const int8_t *p = s->p;
  for (int64_t r = s->r0; r < s->r1; r++) {
    const int8_t *q = s->m->q + (size_t) r * dim;
    int32_t acc = 0;
    for (int i = 0; i < dim; i++)
      acc += (int16_t) q[i] * (int16_t) p[i];
    consider(s, r, acc);
  }
}

/* Built for AVX2 too (picked at load time): 32 int8 products per
 * instruction instead of SSE2's 8. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void
scan_portable(scan_part *s)
{
  switch (s->m->dim) {
  case 64: scan_rows(s, 64); break;
  case 512: scan_rows(s, 512); break;
  case 768: scan_rows(s, 768); break;
  default: scan_rows(s, s->m->dim);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_VNNI_KERNEL 1
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* AVX-512 VNNI: one vpdpbusd multiplies 64 unsigned by 64 signed bytes and
 * adds each four products into one of 16 int32 lanes, so a 512-dimension
 * row is 8 instructions and the scan is bound by memory, not by the
 * products. The row's bytes are made unsigned by flipping their sign bit
 * (q + 128), which adds 128·Σp to every dot product; subtracted once, the
 * sum is exact (|Σ| < 2^31 for any dim below 2^17). A short last chunk is
 * loaded under a mask: its missing bytes meet the query's zero padding.
 * Returns the 16 lanes whose sum is the product, bias not subtracted. */
static inline __attribute__((always_inline)) VNNI __m512i
dot_vnni(const int8_t *q, const int8_t *p, int full, int tail, __mmask64 tail_mask)
{
  const __m512i flip = _mm512_set1_epi8((char) 0x80);
  __m512i acc = _mm512_setzero_si512();
  for (int c = 0; c < full; c++)
    acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512(q + 64 * c), flip),
                              _mm512_loadu_si512(p + 64 * c));
  if (tail)
    acc = _mm512_dpbusd_epi32(
        acc, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail_mask, q + 64 * full), flip),
        _mm512_loadu_si512(p + 64 * full));
  return acc;
}

/* Lane j of the result: the sum of v[j]'s 16 lanes. Pairs are interleaved
 * and added within 128-bit lanes, then the 128-bit lanes across. */
static inline __attribute__((always_inline)) VNNI __m512i
sum16(const __m512i v[16])
{
  __m512i w[8], x[4], y[2];
  for (int i = 0; i < 8; i++) /* per 128-bit lane: rows 2i, 2i+1, 2i, 2i+1 */
    w[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; i++) /* per 128-bit lane: rows 4i .. 4i+3 */
    x[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(w[2 * i], w[2 * i + 1]),
                            _mm512_unpackhi_epi64(w[2 * i], w[2 * i + 1]));
  for (int i = 0; i < 2; i++) /* 128-bit lanes 0 + 2 and 1 + 3 of x[2i], then of x[2i+1] */
    y[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_i32x4(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i32x4(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* Rows go 16 at a time: their sums in one vector, their approximate scores
 * and bounds computed together, and only the rows whose upper bound
 * reaches the threshold (rarely any) considered one by one. */
static VNNI void
scan_vnni(scan_part *s)
{
  const quant_matrix *m = s->m;
  const int dim = m->dim, full = dim / 64, tail = dim % 64;
  const __mmask64 tail_mask = tail ? ~0ULL >> (64 - tail) : 0;
  const int8_t *p = s->p;
  int32_t bias = 0;
  int64_t r = s->r0;

  for (int i = 0; i < dim; i++)
    bias += 128 * p[i];
  const __m512 t = _mm512_set1_ps(s->t), fmax_ = _mm512_set1_ps(s->fmax_),
               ymax = _mm512_set1_ps(s->ymax), slack = _mm512_set1_ps(SLACK);
  for (; r + 16 <= s->r1; r += 16) {
    __m512i acc[16];
    for (int j = 0; j < 16; j++)
      acc[j] = dot_vnni(m->q + (size_t) (r + j) * dim, p, full, tail, tail_mask);
    __m512 dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum16(acc), _mm512_set1_epi32(bias)));
    __m512 a = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(m->scale + r), t), dot);
    __m512 b = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(m->l1q + r), fmax_),
                                           _mm512_mul_ps(_mm512_loadu_ps(m->l1e + r), ymax)),
                             slack);
    /* not less than: a NaN bound is a candidate, as in consider() */
    __mmask16 reach =
        _mm512_cmp_ps_mask(_mm512_add_ps(a, b), _mm512_set1_ps(s->threshold), _CMP_NLT_UQ);
    if (reach) {
      float av[16], bv[16];
      _mm512_storeu_ps(av, a);
      _mm512_storeu_ps(bv, b);
      for (int j = 0; j < 16; j++)
        if (reach & (1u << j))
          consider_ab(s, r + j, av[j], bv[j]);
    }
  }
  for (; r < s->r1; r++)
    consider(s, r,
             _mm512_reduce_add_epi32(dot_vnni(m->q + (size_t) r * dim, p, full, tail, tail_mask))
                 - bias);
}
#endif

static bool use_portable;

const char *
quant_kernel_select(bool portable)
{
  use_portable = portable;
#ifdef HAVE_VNNI_KERNEL
  if (!portable && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
    return "avx512-vnni";
#endif
  return "portable";
}

static gpointer
scan(gpointer data)
{
  scan_part *s = data;
  void (*kernel)(scan_part *) = scan_portable;
  int c;
#ifdef HAVE_VNNI_KERNEL
  if (!use_portable && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
    kernel = scan_vnni;
#endif
  while ((c = g_atomic_int_add(s->next_chunk, 1)) < s->n_chunks) {
    s->r0 = (int64_t) c * CHUNK_ROWS;
    s->r1 = MIN(s->r0 + CHUNK_ROWS, s->m->n);
    s->nc = 0;
    kernel(s);
    s->chunk_nc[c] = s->nc;
  }
  return NULL;
}

int
quant_top_k(quant_matrix *m, const float *query, int k, search_hit *hits, int64_t *candidates)
{
  int dim = m->dim, have = 0;
  int8_t *p = g_new0(int8_t, (dim + 63) & ~63); /* zero-padded for the VNNI kernel */
  search_hit *heap = g_new(search_hit, (size_t) MAX(k, 1) * 8);
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

  /* Pass 1 on one thread per core for large matrices: the scan is the
   * query's cost, and one core does not use up the memory bandwidth. */
  int n_parts = m->n >= (1 << 16) ? CLAMP((int) g_get_num_processors(), 1, 8) : 1;
  int n_chunks = (int) ((m->n + CHUNK_ROWS - 1) / CHUNK_ROWS);
  int64_t *chunk_nc = g_new(int64_t, n_chunks);
  gint next_chunk = 0;
  scan_part parts[8];
  GThread *threads[8] = { NULL };
  for (int i = 0; i < n_parts; i++) {
    parts[i] = (scan_part){ .m = m,
                            .p = p,
                            .t = t,
                            .fmax_ = fmax_,
                            .ymax = ymax,
                            .k = k,
                            .heap = heap + (size_t) i * k,
                            .threshold = -INFINITY,
                            .next_chunk = &next_chunk,
                            .n_chunks = n_chunks,
                            .chunk_nc = chunk_nc };
    if (i > 0) /* without a thread, the others take its chunks */
      threads[i] = g_thread_try_new("quant-scan", scan, &parts[i], NULL);
  }
  scan(&parts[0]);
  for (int i = 1; i < n_parts; i++)
    if (threads[i])
      g_thread_join(threads[i]);
  /* The k-th best lower bound over all parts (each kept its k best). */
  int n_lower = 0;
  for (int i = 0; i < n_parts; i++) {
    memmove(heap + n_lower, parts[i].heap, parts[i].have * sizeof *heap);
    n_lower += parts[i].have;
  }
  float threshold = -INFINITY;
  if (n_lower >= k) {
    qsort(heap, n_lower, sizeof *heap, search_hit_cmp);
    threshold = heap[k - 1].score;
  }

  /* 2. the candidates that still reach it, scored exactly */
  nc = 0;
  for (int c = 0; c < n_chunks; c++)
    for (int64_t j = (int64_t) c * CHUNK_ROWS; j < (int64_t) c * CHUNK_ROWS + chunk_nc[c]; j++)
      if (m->approx[j] >= threshold)
        m->cand[nc++] = m->cand[j];
  have = 0;
  for (int64_t i = 0; i < nc; i++) {
    int64_t r = m->cand[i];
    search_heap_offer(hits, &have, k,
                      (search_hit){ r, cblas_sdot(dim, m->rows + (size_t) r * dim, 1, query, 1) });
  }
  qsort(hits, have, sizeof *hits, search_hit_cmp);
  if (candidates)
    *candidates = nc;
  g_free(chunk_nc);
  g_free(p);
  g_free(heap);
  return have;
}
