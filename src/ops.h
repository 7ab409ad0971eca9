/* ops.h — the numeric kernels of the forward pass and the one boundary for
 * matrix products.
 *
 * Every matrix product of the engine goes through ops_linear() (layers with
 * weights) or ops_matmul_nt()/ops_matmul_nn() (the attention products). They
 * take an ops_backend so that the backend (OpenBLAS here, oneDNN in
 * backend-onednn.c) is chosen behind them without the towers knowing: the
 * epilogues (bias, activation, residual add) are part of the call precisely
 * so that a backend can fuse them as post-ops. The rest (layer norm, softmax,
 * activations) is plain C over row-major float32. Nothing here allocates. */
#ifndef CLIP_OPS_H
#define CLIP_OPS_H

#include <stdbool.h>

#include "clip.h"
#include "tensors.h"

/* Which library runs the matrix products, and with how many threads.
 * impl is the backend's per-context state (oneDNN: stream and scratch;
 * OpenBLAS: worker threads and attention scratch). */
/* Time per matrix-product shape, collected when a backend has a profile
 * (clip-tool bench --profile); everything else is the rest of the pass. */
typedef struct {
  bool attention; /* M = sequences, K = tokens, N = heads (head size in hd) */
  int M, K, N, hd;
  long calls;
  double seconds;
} ops_profile_entry;

typedef struct {
  ops_profile_entry e[64];
  int n;
  double layer_norm_seconds; /* the blocks' and ln_pre's layer norms */
  double activation_seconds; /* OpenBLAS's activation pass, inside its fc1 entry */
} ops_profile;

typedef struct {
  clip_backend kind; /* DEFAULT (a zeroed struct) runs as OpenBLAS */
  clip_precision precision;
  int n_threads;
  void *impl;
  ops_profile *profile; /* NULL: no timing */
} ops_backend;

/* Resolves params into a backend (DEFAULT: oneDNN when built, else
 * OpenBLAS; oneDNN without the build and bf16 without oneDNN are refused)
 * and applies the thread count. The caller passes the parameters it
 * resolved (NULL: all zero, i.e. DEFAULT, fp32, all cores); nothing is read
 * from the environment here. No allocation: see ops_backend_bind(). */
clip_status ops_backend_init(ops_backend *be, const clip_params *params, clip_error *err);

/* Gives a context's backend its execution state for model (oneDNN: a stream
 * and scratchpad on the model's engine; OpenBLAS: n_threads − 1 worker
 * threads and attention scratch). Free with ops_backend_release(). */
clip_status ops_backend_bind(ops_backend *be, const clip_model *model, clip_error *err);
void ops_backend_release(ops_backend *be);

/* OpenBLAS: passes estimated under ns nanoseconds of one thread's work run
 * on the calling thread instead of the workers (default 100 µs); the tests
 * set 0 to split every pass. */
void ops_backend_set_split_threshold(ops_backend *be, double ns);

/* The first failure inside the matrix products since the last call (oneDNN
 * can fail to create a primitive, or run out of memory), then cleared; the
 * calls after a failure do nothing. CLIP_OK when there was none. */
clip_status ops_backend_take_error(const ops_backend *be, clip_error *err);

/* At model load: resolves model->params.backend and, for oneDNN, creates the
 * engine and has clip_model_pack_layers() (model.c) hand it every linear
 * layer to reorder once into its prepacked (fp32 or bf16) form. */
clip_status ops_model_prepare(clip_model *model, clip_error *err);
void ops_model_release(clip_model *model);

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

/* Multi-head self-attention core of n_seq sequences of T tokens: qkv
 * [n_seq·T, 3·heads·hd] holds q | k | v; writes out [n_seq·T, heads·hd] =
 * softmax(q·kᵀ/√hd, causal when asked)·v per head, heads side by side.
 * Needs a bound backend (ops_backend_bind) and T up to the model's longest
 * sequence. OpenBLAS splits the (sequence, head) pairs over the context's
 * workers, with scores scratch of their own; the bits do not depend on the
 * split. */
void ops_attention(const ops_backend *be, const float *qkv, int n_seq, int T, int heads, int hd,
                   bool causal, float *out);

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

/* ops_layer_norm() over the backend's threads: with oneDNN the rows are
 * split over its OpenMP pool, with OpenBLAS over the context's workers
 * (large batches spend a few % of a pass here). Same results either way
 * (rows are independent). */
void ops_layer_norm_rows(const ops_backend *be, const clip_norm *norm, int width, float eps,
                         const float *in, int ld_in, float *out, int ld_out, int rows);

/* Softmax of each of `rows` rows of `cols` floats (row stride ld), in place.
 * causal: row i only attends to columns 0..i; the rest become 0. */
void ops_softmax_rows(float *x, int rows, int cols, int ld, bool causal);

/* Softmax of n values into out (may alias in); stable for any finite input. */
void ops_softmax(const float *in, int n, float *out);

/* The activations, exposed for the tests and for the epilogues. */
float ops_quick_gelu(float x);
/* ops_quick_gelu() over n floats in place, vectorized where the CPU allows
 * (within a few ulp of the scalar function). */
void ops_quick_gelu_rows(float *y, size_t n);
float ops_gelu(float x);

#endif
