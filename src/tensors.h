/* tensors.h — the weights of a model's layers as the forward pass reads them:
 * linear layers, layer norms, residual blocks, towers. Plain data, filled by
 * the loader (checkpoint.c) and read by the kernels (ops.c) and the blocks
 * (transformer.c); the model that holds them is in model.h. */
#ifndef CLIP_TENSORS_H
#define CLIP_TENSORS_H

#include <stdbool.h>

/* A linear layer y = x·W + b; b is [out] or NULL. w is row-major [in][out]
 * (K×N) or, when transposed, PyTorch's [out][in] (N×K): the stored layout is
 * used as it is (GEMM reads either at about the same speed), so F32 weights
 * stay in the file mapping and a load copies nothing. */
typedef struct {
  const float *w;
  const float *b;
  int in, out;
  bool transposed;
  /* When n_split > 0, w is NULL and the transposed [out][in] matrix is
   * n_split row blocks of out / n_split rows each at split[i]: HF's separate
   * q, k, v weights used in place as one fused layer. */
  int n_split;
  const float *split[3];
  /* While the model is being prepared: the checkpoint tensors (st_tensor,
   * opaque here) the weights are still to be read from, one per part, w
   * and split NULL meanwhile. The loader defers them so that a layer whose
   * packed copy the backend already has is never read (model.c). */
  const void *source[3];
} clip_linear;

/* Layer-norm gain and bias, [width] each. */
typedef struct {
  const float *g, *b;
} clip_norm;

/* One pre-LN residual block: x += attn(ln1(x)); x += mlp(ln2(x)).
 * qkv is the fused projection, out = 3·width, columns q | k | v. */
typedef struct {
  clip_norm ln1, ln2;
  clip_linear qkv, attn_out, fc1, fc2;
} clip_block;

typedef struct {
  int width, layers, heads, mlp;
  clip_block *blocks; /* [layers] */
} clip_tower;

#endif
