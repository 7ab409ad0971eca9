/* preprocess.h — video frame to CLIP model input: Pillow-compatible bicubic
 * resize of the shorter side, center crop, normalization. */
#ifndef CLIP_PREPROCESS_H
#define CLIP_PREPROCESS_H

#include "clip.h"

typedef struct {
  int size; /* output is [3, size, size] */
  float mean[3], std[3];
} clip_preprocess_params;

/* CLIP's own input size (224) and mean/std, for callers without a model. */
clip_preprocess_params clip_preprocess_default_params(void);

/* Frame -> normalized model input out [3, size, size] (channel-major RGB). */
clip_status clip_preprocess_frame(const clip_preprocess_params *p, const clip_image *image,
                                  float *out, clip_error *err);

/* Frame -> the resized, cropped uint8 picture before normalization, planar
 * rgb [3, size, size]; mean/std of p are not used (but still validated). */
clip_status clip_preprocess_frame_u8(const clip_preprocess_params *p, const clip_image *image,
                                     uint8_t *rgb, clip_error *err);

/* clip_preprocess_frame_u8 with the portable C kernels only, never SIMD:
 * the tests check that both give the same bytes. */
clip_status clip_preprocess_frame_u8_portable(const clip_preprocess_params *p, const clip_image *im,
                                              uint8_t *rgb, clip_error *err);

#endif
