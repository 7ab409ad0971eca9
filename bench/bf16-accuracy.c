/* bf16-accuracy — how far oneDNN bf16 embeddings are from fp32 ones: the
 * cosine similarity between the two for random images and a set of prompts,
 * and the scale-relative error. Usage: bf16-accuracy MODEL [N_IMAGES].
 * Prints JSON. The fp32 side runs on OpenBLAS, the reference path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "clip.h"

static const char *prompts[] = { "a photo of a dog.",
                                 "a photo of a cat.",
                                 "a person cooking.",
                                 "a car on a highway at night.",
                                 "a bicycle leaning on a wall.",
                                 "a crowded street market in the rain.",
                                 "a tree in winter.",
                                 "an empty parking lot." };
#define N_PROMPTS (int) (sizeof prompts / sizeof *prompts)

typedef struct {
  double cos_min, cos_mean, rel;
} stats;

static stats
compare(const float *a, const float *b, int n, int d)
{
  stats s = { 1.0, 0.0, 0.0 };
  double diff = 0.0, scale = 0.0;
  for (int i = 0; i < n; i++) {
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < d; j++) {
      double x = a[(size_t) i * d + j], y = b[(size_t) i * d + j];
      ab += x * y, aa += x * x, bb += y * y;
      diff = fmax(diff, fabs(x - y));
      scale = fmax(scale, fabs(y));
    }
    double c = ab / sqrt(aa * bb);
    s.cos_min = fmin(s.cos_min, c);
    s.cos_mean += c / n;
  }
  s.rel = diff / scale;
  return s;
}

/* Encodes images and prompts with one backend and precision. */
static int
encode(const char *path, clip_backend be, clip_precision pr, const float *pix, int n, float *img,
       float *txt)
{
  clip_params p = clip_default_params();
  p.backend = be, p.precision = pr, p.n_threads = 2;
  clip_error err = { 0 };
  clip_model *m = clip_model_load(path, &p, &err);
  clip_ctx *ctx = m ? clip_ctx_new(m, &err) : NULL;
  int L = m ? clip_model_get_info(m)->context_length : 0;
  int32_t *ids = calloc((size_t) N_PROMPTS * (L > 0 ? L : 1), sizeof *ids);
  int ok = ctx && ids && clip_encode_images(ctx, pix, n, img, NULL, &err) == CLIP_OK;
  for (int i = 0; ok && i < N_PROMPTS; i++)
    ok = clip_tokenize_padded(m, prompts[i], ids + (size_t) i * L, &err) == CLIP_OK;
  ok = ok && clip_encode_texts(ctx, ids, N_PROMPTS, L, txt, NULL, &err) == CLIP_OK;
  if (!ok)
    fprintf(stderr, "bf16-accuracy: %s\n", err.message);
  free(ids);
  clip_ctx_free(ctx);
  clip_model_free(m);
  return ok;
}

int
main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: bf16-accuracy MODEL [N_IMAGES]\n");
    return 2;
  }
  int n = argc > 2 ? atoi(argv[2]) : 8;
  clip_error err = { 0 };
  clip_model *m = clip_model_load(argv[1], NULL, &err);
  if (!m || n < 1) {
    fprintf(stderr, "bf16-accuracy: %s\n", m ? "N_IMAGES must be >= 1" : err.message);
    clip_model_free(m);
    return 1;
  }
  const clip_model_info *in = clip_model_get_info(m);
  int S = in->image_size, D = in->embed_dim;
  clip_model_free(m);
  size_t np = (size_t) n * 3 * S * S;
  float *pix = malloc(np * sizeof *pix);
  float *img[2], *txt[2];
  for (int k = 0; k < 2; k++) {
    img[k] = malloc((size_t) n * D * sizeof(float));
    txt[k] = malloc((size_t) N_PROMPTS * D * sizeof(float));
  }
  /* Smooth random images (a few gradients and blobs), not white noise:
   * closer to what the towers see. */
  unsigned r = 7;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 3; c++) {
      r = r * 1664525u + 1013904223u;
      double fx = (r >> 8) / 16777216.0 * 0.1, ph = (r & 255) / 40.0;
      for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
          pix[(((size_t) i * 3 + c) * S + y) * S + x] =
              (float) (1.5 * sin(fx * x + ph) * cos(fx * 0.7 * y + c));
    }
  int rc = 1;
  if (encode(argv[1], CLIP_BACKEND_OPENBLAS, CLIP_PRECISION_FP32, pix, n, img[0], txt[0])
      && encode(argv[1], CLIP_BACKEND_ONEDNN, CLIP_PRECISION_BF16, pix, n, img[1], txt[1])) {
    stats si = compare(img[1], img[0], n, D), st = compare(txt[1], txt[0], N_PROMPTS, D);
    /* Does the best prompt per image change? */
    int changed = 0;
    for (int i = 0; i < n; i++) {
      int best[2] = { 0, 0 };
      for (int k = 0; k < 2; k++) {
        double bs = -INFINITY;
        for (int t = 0; t < N_PROMPTS; t++) {
          double s = 0, a = 0, b = 0;
          for (int j = 0; j < D; j++) {
            s += img[k][(size_t) i * D + j] * txt[k][(size_t) t * D + j];
            a += img[k][(size_t) i * D + j] * img[k][(size_t) i * D + j];
            b += txt[k][(size_t) t * D + j] * txt[k][(size_t) t * D + j];
          }
          s /= sqrt(a * b);
          if (s > bs)
            bs = s, best[k] = t;
        }
      }
      changed += best[0] != best[1];
    }
    printf("{\"model\": \"%s\", \"images\": %d, \"prompts\": %d,\n"
           " \"image_cosine_min\": %.6f, \"image_cosine_mean\": %.6f, \"image_rel_error\": %.3g,\n"
           " \"text_cosine_min\": %.6f, \"text_cosine_mean\": %.6f, \"text_rel_error\": %.3g,\n"
           " \"top1_prompt_changed\": %d}\n",
           argv[1], n, N_PROMPTS, si.cos_min, si.cos_mean, si.rel, st.cos_min, st.cos_mean, st.rel,
           changed);
    rc = 0;
  }
  free(pix);
  for (int k = 0; k < 2; k++)
    free(img[k]), free(txt[k]);
  return rc;
}
