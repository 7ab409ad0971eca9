/* fuzz-checkpoint.c — the checkpoint loader on a configuration and a
 * weights file. Input: one byte choosing the layout (0: Hugging Face
 * config.json + model.safetensors, 1: open_clip_config.json +
 * open_clip_model.safetensors, 2: open_clip weights alone), the
 * configuration up to the first NUL byte, then the safetensors bytes. A
 * load either fails with a message or gives a model that encodes. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "fuzz.h"

/* Loaded models are run only when this small (the fuzzer stays fast). */
#define MAX_RUN_WIDTH 64
#define MAX_RUN_IMAGE 64

static void
run_model(const clip_model *m)
{
  const clip_model_info *in = clip_model_get_info(m);
  if (in->text_width > MAX_RUN_WIDTH || in->vision_width > MAX_RUN_WIDTH
      || in->image_size > MAX_RUN_IMAGE || in->context_length > 80)
    return;
  clip_error err = { 0 };
  clip_ctx *ctx = clip_ctx_new(m, &err);
  if (!ctx)
    fuzz_fail("a loaded model gives no context: %s", err.message);
  int S = in->image_size, L = in->context_length, D = in->embed_dim;
  float *pix = calloc((size_t) 3 * S * S, sizeof *pix);
  int32_t *ids = calloc((size_t) L, sizeof *ids);
  float *emb = malloc((size_t) D * sizeof *emb);
  ids[0] = 0;
  ids[L - 1] = in->vocab_size - 1;
  if (clip_encode_images(ctx, pix, 1, emb, NULL, &err) != CLIP_OK)
    fuzz_fail("a loaded model does not encode an image: %s", err.message);
  if (clip_encode_texts(ctx, ids, 1, L, emb, NULL, &err) != CLIP_OK)
    fuzz_fail("a loaded model does not encode a text: %s", err.message);
  free(emb), free(ids), free(pix);
  clip_ctx_free(ctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  int layout = data[0] % 3;
  const uint8_t *config = data + 1, *end = memchr(config, 0, size - 1);
  size_t config_len = end ? (size_t) (end - config) : size - 1;
  const uint8_t *weights = end ? end + 1 : data + size;
  size_t weights_len = (size_t) (data + size - weights);

  static const char *const names[3][2] = {
    { "config.json", "model.safetensors" },
    { "open_clip_config.json", "open_clip_model.safetensors" },
    { NULL, "open_clip_model.safetensors" },
  };
  char *dir = g_build_filename(fuzz_tmpdir(), "model", NULL);
  g_mkdir_with_parents(dir, 0700);
  for (int l = 0; l < 3; l++)
    for (int k = 0; k < 2; k++)
      if (names[l][k]) {
        char *p = g_build_filename(dir, names[l][k], NULL);
        g_remove(p);
        g_free(p);
      }
  if (names[layout][0]) {
    char *p = g_build_filename(dir, names[layout][0], NULL);
    fuzz_write_path(p, config, config_len);
    g_free(p);
  }
  char *p = g_build_filename(dir, names[layout][1], NULL);
  fuzz_write_path(p, weights, weights_len);
  g_free(p);

  clip_params params = clip_default_params();
  params.backend = CLIP_BACKEND_OPENBLAS;
  params.n_threads = 1;
  clip_error err = { 0 };
  clip_model *m = clip_model_load(dir, &params, &err);
  if (!m && (err.status == CLIP_OK || !err.message[0]))
    fuzz_fail("load failed without a message");
  if (m) {
    run_model(m);
    clip_model_free(m);
  }
  g_free(dir);
  return 0;
}
