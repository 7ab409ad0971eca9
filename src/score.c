/* score.c — cosine scores, softmax with temperature, and prompt ensembling
 * (clip_embed_labels) as in the CLIP paper; the syntax is prompts.c's. */
#include "score.h"

#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "error.h"
#include "model.h"
#include "ops.h"
#include "prompts.h"

/* Prompts encoded per forward pass; bounds the scratch of clip_embed_labels. */
#define PROMPT_BATCH 32

void
clip_normalize(float *v, int d)
{
  double sq = 0.0;
  if (!v || d <= 0)
    return;
  for (int i = 0; i < d; i++)
    sq += (double) v[i] * v[i];
  /* A zero vector has no direction; leave it zero rather than make NaNs. */
  if (sq == 0.0)
    return;
  const float inv = (float) (1.0 / sqrt(sq));
  for (int i = 0; i < d; i++)
    v[i] *= inv;
}

void
clip_score_cosines(const float *embed, const float *units, int n, int d, float *sims)
{
  double sq = 0.0;
  for (int i = 0; i < d; i++)
    sq += (double) embed[i] * embed[i];
  const double inv = sq > 0.0 ? 1.0 / sqrt(sq) : 0.0;
  for (int k = 0; k < n; k++) {
    const float *u = units + (size_t) k * d;
    double dot = 0.0;
    for (int i = 0; i < d; i++)
      dot += (double) embed[i] * u[i];
    sims[k] = (float) (dot * inv);
  }
}

void
clip_score_probs(const float *cosines, int n, float scale, float *probs)
{
  for (int k = 0; k < n; k++)
    probs[k] = scale * cosines[k];
  ops_softmax(probs, n, probs);
}

void
clip_score(const clip_model *model, const float *image_embed, const float *labels, int n,
           float *similarities, float *probs)
{
  if (!model || !image_embed || !labels || n <= 0 || (!similarities && !probs))
    return;
  const int d = model->info.embed_dim;
  /* probs doubles as the cosine buffer when similarities are not wanted. */
  float *cos = similarities ? similarities : probs;
  clip_score_cosines(image_embed, labels, n, d, cos);
  if (probs)
    clip_score_probs(cos, n, expf(model->info.logit_scale), probs);
}

/* Checks the labels and templates and expands them into prompts, recording
 * for each prompt the label it belongs to. */
static clip_status
expand_prompts(const char *const *labels, int n_labels, const char *const *templates,
               int n_templates, GPtrArray *prompts, GArray *owner, clip_error *err)
{
  static const char *const identity[] = { "{}" };
  if (!templates || n_templates == 0) {
    templates = identity;
    n_templates = 1;
  }
  for (int t = 0; t < n_templates; t++) {
    if (!templates[t])
      return clip_set_error(err, CLIP_ERR_ARG, "clip_embed_labels: template %d is NULL", t);
    if (!strstr(templates[t], "{}"))
      return clip_set_error(err, CLIP_ERR_ARG,
                            "clip_embed_labels: template %d ('%s') has no '{}' for the label", t,
                            templates[t]);
  }
  for (int l = 0; l < n_labels; l++) {
    if (!labels[l])
      return clip_set_error(err, CLIP_ERR_ARG, "clip_embed_labels: label %d is NULL", l);
    char **syn = clip_label_synonyms(labels[l]);
    if (!syn[0]) {
      g_strfreev(syn);
      return clip_set_error(err, CLIP_ERR_ARG,
                            "clip_embed_labels: label %d ('%s') has no name: expected "
                            "'name' or 'name|synonym|...'",
                            l, labels[l]);
    }
    for (int s = 0; syn[s]; s++)
      for (int t = 0; t < n_templates; t++) {
        g_ptr_array_add(prompts, clip_prompt_fill(templates[t], syn[s]));
        g_array_append_val(owner, l);
      }
    g_strfreev(syn);
  }
  return CLIP_OK;
}

/* Encodes n prompts in one forward and adds each unit embedding to the sum
 * of the label it belongs to (owner[i]). ids and emb hold n rows. */
static clip_status
accumulate_batch(clip_ctx *ctx, const char *const *prompts, const int *owner, int n, int32_t *ids,
                 float *emb, float *sums, clip_error *err)
{
  const clip_model *m = ctx->model;
  const int D = m->info.embed_dim, L = m->info.context_length;
  clip_status st = CLIP_OK;
  for (int i = 0; i < n && st == CLIP_OK; i++)
    st = clip_tokenize_padded(m, prompts[i], ids + (size_t) i * L, err);
  if (st == CLIP_OK)
    st = clip_encode_texts(ctx, ids, n, L, emb, NULL, err);
  for (int i = 0; i < n && st == CLIP_OK; i++) {
    float *e = emb + (size_t) i * D, *sum = sums + (size_t) owner[i] * D;
    clip_normalize(e, D);
    for (int j = 0; j < D; j++)
      sum[j] += e[j];
  }
  return st;
}

clip_status
clip_embed_labels(clip_ctx *ctx, const char *const *labels, int n_labels,
                  const char *const *templates, int n_templates, float *out, clip_error *err)
{
  if (!ctx || !labels || !out)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_embed_labels: NULL argument");
  if (n_labels <= 0)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_embed_labels: n_labels is %d, expected at least 1", n_labels);
  if (n_templates < 0 || (n_templates > 0 && !templates))
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_embed_labels: %d templates given but the array is %s", n_templates,
                          templates ? "set" : "NULL");

  const clip_model *m = ctx->model;
  const int D = m->info.embed_dim, L = m->info.context_length;
  GPtrArray *prompts = g_ptr_array_new_with_free_func(g_free);
  GArray *owner = g_array_new(FALSE, FALSE, sizeof(int));
  int32_t *ids = malloc((size_t) PROMPT_BATCH * L * sizeof *ids);
  float *emb = malloc((size_t) PROMPT_BATCH * D * sizeof *emb);

  clip_status st =
      ids && emb ? expand_prompts(labels, n_labels, templates, n_templates, prompts, owner, err)
                 : clip_set_error(err, CLIP_ERR_NOMEM, "clip_embed_labels: out of memory");
  memset(out, 0, (size_t) n_labels * D * sizeof *out);
  for (guint first = 0; st == CLIP_OK && first < prompts->len; first += PROMPT_BATCH) {
    const int n = (int) MIN((guint) PROMPT_BATCH, prompts->len - first);
    st = accumulate_batch(ctx, (const char **) prompts->pdata + first,
                          &g_array_index(owner, int, first), n, ids, emb, out, err);
  }
  /* The mean of the unit embeddings, re-normalized: dividing by the count
   * first would not change the direction. */
  for (int l = 0; st == CLIP_OK && l < n_labels; l++)
    clip_normalize(out + (size_t) l * D, D);

  free(emb);
  free(ids);
  g_array_free(owner, TRUE);
  g_ptr_array_free(prompts, TRUE);
  return st;
}
