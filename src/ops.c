/* ops.c — OpenBLAS implementation of the GEMM boundary, and the element-wise
 * kernels (layer norm, softmax, activations). */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "error.h"

clip_status
ops_backend_init(ops_backend *be, const clip_params *params, clip_error *err)
{
  clip_params p = params ? *params : clip_default_params();
  memset(be, 0, sizeof *be);
  if (p.backend == CLIP_BACKEND_ONEDNN)
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED,
                          "backend oneDNN: this build has only the OpenBLAS backend");
  if (p.precision == CLIP_PRECISION_BF16)
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED,
                          "precision bf16 needs the oneDNN backend, which this build lacks");
  be->kind = CLIP_BACKEND_OPENBLAS;
  be->n_threads = p.n_threads > 0 ? p.n_threads : openblas_get_num_procs();
  if (be->n_threads < 1)
    be->n_threads = 1;
  /* OpenBLAS has one process-wide pool; setting it only when it differs
   * avoids resizing the pool under another context's running GEMM. */
  if (openblas_get_num_threads() != be->n_threads)
    openblas_set_num_threads(be->n_threads);
  return CLIP_OK;
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

void
ops_linear(const ops_backend *be, const clip_linear *lin, const float *x, int M, float *y,
           ops_epilogue epi)
{
  const int K = lin->in, N = lin->out;
  (void) be;
  if (M <= 0)
    return;
  /* The residual add rides on GEMM's beta = 1, so y never needs a copy. */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, lin->w, N,
              epi == OPS_EPI_RESIDUAL ? 1.0f : 0.0f, y, N);
  if (!lin->b && (epi == OPS_EPI_NONE || epi == OPS_EPI_RESIDUAL))
    return;
  for (int i = 0; i < M; i++) {
    float *row = y + (size_t) i * N;
    const float *b = lin->b;
    switch (epi) {
    case OPS_EPI_NONE:
    case OPS_EPI_RESIDUAL:
      for (int j = 0; j < N; j++)
        row[j] += b[j];
      break;
    case OPS_EPI_QUICK_GELU:
      for (int j = 0; j < N; j++)
        row[j] = ops_quick_gelu(row[j] + (b ? b[j] : 0.0f));
      break;
    case OPS_EPI_GELU:
      for (int j = 0; j < N; j++)
        row[j] = ops_gelu(row[j] + (b ? b[j] : 0.0f));
      break;
    }
  }
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
    double sum = 0.0;
    for (int j = 0; j < width; j++)
      sum += x[j];
    const double mean = sum / width;
    double sq = 0.0;
    for (int j = 0; j < width; j++) {
      const double d = x[j] - mean;
      sq += d * d;
    }
    /* Centred in double too: a float mean would round away the offset. */
    const double inv = 1.0 / sqrt(sq / width + (double) eps);
    for (int j = 0; j < width; j++)
      y[j] = (float) ((x[j] - mean) * inv) * norm->g[j] + norm->b[j];
  }
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
