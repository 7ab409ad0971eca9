/* test-backend.c — the oneDNN backend against naive references: linear layers
 * with every epilogue (fp32 within 1e-5 relative, bf16 within its stated
 * tolerance), the attention core with and without the causal mask, and the
 * bf16 conversions, the packed-weight file. Skipped when the build has no
 * oneDNN. */
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <glib/gstdio.h>

#include "backend-onednn.h"
#include "testutil.h"

/* bf16 layers are checked twice: against a reference computed on the same
 * bf16-rounded inputs (products exact, fp32 accumulation: 1e-5 like fp32),
 * and against the unrounded fp32 reference, where bf16's 8 significant bits
 * cost up to 2^-8 relative per input; with random signs over K terms the
 * measured error stays below 1% of the row's largest output. */
#define BF16_TOL 1e-2

static guint32 rng_state;

static float
frand(void)
{
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float) ((rng_state >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static float *
rand_buf(size_t n, float scale)
{
  float *p = g_new(float, n);
  for (size_t i = 0; i < n; i++)
    p[i] = frand() * scale;
  return p;
}

static onednn_engine *
engine_or_skip(void)
{
  if (!onednn_built()) {
    g_test_skip("built without oneDNN (-Donednn=disabled or libdnnl-dev missing)");
    return NULL;
  }
  clip_error err = { 0 };
  onednn_engine *eng = onednn_engine_new(2, &err);
  g_assert_nonnull(eng);
  return eng;
}

static double
act_ref(double v, onednn_act act)
{
  switch (act) {
  case ONEDNN_ACT_QUICK_GELU: return v / (1.0 + exp(-1.702 * v));
  case ONEDNN_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
  default: return v;
  }
}

static float
round_bf16(float f)
{
  uint16_t h;
  float r;
  onednn_f32_to_bf16(&f, &h, 1);
  onednn_bf16_to_f32(&h, &r, 1);
  return r;
}

/* Runs one linear case and compares with a double-precision reference on the
 * same (bf16-rounded, in bf16 mode) inputs. Errors are relative to the largest
 * magnitude in the output row, so outputs that cancel to near zero (residual
 * plus a negative product) do not turn rounding noise into huge ratios. */
static void
check_linear(onednn_engine *eng, int M, int K, int N, bool bias, onednn_act act, bool residual,
             bool bf16, bool bf16_input)
{
  clip_error err = { 0 };
  float *w = rand_buf((size_t) K * N, 1.0f / sqrtf((float) K));
  float *b = bias ? rand_buf((size_t) N, 0.5f) : NULL;
  float *x = rand_buf((size_t) M * K, 1.5f);
  float *y = rand_buf((size_t) M * N, 1.0f);
  double *ref = g_new(double, (size_t) M *N), *exact = g_new(double, (size_t) M *N);

  onednn_linear *lin = onednn_linear_new(eng, w, false, b, K, N, bf16, M, &err);
  g_assert_nonnull(lin);
  g_assert_true(onednn_linear_is_bf16(lin) == bf16);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = b ? b[j] : 0.0, e = s;
      for (int k = 0; k < K; k++) {
        float xv = x[(size_t) i * K + k], wv = w[(size_t) k * N + j];
        e += (double) xv * wv;
        if (bf16)
          xv = round_bf16(xv), wv = round_bf16(wv);
        s += (double) xv * wv;
      }
      s = act_ref(s, act), e = act_ref(e, act);
      if (residual)
        s += y[(size_t) i * N + j], e += y[(size_t) i * N + j];
      ref[(size_t) i * N + j] = s;
      exact[(size_t) i * N + j] = e;
    }
  /* The plain weights are not needed after preparation. */
  memset(w, 0xff, (size_t) K * N * sizeof *w);

  onednn_exec *ex = onednn_exec_new(eng, &err);
  g_assert_nonnull(ex);
  clip_status st;
  if (bf16_input) {
    uint16_t *xb = g_new(uint16_t, (size_t) M * K);
    onednn_f32_to_bf16(x, xb, (size_t) M * K);
    st = onednn_linear_run_bf16(ex, lin, xb, M, y, act, residual, &err);
    g_free(xb);
  } else {
    st = onednn_linear_run(ex, lin, x, M, y, act, residual, &err);
  }
  g_assert_cmpint(st, ==, CLIP_OK);

  double worst = 0.0, worst_exact = 0.0;
  for (int i = 0; i < M; i++) {
    double scale = 0.0;
    for (int j = 0; j < N; j++)
      scale = fmax(scale, fabs(ref[(size_t) i * N + j]));
    scale = fmax(scale, 1e-3);
    for (int j = 0; j < N; j++) {
      worst = fmax(worst, fabs(y[(size_t) i * N + j] - ref[(size_t) i * N + j]) / scale);
      worst_exact =
          fmax(worst_exact, fabs(y[(size_t) i * N + j] - exact[(size_t) i * N + j]) / scale);
    }
  }
  g_test_message("M=%d K=%d N=%d act=%d residual=%d bf16=%d: worst relative error %.3g "
                 "(vs unrounded inputs %.3g)",
                 M, K, N, act, residual, bf16, worst, worst_exact);
  if (worst > 1e-5 || (bf16 && worst_exact > BF16_TOL))
    g_test_fail_printf("M=%d K=%d N=%d bias=%d act=%d residual=%d bf16=%d: worst relative error "
                       "%.3g (vs unrounded inputs %.3g)",
                       M, K, N, bias, act, residual, bf16, worst, worst_exact);
  onednn_exec_free(ex);
  onednn_linear_free(lin);
  g_free(w), g_free(b), g_free(x), g_free(y), g_free(ref), g_free(exact);
}

static void
test_linear_epilogues(void)
{
  onednn_engine *eng = engine_or_skip();
  if (!eng)
    return;
  rng_state = 1;
  for (int act = ONEDNN_ACT_NONE; act <= ONEDNN_ACT_GELU; act++)
    for (int res = 0; res < 2; res++)
      for (int bias = 0; bias < 2; bias++)
        check_linear(eng, 50, 96, 80, bias, act, res, false, false);
  onednn_engine_free(eng);
}

static void
test_linear_shapes(void)
{
  onednn_engine *eng = engine_or_skip();
  if (!eng)
    return;
  rng_state = 7;
  static const int shapes[][3] = { { 1, 1, 1 },     { 1, 768, 512 }, { 3, 17, 5 },
                                   { 50, 33, 129 }, { 77, 64, 31 },  { 7, 1000, 3 },
                                   { 100, 257, 65 } };
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++)
    check_linear(eng, shapes[i][0], shapes[i][1], shapes[i][2], true, ONEDNN_ACT_QUICK_GELU, i & 1,
                 false, false);
  onednn_engine_free(eng);
}

/* The same prepared layer at several M (its layout was chosen for one). */
static void
test_linear_many_m(void)
{
  onednn_engine *eng = engine_or_skip();
  if (!eng)
    return;
  clip_error err = { 0 };
  rng_state = 11;
  int K = 48, N = 40;
  float *w = rand_buf((size_t) K * N, 0.2f), *b = rand_buf(N, 0.1f);
  onednn_linear *lin = onednn_linear_new(eng, w, false, b, K, N, false, 50, &err);
  onednn_exec *ex = onednn_exec_new(eng, &err);
  g_assert_nonnull(lin);
  for (int M = 1; M <= 130; M += 43) {
    float *x = rand_buf((size_t) M * K, 1.0f), *y = g_new(float, (size_t) M *N);
    g_assert_cmpint(onednn_linear_run(ex, lin, x, M, y, ONEDNN_ACT_NONE, false, &err), ==, CLIP_OK);
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        double s = b[j];
        for (int k = 0; k < K; k++)
          s += (double) x[i * K + k] * w[k * N + j];
        g_assert_cmpfloat_with_epsilon(y[i * N + j], s, 1e-5 * fmax(1.0, fabs(s)));
      }
    g_free(x), g_free(y);
  }
  onednn_exec_free(ex);
  onednn_linear_free(lin);
  onednn_engine_free(eng);
  g_free(w), g_free(b);
}

/* Contexts on two threads share one prepared layer and create primitives
 * for new row counts at the same time (the engine's cache is locked). */
typedef struct {
  onednn_engine *eng;
  onednn_linear *lin;
  const float *w, *b;
  int K, N, first_m;
  int bad;
} thread_job;

static gpointer
thread_run(gpointer data)
{
  thread_job *j = data;
  clip_error err = { 0 };
  onednn_exec *ex = onednn_exec_new(j->eng, &err);
  for (int M = j->first_m; M < j->first_m + 12; M++) {
    float *x = g_new(float, (size_t) M * j->K), *y = g_new(float, (size_t) M * j->N);
    for (int i = 0; i < M * j->K; i++)
      x[i] = (float) ((i * 7 + M) % 13) - 6.0f;
    if (onednn_linear_run(ex, j->lin, x, M, y, ONEDNN_ACT_NONE, false, &err) != CLIP_OK)
      j->bad++;
    for (int i = 0; i < M; i++)
      for (int n = 0; n < j->N; n++) {
        double s = j->b[n];
        for (int k = 0; k < j->K; k++)
          s += (double) x[i * j->K + k] * j->w[k * j->N + n];
        if (fabs(y[i * j->N + n] - s) > 1e-4 * fmax(1.0, fabs(s)))
          j->bad++;
      }
    g_free(x), g_free(y);
  }
  onednn_exec_free(ex);
  return NULL;
}

static void
test_linear_threads(void)
{
  onednn_engine *eng = engine_or_skip();
  if (!eng)
    return;
  clip_error err = { 0 };
  rng_state = 13;
  int K = 64, N = 48;
  float *w = rand_buf((size_t) K * N, 0.2f), *b = rand_buf(N, 0.1f);
  onednn_linear *lin = onednn_linear_new(eng, w, false, b, K, N, false, 8, &err);
  thread_job jobs[2] = { { eng, lin, w, b, K, N, 1, 0 }, { eng, lin, w, b, K, N, 5, 0 } };
  GThread *t[2];
  for (int i = 0; i < 2; i++)
    t[i] = g_thread_new("linear", thread_run, &jobs[i]);
  for (int i = 0; i < 2; i++) {
    g_thread_join(t[i]);
    g_assert_cmpint(jobs[i].bad, ==, 0);
  }
  onednn_linear_free(lin);
  onednn_engine_free(eng);
  g_free(w), g_free(b);
}

static void
test_linear_bf16(void)
{
  onednn_engine *eng = engine_or_skip();
  if (!eng)
    return;
  rng_state = 3;
  for (int act = ONEDNN_ACT_NONE; act <= ONEDNN_ACT_GELU; act++) {
    check_linear(eng, 50, 768, 96, true, act, act == ONEDNN_ACT_NONE, true, true);
    check_linear(eng, 1, 77, 33, true, act, true, true, false);
  }
  check_linear(eng, 13, 3072, 40, true, ONEDNN_ACT_NONE, true, true, true);
  onednn_engine_free(eng);
}

/* Weights given as PyTorch's [N][K] (transposed) prepare to the same packed
 * layer as the [K][N] copy: bit-identical outputs, fp32 and bf16, on shapes
 * that are not multiples of the blocking. */
static void
test_linear_transposed(void)
{
  onednn_engine *eng = engine_or_skip();
  if (!eng)
    return;
  static const int shapes[][3] = { { 50, 768, 96 }, { 1, 77, 33 }, { 7, 13, 5 } };
  for (int bf16 = 0; bf16 < 2; bf16++)
    for (size_t c = 0; c < G_N_ELEMENTS(shapes); c++) {
      int M = shapes[c][0], K = shapes[c][1], N = shapes[c][2];
      clip_error err = { 0 };
      float *w = rand_buf((size_t) K * N, 0.1f), *wt = g_new(float, (size_t) K *N);
      float *b = rand_buf((size_t) N, 0.5f), *x = rand_buf((size_t) M * K, 1.0f);
      float *y = g_new(float, (size_t) M *N), *yt = g_new(float, (size_t) M *N);
      for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++)
          wt[(size_t) n * K + k] = w[(size_t) k * N + n];
      onednn_linear *lin = onednn_linear_new(eng, w, false, b, K, N, bf16, M, &err);
      onednn_linear *lint = onednn_linear_new(eng, wt, true, b, K, N, bf16, M, &err);
      g_assert_nonnull(lin);
      g_assert_nonnull(lint);
      onednn_exec *ex = onednn_exec_new(eng, &err);
      g_assert_cmpint(onednn_linear_run(ex, lin, x, M, y, ONEDNN_ACT_NONE, false, &err), ==,
                      CLIP_OK);
      g_assert_cmpint(onednn_linear_run(ex, lint, x, M, yt, ONEDNN_ACT_NONE, false, &err), ==,
                      CLIP_OK);
      g_assert_cmpmem(y, (size_t) M * N * sizeof *y, yt, (size_t) M * N * sizeof *yt);
      onednn_exec_free(ex);
      onednn_linear_free(lin);
      onednn_linear_free(lint);
      g_free(w), g_free(wt), g_free(b), g_free(x), g_free(y), g_free(yt);
    }
  onednn_engine_free(eng);
}

static void
test_linear_errors(void)
{
  onednn_engine *eng = engine_or_skip();
  if (!eng)
    return;
  clip_error err = { 0 };
  float w[4] = { 1, 2, 3, 4 }, x[2] = { 1, 1 }, y[2];
  g_assert_null(onednn_linear_new(eng, w, false, NULL, 0, 2, false, 1, &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_ARG);
  g_assert_nonnull(strstr(err.message, "K=0"));
  onednn_linear *lin = onednn_linear_new(eng, w, false, NULL, 2, 2, false, 1, &err);
  onednn_exec *ex = onednn_exec_new(eng, &err);
  g_assert_cmpint(onednn_linear_run(ex, lin, x, 0, y, ONEDNN_ACT_NONE, false, &err), ==,
                  CLIP_ERR_ARG);
  g_assert_nonnull(strstr(err.message, "M=0"));
  uint16_t xb[2] = { 0 };
  g_assert_cmpint(onednn_linear_run_bf16(ex, lin, xb, 1, y, ONEDNN_ACT_NONE, false, &err), ==,
                  CLIP_ERR_ARG);
  g_assert_nonnull(strstr(err.message, "bf16 activations given to a fp32 layer"));
  g_assert_cmpint(onednn_linear_run(ex, lin, x, 1, y, ONEDNN_ACT_NONE, false, &err), ==, CLIP_OK);
  g_assert_cmpfloat(y[0], ==, 4.0f);
  g_assert_cmpfloat(y[1], ==, 6.0f);
  g_assert_cmpint(onednn_attention(ex, x, 1, 0, 1, 1, false, y, &err), ==, CLIP_ERR_ARG);
  onednn_exec_free(ex);
  onednn_linear_free(lin);
  onednn_engine_free(eng);
}

static void
check_attention(onednn_engine *eng, int n, int T, int H, int Dh, bool causal)
{
  clip_error err = { 0 };
  int W = H * Dh;
  float *qkv = rand_buf((size_t) n * T * 3 * W, 2.0f);
  float *out = g_new(float, (size_t) n *T *W);
  onednn_exec *ex = onednn_exec_new(eng, &err);
  g_assert_cmpint(onednn_attention(ex, qkv, n, T, H, Dh, causal, out, &err), ==, CLIP_OK);
  double *p = g_new(double, T);
  double worst = 0.0;
  for (int b = 0; b < n; b++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < T; i++) {
        const float *q = qkv + ((size_t) b * T + i) * 3 * W + h * Dh;
        double mx = -INFINITY, sum = 0.0;
        int last = causal ? i : T - 1;
        for (int j = 0; j <= last; j++) {
          const float *k = qkv + ((size_t) b * T + j) * 3 * W + W + h * Dh;
          double s = 0.0;
          for (int d = 0; d < Dh; d++)
            s += (double) q[d] * k[d];
          p[j] = s / sqrt((double) Dh);
          mx = fmax(mx, p[j]);
        }
        for (int j = 0; j <= last; j++)
          sum += (p[j] = exp(p[j] - mx));
        for (int d = 0; d < Dh; d++) {
          double o = 0.0;
          for (int j = 0; j <= last; j++)
            o += p[j] / sum * qkv[((size_t) b * T + j) * 3 * W + 2 * W + h * Dh + d];
          double got = out[((size_t) b * T + i) * W + h * Dh + d];
          worst = fmax(worst, fabs(got - o) / fmax(fabs(o), 1e-1));
        }
      }
  if (worst > 1e-5)
    g_test_fail_printf("attention n=%d T=%d H=%d Dh=%d causal=%d: worst relative error %.3g", n, T,
                       H, Dh, causal, worst);
  onednn_exec_free(ex);
  g_free(p), g_free(qkv), g_free(out);
}

static void
test_attention(void)
{
  onednn_engine *eng = engine_or_skip();
  if (!eng)
    return;
  rng_state = 5;
  check_attention(eng, 1, 50, 12, 64, false);
  check_attention(eng, 3, 50, 2, 32, false);
  check_attention(eng, 2, 77, 8, 64, true);
  check_attention(eng, 1, 1, 1, 1, true);
  check_attention(eng, 2, 9, 3, 5, true);
  onednn_engine_free(eng);
}

static void
test_bf16_conversion(void)
{
  /* Exact cases of round-to-nearest-even, on the vector and the tail path. */
  float src[40];
  uint16_t dst[40];
  for (int i = 0; i < 40; i++)
    src[i] = 1.0f;
  uint32_t halfway_even = 0x3f808000u; /* 1 + 2^-8: ties to 1.0 (even) */
  uint32_t halfway_odd = 0x3f818000u;  /* ties up to 0x3f82 */
  uint32_t above = 0x3f808001u;
  memcpy(&src[0], &halfway_even, 4);
  memcpy(&src[1], &halfway_odd, 4);
  memcpy(&src[2], &above, 4);
  memcpy(&src[33], &halfway_odd, 4);
  src[3] = NAN;
  src[4] = -INFINITY;
  onednn_f32_to_bf16(src, dst, 40);
  g_assert_cmphex(dst[0], ==, 0x3f80);
  g_assert_cmphex(dst[1], ==, 0x3f82);
  g_assert_cmphex(dst[2], ==, 0x3f81);
  g_assert_cmphex(dst[33], ==, 0x3f82);
  g_assert_cmphex(dst[4], ==, 0xff80);
  g_assert_cmphex(dst[5], ==, 0x3f80);
  float back[40];
  onednn_bf16_to_f32(dst, back, 40);
  g_assert_true(isnan(back[3]));
  g_assert_cmpfloat(back[5], ==, 1.0f);

  /* A large buffer (split over threads, odd tail) equals one-by-one. */
  size_t n = 3 * 65536 + 17;
  rng_state = 9;
  float *big = rand_buf(n, 100.0f);
  uint16_t *all = g_new(uint16_t, n), one;
  onednn_f32_to_bf16(big, all, n);
  for (size_t i = 0; i < n; i++) {
    onednn_f32_to_bf16(&big[i], &one, 1);
    if (one != all[i])
      g_assert_cmphex(all[i], ==, one);
  }
  g_free(big);
  g_free(all);
}

static void
test_unbuilt_reports(void)
{
  if (onednn_built()) {
    g_test_skip("only meaningful without oneDNN");
    return;
  }
  clip_error err = { 0 };
  g_assert_null(onednn_engine_new(2, &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_UNSUPPORTED);
  g_assert_nonnull(strstr(err.message, "no oneDNN"));
}

/* Runs clip-tool with args; returns the exit status, stdout and stderr. */
static int
run_tool(const char *const *args, char **out, char **errs)
{
  return testutil_run_tool(args, out, errs);
}

/* clip-tool bench: usage errors, and a short real run whose JSON has every
 * documented figure, with sane values. */
static void
test_tool_bench(void)
{
  char *out = NULL, *errs = NULL;
  const char *bad_backend[] = { "bench", "model", "--backend", "cuda", NULL };
  g_assert_cmpint(run_tool(bad_backend, &out, &errs), ==, 2);
  g_assert_nonnull(strstr(errs, "expected openblas or onednn, found 'cuda'"));
  g_free(out), g_free(errs);
  const char *bad_batch[] = { "bench", "model", "--batch", "0", NULL };
  g_assert_cmpint(run_tool(bad_batch, &out, &errs), ==, 2);
  g_assert_nonnull(strstr(errs, "batch, runs and threads must be >= 1"));
  g_free(out), g_free(errs);
  const char *no_value[] = { "bench", "model", "--runs", NULL };
  g_assert_cmpint(run_tool(no_value, &out, &errs), ==, 2);
  g_assert_nonnull(strstr(errs, "--runs needs a value"));
  g_free(out), g_free(errs);
  const char *bad_tokens[] = { "bench", "model", "--text-tokens", "1", NULL };
  g_assert_cmpint(run_tool(bad_tokens, &out, &errs), ==, 2);
  g_assert_nonnull(strstr(errs, "text-tokens >= 2"));
  g_free(out), g_free(errs);
  const char *missing[] = { "bench", "/nonexistent/model-dir", NULL };
  g_assert_cmpint(run_tool(missing, &out, &errs), ==, 1);
  g_assert_nonnull(strstr(errs, "/nonexistent/model-dir"));
  g_free(out), g_free(errs);

  REQUIRE_REFERENCE(ref);
  char *model = g_build_filename(ref, "tiny-b32", NULL);
  /* Both backends: each has its own floor pass (OpenBLAS's runs the
   * attention core on a bound engine backend of its own). */
  const char *backends[] = { "openblas", "onednn" };
  for (int k = 0; k < (onednn_built() ? 2 : 1); k++) {
    const char *run[] = { "bench",     model, "--batch",         "2",    "--runs",    "2",
                          "--text",    "3",   "--floor-seconds", "0.01", "--backend", backends[k],
                          "--profile", NULL };
    g_assert_cmpint(run_tool(run, &out, &errs), ==, 0);
    static const char *keys[] = { "\"ms_per_image_min\"",
                                  "\"ms_per_image_median\"",
                                  "\"images_per_s\"",
                                  "\"load_ms\"",
                                  "\"first_result_ms\"",
                                  "\"load_cpu_ms\"",
                                  "\"first_result_cpu_ms\"",
                                  "\"openblas_first_result_cpu_ms\"",
                                  "\"openblas_first_result_ms\"",
                                  "\"peak_rss_mb\"",
                                  "\"gemm_floor_ms_per_image\"",
                                  "\"ratio_to_model_floor_min\"",
                                  "\"model_floor_ms_tokens_run_min\"",
                                  "\"tokens_run\"",
                                  "\"stages_ms_per_pass\"",
                                  "\"qkv\"",
                                  "\"attention\"",
                                  "\"layer_norm_ms_per_pass\"",
                                  "\"activation_in_fc1_ms_per_pass\"",
                                  "\"text_profile\"" };
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
      if (!strstr(out, keys[i]))
        g_test_fail_printf("clip-tool bench output lacks %s:\n%s", keys[i], out);
    char *b = g_strdup_printf("\"backend\": \"%s\"", backends[k]);
    g_assert_nonnull(strstr(out, b));
    g_free(b);
    g_free(out), g_free(errs);
  }
  /* Synthetic texts of a given length: the run length is that length, and
   * the context is the limit. */
  const char *long_texts[] = { "bench",         model, "--runs",          "1",    "--text", "2",
                               "--text-tokens", "77",  "--floor-seconds", "0.01", NULL };
  g_assert_cmpint(run_tool(long_texts, &out, &errs), ==, 0);
  g_assert_nonnull(strstr(out, "\"tokens_run\": 77,"));
  g_free(out), g_free(errs);
  const char *too_long[] = { "bench", model, "--text-tokens", "78", NULL };
  g_assert_cmpint(run_tool(too_long, &out, &errs), ==, 2);
  g_assert_nonnull(strstr(errs, "--text-tokens 78: the model's context is 77 tokens"));
  g_free(out), g_free(errs);
  g_free(model);
}

/* ---- packed-weight file -------------------------------------------------- */

/* Four transposed layers of 2048 × 2048 (fp32: 64 MB packed, the least
 * that gets a file), the middle one in three parts like split q, k, v. */
enum { PK = 2048, PN = 2048, PM = 3, PLAYERS = 4 };

typedef struct {
  float *w[PLAYERS], *b, *x;
  char *dir, *weights; /* CLIP_WEIGHT_CACHE and the "checkpoint" it is keyed to */
} pack_case;

/* Builds the layers on a fresh engine with the pack file of c->weights, saves
 * it, and returns their outputs for x (PLAYERS × PM × PN). n_layers < PLAYERS
 * builds only the first ones. */
static float *
pack_run(const pack_case *c, bool bf16, int n_layers)
{
  clip_error err = { 0 };
  onednn_engine *eng = onednn_engine_new(2, &err);
  g_assert_nonnull(eng);
  onednn_engine_use_pack_file(eng, c->weights, NULL, NULL, bf16);
  onednn_linear *lin[PLAYERS];
  for (int l = 0; l < n_layers; l++) {
    const size_t third = (size_t) PN / 3 * PK;
    const float *parts[3] = { c->w[l], c->w[l] + third, c->w[l] + 2 * third };
    lin[l] =
        l == 1 ? onednn_linear_new_parts(eng, parts, 3, true, c->b, PK, PN - PN % 3, bf16, PM, &err)
               : onednn_linear_new(eng, c->w[l], true, c->b, PK, PN, bf16, PM, &err);
    g_assert_nonnull(lin[l]);
  }
  onednn_engine_save_pack_file(eng);
  float *y = g_new0(float, (size_t) PLAYERS *PM *PN);
  onednn_exec *ex = onednn_exec_new(eng, &err);
  for (int l = 0; l < n_layers; l++)
    g_assert_cmpint(onednn_linear_run(ex, lin[l], c->x, PM, y + (size_t) l * PM * PN,
                                      ONEDNN_ACT_NONE, false, &err),
                    ==, CLIP_OK);
  onednn_exec_free(ex);
  for (int l = 0; l < n_layers; l++)
    onednn_linear_free(lin[l]);
  onednn_engine_free(eng);
  return y;
}

/* The one pack file in c->dir (NULL when there is none); its inode in *ino. */
static char *
pack_file_in(const pack_case *c, guint64 *ino)
{
  GDir *d = g_dir_open(c->dir, 0, NULL);
  char *found = NULL;
  for (const char *n; d && (n = g_dir_read_name(d));) {
    g_assert_null(found); /* never more than one, nor a temporary left behind */
    found = g_build_filename(c->dir, n, NULL);
  }
  if (d)
    g_dir_close(d);
  GStatBuf sb;
  if (found && ino) {
    g_assert_cmpint(g_stat(found, &sb), ==, 0);
    *ino = sb.st_ino;
  }
  return found;
}

static void
test_pack_file(void)
{
  onednn_engine *probe = engine_or_skip();
  if (!probe)
    return;
  onednn_engine_free(probe);
  pack_case c;
  for (int l = 0; l < PLAYERS; l++)
    c.w[l] = rand_buf((size_t) PK * PN, 0.02f);
  c.b = rand_buf(PN, 0.5f);
  c.x = rand_buf((size_t) PM * PK, 1.0f);
  c.dir = g_build_filename(testutil_tmpdir(), "pack", NULL);
  c.weights = testutil_write_file("pack-weights.safetensors", "identity", 8);
  g_setenv("CLIP_WEIGHT_CACHE", c.dir, TRUE);
  const size_t ny = (size_t) PLAYERS * PM * PN * sizeof(float);

  for (int bf16 = 0; bf16 < 2; bf16++) {
    /* First load: packs and writes the file. */
    float *y0 = pack_run(&c, bf16, PLAYERS);
    guint64 ino0 = 0, ino = 0;
    char *file = pack_file_in(&c, &ino0);
    if (bf16) { /* 32 MB of bf16: under the threshold, no file */
      g_assert_null(file);
      g_free(y0);
      continue;
    }
    g_assert_nonnull(file);
    g_assert_nonnull(strstr(file, "pack-weights.safetensors-"));
    g_assert_nonnull(strstr(file, "-onednn-fp32.packed"));
    /* Second load: maps the file (left as it was) with identical results. */
    float *y = pack_run(&c, bf16, PLAYERS);
    g_assert_cmpmem(y, ny, y0, ny);
    g_free(y), g_free(pack_file_in(&c, &ino));
    g_assert_cmpuint(ino, ==, ino0);

    /* A replaced checkpoint (new modification time): packed and rewritten. */
    struct utimbuf times = { 1000000000, 1000000000 };
    g_assert_cmpint(utime(c.weights, &times), ==, 0);
    y = pack_run(&c, bf16, PLAYERS);
    g_assert_cmpmem(y, ny, y0, ny);
    g_free(y), g_free(pack_file_in(&c, &ino));
    g_assert_cmpuint(ino, !=, ino0);
    ino0 = ino;

    /* Rewritten in place with its modification time set back (as cp -p
     * or rsync -t do): the change time still moved, so packed again. */
    FILE *rw = fopen(c.weights, "r+");
    g_assert_nonnull(rw);
    g_assert_cmpint(fwrite("IDENTITY", 1, 8, rw), ==, 8);
    fclose(rw);
    g_assert_cmpint(utime(c.weights, &times), ==, 0);
    y = pack_run(&c, bf16, PLAYERS);
    g_assert_cmpmem(y, ny, y0, ny);
    g_free(y), g_free(pack_file_in(&c, &ino));
    g_assert_cmpuint(ino, !=, ino0);
    ino0 = ino;

    /* A truncated file: packed and rewritten whole. */
    g_assert_cmpint(truncate(file, 200000), ==, 0);
    y = pack_run(&c, bf16, PLAYERS);
    g_assert_cmpmem(y, ny, y0, ny);
    g_free(y), g_free(pack_file_in(&c, &ino));
    g_assert_cmpuint(ino, !=, ino0);
    GStatBuf sb;
    g_assert_cmpint(g_stat(file, &sb), ==, 0);
    g_assert_cmpint(sb.st_size, >, 64 << 20);
    ino0 = ino;

    /* Fewer layers than the file has (another model's shape list): each
     * matching layer still comes from it, and a model under the threshold
     * leaves the file alone. */
    float *y2 = pack_run(&c, bf16, 2);
    g_assert_cmpmem(y2, (size_t) 2 * PM * PN * sizeof(float), y0,
                    (size_t) 2 * PM * PN * sizeof(float));
    g_free(y2), g_free(pack_file_in(&c, &ino));
    g_assert_cmpuint(ino, ==, ino0);

    /* Turned off: no file is read or written. */
    g_assert_cmpint(g_unlink(file), ==, 0);
    g_setenv("CLIP_WEIGHT_CACHE", "off", TRUE);
    y = pack_run(&c, bf16, PLAYERS);
    g_assert_cmpmem(y, ny, y0, ny);
    g_free(y);
    g_assert_null(pack_file_in(&c, NULL));

    /* A directory that cannot be created (under a regular file): the load
     * works, only without the file. */
    char *bad = g_build_filename(c.weights, "cache", NULL);
    g_setenv("CLIP_WEIGHT_CACHE", bad, TRUE);
    y = pack_run(&c, bf16, PLAYERS);
    g_assert_cmpmem(y, ny, y0, ny);
    g_free(y), g_free(bad);
    g_setenv("CLIP_WEIGHT_CACHE", c.dir, TRUE);
    g_free(file), g_free(y0);
  }
  g_unsetenv("CLIP_WEIGHT_CACHE");
  for (int l = 0; l < PLAYERS; l++)
    g_free(c.w[l]);
  g_free(c.b), g_free(c.x), g_free(c.dir), g_free(c.weights);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/backend/linear-epilogues", test_linear_epilogues);
  g_test_add_func("/backend/linear-shapes", test_linear_shapes);
  g_test_add_func("/backend/linear-many-m", test_linear_many_m);
  g_test_add_func("/backend/linear-bf16", test_linear_bf16);
  g_test_add_func("/backend/linear-threads", test_linear_threads);
  g_test_add_func("/backend/linear-transposed", test_linear_transposed);
  g_test_add_func("/backend/linear-errors", test_linear_errors);
  g_test_add_func("/backend/attention", test_attention);
  g_test_add_func("/backend/pack-file", test_pack_file);
  g_test_add_func("/backend/bf16-conversion", test_bf16_conversion);
  g_test_add_func("/backend/unbuilt", test_unbuilt_reports);
  g_test_add_func("/backend/clip-tool-bench", test_tool_bench);
  return g_test_run();
}
