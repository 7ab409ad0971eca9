/* clip-tool run — the model on a safetensors file of inputs, outputs under
 * the reference kit's names, so any output can be diffed against the
 * original implementation's. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "error.h"
#include "safetensors.h"
#include "tool.h"

#define USAGE "usage: clip-tool run MODEL --input IN.safetensors --output OUT.safetensors\n"

/* The token ids of input_ids (I32 or I64 [N, L]) as a fresh int32 array. */
static clip_status
read_ids(const st_tensor *t, const char *path, int32_t **ids, int *n, int *len, clip_error *err)
{
  if ((t->dtype != ST_I32 && t->dtype != ST_I64) || t->n_dims != 2 || t->shape[0] < 1
      || t->shape[1] < 1 || t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: input_ids: expected I32 or I64 [N, L] with N, L >= 1, found %s "
                          "with %d dimensions",
                          path, st_dtype_name(t->dtype), t->n_dims);
  if ((uint64_t) t->n_elements > SIZE_MAX / sizeof(int32_t)
      || !(*ids = malloc((size_t) t->n_elements * sizeof(int32_t))))
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: input_ids: out of memory", path);
  for (int64_t i = 0; i < t->n_elements; i++) {
    int64_t v;
    if (t->dtype == ST_I32) {
      int32_t v32;
      memcpy(&v32, (const char *) t->data + i * 4, 4);
      v = v32;
    } else
      memcpy(&v, (const char *) t->data + i * 8, 8);
    if (v < INT32_MIN || v > INT32_MAX)
      return clip_set_error(err, CLIP_ERR_FORMAT,
                            "%s: input_ids[%" PRId64 "] = %" PRId64 " does not fit a token id",
                            path, i, v);
    (*ids)[i] = (int32_t) v;
  }
  *n = (int) t->shape[0];
  *len = (int) t->shape[1];
  return CLIP_OK;
}

/* pixel_values (F32, F16 or BF16 [N, 3, S, S]) as a fresh float array. */
static clip_status
read_pixels(const st_tensor *t, const char *path, int S, float **pixels, int *n, clip_error *err)
{
  if (t->n_dims != 4 || t->shape[0] < 1 || t->shape[0] > INT32_MAX || t->shape[1] != 3
      || t->shape[2] != S || t->shape[3] != S)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: pixel_values: expected [N, 3, %d, %d] (the model's image size), "
                          "found %d dimensions [%" PRId64 ", %" PRId64 ", …]",
                          path, S, S, t->n_dims, t->n_dims > 0 ? t->shape[0] : 0,
                          t->n_dims > 1 ? t->shape[1] : 0);
  if ((uint64_t) t->n_elements > SIZE_MAX / sizeof(float)
      || !(*pixels = malloc((size_t) t->n_elements * sizeof(float))))
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: pixel_values: out of memory", path);
  *n = (int) t->shape[0];
  return st_to_f32(t, *pixels, err);
}

/* logits[i, j] = exp(logit_scale) · cos(image i, text j), as CLIPModel. */
static float *
logits_per_image(const clip_model *model, const float *img, int n_img, const float *txt, int n_txt)
{
  const int D = clip_model_get_info(model)->embed_dim;
  float *units = malloc((size_t) n_txt * D * sizeof *units);
  float *logits = malloc((size_t) n_img * n_txt * sizeof *logits);
  if (!units || !logits) {
    free(units);
    free(logits);
    return NULL;
  }
  memcpy(units, txt, (size_t) n_txt * D * sizeof *units);
  for (int j = 0; j < n_txt; j++)
    clip_normalize(units + (size_t) j * D, D);
  /* clip_score's cosines; the scale applied here keeps the logits raw. */
  const float scale = expf(clip_model_get_info(model)->logit_scale);
  for (int i = 0; i < n_img; i++) {
    float *row = logits + (size_t) i * n_txt;
    clip_score(model, img + (size_t) i * D, units, n_txt, row, NULL);
    for (int j = 0; j < n_txt; j++)
      row[j] *= scale;
  }
  free(units);
  return logits;
}

static clip_status
run(const char *model_path, const char *in_path, const char *out_path, clip_error *err)
{
  clip_model *model = NULL;
  clip_ctx *ctx = NULL;
  st_file *in = NULL;
  st_writer *w = NULL;
  int32_t *ids = NULL;
  float *pixels = NULL, *txt = NULL, *txt_pool = NULL, *img = NULL, *img_pool = NULL;
  float *logits = NULL;
  int n_txt = 0, len = 0, n_img = 0;
  clip_status st = CLIP_OK;

#define TRY(call)                                                                                  \
  do {                                                                                             \
    if ((st = (call)) != CLIP_OK)                                                                  \
      goto out;                                                                                    \
  } while (0)
#define ALLOC(ptr, n)                                                                              \
  do {                                                                                             \
    if (!((ptr) = malloc((size_t) (n) * sizeof *(ptr)))) {                                         \
      st = clip_set_error(err, CLIP_ERR_NOMEM, "out of memory");                                   \
      goto out;                                                                                    \
    }                                                                                              \
  } while (0)

  if (!(model = tool_model_load(model_path, NULL, err)) || !(in = st_open(in_path, err))
      || !(ctx = clip_ctx_new(model, err))) {
    st = err->status;
    goto out;
  }
  const clip_model_info *info = clip_model_get_info(model);
  const st_tensor *t_ids = st_find(in, "input_ids"), *t_pix = st_find(in, "pixel_values");
  if (!t_ids && !t_pix) {
    st = clip_set_error(err, CLIP_ERR_FORMAT,
                        "%s: has neither input_ids nor pixel_values, expected at least one",
                        in_path);
    goto out;
  }
  w = st_writer_new();
  if (t_ids) {
    TRY(read_ids(t_ids, in_path, &ids, &n_txt, &len, err));
    ALLOC(txt, (size_t) n_txt * info->embed_dim);
    ALLOC(txt_pool, (size_t) n_txt * info->text_width);
    TRY(clip_encode_texts(ctx, ids, n_txt, len, txt, txt_pool, err));
    TRY(st_writer_add(w, "text_embeds", ST_F32, 2, (int64_t[]){ n_txt, info->embed_dim }, txt,
                      err));
    TRY(st_writer_add(w, "text_pooler_output", ST_F32, 2, (int64_t[]){ n_txt, info->text_width },
                      txt_pool, err));
  }
  if (t_pix) {
    TRY(read_pixels(t_pix, in_path, info->image_size, &pixels, &n_img, err));
    ALLOC(img, (size_t) n_img * info->embed_dim);
    ALLOC(img_pool, (size_t) n_img * info->vision_width);
    TRY(clip_encode_images(ctx, pixels, n_img, img, img_pool, err));
    TRY(st_writer_add(w, "image_embeds", ST_F32, 2, (int64_t[]){ n_img, info->embed_dim }, img,
                      err));
    TRY(st_writer_add(w, "vision_pooler_output", ST_F32, 2,
                      (int64_t[]){ n_img, info->vision_width }, img_pool, err));
  }
  if (t_ids && t_pix) {
    if (!(logits = logits_per_image(model, img, n_img, txt, n_txt))) {
      st = clip_set_error(err, CLIP_ERR_NOMEM, "out of memory");
      goto out;
    }
    TRY(st_writer_add(w, "logits_per_image", ST_F32, 2, (int64_t[]){ n_img, n_txt }, logits, err));
  }
  TRY(st_writer_save(w, out_path, err));

out:
  free(logits);
  free(img_pool);
  free(img);
  free(pixels);
  free(txt_pool);
  free(txt);
  free(ids);
  st_writer_free(w);
  clip_ctx_free(ctx);
  st_close(in);
  clip_model_free(model);
  return st;
#undef TRY
#undef ALLOC
}

int
cmd_run(int argc, char **argv)
{
  const char *model = NULL, *in = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--input") && i + 1 < argc)
      in = argv[++i];
    else if (!strcmp(argv[i], "--output") && i + 1 < argc)
      out = argv[++i];
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(USAGE, stdout);
      return 0;
    } else if (argv[i][0] == '-' || model) {
      fprintf(stderr, "clip-tool run: unexpected argument '%s'\n" USAGE, argv[i]);
      return 2;
    } else
      model = argv[i];
  }
  if (!model || !in || !out) {
    fprintf(stderr, "clip-tool run: %s\n" USAGE,
            !model ? "MODEL is missing"
            : !in  ? "--input is missing"
                   : "--output is missing");
    return 2;
  }
  clip_error err = { 0 };
  if (run(model, in, out, &err) != CLIP_OK) {
    fprintf(stderr, "clip-tool run: %s\n", err.message);
    return 1;
  }
  return 0;
}
