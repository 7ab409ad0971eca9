/* clip-tool info — loads a checkpoint and prints what it is as one JSON
 * object (the keys are clip_model_info's field names plus "architecture"). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "tool.h"

/* A float as the shortest decimal that reads back to the same float, so
 * 1e-05 prints as 1e-05, not 9.9999997473787516e-06. */
static cJSON *
float_number(float v)
{
  char buf[32];
  snprintf(buf, sizeof buf, "%.9g", v);
  for (int digits = 1; digits < 9; digits++) {
    char shorter[32];
    snprintf(shorter, sizeof shorter, "%.*g", digits, v);
    if (strtof(shorter, NULL) == v) {
      memcpy(buf, shorter, sizeof buf);
      break;
    }
  }
  return cJSON_CreateNumber(strtod(buf, NULL));
}

static cJSON *
float_array(const float *v, int n)
{
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++)
    cJSON_AddItemToArray(a, float_number(v[i]));
  return a;
}

/* "ViT-B/32" for OpenAI's published vision towers, else width x layers. */
static void
architecture(const clip_model_info *in, char *buf, size_t size)
{
  static const struct {
    int width, layers;
    const char *name;
  } sizes[] = { { 384, 12, "S" },  { 768, 12, "B" },  { 1024, 24, "L" },
                { 1280, 32, "H" }, { 1408, 40, "g" }, { 1664, 48, "bigG" } };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    if (in->vision_width == sizes[i].width && in->vision_layers == sizes[i].layers) {
      snprintf(buf, size, "ViT-%s/%d", sizes[i].name, in->patch_size);
      return;
    }
  snprintf(buf, size, "ViT-%dx%d/%d", in->vision_width, in->vision_layers, in->patch_size);
}

int
cmd_info(int argc, char **argv)
{
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "usage: clip-tool info MODEL\n");
    return 2;
  }
  clip_error err = { 0 };
  /* OpenBLAS needs no weight prepacking at load, and info computes nothing. */
  clip_params params = clip_default_params();
  params.backend = CLIP_BACKEND_OPENBLAS;
  clip_model *model = tool_model_load(argv[1], &params, &err);
  if (!model) {
    fprintf(stderr, "clip-tool info: %s\n", err.message);
    return 1;
  }
  const clip_model_info *in = clip_model_get_info(model);
  char arch[64];
  architecture(in, arch, sizeof arch);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "architecture", arch);
  cJSON_AddStringToObject(o, "path", in->path);
  cJSON_AddStringToObject(o, "naming", in->naming);
  cJSON_AddStringToObject(o, "dtype", in->dtype);
  cJSON_AddNumberToObject(o, "image_size", in->image_size);
  cJSON_AddNumberToObject(o, "patch_size", in->patch_size);
  cJSON_AddNumberToObject(o, "embed_dim", in->embed_dim);
  cJSON_AddNumberToObject(o, "context_length", in->context_length);
  cJSON_AddNumberToObject(o, "vocab_size", in->vocab_size);
  cJSON_AddNumberToObject(o, "vision_width", in->vision_width);
  cJSON_AddNumberToObject(o, "vision_layers", in->vision_layers);
  cJSON_AddNumberToObject(o, "vision_heads", in->vision_heads);
  cJSON_AddNumberToObject(o, "vision_mlp", in->vision_mlp);
  cJSON_AddNumberToObject(o, "text_width", in->text_width);
  cJSON_AddNumberToObject(o, "text_layers", in->text_layers);
  cJSON_AddNumberToObject(o, "text_heads", in->text_heads);
  cJSON_AddNumberToObject(o, "text_mlp", in->text_mlp);
  cJSON_AddStringToObject(o, "activation", in->activation == CLIP_ACT_GELU ? "gelu" : "quick_gelu");
  cJSON_AddItemToObject(o, "layer_norm_eps", float_number(in->layer_norm_eps));
  cJSON_AddItemToObject(o, "logit_scale", float_number(in->logit_scale));
  cJSON_AddItemToObject(o, "mean", float_array(in->mean, 3));
  cJSON_AddItemToObject(o, "std", float_array(in->std, 3));
  /* Whether clip_tokenize works: checkpoints without vocab files load too. */
  clip_error terr = { 0 };
  size_t n = 0;
  int32_t ids[4];
  cJSON_AddBoolToObject(o, "tokenizer", clip_tokenize(model, "a", ids, 4, &n, &terr) == CLIP_OK);
  char *text = cJSON_Print(o);
  puts(text ? text : "{}");
  cJSON_free(text);
  cJSON_Delete(o);
  clip_model_free(model);
  return 0;
}
