/* image-load.h — image files to packed RGB for clip-tool: PPM/PGM natively,
 * anything GStreamer can decode (PNG, JPEG, ...) when built with it. */
#ifndef CLIP_TOOL_IMAGE_LOAD_H
#define CLIP_TOOL_IMAGE_LOAD_H

#include <stdint.h>

#include "clip.h"

/* A decoded picture: rows of width * 3 bytes, R G B, no padding. */
typedef struct {
  int width, height;
  uint8_t *rgb;
} tool_image;

/* Decodes path into img (freed with tool_image_free); fills err on failure. */
clip_status tool_image_load(const char *path, tool_image *img, clip_error *err);

void tool_image_free(tool_image *img);

/* img as a clip_image (RGB) for clip_preprocess(); img keeps owning the pixels. */
clip_image tool_image_view(const tool_image *img);

#endif
