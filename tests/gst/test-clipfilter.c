/* test-clipfilter.c — GstCheck tests of the clipfilter element and GstClipMeta.
 *
 * The kit's tiny-b32 model has random weights: scores are checked for
 * equality with the engine called directly on the same frame, not for
 * meaning. Every test needs the kit; without it the whole program is
 * skipped (exit 77), except under CI=true where that is a failure. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <string.h>

#include "clip.h"
#include "gstclipmeta.h"
#include "gstclipfilter.h"

static gchar *model_path;       /* the kit's tiny-b32 */
static clip_model *ref_model;   /* the engine, for expected values */
static clip_ctx *ref_ctx;

#define PROMPTS "a photo of a cat|a cat;a dog;a red car"

/* ---- helpers ------------------------------------------------------------ */

/* A clipfilter on tiny-b32 with the given properties (NULL-terminated).
 * The random weights make cosines meaningless, so the absolute similarity
 * gate (tuned for the shipped model) is off unless a test sets it. */
static GstElement *
make_filter (const gchar * first, ...)
{
  GstElement *e = gst_element_factory_make ("clipfilter", NULL);
  va_list ap;

  fail_unless (e != NULL, "clipfilter not found (GST_PLUGIN_PATH?)");
  g_object_set (e, "model", model_path, "prompts", PROMPTS, "mode", 1,
      "min-similarity", -1.0, NULL);
  if (first) {
    va_start (ap, first);
    g_object_set_valist (G_OBJECT (e), first, ap);
    va_end (ap);
  }
  return e;
}

typedef struct
{
  GstHarness *h;
  GstBus *bus;
  GstElement *e;
} Fixture;

/* Plays @e in a harness with @caps; messages go to a private bus. */
static Fixture
fixture_start (GstElement * e, const gchar * caps)
{
  Fixture f;

  f.e = e;
  f.bus = gst_bus_new ();
  gst_element_set_bus (e, f.bus);
  f.h = gst_harness_new_with_element (e, "sink", "src");
  gst_harness_set_src_caps_str (f.h, caps);
  return f;
}

static void
fixture_stop (Fixture * f)
{
  gst_harness_teardown (f->h);
  gst_element_set_bus (f->e, NULL);
  gst_bus_set_flushing (f->bus, TRUE);
  gst_object_unref (f->bus);
  gst_object_unref (f->e);
}

/* A frame of @info with a deterministic pattern that depends on @seed. */
static GstBuffer *
make_frame (const GstVideoInfo * info, guint seed, GstClockTime pts)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstVideoFrame frame;
  guint p, x, y;

  fail_unless (gst_video_frame_map (&frame, info, buf, GST_MAP_WRITE));
  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&frame); p++) {
    guint8 *d = GST_VIDEO_FRAME_PLANE_DATA (&frame, p);
    gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, p);
    guint rows = GST_VIDEO_FRAME_COMP_HEIGHT (&frame, p);
    for (y = 0; y < rows; y++)
      for (x = 0; x < (guint) stride; x++)
        d[y * stride + x] = (guint8) (x * 7 + y * 13 + seed * 61 + p * 50
            + ((x / 8 + y / 8 + seed) % 2) * 90);
  }
  gst_video_frame_unmap (&frame);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 10;
  return buf;
}

static GstVideoInfo
info_from_caps (const gchar * caps_str)
{
  GstVideoInfo info;
  GstCaps *caps = gst_caps_from_string (caps_str);

  fail_unless (gst_video_info_from_caps (&info, caps));
  gst_caps_unref (caps);
  return info;
}

static clip_pixel_format
clip_format (GstVideoFormat f)
{
  switch (f) {
    case GST_VIDEO_FORMAT_RGB:
      return CLIP_FORMAT_RGB;
    case GST_VIDEO_FORMAT_BGR:
      return CLIP_FORMAT_BGR;
    case GST_VIDEO_FORMAT_RGBA:
      return CLIP_FORMAT_RGBA;
    case GST_VIDEO_FORMAT_BGRA:
      return CLIP_FORMAT_BGRA;
    case GST_VIDEO_FORMAT_RGBx:
      return CLIP_FORMAT_RGBX;
    case GST_VIDEO_FORMAT_BGRx:
      return CLIP_FORMAT_BGRX;
    case GST_VIDEO_FORMAT_xRGB:
      return CLIP_FORMAT_XRGB;
    case GST_VIDEO_FORMAT_xBGR:
      return CLIP_FORMAT_XBGR;
    case GST_VIDEO_FORMAT_I420:
      return CLIP_FORMAT_I420;
    case GST_VIDEO_FORMAT_NV12:
      return CLIP_FORMAT_NV12;
    case GST_VIDEO_FORMAT_Y444:
      return CLIP_FORMAT_Y444;
    default:
      return CLIP_FORMAT_GRAY8;
  }
}

/* Expected similarities and probabilities, through the engine alone. */
static void
engine_scores (const gchar * const *specs, gint n, const gchar * const *tmpl,
    gint nt, const GstVideoInfo * info, GstBuffer * buf, gfloat * sims,
    gfloat * probs, gfloat * embed)
{
  const clip_model_info *mi = clip_model_get_info (ref_model);
  gfloat *labels = g_new (gfloat, (gsize) n * mi->embed_dim);
  gfloat *pixels = g_new (gfloat, (gsize) 3 * mi->image_size * mi->image_size);
  gfloat *e = embed ? embed : g_new (gfloat, mi->embed_dim);
  clip_error err = { 0 };
  clip_image im = { 0 };
  GstVideoFrame frame;
  guint p;

  fail_unless_equals_int (clip_embed_labels (ref_ctx, specs, n, tmpl, nt,
          labels, &err), CLIP_OK);
  fail_unless (gst_video_frame_map (&frame, info, buf, GST_MAP_READ));
  im.format = clip_format (GST_VIDEO_INFO_FORMAT (info));
  im.width = GST_VIDEO_INFO_WIDTH (info);
  im.height = GST_VIDEO_INFO_HEIGHT (info);
  im.matrix = info->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709 ?
      CLIP_MATRIX_BT709 : CLIP_MATRIX_BT601;
  im.full_range = info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255;
  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&frame); p++) {
    im.planes[p] = GST_VIDEO_FRAME_PLANE_DATA (&frame, p);
    im.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, p);
  }
  fail_unless_equals_int (clip_preprocess (ref_model, &im, pixels, &err),
      CLIP_OK);
  gst_video_frame_unmap (&frame);
  fail_unless_equals_int (clip_encode_images (ref_ctx, pixels, 1, e, NULL,
          &err), CLIP_OK);
  clip_score (ref_model, e, labels, n, sims, probs);
  if (!embed)
    g_free (e);
  g_free (pixels);
  g_free (labels);
}

/* Pops the next element message named @name, or NULL when there is none. */
static GstMessage *
pop_message (GstBus * bus, const gchar * name)
{
  GstMessage *m;

  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    if (gst_message_has_name (m, name))
      return m;
    gst_message_unref (m);
  }
  return NULL;
}

static guint
count_messages (GstBus * bus, const gchar * name)
{
  GstMessage *m;
  guint n = 0;

  while ((m = pop_message (bus, name))) {
    n++;
    gst_message_unref (m);
  }
  return n;
}

/* Pops every element message named @name, in order, and checks there are
 * @n of them. */
static GPtrArray *
pop_all (GstBus * bus, const gchar * name, guint n)
{
  GPtrArray *msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_message_unref);
  GstMessage *m;

  while ((m = pop_message (bus, name)))
    g_ptr_array_add (msgs, m);
  fail_unless_equals_int (msgs->len, n);
  return msgs;
}

/* Pushes @n frames of @info, 100 ms apart from 0 s (from 0.9 s down to 0
 * when @reverse), and drops what comes out. */
static void
push_tenths (Fixture * f, const GstVideoInfo * info, guint n, gboolean reverse)
{
  guint i;

  for (i = 0; i < n; i++)
    gst_buffer_unref (gst_harness_push_and_pull (f->h, make_frame (info, i,
                (reverse ? n - 1 - i : i) * GST_SECOND / 10)));
}

static gdouble
array_double (const GstStructure * s, const gchar * field, guint i)
{
  const GValue *arr = gst_structure_get_value (s, field);

  fail_unless (arr && GST_VALUE_HOLDS_ARRAY (arr), "field %s", field);
  fail_unless (i < gst_value_array_get_size (arr));
  return g_value_get_double (gst_value_array_get_value (arr, i));
}

static const gchar *
array_string (const GstStructure * s, const gchar * field, guint i)
{
  const GValue *arr = gst_structure_get_value (s, field);

  fail_unless (arr && GST_VALUE_HOLDS_ARRAY (arr), "field %s", field);
  fail_unless (i < gst_value_array_get_size (arr));
  return g_value_get_string (gst_value_array_get_value (arr, i));
}

static guint
array_size (const GstStructure * s, const gchar * field)
{
  const GValue *arr = gst_structure_get_value (s, field);
  fail_unless (arr && GST_VALUE_HOLDS_ARRAY (arr), "field %s", field);
  return gst_value_array_get_size (arr);
}

static GstClockTime
msg_time (GstMessage * m, const gchar * field)
{
  guint64 t = GST_CLOCK_TIME_NONE;
  fail_unless (gst_structure_get_uint64 (gst_message_get_structure (m), field,
          &t), "field %s", field);
  return t;
}

/* Sets @e to PLAYING alone and expects failure with an error on its bus.
 * Returns the error (to free) and its debug text in @debug. */
static GError *
expect_start_error (GstElement * e, gchar ** debug)
{
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  GError *error = NULL;

  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "no error message posted");
  gst_message_parse_error (m, &error, debug);
  gst_message_unref (m);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (e);
  return error;
}

#define CAPS_RGB "video/x-raw,format=RGB,width=64,height=48,framerate=10/1"

/* ---- caps and pass-through ------------------------------------------------ */

/* A frame of @info whose bytes (all planes, padding, palettes, tiles) are
 * a deterministic pattern. */
static GstBuffer *
make_raw_frame (const GstVideoInfo * info, guint seed)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstMapInfo map;
  gsize i;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  for (i = 0; i < map.size; i++)
    map.data[i] = (guint8) (i * 7 + (i / 97) * 13 + seed * 61);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = 0;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 10;
  return buf;
}

/* Every raw format GStreamer knows is accepted, analyzed and passed on in
 * place, untouched; odd sizes included. */
GST_START_TEST (test_every_format_passes_unchanged)
{
  const gchar *sizes[] = { "width=641,height=359" };
  const GstVideoFormat *formats;
  guint i, n, k;

  formats = gst_video_formats_raw (&n);
  fail_unless (n > 100);
  for (i = 0; i < n; i++) {
    for (k = 0; k < G_N_ELEMENTS (sizes); k++) {
      const gchar *name = gst_video_format_to_string (formats[i]);
      gchar *caps = g_strdup_printf ("video/x-raw,format=%s,%s,"
          "framerate=10/1", name, sizes[k]);
      GstVideoInfo info = info_from_caps (caps);
      Fixture f = fixture_start (make_filter (NULL), caps);
      GstBuffer *in = make_raw_frame (&info, i), *out;
      GstMemory *mem = gst_buffer_peek_memory (in, 0);
      GstBuffer *copy = gst_buffer_copy_deep (in);
      GstClipMeta *meta;
      GstMapInfo a, b;

      out = gst_harness_push_and_pull (f.h, in);
      fail_unless (out != NULL, "%s", caps);
      /* in place: the very same memory, bytes untouched */
      fail_unless (gst_buffer_peek_memory (out, 0) == mem, "%s", caps);
      gst_buffer_map (out, &a, GST_MAP_READ);
      gst_buffer_map (copy, &b, GST_MAP_READ);
      fail_unless (a.size == b.size && memcmp (a.data, b.data, a.size) == 0,
          "%s: frame modified", caps);
      gst_buffer_unmap (out, &a);
      gst_buffer_unmap (copy, &b);
      meta = gst_buffer_get_clip_meta (out);
      fail_unless (meta != NULL, "%s: no meta", caps);
      fail_unless_equals_int (meta->n_labels, 3);
      /* output caps equal input caps */
      {
        GstCaps *c1 = gst_caps_from_string (caps);
        GstCaps *c2 = gst_pad_get_current_caps (f.h->sinkpad);
        fail_unless (c2 && gst_caps_is_equal (c1, c2), "%s", caps);
        gst_caps_unref (c1);
        gst_caps_unref (c2);
      }
      gst_buffer_unref (out);
      gst_buffer_unref (copy);
      fixture_stop (&f);
      g_free (caps);
    }
  }
}

GST_END_TEST;

GST_START_TEST (test_unsupported_format_refused)
{
  GstElement *e = make_filter (NULL);
  GstPad *pad;
  GstCaps *caps;

  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  pad = gst_element_get_static_pad (e, "sink");
  caps = gst_caps_from_string ("video/x-bayer,format=rggb,width=64,height=48");
  fail_if (gst_pad_query_accept_caps (pad, caps));
  gst_caps_unref (caps);
  caps = gst_caps_from_string ("video/x-raw(memory:DMABuf),format=NV12,"
      "width=64,height=48");
  fail_if (gst_pad_query_accept_caps (pad, caps));
  gst_caps_unref (caps);
  gst_object_unref (pad);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);
}

GST_END_TEST;

GST_START_TEST (test_other_metas_survive)
{
  Fixture f = fixture_start (make_filter (NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *in = make_frame (&info, 1, 0), *out;
  GstCaps *ref = gst_caps_from_string ("timestamp/x-test");
  GstReferenceTimestampMeta *rt;

  gst_buffer_add_reference_timestamp_meta (in, ref, 12345, 6);
  /* a second reference makes the buffer non-writable: the element must still
   * keep the metas (and the memory) when it makes it writable */
  gst_buffer_ref (in);
  out = gst_harness_push_and_pull (f.h, in);
  rt = gst_buffer_get_reference_timestamp_meta (out, ref);
  fail_unless (rt != NULL);
  fail_unless_equals_uint64 (rt->timestamp, 12345);
  fail_unless (gst_buffer_get_clip_meta (out) != NULL);
  fail_unless (gst_buffer_peek_memory (out, 0) == gst_buffer_peek_memory (in,
          0));
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_caps_unref (ref);
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- scores equal the engine's ------------------------------------------ */

/* Scores of @e (a make_filter() element, taken) equal those of the engine
 * model in ref_model/ref_ctx. */
static void
check_filter_scores_equal_engine (GstElement * e, const gchar * caps)
{
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  const gchar *names[] = { "a photo of a cat", "a dog", "a red car" };
  GstVideoInfo info = info_from_caps (caps);
  Fixture f = fixture_start (e, caps);
  GstBuffer *in = make_frame (&info, 3, 0), *out;
  const clip_model_info *mi = clip_model_get_info (ref_model);
  gfloat sims[3], probs[3], *embed = g_new (gfloat, mi->embed_dim);
  GstClipMeta *meta;
  GstMessage *m;
  const GstStructure *s;
  guint i;

  engine_scores (specs, 3, NULL, 0, &info, in, sims, probs, embed);
  out = gst_harness_push_and_pull (f.h, in);
  meta = gst_buffer_get_clip_meta (out);
  fail_unless (meta != NULL);
  m = pop_message (f.bus, "clipfilter");
  fail_unless (m != NULL);
  s = gst_message_get_structure (m);
  fail_unless_equals_int (meta->n_labels, 3);
  fail_unless_equals_int (array_size (s, "scores"), 3);
  for (i = 0; i < 3; i++) {
    fail_unless_equals_string (meta->labels[i], names[i]);
    fail_unless_equals_string (array_string (s, "labels", i), names[i]);
    fail_unless (fabs (meta->scores[i] - probs[i]) <= 1e-6, "%s: %g vs %g",
        caps, meta->scores[i], probs[i]);
    fail_unless (fabs (meta->similarities[i] - sims[i]) <= 1e-6);
    fail_unless (fabs (array_double (s, "scores", i) - probs[i]) <= 1e-6);
    fail_unless (fabs (array_double (s, "similarities", i) - sims[i]) <= 1e-6);
  }
  fail_unless_equals_int (meta->embedding_dim, mi->embed_dim);
  for (i = 0; i < (guint) mi->embed_dim; i++)
    fail_unless (fabs (meta->embedding[i] - embed[i]) <= 1e-6);
  gst_message_unref (m);
  gst_buffer_unref (out);
  g_free (embed);
  fixture_stop (&f);
}

static void
check_scores_equal_engine (const gchar * caps)
{
  check_filter_scores_equal_engine (make_filter ("attach-embedding", TRUE,
          NULL), caps);
}

GST_START_TEST (test_scores_equal_engine_rgb)
{
  check_scores_equal_engine (CAPS_RGB);
}

GST_END_TEST;

GST_START_TEST (test_scores_equal_engine_nv12_bt709_full_range)
{
  check_scores_equal_engine ("video/x-raw,format=NV12,width=70,height=40,"
      "framerate=10/1,colorimetry=(string)1:3:5:1");
}

GST_END_TEST;

GST_START_TEST (test_scores_equal_engine_i420_bt601)
{
  check_scores_equal_engine ("video/x-raw,format=I420,width=64,height=48,"
      "framerate=10/1,colorimetry=bt601");
}

GST_END_TEST;

/* The formats the engine reads itself keep their exact path at odd sizes:
 * the element's result equals the engine's on the very same frame. */
GST_START_TEST (test_engine_formats_odd_size_equal_engine)
{
  const gchar *formats[] = { "RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx",
    "xRGB", "xBGR", "I420", "NV12", "GRAY8", "Y444"
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=641,"
        "height=359,framerate=10/1", formats[i]);
    check_scores_equal_engine (caps);
    g_free (caps);
  }
}

GST_END_TEST;

/* A natural-looking RGBx picture (gradients, a soft blob, hard-edged bars
 * and 1-pixel stripes) converted to @info's format by GStreamer. */
static GstBuffer *
make_picture (const GstVideoInfo * info)
{
  GstVideoInfo rgb_info;
  GstBuffer *rgb, *out;
  GstVideoFrame rf, of;
  GstVideoConverter *conv;
  gint w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  gint x, y;

  gst_video_info_set_format (&rgb_info, GST_VIDEO_FORMAT_RGBx, w, h);
  GST_VIDEO_INFO_FPS_N (&rgb_info) = GST_VIDEO_INFO_FPS_N (info);
  GST_VIDEO_INFO_FPS_D (&rgb_info) = GST_VIDEO_INFO_FPS_D (info);
  rgb = gst_buffer_new_allocate (NULL, rgb_info.size, NULL);
  out = gst_buffer_new_allocate (NULL, info->size, NULL);
  fail_unless (gst_video_frame_map (&rf, &rgb_info, rgb, GST_MAP_WRITE));
  for (y = 0; y < h; y++) {
    guint8 *row = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&rf, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&rf, 0);
    for (x = 0; x < w; x++) {
      gdouble dx = x - w * 0.6, dy = y - h * 0.4;
      gdouble blob = 120.0 * exp (-(dx * dx + dy * dy) / (0.05 * w * h));
      guint8 *p = row + 4 * x;
      p[0] = (guint8) CLAMP (255.0 * x / w + blob * 0.5, 0, 255);
      p[1] = (guint8) CLAMP (255.0 * y / h, 0, 255);
      p[2] = (guint8) CLAMP (200.0 - blob, 0, 255);
      if (x > w / 8 && x < w / 4)       /* saturated bars */
        p[0] = 255, p[1] = 0, p[2] = (y / 16) % 2 ? 255 : 0;
      if (y > h * 3 / 4 && x % 2)       /* 1-pixel stripes */
        p[0] = p[1] = p[2] = 255;
      p[3] = 255;
    }
  }
  fail_unless (gst_video_frame_map (&of, info, out, GST_MAP_WRITE));
  conv = gst_video_converter_new (&rgb_info, info, NULL);
  fail_unless (conv != NULL);
  gst_video_converter_frame (conv, &rf, &of);
  gst_video_converter_free (conv);
  gst_video_frame_unmap (&of);
  gst_video_frame_unmap (&rf);
  gst_buffer_unref (rgb);
  GST_BUFFER_PTS (out) = 0;
  GST_BUFFER_DURATION (out) = GST_SECOND / 10;
  return out;
}

/* A format the engine does not read gives the same model input as
 * `videoconvert ! video/x-raw,format=RGBx` on the whole frame in front of
 * the element: checked through the embedding (tiny-b32 maps any input
 * difference, even one level at one pixel, far beyond 1e-6). */
static void
check_converted_equals_videoconvert (const gchar * caps)
{
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  const clip_model_info *mi = clip_model_get_info (ref_model);
  GstVideoInfo info = info_from_caps (caps), rgb_info;
  Fixture f = fixture_start (make_filter ("attach-embedding", TRUE, NULL),
      caps);
  GstHarness *vc = gst_harness_new_parse ("videoconvert ! capsfilter "
      "caps=video/x-raw,format=RGBx");
  GstBuffer *in = make_picture (&info), *out, *rgb;
  gfloat sims[3], probs[3], *embed = g_new (gfloat, mi->embed_dim);
  gfloat worst = 0.0f;
  GstClipMeta *meta;
  GstCaps *rgb_caps;
  gint i;

  gst_harness_set_src_caps_str (vc, caps);
  rgb = gst_harness_push_and_pull (vc, gst_buffer_copy_deep (in));
  fail_unless (rgb != NULL, "%s: videoconvert gave nothing", caps);
  rgb_caps = gst_pad_get_current_caps (vc->sinkpad);
  fail_unless (gst_video_info_from_caps (&rgb_info, rgb_caps));
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&rgb_info),
      GST_VIDEO_FORMAT_RGBx);
  engine_scores (specs, 3, NULL, 0, &rgb_info, rgb, sims, probs, embed);

  out = gst_harness_push_and_pull (f.h, in);
  meta = gst_buffer_get_clip_meta (out);
  fail_unless (meta != NULL, "%s: no meta", caps);
  fail_unless_equals_int (meta->embedding_dim, mi->embed_dim);
  for (i = 0; i < mi->embed_dim; i++)
    worst = MAX (worst, fabsf (meta->embedding[i] - embed[i]));
  fail_unless (worst <= 1e-6, "%s: embedding differs by %g from "
      "videoconvert first", caps, worst);
  for (i = 0; i < 3; i++)
    fail_unless (fabs (meta->similarities[i] - sims[i]) <= 1e-6, "%s", caps);

  gst_caps_unref (rgb_caps);
  gst_buffer_unref (rgb);
  gst_buffer_unref (out);
  g_free (embed);
  gst_harness_teardown (vc);
  fixture_stop (&f);
}

static gboolean
engine_reads (GstVideoFormat f)
{
  switch (f) {
    case GST_VIDEO_FORMAT_RGB:
    case GST_VIDEO_FORMAT_BGR:
    case GST_VIDEO_FORMAT_RGBA:
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_RGBx:
    case GST_VIDEO_FORMAT_BGRx:
    case GST_VIDEO_FORMAT_xRGB:
    case GST_VIDEO_FORMAT_xBGR:
    case GST_VIDEO_FORMAT_I420:
    case GST_VIDEO_FORMAT_NV12:
    case GST_VIDEO_FORMAT_Y444:
    case GST_VIDEO_FORMAT_GRAY8:
      return TRUE;
    default:
      return FALSE;
  }
}

GST_START_TEST (test_converted_formats_equal_videoconvert)
{
  /* every converted format at an odd size; then common ones (packed and
   * planar 4:2:2; 10-bit 4:2:0, 4:2:2, 4:4:4; v210; 16-bit gray; a tiled
   * one) portrait, at 1080p and tiny */
  const gchar *common[] = { "Y42B", "UYVY", "I420_10LE", "P010_10LE",
    "I422_10LE", "Y444_10LE", "v210", "GRAY16_LE", "NV12_4L4"
  };
  const gchar *sizes[] = { "width=359,height=641", "width=1920,height=1080",
    "width=64,height=48"
  };
  const GstVideoFormat *formats;
  guint i, k, n;

  formats = gst_video_formats_raw (&n);
  for (i = 0; i < n; i++) {
    gchar *caps;

    if (engine_reads (formats[i]))
      continue;
    caps = g_strdup_printf ("video/x-raw,format=%s,width=641,height=359,"
        "framerate=30/1", gst_video_format_to_string (formats[i]));
    check_converted_equals_videoconvert (caps);
    g_free (caps);
  }
  for (i = 0; i < G_N_ELEMENTS (common); i++) {
    for (k = 0; k < G_N_ELEMENTS (sizes); k++) {
      gchar *caps = g_strdup_printf ("video/x-raw,format=%s,%s,"
          "framerate=30/1", common[i], sizes[k]);
      check_converted_equals_videoconvert (caps);
      g_free (caps);
    }
  }
  /* YUV in a matrix the engine does not know is converted too */
  check_converted_equals_videoconvert ("video/x-raw,format=I420,width=641,"
      "height=359,framerate=30/1,colorimetry=bt2020");
  check_converted_equals_videoconvert ("video/x-raw,format=Y444,width=641,"
      "height=359,framerate=30/1,colorimetry=bt2020");
}

GST_END_TEST;

GST_START_TEST (test_message_fields)
{
  Fixture f = fixture_start (make_filter ("top-k", 2, NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *in = make_frame (&info, 4, 3 * GST_SECOND);
  GstMessage *m;
  const GstStructure *s;
  gdouble sum = 0, best = -1;
  const gchar *top;
  guint i;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, in));
  m = pop_message (f.bus, "clipfilter");
  fail_unless (m != NULL);
  s = gst_message_get_structure (m);
  fail_unless_equals_uint64 (msg_time (m, "timestamp"), 3 * GST_SECOND);
  fail_unless_equals_uint64 (msg_time (m, "stream-time"), 3 * GST_SECOND);
  fail_unless_equals_uint64 (msg_time (m, "running-time"), 3 * GST_SECOND);
  fail_unless_equals_uint64 (msg_time (m, "duration"), GST_SECOND / 10);
  for (i = 0; i < 3; i++) {
    sum += array_double (s, "scores", i);
    /* window 1: smoothed is the sample itself */
    fail_unless_equals_float (array_double (s, "smoothed", i),
        array_double (s, "scores", i));
    if (array_double (s, "smoothed", i) > best)
      best = array_double (s, "smoothed", i);
  }
  fail_unless (fabs (sum - 1.0) < 1e-5);
  top = gst_structure_get_string (s, "top-label");
  fail_unless (top != NULL);
  fail_unless_equals_float (g_value_get_double (gst_structure_get_value (s,
              "top-score")), best);
  fail_unless_equals_int (array_size (s, "top-labels"), 2);
  fail_unless_equals_string (array_string (s, "top-labels", 0), top);
  fail_unless (array_double (s, "top-scores", 0) >= array_double (s,
          "top-scores", 1));
  gst_message_unref (m);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_meta_survives_copy)
{
  Fixture f = fixture_start (make_filter (NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *out, *copy;
  GstClipMeta *a, *b;
  guint i;

  out = gst_harness_push_and_pull (f.h, make_frame (&info, 5, GST_SECOND));
  copy = gst_buffer_copy (out);
  a = gst_buffer_get_clip_meta (out);
  b = gst_buffer_get_clip_meta (copy);
  fail_unless (a && b && a != b);
  fail_unless_equals_int (a->n_labels, b->n_labels);
  fail_unless_equals_int (a->top_index, b->top_index);
  fail_unless_equals_uint64 (b->timestamp, GST_SECOND);
  for (i = 0; i < a->n_labels; i++) {
    fail_unless_equals_string (a->labels[i], b->labels[i]);
    fail_unless_equals_float (a->scores[i], b->scores[i]);
    fail_unless_equals_float (a->smoothed[i], b->smoothed[i]);
  }
  fail_unless (b->embedding == NULL);
  gst_buffer_unref (out);
  gst_buffer_unref (copy);
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- cadence -------------------------------------------------------------- */

/* Pushes @n frames at 10 fps and returns the analyzed timestamps. */
static GArray *
sampled_times (GstElement * e, guint n)
{
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GArray *times = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  GstMessage *m;
  guint i;

  for (i = 0; i < n; i++) {
    GstBuffer *out = gst_harness_push_and_pull (f.h, make_frame (&info, i,
            i * GST_SECOND / 10));
    GstClipMeta *meta = gst_buffer_get_clip_meta (out);
    /* sync mode: a meta exactly on the analyzed frames */
    if ((m = pop_message (f.bus, "clipfilter"))) {
      GstClockTime t = msg_time (m, "timestamp");
      fail_unless (meta != NULL && meta->timestamp == t);
      fail_unless_equals_uint64 (t, GST_BUFFER_PTS (out));
      g_array_append_val (times, t);
      gst_message_unref (m);
    } else {
      fail_unless (meta == NULL);
    }
    gst_buffer_unref (out);
  }
  fixture_stop (&f);
  return times;
}

GST_START_TEST (test_interval_cadence)
{
  GArray *t = sampled_times (make_filter ("interval", (guint64) 250 *
          GST_MSECOND, NULL), 10);
  /* frames every 100 ms; due at 0, then the first frame at or after each
   * 250 ms grid point */
  const GstClockTime expect[] = { 0, 300, 500, 800 };
  guint i;

  fail_unless_equals_int (t->len, G_N_ELEMENTS (expect));
  for (i = 0; i < t->len; i++)
    fail_unless_equals_uint64 (g_array_index (t, GstClockTime, i),
        expect[i] * GST_MSECOND);
  g_array_unref (t);
}

GST_END_TEST;

/* The largest interval means "the first frame only"; the grid arithmetic
 * must not wrap around (it once sampled every frame). */
GST_START_TEST (test_interval_max_samples_first_frame_only)
{
  GArray *t = sampled_times (make_filter ("interval", G_MAXUINT64, NULL), 10);

  fail_unless_equals_int (t->len, 1);
  fail_unless_equals_uint64 (g_array_index (t, GstClockTime, 0), 0);
  g_array_unref (t);
}

GST_END_TEST;

/* Plays frames 0 to 0.9 s, 100 ms apart (backwards when @seg's rate is
 * negative), in @seg through an interval of 250 ms, and checks the times of
 * the messages: @expect (ms) as timestamp and stream time, and as running
 * time where a sink plays the frame. */
static void
check_cadence_in_segment (const GstSegment * seg, const GstClockTime * expect,
    guint n)
{
  Fixture f = fixture_start (make_filter ("interval", (guint64) 250 *
          GST_MSECOND, NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  gboolean reverse = seg->rate < 0;
  GPtrArray *msgs;
  guint i;

  fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (seg)));
  push_tenths (&f, &info, 10, reverse);
  msgs = pop_all (f.bus, "clipfilter", n);
  for (i = 0; i < msgs->len; i++) {
    GstMessage *m = g_ptr_array_index (msgs, i);
    GstClockTime t = expect[i] * GST_MSECOND;

    fail_unless_equals_uint64 (msg_time (m, "timestamp"), t);
    fail_unless_equals_uint64 (msg_time (m, "stream-time"), t);
    /* reversed: the end of the frame, 100 ms after its PTS, counted back
     * from 1 s */
    fail_unless_equals_uint64 (msg_time (m, "running-time"),
        reverse ? GST_SECOND - t - 100 * GST_MSECOND : t);
  }
  g_ptr_array_unref (msgs);
  fixture_stop (&f);
}

/* appsrc's default format is BYTES: raw video may arrive in a segment
 * that is not in time. The PTS are then taken as they are, for the cadence
 * and the messages' times (it once hit a critical in the segment calls). */
GST_START_TEST (test_bytes_segment_uses_timestamps)
{
  const GstClockTime expect[] = { 0, 300, 500, 800 };
  GstSegment seg;

  gst_segment_init (&seg, GST_FORMAT_BYTES);
  check_cadence_in_segment (&seg, expect, G_N_ELEMENTS (expect));
}

GST_END_TEST;

/* An interval change while PLAYING applies from the next frame, on the
 * grid of the first sample (0 s): 1 s, then 200 ms from 0.3 s on. */
GST_START_TEST (test_interval_change_while_playing)
{
  GstElement *e = make_filter ("interval", GST_SECOND, NULL);
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  const GstClockTime expect[] = { 0, 300, 400, 600, 800 };
  GPtrArray *msgs;
  guint i, n;

  for (i = 0; i < 10; i++) {
    if (i == 3)
      g_object_set (e, "interval", (guint64) 200 * GST_MSECOND, NULL);
    gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, i,
                i * GST_SECOND / 10)));
  }
  msgs = pop_all (f.bus, "clipfilter", G_N_ELEMENTS (expect));
  for (n = 0; n < msgs->len; n++)
    fail_unless_equals_uint64 (msg_time (g_ptr_array_index (msgs, n),
            "timestamp"), expect[n] * GST_MSECOND);
  g_ptr_array_unref (msgs);
  fixture_stop (&f);
}

GST_END_TEST;

/* Reverse playback (rate -1 over 0-1 s, frames 0.9 s down to 0): the
 * cadence mirrors the forward one instead of sampling every frame, and a
 * frame's running time is that of its end, where a sink plays it from. */
GST_START_TEST (test_reverse_playback_cadence_and_running_time)
{
  const GstClockTime expect[] = { 900, 600, 400, 100 };
  GstSegment seg;

  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.rate = -1.0;
  seg.start = 0;
  seg.stop = GST_SECOND;
  seg.position = GST_SECOND;
  check_cadence_in_segment (&seg, expect, G_N_ELEMENTS (expect));
}

GST_END_TEST;

GST_START_TEST (test_frame_interval_cadence)
{
  GArray *t = sampled_times (make_filter ("frame-interval", 3, NULL), 10);
  guint i;

  fail_unless_equals_int (t->len, 4);
  for (i = 0; i < t->len; i++)
    fail_unless_equals_uint64 (g_array_index (t, GstClockTime, i),
        i * 3 * GST_SECOND / 10);
  g_array_unref (t);
}

GST_END_TEST;

GST_START_TEST (test_unsampled_frames_not_mapped)
{
  Fixture f = fixture_start (make_filter ("frame-interval", 2, NULL),
      CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *tiny = gst_buffer_new_allocate (NULL, 1, NULL);
  GstMessage *m;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  /* a 1-byte buffer cannot be mapped as a 64x48 frame: when it is not
   * sampled it must pass without the element touching it */
  GST_BUFFER_PTS (tiny) = GST_SECOND / 10;
  gst_buffer_unref (gst_harness_push_and_pull (f.h, tiny));
  fail_unless_equals_int (count_messages (f.bus, "clipfilter"), 1);
  m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR);
  fail_unless (m == NULL, "unsampled frame was mapped");
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- sync and async ------------------------------------------------------- */

GST_START_TEST (test_sync_analyzes_every_sample)
{
  GstElement *e = make_filter ("frame-interval", 1, NULL);
  Fixture f;
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  guint64 analyzed, skipped;
  guint i;

  g_setenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS", "20", TRUE);
  f = fixture_start (e, CAPS_RGB);
  g_unsetenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS");
  for (i = 0; i < 5; i++) {
    GstBuffer *out = gst_harness_push_and_pull (f.h, make_frame (&info, i,
            i * GST_SECOND / 10));
    GstClipMeta *meta = gst_buffer_get_clip_meta (out);
    fail_unless (meta && meta->timestamp == GST_BUFFER_PTS (out));
    gst_buffer_unref (out);
  }
  g_object_get (e, "analyzed", &analyzed, "skipped", &skipped, NULL);
  fail_unless_equals_uint64 (analyzed, 5);
  fail_unless_equals_uint64 (skipped, 0);
  fail_unless_equals_int (count_messages (f.bus, "clipfilter"), 5);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_sync_reports_latency)
{
  GstElement *e = make_filter ("frame-interval", 1, NULL);
  Fixture f;
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstClockTime min = 0;
  gboolean live;
  GstQuery *q;

  g_setenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS", "50", TRUE);
  f = fixture_start (e, CAPS_RGB);
  g_unsetenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS");
  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (f.h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, NULL);
  /* the analysis slept 50 ms: the element holds a sampled buffer that long */
  fail_unless (min >= 50 * GST_MSECOND, "latency %" GST_TIME_FORMAT,
      GST_TIME_ARGS (min));
  gst_query_unref (q);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_async_never_waits_and_counts_skips)
{
  GstElement *e = make_filter ("mode", 2, "frame-interval", 1, NULL);
  Fixture f;
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *out;
  GstClipMeta *meta;
  guint64 analyzed, skipped;
  GstMessage *m;
  guint i;

  /* Each analysis takes 2 s; pushing a buffer takes microseconds. */
  g_setenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS", "2000", TRUE);
  f = fixture_start (e, CAPS_RGB);
  g_unsetenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS");
  for (i = 0; i < 5; i++) {
    out = gst_harness_push_and_pull (f.h, make_frame (&info, i,
            i * GST_SECOND / 10));
    /* no result can be ready yet: nothing was delayed to wait for one */
    fail_unless (gst_buffer_get_clip_meta (out) == NULL);
    gst_buffer_unref (out);
  }
  g_object_get (e, "analyzed", &analyzed, "skipped", &skipped, NULL);
  fail_unless_equals_uint64 (analyzed, 0);
  fail_unless_equals_uint64 (skipped, 4);

  /* wait for the first analysis (frame 0) to finish, then it rides on the
   * next buffer with its own timestamp inside */
  for (i = 0; i < 100; i++) {
    g_usleep (50 * 1000);
    g_object_get (e, "analyzed", &analyzed, NULL);
    out = gst_harness_push_and_pull (f.h, make_frame (&info, 9,
            (5 + i) * GST_SECOND / 10));
    meta = gst_buffer_get_clip_meta (out);
    if (meta) {
      fail_unless_equals_uint64 (meta->timestamp, 0);
      gst_buffer_unref (out);
      break;
    }
    gst_buffer_unref (out);
  }
  fail_unless (i < 100, "the result never arrived");
  m = pop_message (f.bus, "clipfilter");
  fail_unless (m != NULL);
  fail_unless_equals_uint64 (msg_time (m, "timestamp"), 0);
  gst_message_unref (m);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_async_eos_delivers_pending_result)
{
  GstElement *e = make_filter ("mode", 2, NULL);
  Fixture f;
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstMessage *m;

  g_setenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS", "200", TRUE);
  f = fixture_start (e, CAPS_RGB);
  g_unsetenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS");
  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0,
              GST_SECOND)));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  m = pop_message (f.bus, "clipfilter");
  fail_unless (m != NULL, "EOS must wait for the running analysis");
  fail_unless_equals_uint64 (msg_time (m, "timestamp"), GST_SECOND);
  gst_message_unref (m);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_auto_mode_is_async_for_live_upstream)
{
  /* GstHarness answers the LATENCY query as a live source */
  GstElement *e = make_filter ("mode", 0, "frame-interval", 1, NULL);
  Fixture f;
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *out;

  g_setenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS", "300", TRUE);
  f = fixture_start (e, CAPS_RGB);
  g_unsetenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS");
  out = gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0));
  /* sync would have waited for the result and attached it here */
  fail_unless (gst_buffer_get_clip_meta (out) == NULL);
  gst_buffer_unref (out);
  fixture_stop (&f);
}

GST_END_TEST;

static void
count_meta_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad,
    gpointer data)
{
  GstClipMeta *meta = gst_buffer_get_clip_meta (buf);

  (void) sink;
  (void) pad;
  if (meta && meta->timestamp == GST_BUFFER_PTS (buf))
    (*(guint *) data)++;
}

GST_START_TEST (test_auto_mode_is_sync_for_non_live_upstream)
{
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=3 ! "
      "video/x-raw,width=64,height=48 ! clipfilter model=\"%s\" "
      "prompts=\"a cat;a dog\" frame-interval=1 ! fakesink name=sink "
      "signal-handoffs=true", model_path);
  GstElement *pipeline = gst_parse_launch (desc, NULL), *sink;
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *m;
  guint with_meta = 0;

  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (count_meta_handoff),
      &with_meta);
  g_setenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS", "100", TRUE);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_unsetenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS");
  m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  /* every frame analyzed and carrying its own result: nothing skipped */
  fail_unless_equals_int (with_meta, 3);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_free (desc);
}

GST_END_TEST;

static guint
count_clip_metas (GstBuffer * buf, GstClockTime * times)
{
  gpointer state = NULL;
  GstMeta *meta;
  guint n = 0;

  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_CLIP_META_API_TYPE)))
    times[n++] = ((GstClipMeta *) meta)->timestamp;
  return n;
}

GST_START_TEST (test_sync_batches)
{
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  GstElement *e = make_filter ("frame-interval", 1, "batch-size", 3, NULL);
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *in[7];
  GstClockTime times[8];
  GstMessage *m;
  guint i, j, n;

  for (i = 0; i < 7; i++) {
    GstBuffer *out;

    in[i] = make_frame (&info, i, i * GST_SECOND / 10);
    out = gst_harness_push_and_pull (f.h, gst_buffer_ref (in[i]));
    n = count_clip_metas (out, times);
    /* the buffer completing a batch carries the batch's results */
    fail_unless_equals_int (n, (i % 3 == 2) ? 3 : 0);
    for (j = 0; j < n; j++)
      fail_unless_equals_uint64 (times[j], (i - 2 + j) * GST_SECOND / 10);
    gst_buffer_unref (out);
  }
  /* the incomplete batch is analyzed at EOS */
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  for (i = 0; i < 7; i++) {
    gfloat sims[3], probs[3];

    m = pop_message (f.bus, "clipfilter");
    fail_unless (m != NULL, "message %u", i);
    fail_unless_equals_uint64 (msg_time (m, "timestamp"), i * GST_SECOND / 10);
    /* a batch is encoded as the same images one by one (GEMM blocking may
     * differ in the last bits) */
    engine_scores (specs, 3, NULL, 0, &info, in[i], sims, probs, NULL);
    for (j = 0; j < 3; j++)
      fail_unless (fabs (array_double (gst_message_get_structure (m),
                  "similarities", j) - sims[j]) <= 1e-5);
    gst_message_unref (m);
    gst_buffer_unref (in[i]);
  }
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- prompts while playing -------------------------------------------- */

GST_START_TEST (test_prompt_change_while_playing)
{
  GstElement *e = make_filter ("frame-interval", 1, NULL);
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  const gchar *specs[] = { "a boat", "a plane" };
  gfloat sims[2], probs[2];
  GstMessage *m = NULL;
  const GstStructure *s;
  GstBuffer *in;
  guint i;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  fail_unless_equals_int (count_messages (f.bus, "clipfilter"), 1);

  g_object_set (e, "prompts", " a boat ; a plane ", NULL);
  for (i = 1; i < 400; i++) {
    in = make_frame (&info, 7, i * GST_SECOND / 10);
    gst_buffer_unref (gst_harness_push_and_pull (f.h, gst_buffer_ref (in)));
    m = pop_message (f.bus, "clipfilter");
    fail_unless (m != NULL, "every frame is sampled");
    if (array_size (gst_message_get_structure (m), "labels") == 2)
      break;
    /* until the new set is ready, the old one is used: no gap */
    fail_unless_equals_int (array_size (gst_message_get_structure (m),
            "labels"), 3);
    gst_message_unref (m);
    gst_buffer_unref (in);
    g_usleep (5000);
  }
  fail_unless (i < 400, "the new prompts were never used");
  s = gst_message_get_structure (m);
  fail_unless_equals_string (array_string (s, "labels", 0), "a boat");
  fail_unless_equals_string (array_string (s, "labels", 1), "a plane");
  engine_scores (specs, 2, NULL, 0, &info, in, sims, probs, NULL);
  for (i = 0; i < 2; i++)
    fail_unless (fabs (array_double (s, "scores", i) - probs[i]) <= 1e-6);
  gst_message_unref (m);
  gst_buffer_unref (in);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_invalid_prompt_change_keeps_old_set)
{
  GstElement *e = make_filter ("frame-interval", 1, NULL);
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstMessage *m = NULL;
  guint i;

  g_object_set (e, "prompts", ";;|;", NULL);
  for (i = 0; i < 400 && !m; i++) {
    g_usleep (5000);
    m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_WARNING);
  }
  fail_unless (m != NULL, "no warning for invalid prompts");
  gst_message_unref (m);
  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  m = pop_message (f.bus, "clipfilter");
  fail_unless (m != NULL);
  fail_unless_equals_int (array_size (gst_message_get_structure (m), "labels"),
      3);
  gst_message_unref (m);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_templates_are_ensembled)
{
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  const gchar *tmpl[] = { "a photo of {}.", "a video of {}." };
  Fixture f = fixture_start (make_filter ("templates",
          "a photo of {}.;a video of {}.", NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *in = make_frame (&info, 2, 0), *out;
  gfloat sims[3], probs[3];
  GstClipMeta *meta;
  guint i;

  engine_scores (specs, 3, tmpl, 2, &info, in, sims, probs, NULL);
  out = gst_harness_push_and_pull (f.h, in);
  meta = gst_buffer_get_clip_meta (out);
  for (i = 0; i < 3; i++)
    fail_unless (fabs (meta->scores[i] - probs[i]) <= 1e-6);
  gst_buffer_unref (out);
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- renegotiation ------------------------------------------------------ */

GST_START_TEST (test_renegotiation_to_new_resolution)
{
  const gchar *caps2 = "video/x-raw,format=NV12,width=40,height=90,"
      "framerate=10/1";
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  Fixture f = fixture_start (make_filter ("frame-interval", 1, NULL),
      CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB), info2 = info_from_caps (caps2);
  GstBuffer *in, *out;
  gfloat sims[3], probs[3];
  GstClipMeta *meta;
  guint i;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  gst_harness_set_src_caps_str (f.h, caps2);
  in = make_frame (&info2, 1, GST_SECOND / 10);
  engine_scores (specs, 3, NULL, 0, &info2, in, sims, probs, NULL);
  out = gst_harness_push_and_pull (f.h, in);
  meta = gst_buffer_get_clip_meta (out);
  fail_unless (meta != NULL);
  for (i = 0; i < 3; i++)
    fail_unless (fabs (meta->scores[i] - probs[i]) <= 1e-6);
  fail_unless_equals_int (count_messages (f.bus, "clipfilter"), 2);
  gst_buffer_unref (out);
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- tags ---------------------------------------------------------------- */

/* The tag messages of @label posted so far, as a string of '+' and '-'. */
static gchar *
tag_trace (GstBus * bus, const gchar * label)
{
  GString *t = g_string_new (NULL);
  GstMessage *m;

  while ((m = pop_message (bus, "clipfilter-tag"))) {
    const GstStructure *s = gst_message_get_structure (m);
    if (g_strcmp0 (gst_structure_get_string (s, "label"), label) == 0)
      g_string_append_c (t, g_str_equal (gst_structure_get_string (s,
                  "state"), "on") ? '+' : '-');
    gst_message_unref (m);
  }
  return g_string_free (t, FALSE);
}

GST_START_TEST (test_eos_closes_open_tags)
{
  Fixture f = fixture_start (make_filter ("threshold", 0.0, NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GHashTable *on_scores = g_hash_table_new_full (g_str_hash, g_str_equal,
      g_free, g_free);
  GstMessage *m;
  guint on = 0, off = 0;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  while ((m = pop_message (f.bus, "clipfilter-tag"))) {
    const GstStructure *s = gst_message_get_structure (m);
    const gchar *label = gst_structure_get_string (s, "label");
    gdouble score;

    fail_unless (gst_structure_get_double (s, "score", &score));
    if (g_str_equal (gst_structure_get_string (s, "state"), "on")) {
      on++;
      fail_unless_equals_uint64 (msg_time (m, "timestamp"), 0);
      g_hash_table_insert (on_scores, g_strdup (label), g_memdup2 (&score,
              sizeof score));
    } else {
      off++;
      /* closed at the end of the last buffer, with the last smoothed score */
      fail_unless_equals_uint64 (msg_time (m, "timestamp"), GST_SECOND / 10);
      fail_unless (g_hash_table_contains (on_scores, label));
      fail_unless_equals_float (score, *(gdouble *) g_hash_table_lookup
          (on_scores, label));
    }
    gst_message_unref (m);
  }
  g_hash_table_unref (on_scores);
  fail_unless_equals_int (on, 3);
  fail_unless_equals_int (off, 3);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_flush_closes_tags_and_restarts_cadence)
{
  Fixture f = fixture_start (make_filter ("threshold", 0.0, NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstSegment seg;

  guint64 analyzed;
  gchar *t;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 1,
              GST_SECOND / 10)));
  g_object_get (f.e, "analyzed", &analyzed, NULL);
  fail_unless_equals_uint64 (analyzed, 1);
  t = tag_trace (f.bus, "a dog");
  fail_unless_equals_string (t, "+");
  g_free (t);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE)));
  t = tag_trace (f.bus, "a dog");
  fail_unless_equals_string (t, "-");
  g_free (t);
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&seg)));
  /* the first frame after a flush is sampled again, even if early */
  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 2,
              GST_SECOND / 10)));
  g_object_get (f.e, "analyzed", &analyzed, NULL);
  fail_unless_equals_uint64 (analyzed, 2);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_discont_restarts_smoothing)
{
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  Fixture f = fixture_start (make_filter ("frame-interval", 1, "window", 4,
          NULL), CAPS_RGB);
  GstBuffer *b;
  GstMessage *m;
  guint i;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  b = make_frame (&info, 1, GST_SECOND / 10);
  GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
  gst_buffer_unref (gst_harness_push_and_pull (f.h, b));
  gst_message_unref (pop_message (f.bus, "clipfilter"));
  m = pop_message (f.bus, "clipfilter");
  /* after the discontinuity the window holds only the new sample */
  for (i = 0; i < 3; i++)
    fail_unless_equals_float (array_double (gst_message_get_structure (m),
            "smoothed", i), array_double (gst_message_get_structure (m),
            "scores", i));
  gst_message_unref (m);
  fixture_stop (&f);
}

GST_END_TEST;

/* Probability of "a dog" for two frames, through the engine. */
static void
dog_scores (const GstVideoInfo * info, GstBuffer * a, GstBuffer * b,
    gfloat * pa, gfloat * pb)
{
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  gfloat sims[3], probs[3];

  engine_scores (specs, 3, NULL, 0, info, a, sims, probs, NULL);
  *pa = probs[1];
  engine_scores (specs, 3, NULL, 0, info, b, sims, probs, NULL);
  *pb = probs[1];
}

/* Feeds hi, lo, hi, lo frames with the given thresholds; returns the trace
 * of "a dog"'s tag. */
static gchar *
hysteresis_run (gdouble on, gdouble off, guint hi_seed, guint lo_seed)
{
  Fixture f = fixture_start (make_filter ("frame-interval", 1, "threshold",
          on, "threshold-off", off, NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  guint seeds[] = { hi_seed, lo_seed, hi_seed, lo_seed }, i;
  gchar *trace;

  for (i = 0; i < 4; i++)
    gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info,
                seeds[i], i * GST_SECOND / 10)));
  trace = tag_trace (f.bus, "a dog");
  fixture_stop (&f);
  return trace;
}

GST_START_TEST (test_hysteresis)
{
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *a = make_frame (&info, 0, 0), *b = make_frame (&info, 1, 0);
  gfloat pa, pb, hi, lo, mid;
  guint hi_seed, lo_seed;
  gchar *trace;

  /* The random model gives different scores to different frames; place the
   * thresholds around them. */
  dog_scores (&info, a, b, &pa, &pb);
  fail_unless (pa != pb, "frames score the same, pick other seeds");
  hi = MAX (pa, pb);
  lo = MIN (pa, pb);
  hi_seed = pa > pb ? 0 : 1;
  lo_seed = 1 - hi_seed;
  mid = (hi + lo) / 2;

  /* without hysteresis the label flickers with every frame */
  trace = hysteresis_run (mid, mid, hi_seed, lo_seed);
  fail_unless_equals_string (trace, "+-+-");
  g_free (trace);
  /* with threshold-off below both, it turns on once and stays on */
  trace = hysteresis_run (mid, MAX (lo - (hi - lo), 0.0), hi_seed, lo_seed);
  fail_unless_equals_string (trace, "+");
  g_free (trace);
  gst_buffer_unref (a);
  gst_buffer_unref (b);
}

GST_END_TEST;

GST_START_TEST (test_window_smooths)
{
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  Fixture f = fixture_start (make_filter ("frame-interval", 1, "window", 2,
          NULL), CAPS_RGB);
  GstMessage *m;
  gdouble first[3], second[3];
  guint i;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 1,
              GST_SECOND / 10)));
  m = pop_message (f.bus, "clipfilter");
  for (i = 0; i < 3; i++)
    first[i] = array_double (gst_message_get_structure (m), "scores", i);
  gst_message_unref (m);
  m = pop_message (f.bus, "clipfilter");
  for (i = 0; i < 3; i++) {
    second[i] = array_double (gst_message_get_structure (m), "scores", i);
    fail_unless (fabs (array_double (gst_message_get_structure (m),
                "smoothed", i) - (first[i] + second[i]) / 2) < 1e-6);
  }
  gst_message_unref (m);
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- backend and precision ------------------------------------------------ */

/* The element with backend @b and precision @p scores like the engine
 * loaded with the same parameters; where the engine cannot load them (a
 * build without oneDNN), NULL->READY fails with the engine's reason. */
static void
check_backend_precision (const gchar * b, const gchar * p, clip_backend cb,
    clip_precision cp)
{
  clip_params params = clip_default_params ();
  clip_model *saved_model = ref_model, *m;
  clip_ctx *saved_ctx = ref_ctx;
  clip_error err = { 0 };
  GstElement *e = make_filter ("attach-embedding", TRUE, NULL);

  gst_util_set_object_arg (G_OBJECT (e), "backend", b);
  gst_util_set_object_arg (G_OBJECT (e), "precision", p);
  params.backend = cb;
  params.precision = cp;
  m = clip_model_load (model_path, &params, &err);
  if (!m) {
    gchar *debug = NULL;
    GError *gerr;

    fail_unless_equals_int (err.status, CLIP_ERR_UNSUPPORTED);
    gerr = expect_start_error (e, &debug);
    fail_unless (g_error_matches (gerr, GST_RESOURCE_ERROR,
            GST_RESOURCE_ERROR_SETTINGS), "%s", gerr->message);
    fail_unless (strstr (gerr->message, err.message) != NULL, "%s",
        gerr->message);
    GST_INFO ("backend=%s precision=%s unsupported: %s", b, p, gerr->message);
    g_error_free (gerr);
    g_free (debug);
    return;
  }
  ref_model = m;
  ref_ctx = clip_ctx_new (m, &err);
  fail_unless (ref_ctx != NULL, "%s", err.message);
  check_filter_scores_equal_engine (e, CAPS_RGB);
  clip_ctx_free (ref_ctx);
  clip_model_free (m);
  ref_model = saved_model;
  ref_ctx = saved_ctx;
}

GST_START_TEST (test_backend_values)
{
  check_backend_precision ("auto", "fp32", CLIP_BACKEND_DEFAULT,
      CLIP_PRECISION_FP32);
  check_backend_precision ("openblas", "fp32", CLIP_BACKEND_OPENBLAS,
      CLIP_PRECISION_FP32);
  check_backend_precision ("onednn", "fp32", CLIP_BACKEND_ONEDNN,
      CLIP_PRECISION_FP32);
}

GST_END_TEST;

GST_START_TEST (test_bf16_scores_equal_engine_bf16)
{
  check_backend_precision ("onednn", "bf16", CLIP_BACKEND_ONEDNN,
      CLIP_PRECISION_BF16);
  check_backend_precision ("auto", "bf16", CLIP_BACKEND_DEFAULT,
      CLIP_PRECISION_BF16);
}

GST_END_TEST;

/* Two instances on one checkpoint, one fp32 and one bf16, running at the
 * same time: the shared-model key keeps their weights apart. */
GST_START_TEST (test_shared_model_keeps_precisions_apart)
{
  clip_params params = clip_default_params ();
  clip_error err = { 0 };
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  Fixture a, b;
  GstBuffer *fa, *fb;
  GstClipMeta *ma, *mb;
  clip_model *probe;
  gdouble diff = 0;
  guint i;

  params.backend = CLIP_BACKEND_ONEDNN;
  params.precision = CLIP_PRECISION_BF16;
  if (!(probe = clip_model_load (model_path, &params, &err))) {
    GST_INFO ("no bf16 in this build: %s", err.message);
    return;
  }
  clip_model_free (probe);
  a = fixture_start (make_filter ("backend", GST_CLIP_FILTER_BACKEND_ONEDNN,
          NULL), CAPS_RGB);
  b = fixture_start (make_filter ("backend", GST_CLIP_FILTER_BACKEND_ONEDNN,
          "precision", GST_CLIP_FILTER_PRECISION_BF16, NULL), CAPS_RGB);
  fa = gst_harness_push_and_pull (a.h, make_frame (&info, 5, 0));
  fb = gst_harness_push_and_pull (b.h, make_frame (&info, 5, 0));
  ma = gst_buffer_get_clip_meta (fa);
  mb = gst_buffer_get_clip_meta (fb);
  fail_unless (ma && mb);
  for (i = 0; i < ma->n_labels; i++)
    diff = MAX (diff, fabs (ma->similarities[i] - mb->similarities[i]));
  /* bf16 rounding shows in the cosines; one shared fp32 model would not */
  fail_unless (diff > 1e-6, "fp32 and bf16 instances gave equal similarities");
  fail_unless (diff < 0.05, "bf16 far from fp32: %g", diff);
  gst_buffer_unref (fa);
  gst_buffer_unref (fb);
  fixture_stop (&a);
  fixture_stop (&b);
}

GST_END_TEST;

GST_START_TEST (test_error_bf16_with_openblas)
{
  gchar *debug = NULL;
  GError *err = expect_start_error (make_filter ("backend",
          GST_CLIP_FILTER_BACKEND_OPENBLAS, "precision",
          GST_CLIP_FILTER_PRECISION_BF16, NULL), &debug);

  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS), "%s", err->message);
  fail_unless (strstr (err->message, "precision=bf16 needs backend=onednn")
      != NULL, "%s", err->message);
  g_error_free (err);
  g_free (debug);
}

GST_END_TEST;

/* ---- errors --------------------------------------------------------------- */

GST_START_TEST (test_error_model_not_found)
{
  gchar *debug = NULL;
  GError *err = expect_start_error (make_filter ("model",
          "/nonexistent/model-dir", NULL), &debug);

  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND), "%s", err->message);
  fail_unless (strstr (err->message, "/nonexistent/model-dir") != NULL, "%s",
      err->message);
  g_error_free (err);
  g_free (debug);
}

GST_END_TEST;

GST_START_TEST (test_error_model_name_not_found)
{
  gchar *debug = NULL;
  GError *err = expect_start_error (make_filter ("model", "no-such-model",
          NULL), &debug);

  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND));
  fail_unless (strstr (err->message, "\"no-such-model\" not found") != NULL,
      "%s", err->message);
  fail_unless (strstr (err->message, "models/fetch-model.sh") != NULL,
      "%s", err->message);
  g_error_free (err);
  g_free (debug);
}

GST_END_TEST;

GST_START_TEST (test_model_name_found_in_model_path)
{
  gchar *kit = g_path_get_dirname (model_path);
  GstElement *e;
  Fixture f;
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *out;

  /* a name, not a path: searched in $CLIPFILTER_MODEL_PATH first */
  {
    gchar *v = g_strconcat ("/nonexistent:", kit, NULL);
    g_setenv ("CLIPFILTER_MODEL_PATH", v, TRUE);
    g_free (v);
  }
  e = make_filter ("model", "tiny-b32", NULL);
  f = fixture_start (e, CAPS_RGB);
  g_unsetenv ("CLIPFILTER_MODEL_PATH");
  out = gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0));
  fail_unless (gst_buffer_get_clip_meta (out) != NULL);
  gst_buffer_unref (out);
  fixture_stop (&f);
  g_free (kit);
}

GST_END_TEST;

GST_START_TEST (test_error_bad_model_dir)
{
  gchar *dir = g_dir_make_tmp ("clipfilter-bad-XXXXXX", NULL);
  gchar *cfg = g_build_filename (dir, "config.json", NULL);
  gchar *st = g_build_filename (dir, "model.safetensors", NULL);
  gchar *debug = NULL;
  GError *err;

  fail_unless (g_file_set_contents (cfg, "{ not json", -1, NULL));
  fail_unless (g_file_set_contents (st, "garbage", -1, NULL));
  err = expect_start_error (make_filter ("model", dir, NULL), &debug);
  fail_unless (err->domain == GST_RESOURCE_ERROR);
  fail_unless (strstr (err->message, "Could not load CLIP model") != NULL);
  /* the engine's message names the file */
  fail_unless (strstr (err->message, dir) != NULL, "%s", err->message);
  g_error_free (err);
  g_free (debug);
  g_remove (cfg);
  g_remove (st);
  g_rmdir (dir);
  g_free (cfg);
  g_free (st);
  g_free (dir);
}

GST_END_TEST;

static void
check_prompt_error (const gchar * prompts, const gchar * expect)
{
  GstElement *e = make_filter (NULL);
  gchar *debug = NULL;
  GError *err;

  g_object_set (e, "prompts", prompts, NULL);
  err = expect_start_error (e, &debug);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS), "%s", err->message);
  fail_unless (strstr (err->message, expect) != NULL, "'%s' lacks '%s'",
      err->message, expect);
  g_error_free (err);
  g_free (debug);
}

GST_START_TEST (test_error_no_prompts)
{
  check_prompt_error (NULL, "no prompts set");
}

GST_END_TEST;

GST_START_TEST (test_error_empty_prompts)
{
  check_prompt_error ("", "contain no label");
}

GST_END_TEST;

GST_START_TEST (test_error_only_separators)
{
  check_prompt_error (";;|;", "contain no label");
}

GST_END_TEST;

GST_START_TEST (test_error_invalid_utf8)
{
  check_prompt_error ("a cat;\xff\xfe dog", "not valid UTF-8");
}

GST_END_TEST;

GST_START_TEST (test_error_template_without_placeholder)
{
  GstElement *e = make_filter ("templates", "a photo", NULL);
  gchar *debug = NULL;
  GError *err = expect_start_error (e, &debug);

  fail_unless (strstr (err->message, "has no {} placeholder") != NULL);
  g_error_free (err);
  g_free (debug);
}

GST_END_TEST;

GST_START_TEST (test_long_prompt_is_truncated)
{
  GString *p = g_string_new (NULL);
  Fixture f;
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *out;

  while (p->len < 10000)
    g_string_append (p, "cat ");
  g_string_truncate (p, 10000);
  g_string_append (p, ";a dog");
  f = fixture_start (make_filter ("prompts", p->str, NULL), CAPS_RGB);
  out = gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0));
  fail_unless (gst_buffer_get_clip_meta (out) != NULL);
  fail_unless_equals_int (gst_buffer_get_clip_meta (out)->n_labels, 2);
  gst_buffer_unref (out);
  fixture_stop (&f);
  g_string_free (p, TRUE);
}

GST_END_TEST;

/* ---- state cycles --------------------------------------------------------- */

/* Threads of this process whose name starts with "clipfilter" (the text
 * thread and the async worker). Other libraries keep idle pools of their
 * own, whose size is theirs to decide. */
static guint
clipfilter_threads (void)
{
  GDir *d = g_dir_open ("/proc/self/task", 0, NULL);
  const gchar *tid;
  guint n = 0;

  while (d && (tid = g_dir_read_name (d))) {
    gchar *path = g_build_filename ("/proc/self/task", tid, "comm", NULL);
    gchar *comm = NULL;
    if (g_file_get_contents (path, &comm, NULL, NULL)
        && g_str_has_prefix (comm, "clipfilter"))
      n++;
    g_free (comm);
    g_free (path);
  }
  if (d)
    g_dir_close (d);
  return n;
}

static void
run_to_eos (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *m;

  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_bus_set_flushing (bus, TRUE);
  gst_bus_set_flushing (bus, FALSE);
  gst_object_unref (bus);
}

GST_START_TEST (test_state_cycles_leave_no_thread)
{
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=2 ! "
      "video/x-raw,width=64,height=48 ! clipfilter model=\"%s\" "
      "prompts=\"a cat;a dog\" mode=%s frame-interval=1 ! fakesink",
      model_path, "async");
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  /* Holding the model in a second instance makes the cycling one share it
   * (as instances do), so the cycles exercise the element's own lifecycle
   * (contexts, prompt embedding, threads, messages), not 200 model loads;
   * loading and freeing the model is covered by every other test. */
  GstElement *keeper = make_filter (NULL);
  guint i, threads = clipfilter_threads ();

  fail_unless (pipeline != NULL);
  fail_unless_equals_int (gst_element_set_state (keeper, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  for (i = 0; i < 200; i++) {
    if (i % 2)
      run_to_eos (pipeline);
    else {
      fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
          GST_STATE_CHANGE_FAILURE);
      fail_unless_equals_int (gst_element_set_state (pipeline,
              GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    }
  }
  gst_element_set_state (keeper, GST_STATE_NULL);
  gst_object_unref (keeper);
  fail_unless_equals_int (clipfilter_threads (), threads);
  gst_object_unref (pipeline);
  g_free (desc);
}

GST_END_TEST;

/* ---- "is X happening?": similarity gate, background, pooling ------------ */

/* Runs "videotestsrc @src ! clipfilter (shipped model) @props ! fakesink"
 * to EOS; returns the trace of @label's tags ('+'/'-') and the lowest
 * similarity any "on" of it had in @min_on (2 when none). Checks are made
 * after the pipeline stopped, so a failure never leaves it running. */
static gchar *
shipped_model_trace (const gchar * src, const gchar * props,
    const gchar * label, gdouble * min_on)
{
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=40 %s ! "
      "clipfilter mode=sync frame-interval=4 %s ! fakesink", src, props);
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  GstBus *bus;
  GString *t = g_string_new (NULL);
  GstMessage *m;
  guint samples = 0, not_one = 0;
  gboolean error = FALSE;

  fail_unless (pipeline != NULL, "%s", desc);
  bus = gst_element_get_bus (pipeline);
  *min_on = 2.0;
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while ((m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (m);
    GstMessageType type = GST_MESSAGE_TYPE (m);
    gdouble sim = 2.0;

    if (type == GST_MESSAGE_ELEMENT && gst_structure_has_name (s, "clipfilter")) {
      samples++;
      /* one prompt: the softmax alone says 1 on every frame */
      if (array_size (s, "labels") == 1 && array_double (s, "scores", 0) != 1.0)
        not_one++;
    } else if (type == GST_MESSAGE_ELEMENT
        && gst_structure_has_name (s, "clipfilter-tag")
        && g_str_equal (gst_structure_get_string (s, "label"), label)) {
      gboolean on = g_str_equal (gst_structure_get_string (s, "state"), "on");
      gst_structure_get_double (s, "similarity", &sim);
      if (on)
        *min_on = MIN (*min_on, sim);
      g_string_append_c (t, on ? '+' : '-');
    }
    error |= type == GST_MESSAGE_ERROR;
    gst_message_unref (m);
    if (type != GST_MESSAGE_ELEMENT)
      break;
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  fail_if (error, "%s failed", desc);
  fail_unless_equals_int (samples, 10);
  fail_unless_equals_int (not_one, 0);
  g_free (desc);
  return g_string_free (t, FALSE);
}

/* Plays videotestsrc into clipfilter on the shipped model with @props,
 * changes prompts to @later (unless NULL) once running, and returns the
 * texts of every warning posted, in order. */
static GPtrArray *
shipped_model_warnings (const gchar * props, const gchar * later)
{
  /* live when the prompts change, so the stream outlasts the embedding */
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=%s ! "
      "clipfilter name=f mode=sync %s ! fakesink", later ? "30 is-live=true"
      : "20", props);
  GstElement *pipeline = gst_parse_launch (desc, NULL), *f;
  GPtrArray *texts = g_ptr_array_new_with_free_func (g_free);
  GstBus *bus;
  GstMessage *m;
  gboolean error = FALSE;

  fail_unless (pipeline != NULL, "%s", desc);
  bus = gst_element_get_bus (pipeline);
  f = gst_bin_get_by_name (GST_BIN (pipeline), "f");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  if (later) {
    /* the set in use is embedded when the element starts: wait for it */
    fail_unless (gst_element_get_state (pipeline, NULL, NULL,
            30 * GST_SECOND) != GST_STATE_CHANGE_FAILURE);
    g_object_set (f, "prompts", later, NULL);
  }
  while ((m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING))) {
    GstMessageType type = GST_MESSAGE_TYPE (m);

    if (type == GST_MESSAGE_WARNING) {
      GError *err = NULL;

      gst_message_parse_warning (m, &err, NULL);
      g_ptr_array_add (texts, g_strdup (err->message));
      g_error_free (err);
    }
    error |= type == GST_MESSAGE_ERROR;
    gst_message_unref (m);
    if (type != GST_MESSAGE_WARNING)
      break;
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (f);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  fail_if (error, "%s failed", desc);
  g_free (desc);
  return texts;
}

GST_START_TEST (test_shipped_model_warns_unknown_words)
{
  GPtrArray *w = shipped_model_warnings ("prompts=\"person cooking;a ball\"",
      NULL);
  const gchar *t;

  fail_unless_equals_int (w->len, 1);
  t = g_ptr_array_index (w, 0);
  fail_unless (strstr (t, "never saw these prompt words: person, cooking.")
      != NULL, "%s", t);
  fail_unless (strstr (t, "\"clipfilter-mini\"") != NULL, "%s", t);
  fail_unless (strstr (t, "models/fetch-model.sh") != NULL, "%s", t);
  fail_if (strstr (t, "ball") != NULL, "%s", t);
  g_ptr_array_unref (w);
}

GST_END_TEST;

GST_START_TEST (test_shipped_model_known_words_no_warning)
{
  /* labels, synonyms, templates and background: all words it was trained
   * on, in any case; "'s" is an ending CLIP's tokenizer splits off */
  GPtrArray *w = shipped_model_warnings ("prompts=\"a ball|a red circle;"
      "Colour Bars;the ball's colour\" templates=\"a photo of {}.\" "
      "background-prompts=\"tv static\"", NULL);

  fail_unless_equals_int (w->len, 0);
  g_ptr_array_unref (w);
}

GST_END_TEST;

GST_START_TEST (test_shipped_model_warns_each_prompt_set_once)
{
  /* a known set, then an unknown word in a synonym of a new set: one
   * warning, for the new set only */
  GPtrArray *w = shipped_model_warnings ("prompts=\"a ball;snow\"",
      "a ball|a dancing ball;snow");

  fail_unless_equals_int (w->len, 1);
  fail_unless (strstr (g_ptr_array_index (w, 0),
          "never saw these prompt words: dancing.") != NULL, "%s",
      (gchar *) g_ptr_array_index (w, 0));
  g_ptr_array_unref (w);
}

GST_END_TEST;

GST_START_TEST (test_one_prompt_non_matching_never_on)
{
  /* the shipped model's closest non-match is "a ball" on a plain cyan
   * screen (cosine 0.34); snow and colour bars are far below */
  const gchar *srcs[] = { "pattern=snow", "pattern=smpte",
    "pattern=solid-color foreground-color=0xff00ffff", "pattern=checkers-8"
  };
  guint i;

  gdouble min_on;

  for (i = 0; i < G_N_ELEMENTS (srcs); i++) {
    gchar *t = shipped_model_trace (srcs[i], "prompts=\"a ball\"", "a ball",
        &min_on);
    fail_unless_equals_string (t, "");
    g_free (t);
  }
}

GST_END_TEST;

GST_START_TEST (test_one_prompt_matching_turns_on)
{
  gdouble min_on;
  gchar *t = shipped_model_trace ("pattern=ball", "prompts=\"a ball\"",
      "a ball", &min_on);

  /* on at the first sample, closed at EOS; the moving ball's cosine dips
   * below the gate on a few frames (docs/element.md), so it may turn off
   * and on again in between */
  fail_unless (g_str_has_prefix (t, "+") && g_str_has_suffix (t, "-"), "%s", t);
  /* the default gate is 0.4 */
  fail_unless (min_on >= 0.4, "on at similarity %f", min_on);
  g_free (t);
  t = shipped_model_trace ("pattern=snow", "prompts=\"tv static\"",
      "tv static", &min_on);
  fail_unless_equals_string (t, "+-");
  fail_unless (min_on >= 0.4, "on at similarity %f", min_on);
  g_free (t);
  /* the gate off (-1): the constant softmax 1 turns the wrong label on */
  t = shipped_model_trace ("pattern=snow",
      "prompts=\"a ball\" min-similarity=-1", "a ball", &min_on);
  fail_unless_equals_string (t, "+-");
  fail_unless (min_on < 0.4, "on at similarity %f", min_on);
  g_free (t);
}

GST_END_TEST;

/* Background labels take part in the softmax and are listed, flagged, but
 * never post tags, even at threshold 0 where every other label does. */
GST_START_TEST (test_background_labels_never_tag)
{
  const gchar *specs[] = { "a dog", "a photo of a cat|a cat", "a red car" };
  GstElement *e = make_filter ("prompts", "a dog", "background-prompts",
      " a photo of a cat|a cat; a red car ", "threshold", 0.0, NULL);
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *in = make_frame (&info, 3, 0);
  gfloat sims[3], probs[3];
  const GstStructure *s;
  GstMessage *m;
  gchar *t;
  guint i;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, gst_buffer_ref (in)));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  m = pop_message (f.bus, "clipfilter");
  fail_unless (m != NULL);
  s = gst_message_get_structure (m);
  fail_unless_equals_int (array_size (s, "labels"), 3);
  fail_unless_equals_string (array_string (s, "labels", 1), "a photo of a cat");
  engine_scores (specs, 3, NULL, 0, &info, in, sims, probs, NULL);
  for (i = 0; i < 3; i++) {
    const GValue *bg = gst_value_array_get_value (gst_structure_get_value (s,
            "background"), i);
    fail_unless_equals_int (g_value_get_boolean (bg), i > 0);
    /* the softmax runs over all three */
    fail_unless (fabs (array_double (s, "scores", i) - probs[i]) <= 1e-6);
  }
  gst_message_unref (m);
  /* every tag message, whatever its label, is about "a dog" */
  t = g_strdup ("");
  while ((m = pop_message (f.bus, "clipfilter-tag"))) {
    gchar *u = g_strconcat (t, gst_structure_get_string
        (gst_message_get_structure (m), "label"), ";", NULL);
    g_free (t);
    t = u;
    gst_message_unref (m);
  }
  fail_unless_equals_string (t, "a dog;a dog;");
  g_free (t);
  gst_buffer_unref (in);
  fixture_stop (&f);
}

GST_END_TEST;

/* pooling=embeddings scores the mean of the window's normalized image
 * embeddings: recomputed here from the embeddings the metas carry. */
GST_START_TEST (test_pooling_embeddings_scores_mean_embedding)
{
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  const clip_model_info *mi = clip_model_get_info (ref_model);
  GstElement *e = make_filter ("frame-interval", 1, "window", 2, "pooling",
      GST_CLIP_FILTER_POOLING_EMBEDDINGS, "attach-embedding", TRUE, NULL);
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  gfloat *labels = g_new (gfloat, 3 * mi->embed_dim);
  gfloat *mean = g_new0 (gfloat, mi->embed_dim);
  gfloat sims[3], probs[3];
  clip_error err = { 0 };
  GstMessage *m = NULL;
  const GstStructure *s;
  guint i, j;

  fail_unless_equals_int (clip_embed_labels (ref_ctx, specs, 3, NULL, 0,
          labels, &err), CLIP_OK);
  for (i = 0; i < 2; i++) {
    GstBuffer *out = gst_harness_push_and_pull (f.h, make_frame (&info, i,
            i * GST_SECOND / 10));
    GstClipMeta *meta = gst_buffer_get_clip_meta (out);
    gfloat *unit;

    fail_unless (meta != NULL && meta->embedding != NULL);
    fail_unless_equals_int (meta->embedding_dim, mi->embed_dim);
    unit = g_memdup2 (meta->embedding, mi->embed_dim * sizeof (gfloat));
    clip_normalize (unit, mi->embed_dim);
    for (j = 0; j < (guint) mi->embed_dim; j++)
      mean[j] += unit[j] / 2;
    g_free (unit);
    gst_buffer_unref (out);
    if (m)
      gst_message_unref (m);
    m = pop_message (f.bus, "clipfilter");
  }
  clip_score (ref_model, mean, labels, 3, sims, probs);
  s = gst_message_get_structure (m);
  for (i = 0; i < 3; i++) {
    fail_unless (fabs (array_double (s, "smoothed", i) - probs[i]) <= 1e-5,
        "smoothed %f, mean embedding %f", array_double (s, "smoothed", i),
        probs[i]);
    fail_unless (fabs (array_double (s, "smoothed-similarities", i) -
            sims[i]) <= 1e-5);
  }
  gst_message_unref (m);
  g_free (mean);
  g_free (labels);
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- rejected values, interval ------------------------------------------- */

/* A refused prompts value does not stay in the property, and a later valid
 * templates change is used. */
GST_START_TEST (test_refused_prompts_read_back_value_in_use)
{
  GstElement *e = make_filter ("frame-interval", 1, NULL);
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  const gchar *tmpl[] = { "a blurry photo of {}." };
  gfloat sims[3], probs[3];
  gchar *value = NULL;
  GstMessage *m = NULL;
  GstBuffer *in;
  guint i;

  gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 0, 0)));
  g_object_set (e, "prompts", ";;", NULL);
  m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_WARNING);
  fail_unless (m != NULL, "no warning for refused prompts");
  gst_message_unref (m);
  g_object_get (e, "prompts", &value, NULL);
  fail_unless_equals_string (value, PROMPTS);
  g_free (value);
  g_object_set (e, "templates", "{}.;no placeholder", NULL);
  g_object_get (e, "templates", &value, NULL);
  fail_unless_equals_string (value, "{}");
  g_free (value);

  /* a valid templates change now works */
  g_object_set (e, "templates", tmpl[0], NULL);
  engine_scores (specs, 3, tmpl, 1, &info, in = make_frame (&info, 5, 0),
      sims, probs, NULL);
  for (i = 1; i < 400; i++) {
    gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 5,
                i * GST_SECOND / 10)));
    m = pop_message (f.bus, "clipfilter");
    fail_unless (m != NULL);
    if (fabs (array_double (gst_message_get_structure (m), "scores", 0) -
            probs[0]) <= 1e-6)
      break;
    gst_message_unref (m);
    m = NULL;
    g_usleep (5000);
  }
  fail_unless (m != NULL, "the new templates were never used");
  gst_message_unref (m);
  m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_WARNING);
  fail_unless (m == NULL, "a valid change was refused");
  gst_buffer_unref (in);
  fixture_stop (&f);
}

GST_END_TEST;

/* Background prompts are checked like prompts while a set is in use. */
GST_START_TEST (test_refused_background_prompts)
{
  GstElement *e = make_filter ("frame-interval", 1, NULL);
  Fixture f = fixture_start (e, CAPS_RGB);
  gchar *value = NULL;
  GstMessage *m;

  g_object_set (e, "background-prompts", "an empty room;\xff", NULL);
  m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_WARNING);
  fail_unless (m != NULL);
  gst_message_unref (m);
  g_object_get (e, "background-prompts", &value, NULL);
  fail_unless (value == NULL);
  fixture_stop (&f);
}

GST_END_TEST;

GST_START_TEST (test_interval_minus_one_is_first_frame_only)
{
  GstElement *e = make_filter (NULL);
  GParamSpec *pspec;
  gint64 interval = 0;
  GArray *t;

  /* as gst-launch-1.0 writes it: a documented value, read back as set */
  gst_util_set_object_arg (G_OBJECT (e), "interval", "-1");
  g_object_get (e, "interval", &interval, NULL);
  fail_unless_equals_int64 (interval, -1);
  t = sampled_times (e, 10);
  fail_unless_equals_int (t->len, 1);
  g_array_unref (t);
  /* the blurb's example; nothing below -1 exists */
  e = make_filter (NULL);
  gst_util_set_object_arg (G_OBJECT (e), "interval", "1000000000");
  g_object_get (e, "interval", &interval, NULL);
  fail_unless_equals_int64 (interval, GST_SECOND);
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "interval");
  fail_unless_equals_int64 (G_PARAM_SPEC_INT64 (pspec)->minimum, -1);
  fail_unless (strstr (g_param_spec_get_blurb (pspec), "nanoseconds"));
  fail_unless (strstr (g_param_spec_get_blurb (pspec), "1000000000 = 1 s"));
  gst_object_unref (e);
}

GST_END_TEST;

/* ---- change gate --------------------------------------------------------- */

/* Pushes frames of the given seeds, 100 ms apart, through @e (sync, every
 * frame sampled); returns the messages' and metas' reused flags as 'r'
 * (reused) or 'f' (fresh), and the first score of each in @scores. */
static gchar *
reuse_trace (GstElement * e, const guint * seeds, guint n, gdouble * scores)
{
  Fixture f = fixture_start (e, CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GString *t = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++) {
    GstBuffer *out = gst_harness_push_and_pull (f.h, make_frame (&info,
            seeds[i], i * GST_SECOND / 10));
    GstClipMeta *meta = gst_buffer_get_clip_meta (out);
    GstMessage *m = pop_message (f.bus, "clipfilter");
    gboolean reused = FALSE;

    fail_unless (m != NULL && meta != NULL);
    fail_unless (gst_structure_get_boolean (gst_message_get_structure (m),
            "reused", &reused));
    fail_unless_equals_int (meta->reused, reused);
    scores[i] = array_double (gst_message_get_structure (m), "scores", 0);
    g_string_append_c (t, reused ? 'r' : 'f');
    gst_message_unref (m);
    gst_buffer_unref (out);
  }
  fixture_stop (&f);
  return g_string_free (t, FALSE);
}

GST_START_TEST (test_change_gate_static_input_reused)
{
  const guint seeds[] = { 2, 2, 2, 2 };
  gdouble scores[4];
  gchar *t;
  guint i;

  /* off by default: every sample is encoded */
  t = reuse_trace (make_filter ("frame-interval", 1, NULL), seeds, 4, scores);
  fail_unless_equals_string (t, "ffff");
  g_free (t);
  t = reuse_trace (make_filter ("frame-interval", 1, "change-threshold", 0.01,
          "max-reuse", (guint64) 0, NULL), seeds, 4, scores);
  fail_unless_equals_string (t, "frrr");
  for (i = 1; i < 4; i++)
    fail_unless_equals_float (scores[i], scores[0]);
  g_free (t);
}

GST_END_TEST;

GST_START_TEST (test_change_gate_change_gives_fresh_result)
{
  const gchar *specs[] = { "a photo of a cat|a cat", "a dog", "a red car" };
  const guint seeds[] = { 0, 0, 1, 1, 0 };
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GstBuffer *b = make_frame (&info, 1, 0);
  gdouble scores[5];
  gfloat sims[3], probs[3];
  gchar *t;

  t = reuse_trace (make_filter ("frame-interval", 1, "change-threshold", 0.01,
          "max-reuse", (guint64) 0, NULL), seeds, 5, scores);
  /* the changed frame is encoded at once, and so is the change back */
  fail_unless_equals_string (t, "frfrf");
  engine_scores (specs, 3, NULL, 0, &info, b, sims, probs, NULL);
  fail_unless (fabs (scores[2] - probs[0]) <= 1e-6);
  fail_unless_equals_float (scores[3], scores[2]);
  fail_unless_equals_float (scores[4], scores[0]);
  gst_buffer_unref (b);
  g_free (t);
}

GST_END_TEST;

GST_START_TEST (test_change_gate_forced_refresh)
{
  const guint seeds[] = { 3, 3, 3, 3, 3, 3, 3 };
  gdouble scores[7];
  gchar *t;

  /* frames every 100 ms: encoded again once 250 ms have passed */
  t = reuse_trace (make_filter ("frame-interval", 1, "change-threshold", 0.01,
          "max-reuse", (guint64) 250 * GST_MSECOND, NULL), seeds, 7, scores);
  fail_unless_equals_string (t, "frrfrrf");
  g_free (t);
}

GST_END_TEST;

/* Async: a reused frame needs no worker; its result rides the next buffer
 * like any async result. */
GST_START_TEST (test_change_gate_async)
{
  Fixture f = fixture_start (make_filter ("mode", GST_CLIP_FILTER_MODE_ASYNC,
          "frame-interval", 1, "change-threshold", 0.01, "max-reuse",
          (guint64) 0, NULL), CAPS_RGB);
  GstVideoInfo info = info_from_caps (CAPS_RGB);
  GString *t = g_string_new (NULL);
  GstMessage *m;
  guint i;

  for (i = 0; i < 400 && t->len < 4; i++) {
    gst_buffer_unref (gst_harness_push_and_pull (f.h, make_frame (&info, 2,
                i * GST_SECOND / 10)));
    while ((m = pop_message (f.bus, "clipfilter"))) {
      gboolean reused = FALSE;
      fail_unless (gst_structure_get_boolean (gst_message_get_structure (m),
              "reused", &reused));
      g_string_append_c (t, reused ? 'r' : 'f');
      gst_message_unref (m);
    }
    g_usleep (2000);
  }
  fail_unless_equals_string (t->str, "frrr");
  g_string_free (t, TRUE);
  fixture_stop (&f);
}

GST_END_TEST;

/* ---- main ------------------------------------------------------------------ */

static Suite *
clipfilter_suite (void)
{
  Suite *s = suite_create ("clipfilter");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_every_format_passes_unchanged);
  tcase_add_test (tc, test_unsupported_format_refused);
  tcase_add_test (tc, test_other_metas_survive);
  tcase_add_test (tc, test_scores_equal_engine_rgb);
  tcase_add_test (tc, test_scores_equal_engine_nv12_bt709_full_range);
  tcase_add_test (tc, test_scores_equal_engine_i420_bt601);
  tcase_add_test (tc, test_engine_formats_odd_size_equal_engine);
  tcase_add_test (tc, test_converted_formats_equal_videoconvert);
  tcase_add_test (tc, test_message_fields);
  tcase_add_test (tc, test_meta_survives_copy);
  tcase_add_test (tc, test_interval_cadence);
  tcase_add_test (tc, test_interval_max_samples_first_frame_only);
  tcase_add_test (tc, test_bytes_segment_uses_timestamps);
  tcase_add_test (tc, test_interval_change_while_playing);
  tcase_add_test (tc, test_reverse_playback_cadence_and_running_time);
  tcase_add_test (tc, test_frame_interval_cadence);
  tcase_add_test (tc, test_unsampled_frames_not_mapped);
  tcase_add_test (tc, test_sync_analyzes_every_sample);
  tcase_add_test (tc, test_sync_reports_latency);
  tcase_add_test (tc, test_sync_batches);
  tcase_add_test (tc, test_async_never_waits_and_counts_skips);
  tcase_add_test (tc, test_async_eos_delivers_pending_result);
  tcase_add_test (tc, test_auto_mode_is_async_for_live_upstream);
  tcase_add_test (tc, test_auto_mode_is_sync_for_non_live_upstream);
  tcase_add_test (tc, test_prompt_change_while_playing);
  tcase_add_test (tc, test_invalid_prompt_change_keeps_old_set);
  tcase_add_test (tc, test_templates_are_ensembled);
  tcase_add_test (tc, test_renegotiation_to_new_resolution);
  tcase_add_test (tc, test_eos_closes_open_tags);
  tcase_add_test (tc, test_flush_closes_tags_and_restarts_cadence);
  tcase_add_test (tc, test_discont_restarts_smoothing);
  tcase_add_test (tc, test_one_prompt_non_matching_never_on);
  tcase_add_test (tc, test_shipped_model_warns_unknown_words);
  tcase_add_test (tc, test_shipped_model_known_words_no_warning);
  tcase_add_test (tc, test_shipped_model_warns_each_prompt_set_once);
  tcase_add_test (tc, test_one_prompt_matching_turns_on);
  tcase_add_test (tc, test_background_labels_never_tag);
  tcase_add_test (tc, test_pooling_embeddings_scores_mean_embedding);
  tcase_add_test (tc, test_refused_prompts_read_back_value_in_use);
  tcase_add_test (tc, test_refused_background_prompts);
  tcase_add_test (tc, test_interval_minus_one_is_first_frame_only);
  tcase_add_test (tc, test_change_gate_static_input_reused);
  tcase_add_test (tc, test_change_gate_change_gives_fresh_result);
  tcase_add_test (tc, test_change_gate_forced_refresh);
  tcase_add_test (tc, test_change_gate_async);
  tcase_add_test (tc, test_hysteresis);
  tcase_add_test (tc, test_window_smooths);
  tcase_add_test (tc, test_backend_values);
  tcase_add_test (tc, test_bf16_scores_equal_engine_bf16);
  tcase_add_test (tc, test_shared_model_keeps_precisions_apart);
  tcase_add_test (tc, test_error_bf16_with_openblas);
  tcase_add_test (tc, test_error_model_not_found);
  tcase_add_test (tc, test_error_model_name_not_found);
  tcase_add_test (tc, test_model_name_found_in_model_path);
  tcase_add_test (tc, test_error_bad_model_dir);
  tcase_add_test (tc, test_error_no_prompts);
  tcase_add_test (tc, test_error_empty_prompts);
  tcase_add_test (tc, test_error_only_separators);
  tcase_add_test (tc, test_error_invalid_utf8);
  tcase_add_test (tc, test_error_template_without_placeholder);
  tcase_add_test (tc, test_long_prompt_is_truncated);
  tcase_add_test (tc, test_state_cycles_leave_no_thread);
  return s;
}

int
main (int argc, char **argv)
{
  const gchar *kit = g_getenv ("CLIP_REFERENCE_DIR");
  gboolean ci = g_strcmp0 (g_getenv ("CI"), "true") == 0;
  clip_error err = { 0 };
  Suite *s;
  SRunner *sr;
  int failed;

  model_path = kit ? g_build_filename (kit, "tiny-b32", NULL) : NULL;
  if (!model_path || !g_file_test (model_path, G_FILE_TEST_IS_DIR)) {
    g_printerr
        ("reference kit model not found at '%s' (CLIP_REFERENCE_DIR)%s\n",
        model_path ? model_path : "(unset)",
        ci ? "; under CI=true it must be present" : ": skipping");
    g_free (model_path);
    return ci ? 1 : 77;
  }
  ref_model = clip_model_load (model_path, NULL, &err);
  if (!ref_model) {
    g_printerr ("cannot load %s: %s\n", model_path, err.message);
    return 1;
  }
  ref_ctx = clip_ctx_new (ref_model, &err);
  if (!ref_ctx) {
    g_printerr ("cannot create a context: %s\n", err.message);
    return 1;
  }

  /* gst_check_init also deinitializes GStreamer at exit */
  gst_check_init (&argc, &argv);
  s = clipfilter_suite ();
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);

  clip_ctx_free (ref_ctx);
  clip_model_free (ref_model);
  g_free (model_path);
  return failed == 0 ? 0 : 1;
}
