/* text.c — the text tower: token + position embeddings, causally masked
 * blocks, final layer norm at each row's first end-of-text token,
 * projection. */
#include "text.h"

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
  clip_tower_pass p;
  clip_status st = clip_tower_pass_init(ctx, tw, true, n, T, (size_t) n, 1, "clip_encode_texts",
                                        "texts", &p, err);
  if (st != CLIP_OK)
    return st;

  for (int r = 0; r < n; r++)
    for (int t = 0; t < T; t++) {
      const float *tok = m->token_embed + (size_t) ids[(size_t) r * len + t] * W;
      const float *pos = m->text_pos + (size_t) t * W;
      float *row = p.x + ((size_t) r * T + t) * W;
      for (int j = 0; j < W; j++)
        row[j] = tok[j] + pos[j];
    }
  clip_ctx_debug(ctx, "text_hidden", 0, p.x, n, T, W);
  /* Pool at the first EOT: a literal "<|endoftext|>" inside the text ends it
   * there, as in OpenAI's argmax pooling (EOT is the largest id). */
  int *eot = (int *) p.extra; /* scratch is plain malloc'd memory */
  for (int r = 0; r < n; r++)
    eot[r] = clip_text_first_eot(m, ids + (size_t) r * len, len);
  clip_tower_blocks(ctx, tw, &p, n, T, eot, "text_hidden");
  if (ctx->debug) {
    ops_layer_norm(&m->ln_final, W, p.shape.eps, p.x, W, p.s.h, W, n * T);
    clip_ctx_debug(ctx, "text_last_hidden", 0, p.s.h, n, T, W);
  }

  float *pool = pooled ? pooled : p.s.h;
  ops_layer_norm(&m->ln_final, W, p.shape.eps, p.pooled, W, pool, W, n);
  ops_linear(&ctx->backend, &m->text_proj, pool, n, embeds, OPS_EPI_NONE);
  return ops_backend_take_error(&ctx->backend, err);
}
