/* clip-tool score — zero-shot scores of one image file against prompts:
 * decode, preprocess, encode the image, embed the labels (each "a|b"
 * synonyms, every --template), and print cosine similarities and softmax
 * probabilities as JSON, in prompt order. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-load.h"
#include "tool.h"

static int
usage(void)
{
  fprintf(stderr, "usage: clip-tool score MODEL IMAGE PROMPT... [--template T]...\n"
                  "  IMAGE: PPM/PGM, or PNG/JPEG/... when built with GStreamer\n"
                  "  PROMPT: a label, or synonyms 'a|b' whose embeddings are averaged\n"
                  "  --template T: e.g. 'a photo of {}.' (repeatable; default '{}')\n");
  return 2;
}

static cJSON *
float_array(const float *v, int n)
{
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
  return a;
}

int
cmd_score(int argc, char **argv)
{
  const char **prompts = calloc(argc, sizeof *prompts);
  const char **templates = calloc(argc, sizeof *templates);
  const char *positional[2] = { NULL, NULL };
  int n_prompts = 0, n_templates = 0, n_pos = 0;
  if (!prompts || !templates) {
    fprintf(stderr, "clip-tool score: out of memory\n");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--template")) {
      if (i + 1 >= argc) {
        free(prompts);
        free(templates);
        return usage();
      }
      templates[n_templates++] = argv[++i];
    } else if (!strncmp(argv[i], "--", 2) && argv[i][2]) {
      fprintf(stderr, "clip-tool score: unknown option '%s'\n", argv[i]);
      free(prompts);
      free(templates);
      return usage();
    } else if (n_pos < 2) {
      positional[n_pos++] = argv[i];
    } else {
      prompts[n_prompts++] = argv[i];
    }
  }
  if (n_pos < 2 || n_prompts == 0) {
    free(prompts);
    free(templates);
    return usage();
  }
  const char *model_path = positional[0], *image_path = positional[1];

  int status = 1;
  clip_error err = { 0 };
  clip_model *model = NULL;
  clip_ctx *ctx = NULL;
  tool_image img = { 0 };
  float *pixels = NULL, *image_embed = NULL, *labels = NULL, *sims = NULL, *probs = NULL;

  /* Decode first: a bad image path should not cost a model load. */
  if (tool_image_load(image_path, &img, &err) != CLIP_OK)
    goto out;
  if (!(model = tool_model_load(model_path, NULL, &err)))
    goto out;
  const clip_model_info *info = clip_model_get_info(model);
  int d = info->embed_dim, s = info->image_size;
  pixels = malloc(sizeof(float) * 3 * s * s);
  image_embed = malloc(sizeof(float) * d);
  labels = malloc(sizeof(float) * d * n_prompts);
  sims = malloc(sizeof(float) * n_prompts);
  probs = malloc(sizeof(float) * n_prompts);
  if (!pixels || !image_embed || !labels || !sims || !probs) {
    snprintf(err.message, sizeof err.message, "out of memory");
    goto out;
  }
  clip_image im = tool_image_view(&img);
  if (clip_preprocess(model, &im, pixels, &err) != CLIP_OK || !(ctx = clip_ctx_new(model, &err))
      || clip_encode_images(ctx, pixels, 1, image_embed, NULL, &err) != CLIP_OK
      || clip_embed_labels(ctx, prompts, n_prompts, n_templates ? templates : NULL, n_templates,
                           labels, &err)
             != CLIP_OK)
    goto out;
  clip_normalize(image_embed, d);
  clip_score(model, image_embed, labels, n_prompts, sims, probs);

  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "image", image_path);
  cJSON *names = cJSON_CreateArray();
  for (int i = 0; i < n_prompts; i++)
    cJSON_AddItemToArray(names, cJSON_CreateString(prompts[i]));
  cJSON_AddItemToObject(root, "labels", names);
  cJSON_AddItemToObject(root, "scores", float_array(probs, n_prompts));
  cJSON_AddItemToObject(root, "similarities", float_array(sims, n_prompts));
  char *text = cJSON_PrintUnformatted(root);
  if (text) {
    printf("%s\n", text);
    status = 0;
  }
  cJSON_free(text);
  cJSON_Delete(root);

out:
  if (status)
    fprintf(stderr, "clip-tool score: %s\n", err.message);
  free(pixels);
  free(image_embed);
  free(labels);
  free(sims);
  free(probs);
  tool_image_free(&img);
  clip_ctx_free(ctx);
  clip_model_free(model);
  free(prompts);
  free(templates);
  return status;
}
