/* ops.c — the GEMM boundary and the element-wise kernels (layer norm,
 * softmax, activations): the OpenBLAS backend on the context's own
 * workers, and the dispatch to oneDNN (backend-onednn.c), whose hook packs
 * a model's layers at load. */
#include "ops.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "backend-onednn.h"
#include "error.h"
#include "model.h"
#include "pool.h"

/* A context's oneDNN state: its stream and scratch, and the first failure of
 * the current forward pass (ops_linear() returns nothing, so a failure is
 * kept here until the tower collects it with ops_backend_take_error()). */
typedef struct {
  onednn_exec *ex;
  GHashTable *layers; /* the model's: clip_linear * -> onednn_linear * */
  clip_error err;
} onednn_state;

/* A model's oneDNN state: the engine and the prepacked layers, looked up by
 * the address of their clip_linear so the model layout stays backend-free. */
typedef struct {
  onednn_engine *eng;
  GHashTable *layers;
} onednn_model;

clip_status
ops_backend_init(ops_backend *be, const clip_params *params, clip_error *err)
{
  /* NULL: the zero parameters (DEFAULT backend, fp32, all cores); the
   * caller passes down whatever it resolved, nothing is read here. */
  const clip_params p0 = { 0 };
  clip_params p = params ? *params : p0;
  memset(be, 0, sizeof *be);
  if (p.backend == CLIP_BACKEND_DEFAULT)
    p.backend = onednn_built() ? CLIP_BACKEND_ONEDNN : CLIP_BACKEND_OPENBLAS;
  if (p.backend == CLIP_BACKEND_ONEDNN && !onednn_built())
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED,
                          "backend oneDNN: this build has only the OpenBLAS backend");
  if (p.precision == CLIP_PRECISION_BF16 && p.backend != CLIP_BACKEND_ONEDNN)
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "precision bf16 needs the oneDNN backend%s",
                          onednn_built() ? "" : ", which this build lacks");
  if (p.backend != CLIP_BACKEND_ONEDNN && p.backend != CLIP_BACKEND_OPENBLAS)
    return clip_set_error(err, CLIP_ERR_ARG, "backend: unknown value %d", (int) p.backend);
  if (p.precision != CLIP_PRECISION_FP32 && p.precision != CLIP_PRECISION_BF16)
    return clip_set_error(err, CLIP_ERR_ARG, "precision: unknown value %d", (int) p.precision);
  be->kind = p.backend;
  be->precision = p.precision;
  be->n_threads = p.n_threads > 0 ? p.n_threads : openblas_get_num_procs();
  if (be->n_threads < 1)
    be->n_threads = 1;
  /* The products run on the context's own workers, each calling OpenBLAS
   * on one thread: OpenBLAS's process-wide pool would spin on the cores
   * after every product while our workers run the attention core
   * (measured: attention at batch 16 took 3.4 ms per image next to it,
   * 1.9 ms with OpenBLAS's spinning cut short).
   * Setting it only when it differs avoids resizing the pool under another
   * user's running GEMM. (oneDNN pins it the same way: onednn_engine_new.) */
  if (be->kind == CLIP_BACKEND_OPENBLAS && openblas_get_num_threads() != 1)
    openblas_set_num_threads(1);
  return CLIP_OK;
}

/* A context's OpenBLAS state: its workers and one attention scores block
 * per worker, sized at bind for the model's longest sequence so a pass
 * never allocates. */
typedef struct {
  clip_pool *pool; /* its workers (pool.h); NULL with one thread */
  float *scores;
  size_t scores_stride; /* floats per worker: t_max², cache-line rounded */
  int t_max;
  double split_ns;
} blas_state;

/* Rough single-thread cost of the passes (measured on the ViT-B/32 shapes,
 * 2 threads), to decide whether one is worth handing to the workers: a
 * pass under the split threshold (SPLIT_NS_DEFAULT) runs on the calling
 * thread. Per element: a bias fill or add, an activation (expf or erff
 * dominate), a layer norm (three sweeps); attention per multiply-add of its
 * two products. The threshold was 500 µs while OpenBLAS's own pool spun
 * beside the workers (then no pass of one image measured faster split);
 * with that pool held at one thread, one image's attention core and
 * activation pay at 100 µs. */
#define NS_BIAS 0.3
#define NS_ACT 2.8
#define NS_NORM 0.6
#define NS_ATTN_MAC 0.055
/* A product's multiply-adds at OpenBLAS's one-thread rate (≈ 35 GMAC/s),
 * and the row count from which products split by rows, not columns. */
#define NS_GEMM_MAC 0.03
#define GEMM_ROWS_SPLIT 256
#define SPLIT_NS_DEFAULT 100000.0

static clip_status
blas_bind(ops_backend *be, const clip_model *model, clip_error *err)
{
  const clip_model_info *in = &model->info;
  const size_t grid = in->patch_size > 0 ? (size_t) (in->image_size / in->patch_size) : 0;
  size_t t_max = grid * grid + 1, stride, bytes;
  if (in->context_length > 0 && (size_t) in->context_length > t_max)
    t_max = (size_t) in->context_length;
  if (t_max > INT_MAX || !g_size_checked_mul(&stride, t_max, t_max)
      || !g_size_checked_add(&stride, stride, 15)
      || !g_size_checked_mul(&bytes, stride & ~(size_t) 15, (size_t) be->n_threads * sizeof(float)))
    return clip_set_error(err, CLIP_ERR_ARG, "%s: sequences of %zu tokens are too long",
                          model->path ? model->path : "model", t_max);
  blas_state *bs = calloc(1, sizeof *bs);
  if (!bs || !(bs->scores = aligned_alloc(64, bytes))) {
    free(bs);
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory for %zu MB of attention scratch",
                          bytes >> 20);
  }
  bs->scores_stride = stride & ~(size_t) 15;
  bs->t_max = (int) t_max;
  bs->split_ns = SPLIT_NS_DEFAULT;
  if (be->n_threads > 1 && !(bs->pool = clip_pool_new(be->n_threads, err))) {
    free(bs->scores);
    free(bs);
    return err ? err->status : CLIP_ERR_NOMEM;
  }
  be->impl = bs;
  return CLIP_OK;
}

clip_status
ops_backend_bind(ops_backend *be, const clip_model *model, clip_error *err)
{
  if (be->kind != CLIP_BACKEND_ONEDNN)
    return blas_bind(be, model, err);
  if (!model->backend)
    return clip_set_error(err, CLIP_ERR_ARG, "%s: the model was loaded for another backend",
                          model->path ? model->path : "model");
  onednn_state *st = calloc(1, sizeof *st);
  if (!st)
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory for the oneDNN context");
  const onednn_model *om = model->backend;
  st->layers = om->layers;
  if (!(st->ex = onednn_exec_new(om->eng, err))) {
    free(st);
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  }
  be->impl = st;
  return CLIP_OK;
}

void
ops_backend_release(ops_backend *be)
{
  if (be->kind == CLIP_BACKEND_ONEDNN && be->impl) {
    onednn_state *st = be->impl;
    onednn_exec_free(st->ex);
    free(st);
  } else if (be->impl) {
    blas_state *bs = be->impl;
    clip_pool_free(bs->pool);
    free(bs->scores);
    free(bs);
  }
  be->impl = NULL;
}

void
ops_backend_set_split_threshold(ops_backend *be, double ns)
{
  if (be->kind != CLIP_BACKEND_ONEDNN && be->impl)
    ((blas_state *) be->impl)->split_ns = ns;
}

clip_status
ops_backend_take_error(const ops_backend *be, clip_error *err)
{
  onednn_state *st = be->kind == CLIP_BACKEND_ONEDNN ? be->impl : NULL;
  if (!st || st->err.status == CLIP_OK)
    return CLIP_OK;
  clip_status s = st->err.status;
  if (err)
    *err = st->err;
  memset(&st->err, 0, sizeof st->err);
  return s;
}

/* Items [0, n) of a pass in contiguous ranges, one per worker. */
typedef void (*range_fn)(const void *job, long begin, long end, int worker);

typedef struct {
  range_fn fn;
  const void *job;
  long n;
} split_job;

static void
split_worker(void *arg, int w, int n_workers)
{
  const split_job *s = arg;
  const long b = s->n * w / n_workers, e = s->n * (w + 1) / n_workers;
  if (b < e)
    s->fn(s->job, b, e, w);
}

/* Runs fn over [0, n) on the context's workers when the pass (ns of one
 * thread's work) pays for waking them, else on the calling thread. Items
 * are computed the same way wherever they run, except a product's blocks
 * (product_part), whose bits depend on where the product is cut. */
static void
split_run(const ops_backend *be, long n, double ns, range_fn fn, const void *job)
{
  const blas_state *bs = be->kind != CLIP_BACKEND_ONEDNN ? be->impl : NULL;
  if (bs && bs->pool && n > 1 && ns >= bs->split_ns) {
    split_job s = { fn, job, n };
    clip_pool_run(bs->pool, split_worker, &s);
  } else if (n > 0) {
    fn(job, 0, n, 0);
  }
}

/* Creates the primitives of a one-image vision pass at load, so the first
 * frame of a stream is as fast as the others (other batch sizes and text
 * lengths create theirs on first use, once). */
static clip_status
warm_vision(clip_model *m, onednn_model *om, clip_error *err)
{
  const clip_model_info *in = &m->info;
  if (in->patch_size <= 0 || !m->vision.blocks || m->vision.layers < 1 || m->vision.heads < 1)
    return CLIP_OK;
  int grid = in->image_size / in->patch_size, T = grid * grid + 1;
  const clip_block *b = &m->vision.blocks[0];
  onednn_act act = in->activation == CLIP_ACT_GELU ? ONEDNN_ACT_GELU : ONEDNN_ACT_QUICK_GELU;
  struct {
    const clip_linear *lin;
    int M;
    onednn_act act;
    bool residual;
  } w[] = { { &m->patch_embed, grid * grid, ONEDNN_ACT_NONE, false },
            { &b->qkv, T, ONEDNN_ACT_NONE, false },
            { &b->attn_out, T, ONEDNN_ACT_NONE, true },
            { &b->fc1, T, act, false },
            { &b->fc2, T, ONEDNN_ACT_NONE, true },
            /* the last block past attention runs on the class token only */
            { &b->attn_out, 1, ONEDNN_ACT_NONE, true },
            { &b->fc1, 1, act, false },
            { &b->fc2, 1, ONEDNN_ACT_NONE, true },
            { &m->visual_proj, 1, ONEDNN_ACT_NONE, false } };
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
    onednn_linear *prep = g_hash_table_lookup(om->layers, w[i].lin);
    clip_status st =
        prep ? onednn_linear_warm(prep, w[i].M, w[i].act, w[i].residual, err) : CLIP_OK;
    if (st != CLIP_OK)
      return st;
  }
  return onednn_attention_warm(om->eng, 1, T, m->vision.heads, m->vision.width / m->vision.heads,
                               err);
}

/* The oneDNN backend's pack hook (clip_model_pack_layers): reorders one
 * layer's weights into the layout its matmul prefers, keyed by the layer. */
typedef struct {
  onednn_model *om;
  bool bf16;
} onednn_pack;

/* The layer's weights, read only when the packed-weight file lacks it. */
typedef struct {
  clip_model *m;
  const clip_linear *lin;
} layer_source;

static clip_status
layer_parts(void *user, const float **parts, clip_error *err)
{
  const layer_source *src = user;
  return clip_model_layer_parts(src->m, src->lin, parts, err);
}

static clip_status
onednn_pack_layer(void *user, clip_model *m, const clip_linear *lin, int n_parts, int m_hint,
                  clip_error *err)
{
  const onednn_pack *pk = user;
  layer_source src = { m, lin };
  onednn_linear *prep =
      onednn_linear_new_lazy(pk->om->eng, layer_parts, &src, n_parts, lin->transposed, lin->b,
                             lin->in, lin->out, pk->bf16, m_hint, err);
  if (!prep)
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  g_hash_table_insert(pk->om->layers, (gpointer) lin, prep);
  return CLIP_OK;
}

/* The packed-weight file of each tower selection: its layers are matched
 * by position, so a model with one tower has a file of its own. */
static const char *const pack_variant[] = {
  [CLIP_TOWERS_ALL] = NULL,
  [CLIP_TOWERS_TEXT] = "text",
  [CLIP_TOWERS_VISION] = "vision",
};

clip_status
ops_model_prepare(clip_model *m, clip_error *err)
{
  ops_backend be;
  clip_status st = ops_backend_init(&be, &m->params, err);
  if (st != CLIP_OK)
    return st;
  m->params.backend = be.kind;
  if (be.kind != CLIP_BACKEND_ONEDNN)
    return CLIP_OK;
  onednn_model *om = calloc(1, sizeof *om);
  if (!om)
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory preparing the oneDNN layers");
  m->backend = om;
  om->layers = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                     (GDestroyNotify) onednn_linear_free);
  if (!(om->eng = onednn_engine_new(be.n_threads, err)))
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  /* Packed weights saved by an earlier load of this checkpoint are mapped
   * instead of packed again (backend-onednn.c checks they still match). */
  if (m->files[0])
    onednn_engine_use_pack_file(om->eng, st_path(m->files[0]), st_identity(m->files[0]),
                                pack_variant[m->params.towers],
                                be.precision == CLIP_PRECISION_BF16);
  onednn_pack pk = { om, be.precision == CLIP_PRECISION_BF16 };
  st = clip_model_pack_layers(m, onednn_pack_layer, &pk, err);
  if (st == CLIP_OK)
    onednn_engine_save_pack_file(om->eng);
  if (st == CLIP_OK)
    st = warm_vision(m, om, err);
  return st;
}

void
ops_model_release(clip_model *m)
{
  onednn_model *om = m->backend;
  if (!om)
    return;
  /* Layers before the engine they were built on. */
  g_hash_table_destroy(om->layers);
  onednn_engine_free(om->eng);
  free(om);
  m->backend = NULL;
}

float
ops_quick_gelu(float x)
{
  /* For very negative x, expf overflows to inf and the quotient is -0, which
   * is the limit; no special case needed. */
  return x / (1.0f + expf(-1.702f * x));
}

float
ops_gelu(float x)
{
  return 0.5f * x * (1.0f + erff(x * (float) M_SQRT1_2));
}

static double
now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
profile_add(ops_profile *p, bool attention, int M, int K, int N, int hd, double seconds)
{
  for (int i = 0; i < p->n; i++) {
    ops_profile_entry *e = &p->e[i];
    if (e->attention == attention && e->M == M && e->K == K && e->N == N && e->hd == hd) {
      e->calls++;
      e->seconds += seconds;
      return;
    }
  }
  if (p->n < (int) (sizeof p->e / sizeof p->e[0]))
    p->e[p->n++] = (ops_profile_entry){ attention, M, K, N, hd, 1, seconds };
}

static void linear_run(const ops_backend *be, const clip_linear *lin, const float *x, int M,
                       float *y, ops_epilogue epi);
static void attention_run(const ops_backend *be, const float *qkv, int n_seq, int T, int heads,
                          int hd, bool causal, float *out);

void
ops_linear(const ops_backend *be, const clip_linear *lin, const float *x, int M, float *y,
           ops_epilogue epi)
{
  if (!be->profile) {
    linear_run(be, lin, x, M, y, epi);
    return;
  }
  double t0 = now_seconds();
  linear_run(be, lin, x, M, y, epi);
  profile_add(be->profile, false, M, lin->in, lin->out, 0, now_seconds() - t0);
}

void
ops_attention(const ops_backend *be, const float *qkv, int n_seq, int T, int heads, int hd,
              bool causal, float *out)
{
  if (!be->profile) {
    attention_run(be, qkv, n_seq, T, heads, hd, causal, out);
    return;
  }
  double t0 = now_seconds();
  attention_run(be, qkv, n_seq, T, heads, hd, causal, out);
  profile_add(be->profile, true, n_seq, T, heads, hd, now_seconds() - t0);
}

typedef struct {
  const float *b;
  float *y;
  int N;
  ops_epilogue epi;
} epilogue_job;

/* Rows [r0, r1) of y: = b, or += b onto the residual stream. */
static void
bias_rows(const void *arg, long r0, long r1, int worker)
{
  const epilogue_job *j = arg;
  (void) worker;
  for (long r = r0; r < r1; r++) {
    float *row = j->y + (size_t) r * j->N;
    if (j->epi == OPS_EPI_RESIDUAL)
      for (int c = 0; c < j->N; c++)
        row[c] += j->b[c];
    else
      memcpy(row, j->b, (size_t) j->N * sizeof *row);
  }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* ops_quick_gelu() eight at a time: with expf per element the activation
 * after fc1 was the largest cost above the GEMM floor on OpenBLAS at batch
 * 16 (≈ 5 ms of a 61 ms image). exp(t) = 2^k·e^r, |r| ≤ ln2/2, with
 * Cephes' expf polynomial (≈ 1 ulp); t is clamped to expf's finite range,
 * where x / (1 + e^t) is 0 or x to float precision anyway. The division is
 * exact IEEE, so the result is within a few ulp of ops_quick_gelu()
 * (tests/engine/test-forward.c). */
/* 2^k for k in [-126, 127], built in the exponent field. */
__attribute__((target("avx2"))) static inline __m256
pow2_avx2(__m256i k)
{
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

__attribute__((target("avx2,fma"))) static void
quick_gelu_avx2(float *y, size_t n)
{
  const __m256 c = _mm256_set1_ps(-1.702f), lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.7f),
               log2e = _mm256_set1_ps(1.44269504088896341f), ln2_hi = _mm256_set1_ps(0.693359375f),
               ln2_lo = _mm256_set1_ps(-2.12194440e-4f), one = _mm256_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(y + i);
    __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(c, x), lo), hi);
    const __m256 k =
        _mm256_round_ps(_mm256_mul_ps(t, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, ln2_hi, t);
    r = _mm256_fnmadd_ps(k, ln2_lo, r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, one));
    /* 2^k through the exponent bits; k is in [-126, 128] after the clamp,
     * and 2^128 is split as 2·2^127 so the exponent field never overflows. */
    const __m256i ki = _mm256_cvtps_epi32(k), k1 = _mm256_srai_epi32(ki, 1);
    const __m256 e =
        _mm256_mul_ps(_mm256_mul_ps(p, pow2_avx2(k1)), pow2_avx2(_mm256_sub_epi32(ki, k1)));
    _mm256_storeu_ps(y + i, _mm256_div_ps(x, _mm256_add_ps(one, e)));
  }
  for (; i < n; i++)
    y[i] = ops_quick_gelu(y[i]);
}
#endif

void
ops_quick_gelu_rows(float *y, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    quick_gelu_avx2(y, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; i++)
    y[i] = ops_quick_gelu(y[i]);
}

static void
activation_rows(const void *arg, long r0, long r1, int worker)
{
  const epilogue_job *j = arg;
  (void) worker;
  float *y = j->y + (size_t) r0 * j->N;
  const size_t n = (size_t) (r1 - r0) * j->N;
  if (j->epi == OPS_EPI_QUICK_GELU)
    ops_quick_gelu_rows(y, n);
  else
    for (size_t i = 0; i < n; i++)
      y[i] = ops_gelu(y[i]);
}

/* Columns [c0, c1) of y = x·W (+ β·y) for rows [r0, r1). */
static void
product_block(const clip_linear *lin, const float *x, float *y, int r0, int r1, int c0, int c1,
              float beta)
{
  const int K = lin->in, N = lin->out, M = r1 - r0;
  x += (size_t) r0 * K, y += (size_t) r0 * N;
  if (!lin->transposed && lin->n_split == 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, c1 - c0, K, 1.0f, x, K, lin->w + c0,
                N, beta, y + c0, N);
    return;
  }
  /* [out][in] weights: one matrix, or HF's q, k, v as row blocks stored
   * apart, each giving a column block of y. */
  const int parts = lin->n_split > 0 ? lin->n_split : 1, Np = N / parts;
  for (int p = 0; p < parts; p++) {
    const float *w = lin->n_split > 0 ? lin->split[p] : lin->w;
    const int b0 = c0 > p * Np ? c0 : p * Np, b1 = c1 < (p + 1) * Np ? c1 : (p + 1) * Np;
    if (b0 < b1)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, b1 - b0, K, 1.0f, x, K,
                  w + (size_t) (b0 - p * Np) * K, K, beta, y + b0, N);
  }
}

typedef struct {
  const clip_linear *lin;
  const float *x;
  float *y;
  int M;
  float beta;
  bool by_rows;
} product_job;

/* One worker's share of a product: a block of rows (many rows: each
 * worker packs all of W, but W is read once per many rows) or of columns
 * (few rows: each worker reads only its part of W, which is most of the
 * memory traffic). Block edges are multiples of 16, whole micro-tiles of
 * OpenBLAS's kernels. OpenBLAS picks its kernels by shape, so a product cut
 * in two can differ from the whole in the last bits; the cut depends only
 * on the shape and the worker count, so a given thread count always gives
 * the same bits (tests/engine/test-threads.c). */
static void
product_part(const void *arg, long b, long e, int worker)
{
  const product_job *j = arg;
  const long n = j->by_rows ? j->M : j->lin->out;
  (void) worker;
  b = b == 0 ? 0 : (b + 8) / 16 * 16, e = e == n ? n : (e + 8) / 16 * 16;
  b = b < n ? b : n, e = e < n ? e : n;
  if (b >= e)
    return;
  if (j->by_rows)
    product_block(j->lin, j->x, j->y, (int) b, (int) e, 0, j->lin->out, j->beta);
  else
    product_block(j->lin, j->x, j->y, 0, j->M, (int) b, (int) e, j->beta);
}

static void
linear_run(const ops_backend *be, const clip_linear *lin, const float *x, int M, float *y,
           ops_epilogue epi)
{
  const int K = lin->in, N = lin->out;
  if (M <= 0)
    return;
  if (be->kind == CLIP_BACKEND_ONEDNN) {
    onednn_state *st = be->impl;
    if (st->err.status != CLIP_OK)
      return;
    onednn_linear *prep = g_hash_table_lookup(st->layers, lin);
    if (!prep) {
      clip_set_error(&st->err, CLIP_ERR_ARG, "linear layer [%d→%d] was not prepared for oneDNN", K,
                     N);
      return;
    }
    static const onednn_act acts[] = { [OPS_EPI_NONE] = ONEDNN_ACT_NONE,
                                       [OPS_EPI_QUICK_GELU] = ONEDNN_ACT_QUICK_GELU,
                                       [OPS_EPI_GELU] = ONEDNN_ACT_GELU,
                                       [OPS_EPI_RESIDUAL] = ONEDNN_ACT_NONE };
    onednn_linear_run(st->ex, prep, x, M, y, acts[epi], epi == OPS_EPI_RESIDUAL, &st->err);
    return;
  }
  /* The bias goes into y first and the product accumulates onto it with
   * β = 1: for y = x·W + b the fill takes the place of the pass in which
   * OpenBLAS zeroes y for β = 0, for the residual (y already holds the
   * stream) it is the one add there has to be (measured: never slower
   * than the add after the product). Large passes split over the workers,
   * and so does the activation after the product. */
  const epilogue_job job = { lin->b, y, N, epi };
  const double elems = (double) M * N;
  if (lin->b)
    split_run(be, M, elems * NS_BIAS, bias_rows, &job);
  const float beta = lin->b || epi == OPS_EPI_RESIDUAL ? 1.0f : 0.0f;
  const product_job pj = { lin, x, y, M, beta, M >= GEMM_ROWS_SPLIT };
  split_run(be, pj.by_rows ? M : N, (double) M * N * K * NS_GEMM_MAC, product_part, &pj);
  if (epi == OPS_EPI_QUICK_GELU || epi == OPS_EPI_GELU) {
    double t0 = be->profile ? now_seconds() : 0.0;
    split_run(be, M, elems * NS_ACT, activation_rows, &job);
    if (be->profile)
      be->profile->activation_seconds += now_seconds() - t0;
  }
}

typedef struct {
  const ops_backend *be;
  const float *qkv;
  int T, heads, hd;
  bool causal;
  float *out, *scores;
  size_t scores_stride;
} attention_job;

/* Pairs [p0, p1) of (sequence, head), with worker w's own scores block. */
static void
attention_pairs(const void *arg, long p0, long p1, int w)
{
  const attention_job *j = arg;
  const int T = j->T, hd = j->hd, W = j->heads * hd, ld = 3 * W;
  const float scale = 1.0f / sqrtf((float) hd);
  float *scores = j->scores + (size_t) w * j->scores_stride;
  for (long p = p0; p < p1; p++) {
    const long n = p / j->heads, h = p % j->heads;
    const float *q = j->qkv + (size_t) n * T * ld + h * hd, *k = q + W, *v = q + 2 * W;
    float *out = j->out + (size_t) n * T * W + h * hd;
    ops_matmul_nt(j->be, T, T, hd, scale, q, ld, k, ld, scores, T);
    ops_softmax_rows(scores, T, T, T, j->causal);
    ops_matmul_nn(j->be, T, hd, T, scores, T, v, ld, out, W);
  }
}

static void
attention_run(const ops_backend *be, const float *qkv, int n_seq, int T, int heads, int hd,
              bool causal, float *out)
{
  if (be->kind == CLIP_BACKEND_ONEDNN) {
    onednn_state *st = be->impl;
    if (st->err.status == CLIP_OK)
      onednn_attention(st->ex, qkv, n_seq, T, heads, hd, causal, out, &st->err);
    return;
  }
  const blas_state *bs = be->impl;
  if (!bs || T > bs->t_max || T <= 0 || hd <= 0)
    return; /* unbound, or not a length of this model: the towers never ask */
  /* Each (sequence, head) pair is two tiny products on its worker's thread
   * (OpenBLAS is held at one thread: ops_backend_init). */
  const attention_job job = { be, qkv, T, heads, hd, causal, out, bs->scores, bs->scores_stride };
  const long pairs = (long) n_seq * heads;
  split_run(be, pairs, (double) pairs * 2.0 * T * T * hd * NS_ATTN_MAC, attention_pairs, &job);
}

void
ops_matmul_nt(const ops_backend *be, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float *C, int ldc)
{
  (void) be;
  if (M <= 0 || N <= 0)
    return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, A, lda, B, ldb, 0.0f, C,
              ldc);
}

void
ops_matmul_nn(const ops_backend *be, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float *C, int ldc)
{
  (void) be;
  if (M <= 0 || N <= 0)
    return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C,
              ldc);
}

void
ops_layer_norm(const clip_norm *norm, int width, float eps, const float *in, int ld_in, float *out,
               int ld_out, int rows)
{
  for (int r = 0; r < rows; r++) {
    const float *x = in + (size_t) r * ld_in;
    float *y = out + (size_t) r * ld_out;
    /* Two passes (mean, then the centred sum of squares) with double
     * accumulators: no E[x²] − E[x]² cancellation, no drift with width. */
    /* Four partial sums each: independent add chains the compiler can keep
     * in one vector register (a single chain waits on every add). */
    double s4[4] = { 0 }, q4[4] = { 0 };
    int j = 0;
    for (; j + 4 <= width; j += 4)
      for (int k = 0; k < 4; k++)
        s4[k] += x[j + k];
    double sum = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    for (; j < width; j++)
      sum += x[j];
    const double mean = sum / width;
    for (j = 0; j + 4 <= width; j += 4)
      for (int k = 0; k < 4; k++) {
        const double d = x[j + k] - mean;
        q4[k] += d * d;
      }
    double sq = (q4[0] + q4[1]) + (q4[2] + q4[3]);
    for (; j < width; j++) {
      const double d = x[j] - mean;
      sq += d * d;
    }
    /* Centred in double too: a float mean would round away the offset. */
    const double inv = 1.0 / sqrt(sq / width + (double) eps);
    for (int j = 0; j < width; j++)
      y[j] = (float) ((x[j] - mean) * inv) * norm->g[j] + norm->b[j];
  }
}

typedef struct {
  const clip_norm *norm;
  int width;
  float eps;
  const float *in;
  int ld_in;
  float *out;
  int ld_out;
} norm_job;

static void
norm_rows(const void *arg, long r0, long r1, int worker)
{
  const norm_job *j = arg;
  (void) worker;
  ops_layer_norm(j->norm, j->width, j->eps, j->in + (size_t) r0 * j->ld_in, j->ld_in,
                 j->out + (size_t) r0 * j->ld_out, j->ld_out, (int) (r1 - r0));
}

static void layer_norm_rows_run(const ops_backend *be, const clip_norm *norm, int width, float eps,
                                const float *in, int ld_in, float *out, int ld_out, int rows);

void
ops_layer_norm_rows(const ops_backend *be, const clip_norm *norm, int width, float eps,
                    const float *in, int ld_in, float *out, int ld_out, int rows)
{
  if (!be->profile) {
    layer_norm_rows_run(be, norm, width, eps, in, ld_in, out, ld_out, rows);
    return;
  }
  double t0 = now_seconds();
  layer_norm_rows_run(be, norm, width, eps, in, ld_in, out, ld_out, rows);
  be->profile->layer_norm_seconds += now_seconds() - t0;
}

static void
layer_norm_rows_run(const ops_backend *be, const clip_norm *norm, int width, float eps,
                    const float *in, int ld_in, float *out, int ld_out, int rows)
{
#ifdef _OPENMP
  const int block = 16;
  if (be->kind == CLIP_BACKEND_ONEDNN && be->n_threads > 1 && rows >= 4 * block) {
    const int n_blocks = (rows + block - 1) / block;
#pragma omp parallel for schedule(static) num_threads(be->n_threads)
    for (int b = 0; b < n_blocks; b++) {
      const int r0 = b * block, n = rows - r0 < block ? rows - r0 : block;
      ops_layer_norm(norm, width, eps, in + (size_t) r0 * ld_in, ld_in, out + (size_t) r0 * ld_out,
                     ld_out, n);
    }
    return;
  }
#endif
  const norm_job job = { norm, width, eps, in, ld_in, out, ld_out };
  split_run(be, rows, (double) rows * width * NS_NORM, norm_rows, &job);
}

void
ops_softmax(const float *in, int n, float *out)
{
  if (n <= 0)
    return;
  float max = in[0];
  for (int i = 1; i < n; i++)
    if (in[i] > max)
      max = in[i];
  double sum = 0.0;
  for (int i = 0; i < n; i++) {
    out[i] = expf(in[i] - max);
    sum += out[i];
  }
  /* sum >= 1 because the maximum contributes exp(0). */
  const float inv = (float) (1.0 / sum);
  for (int i = 0; i < n; i++)
    out[i] *= inv;
}

void
ops_softmax_rows(float *x, int rows, int cols, int ld, bool causal)
{
  for (int r = 0; r < rows; r++) {
    float *row = x + (size_t) r * ld;
    const int n = causal && r + 1 < cols ? r + 1 : cols;
    ops_softmax(row, n, row);
    for (int j = n; j < cols; j++)
      row[j] = 0.0f;
  }
}
