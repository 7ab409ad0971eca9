/* test-preprocess — frame to model input: bit-exact with CLIP's Pillow
 * pipeline for every packed RGB layout and GRAY8; YUV frames made by
 * GStreamer's own converter within the tolerance stated in
 * docs/preprocessing.md; every argument error. */
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#ifdef HAVE_GST_VIDEO
#include <gst/video/video.h>
#endif

#include <cjson/cJSON.h>

#include "preprocess.h"
#include "safetensors.h"
#include "testutil.h"

#define S 224
#define N_OUT (3 * S * S)

static const char *kit_images[] = { "landscape_393x292", "portrait_97x129", "portrait_224x256",
                                    "landscape_160x120" };

/* An owned RGB picture, rows packed. */
typedef struct {
  int w, h;
  uint8_t *px;
} picture;

typedef struct {
  st_file *src, *expected;
} kit;

static gboolean
kit_open(kit *k)
{
  clip_error err;
  char *src = testutil_reference_path("preprocess/source_rgb.safetensors");
  char *exp = testutil_reference_path("preprocess/expected.safetensors");
  if (!src || !exp) {
    g_free(src);
    g_free(exp);
    return FALSE;
  }
  k->src = st_open(src, &err);
  g_assert_true(k->src || (g_printerr("%s\n", err.message), FALSE));
  k->expected = st_open(exp, &err);
  g_assert_true(k->expected || (g_printerr("%s\n", err.message), FALSE));
  g_free(src);
  g_free(exp);
  return TRUE;
}

static void
kit_close(kit *k)
{
  st_close(k->src);
  st_close(k->expected);
}

static picture
kit_picture(const kit *k, const char *name)
{
  const st_tensor *t = st_find(k->src, name);
  g_assert_nonnull(t);
  g_assert_cmpint(t->dtype, ==, ST_U8);
  g_assert_cmpint(t->n_dims, ==, 3);
  g_assert_cmpint(t->shape[2], ==, 3);
  picture p = { (int) t->shape[1], (int) t->shape[0], g_memdup2(t->data, t->n_bytes) };
  return p;
}

static const float *
kit_expected(const kit *k, const char *name)
{
  const st_tensor *t = st_find(k->expected, name);
  g_assert_nonnull(t);
  g_assert_cmpint(t->dtype, ==, ST_F32);
  g_assert_cmpint(t->n_elements, ==, N_OUT);
  return t->data;
}

static clip_image
rgb_image(const picture *p)
{
  clip_image im = { .format = CLIP_FORMAT_RGB,
                    .width = p->w,
                    .height = p->h,
                    .planes = { p->px },
                    .strides = { p->w * 3 } };
  return im;
}

static float *
run(const clip_image *im)
{
  clip_preprocess_params pp = clip_preprocess_default_params();
  clip_error err = { 0 };
  float *out = g_new(float, N_OUT);
  clip_status st = clip_preprocess_frame(&pp, im, out, &err);
  if (st != CLIP_OK)
    g_error("clip_preprocess_frame: %s", err.message);
  return out;
}

/* ---- RGB: bit-exact with the kit ---------------------------------------- */

static void
test_rgb_bit_exact(void)
{
  REQUIRE_REFERENCE(dir);
  (void) dir;
  kit k;
  g_assert_true(kit_open(&k));
  clip_preprocess_params pp = clip_preprocess_default_params();
  for (size_t i = 0; i < G_N_ELEMENTS(kit_images); i++) {
    picture p = kit_picture(&k, kit_images[i]);
    const float *expected = kit_expected(&k, kit_images[i]);
    clip_image im = rgb_image(&p);
    float *out = run(&im);
    int diffs = 0;
    for (int j = 0; j < N_OUT; j++)
      diffs += out[j] != expected[j];
    g_test_message("%s: %d of %d floats differ", kit_images[i], diffs, N_OUT);
    g_assert_cmpint(diffs, ==, 0);
    g_assert_cmpmem(out, sizeof(float) * N_OUT, expected, sizeof(float) * N_OUT);

    /* The uint8 picture after the crop, recovered from the expected floats. */
    uint8_t *u8 = g_malloc(N_OUT);
    clip_error err;
    g_assert_cmpint(clip_preprocess_frame_u8(&pp, &im, u8, &err), ==, CLIP_OK);
    for (int j = 0; j < N_OUT; j++) {
      int c = j / (S * S);
      long v = lround(((double) expected[j] * pp.std[c] + pp.mean[c]) * 255.0);
      if (v != u8[j])
        g_error("%s: pixel %d channel %d is %d, expected %ld", kit_images[i], j % (S * S), c, u8[j],
                v);
    }
    uint8_t *portable = g_malloc(N_OUT);
    g_assert_cmpint(clip_preprocess_frame_u8_portable(&pp, &im, portable, &err), ==, CLIP_OK);
    g_assert_cmpmem(portable, N_OUT, u8, N_OUT);
    g_free(portable);
    g_free(u8);
    g_free(out);
    g_free(p.px);
  }
  kit_close(&k);
}

/* ---- the other packed layouts give the identical tensor ------------------ */

static void
test_packed_layouts(void)
{
  REQUIRE_REFERENCE(dir);
  (void) dir;
  static const struct {
    clip_pixel_format format;
    int bpp, r, g, b; /* byte offsets; the remaining byte is alpha/padding */
  } layouts[] = {
    { CLIP_FORMAT_BGR, 3, 2, 1, 0 },  { CLIP_FORMAT_RGBA, 4, 0, 1, 2 },
    { CLIP_FORMAT_BGRA, 4, 2, 1, 0 }, { CLIP_FORMAT_RGBX, 4, 0, 1, 2 },
    { CLIP_FORMAT_BGRX, 4, 2, 1, 0 }, { CLIP_FORMAT_XRGB, 4, 1, 2, 3 },
    { CLIP_FORMAT_XBGR, 4, 3, 2, 1 },
  };
  kit k;
  g_assert_true(kit_open(&k));
  for (size_t i = 0; i < G_N_ELEMENTS(kit_images); i++) {
    picture p = kit_picture(&k, kit_images[i]);
    const float *expected = kit_expected(&k, kit_images[i]);
    for (size_t l = 0; l < G_N_ELEMENTS(layouts); l++) {
      int bpp = layouts[l].bpp, stride = p.w * bpp + 13; /* padded, odd stride */
      uint8_t *buf = g_malloc((size_t) stride * p.h);
      for (size_t j = 0; j < (size_t) stride * p.h; j++)
        buf[j] = (uint8_t) (j * 7 + 3); /* alpha, padding: noise that must not matter */
      for (int y = 0; y < p.h; y++)
        for (int x = 0; x < p.w; x++) {
          const uint8_t *s = p.px + ((size_t) y * p.w + x) * 3;
          uint8_t *d = buf + (size_t) y * stride + (size_t) x * bpp;
          d[layouts[l].r] = s[0];
          d[layouts[l].g] = s[1];
          d[layouts[l].b] = s[2];
        }
      clip_image im = { .format = layouts[l].format,
                        .width = p.w,
                        .height = p.h,
                        .planes = { buf },
                        .strides = { stride } };
      float *out = run(&im);
      if (memcmp(out, expected, sizeof(float) * N_OUT) != 0)
        g_error("%s as format %d differs from the expected tensor", kit_images[i],
                (int) layouts[l].format);
      g_free(out);
      g_free(buf);
    }
    g_free(p.px);
  }
  kit_close(&k);
}

/* ---- GRAY8: Pillow converts L to RGB (R = G = B = L) after resizing ------ */

static void
test_gray8(void)
{
  REQUIRE_REFERENCE(dir);
  (void) dir;
  kit k;
  g_assert_true(kit_open(&k));
  clip_preprocess_params pp = clip_preprocess_default_params();
  for (size_t i = 0; i < G_N_ELEMENTS(kit_images); i++) {
    picture p = kit_picture(&k, kit_images[i]);
    int stride = p.w + 5;
    uint8_t *gray = g_malloc0((size_t) stride * p.h);
    picture rgb = { p.w, p.h, g_malloc((size_t) p.w * p.h * 3) };
    for (int y = 0; y < p.h; y++)
      for (int x = 0; x < p.w; x++) {
        const uint8_t *s = p.px + ((size_t) y * p.w + x) * 3;
        uint8_t l = (uint8_t) ((s[0] * 299 + s[1] * 587 + s[2] * 114 + 500) / 1000);
        gray[(size_t) y * stride + x] = l;
        memset(rgb.px + ((size_t) y * p.w + x) * 3, l, 3);
      }
    clip_image im = { .format = CLIP_FORMAT_GRAY8,
                      .width = p.w,
                      .height = p.h,
                      .planes = { gray },
                      .strides = { stride } };
    float *out = run(&im);
    /* Same as the RGB path on the grey picture (which is bit-exact with Pillow)... */
    clip_image im_rgb = rgb_image(&rgb);
    float *ref = run(&im_rgb);
    g_assert_cmpmem(out, sizeof(float) * N_OUT, ref, sizeof(float) * N_OUT);
    /* ...and each channel is the formula applied to the one resized grey plane. */
    uint8_t *u8 = g_malloc(N_OUT);
    clip_error err;
    g_assert_cmpint(clip_preprocess_frame_u8(&pp, &im, u8, &err), ==, CLIP_OK);
    for (int c = 0; c < 3; c++)
      for (int j = 0; j < S * S; j++) {
        float v = ((float) u8[j] / 255.0f - pp.mean[c]) / pp.std[c];
        g_assert_cmpint(u8[c * S * S + j], ==, u8[j]);
        g_assert_true(memcmp(&v, &out[c * S * S + j], sizeof v) == 0);
      }
    g_free(u8);
    g_free(out);
    g_free(ref);
    g_free(gray);
    g_free(rgb.px);
    g_free(p.px);
  }
  kit_close(&k);
}

/* ---- YUV: flat frames against the matrix formula ------------------------- */

/* A flat YUV frame has a flat resized picture whose RGB value is the
 * textbook conversion; within one level of rounding. */
static void
test_yuv_flat_matrix(void)
{
  static const uint8_t colours[][3] = { { 16, 128, 128 }, { 235, 128, 128 }, { 81, 90, 240 },
                                        { 145, 54, 34 },  { 41, 240, 110 },  { 0, 0, 255 },
                                        { 255, 255, 0 },  { 128, 100, 160 } };
  const int w = 37, h = 23, cw = (w + 1) / 2, ch = (h + 1) / 2;
  clip_preprocess_params pp = clip_preprocess_default_params();
  uint8_t *y = g_malloc(w * h), *u = g_malloc(cw * ch), *v = g_malloc(cw * ch);
  uint8_t *uv = g_malloc(2 * cw * ch), *u8 = g_malloc(N_OUT);
  for (size_t c = 0; c < G_N_ELEMENTS(colours); c++)
    for (int m = 0; m < 2; m++)
      for (int full = 0; full < 2; full++)
        for (int nv12 = 0; nv12 < 2; nv12++) {
          memset(y, colours[c][0], w * h);
          memset(u, colours[c][1], cw * ch);
          memset(v, colours[c][2], cw * ch);
          for (int j = 0; j < cw * ch; j++) {
            uv[2 * j] = colours[c][1];
            uv[2 * j + 1] = colours[c][2];
          }
          clip_image im = { .format = nv12 ? CLIP_FORMAT_NV12 : CLIP_FORMAT_I420,
                            .width = w,
                            .height = h,
                            .planes = { y, nv12 ? uv : u, v },
                            .strides = { w, nv12 ? 2 * cw : cw, cw },
                            .matrix = m ? CLIP_MATRIX_BT709 : CLIP_MATRIX_BT601,
                            .full_range = full };
          clip_error err;
          g_assert_cmpint(clip_preprocess_frame_u8(&pp, &im, u8, &err), ==, CLIP_OK);
          double kr = m ? 0.2126 : 0.299, kb = m ? 0.0722 : 0.114, kg = 1 - kr - kb;
          double yy = full ? colours[c][0] / 255.0 : (colours[c][0] - 16) / 219.0;
          double pb = (colours[c][1] - 128) / (full ? 255.0 : 224.0);
          double pr = (colours[c][2] - 128) / (full ? 255.0 : 224.0);
          double rgb[3] = { yy + 2 * (1 - kr) * pr,
                            yy - 2 * kb * (1 - kb) / kg * pb - 2 * kr * (1 - kr) / kg * pr,
                            yy + 2 * (1 - kb) * pb };
          for (int ch3 = 0; ch3 < 3; ch3++) {
            double want = CLAMP(rgb[ch3] * 255.0, 0.0, 255.0);
            for (int j = 0; j < S * S; j += 97)
              if (fabs(u8[ch3 * S * S + j] - want) > 1.0)
                g_error("YUV %d,%d,%d matrix %s %s range: channel %d is %d, expected %.2f",
                        colours[c][0], colours[c][1], colours[c][2], m ? "709" : "601",
                        full ? "full" : "limited", ch3, u8[ch3 * S * S + j], want);
          }
        }
  g_free(y);
  g_free(u);
  g_free(v);
  g_free(uv);
  g_free(u8);
}

/* ---- YUV made by GStreamer's videoconvert --------------------------------- */

#ifdef HAVE_GST_VIDEO

/* A 1280x720 picture (HD, so GStreamer co-sites chroma horizontally) with
 * gradients, saturated shapes and fine stripes, like the kit's images. */
static picture
synthetic_hd(void)
{
  picture p = { 1280, 720, g_malloc(1280 * 720 * 3) };
  for (int y = 0; y < p.h; y++)
    for (int x = 0; x < p.w; x++) {
      uint8_t *d = p.px + ((size_t) y * p.w + x) * 3;
      d[0] = (uint8_t) (x * 255 / p.w);
      d[1] = (uint8_t) (y * 255 / p.h);
      d[2] = (uint8_t) ((x + y) / 8 % 2 ? 200 : 40);
      int dx = x - 400, dy = y - 360;
      if (dx * dx + dy * dy < 150 * 150) {
        d[0] = 255;
        d[1] = 0;
        d[2] = 0;
      }
      if (x > 800 && x < 1100 && y > 200 && y < 500) {
        d[0] = 0;
        d[1] = 0;
        d[2] = 255;
      }
      if (y > 600)
        memset(d, x % 2 ? 255 : 0, 3);
    }
  return p;
}

/* A smooth picture (gradients and soft blobs, no hard edges), w x h. */
static picture
synthetic_smooth(int w, int h)
{
  picture p = { w, h, g_malloc((size_t) w * h * 3) };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double u = (double) x / w, v = (double) y / h;
      uint8_t *d = p.px + ((size_t) y * w + x) * 3;
      d[0] = (uint8_t) (127.5 + 120 * sin(6.0 * u + 1.0) * cos(3.0 * v));
      d[1] = (uint8_t) (127.5 + 120 * cos(5.0 * v - 2.0 * u));
      d[2] = (uint8_t) (127.5 + 120 * sin(4.0 * (u + v)));
    }
  return p;
}

/* Converts an RGB picture to a new buffer of `format` with GstVideoConverter.
 * out_info describes it (colorimetry and chroma siting set as the engine
 * assumes for a frame of this size). */
static GstBuffer *
gst_convert(const GstVideoInfo *in_info, GstBuffer *in, const GstVideoInfo *out_info)
{
  GstVideoConverter *conv = gst_video_converter_new(
      (GstVideoInfo *) in_info, (GstVideoInfo *) out_info,
      gst_structure_new("options", GST_VIDEO_CONVERTER_OPT_DITHER_METHOD,
                        GST_TYPE_VIDEO_DITHER_METHOD, GST_VIDEO_DITHER_NONE,
                        GST_VIDEO_CONVERTER_OPT_THREADS, G_TYPE_UINT, 1, NULL));
  g_assert_nonnull(conv);
  GstBuffer *out = gst_buffer_new_allocate(NULL, GST_VIDEO_INFO_SIZE(out_info), NULL);
  GstVideoFrame fin, fout;
  g_assert_true(gst_video_frame_map(&fin, (GstVideoInfo *) in_info, in, GST_MAP_READ));
  g_assert_true(gst_video_frame_map(&fout, (GstVideoInfo *) out_info, out, GST_MAP_WRITE));
  gst_video_converter_frame(conv, &fin, &fout);
  gst_video_frame_unmap(&fin);
  gst_video_frame_unmap(&fout);
  gst_video_converter_free(conv);
  return out;
}

static void
yuv_info(GstVideoInfo *info, GstVideoFormat format, int w, int h, bool bt709, bool full)
{
  gst_video_info_set_format(info, format, w, h);
  info->colorimetry.matrix = bt709 ? GST_VIDEO_COLOR_MATRIX_BT709 : GST_VIDEO_COLOR_MATRIX_BT601;
  info->colorimetry.range = full ? GST_VIDEO_COLOR_RANGE_0_255 : GST_VIDEO_COLOR_RANGE_16_235;
  /* Keep the transfer and primaries of the RGB side: no gamut conversion. */
  info->colorimetry.transfer = GST_VIDEO_TRANSFER_SRGB;
  info->colorimetry.primaries = GST_VIDEO_COLOR_PRIMARIES_BT709;
  info->chroma_site = h > 576 ? GST_VIDEO_CHROMA_SITE_H_COSITED : GST_VIDEO_CHROMA_SITE_NONE;
}

typedef struct {
  double max_abs, mean_abs, p99_abs;
} error_stats;

static int
cmp_float(const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

static error_stats
compare(const float *a, const float *b)
{
  error_stats e = { 0, 0, 0 };
  float *d = g_new(float, N_OUT);
  for (int j = 0; j < N_OUT; j++) {
    d[j] = fabsf(a[j] - b[j]);
    e.max_abs = MAX(e.max_abs, d[j]);
    e.mean_abs += d[j];
  }
  e.mean_abs /= N_OUT;
  qsort(d, N_OUT, sizeof *d, cmp_float);
  e.p99_abs = d[N_OUT * 99 / 100];
  g_free(d);
  return e;
}

/* Tolerances in normalized units: one uint8 level is 1/255/std, 0.0146,
 * 0.0150 and 0.0142 for R, G, B. docs/preprocessing.md explains them; in
 * short, on smooth content the engine's YUV path stays within a few levels
 * of videoconvert and closer to the original RGB than videoconvert is; on
 * hard-edged saturated content 4:2:0 leaves chroma undefined below two
 * pixels and the two converters' chroma upsampling filters disagree there. */
typedef struct {
  double vc_max, vc_p99, vc_mean; /* vs videoconvert's RGB, then the RGB path */
  double src_max, src_mean;       /* vs the original RGB picture */
} tolerance;

static const tolerance smooth_tol = { 0.12, 0.10, 0.04, 0.10, 0.02 };
static const tolerance edges_tol = { 2.2, 0.70, 0.10, 4.0, 0.20 };

static void
check_yuv_picture(const char *name, const picture *p, const tolerance *tol)
{
  GstVideoInfo rgb_info;
  gst_video_info_set_format(&rgb_info, GST_VIDEO_FORMAT_RGB, p->w, p->h);
  GstBuffer *rgb_buf = gst_buffer_new_allocate(NULL, GST_VIDEO_INFO_SIZE(&rgb_info), NULL);
  GstVideoFrame f;
  g_assert_true(gst_video_frame_map(&f, &rgb_info, rgb_buf, GST_MAP_WRITE));
  for (int y = 0; y < p->h; y++)
    memcpy((uint8_t *) GST_VIDEO_FRAME_PLANE_DATA(&f, 0)
               + (size_t) y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0),
           p->px + (size_t) y * p->w * 3, (size_t) p->w * 3);
  gst_video_frame_unmap(&f);
  clip_image src_im = rgb_image(p);
  float *from_source = run(&src_im);

  static const GstVideoFormat formats[] = { GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_NV12,
                                            GST_VIDEO_FORMAT_Y444 };
  static const clip_pixel_format clip_formats[] = { CLIP_FORMAT_I420, CLIP_FORMAT_NV12,
                                                    CLIP_FORMAT_Y444 };
  static const char *names[] = { "I420", "NV12", "Y444" };
  for (int fi = 0; fi < 3; fi++)
    for (int m = 0; m < 2; m++)
      for (int full = 0; full < 2; full++) {
        GstVideoInfo yinfo;
        yuv_info(&yinfo, formats[fi], p->w, p->h, m, full);
        GstBuffer *ybuf = gst_convert(&rgb_info, rgb_buf, &yinfo);

        /* The YUV frame through the engine. */
        GstVideoFrame yf;
        g_assert_true(gst_video_frame_map(&yf, &yinfo, ybuf, GST_MAP_READ));
        clip_image im = { .format = clip_formats[fi],
                          .width = p->w,
                          .height = p->h,
                          .matrix = m ? CLIP_MATRIX_BT709 : CLIP_MATRIX_BT601,
                          .full_range = full };
        for (int pl = 0; pl < (fi == 1 ? 2 : 3); pl++) {
          im.planes[pl] = GST_VIDEO_FRAME_PLANE_DATA(&yf, pl);
          im.strides[pl] = GST_VIDEO_FRAME_PLANE_STRIDE(&yf, pl);
        }
        float *from_yuv = run(&im);
        gst_video_frame_unmap(&yf);

        /* Reference: the same YUV frame converted to RGB by videoconvert,
         * then the (Pillow-exact) RGB path. */
        GstBuffer *back = gst_convert(&yinfo, ybuf, &rgb_info);
        g_assert_true(gst_video_frame_map(&f, &rgb_info, back, GST_MAP_READ));
        clip_image back_im = { .format = CLIP_FORMAT_RGB,
                               .width = p->w,
                               .height = p->h,
                               .planes = { GST_VIDEO_FRAME_PLANE_DATA(&f, 0) },
                               .strides = { GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0) } };
        float *from_back = run(&back_im);
        gst_video_frame_unmap(&f);

        error_stats e = compare(from_yuv, from_back), s = compare(from_yuv, from_source),
                    b = compare(from_back, from_source);
        g_test_message("%-18s %s BT.%s %-7s: vs videoconvert max %.4f p99 %.4f mean %.5f | "
                       "vs source max %.4f mean %.5f | videoconvert vs source max %.4f "
                       "mean %.5f",
                       name, names[fi], m ? "709" : "601", full ? "full" : "limited", e.max_abs,
                       e.p99_abs, e.mean_abs, s.max_abs, s.mean_abs, b.max_abs, b.mean_abs);
        g_assert_cmpfloat(e.max_abs, <=, tol->vc_max);
        g_assert_cmpfloat(e.p99_abs, <=, tol->vc_p99);
        g_assert_cmpfloat(e.mean_abs, <=, tol->vc_mean);
        g_assert_cmpfloat(s.max_abs, <=, tol->src_max);
        /* 4:4:4 keeps every pixel's 8-bit chroma rounding, which 4:2:0
         * averages away: 0.025 (≈ 1.7 levels) against the source */
        g_assert_cmpfloat(s.mean_abs, <=, fi == 2 ? MAX(tol->src_mean, 0.025) : tol->src_mean);
        if (tol == &smooth_tol) /* at least as faithful as videoconvert itself */
          g_assert_cmpfloat(s.mean_abs, <=, b.mean_abs);
        g_free(from_yuv);
        g_free(from_back);
        gst_buffer_unref(back);
        gst_buffer_unref(ybuf);
      }
  g_free(from_source);
  gst_buffer_unref(rgb_buf);
}

static void
test_yuv_vs_videoconvert(void)
{
  REQUIRE_REFERENCE(dir);
  (void) dir;
  kit k;
  g_assert_true(kit_open(&k));
  for (size_t i = 0; i < G_N_ELEMENTS(kit_images); i++) {
    picture p = kit_picture(&k, kit_images[i]);
    check_yuv_picture(kit_images[i], &p, &edges_tol);
    g_free(p.px);
  }
  kit_close(&k);
  picture hd = synthetic_hd();
  check_yuv_picture("synthetic_1280x720", &hd, &edges_tol);
  g_free(hd.px);
  picture sm = synthetic_smooth(640, 360);
  check_yuv_picture("smooth_640x360", &sm, &smooth_tol);
  g_free(sm.px);
  sm = synthetic_smooth(1920, 1080);
  check_yuv_picture("smooth_1920x1080", &sm, &smooth_tol);
  g_free(sm.px);
}
#endif

/* ---- SIMD and portable kernels agree ---------------------------------- */

/* The integer sums are exact, so the AVX2 kernels (used where the CPU has
 * them) and the portable C ones must give the same bytes, for every bpp the
 * horizontal pass knows (1, 2, 3, 4), down- and upscaling, odd sizes. */
static void
test_portable_kernels(void)
{
  static const int sizes[][2] = { { 1920, 1080 }, { 393, 292 }, { 97, 129 },
                                  { 224, 256 },   { 161, 119 }, { 1000, 37 } };
  static const clip_pixel_format formats[] = { CLIP_FORMAT_RGB,  CLIP_FORMAT_BGRA,
                                               CLIP_FORMAT_XRGB, CLIP_FORMAT_GRAY8,
                                               CLIP_FORMAT_I420, CLIP_FORMAT_NV12,
                                               CLIP_FORMAT_Y444 };
  clip_preprocess_params pp = clip_preprocess_default_params();
  uint8_t *a = g_malloc(N_OUT), *b = g_malloc(N_OUT);
  GRand *rng = g_rand_new_with_seed(7);
  for (size_t si = 0; si < G_N_ELEMENTS(sizes); si++) {
    int w = sizes[si][0], h = sizes[si][1], cw = (w + 1) / 2, ch = (h + 1) / 2;
    size_t n = (size_t) w * h * 4 + 64;
    uint8_t *px = g_malloc(n);
    for (size_t j = 0; j < n; j++) /* smooth ramps plus noise and hard steps */
      px[j] = (uint8_t) ((j / 7 % 256) ^ (g_rand_int(rng) & 0x1f) ^ ((j / 4096) % 2 ? 0xc0 : 0));
    for (size_t f = 0; f < G_N_ELEMENTS(formats); f++) {
      clip_image im = {
        .format = formats[f], .width = w, .height = h, .planes = { px }, .matrix = CLIP_MATRIX_BT709
      };
      switch (formats[f]) {
      case CLIP_FORMAT_RGB: im.strides[0] = w * 3; break;
      case CLIP_FORMAT_GRAY8: im.strides[0] = w + 1; break;
      case CLIP_FORMAT_I420:
        im.strides[0] = w;
        im.strides[1] = im.strides[2] = cw;
        im.planes[1] = px + (size_t) w * h;
        im.planes[2] = px + (size_t) w * h + (size_t) cw * ch;
        break;
      case CLIP_FORMAT_NV12:
        im.strides[0] = w;
        im.strides[1] = 2 * cw;
        im.planes[1] = px + (size_t) w * h;
        break;
      case CLIP_FORMAT_Y444:
        im.strides[0] = im.strides[1] = im.strides[2] = w;
        im.planes[1] = px + (size_t) w * h;
        im.planes[2] = px + (size_t) 2 * w * h;
        break;
      default: im.strides[0] = w * 4; break;
      }
      clip_error err;
      g_assert_cmpint(clip_preprocess_frame_u8(&pp, &im, a, &err), ==, CLIP_OK);
      g_assert_cmpint(clip_preprocess_frame_u8_portable(&pp, &im, b, &err), ==, CLIP_OK);
      if (memcmp(a, b, N_OUT) != 0)
        g_error("%dx%d format %d: SIMD and portable kernels differ", w, h, (int) formats[f]);
    }
    g_free(px);
  }
  g_rand_free(rng);
  g_free(a);
  g_free(b);
}

/* ---- argument errors ---------------------------------------------------- */

static void
expect_error(const clip_preprocess_params *pp, const clip_image *im, const char *part)
{
  clip_error err = { 0 };
  float *out = g_new(float, N_OUT);
  g_assert_cmpint(clip_preprocess_frame(pp, im, out, &err), ==, CLIP_ERR_ARG);
  g_assert_cmpint(err.status, ==, CLIP_ERR_ARG);
  if (!strstr(err.message, part))
    g_error("error message '%s' lacks '%s'", err.message, part);
  g_free(out);
}

static void
test_errors(void)
{
  static uint8_t px[64 * 64 * 4];
  clip_preprocess_params pp = clip_preprocess_default_params();
  clip_image ok = {
    .format = CLIP_FORMAT_RGB, .width = 64, .height = 48, .planes = { px }, .strides = { 64 * 3 }
  };
  clip_image im;
  clip_error err;
  float out[16];

  g_assert_cmpint(clip_preprocess_frame(&pp, NULL, out, &err), ==, CLIP_ERR_ARG);
  g_assert_nonnull(strstr(err.message, "NULL image"));
  g_assert_cmpint(clip_preprocess_frame(NULL, &ok, out, &err), ==, CLIP_ERR_ARG);
  g_assert_cmpint(clip_preprocess_frame(&pp, &ok, NULL, &err), ==, CLIP_ERR_ARG);
  g_assert_nonnull(strstr(err.message, "NULL output"));
  /* A NULL clip_error is allowed. */
  g_assert_cmpint(clip_preprocess_frame(&pp, NULL, out, NULL), ==, CLIP_ERR_ARG);

  im = ok;
  im.planes[0] = NULL;
  expect_error(&pp, &im, "planes[0] is NULL");
  im = ok;
  im.width = 0;
  expect_error(&pp, &im, "size 0x48 out of range");
  im = ok;
  im.height = -5;
  expect_error(&pp, &im, "size 64x-5 out of range");
  im = ok;
  im.width = 100000;
  expect_error(&pp, &im, "out of range (1..32768");
  im = ok;
  im.strides[0] = 64 * 3 - 1;
  expect_error(&pp, &im, "strides[0] is 191 bytes, smaller than a row");
  im = ok;
  im.format = CLIP_FORMAT_XBGR; /* 4 bytes per pixel: a 3-byte stride is short */
  expect_error(&pp, &im, "strides[0] is 192 bytes, smaller than a row of the xBGR plane (256");
  im = ok;
  im.strides[0] = -192;
  expect_error(&pp, &im, "strides[0] is -192");
  im = ok;
  im.format = (clip_pixel_format) 77;
  expect_error(&pp, &im, "unknown pixel format 77");

  /* YUV: every plane is needed, chroma rows are (w + 1) / 2 wide. */
  clip_image yuv = { .format = CLIP_FORMAT_I420,
                     .width = 63,
                     .height = 47,
                     .planes = { px, px, px },
                     .strides = { 63, 32, 32 } };
  clip_preprocess_params pp1 = pp;
  g_assert_cmpint(clip_preprocess_frame(&pp1, &yuv, g_newa(float, N_OUT), &err), ==, CLIP_OK);
  im = yuv;
  im.planes[2] = NULL;
  expect_error(&pp, &im, "planes[2] is NULL (format I420 needs it)");
  im = yuv;
  im.strides[1] = 31;
  expect_error(&pp, &im, "strides[1] is 31 bytes, smaller than a row of the I420 plane (32");
  im = yuv;
  im.format = CLIP_FORMAT_NV12;
  expect_error(&pp, &im, "strides[1] is 32 bytes, smaller than a row of the NV12 plane (64");
  im.strides[1] = 64;
  im.planes[1] = NULL;
  expect_error(&pp, &im, "planes[1] is NULL");
  im = yuv;
  im.matrix = (clip_yuv_matrix) 9;
  expect_error(&pp, &im, "unknown YUV matrix 9");
  im = ok;
  im.format = CLIP_FORMAT_GRAY8;
  im.strides[0] = 63;
  expect_error(&pp, &im, "strides[0] is 63 bytes");

  /* Parameters. */
  clip_preprocess_params bad = pp;
  bad.size = 0;
  expect_error(&bad, &ok, "output size 0 out of range");
  bad.size = -224;
  expect_error(&bad, &ok, "output size -224 out of range");
  bad.size = 100000;
  expect_error(&bad, &ok, "output size 100000 out of range");
  bad = pp;
  bad.std[1] = 0.0f;
  expect_error(&bad, &ok, "channel 1 has mean");
  bad = pp;
  bad.mean[2] = NAN;
  expect_error(&bad, &ok, "channel 2 has mean nan");
}

/* Tiny and very elongated frames still give a full, finite tensor. */
static void
test_extreme_geometry(void)
{
  static const int sizes[][2] = { { 1, 1 }, { 1, 500 }, { 500, 1 }, { 3, 2 }, { 2000, 7 } };
  clip_preprocess_params pp = clip_preprocess_default_params();
  for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
    int w = sizes[i][0], h = sizes[i][1];
    uint8_t *px = g_malloc((size_t) w * h * 3);
    for (int j = 0; j < w * h * 3; j++)
      px[j] = (uint8_t) (j * 31);
    uint8_t *yuv = g_malloc((size_t) w * h * 2 + 4);
    memset(yuv, 128, (size_t) w * h * 2 + 4);
    clip_image ims[] = {
      { .format = CLIP_FORMAT_RGB,
        .width = w,
        .height = h,
        .planes = { px },
        .strides = { w * 3 } },
      { .format = CLIP_FORMAT_NV12,
        .width = w,
        .height = h,
        .planes = { yuv, yuv + (size_t) w * h },
        .strides = { w, 2 * ((w + 1) / 2) } },
    };
    for (size_t k = 0; k < G_N_ELEMENTS(ims); k++) {
      float *out = g_new(float, N_OUT);
      clip_error err;
      g_assert_cmpint(clip_preprocess_frame(&pp, &ims[k], out, &err), ==, CLIP_OK);
      for (int j = 0; j < N_OUT; j++)
        g_assert_true(isfinite(out[j]) && fabsf(out[j]) < 3.0f);
      g_free(out);
    }
    g_free(px);
    g_free(yuv);
  }
}

/* ---- clip-tool preprocess / score (image decoding) ---------------------- */

/* Runs clip-tool with args; returns its exit status, stderr in *err_out. */
static int
run_tool_out(const char *const *args, char **out_out, char **err_out)
{
  return testutil_run_tool(args, out_out, err_out);
}

static int
run_tool(const char *const *args, char **err_out)
{
  return run_tool_out(args, NULL, err_out);
}

static void
expect_tool_failure(const char *const *args, int code, const char *part)
{
  char *err = NULL;
  int rc = run_tool(args, &err);
  if (rc != code || !strstr(err, part))
    g_error("clip-tool %s: exit %d (expected %d), stderr '%s' lacks '%s'", args[0], rc, code, err,
            part);
  g_free(err);
}

static void
test_tool_preprocess(void)
{
  REQUIRE_REFERENCE(dir);
  char *src = g_build_filename(dir, "preprocess", "source_rgb.safetensors", NULL);
  char *out = g_build_filename(testutil_tmpdir(), "pre.safetensors", NULL);
  const char *args[] = { "preprocess", "--input", src, "--output", out, NULL };
  char *err = NULL;
  int rc = run_tool(args, &err);
  if (rc != 0)
    g_error("clip-tool preprocess failed (%d): %s", rc, err);
  g_free(err);

  kit k;
  g_assert_true(kit_open(&k));
  clip_error cerr;
  st_file *f = st_open(out, &cerr);
  g_assert_true(f || (g_printerr("%s\n", cerr.message), FALSE));
  g_assert_cmpint(st_count(f), ==, G_N_ELEMENTS(kit_images));
  for (size_t i = 0; i < G_N_ELEMENTS(kit_images); i++) {
    const st_tensor *t = st_find(f, kit_images[i]);
    g_assert_nonnull(t);
    g_assert_cmpint(t->dtype, ==, ST_F32);
    g_assert_cmpint(t->n_dims, ==, 3);
    g_assert_cmpint(t->shape[0], ==, 3);
    g_assert_cmpint(t->shape[1], ==, S);
    g_assert_cmpint(t->shape[2], ==, S);
    g_assert_cmpmem(t->data, t->n_bytes, kit_expected(&k, kit_images[i]), sizeof(float) * N_OUT);
  }
  st_close(f);
  kit_close(&k);

  /* --size changes S. */
  const char *sized[] = { "preprocess", "--input", src, "--output", out, "--size", "32", NULL };
  g_assert_cmpint(run_tool(sized, NULL), ==, 0);
  f = st_open(out, &cerr);
  g_assert_nonnull(f);
  g_assert_cmpint(st_find(f, kit_images[0])->shape[2], ==, 32);
  st_close(f);

  /* Bad arguments and a tensor that is not U8 [H, W, 3]. */
  const char *no_out[] = { "preprocess", "--input", src, NULL };
  expect_tool_failure(no_out, 2, "usage: clip-tool preprocess");
  const char *bad_size[] = { "preprocess", "--input", src, "--output", out, "--size", "0", NULL };
  expect_tool_failure(bad_size, 2, "--size '0' is not an integer in 1..4096");
  const char *missing[] = { "preprocess", "--input", "/nonexistent/x.safetensors",
                            "--output",   out,       NULL };
  expect_tool_failure(missing, 1, "/nonexistent/x.safetensors");
  st_writer *w = st_writer_new();
  float v[6] = { 0 };
  int64_t shape[3] = { 1, 2, 3 };
  g_assert_cmpint(st_writer_add(w, "not_pixels", ST_F32, 3, shape, v, &cerr), ==, CLIP_OK);
  char *bad = g_build_filename(testutil_tmpdir(), "f32.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, bad, &cerr), ==, CLIP_OK);
  st_writer_free(w);
  const char *wrong[] = { "preprocess", "--input", bad, "--output", out, NULL };
  expect_tool_failure(wrong, 1,
                      "tensor 'not_pixels' is F32 with 3 dimensions, expected U8 [H, W, 3]");
  g_free(bad);
  g_free(src);
  g_free(out);
}

/* score decodes the image before it loads the model, so image errors need no model. */
static void
test_tool_score_image_errors(void)
{
  const char *usage[] = { "score", "model", NULL };
  expect_tool_failure(usage, 2, "usage: clip-tool score");
  const char *bad_opt[] = { "score", "model", "img.ppm", "a", "--frobnicate", NULL };
  expect_tool_failure(bad_opt, 2, "unknown option '--frobnicate'");
  const char *missing[] = { "score", "model", "/nonexistent/img.png", "cat", NULL };
  expect_tool_failure(missing, 1,
                      "/nonexistent/img.png: cannot read the image: no such file or directory");

  static const char truncated[] = "P6\n4 4\n255\nabc";
  char *ppm = testutil_write_file("trunc.ppm", truncated, sizeof truncated - 1);
  const char *trunc_args[] = { "score", "model", ppm, "cat", NULL };
  expect_tool_failure(trunc_args, 1, "truncated P6 data (expected 48 bytes of pixels, found 3)");
  static const char header[] = "P6\n4 x\n255\n";
  char *hdr = testutil_write_file("header.ppm", header, sizeof header - 1);
  const char *hdr_args[] = { "score", "model", hdr, "cat", NULL };
  expect_tool_failure(hdr_args, 1, "bad P6 header");
  static const char text[] = "this is not an image, just text\n";
  char *txt = testutil_write_file("text.png", text, sizeof text - 1);
  const char *txt_args[] = { "score", "model", txt, "cat", NULL };
#ifdef HAVE_GST_VIDEO
  expect_tool_failure(txt_args, 1, "text.png: cannot decode");
#else
  expect_tool_failure(txt_args, 1, "text.png");
#endif
  /* A valid PPM gets past decoding: the failure is now the model path. */
  static const char good[] = "P6\n# a comment\n2 1\n255\n\xff\x00\x00\x00\x00\xff";
  char *ok = testutil_write_file("ok.ppm", good, sizeof good - 1);
  const char *ok_args[] = { "score", "/nonexistent/model", ok, "cat", NULL };
  expect_tool_failure(ok_args, 1, "/nonexistent/model");
  g_free(ppm);
  g_free(hdr);
  g_free(txt);
  g_free(ok);
}

/* End to end: PNG file -> decode -> preprocess -> encode -> score, against
 * the kit's logits_per_image (rows 1-4 are the four preprocess images). */
static void
test_tool_score_reference(void)
{
  REQUIRE_REFERENCE(dir);
  char *model = g_build_filename(dir, "tiny-b32", NULL);
  char *ref_json = g_build_filename(model, "reference.json", NULL);
  char *ref_st = g_build_filename(model, "reference.safetensors", NULL);
  char *json = NULL;
  g_assert_true(g_file_get_contents(ref_json, &json, NULL, NULL));
  cJSON *root = cJSON_Parse(json);
  cJSON *texts = cJSON_GetObjectItem(root, "texts");
  g_assert_true(cJSON_IsArray(texts));
  int n_texts = cJSON_GetArraySize(texts);
  clip_error cerr;
  st_file *ref = st_open(ref_st, &cerr);
  g_assert_nonnull(ref);
  const st_tensor *logits = st_find(ref, "logits_per_image");
  g_assert_nonnull(logits);
  g_assert_cmpint(logits->shape[1], ==, n_texts);

  /* Texts usable as labels: non-empty, no '|' (synonym separator). */
  GPtrArray *args = g_ptr_array_new();
  GArray *cols = g_array_new(FALSE, FALSE, sizeof(int));
  for (int t = 0; t < n_texts; t++) {
    const char *text = cJSON_GetArrayItem(texts, t)->valuestring;
    if (text && *text && !strchr(text, '|')) {
      g_array_append_val(cols, t);
    }
  }
  for (size_t i = 0; i < G_N_ELEMENTS(kit_images); i++) {
    char *png = g_strdup_printf("%s/preprocess/%s.png", dir, kit_images[i]);
    g_ptr_array_set_size(args, 0);
    g_ptr_array_add(args, "score");
    g_ptr_array_add(args, model);
    g_ptr_array_add(args, png);
    for (guint k = 0; k < cols->len; k++)
      g_ptr_array_add(args, cJSON_GetArrayItem(texts, g_array_index(cols, int, k))->valuestring);
    g_ptr_array_add(args, NULL);
    char *out = NULL, *err = NULL;
    int rc = run_tool_out((const char *const *) args->pdata, &out, &err);
    if (rc != 0)
      g_error("clip-tool score %s: exit %d: %s", png, rc, err);
    cJSON *res = cJSON_Parse(out);
    g_assert_nonnull(res);
    g_assert_cmpstr(cJSON_GetObjectItem(res, "image")->valuestring, ==, png);
    cJSON *sims = cJSON_GetObjectItem(res, "similarities"),
          *scores = cJSON_GetObjectItem(res, "scores");
    g_assert_cmpint(cJSON_GetArraySize(sims), ==, cols->len);
    g_assert_cmpint(cJSON_GetArraySize(scores), ==, cols->len);
    g_assert_cmpint(cJSON_GetArraySize(cJSON_GetObjectItem(res, "labels")), ==, cols->len);
    const float *row = (const float *) logits->data + (i + 1) * n_texts;
    double max_err = 0, zmax = -1e30, zsum = 0;
    for (guint k = 0; k < cols->len; k++) {
      double l = row[g_array_index(cols, int, k)];
      max_err = MAX(max_err, fabs(100.0 * cJSON_GetArrayItem(sims, k)->valuedouble - l));
      zmax = MAX(zmax, l);
    }
    for (guint k = 0; k < cols->len; k++)
      zsum += exp(row[g_array_index(cols, int, k)] - zmax);
    for (guint k = 0; k < cols->len; k++) {
      double p = exp(row[g_array_index(cols, int, k)] - zmax) / zsum;
      g_assert_cmpfloat(fabs(cJSON_GetArrayItem(scores, k)->valuedouble - p), <=, 1e-4);
    }
    g_test_message("%s: max |100 cos - logits_per_image| = %.3g over %u texts", kit_images[i],
                   max_err, cols->len);
    /* The kit's recommended absolute tolerance on logits near 100 is 2e-3. */
    g_assert_cmpfloat(max_err, <=, 2e-3);
    cJSON_Delete(res);
    g_free(out);
    g_free(err);
    g_free(png);
  }
  g_array_free(cols, TRUE);
  g_ptr_array_free(args, TRUE);
  st_close(ref);
  cJSON_Delete(root);
  g_free(json);
  g_free(ref_json);
  g_free(ref_st);
  g_free(model);
}

/* Templates and synonyms reach clip_embed_labels: "{}" as the only template
 * is the same as none, and a synonym label prints as given. */
static void
test_tool_score_templates(void)
{
  REQUIRE_REFERENCE(dir);
  char *model = g_build_filename(dir, "tiny-b32", NULL);
  char *png = g_build_filename(dir, "preprocess", "portrait_97x129.png", NULL);
  const char *plain[] = { "score", model, png, "a cat", "a dog|a puppy", NULL };
  const char *braces[] = {
    "score", model, png, "a cat", "--template", "{}", "a dog|a puppy", NULL
  };
  const char *photo[] = {
    "score", model,           png, "--template", "a photo of {}.", "--template", "a picture of {}.",
    "a cat", "a dog|a puppy", NULL
  };
  char *out[3] = { NULL, NULL, NULL };
  g_assert_cmpint(run_tool_out(plain, &out[0], NULL), ==, 0);
  g_assert_cmpint(run_tool_out(braces, &out[1], NULL), ==, 0);
  g_assert_cmpint(run_tool_out(photo, &out[2], NULL), ==, 0);
  g_assert_cmpstr(out[0], ==, out[1]);
  g_assert_cmpstr(out[0], !=, out[2]);
  cJSON *res = cJSON_Parse(out[2]);
  g_assert_cmpstr(cJSON_GetArrayItem(cJSON_GetObjectItem(res, "labels"), 1)->valuestring, ==,
                  "a dog|a puppy");
  double total = 0;
  for (int k = 0; k < 2; k++)
    total += cJSON_GetArrayItem(cJSON_GetObjectItem(res, "scores"), k)->valuedouble;
  g_assert_cmpfloat(fabs(total - 1.0), <=, 1e-5);
  cJSON_Delete(res);
  for (int k = 0; k < 3; k++)
    g_free(out[k]);
  const char *dangling[] = { "score", model, png, "a cat", "--template", NULL };
  expect_tool_failure(dangling, 2, "usage: clip-tool score");
  g_free(model);
  g_free(png);
}

/* The change gate's measure: the mean absolute difference, exact on
 * values a float holds exactly, symmetric, and 0 for no input. */
static void
test_input_change(void)
{
  const float a[4] = { 0.5f, -1.0f, 2.0f, 0.0f };
  const float b[4] = { 0.25f, 1.0f, 2.0f, -0.75f };

  g_assert_cmpfloat(clip_input_change(a, a, 4), ==, 0.0);
  /* (0.25 + 2 + 0 + 0.75) / 4 */
  g_assert_cmpfloat(clip_input_change(a, b, 4), ==, 0.75);
  g_assert_cmpfloat(clip_input_change(b, a, 4), ==, 0.75);
  g_assert_cmpfloat(clip_input_change(a, b, 1), ==, 0.25);
  g_assert_cmpfloat(clip_input_change(a, b, 0), ==, 0.0);
}

int
main(int argc, char **argv)
{
#ifdef HAVE_GST_VIDEO
  gst_init(&argc, &argv);
#endif
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/preprocess/rgb-bit-exact", test_rgb_bit_exact);
  g_test_add_func("/preprocess/packed-layouts", test_packed_layouts);
  g_test_add_func("/preprocess/gray8", test_gray8);
  g_test_add_func("/preprocess/yuv-flat-matrix", test_yuv_flat_matrix);
#ifdef HAVE_GST_VIDEO
  g_test_add_func("/preprocess/yuv-vs-videoconvert", test_yuv_vs_videoconvert);
#endif
  g_test_add_func("/preprocess/portable-kernels", test_portable_kernels);
  g_test_add_func("/preprocess/errors", test_errors);
  g_test_add_func("/preprocess/input-change", test_input_change);
  g_test_add_func("/preprocess/extreme-geometry", test_extreme_geometry);
  g_test_add_func("/preprocess/clip-tool-preprocess", test_tool_preprocess);
  g_test_add_func("/preprocess/clip-tool-score-image-errors", test_tool_score_image_errors);
  g_test_add_func("/preprocess/clip-tool-score-reference", test_tool_score_reference);
  g_test_add_func("/preprocess/clip-tool-score-templates", test_tool_score_templates);
  return g_test_run();
}
