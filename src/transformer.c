/* transformer.c — the pre-LN residual block and multi-head attention. */
#include "transformer.h"

#include <math.h>
#include <string.h>

/* ln1, qkv and attention over all rows: the attention output in s->h, heads
 * side by side (the layout out_proj expects). */
static void
block_attention(const ops_backend *be, const clip_block *blk, const clip_block_shape *shape,
                const float *x, int n_seq, int T, const clip_block_scratch *s)
{
  const int W = shape->width;
  ops_layer_norm_rows(be, &blk->ln1, W, shape->eps, x, W, s->h, W, n_seq * T);
  ops_linear(be, &blk->qkv, s->h, n_seq * T, s->qkv, OPS_EPI_NONE);
  ops_attention(be, s->qkv, n_seq, T, shape->heads, W / shape->heads, shape->causal, s->h);
}

/* The rest of the block on `rows` rows: x += out_proj(att), then
 * x += fc2(act(fc1(ln2(x)))), with h [rows, width] and mlp [rows, mlp] as
 * scratch (h may be att). */
static void
block_rest(const ops_backend *be, const clip_block *blk, const clip_block_shape *shape,
           const float *att, float *x, int rows, float *h, float *mlp)
{
  const int W = shape->width;
  const ops_epilogue act = shape->act == CLIP_ACT_GELU ? OPS_EPI_GELU : OPS_EPI_QUICK_GELU;
  ops_linear(be, &blk->attn_out, att, rows, x, OPS_EPI_RESIDUAL);
  ops_layer_norm_rows(be, &blk->ln2, W, shape->eps, x, W, h, W, rows);
  ops_linear(be, &blk->fc1, h, rows, mlp, act);
  ops_linear(be, &blk->fc2, mlp, rows, x, OPS_EPI_RESIDUAL);
}

void
clip_block_forward(const ops_backend *be, const clip_block *blk, const clip_block_shape *shape,
                   float *x, int n_seq, int T, const clip_block_scratch *s)
{
  block_attention(be, blk, shape, x, n_seq, T, s);
  block_rest(be, blk, shape, s->h, x, n_seq * T, s->h, s->mlp);
}

void
clip_block_forward_kept(const ops_backend *be, const clip_block *blk,
                        const clip_block_shape *shape, float *x, int n_seq, int T,
                        const int *keep, float *out, const clip_block_scratch *s)
{
  const int W = shape->width;
  block_attention(be, blk, shape, x, n_seq, T, s);
  /* The kept rows, compact: the stream into out, the attention output into
   * the qkv scratch (no longer needed), then the rest of the block on them. */
  float *att = s->qkv;
  for (int r = 0; r < n_seq; r++) {
    const size_t row = (size_t) r * T + (keep ? keep[r] : 0);
    memcpy(out + (size_t) r * W, x + row * W, (size_t) W * sizeof *out);
    memcpy(att + (size_t) r * W, s->h + row * W, (size_t) W * sizeof *att);
  }
  block_rest(be, blk, shape, att, out, n_seq, att + (size_t) n_seq * W, s->mlp);
}
