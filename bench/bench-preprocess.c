/* bench-preprocess — milliseconds per 1920x1080 frame to the 224x224 CLIP
 * input, one thread, for RGB, NV12, I420 and Y444; a memcpy of each frame, timed
 * in the same run, gives the machine's own yardstick.
 * Usage: bench-preprocess [RUNS] [WIDTH HEIGHT] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "preprocess.h"

static double
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

typedef struct {
  double min, median;
} timing;

/* Times runs calls of preprocess (or of a memcpy of the frame if copy). */
static timing
measure(const clip_preprocess_params *p, const clip_image *im, size_t bytes, int runs, int copy,
        float *out, uint8_t *scratch)
{
  double *t = malloc(runs * sizeof *t);
  clip_error err;
  for (int r = -2; r < runs; r++) { /* two warm-up runs */
    double t0 = now_ms();
    if (copy)
      memcpy(scratch, im->planes[0], bytes);
    else if (clip_preprocess_frame(p, im, out, &err) != CLIP_OK) {
      fprintf(stderr, "bench-preprocess: %s\n", err.message);
      exit(1);
    }
    if (r >= 0)
      t[r] = now_ms() - t0;
  }
  qsort(t, runs, sizeof *t, cmp_double);
  timing res = { t[0], t[runs / 2] };
  free(t);
  return res;
}

int
main(int argc, char **argv)
{
  int runs = argc > 1 ? atoi(argv[1]) : 200;
  int w = argc > 3 ? atoi(argv[2]) : 1920, h = argc > 3 ? atoi(argv[3]) : 1080;
  if (runs < 1 || w < 2 || h < 2) {
    fprintf(stderr, "usage: bench-preprocess [RUNS] [WIDTH HEIGHT]\n");
    return 2;
  }
  clip_preprocess_params p = clip_preprocess_default_params();
  size_t rgb_bytes = (size_t) w * h * 3, yuv_bytes = (size_t) w * h * 3 / 2;
  uint8_t *rgb = malloc(rgb_bytes), *yuv = malloc(yuv_bytes), *scratch = malloc(rgb_bytes);
  float *out = malloc(3 * sizeof(float) * p.size * p.size);
  /* Smooth gradients plus noise, so no branch or cache sees a flat frame. */
  srand(1);
  for (size_t i = 0; i < rgb_bytes; i++)
    rgb[i] = (uint8_t) ((i % 3 * 85 + i / 3 % w * 255 / w + (size_t) rand() % 32) & 255);
  for (size_t i = 0; i < yuv_bytes; i++)
    yuv[i] = (uint8_t) (16 + rand() % 220);

  clip_image im_rgb = {
    .format = CLIP_FORMAT_RGB, .width = w, .height = h, .planes = { rgb }, .strides = { w * 3 }
  };
  int cw = (w + 1) / 2;
  clip_image im_nv12 = { .format = CLIP_FORMAT_NV12,
                         .width = w,
                         .height = h,
                         .planes = { yuv, yuv + (size_t) w * h },
                         .strides = { w, 2 * cw },
                         .matrix = CLIP_MATRIX_BT709 };
  clip_image im_i420 = { .format = CLIP_FORMAT_I420,
                         .width = w,
                         .height = h,
                         .planes = { yuv, yuv + (size_t) w * h,
                                     yuv + (size_t) w * h + (size_t) cw * ((h + 1) / 2) },
                         .strides = { w, cw, cw },
                         .matrix = CLIP_MATRIX_BT709 };

  /* planar 4:4:4 in the RGB frame's bytes */
  clip_image im_y444 = { .format = CLIP_FORMAT_Y444,
                         .width = w,
                         .height = h,
                         .planes = { rgb, rgb + (size_t) w * h, rgb + (size_t) 2 * w * h },
                         .strides = { w, w, w },
                         .matrix = CLIP_MATRIX_BT709 };

  timing cr = measure(&p, &im_rgb, rgb_bytes, runs, 1, out, scratch);
  timing r = measure(&p, &im_rgb, 0, runs, 0, out, scratch);
  timing cy = measure(&p, &im_nv12, yuv_bytes, runs, 1, out, scratch);
  timing n = measure(&p, &im_nv12, 0, runs, 0, out, scratch);
  timing i4 = measure(&p, &im_i420, 0, runs, 0, out, scratch);
  timing y4 = measure(&p, &im_y444, 0, runs, 0, out, scratch);

  printf("{\n  \"frame\": \"%dx%d\", \"output\": %d, \"threads\": 1, \"runs\": %d,\n", w, h, p.size,
         runs);
  printf("  \"baseline_memcpy_rgb_ms\": {\"min\": %.4f, \"median\": %.4f},\n", cr.min, cr.median);
  printf("  \"baseline_memcpy_yuv420_ms\": {\"min\": %.4f, \"median\": %.4f},\n", cy.min,
         cy.median);
  printf("  \"rgb_ms\": {\"min\": %.4f, \"median\": %.4f, \"x_memcpy\": %.2f},\n", r.min, r.median,
         r.median / cr.median);
  printf("  \"nv12_ms\": {\"min\": %.4f, \"median\": %.4f, \"x_memcpy\": %.2f},\n", n.min, n.median,
         n.median / cy.median);
  printf("  \"i420_ms\": {\"min\": %.4f, \"median\": %.4f, \"x_memcpy\": %.2f},\n", i4.min,
         i4.median, i4.median / cy.median);
  printf("  \"y444_ms\": {\"min\": %.4f, \"median\": %.4f, \"x_memcpy_rgb\": %.2f}\n}\n", y4.min,
         y4.median, y4.median / cr.median);
  free(rgb);
  free(yuv);
  free(scratch);
  free(out);
  return 0;
}
