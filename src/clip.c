/* clip.c — the public API (clip.h) over the modules. STUB parts marked. */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "error.h"
#include "preprocess.h"

clip_params
clip_default_params(void)
{
  clip_params p = { 0 };
  p.n_threads = 0;
  p.backend = CLIP_BACKEND_DEFAULT;
  p.precision = CLIP_PRECISION_FP32;
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
  if (clip_checkpoint_load(m, path, err) != CLIP_OK) {
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

/* STUB: forward pass, to be implemented (forward work). */
clip_status clip_tokenize_padded(const clip_model *model, const char *text, int32_t *ids, clip_error *err)
{ (void) model; (void) text; (void) ids; return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "not implemented"); }
clip_ctx *clip_ctx_new(const clip_model *model, clip_error *err)
{ (void) model; clip_set_error(err, CLIP_ERR_UNSUPPORTED, "not implemented"); return NULL; }
void clip_ctx_free(clip_ctx *ctx) { (void) ctx; }
clip_status clip_encode_images(clip_ctx *ctx, const float *pixels, int n, float *embeds, float *pooled, clip_error *err)
{ (void) ctx; (void) pixels; (void) n; (void) embeds; (void) pooled; return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "not implemented"); }
clip_status clip_encode_texts(clip_ctx *ctx, const int32_t *ids, int n, int len, float *embeds, float *pooled, clip_error *err)
{ (void) ctx; (void) ids; (void) n; (void) len; (void) embeds; (void) pooled; return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "not implemented"); }
clip_status clip_embed_labels(clip_ctx *ctx, const char *const *labels, int n_labels, const char *const *templates, int n_templates, float *out, clip_error *err)
{ (void) ctx; (void) labels; (void) n_labels; (void) templates; (void) n_templates; (void) out; return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "not implemented"); }
void clip_normalize(float *v, int d) { (void) v; (void) d; }
void clip_score(const clip_model *model, const float *image_embed, const float *labels, int n, float *similarities, float *probs)
{ (void) model; (void) image_embed; (void) labels; (void) n; (void) similarities; (void) probs; }
