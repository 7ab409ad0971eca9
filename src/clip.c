/* clip.c — the public API (clip.h) over the modules: loading (checkpoint.c,
 * then the backend's preparation), preprocessing, tokenizing, and the
 * checked entry points of the two towers (vision.c, text.c). */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "checkpoint.h"
#include "context.h"
#include "error.h"
#include "model.h"
#include "preprocess.h"
#include "text.h"
#include "vision.h"

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
  p.map_file = st_mmap_requested();
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
  if (m->params.towers < CLIP_TOWERS_ALL || m->params.towers > CLIP_TOWERS_VISION) {
    clip_set_error(err, CLIP_ERR_ARG,
                   "clip_params.towers is %d, expected CLIP_TOWERS_ALL, _TEXT or _VISION",
                   (int) m->params.towers);
    free(m);
    return NULL;
  }
  if (clip_checkpoint_load(m, path, err) != CLIP_OK || ops_model_prepare(m, err) != CLIP_OK
      || clip_model_finish(m, err) != CLIP_OK) {
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
  return clip_tokenizer_encode_padded(model->tokenizer, text, ids, model->info.context_length, err);
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
  if (ctx->model->params.towers == CLIP_TOWERS_TEXT)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_encode_images: %s was loaded without its vision tower "
                          "(clip_params.towers is CLIP_TOWERS_TEXT)",
                          ctx->model->path);
  return clip_vision_forward(ctx, pixels, n, embeds, pooled, err);
}

clip_status
clip_encode_texts(clip_ctx *ctx, const int32_t *ids, int n, int len, float *embeds, float *pooled,
                  clip_error *err)
{
  if (!ctx || !ids || !embeds)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_encode_texts: NULL argument");
  const clip_model *m = ctx->model;
  if (m->params.towers == CLIP_TOWERS_VISION)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_encode_texts: %s was loaded without its text tower "
                          "(clip_params.towers is CLIP_TOWERS_VISION)",
                          m->path);
  if (n <= 0)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_encode_texts: n is %d, expected at least 1 text",
                          n);
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
