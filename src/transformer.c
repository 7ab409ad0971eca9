/* transformer.c — the pre-LN residual block and multi-head attention. */
#include "transformer.h"

#include <math.h>

/* Multi-head self-attention from the fused q | k | v rows into out
 * [n_seq·T, width], head h writing columns h·hd … (h+1)·hd − 1, which is the
 * layout out_proj expects (heads concatenated). */
static void
attention(const ops_backend *be, const clip_block_shape *shape, const float *qkv, float *out,
          float *scores, int n_seq, int T)
{
  const int W = shape->width, hd = W / shape->heads, ld_qkv = 3 * W;
  const float scale = 1.0f / sqrtf((float) hd);
  /* One (sequence, head) pair at a time: these GEMMs are small, OpenBLAS
   * threads inside them; a parallel loop over pairs is the speed work's. */
  for (int n = 0; n < n_seq; n++) {
    const float *base = qkv + (size_t) n * T * ld_qkv;
    for (int h = 0; h < shape->heads; h++) {
      const float *q = base + h * hd, *k = q + W, *v = q + 2 * W;
      ops_matmul_nt(be, T, T, hd, scale, q, ld_qkv, k, ld_qkv, scores, T);
      ops_softmax_rows(scores, T, T, T, shape->causal);
      ops_matmul_nn(be, T, hd, T, scores, T, v, ld_qkv, out + (size_t) n * T * W + h * hd, W);
    }
  }
}

void
clip_block_forward(const ops_backend *be, const clip_block *blk, const clip_block_shape *shape,
                   float *x, int n_seq, int T, const clip_block_scratch *s)
{
  const int W = shape->width, rows = n_seq * T;
  const ops_epilogue act = shape->act == CLIP_ACT_GELU ? OPS_EPI_GELU : OPS_EPI_QUICK_GELU;

  ops_layer_norm(&blk->ln1, W, shape->eps, x, W, s->h, W, rows);
  ops_linear(be, &blk->qkv, s->h, rows, s->qkv, OPS_EPI_NONE);
  attention(be, shape, s->qkv, s->h, s->scores, n_seq, T);
  ops_linear(be, &blk->attn_out, s->h, rows, x, OPS_EPI_RESIDUAL);

  ops_layer_norm(&blk->ln2, W, shape->eps, x, W, s->h, W, rows);
  ops_linear(be, &blk->fc1, s->h, rows, s->mlp, act);
  ops_linear(be, &blk->fc2, s->mlp, rows, x, OPS_EPI_RESIDUAL);
}
