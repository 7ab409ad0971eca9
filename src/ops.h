/* ops.h — the numeric kernels of the forward pass and the one boundary for
 * matrix products.
 *
 * Every matrix product of the engine goes through ops_linear() (layers with
 * weights) or ops_matmul_nt()/ops_matmul_nn() (the attention products). They
 * take an ops_backend so that a second backend (oneDNN, issue 5) can be
 * slotted in behind them without the towers knowing: the epilogues (bias,
 * activation, residual add) are part of the call precisely so that such a
 * backend can fuse them as post-ops. The rest (layer norm, softmax,
 * activations) is plain C over row-major float32. Nothing here allocates. */
#ifndef CLIP_OPS_H
#define CLIP_OPS_H

#include <stdbool.h>

#include "model.h"

/* Which library runs the matrix products, and with how many threads.
 * impl is reserved for a backend's own state (primitive caches, prepacked
 * weights); the OpenBLAS path does not use it. */
typedef struct {
  clip_backend kind;
  int n_threads;
  void *impl;
} ops_backend;

/* Resolves params into a backend (OpenBLAS here; oneDNN and BF16 are refused
 * until that backend exists) and applies the thread count. */
clip_status ops_backend_init(ops_backend *be, const clip_params *params, clip_error *err);

/* What happens to x·W + b before it is stored. Bias is always applied when
 * the layer has one. */
typedef enum {
  OPS_EPI_NONE = 0,   /* y  = x·W + b */
  OPS_EPI_QUICK_GELU, /* y  = quick_gelu(x·W + b), u·sigmoid(1.702u) */
  OPS_EPI_GELU,       /* y  = gelu(x·W + b), exact erf form */
  OPS_EPI_RESIDUAL,   /* y += x·W + b: y holds the residual stream */
} ops_epilogue;

/* y[M, out] = epilogue(x[M, in]·W + b) with W stored [in][out]. x and y must
 * not overlap. */
void ops_linear(const ops_backend *be, const clip_linear *lin, const float *x, int M, float *y,
                ops_epilogue epi);

/* C[M, N] = alpha · A[M, K] · B[N, K]ᵀ with leading dimensions (row strides)
 * lda, ldb, ldc: attention scores Q·Kᵀ on strided head views. */
void ops_matmul_nt(const ops_backend *be, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float *C, int ldc);

/* C[M, N] = A[M, K] · B[K, N] with leading dimensions: attention output P·V. */
void ops_matmul_nn(const ops_backend *be, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, float *C, int ldc);

/* Layer norm of `rows` rows of `width` floats, row stride ld_in / ld_out:
 * (x − mean) / sqrt(var + eps) · g + b. in and out may be the same buffer. */
void ops_layer_norm(const clip_norm *norm, int width, float eps, const float *in, int ld_in,
                    float *out, int ld_out, int rows);

/* Softmax of each of `rows` rows of `cols` floats (row stride ld), in place.
 * causal: row i only attends to columns 0..i; the rest become 0. */
void ops_softmax_rows(float *x, int rows, int cols, int ld, bool causal);

/* Softmax of n values into out (may alias in); stable for any finite input. */
void ops_softmax(const float *in, int n, float *out);

/* The activations, exposed for the tests and for the epilogues. */
float ops_quick_gelu(float x);
float ops_gelu(float x);

#endif
