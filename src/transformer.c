/* transformer.c — the pre-LN residual block and the loop over a tower's
 * blocks. */
#include "transformer.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "model.h"

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
clip_block_forward_kept(const ops_backend *be, const clip_block *blk, const clip_block_shape *shape,
                        float *x, int n_seq, int T, const int *keep, float *out,
                        const clip_block_scratch *s)
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

clip_status
clip_tower_pass_init(clip_ctx *ctx, const clip_tower *tower, bool causal, int n_seq, int T,
                     size_t extra_rows, size_t extra_cols, const char *what, const char *items,
                     clip_tower_pass *pass, clip_error *err)
{
  const clip_model_info *in = &ctx->model->info;
  const size_t W = (size_t) tower->width;
  if ((long long) n_seq * T > INT_MAX)
    return clip_set_error(err, CLIP_ERR_ARG, "%s: batch of %d %s is too large", what, n_seq, items);
  const size_t rows = (size_t) n_seq * T;
  clip_scratch_plan plan = { 0 };
  const size_t o_x = clip_scratch_take(&plan, rows, W), o_h = clip_scratch_take(&plan, rows, W),
               o_qkv = clip_scratch_take(&plan, rows, 3 * W),
               o_mlp = clip_scratch_take(&plan, rows, (size_t) tower->mlp),
               o_pooled = clip_scratch_take(&plan, (size_t) n_seq, W),
               o_extra = clip_scratch_take(&plan, extra_rows, extra_cols);
  clip_status st = clip_scratch_reserve(ctx, &plan, err);
  if (st != CLIP_OK)
    return st;
  float *base = ctx->scratch;
  *pass = (clip_tower_pass){
    .shape = { tower->width, tower->heads, tower->mlp, in->layer_norm_eps, in->activation, causal },
    .x = base + o_x,
    .s = { base + o_h, base + o_qkv, base + o_mlp },
    .pooled = base + o_pooled,
    .extra = base + o_extra,
  };
  return CLIP_OK;
}

void
clip_tower_blocks(clip_ctx *ctx, const clip_tower *tower, const clip_tower_pass *pass, int n_seq,
                  int T, const int *keep, const char *what)
{
  const int W = tower->width;
  float *x = pass->x, *pooled = pass->pooled;
  const int full = ctx->debug || tower->layers < 1 ? tower->layers : tower->layers - 1;
  for (int l = 0; l < full; l++) {
    clip_block_forward(&ctx->backend, &tower->blocks[l], &pass->shape, x, n_seq, T, &pass->s);
    clip_ctx_debug(ctx, what, l + 1, x, n_seq, T, W);
  }
  if (full < tower->layers) {
    clip_block_forward_kept(&ctx->backend, &tower->blocks[full], &pass->shape, x, n_seq, T, keep,
                            pooled, &pass->s);
    return;
  }
  for (int r = 0; r < n_seq; r++)
    memcpy(pooled + (size_t) r * W, x + ((size_t) r * T + (keep ? keep[r] : 0)) * W,
           (size_t) W * sizeof *pooled);
}
