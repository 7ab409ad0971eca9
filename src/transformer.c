/* transformer.c — the pre-LN residual block and multi-head attention. */
#include "transformer.h"

#include <math.h>
#include <string.h>

void
clip_block_forward(const ops_backend *be, const clip_block *blk, const clip_block_shape *shape,
                   float *x, int n_seq, int T, const clip_block_scratch *s)
{
  const int W = shape->width, rows = n_seq * T;
  const ops_epilogue act = shape->act == CLIP_ACT_GELU ? OPS_EPI_GELU : OPS_EPI_QUICK_GELU;

  ops_layer_norm_rows(be, &blk->ln1, W, shape->eps, x, W, s->h, W, rows);
  ops_linear(be, &blk->qkv, s->h, rows, s->qkv, OPS_EPI_NONE);
  /* Heads land side by side in s->h: the layout out_proj expects. */
  ops_attention(be, s->qkv, n_seq, T, shape->heads, W / shape->heads, shape->causal, s->h);
  ops_linear(be, &blk->attn_out, s->h, rows, x, OPS_EPI_RESIDUAL);

  ops_layer_norm_rows(be, &blk->ln2, W, shape->eps, x, W, s->h, W, rows);
  ops_linear(be, &blk->fc1, s->h, rows, s->mlp, act);
  ops_linear(be, &blk->fc2, s->mlp, rows, x, OPS_EPI_RESIDUAL);
}

void
clip_block_forward_kept(const ops_backend *be, const clip_block *blk,
                        const clip_block_shape *shape, float *x, int n_seq, int T,
                        const int *keep, float *out, const clip_block_scratch *s)
{
  const int W = shape->width, rows = n_seq * T;
  const ops_epilogue act = shape->act == CLIP_ACT_GELU ? OPS_EPI_GELU : OPS_EPI_QUICK_GELU;

  ops_layer_norm_rows(be, &blk->ln1, W, shape->eps, x, W, s->h, W, rows);
  ops_linear(be, &blk->qkv, s->h, rows, s->qkv, OPS_EPI_NONE);
  ops_attention(be, s->qkv, n_seq, T, shape->heads, W / shape->heads, shape->causal, s->h);

  /* The kept rows, compact: the stream into out, the attention output into
   * the qkv scratch (no longer needed), then the rest of the block on them. */
  float *att = s->qkv, *h = s->qkv + (size_t) n_seq * W;
  for (int r = 0; r < n_seq; r++) {
    const size_t row = (size_t) r * T + (keep ? keep[r] : 0);
    memcpy(out + (size_t) r * W, x + row * W, (size_t) W * sizeof *out);
    memcpy(att + (size_t) r * W, s->h + row * W, (size_t) W * sizeof *att);
  }
  ops_linear(be, &blk->attn_out, att, n_seq, out, OPS_EPI_RESIDUAL);
  ops_layer_norm_rows(be, &blk->ln2, W, shape->eps, out, W, h, W, n_seq);
  ops_linear(be, &blk->fc1, h, n_seq, s->mlp, act);
  ops_linear(be, &blk->fc2, s->mlp, n_seq, out, OPS_EPI_RESIDUAL);
}
