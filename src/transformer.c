/* transformer.c — the pre-LN residual block and the loop over a tower's
 * blocks. */
#include "transformer.h"

#include <math.h>
#include <string.h>

#include <glib.h>

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

clip_tower_plan
clip_tower_plan_take(clip_scratch_plan *plan, size_t n_seq, size_t T, const clip_tower *tower)
{
  clip_tower_plan tp;
  size_t rows = 0;
  if (!g_size_checked_mul(&rows, n_seq, T))
    plan->overflow = true, rows = 0;
  tp.x = clip_scratch_take(plan, rows, tower->width);
  tp.h = clip_scratch_take(plan, rows, tower->width);
  tp.qkv = clip_scratch_take(plan, rows, 3 * (size_t) tower->width);
  tp.mlp = clip_scratch_take(plan, rows, tower->mlp);
  tp.pooled = clip_scratch_take(plan, n_seq, tower->width);
  return tp;
}

clip_block_scratch
clip_tower_block_scratch(const clip_ctx *ctx, const clip_tower_plan *tp)
{
  const clip_block_scratch s = { ctx->scratch + tp->h, ctx->scratch + tp->qkv,
                                 ctx->scratch + tp->mlp };
  return s;
}

void
clip_tower_blocks(clip_ctx *ctx, const clip_tower *tower, const clip_block_shape *shape,
                  float *x, int n_seq, int T, const clip_block_scratch *s, const int *keep,
                  float *pooled, const char *what)
{
  const int W = tower->width;
  const int full = ctx->debug || tower->layers < 1 ? tower->layers : tower->layers - 1;
  for (int l = 0; l < full; l++) {
    clip_block_forward(&ctx->backend, &tower->blocks[l], shape, x, n_seq, T, s);
    clip_ctx_debug(ctx, what, l + 1, x, n_seq, T, W);
  }
  if (full < tower->layers) {
    clip_block_forward_kept(&ctx->backend, &tower->blocks[full], shape, x, n_seq, T, keep, pooled,
                            s);
    return;
  }
  for (int r = 0; r < n_seq; r++)
    memcpy(pooled + (size_t) r * W, x + ((size_t) r * T + (keep ? keep[r] : 0)) * W,
           (size_t) W * sizeof *pooled);
}
