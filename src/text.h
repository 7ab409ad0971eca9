/* text.h — the text tower (text.c). Arguments are validated by the public
 * wrapper in clip.c before they get here. */
#ifndef CLIP_TEXT_H
#define CLIP_TEXT_H

#include "clip.h"

/* n rows of len ids, every row holding an EOT; only the first T positions are
 * run (T ≥ every row's first EOT + 1). embeds [n, embed_dim], pooled
 * [n, width] or NULL. */
clip_status clip_text_forward(clip_ctx *ctx, const int32_t *ids, int n, int len, int T,
                              float *embeds, float *pooled, clip_error *err);

/* Index of the first EOT in a row of len ids, or -1. */
int clip_text_first_eot(const clip_model *model, const int32_t *row, int len);

#endif
