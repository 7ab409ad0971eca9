/* text.c — the text tower: token + position embeddings, causally masked
 * blocks, final layer norm at each row's first end-of-text token,
 * projection. */
#include <limits.h>
#include <string.h>

#include "encoders.h"
#include "error.h"
#include "transformer.h"

int
clip_text_first_eot(const clip_model *model, const int32_t *row, int len)
{
  for (int t = 0; t < len; t++)
    if (row[t] == model->eot_id)
      return t;
  return -1;
}

clip_status
clip_text_forward(clip_ctx *ctx, const int32_t *ids, int n, int len, int T, float *embeds,
                  float *pooled, clip_error *err)
{
  const clip_model *m = ctx->model;
  const clip_tower *tw = &m->text;
  const int W = tw->width;
  const clip_block_shape shape = {
    W, tw->heads, tw->mlp, m->info.layer_norm_eps, m->info.activation, true
  };

  if ((long long) n * T > INT_MAX)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_encode_texts: batch of %d texts is too large",
                          n);
  const size_t rows = (size_t) n * T;
  clip_scratch_plan plan = { 0 };
  const clip_tower_plan tp = clip_tower_plan_take(&plan, rows, tw);
  const size_t o_eot = clip_scratch_take(&plan, (size_t) n, (size_t) W);
  const size_t o_pos = clip_scratch_take(&plan, (size_t) n, 1);
  clip_status st = clip_scratch_reserve(ctx, &plan, err);
  if (st != CLIP_OK)
    return st;
  float *x = ctx->scratch + tp.x;
  const clip_block_scratch s = clip_tower_block_scratch(ctx, &tp);

  for (int r = 0; r < n; r++)
    for (int t = 0; t < T; t++) {
      const float *tok = m->token_embed + (size_t) ids[(size_t) r * len + t] * W;
      const float *pos = m->text_pos + (size_t) t * W;
      float *row = x + ((size_t) r * T + t) * W;
      for (int j = 0; j < W; j++)
        row[j] = tok[j] + pos[j];
    }
  clip_ctx_debug(ctx, "text_hidden", 0, x, n, T, W);
  /* Pool at the first EOT: a literal "<|endoftext|>" inside the text ends it
   * there, as in OpenAI's argmax pooling (EOT is the largest id). Only that
   * row is read after the last block, which runs the rest only as far as
   * attention needs it, unless a debug hook wants every hidden state. */
  int *eot = (int *) (ctx->scratch + o_pos); /* scratch is plain malloc'd memory */
  for (int r = 0; r < n; r++)
    eot[r] = clip_text_first_eot(m, ids + (size_t) r * len, len);
  const int full = ctx->debug || tw->layers < 1 ? tw->layers : tw->layers - 1;
  float *kept = ctx->scratch + o_eot;
  for (int l = 0; l < full; l++) {
    clip_block_forward(&ctx->backend, &tw->blocks[l], &shape, x, n, T, &s);
    clip_ctx_debug(ctx, "text_hidden", l + 1, x, n, T, W);
  }
  if (full < tw->layers) {
    clip_block_forward_kept(&ctx->backend, &tw->blocks[full], &shape, x, n, T, eot, kept, &s);
  } else {
    if (ctx->debug) {
      ops_layer_norm(&m->ln_final, W, shape.eps, x, W, s.h, W, (int) rows);
      clip_ctx_debug(ctx, "text_last_hidden", 0, s.h, n, T, W);
    }
    for (int r = 0; r < n; r++)
      memcpy(kept + (size_t) r * W, x + ((size_t) r * T + eot[r]) * W, (size_t) W * sizeof *kept);
  }

  float *pool = pooled ? pooled : s.h;
  ops_layer_norm(&m->ln_final, W, shape.eps, kept, W, pool, W, n);
  ops_linear(&ctx->backend, &m->text_proj, pool, n, embeds, OPS_EPI_NONE);
  return ops_backend_take_error(&ctx->backend, err);
}
