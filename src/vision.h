/* vision.h — the image tower (vision.c). Arguments are validated by the
 * public wrapper in clip.c before they get here. */
#ifndef CLIP_VISION_H
#define CLIP_VISION_H

#include "clip.h"

/* n images [n, 3, S, S] → embeds [n, embed_dim], pooled [n, width] or NULL. */
clip_status clip_vision_forward(clip_ctx *ctx, const float *pixels, int n, float *embeds,
                                float *pooled, clip_error *err);

#endif
