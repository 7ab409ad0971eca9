/* gemm-floor.c — per-shape GEMM throughput on each backend, measured in the
 * calling process so that every benchmark figure has its own yardstick. */
#include "gemm-floor.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend-onednn.h"
#include "model.h"
#include "ops.h"

double
floor_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *
floor_method_name(floor_method m)
{
  static const char *names[] = { "openblas", "onednn_fp32", "onednn_bf16" };
  return m < FLOOR_N_METHODS ? names[m] : "?";
}

static floor_shape
linear_shape(const char *name, int M, int K, int N, bool bias, int count)
{
  floor_shape s;
  memset(&s, 0, sizeof s);
  snprintf(s.name, sizeof s.name, "%s", name);
  s.M = M, s.K = K, s.N = N, s.bias = bias, s.count = count;
  s.gflop = 2.0 * M * K * N * 1e-9;
  for (int m = 0; m < FLOOR_N_METHODS; m++)
    s.ms[m] = -1.0;
  return s;
}

static floor_shape
attention_shape(int n, int T, int H, int Dh, bool causal, int count)
{
  floor_shape s = linear_shape("attention", 0, 0, 0, false, count);
  s.attention = true;
  s.n = n, s.T = T, s.H = H, s.Dh = Dh, s.causal = causal;
  s.gflop = 2.0 * 2.0 * n * H * (double) T * T * Dh * 1e-9;
  return s;
}

int
floor_shapes_vision(floor_shape *s, int batch, int image_size, int patch, int width, int layers,
                    int heads, int mlp, int embed)
{
  int grid = image_size / patch, T = grid * grid + 1, M = T * batch;
  int n = 0;
  s[n++] = linear_shape("patch_embed", grid * grid * batch, 3 * patch * patch, width, false, 1);
  s[n++] = linear_shape("qkv", M, width, 3 * width, true, layers);
  s[n++] = attention_shape(batch, T, heads, width / heads, false, layers);
  s[n++] = linear_shape("attn_out", M, width, width, true, layers);
  s[n++] = linear_shape("fc1", M, width, mlp, true, layers);
  s[n++] = linear_shape("fc2", M, mlp, width, true, layers);
  s[n++] = linear_shape("proj", batch, width, embed, false, 1);
  return n;
}

int
floor_shapes_text(floor_shape *s, int n_texts, int T, int width, int layers, int heads, int mlp,
                  int embed)
{
  int M = n_texts * T, n = 0;
  s[n++] = linear_shape("qkv", M, width, 3 * width, true, layers);
  s[n++] = attention_shape(n_texts, T, heads, width / heads, true, layers);
  s[n++] = linear_shape("attn_out", M, width, width, true, layers);
  s[n++] = linear_shape("fc1", M, width, mlp, true, layers);
  s[n++] = linear_shape("fc2", M, mlp, width, true, layers);
  s[n++] = linear_shape("proj", n_texts, width, embed, false, 1);
  return n;
}

static float *
filled(size_t n, float scale)
{
  float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t) 63);
  if (!p)
    return NULL;
  unsigned r = 12345;
  for (size_t i = 0; i < n; i++) {
    r = r * 1664525u + 1013904223u;
    p[i] = ((r >> 8) * (1.0f / 16777216.0f) - 0.5f) * scale;
  }
  return p;
}

typedef struct {
  floor_shape s;
  /* n_w weight sets: one per call of the pass when the bench has the
   * model's weights (each layer its own), else one reused by every call. */
  int n_w;
  onednn_linear **lin;
  float **w, **b;
  float *x, *y;
  uint16_t *xb;
} bench_shape;

struct floor_bench {
  floor_method m;
  int threads, n;
  onednn_engine *eng;
  onednn_exec *ex;
  /* OpenBLAS: the engine's own backend state (its worker threads), bound
   * for the bench's longest sequence, for the attention core. */
  ops_backend blas;
  bench_shape *sh;
};

/* One call of one shape with the bench's buffers. The attention core is
 * the engine's own on either backend (on OpenBLAS its per-(sequence, head)
 * products split over the context's workers, on oneDNN its primitives): it
 * is a chain of tiny products with a softmax between them, and no single
 * library call has it. */
static void
run_once(floor_bench *fs, bench_shape *p, int c)
{
  const floor_shape *s = &p->s;
  if (s->attention && fs->m == FLOOR_OPENBLAS)
    ops_attention(&fs->blas, p->x, s->n, s->T, s->H, s->Dh, s->causal, p->y);
  else if (s->attention)
    onednn_attention(fs->ex, p->x, s->n, s->T, s->H, s->Dh, s->causal, p->y, NULL);
  else if (fs->m == FLOOR_OPENBLAS)
    /* The product alone, weights in PyTorch's [N][K] layout as the model
     * keeps them. No bias pass: with β = 0 OpenBLAS already makes one pass
     * over y (zeroing it), the pass in which the engine writes the bias
     * before a β = 1 product. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->M, s->N, s->K, 1.0f, p->x, s->K,
                p->w[c], s->K, 0.0f, p->y, s->N);
  else if (fs->m == FLOOR_ONEDNN_BF16)
    onednn_linear_run_bf16(fs->ex, p->lin[c], p->xb, s->M, p->y, ONEDNN_ACT_NONE, false, NULL);
  else
    onednn_linear_run(fs->ex, p->lin[c], p->x, s->M, p->y, ONEDNN_ACT_NONE, false, NULL);
}

static void
shape_free(bench_shape *p)
{
  for (int c = 0; c < p->n_w; c++) {
    if (p->lin)
      onednn_linear_free(p->lin[c]);
    if (p->w)
      free(p->w[c]);
    if (p->b)
      free(p->b[c]);
  }
  free(p->lin), free(p->w), free(p->b);
  free(p->x), free(p->y), free(p->xb);
}

static bool
shape_init(bench_shape *p, const floor_shape *s, floor_method m, onednn_engine *eng,
           bool model_weights)
{
  memset(p, 0, sizeof *p);
  p->s = *s;
  size_t nx, ny;
  if (s->attention) {
    nx = (size_t) s->n * s->T * 3 * s->H * s->Dh;
    ny = (size_t) s->n * s->T * s->H * s->Dh;
  } else {
    nx = (size_t) s->M * s->K;
    ny = (size_t) s->M * s->N;
  }
  if (!(p->x = filled(nx, 2.0f)) || !(p->y = filled(ny, 1.0f)))
    return false;
  if (s->attention)
    return true;
  p->n_w = model_weights ? s->count : 1;
  if (!(p->w = calloc((size_t) p->n_w, sizeof *p->w))
      || !(p->b = calloc((size_t) p->n_w, sizeof *p->b))
      || (m != FLOOR_OPENBLAS && !(p->lin = calloc((size_t) p->n_w, sizeof *p->lin))))
    return false;
  for (int c = 0; c < p->n_w; c++) {
    if (!(p->w[c] = filled((size_t) s->K * s->N, 0.1f)))
      return false;
    if (m == FLOOR_OPENBLAS)
      continue; /* the product alone: no bias (run_once) */
    if (s->bias && !(p->b[c] = filled(s->N, 0.1f)))
      return false;
    p->lin[c] = onednn_linear_new(eng, p->w[c], true, p->b[c], s->K, s->N, m == FLOOR_ONEDNN_BF16,
                                  s->M, NULL);
    if (!p->lin[c])
      return false;
    /* The prepacked copy is all oneDNN reads: drop the plain one so the
     * bench holds what a model holds. */
    free(p->w[c]), free(p->b[c]);
    p->w[c] = p->b[c] = NULL;
  }
  if (m == FLOOR_ONEDNN_BF16) {
    if (!(p->xb = malloc(nx * sizeof *p->xb)))
      return false;
    onednn_f32_to_bf16(p->x, p->xb, nx);
  }
  return true;
}

/* The engine's OpenBLAS backend on `threads` threads, bound as for a model
 * whose longest sequence is the longest attention shape's. Like a context,
 * it leaves OpenBLAS on one thread. */
static bool
blas_bind_for(ops_backend *be, const floor_shape *s, int n, int threads)
{
  clip_params params = clip_default_params();
  params.backend = CLIP_BACKEND_OPENBLAS;
  params.n_threads = threads;
  clip_model shapes;
  memset(&shapes, 0, sizeof shapes);
  for (int i = 0; i < n; i++)
    if (s[i].attention && s[i].T > shapes.info.context_length)
      shapes.info.context_length = s[i].T;
  return ops_backend_init(be, &params, NULL) == CLIP_OK
         && ops_backend_bind(be, &shapes, NULL) == CLIP_OK;
}

floor_bench *
floor_bench_new(const floor_shape *s, int n, floor_method m, int threads, bool model_weights)
{
  floor_bench *fs = calloc(1, sizeof *fs);
  if (!fs || !(fs->sh = calloc((size_t) n, sizeof *fs->sh))) {
    free(fs);
    return NULL;
  }
  fs->m = m, fs->threads = threads, fs->n = n;
  if (m == FLOOR_OPENBLAS && !blas_bind_for(&fs->blas, s, n, threads)) {
    floor_bench_free(fs);
    return NULL;
  }
  if (m != FLOOR_OPENBLAS
      && (!onednn_built() || !(fs->eng = onednn_engine_new(threads, NULL))
          || !(fs->ex = onednn_exec_new(fs->eng, NULL)))) {
    floor_bench_free(fs);
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (!shape_init(&fs->sh[i], &s[i], m, fs->eng, model_weights)) {
      floor_bench_free(fs);
      return NULL;
    }
  floor_bench_pass(fs); /* creates the primitives, pages the buffers in */
  return fs;
}

/* OpenBLAS's products run on its own threads in the floor: that is the
 * library's best for a shape. The engine keeps OpenBLAS on one thread (its
 * products run on its own workers), so the count goes back to one after. */
static void
blas_products_threads(const floor_bench *fs, bool on)
{
  if (fs->m != FLOOR_OPENBLAS)
    return;
  openblas_set_num_threads(on ? fs->threads : 1);
  if (!on) {
    /* OpenBLAS's threads spin for a while after their last product; let
     * them go to sleep before the engine's workers run again, or the
     * engine's next pass would pay the two-pool cost the floor put there. */
    struct timespec pause = { 0, 200 * 1000 * 1000 };
    nanosleep(&pause, NULL);
  }
}

double
floor_bench_pass(floor_bench *fs)
{
  double ms = 0.0;
  blas_products_threads(fs, true);
  double t0 = floor_now();
  for (int i = 0; i < fs->n; i++) {
    const bench_shape *p = &fs->sh[i];
    /* On OpenBLAS the attention core is not run here but counted at its
     * best time measured alone: right after OpenBLAS's threaded products
     * its pool still spins on the cores and slows our workers down (the
     * two-pool cost the engine avoids by keeping OpenBLAS on one thread),
     * which would put that cost into the floor. */
    if (fs->m == FLOOR_OPENBLAS && p->s.attention && p->s.ms[FLOOR_OPENBLAS] >= 0) {
      ms += p->s.count * p->s.ms[FLOOR_OPENBLAS];
      continue;
    }
    for (int c = 0; c < p->s.count; c++)
      run_once(fs, &fs->sh[i], p->n_w > 1 ? c : 0);
  }
  ms += (floor_now() - t0) * 1e3;
  blas_products_threads(fs, false);
  return ms;
}

void
floor_bench_free(floor_bench *fs)
{
  if (!fs)
    return;
  for (int i = 0; fs->sh && i < fs->n; i++)
    shape_free(&fs->sh[i]);
  free(fs->sh);
  ops_backend_release(&fs->blas);
  onednn_exec_free(fs->ex);
  onednn_engine_free(fs->eng);
  free(fs);
}

bool
floor_measure(floor_shape *s, floor_method m, int threads, double min_seconds)
{
  floor_bench *fs = floor_bench_new(s, 1, m, threads, false);
  if (!fs)
    return false;
  /* (the attention core alone: OpenBLAS's threads from the products
   * measured before went to sleep when those ended) */
  if (!s->attention)
    blas_products_threads(fs, true);
  double best = INFINITY, start = floor_now();
  for (int rep = 0; rep < 3 || (floor_now() - start < min_seconds && rep < 100000); rep++) {
    double t0 = floor_now();
    run_once(fs, &fs->sh[0], 0);
    best = fmin(best, floor_now() - t0);
  }
  if (!s->attention)
    blas_products_threads(fs, false);
  s->ms[m] = best * 1e3;
  s->impl[m] = m == FLOOR_OPENBLAS ? "cblas_sgemm" : onednn_exec_last_impl(fs->ex);
  floor_bench_free(fs);
  return true;
}

void
floor_measure_all(floor_shape *s, int n, floor_method m, int threads, double min_seconds)
{
  struct timespec pause = { 0, 300 * 1000 * 1000 };
  nanosleep(&pause, NULL);
  for (int i = 0; i < n; i++)
    floor_measure(&s[i], m, threads, min_seconds);
}

double
floor_total_ms(const floor_shape *s, int n, floor_method m)
{
  double t = 0.0;
  for (int i = 0; i < n; i++) {
    if (s[i].ms[m] < 0)
      return -1.0;
    t += s[i].count * s[i].ms[m];
  }
  return t;
}

void
floor_print_json(FILE *out, const floor_shape *s, int n, double per, const char *in)
{
  fprintf(out, "%s\"shapes\": [\n", in);
  for (int i = 0; i < n; i++) {
    if (s[i].attention)
      fprintf(out,
              "%s  {\"name\": \"%s\", \"n\": %d, \"T\": %d, \"heads\": %d, \"head_dim\": %d, "
              "\"causal\": %s, \"count\": %d, \"gflop\": %.4f",
              in, s[i].name, s[i].n, s[i].T, s[i].H, s[i].Dh, s[i].causal ? "true" : "false",
              s[i].count, s[i].gflop);
    else
      fprintf(out,
              "%s  {\"name\": \"%s\", \"M\": %d, \"K\": %d, \"N\": %d, \"count\": %d, "
              "\"gflop\": %.4f",
              in, s[i].name, s[i].M, s[i].K, s[i].N, s[i].count, s[i].gflop);
    for (int m = 0; m < FLOOR_N_METHODS; m++)
      if (s[i].ms[m] >= 0)
        fprintf(out, ", \"%s_gflops\": %.1f", floor_method_name(m),
                s[i].gflop / (s[i].ms[m] * 1e-3));
    for (int m = FLOOR_ONEDNN_FP32; m < FLOOR_N_METHODS; m++)
      if (s[i].ms[m] >= 0)
        fprintf(out, ", \"%s_impl\": \"%s\"", floor_method_name(m), s[i].impl[m]);
    fprintf(out, "}%s\n", i + 1 < n ? "," : "");
  }
  fprintf(out, "%s],\n%s\"gemm_floor_ms\": {", in, in);
  bool first = true;
  for (int m = 0; m < FLOOR_N_METHODS; m++) {
    double t = floor_total_ms(s, n, m);
    if (t >= 0) {
      fprintf(out, "%s\"%s\": %.2f", first ? "" : ", ", floor_method_name(m), t / per);
      first = false;
    }
  }
  fprintf(out, "}");
}
