/* preprocess.h — video frame to CLIP model input: Pillow-compatible bicubic
 * resize of the shorter side, center crop, normalization. */
#ifndef CLIP_PREPROCESS_H
#define CLIP_PREPROCESS_H

#include "clip.h"

typedef struct {
  int size;              /* output is [3, size, size] */
  float mean[3], std[3];
} clip_preprocess_params;

clip_status clip_preprocess_frame(const clip_preprocess_params *p, const clip_image *image,
                                  float *out, clip_error *err);

#endif
