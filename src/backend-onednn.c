/* backend-onednn.c — matrix products on oneDNN: prepacked linear layers with
 * fused epilogues, and the attention core, all on oneDNN's OpenMP pool.
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

/* Exact conversions; they do not need oneDNN. */
static inline uint16_t
f32_to_bf16_one(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);        /* round to nearest even */
  return (uint16_t) (u >> 16);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10
#include <immintrin.h>
#define HAVE_AVX512BF16_PATH 1
/* vcvtne2ps2bf16 rounds to nearest even like the scalar path. */
__attribute__((target("avx512f,avx512bf16"))) static void
f32_to_bf16_avx512(const float *src, uint16_t *dst, size_t n)
{
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
    __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
    _mm512_storeu_si512((void *) (dst + i), (__m512i) v);
  }
  for (; i < n; i++)
    dst[i] = f32_to_bf16_one(src[i]);
}
#endif

static void
f32_to_bf16_range(const float *src, uint16_t *dst, size_t n)
{
#ifdef HAVE_AVX512BF16_PATH
  static int has = -1;
  if (has < 0)
    has = __builtin_cpu_supports("avx512bf16") ? 1 : 0;
  if (has) {
    f32_to_bf16_avx512(src, dst, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; i++)
    dst[i] = f32_to_bf16_one(src[i]);
}

void
onednn_f32_to_bf16(const float *src, uint16_t *dst, size_t n)
{
  /* Large activations (batch 16: 2.4 M values into fc2) are split over the
   * same OpenMP pool that runs the products. */
  const size_t chunk = 1 << 16;
  if (n < 2 * chunk) {
    f32_to_bf16_range(src, dst, n);
    return;
  }
  long n_chunks = (long) ((n + chunk - 1) / chunk);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
  for (long c = 0; c < n_chunks; c++) {
    size_t at = (size_t) c * chunk;
    f32_to_bf16_range(src + at, dst + at, at + chunk <= n ? chunk : n - at);
  }
}

void
onednn_bf16_to_f32(const uint16_t *src, float *dst, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t) src[i] << 16;
    memcpy(dst + i, &u, 4);
  }
}

#ifndef CLIP_HAVE_ONEDNN

bool
onednn_built(void)
{
  return false;
}

#define UNBUILT(err)                                                                               \
  clip_set_error(err, CLIP_ERR_UNSUPPORTED,                                                        \
                 "oneDNN backend: this build has no oneDNN "                                       \
                 "(configure with -Donednn=enabled and libdnnl-dev)")

onednn_engine *
onednn_engine_new(int n_threads, clip_error *err)
{
  (void) n_threads;
  UNBUILT(err);
  return NULL;
}
void
onednn_engine_free(onednn_engine *eng)
{
  (void) eng;
}
int
onednn_engine_threads(const onednn_engine *eng)
{
  (void) eng;
  return 0;
}
onednn_linear *
onednn_linear_new(onednn_engine *eng, const float *w, bool transposed, const float *b, int K, int N,
                  bool bf16, int m_hint, clip_error *err)
{
  (void) eng, (void) w, (void) b, (void) K, (void) N, (void) bf16, (void) m_hint;
  UNBUILT(err);
  return NULL;
}
onednn_linear *
onednn_linear_new_parts(onednn_engine *eng, const float *const *parts, int n_parts, bool transposed,
                        const float *b, int K, int N, bool bf16, int m_hint, clip_error *err)
{
  (void) eng, (void) parts, (void) n_parts, (void) transposed, (void) b, (void) K, (void) N;
  (void) bf16, (void) m_hint;
  UNBUILT(err);
  return NULL;
}
void
onednn_linear_free(onednn_linear *lin)
{
  (void) lin;
}
void
onednn_engine_use_pack_file(onednn_engine *eng, const char *weights, const char *variant, bool bf16)
{
  (void) eng, (void) weights, (void) variant, (void) bf16;
}
void
onednn_engine_save_pack_file(onednn_engine *eng)
{
  (void) eng;
}
clip_status
onednn_linear_warm(onednn_linear *lin, int M, onednn_act act, bool residual, clip_error *err)
{
  (void) lin, (void) M, (void) act, (void) residual;
  return UNBUILT(err);
}
clip_status
onednn_attention_warm(onednn_engine *eng, int n, int T, int H, int Dh, clip_error *err)
{
  (void) eng, (void) n, (void) T, (void) H, (void) Dh;
  return UNBUILT(err);
}
size_t
onednn_linear_bytes(const onednn_linear *lin)
{
  (void) lin;
  return 0;
}
bool
onednn_linear_is_bf16(const onednn_linear *lin)
{
  (void) lin;
  return false;
}
onednn_exec *
onednn_exec_new(onednn_engine *eng, clip_error *err)
{
  (void) eng;
  UNBUILT(err);
  return NULL;
}
void
onednn_exec_free(onednn_exec *ex)
{
  (void) ex;
}
const char *
onednn_exec_last_impl(const onednn_exec *ex)
{
  (void) ex;
  return "none";
}
clip_status
onednn_linear_run(onednn_exec *ex, onednn_linear *lin, const float *x, int M, float *y,
                  onednn_act act, bool residual, clip_error *err)
{
  (void) ex, (void) lin, (void) x, (void) M, (void) y, (void) act, (void) residual;
  return UNBUILT(err);
}
clip_status
onednn_linear_run_bf16(onednn_exec *ex, onednn_linear *lin, const uint16_t *x, int M, float *y,
                       onednn_act act, bool residual, clip_error *err)
{
  (void) ex, (void) lin, (void) x, (void) M, (void) y, (void) act, (void) residual;
  return UNBUILT(err);
}
clip_status
onednn_attention(onednn_exec *ex, const float *qkv, int n, int T, int H, int Dh, bool causal,
                 float *out, clip_error *err)
{
  (void) ex, (void) qkv, (void) n, (void) T, (void) H, (void) Dh, (void) causal, (void) out;
  return UNBUILT(err);
}

#else /* CLIP_HAVE_ONEDNN */

#include <cblas.h>
#include <dnnl.h>
#include <glib.h>
#include <omp.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

typedef struct pack_file pack_file;

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

static void pack_close(pack_file *pf);

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
  pack_close(eng->pack);
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

/* ---- packed-weight file ------------------------------------------------
 *
 * Packing a ViT-B/32 writes ~490 MB (fp32) of fresh memory, and the kernel
 * clears every fresh page before the reorder can fill it: that, not the
 * reorders' arithmetic, is most of a load. So the packed bytes of a model
 * are saved once into one file in the user's cache directory, and later
 * loads map that file: its pages come from the page cache, shared by every
 * process using the model, and nothing is copied.
 *
 * The file is used only when it was written from the same weights file
 * (device, inode, size and modification time), by the same oneDNN version,
 * for the same precision, and when every layer asks for the layout stored
 * for it (which also covers a different CPU); otherwise the layers are
 * packed as usual and the file is rewritten. Writers write a private
 * temporary file and rename it into place, so concurrent loads see either
 * the old file or a complete new one. */

#define PACK_MAGIC "CLIPWPK1"
#define PACK_ALIGN ((uint64_t) 4096)
/* Smaller models load fast anyway; they leave no file behind. */
#define PACK_MIN_BYTES ((size_t) 64 << 20)

typedef struct {
  char magic[8];
  uint32_t bf16, n_layers;
  uint64_t dev, ino, size, mtime_s, mtime_ns; /* the weights file */
  uint32_t dnnl_major, dnnl_minor, dnnl_patch, md_bytes;
  char dnnl_hash[48];
} pack_header;

typedef struct {
  int32_t K, N;
  uint64_t offset, bytes;
  dnnl_memory_desc_t md;
} pack_record;

struct pack_file {
  char *path;
  pack_header want; /* the header a valid file has */
  void *map;        /* the valid file's mapping, or NULL */
  size_t map_len;
  const pack_record *recs;
  bool stale;           /* some layer was packed here: write the file */
  GThread *writer;      /* writing it, or NULL */
  onednn_linear **made; /* the layers in creation order, for the writer */
  int n_made, cap_made;
};

static void
pack_close(pack_file *pf)
{
  if (!pf)
    return;
  if (pf->writer)
    g_thread_join(pf->writer);
  if (pf->map)
    munmap(pf->map, pf->map_len);
  free(pf->made);
  g_free(pf->path);
  free(pf);
}

/* The directory: $CLIP_WEIGHT_CACHE, or the user's cache directory
 * (~/.cache/clipfilter); CLIP_WEIGHT_CACHE=off turns the file off. */
static char *
pack_dir(void)
{
  const char *env = g_getenv("CLIP_WEIGHT_CACHE");
  if (env && !strcmp(env, "off"))
    return NULL;
  if (env && *env)
    return g_strdup(env);
  return g_build_filename(g_get_user_cache_dir(), "clipfilter", NULL);
}

void
onednn_engine_use_pack_file(onednn_engine *eng, const char *weights, const char *variant, bool bf16)
{
  struct stat sb;
  char *dir = NULL;
  if (!eng || eng->pack || !weights || stat(weights, &sb) != 0 || !(dir = pack_dir()))
    return;
  pack_file *pf = calloc(1, sizeof *pf);
  if (!pf) {
    g_free(dir);
    return;
  }
  /* One file per weights path and precision: a replaced model overwrites
   * its predecessor's file instead of adding one. */
  char *abs = g_canonicalize_filename(weights, NULL), *base = g_path_get_basename(weights);
  char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, abs, -1);
  char *name = g_strdup_printf("%s-%.16s-onednn-%s%s%s.packed", base, sum, bf16 ? "bf16" : "fp32",
                               variant && *variant ? "-" : "", variant ? variant : "");
  pf->path = g_build_filename(dir, name, NULL);
  g_free(abs), g_free(base), g_free(sum), g_free(name), g_free(dir);

  pack_header *h = &pf->want;
  memcpy(h->magic, PACK_MAGIC, 8);
  h->bf16 = bf16;
  h->dev = (uint64_t) sb.st_dev, h->ino = (uint64_t) sb.st_ino, h->size = (uint64_t) sb.st_size;
  h->mtime_s = (uint64_t) sb.st_mtim.tv_sec, h->mtime_ns = (uint64_t) sb.st_mtim.tv_nsec;
  const dnnl_version_t *v = dnnl_version();
  h->dnnl_major = (uint32_t) v->major, h->dnnl_minor = (uint32_t) v->minor;
  h->dnnl_patch = (uint32_t) v->patch, h->md_bytes = sizeof(dnnl_memory_desc_t);
  g_strlcpy(h->dnnl_hash, v->hash ? v->hash : "", sizeof h->dnnl_hash);
  eng->pack = pf;

  int fd = open(pf->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  struct stat fb;
  if (fstat(fd, &fb) == 0 && (size_t) fb.st_size >= sizeof(pack_header)) {
    void *map = mmap(NULL, (size_t) fb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      pf->map = map, pf->map_len = (size_t) fb.st_size;
      pack_header have;
      memcpy(&have, map, sizeof have);
      have.n_layers = 0;
      uint64_t n = ((const pack_header *) map)->n_layers;
      bool ok = !memcmp(&have, h, sizeof have)
                && sizeof(pack_header) + n * sizeof(pack_record) <= pf->map_len;
      pf->recs = (const pack_record *) ((const char *) map + sizeof(pack_header));
      for (uint64_t i = 0; ok && i < n; i++)
        ok = pf->recs[i].offset % PACK_ALIGN == 0 && pf->recs[i].offset <= pf->map_len
             && pf->recs[i].bytes <= pf->map_len - pf->recs[i].offset;
      if (ok) {
        h->n_layers = (uint32_t) n; /* the records this file has */
      } else {
        munmap(map, pf->map_len);
        pf->map = NULL, pf->recs = NULL;
      }
    }
  }
  close(fd);
}

/* Layer i's packed bytes in the file when they are what this layer needs. */
static const void *
pack_find(pack_file *pf, int i, int K, int N, const dnnl_memory_desc_t *md)
{
  if (!pf->map || i >= (int) pf->want.n_layers)
    return NULL;
  const pack_record *r = &pf->recs[i];
  if (r->K != K || r->N != N || r->bytes != dnnl_memory_desc_get_size(md)
      || !dnnl_memory_desc_equal(&r->md, md))
    return NULL;
  return (const char *) pf->map + r->offset;
}

static bool
write_all(int fd, const void *p, size_t n)
{
  for (const char *c = p; n > 0;) {
    ssize_t w = write(fd, c, n);
    if (w <= 0)
      return false;
    c += w, n -= (size_t) w;
  }
  return true;
}

/* What the writer thread writes: plain bytes, no oneDNN object. */
typedef struct {
  char *path;
  pack_header h;
  pack_record *recs;
  const void **data; /* [h.n_layers], the layers' packed bytes */
} pack_job;

static gpointer
pack_write(gpointer arg)
{
  pack_job *j = arg;
  const uint32_t n = j->h.n_layers;
  char *dir = g_path_get_dirname(j->path);
  char *tmp = g_strconcat(j->path, ".XXXXXX", NULL);
  int fd = -1;
  bool ok = g_mkdir_with_parents(dir, 0700) == 0 && (fd = g_mkstemp(tmp)) >= 0;
  ok = ok && write_all(fd, &j->h, sizeof j->h) && write_all(fd, j->recs, n * sizeof *j->recs);
  for (uint32_t i = 0; ok && i < n; i++)
    ok = lseek(fd, (off_t) j->recs[i].offset, SEEK_SET) == (off_t) j->recs[i].offset
         && write_all(fd, j->data[i], j->recs[i].bytes);
  uint64_t end = n ? j->recs[n - 1].offset + j->recs[n - 1].bytes : 0;
  /* Durable before it is visible: a crash must not leave a renamed file
   * whose data never reached the disk. */
  ok = ok && ftruncate(fd, (off_t) end) == 0 && fsync(fd) == 0;
  if (fd >= 0 && close(fd) != 0)
    ok = false;
  if (ok)
    ok = rename(tmp, j->path) == 0;
  if (!ok && fd >= 0)
    unlink(tmp);
  g_free(dir), g_free(tmp), g_free(j->path);
  free(j->recs), free(j->data), free(j);
  return NULL;
}

/* Waits for the writer: it reads the layers' packed bytes. */
static void
pack_join(onednn_engine *eng)
{
  if (eng && eng->pack && eng->pack->writer) {
    g_thread_join(eng->pack->writer);
    eng->pack->writer = NULL;
  }
}

void
onednn_engine_save_pack_file(onednn_engine *eng)
{
  pack_file *pf = eng ? eng->pack : NULL;
  if (!pf || pf->writer || (!pf->stale && pf->n_made == (int) pf->want.n_layers) || pf->n_made == 0)
    return;
  size_t total = 0;
  for (int i = 0; i < pf->n_made; i++)
    total += dnnl_memory_desc_get_size(&pf->made[i]->wei_md);
  if (total < PACK_MIN_BYTES)
    return;
  pack_job *j = calloc(1, sizeof *j);
  if (!j)
    return;
  j->h = pf->want;
  j->h.n_layers = (uint32_t) pf->n_made;
  j->recs = calloc((size_t) pf->n_made, sizeof *j->recs);
  j->data = calloc((size_t) pf->n_made, sizeof *j->data);
  j->path = g_strdup(pf->path);
  if (!j->recs || !j->data) {
    free(j->recs), free(j->data), g_free(j->path), free(j);
    return;
  }
  uint64_t at =
      (sizeof j->h + (size_t) pf->n_made * sizeof *j->recs + PACK_ALIGN - 1) & ~(PACK_ALIGN - 1);
  for (int i = 0; i < pf->n_made; i++) {
    pack_record *r = &j->recs[i];
    r->K = pf->made[i]->K, r->N = pf->made[i]->N;
    r->md = pf->made[i]->wei_md;
    r->bytes = dnnl_memory_desc_get_size(&r->md);
    r->offset = at;
    at = (at + r->bytes + PACK_ALIGN - 1) & ~(PACK_ALIGN - 1);
    void *data = NULL;
    dnnl_memory_get_data_handle(pf->made[i]->wei, &data);
    j->data[i] = data;
  }
  /* Writing and syncing ~0.5 GB takes longer than the packing: it runs
   * beside the first passes, and freeing a layer or the engine waits for
   * it. */
  pf->writer = g_thread_try_new("clip-pack-write", pack_write, j, NULL);
  if (!pf->writer)
    pack_write(j);
}

onednn_linear *
onednn_linear_new(onednn_engine *eng, const float *w, bool transposed, const float *b, int K, int N,
                  bool bf16, int m_hint, clip_error *err)
{
  return onednn_linear_new_parts(eng, &w, 1, transposed, b, K, N, bf16, m_hint, err);
}

onednn_linear *
onednn_linear_new_parts(onednn_engine *eng, const float *const *parts, int n_parts, bool transposed,
                        const float *b, int K, int N, bool bf16, int m_hint, clip_error *err)
{
  clip_status st = CLIP_OK;
  dnnl_primitive_desc_t pd = NULL, rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  dnnl_memory_t plain = NULL;
  dnnl_stream_t stream = NULL;
  dnnl_memory_desc_t any_md, plain_md, bias_md;
  onednn_linear *lin = NULL;
  float *joined = NULL;

  if (!eng || !parts || n_parts < 1 || K <= 0 || N <= 0 || N % n_parts
      || (n_parts > 1 && !transposed)) {
    clip_set_error(err, CLIP_ERR_ARG,
                   "oneDNN linear: expected weights [K][N] with K, N > 0 (or "
                   "[N][K] in parts of equal rows), found K=%d N=%d in %d "
                   "part(s)",
                   K, N, n_parts);
    return NULL;
  }
  for (int p = 0; p < n_parts; p++)
    if (!parts[p]) {
      clip_set_error(err, CLIP_ERR_ARG, "oneDNN linear: weight part %d is NULL", p);
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
  if (pf && pf->n_made == pf->cap_made) {
    int cap = pf->cap_made ? 2 * pf->cap_made : 64;
    onednn_linear **m = realloc(pf->made, (size_t) cap * sizeof *m);
    if (!m) {
      st = clip_set_error(err, CLIP_ERR_NOMEM, "oneDNN linear: allocation failed");
      goto out;
    }
    pf->made = m, pf->cap_made = cap;
  }
  const void *packed = pf ? pack_find(pf, pf->n_made, K, N, &lin->wei_md) : NULL;
  if (packed) {
    /* oneDNN only reads a matmul's weights: the read-only mapping serves. */
    TRY(dnnl_memory_create(&lin->wei, &lin->wei_md, eng->engine, (void *) packed),
        "packed weight memory");
  } else {
    if (pf)
      pf->stale = true;
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
  if (pf)
    pf->made[pf->n_made++] = lin;
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
  pack_join(lin->eng);
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

#endif /* CLIP_HAVE_ONEDNN */
