/* clip-tool preprocess — each U8 [H, W, 3] RGB tensor of a safetensors file
 * to the F32 [3, S, S] model input under the same name, exactly as
 * clip_preprocess() computes it (bit-exact with CLIP's Pillow pipeline). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"
#include "safetensors.h"
#include "tool.h"

static int
usage(void)
{
  fprintf(stderr, "usage: clip-tool preprocess --input RGB.safetensors --output OUT.safetensors "
                  "[--model MODEL] [--size S]\n"
                  "  every U8 [H, W, 3] tensor becomes F32 [3, S, S] under the same name;\n"
                  "  S and mean/std come from MODEL, else CLIP's (224); --size overrides S\n");
  return 2;
}

int
cmd_preprocess(int argc, char **argv)
{
  const char *input = NULL, *output = NULL, *model_path = NULL;
  int size = 0;
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && !strcmp(argv[i], "--input"))
      input = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--output"))
      output = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--model"))
      model_path = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--size")) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v <= 0 || v > 4096) {
        fprintf(stderr, "clip-tool preprocess: --size '%s' is not an integer in 1..4096\n",
                argv[i]);
        return 2;
      }
      size = (int) v;
    } else {
      fprintf(stderr, "clip-tool preprocess: unexpected argument '%s'\n", argv[i]);
      return usage();
    }
  }
  if (!input || !output)
    return usage();

  clip_error err = { 0 };
  clip_preprocess_params pp = clip_preprocess_default_params();
  if (model_path) {
    clip_model *model = tool_model_load(model_path, NULL, &err);
    if (!model) {
      fprintf(stderr, "clip-tool preprocess: %s\n", err.message);
      return 1;
    }
    const clip_model_info *info = clip_model_get_info(model);
    pp.size = info->image_size;
    memcpy(pp.mean, info->mean, sizeof pp.mean);
    memcpy(pp.std, info->std, sizeof pp.std);
    clip_model_free(model);
  }
  if (size)
    pp.size = size;

  st_file *in = st_open(input, &err);
  if (!in) {
    fprintf(stderr, "clip-tool preprocess: %s\n", err.message);
    return 1;
  }
  st_writer *w = st_writer_new();
  size_t n_out = (size_t) 3 * pp.size * pp.size;
  float *out = malloc(n_out * sizeof *out);
  int status = w && out ? 0 : 1, converted = 0;
  if (status)
    fprintf(stderr, "clip-tool preprocess: out of memory\n");
  for (int i = 0; !status && i < st_count(in); i++) {
    const st_tensor *t = st_get(in, i);
    if (t->dtype != ST_U8 || t->n_dims != 3 || t->shape[2] != 3) {
      fprintf(stderr,
              "clip-tool preprocess: %s: tensor '%s' is %s with %d dimensions, expected "
              "U8 [H, W, 3]\n",
              input, t->name, st_dtype_name(t->dtype), t->n_dims);
      status = 1;
      break;
    }
    clip_image im = { .format = CLIP_FORMAT_RGB,
                      .width = (int) t->shape[1],
                      .height = (int) t->shape[0],
                      .planes = { t->data },
                      .strides = { (int) t->shape[1] * 3 } };
    int64_t shape[3] = { 3, pp.size, pp.size };
    if (t->shape[0] > 32768 || t->shape[1] > 32768) {
      fprintf(stderr, "clip-tool preprocess: %s: tensor '%s' is %lldx%lld pixels, too large\n",
              input, t->name, (long long) t->shape[1], (long long) t->shape[0]);
      status = 1;
    } else if (clip_preprocess_frame(&pp, &im, out, &err) != CLIP_OK
               || st_writer_add(w, t->name, ST_F32, 3, shape, out, &err) != CLIP_OK) {
      fprintf(stderr, "clip-tool preprocess: %s: tensor '%s': %s\n", input, t->name, err.message);
      status = 1;
    }
    converted++;
  }
  if (!status && converted == 0) {
    fprintf(stderr, "clip-tool preprocess: %s holds no tensor\n", input);
    status = 1;
  }
  if (!status && st_writer_save(w, output, &err) != CLIP_OK) {
    fprintf(stderr, "clip-tool preprocess: %s\n", err.message);
    status = 1;
  }
  free(out);
  st_writer_free(w);
  st_close(in);
  return status;
}
