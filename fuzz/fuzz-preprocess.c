/* fuzz-preprocess.c — preprocessing geometry: random frame sizes, formats,
 * strides, YUV matrices and output sizes, each plane in a buffer of exactly
 * the bytes the format needs (the sanitizers catch any read outside it).
 * The SIMD and portable kernels must give the same bytes. Input: 12 header
 * bytes, then pixel bytes (repeated to fill the planes). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "preprocess.h"

/* Geometry, not size, is the point: small frames keep the runs fast. A
 * run costs about the frame's area (three resamplings of every row), so
 * sides stop at 128: that still covers downscaling by up to 128 (filters
 * of hundreds of taps, many 8-pixel blocks of the SIMD horizontal pass),
 * upscaling by up to 96, the scalar fallback at a row's end, every
 * remainder of the 8-wide vertical pass, odd chroma sizes and every
 * format; sides up to 400 made a run about ten times slower for no path
 * more. */
#define MAX_SIDE 128
#define MAX_OUT 96

/* Fills @dst with @src repeated (or a ramp when @src is empty). */
static void
fill(uint8_t *dst, size_t bytes, const uint8_t *src, size_t n)
{
  if (!n) {
    for (size_t i = 0; i < bytes; i++)
      dst[i] = (uint8_t) i;
    return;
  }
  for (size_t i = 0; i < bytes; i += n)
    memcpy(dst + i, src, bytes - i < n ? bytes - i : n);
}

static int
u16(const uint8_t *d)
{
  return d[0] | d[1] << 8;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 12)
    return 0;
  clip_image im = { 0 };
  im.format = (clip_pixel_format) (data[0] % 12);
  im.width = u16(data + 1) % MAX_SIDE + 1;
  im.height = u16(data + 3) % MAX_SIDE + 1;
  int pad = data[5] % 17;
  clip_preprocess_params p = clip_preprocess_default_params();
  p.size = u16(data + 6) % MAX_OUT + 1;
  im.matrix = data[8] & 1 ? CLIP_MATRIX_BT709 : CLIP_MATRIX_BT601;
  im.full_range = data[8] & 2;
  const uint8_t *pixels = data + 12;
  size_t n_pixels = size - 12;

  /* Bytes per pixel of plane 0, and the chroma planes of the YUV formats. */
  int bpp = 4, planes = 1, cw = (im.width + 1) / 2, ch = (im.height + 1) / 2;
  switch (im.format) {
  case CLIP_FORMAT_RGB:
  case CLIP_FORMAT_BGR: bpp = 3; break;
  case CLIP_FORMAT_GRAY8: bpp = 1; break;
  case CLIP_FORMAT_I420: bpp = 1, planes = 3; break;
  case CLIP_FORMAT_NV12: bpp = 1, planes = 2; break;
  case CLIP_FORMAT_Y444: bpp = 1, planes = 3, cw = im.width, ch = im.height; break;
  default: break;
  }
  uint8_t *buf[3] = { NULL, NULL, NULL };
  for (int k = 0; k < planes; k++) {
    int row = k == 0 ? im.width * bpp : planes == 2 ? cw * 2 : cw;
    int rows = k == 0 ? im.height : ch;
    im.strides[k] = row + pad;
    /* The last row ends at its pixels: no stride padding after it. */
    size_t bytes = (size_t) im.strides[k] * (rows - 1) + row;
    buf[k] = malloc(bytes);
    fill(buf[k], bytes, pixels, n_pixels);
    im.planes[k] = buf[k];
  }
  size_t out_n = (size_t) 3 * p.size * p.size;
  uint8_t *a = malloc(out_n), *b = malloc(out_n);
  float *f = malloc(out_n * sizeof *f);
  clip_error err = { 0 };
  clip_status sa = clip_preprocess_frame_u8(&p, &im, a, &err);
  clip_status sb = clip_preprocess_frame_u8_portable(&p, &im, b, &err);
  clip_status sf = clip_preprocess_frame(&p, &im, f, &err);
  if (sa != sb || sa != sf)
    fuzz_fail("statuses differ: %d %d %d", sa, sb, sf);
  if (sa == CLIP_OK && memcmp(a, b, out_n))
    fuzz_fail("SIMD and portable kernels differ: format %d, %dx%d -> %d", im.format, im.width,
              im.height, p.size);
  free(a), free(b), free(f);
  for (int k = 0; k < 3; k++)
    free(buf[k]);
  return 0;
}
