/* text.c — the text tower: token + position embeddings, causally masked
 * blocks, final layer norm at each row's first end-of-text token,
 * projection. */
#include "text.h"

#include <limits.h>
#include <string.h>

#include "error.h"
#include "model.h"
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
  const clip_tower_plan tp = clip_tower_plan_take(&plan, (size_t) n, (size_t) T, tw);
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
   * there, as in OpenAI's argmax pooling (EOT is the largest id). */
  int *eot = (int *) (ctx->scratch + o_pos); /* scratch is plain malloc'd memory */
  for (int r = 0; r < n; r++)
    eot[r] = clip_text_first_eot(m, ids + (size_t) r * len, len);
  float *kept = ctx->scratch + tp.pooled;
  clip_tower_blocks(ctx, tw, &shape, x, n, T, &s, eot, kept, "text_hidden");
  if (ctx->debug) {
    ops_layer_norm(&m->ln_final, W, shape.eps, x, W, s.h, W, (int) rows);
    clip_ctx_debug(ctx, "text_last_hidden", 0, s.h, n, T, W);
  }

  float *pool = pooled ? pooled : s.h;
  ops_layer_norm(&m->ln_final, W, shape.eps, kept, W, pool, W, n);
  ops_linear(&ctx->backend, &m->text_proj, pool, n, embeds, OPS_EPI_NONE);
  return ops_backend_take_error(&ctx->backend, err);
}
