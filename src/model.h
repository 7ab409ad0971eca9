/* model.h — the in-memory form of a loaded CLIP model, shared by the loader
 * (checkpoint.c, which fills it) and the forward pass (vision.c, text.c,
 * transformer.c, which only read it). Internal header. */
#ifndef CLIP_MODEL_H
#define CLIP_MODEL_H

#include "clip.h"
#include "safetensors.h"
#include "tokenizer.h"

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

struct clip_model {
  clip_model_info info;
  char *path;

  /* vision tower */
  clip_linear patch_embed;     /* in 3·P·P (c, y, x order as conv1), out width, no bias */
  const float *class_embed;    /* [width] */
  const float *vision_pos;     /* [1 + grid², width] */
  clip_norm ln_pre, ln_post;
  clip_tower vision;
  clip_linear visual_proj;     /* in width, out embed_dim, no bias */

  /* text tower */
  const float *token_embed;    /* [vocab, width] */
  const float *text_pos;       /* [context, width] */
  clip_tower text;
  clip_norm ln_final;
  clip_linear text_proj;       /* in width, out embed_dim, no bias */
  int32_t eot_id, sot_id;

  clip_tokenizer *tokenizer;   /* NULL when the checkpoint has no vocab files */

  /* Ownership: the mapped files, and the blocks allocated for converted or
   * re-laid-out tensors. Freed by clip_model_free(). Embedding, positional
   * layer-norm and linear-weight pointers point into files[0]'s mapping
   * when the tensor is F32 and aligned; F16/BF16 tensors are owned copies. */
  st_file *files[2];
  void **owned;
  int n_owned, cap_owned;

  clip_params params;    /* backend resolved at load (never DEFAULT afterwards) */
  /* The backend's model state (ops.c): for oneDNN the engine and each
   * layer's prepacked weights; the plain w of those layers is then NULL when
   * the loader owned it (freed). NULL for OpenBLAS. */
  void *backend;
};

#endif
