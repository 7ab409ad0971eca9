/* encoders.h — the two towers (vision.c, text.c). Arguments are validated by
 * the public wrappers in clip.c before they get here. */
#ifndef CLIP_ENCODERS_H
#define CLIP_ENCODERS_H

#include "context.h"

/* n images [n, 3, S, S] → embeds [n, embed_dim], pooled [n, width] or NULL. */
clip_status clip_vision_forward(clip_ctx *ctx, const float *pixels, int n, float *embeds,
                                float *pooled, clip_error *err);

/* n rows of len ids, every row holding an EOT; only the first T positions are
 * run (T ≥ every row's first EOT + 1). embeds [n, embed_dim], pooled
 * [n, width] or NULL. */
clip_status clip_text_forward(clip_ctx *ctx, const int32_t *ids, int n, int len, int T,
                              float *embeds, float *pooled, clip_error *err);

/* Index of the first EOT in a row of len ids, or -1. */
int clip_text_first_eot(const clip_model *model, const int32_t *row, int len);

#endif
