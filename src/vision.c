/* vision.c — the image tower: patch embedding as one GEMM, class token,
 * positions, ln_pre, the blocks, ln_post on the class token, projection. */
#include "vision.h"

#include <string.h>

#include "error.h"
#include "model.h"
#include "transformer.h"

/* Copies each P×P patch of each image into one row of patches
 * [n·grid², 3·P·P], columns in (c, y, x) order like conv1's weight, so the
 * convolution becomes a single GEMM over all images. */
static void
gather_patches(const float *pixels, int n, int S, int P, float *patches)
{
  const int g = S / P, row_len = 3 * P * P;
  for (int i = 0; i < n; i++)
    for (int gy = 0; gy < g; gy++)
      for (int gx = 0; gx < g; gx++) {
        float *row = patches + ((size_t) i * g * g + (size_t) gy * g + gx) * row_len;
        for (int c = 0; c < 3; c++)
          for (int y = 0; y < P; y++) {
            const float *src =
                pixels + (((size_t) i * 3 + c) * S + (size_t) gy * P + y) * S + (size_t) gx * P;
            memcpy(row + (c * P + y) * P, src, (size_t) P * sizeof *src);
          }
      }
}

clip_status
clip_vision_forward(clip_ctx *ctx, const float *pixels, int n, float *embeds, float *pooled,
                    clip_error *err)
{
  const clip_model *m = ctx->model;
  const clip_tower *tw = &m->vision;
  const int S = m->info.image_size, P = m->info.patch_size, g = S / P, n_patch = g * g;
  const int T = 1 + n_patch, W = tw->width;
  clip_tower_pass p;
  clip_status st =
      clip_tower_pass_init(ctx, tw, false, n, T, (size_t) n * n_patch, 3 * (size_t) P * P,
                           "clip_encode_images", "images", &p, err);
  if (st != CLIP_OK)
    return st;
  float *x = p.x, *patches = p.extra;

  gather_patches(pixels, n, S, P, patches);
  ops_linear(&ctx->backend, &m->patch_embed, patches, n * n_patch, p.s.h, OPS_EPI_NONE);
  for (int i = 0; i < n; i++) {
    float *xi = x + (size_t) i * T * W;
    for (int j = 0; j < W; j++)
      xi[j] = m->class_embed[j] + m->vision_pos[j];
    for (int q = 0; q < n_patch; q++) {
      const float *pe = p.s.h + ((size_t) i * n_patch + q) * W;
      const float *pos = m->vision_pos + (size_t) (1 + q) * W;
      float *row = xi + (size_t) (1 + q) * W;
      for (int j = 0; j < W; j++)
        row[j] = pe[j] + pos[j];
    }
  }
  clip_ctx_debug(ctx, "vision_embeddings", 0, x, n, T, W);

  ops_layer_norm_rows(&ctx->backend, &m->ln_pre, W, p.shape.eps, x, W, x, W, n * T);
  clip_ctx_debug(ctx, "vision_hidden", 0, x, n, T, W);
  /* The class token (row 0 of each image) is the image's summary. */
  clip_tower_blocks(ctx, tw, &p, n, T, NULL, "vision_hidden");

  float *pool = pooled ? pooled : p.s.h;
  ops_layer_norm(&m->ln_post, W, p.shape.eps, p.pooled, W, pool, W, n);
  ops_linear(&ctx->backend, &m->visual_proj, pool, n, embeds, OPS_EPI_NONE);
  return ops_backend_take_error(&ctx->backend, err);
}
