/* backend-onednn.c — matrix products on oneDNN: prepacked linear layers with
 * fused epilogues, and the attention core, all on oneDNN's OpenMP pool.
 * Built only with oneDNN (onednn-unbuilt.c stands in without it); the
 * packed-weight file is onednn-pack.c, the bf16 conversions onednn-bf16.c.
 *
 * Written against the oneDNN 2.x C API (desc_init + primitive_desc_create,
 * output scales). Everything version specific is in this file; the 3.x port
 * replaces the *_desc_init calls with *_primitive_desc_create and output
 * scales with runtime scales. */
#include "backend-onednn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#include <cblas.h>
#include <dnnl.h>
#include <glib.h>
#include <omp.h>

#include "onednn-pack.h"

#if DNNL_VERSION_MAJOR != 2
#error "backend-onednn.c is written for the oneDNN 2.x C API"
#endif

/* What a cached primitive computes; zero-filled so it compares with memcmp. */
typedef enum { KEY_LINEAR = 1, KEY_QK, KEY_SOFTMAX, KEY_PV } key_kind;

typedef struct {
  int kind;
  int M, K, N; /* linear; attention: n, T, H, Dh in M, K, N, Dh */
  int Dh;
  int act, residual, bias, bf16;
} prim_key;

typedef struct {
  prim_key key;
  dnnl_primitive_t prim;
  dnnl_memory_desc_t src_md, dst_md, wei_md;
  size_t scratch_bytes;
  const char *impl;
} prim_entry;

struct onednn_engine {
  dnnl_engine_t engine;
  int threads;
  GMutex lock;        /* guards the cache below */
  prim_entry **cache; /* entries never move: another thread may hold one */
  int n_cache, cap_cache;
  pack_file *pack; /* the packed-weight file, or NULL */
};

struct onednn_linear {
  onednn_engine *eng;
  int K, N;
  bool bf16;
  dnnl_memory_desc_t wei_md; /* the primitive's preferred (blocked) layout */
  dnnl_memory_t wei, bias;
  void *wei_buf; /* the packed weights when this layer owns them (else in the pack file) */
  size_t bytes;
};

struct onednn_exec {
  onednn_engine *eng;
  dnnl_stream_t stream;
  void *scratch;
  size_t scratch_bytes;
  uint16_t *xbf; /* fp32 activations converted for a bf16 layer */
  size_t xbf_len;
  float *scores; /* attention probabilities [n][H][T][T] */
  size_t scores_len;
  const char *last_impl;
};

bool
onednn_built(void)
{
  return true;
}

static const char *
dnnl_name(dnnl_status_t s)
{
  switch (s) {
  case dnnl_success: return "success";
  case dnnl_out_of_memory: return "out of memory";
  case dnnl_invalid_arguments: return "invalid arguments";
  case dnnl_unimplemented: return "unimplemented";
  case dnnl_runtime_error: return "runtime error";
  default: return "error";
  }
}

#define TRY(call, what)                                                                            \
  do {                                                                                             \
    dnnl_status_t s_ = (call);                                                                     \
    if (s_ != dnnl_success) {                                                                      \
      st = clip_set_error(err, s_ == dnnl_out_of_memory ? CLIP_ERR_NOMEM : CLIP_ERR_UNSUPPORTED,   \
                          "oneDNN: %s failed: %s", what, dnnl_name(s_));                           \
      goto out;                                                                                    \
    }                                                                                              \
  } while (0)

/* oneDNN reads the OpenMP thread count of the calling thread, and a new
 * thread (a GStreamer streaming thread) starts from the process default. */
static inline void
use_threads(const onednn_engine *eng)
{
  if (omp_get_max_threads() != eng->threads)
    omp_set_num_threads(eng->threads);
}

onednn_engine *
onednn_engine_new(int n_threads, clip_error *err)
{
  clip_status st = CLIP_OK;
  onednn_engine *eng = calloc(1, sizeof *eng);
  if (!eng) {
    clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN: engine allocation failed");
    return NULL;
  }
  eng->threads = n_threads > 0 ? n_threads : omp_get_num_procs();
  g_mutex_init(&eng->lock);
  use_threads(eng);
  /* Two pools on the same cores cost several times the work; oneDNN's runs
   * every product here, so OpenBLAS is kept on the caller's thread. */
  openblas_set_num_threads(1);
  TRY(dnnl_engine_create(&eng->engine, dnnl_cpu, 0), "engine creation");
out:
  if (st != CLIP_OK) {
    onednn_engine_free(eng);
    return NULL;
  }
  return eng;
}

void
onednn_engine_free(onednn_engine *eng)
{
  if (!eng)
    return;
  for (int i = 0; i < eng->n_cache; i++) {
    dnnl_primitive_destroy(eng->cache[i]->prim);
    free(eng->cache[i]);
  }
  free(eng->cache);
  onednn_pack_close(eng->pack);
  if (eng->engine)
    dnnl_engine_destroy(eng->engine);
  g_mutex_clear(&eng->lock);
  free(eng);
}

int
onednn_engine_threads(const onednn_engine *eng)
{
  return eng->threads;
}

static void
md_2d(dnnl_memory_desc_t *md, int rows, int cols, dnnl_data_type_t dt, dnnl_format_tag_t tag)
{
  dnnl_dims_t dims = { rows, cols };
  dnnl_memory_desc_init_by_tag(md, 2, dims, dt, tag);
}

/* Primitive descriptor for y[M][N] = act(x·W + b) (+ y). wei_md may be
 * format "any" (to learn the preferred layout) or a concrete layout. */
static clip_status
linear_pd(onednn_engine *eng, int M, int K, int N, bool bf16, bool bias, onednn_act act,
          bool residual, const dnnl_memory_desc_t *wei_md, dnnl_primitive_desc_t *pd,
          clip_error *err)
{
  clip_status st = CLIP_OK;
  dnnl_memory_desc_t src_md, dst_md, bias_md;
  dnnl_matmul_desc_t desc;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;

  md_2d(&src_md, M, K, dt, dnnl_ab);
  md_2d(&dst_md, M, N, dnnl_f32, dnnl_ab);
  md_2d(&bias_md, 1, N, dnnl_f32, dnnl_ab);
  TRY(dnnl_matmul_desc_init(&desc, &src_md, wei_md, bias ? &bias_md : NULL, &dst_md),
      "matmul description");
  TRY(dnnl_primitive_attr_create(&attr), "attribute creation");
  TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
  TRY(dnnl_post_ops_create(&po), "post-op creation");
  if (act == ONEDNN_ACT_QUICK_GELU)
    TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.0f), "swish post-op");
  else if (act == ONEDNN_ACT_GELU)
    TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f), "gelu post-op");
  if (residual)
    TRY(dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
  TRY(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
  TRY(dnnl_primitive_desc_create(pd, &desc, attr, eng->engine, NULL),
      "matmul primitive descriptor");
out:
  if (po)
    dnnl_post_ops_destroy(po);
  if (attr)
    dnnl_primitive_attr_destroy(attr);
  return st;
}

/* Finds the cached primitive for key or creates it with make(); the lock
 * makes creation happen once even when contexts run on several threads. */
typedef clip_status (*pd_maker)(onednn_engine *eng, const prim_key *key, const void *data,
                                dnnl_primitive_desc_t *pd, clip_error *err);

static prim_entry *
cached(onednn_engine *eng, const prim_key *key, pd_maker make, const void *data, clip_error *err)
{
  prim_entry *found = NULL;
  clip_status st = CLIP_OK;
  dnnl_primitive_desc_t pd = NULL;
  g_mutex_lock(&eng->lock);
  for (int i = 0; i < eng->n_cache; i++)
    if (!memcmp(&eng->cache[i]->key, key, sizeof *key)) {
      found = eng->cache[i];
      goto out;
    }
  if (eng->n_cache == eng->cap_cache) {
    int cap = eng->cap_cache ? 2 * eng->cap_cache : 32;
    prim_entry **c = realloc(eng->cache, (size_t) cap * sizeof *c);
    if (!c) {
      clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN: primitive cache allocation failed");
      goto out;
    }
    eng->cache = c;
    eng->cap_cache = cap;
  }
  use_threads(eng);
  if (make(eng, key, data, &pd, err) != CLIP_OK)
    goto out;
  prim_entry e = { .key = *key };
  TRY(dnnl_primitive_create(&e.prim, pd), "primitive creation");
  const dnnl_memory_desc_t *md;
  if ((md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)))
    e.src_md = *md;
  if ((md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)))
    e.dst_md = *md;
  if ((md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)))
    e.wei_md = *md;
  if ((md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)))
    e.scratch_bytes = dnnl_memory_desc_get_size(md);
  const char *impl = NULL;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  e.impl = impl ? g_intern_string(impl) : "?";
  if (!(found = malloc(sizeof *found))) {
    dnnl_primitive_destroy(e.prim);
    clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN: primitive cache allocation failed");
    goto out;
  }
  *found = e;
  eng->cache[eng->n_cache++] = found;
out:
  (void) st;
  if (pd)
    dnnl_primitive_desc_destroy(pd);
  g_mutex_unlock(&eng->lock);
  return found;
}

static clip_status
make_linear(onednn_engine *eng, const prim_key *k, const void *data, dnnl_primitive_desc_t *pd,
            clip_error *err)
{
  return linear_pd(eng, k->M, k->K, k->N, k->bf16, k->bias, k->act, k->residual, data, pd, err);
}

/* ---- packed-weight file (onednn-pack.c) ---- */

void
onednn_engine_use_pack_file(onednn_engine *eng, const char *weights, const struct stat *id,
                            const char *variant, bool bf16)
{
  if (eng && !eng->pack)
    eng->pack = onednn_pack_open(weights, id, variant, bf16);
}

void
onednn_engine_save_pack_file(onednn_engine *eng)
{
  if (eng)
    onednn_pack_save(eng->pack);
}

onednn_linear *
onednn_linear_new(onednn_engine *eng, const float *w, bool transposed, const float *b, int K, int N,
                  bool bf16, int m_hint, clip_error *err)
{
  return onednn_linear_new_parts(eng, &w, 1, transposed, b, K, N, bf16, m_hint, err);
}

/* The getter of weights given up front. */
typedef struct {
  const float *const *parts;
  int n_parts;
} given_parts;

static clip_status
get_given(void *user, const float **parts, clip_error *err)
{
  const given_parts *g = user;
  for (int p = 0; p < g->n_parts; p++)
    if (!(parts[p] = g->parts[p]))
      return clip_set_error(err, CLIP_ERR_ARG, "oneDNN linear: weight part %d is NULL", p);
  return CLIP_OK;
}

onednn_linear *
onednn_linear_new_parts(onednn_engine *eng, const float *const *parts, int n_parts, bool transposed,
                        const float *b, int K, int N, bool bf16, int m_hint, clip_error *err)
{
  if (parts)
    for (int p = 0; p < n_parts; p++)
      if (!parts[p]) {
        clip_set_error(err, CLIP_ERR_ARG, "oneDNN linear: weight part %d is NULL", p);
        return NULL;
      }
  given_parts g = { parts, n_parts };
  return onednn_linear_new_lazy(eng, parts ? get_given : NULL, &g, n_parts, transposed, b, K, N,
                                bf16, m_hint, err);
}

onednn_linear *
onednn_linear_new_lazy(onednn_engine *eng, onednn_parts_fn get, void *user, int n_parts,
                       bool transposed, const float *b, int K, int N, bool bf16, int m_hint,
                       clip_error *err)
{
  clip_status st = CLIP_OK;
  dnnl_primitive_desc_t pd = NULL, rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  dnnl_memory_t plain = NULL;
  dnnl_stream_t stream = NULL;
  dnnl_memory_desc_t any_md, plain_md, bias_md;
  onednn_linear *lin = NULL;
  float *joined = NULL;

  const float *parts[3] = { NULL };
  if (!eng || !get || n_parts < 1 || n_parts > 3 || K <= 0 || N <= 0 || N % n_parts
      || (n_parts > 1 && !transposed)) {
    clip_set_error(err, CLIP_ERR_ARG,
                   "oneDNN linear: expected weights [K][N] with K, N > 0 (or "
                   "[N][K] in parts of equal rows), found K=%d N=%d in %d "
                   "part(s)",
                   K, N, n_parts);
    return NULL;
  }
  lin = calloc(1, sizeof *lin);
  if (!lin) {
    clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN linear: allocation failed");
    return NULL;
  }
  lin->eng = eng;
  lin->K = K;
  lin->N = N;
  lin->bf16 = bf16;
  use_threads(eng);

  /* The layout the matmul wants for this shape and about this many rows. */
  md_2d(&any_md, K, N, bf16 ? dnnl_bf16 : dnnl_f32, dnnl_format_tag_any);
  if (linear_pd(eng, m_hint > 0 ? m_hint : 64, K, N, bf16, b != NULL, ONEDNN_ACT_NONE, false,
                &any_md, &pd, err)
      != CLIP_OK) {
    st = err ? err->status : CLIP_ERR_UNSUPPORTED;
    goto out;
  }
  lin->wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  lin->bytes = dnnl_memory_desc_get_size(&lin->wei_md);

  pack_file *pf = eng->pack;
  const void *packed = pf ? onednn_pack_next(pf, K, N, &lin->wei_md) : NULL;
  if (packed) {
    /* oneDNN only reads a matmul's weights: the read-only mapping serves. */
    TRY(dnnl_memory_create(&lin->wei, &lin->wei_md, eng->engine, (void *) packed),
        "packed weight memory");
  } else {
    if ((st = get(user, parts, err)) != CLIP_OK)
      goto out;
    const float *w = parts[0];
    if (n_parts > 1) {
      /* One transient copy of this layer only: the packed layout
       * interleaves the parts, so the reorder wants them side by side. */
      size_t part = (size_t) K * (size_t) (N / n_parts);
      if (!(joined = malloc((size_t) n_parts * part * sizeof *joined))) {
        st = clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN linear: allocation failed");
        goto out;
      }
      for (int p = 0; p < n_parts; p++)
        memcpy(joined + (size_t) p * part, parts[p], part * sizeof *joined);
      w = joined;
    }
    /* One reorder (and fp32 -> bf16 conversion) straight from the caller's
     * weights, which may be the mapped file: K×N as [K][N] (ab) or as
     * PyTorch's [N][K] (ba). */
    md_2d(&plain_md, K, N, dnnl_f32, transposed ? dnnl_ba : dnnl_ab);
    TRY(dnnl_memory_create(&plain, &plain_md, eng->engine, (void *) w), "weight memory");
    if (!(lin->wei_buf = aligned_alloc(64, (lin->bytes + 63) & ~(size_t) 63))) {
      st = clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN linear: %zu bytes of packed weights",
                          lin->bytes);
      goto out;
    }
    TRY(dnnl_memory_create(&lin->wei, &lin->wei_md, eng->engine, lin->wei_buf),
        "packed weight memory");
    TRY(dnnl_reorder_primitive_desc_create(&rpd, &plain_md, eng->engine, &lin->wei_md, eng->engine,
                                           NULL),
        "weight reorder description");
    TRY(dnnl_primitive_create(&reorder, rpd), "weight reorder");
    TRY(dnnl_stream_create(&stream, eng->engine, dnnl_stream_default_flags), "stream");
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, plain }, { DNNL_ARG_TO, lin->wei } };
    TRY(dnnl_primitive_execute(reorder, stream, 2, args), "weight reorder");
    TRY(dnnl_stream_wait(stream), "weight reorder");
  }
  if (b) {
    md_2d(&bias_md, 1, N, dnnl_f32, dnnl_ab);
    TRY(dnnl_memory_create(&lin->bias, &bias_md, eng->engine, DNNL_MEMORY_ALLOCATE), "bias memory");
    void *h = NULL;
    dnnl_memory_get_data_handle(lin->bias, &h);
    memcpy(h, b, (size_t) N * sizeof(float));
    lin->bytes += (size_t) N * sizeof(float);
  }
  if (pf && !onednn_pack_add(pf, K, N, &lin->wei_md, lin->wei))
    st = clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN linear: allocation failed");
out:
  free(joined);
  if (stream)
    dnnl_stream_destroy(stream);
  if (reorder)
    dnnl_primitive_destroy(reorder);
  if (rpd)
    dnnl_primitive_desc_destroy(rpd);
  if (plain)
    dnnl_memory_destroy(plain);
  if (pd)
    dnnl_primitive_desc_destroy(pd);
  if (st != CLIP_OK) {
    onednn_linear_free(lin);
    return NULL;
  }
  return lin;
}

void
onednn_linear_free(onednn_linear *lin)
{
  if (!lin)
    return;
  onednn_pack_join(lin->eng->pack);
  if (lin->wei)
    dnnl_memory_destroy(lin->wei);
  free(lin->wei_buf);
  if (lin->bias)
    dnnl_memory_destroy(lin->bias);
  free(lin);
}

size_t
onednn_linear_bytes(const onednn_linear *lin)
{
  return lin ? lin->bytes : 0;
}
bool
onednn_linear_is_bf16(const onednn_linear *lin)
{
  return lin && lin->bf16;
}

onednn_exec *
onednn_exec_new(onednn_engine *eng, clip_error *err)
{
  clip_status st = CLIP_OK;
  onednn_exec *ex = calloc(1, sizeof *ex);
  if (!ex) {
    clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN: exec allocation failed");
    return NULL;
  }
  ex->eng = eng;
  TRY(dnnl_stream_create(&ex->stream, eng->engine, dnnl_stream_default_flags), "stream creation");
out:
  if (st != CLIP_OK) {
    onednn_exec_free(ex);
    return NULL;
  }
  return ex;
}

void
onednn_exec_free(onednn_exec *ex)
{
  if (!ex)
    return;
  if (ex->stream)
    dnnl_stream_destroy(ex->stream);
  free(ex->scratch);
  free(ex->xbf);
  free(ex->scores);
  free(ex);
}

const char *
onednn_exec_last_impl(const onednn_exec *ex)
{
  return ex && ex->last_impl ? ex->last_impl : "none";
}

/* Grows *buf to at least bytes (64-byte aligned); false on OOM. */
static bool
grow(void **buf, size_t *have, size_t bytes)
{
  if (bytes <= *have)
    return true;
  void *p = aligned_alloc(64, (bytes + 63) & ~(size_t) 63);
  if (!p)
    return false;
  free(*buf);
  *buf = p;
  *have = bytes;
  return true;
}

/* Runs a cached primitive on plain buffers. args: up to 6 (arg, md, ptr). */
typedef struct {
  int arg;
  const dnnl_memory_desc_t *md;
  void *ptr;
  dnnl_memory_t mem; /* already a memory object (weights, bias) */
} run_arg;

static clip_status
run_prim(onednn_exec *ex, prim_entry *e, run_arg *a, int n, clip_error *err)
{
  clip_status st = CLIP_OK;
  dnnl_exec_arg_t args[8];
  dnnl_memory_t own[8];
  int n_own = 0, n_args = 0;
  if (e->scratch_bytes && !grow(&ex->scratch, &ex->scratch_bytes, e->scratch_bytes))
    return clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN: scratchpad of %zu bytes", e->scratch_bytes);
  for (int i = 0; i < n; i++) {
    dnnl_memory_t m = a[i].mem;
    if (!m) {
      TRY(dnnl_memory_create(&m, a[i].md, ex->eng->engine, a[i].ptr), "memory object");
      own[n_own++] = m;
    }
    args[n_args++] = (dnnl_exec_arg_t){ a[i].arg, m };
  }
  if (e->scratch_bytes) {
    dnnl_memory_desc_t smd;
    dnnl_dims_t d = { (dnnl_dim_t) e->scratch_bytes };
    dnnl_memory_desc_init_by_tag(&smd, 1, d, dnnl_u8, dnnl_a);
    dnnl_memory_t m;
    TRY(dnnl_memory_create(&m, &smd, ex->eng->engine, ex->scratch), "scratchpad memory");
    own[n_own++] = m;
    args[n_args++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, m };
  }
  use_threads(ex->eng);
  ex->last_impl = e->impl;
  TRY(dnnl_primitive_execute(e->prim, ex->stream, n_args, args), "execution");
  TRY(dnnl_stream_wait(ex->stream), "execution");
out:
  for (int i = 0; i < n_own; i++)
    dnnl_memory_destroy(own[i]);
  return st;
}

static prim_entry *
linear_prim(onednn_linear *lin, int M, onednn_act act, bool residual, clip_error *err)
{
  prim_key key;
  memset(&key, 0, sizeof key);
  key.kind = KEY_LINEAR;
  key.M = M, key.K = lin->K, key.N = lin->N;
  key.act = act, key.residual = residual, key.bias = lin->bias != NULL, key.bf16 = lin->bf16;
  return cached(lin->eng, &key, make_linear, &lin->wei_md, err);
}

clip_status
onednn_linear_warm(onednn_linear *lin, int M, onednn_act act, bool residual, clip_error *err)
{
  if (!lin || M <= 0)
    return clip_set_error(err, CLIP_ERR_ARG, "oneDNN linear: missing layer or M=%d <= 0", M);
  return linear_prim(lin, M, act, residual, err) ? CLIP_OK
                                                 : (err ? err->status : CLIP_ERR_UNSUPPORTED);
}

static clip_status
linear_exec(onednn_exec *ex, onednn_linear *lin, const void *x, bool x_bf16, int M, float *y,
            onednn_act act, bool residual, clip_error *err)
{
  if (!ex || !lin || !x || !y || M <= 0)
    return clip_set_error(err, CLIP_ERR_ARG, "oneDNN linear: missing buffer or M=%d <= 0", M);
  if (x_bf16 != lin->bf16)
    return clip_set_error(err, CLIP_ERR_ARG, "oneDNN linear: %s activations given to a %s layer",
                          x_bf16 ? "bf16" : "fp32", lin->bf16 ? "bf16" : "fp32");
  prim_entry *e = linear_prim(lin, M, act, residual, err);
  if (!e)
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  run_arg a[4] = {
    { DNNL_ARG_SRC, &e->src_md, (void *) x, NULL },
    { DNNL_ARG_WEIGHTS, NULL, NULL, lin->wei },
    { DNNL_ARG_DST, &e->dst_md, y, NULL },
    { DNNL_ARG_BIAS, NULL, NULL, lin->bias },
  };
  return run_prim(ex, e, a, lin->bias ? 4 : 3, err);
}

clip_status
onednn_linear_run(onednn_exec *ex, onednn_linear *lin, const float *x, int M, float *y,
                  onednn_act act, bool residual, clip_error *err)
{
  if (lin && lin->bf16 && x && M > 0) {
    size_t n = (size_t) M * (size_t) lin->K;
    size_t have = ex->xbf_len * sizeof(uint16_t);
    if (!grow((void **) &ex->xbf, &have, n * sizeof(uint16_t)))
      return clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN: bf16 activations [%d][%d]", M, lin->K);
    ex->xbf_len = have / sizeof(uint16_t);
    onednn_f32_to_bf16(x, ex->xbf, n);
    return linear_exec(ex, lin, ex->xbf, true, M, y, act, residual, err);
  }
  return linear_exec(ex, lin, x, false, M, y, act, residual, err);
}

clip_status
onednn_linear_run_bf16(onednn_exec *ex, onednn_linear *lin, const uint16_t *x, int M, float *y,
                       onednn_act act, bool residual, clip_error *err)
{
  return linear_exec(ex, lin, x, true, M, y, act, residual, err);
}

/* ---- attention: scores = q·kᵀ·scale (+ mask), softmax, out = p·v ------- */

/* The 4-D views [n][H][rows][cols] of the fused qkv buffer and the outputs,
 * so every (image, head) product is one batched matmul without copies. */
static void
md_4d(dnnl_memory_desc_t *md, int n, int H, int r, int c, dnnl_dim_t s0, dnnl_dim_t s1,
      dnnl_dim_t sr, dnnl_dim_t sc)
{
  dnnl_dims_t dims = { n, H, r, c }, strides = { s0, s1, sr, sc };
  dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides);
}

static clip_status
make_qk(onednn_engine *eng, const prim_key *k, const void *data, dnnl_primitive_desc_t *pd,
        clip_error *err)
{
  (void) data;
  clip_status st = CLIP_OK;
  int n = k->M, T = k->K, H = k->N, Dh = k->Dh;
  dnnl_dim_t row = 3 * (dnnl_dim_t) H * Dh;
  dnnl_memory_desc_t q_md, k_md, s_md;
  dnnl_matmul_desc_t desc;
  dnnl_primitive_attr_t attr = NULL;
  float scale = 1.0f / sqrtf((float) Dh);
  md_4d(&q_md, n, H, T, Dh, T * row, Dh, row, 1);
  md_4d(&k_md, n, H, Dh, T, T * row, Dh, 1, row); /* kᵀ: a strided view, no copy */
  md_4d(&s_md, n, H, T, T, (dnnl_dim_t) H * T * T, (dnnl_dim_t) T * T, T, 1);
  TRY(dnnl_matmul_desc_init(&desc, &q_md, &k_md, NULL, &s_md), "q·kᵀ description");
  TRY(dnnl_primitive_attr_create(&attr), "attribute creation");
  TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
  TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "q·kᵀ scale");
  TRY(dnnl_primitive_desc_create(pd, &desc, attr, eng->engine, NULL), "q·kᵀ primitive descriptor");
out:
  if (attr)
    dnnl_primitive_attr_destroy(attr);
  return st;
}

static clip_status
make_softmax(onednn_engine *eng, const prim_key *k, const void *data, dnnl_primitive_desc_t *pd,
             clip_error *err)
{
  (void) data;
  clip_status st = CLIP_OK;
  dnnl_memory_desc_t md;
  dnnl_softmax_desc_t desc;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_dims_t dims = { (dnnl_dim_t) k->M * k->N * k->K, k->K };
  dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab);
  TRY(dnnl_softmax_forward_desc_init(&desc, dnnl_forward_inference, &md, 1), "softmax description");
  TRY(dnnl_primitive_attr_create(&attr), "attribute creation");
  TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
  TRY(dnnl_primitive_desc_create(pd, &desc, attr, eng->engine, NULL),
      "softmax primitive descriptor");
out:
  if (attr)
    dnnl_primitive_attr_destroy(attr);
  return st;
}

static clip_status
make_pv(onednn_engine *eng, const prim_key *k, const void *data, dnnl_primitive_desc_t *pd,
        clip_error *err)
{
  (void) data;
  clip_status st = CLIP_OK;
  int n = k->M, T = k->K, H = k->N, Dh = k->Dh;
  dnnl_dim_t row = 3 * (dnnl_dim_t) H * Dh, W = (dnnl_dim_t) H * Dh;
  dnnl_memory_desc_t p_md, v_md, o_md;
  dnnl_matmul_desc_t desc;
  dnnl_primitive_attr_t attr = NULL;
  md_4d(&p_md, n, H, T, T, (dnnl_dim_t) H * T * T, (dnnl_dim_t) T * T, T, 1);
  md_4d(&v_md, n, H, T, Dh, T * row, Dh, row, 1);
  md_4d(&o_md, n, H, T, Dh, T * W, Dh, W, 1); /* heads land side by side per token */
  TRY(dnnl_matmul_desc_init(&desc, &p_md, &v_md, NULL, &o_md), "p·v description");
  TRY(dnnl_primitive_attr_create(&attr), "attribute creation");
  TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
  TRY(dnnl_primitive_desc_create(pd, &desc, attr, eng->engine, NULL), "p·v primitive descriptor");
out:
  if (attr)
    dnnl_primitive_attr_destroy(attr);
  return st;
}

clip_status
onednn_attention_warm(onednn_engine *eng, int n, int T, int H, int Dh, clip_error *err)
{
  if (!eng || n <= 0 || T <= 0 || H <= 0 || Dh <= 0)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "oneDNN attention: bad arguments (n=%d T=%d H=%d "
                          "Dh=%d)",
                          n, T, H, Dh);
  prim_key key;
  memset(&key, 0, sizeof key);
  key.M = n, key.K = T, key.N = H, key.Dh = Dh;
  key.kind = KEY_QK;
  if (!cached(eng, &key, make_qk, NULL, err))
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  key.kind = KEY_SOFTMAX;
  if (!cached(eng, &key, make_softmax, NULL, err))
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  key.kind = KEY_PV;
  if (!cached(eng, &key, make_pv, NULL, err))
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  return CLIP_OK;
}

clip_status
onednn_attention(onednn_exec *ex, const float *qkv, int n, int T, int H, int Dh, bool causal,
                 float *out, clip_error *err)
{
  clip_status st;
  if (!ex || !qkv || !out || n <= 0 || T <= 0 || H <= 0 || Dh <= 0)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "oneDNN attention: bad arguments (n=%d T=%d H=%d "
                          "Dh=%d)",
                          n, T, H, Dh);
  size_t ns = (size_t) n * H * T * T;
  size_t have = ex->scores_len * sizeof(float);
  if (!grow((void **) &ex->scores, &have, ns * sizeof(float)))
    return clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN attention: scores [%d][%d][%d][%d]", n, H, T,
                          T);
  ex->scores_len = have / sizeof(float);

  prim_key key;
  memset(&key, 0, sizeof key);
  key.M = n, key.K = T, key.N = H, key.Dh = Dh;
  const float *q = qkv, *k = qkv + (size_t) H * Dh, *v = qkv + 2 * (size_t) H * Dh;

  key.kind = KEY_QK;
  prim_entry *e = cached(ex->eng, &key, make_qk, NULL, err);
  if (!e)
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  run_arg qa[3] = {
    { DNNL_ARG_SRC, &e->src_md, (void *) q, NULL },
    { DNNL_ARG_WEIGHTS, &e->wei_md, (void *) k, NULL },
    { DNNL_ARG_DST, &e->dst_md, ex->scores, NULL },
  };
  if ((st = run_prim(ex, e, qa, 3, err)) != CLIP_OK)
    return st;
  /* oneDNN 2.6 runs a broadcast mask post-op on its reference kernel (a
   * thousand times slower), so the mask is this one cheap pass instead. */
  if (causal)
    for (size_t r = 0; r < (size_t) n * H * T; r++) {
      float *row = ex->scores + r * T;
      for (int j = (int) (r % T) + 1; j < T; j++)
        row[j] = -INFINITY;
    }

  key.kind = KEY_SOFTMAX;
  if (!(e = cached(ex->eng, &key, make_softmax, NULL, err)))
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  run_arg sa[2] = {
    { DNNL_ARG_SRC, &e->src_md, ex->scores, NULL },
    { DNNL_ARG_DST, &e->dst_md, ex->scores, NULL },
  };
  if ((st = run_prim(ex, e, sa, 2, err)) != CLIP_OK)
    return st;

  key.kind = KEY_PV;
  if (!(e = cached(ex->eng, &key, make_pv, NULL, err)))
    return err ? err->status : CLIP_ERR_UNSUPPORTED;
  run_arg pa[3] = {
    { DNNL_ARG_SRC, &e->src_md, ex->scores, NULL },
    { DNNL_ARG_WEIGHTS, &e->wei_md, (void *) v, NULL },
    { DNNL_ARG_DST, &e->dst_md, out, NULL },
  };
  return run_prim(ex, e, pa, 3, err);
}
