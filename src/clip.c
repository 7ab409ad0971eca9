/* clip.c — the public API (clip.h) over the modules: model, context, encoders. */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "checkpoint.h"
#include "encoders.h"
#include "error.h"
#include "preprocess.h"

clip_params
clip_default_params(void)
{
  clip_params p = { 0 };
  p.n_threads = 0;
  p.backend = CLIP_BACKEND_DEFAULT;
  p.precision = CLIP_PRECISION_FP32;
  /* Lets the test suite (and a user) run everything on one backend without
   * code changes; unknown values are ignored. */
  const char *b = g_getenv("CLIP_BACKEND"), *pr = g_getenv("CLIP_PRECISION");
  if (g_strcmp0(b, "openblas") == 0)
    p.backend = CLIP_BACKEND_OPENBLAS;
  else if (g_strcmp0(b, "onednn") == 0)
    p.backend = CLIP_BACKEND_ONEDNN;
  if (g_strcmp0(pr, "bf16") == 0)
    p.precision = CLIP_PRECISION_BF16;
  return p;
}

clip_model *
clip_model_load(const char *path, const clip_params *params, clip_error *err)
{
  if (!path)
    return clip_set_error(err, CLIP_ERR_ARG, "model path is NULL"), NULL;
  clip_model *m = calloc(1, sizeof *m);
  if (!m)
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory"), NULL;
  m->params = params ? *params : clip_default_params();
  if (clip_checkpoint_load(m, path, err) != CLIP_OK || ops_model_prepare(m, err) != CLIP_OK) {
    clip_model_free(m);
    return NULL;
  }
  return m;
}

void
clip_model_free(clip_model *model)
{
  if (!model)
    return;
  ops_model_release(model);
  clip_checkpoint_release(model);
  free(model);
}

const clip_model_info *
clip_model_get_info(const clip_model *model)
{
  return &model->info;
}

clip_status
clip_tokenize(const clip_model *model, const char *text, int32_t *ids, size_t cap, size_t *n_ids,
              clip_error *err)
{
  if (!model || !text || !n_ids)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_tokenize: NULL argument");
  if (!model->tokenizer)
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "%s: the model has no vocab.json/merges.txt",
                          model->path);
  return clip_tokenizer_encode(model->tokenizer, text, ids, cap, n_ids, err);
}

clip_status
clip_preprocess(const clip_model *model, const clip_image *image, float *out, clip_error *err)
{
  clip_preprocess_params p;
  if (!model || !image || !out)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_preprocess: NULL argument");
  p.size = model->info.image_size;
  memcpy(p.mean, model->info.mean, sizeof p.mean);
  memcpy(p.std, model->info.std, sizeof p.std);
  return clip_preprocess_frame(&p, image, out, err);
}

clip_status
clip_tokenize_padded(const clip_model *model, const char *text, int32_t *ids, clip_error *err)
{
  if (!model || !text || !ids)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_tokenize_padded: NULL argument");
  if (!model->tokenizer)
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "%s: the model has no vocab.json/merges.txt",
                          model->path);
  return clip_tokenizer_encode_padded(model->tokenizer, text, ids, model->info.context_length,
                                      err);
}

clip_ctx *
clip_ctx_new(const clip_model *model, clip_error *err)
{
  if (!model)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_ctx_new: model is NULL"), NULL;
  clip_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return clip_set_error(err, CLIP_ERR_NOMEM, "clip_ctx_new: out of memory"), NULL;
  ctx->model = model;
  ctx->text_truncation = true;
  if (ops_backend_init(&ctx->backend, &model->params, err) != CLIP_OK
      || ops_backend_bind(&ctx->backend, model, err) != CLIP_OK) {
    free(ctx);
    return NULL;
  }
  return ctx;
}

void
clip_ctx_free(clip_ctx *ctx)
{
  if (!ctx)
    return;
  ops_backend_release(&ctx->backend);
  free(ctx->scratch);
  free(ctx);
}

void
clip_ctx_set_debug(clip_ctx *ctx, clip_debug_fn fn, void *user)
{
  ctx->debug = fn;
  ctx->debug_user = user;
}

void
clip_ctx_set_text_truncation(clip_ctx *ctx, bool enabled)
{
  ctx->text_truncation = enabled;
}

size_t
clip_scratch_take(clip_scratch_plan *plan, size_t a, size_t b)
{
  const size_t align = 16; /* floats: 64 bytes, a cache line */
  size_t n, at = plan->total;
  if (!g_size_checked_mul(&n, a, b) || !g_size_checked_add(&n, n, align - 1)
      || !g_size_checked_add(&plan->total, plan->total, n & ~(align - 1)))
    plan->overflow = true;
  return at;
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

clip_status
clip_scratch_reserve(clip_ctx *ctx, const clip_scratch_plan *plan, clip_error *err)
{
  if (plan->overflow || plan->total > SIZE_MAX / sizeof(float))
    return clip_set_error(err, CLIP_ERR_ARG, "batch too large: scratch size overflows");
  if (plan->total <= ctx->scratch_floats)
    return CLIP_OK;
  /* Grown, never shrunk: after the largest batch no forward allocates. */
  free(ctx->scratch);
  ctx->scratch = aligned_alloc(64, plan->total * sizeof(float));
  ctx->scratch_floats = ctx->scratch ? plan->total : 0;
  if (!ctx->scratch)
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory for %zu MB of scratch",
                          plan->total * sizeof(float) >> 20);
  return CLIP_OK;
}

clip_status
clip_encode_images(clip_ctx *ctx, const float *pixels, int n, float *embeds, float *pooled,
                   clip_error *err)
{
  if (!ctx || !pixels || !embeds)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_encode_images: NULL argument");
  if (n <= 0)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_encode_images: n is %d, expected at least 1 image", n);
  return clip_vision_forward(ctx, pixels, n, embeds, pooled, err);
}

clip_status
clip_encode_texts(clip_ctx *ctx, const int32_t *ids, int n, int len, float *embeds, float *pooled,
                  clip_error *err)
{
  if (!ctx || !ids || !embeds)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_encode_texts: NULL argument");
  const clip_model *m = ctx->model;
  if (n <= 0)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_encode_texts: n is %d, expected at least 1 text", n);
  if (len <= 0 || len > m->info.context_length)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_encode_texts: len is %d, expected 1 to %d (context length)", len,
                          m->info.context_length);
  int T = 0;
  for (int r = 0; r < n; r++) {
    const int32_t *row = ids + (size_t) r * len;
    for (int t = 0; t < len; t++)
      if (row[t] < 0 || row[t] >= m->info.vocab_size)
        return clip_set_error(err, CLIP_ERR_ARG,
                              "clip_encode_texts: row %d, position %d: token id %d is outside "
                              "the vocabulary (0 to %d)",
                              r, t, (int) row[t], m->info.vocab_size - 1);
    const int e = clip_text_first_eot(m, row, len);
    if (e < 0)
      return clip_set_error(err, CLIP_ERR_ARG,
                            "clip_encode_texts: row %d has no end-of-text token (id %d) in its "
                            "%d ids",
                            r, (int) m->eot_id, len);
    if (e + 1 > T)
      T = e + 1;
  }
  /* The causal mask keeps every position after a row's first EOT out of its
   * pooled output, so nothing past the longest such prefix needs running. */
  if (!ctx->text_truncation)
    T = len;
  return clip_text_forward(ctx, ids, n, len, T, embeds, pooled, err);
}
