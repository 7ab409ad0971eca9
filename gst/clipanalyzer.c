/* clipanalyzer.c — image encoding and scoring of sampled frames. */
#include "clipanalyzer.h"

#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (gst_clip_filter_debug);
#define GST_CAT_DEFAULT gst_clip_filter_debug

struct _ClipAnalyzer
{
  GstElement *element;          /* not a reference: the element outlives it */
  clip_model *model;
  clip_ctx *ctx;                /* streaming thread (sync) or worker (async) */
  gint embed_dim, image_size;
  gulong debug_delay_us;

  /* negotiated format (streaming thread) */
  GstVideoInfo info;
  gboolean have_format;
  clip_image image;
  /* Formats the engine does not read: the sampled frame is converted to
   * RGBx first, only the part the engine's resize and crop read. Both are
   * made in set_format for the negotiated caps. */
  GstVideoConverter *convert;
  GstVideoInfo rgb_info;        /* same size as info, RGBx */
  GstBuffer *rgb;               /* the converted frame */

  gfloat *pixels;               /* [batch, 3, S, S] */
  guint batch;
  ClipSample **pending;         /* sync: sampled frames waiting for a full batch */
  guint n_pending;
  guint n_fresh;                /* sync: of those, the ones to encode (input slots) */

  /* change gate (streaming thread) */
  gdouble gate_threshold;
  GstClockTime max_reuse;
  gfloat *last_input;           /* [3, S, S]: input of the last encoded frame */
  gboolean have_last_input;
  GstClockTime last_input_time; /* its stream time */
  /* embedding of the last encoded frame, in frame order: written by the
   * thread that encodes, read for reused frames after it */
  gfloat *last_embed;

  GMutex lock;                  /* guards everything below */
  GCond cond;
  gboolean async;
  GThread *worker;
  gboolean quit;
  ClipSample *job;              /* non-NULL while the worker is busy */
  ClipSample *done;             /* a finished result not yet taken */
  guint64 generation;           /* bumped on flush: stale results are dropped */
  GstClockTime latency;         /* worst analysis time seen in sync mode */
};

ClipSample *
clip_sample_new (ClipLabels * labels, guint64 generation)
{
  ClipSample *s = g_new0 (ClipSample, 1);

  s->labels = clip_labels_ref (labels);
  s->generation = generation;
  return s;
}

void
clip_sample_free (ClipSample * s)
{
  if (!s)
    return;
  clip_labels_unref (s->labels);
  g_free (s->embed);
  g_free (s->sims);
  g_free (s->probs);
  g_free (s);
}

ClipAnalyzer *
clip_analyzer_new (GstElement * element, clip_model * model, guint batch,
    clip_error * err)
{
  const clip_model_info *info = clip_model_get_info (model);
  ClipAnalyzer *a;
  clip_ctx *ctx = clip_ctx_new (model, err);
  const gchar *delay;

  if (!ctx)
    return NULL;
  a = g_new0 (ClipAnalyzer, 1);
  a->element = element;
  a->model = model;
  a->ctx = ctx;
  a->embed_dim = info->embed_dim;
  a->image_size = info->image_size;
  a->batch = MAX (batch, 1);
  a->pixels = g_new0 (gfloat, (gsize) a->batch * 3 * a->image_size *
      a->image_size);
  a->pending = g_new0 (ClipSample *, a->batch);
  a->last_input = g_new0 (gfloat, (gsize) 3 * a->image_size * a->image_size);
  a->last_embed = g_new0 (gfloat, a->embed_dim);
  g_mutex_init (&a->lock);
  g_cond_init (&a->cond);
  /* Test hook: an artificially slow analysis (sync vs async tests). */
  if ((delay = g_getenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS")))
    a->debug_delay_us = (gulong) g_ascii_strtoull (delay, NULL, 10) * 1000;
  return a;
}

void
clip_analyzer_free (ClipAnalyzer * a)
{
  if (!a)
    return;
  clip_analyzer_stop (a);
  clip_analyzer_clear_format (a);
  g_free (a->pixels);
  g_free (a->pending);
  g_free (a->last_input);
  g_free (a->last_embed);
  clip_ctx_free (a->ctx);
  g_mutex_clear (&a->lock);
  g_cond_clear (&a->cond);
  g_free (a);
}

/* Encodes the fresh ones of the n samples (their inputs fill a->pixels in
 * order) in one batch; a reused sample takes the embedding of the last
 * frame encoded before it. Each is scored against its own label set. Runs
 * on the thread that owns the context. */
static gboolean
analyze (ClipAnalyzer * a, ClipSample ** smps, guint n)
{
  clip_error err = { 0 };
  gfloat *embeds = g_new0 (gfloat, (gsize) n * a->embed_dim);
  guint i, fresh = 0;

  for (i = 0; i < n; i++)
    fresh += !smps[i]->reused;
  if (fresh && a->debug_delay_us)
    g_usleep (a->debug_delay_us);
  if (fresh && clip_encode_images (a->ctx, a->pixels, (int) fresh, embeds,
          NULL, &err) != CLIP_OK) {
    GST_ELEMENT_ERROR (a->element, STREAM, FAILED,
        ("CLIP image encoding failed: %s", err.message), (NULL));
    g_free (embeds);
    return FALSE;
  }
  for (i = 0, fresh = 0; i < n; i++) {
    ClipSample *s = smps[i];
    if (!s->reused) {
      memcpy (a->last_embed, embeds + (gsize) fresh++ * a->embed_dim,
          a->embed_dim * sizeof (gfloat));
    }
    s->embed = g_memdup2 (a->last_embed, a->embed_dim * sizeof (gfloat));
    s->sims = g_new0 (gfloat, s->labels->n);
    s->probs = g_new0 (gfloat, s->labels->n);
    clip_score (a->model, s->embed, s->labels->embeds, s->labels->n, s->sims,
        s->probs);
  }
  g_free (embeds);
  return TRUE;
}

static gpointer
worker_func (gpointer data)
{
  ClipAnalyzer *a = data;

  g_mutex_lock (&a->lock);
  while (!a->quit) {
    ClipSample *s = a->job;
    gboolean ok;

    if (!s || a->done) {
      g_cond_wait (&a->cond, &a->lock);
      continue;
    }
    g_mutex_unlock (&a->lock);
    ok = analyze (a, &s, 1);
    g_mutex_lock (&a->lock);
    a->job = NULL;
    if (ok && s->generation == a->generation)
      a->done = s;
    else
      clip_sample_free (s);
    g_cond_broadcast (&a->cond);
  }
  g_mutex_unlock (&a->lock);
  return NULL;
}

void
clip_analyzer_set_async (ClipAnalyzer * a, gboolean async)
{
  /* under the lock: the LATENCY query reads it from another thread */
  g_mutex_lock (&a->lock);
  a->async = async;
  g_mutex_unlock (&a->lock);
  if (async && !a->worker)
    a->worker = g_thread_new ("clipfilter-worker", worker_func, a);
}

guint64
clip_analyzer_generation (ClipAnalyzer * a)
{
  guint64 g;

  g_mutex_lock (&a->lock);
  g = a->generation;
  g_mutex_unlock (&a->lock);
  return g;
}

ClipSample *
clip_analyzer_take_done (ClipAnalyzer * a, gboolean * busy)
{
  ClipSample *done;

  g_mutex_lock (&a->lock);
  done = a->done;
  a->done = NULL;
  *busy = a->job != NULL;
  g_mutex_unlock (&a->lock);
  return done;
}

/* The engine reads these itself (and YUV only in the matrices it knows):
 * exact Pillow resampling from RGB, no full-size conversion of YUV. */
static gboolean
engine_format (const GstVideoInfo * info, clip_pixel_format * f)
{
  GstVideoColorMatrix m = GST_VIDEO_INFO_COLORIMETRY (info).matrix;
  gboolean yuv_ok = m == GST_VIDEO_COLOR_MATRIX_BT601
      || m == GST_VIDEO_COLOR_MATRIX_BT709
      || m == GST_VIDEO_COLOR_MATRIX_UNKNOWN;

  switch (GST_VIDEO_INFO_FORMAT (info)) {
    case GST_VIDEO_FORMAT_RGB:
      *f = CLIP_FORMAT_RGB;
      return TRUE;
    case GST_VIDEO_FORMAT_BGR:
      *f = CLIP_FORMAT_BGR;
      return TRUE;
    case GST_VIDEO_FORMAT_RGBA:
      *f = CLIP_FORMAT_RGBA;
      return TRUE;
    case GST_VIDEO_FORMAT_BGRA:
      *f = CLIP_FORMAT_BGRA;
      return TRUE;
    case GST_VIDEO_FORMAT_RGBx:
      *f = CLIP_FORMAT_RGBX;
      return TRUE;
    case GST_VIDEO_FORMAT_BGRx:
      *f = CLIP_FORMAT_BGRX;
      return TRUE;
    case GST_VIDEO_FORMAT_xRGB:
      *f = CLIP_FORMAT_XRGB;
      return TRUE;
    case GST_VIDEO_FORMAT_xBGR:
      *f = CLIP_FORMAT_XBGR;
      return TRUE;
    case GST_VIDEO_FORMAT_GRAY8:
      *f = CLIP_FORMAT_GRAY8;
      return TRUE;
    case GST_VIDEO_FORMAT_I420:
      *f = CLIP_FORMAT_I420;
      return yuv_ok;
    case GST_VIDEO_FORMAT_NV12:
      *f = CLIP_FORMAT_NV12;
      return yuv_ok;
    case GST_VIDEO_FORMAT_Y444:
      *f = CLIP_FORMAT_Y444;
      return yuv_ok;
    default:
      return FALSE;
  }
}

void
clip_analyzer_clear_format (ClipAnalyzer * a)
{
  g_clear_pointer (&a->convert, gst_video_converter_free);
  gst_clear_buffer (&a->rgb);
  a->have_format = FALSE;
}

gboolean
clip_analyzer_set_format (ClipAnalyzer * a, const GstVideoInfo * info)
{
  clip_image *im = &a->image;
  const GstVideoColorimetry *c = &GST_VIDEO_INFO_COLORIMETRY (info);
  gint w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);

  clip_analyzer_clear_format (a);
  memset (im, 0, sizeof *im);
  im->width = w;
  im->height = h;
  a->info = *info;
  if (engine_format (info, &im->format)) {
    im->matrix = c->matrix == GST_VIDEO_COLOR_MATRIX_BT709 ?
        CLIP_MATRIX_BT709 : CLIP_MATRIX_BT601;
    im->full_range = c->range == GST_VIDEO_COLOR_RANGE_0_255;
    a->have_format = TRUE;
    return TRUE;
  }
  if (w <= 0 || h <= 0)
    return FALSE;

  /* Converted: the same bytes as `videoconvert ! video/x-raw,format=RGBx`
   * in front (the converter's defaults are videoconvert's), on sampled
   * frames only. The whole frame is converted: converting only the part
   * the resize reads can take another of the converter's paths and round
   * differently (e.g. A420). */
  im->format = CLIP_FORMAT_RGBX;
  gst_video_info_set_interlaced_format (&a->rgb_info, GST_VIDEO_FORMAT_RGBx,
      GST_VIDEO_INFO_INTERLACE_MODE (info), w, h);
  /* the converter wants these equal */
  GST_VIDEO_INFO_FPS_N (&a->rgb_info) = GST_VIDEO_INFO_FPS_N (info);
  GST_VIDEO_INFO_FPS_D (&a->rgb_info) = GST_VIDEO_INFO_FPS_D (info);
  a->convert = gst_video_converter_new (info, &a->rgb_info, NULL);
  if (!a->convert)
    return FALSE;
  a->rgb = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&a->rgb_info),
      NULL);
  a->have_format = TRUE;
  GST_DEBUG_OBJECT (a->element, "%s converted to RGBx when sampled",
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (info)));
  return TRUE;
}

gboolean
clip_analyzer_preprocess (ClipAnalyzer * a, GstBuffer * buf,
    gboolean * unmapped, clip_error * err)
{
  GstVideoFrame frame, rgb;
  GstVideoFrame *src = &frame;
  clip_status status;
  gint i;

  *unmapped = !a->have_format
      || !gst_video_frame_map (&frame, &a->info, buf, GST_MAP_READ);
  if (*unmapped)
    return FALSE;
  if (a->convert) {
    if (!gst_video_frame_map (&rgb, &a->rgb_info, a->rgb, GST_MAP_WRITE)) {
      gst_video_frame_unmap (&frame);
      *unmapped = TRUE;
      return FALSE;
    }
    gst_video_converter_frame (a->convert, &frame, &rgb);
    src = &rgb;
  }
  for (i = 0; i < (gint) GST_VIDEO_FRAME_N_PLANES (src) && i < 3; i++) {
    a->image.planes[i] = GST_VIDEO_FRAME_PLANE_DATA (src, i);
    a->image.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE (src, i);
  }
  /* The worker is idle, so the input is ours to fill (sync: the next free
   * slot of the batch). */
  status = clip_preprocess (a->model, &a->image, a->pixels +
      (gsize) a->n_fresh * 3 * a->image_size * a->image_size, err);
  if (a->convert)
    gst_video_frame_unmap (&rgb);
  gst_video_frame_unmap (&frame);
  memset (a->image.planes, 0, sizeof a->image.planes);
  return status == CLIP_OK;
}

void
clip_analyzer_set_gate (ClipAnalyzer * a, gdouble threshold,
    GstClockTime max_reuse)
{
  a->gate_threshold = threshold;
  a->max_reuse = max_reuse;
}

/* Whether the input just preprocessed (slot n_fresh) may reuse the last
 * embedding: decided on the model input, already reduced to S x S, so the
 * test costs one pass over 3·S·S floats. */
static gboolean
unchanged (ClipAnalyzer * a, GstClockTime stime)
{
  const gsize len = (gsize) 3 * a->image_size * a->image_size;
  const gfloat *in = a->pixels + (gsize) a->n_fresh * len;
  gdouble change;

  if (a->gate_threshold <= 0.0 || !a->have_last_input)
    return FALSE;
  if (a->max_reuse > 0 && (!GST_CLOCK_TIME_IS_VALID (stime)
          || !GST_CLOCK_TIME_IS_VALID (a->last_input_time)
          || stime < a->last_input_time
          || stime - a->last_input_time >= a->max_reuse))
    return FALSE;
  change = clip_input_change (in, a->last_input, len);
  GST_LOG_OBJECT (a->element, "input change %.4f (threshold %.4f)",
      change, a->gate_threshold);
  return change < a->gate_threshold;
}

gboolean
clip_analyzer_submit (ClipAnalyzer * a, ClipSample * s)
{
  const gsize len = (gsize) 3 * a->image_size * a->image_size;

  s->reused = unchanged (a, s->stream_time);
  if (a->gate_threshold <= 0.0) {
    /* off: keep no reference, so turning it on starts afresh */
    a->have_last_input = FALSE;
  } else if (!s->reused) {
    memcpy (a->last_input, a->pixels + (gsize) a->n_fresh * len,
        len * sizeof (gfloat));
    a->have_last_input = TRUE;
    a->last_input_time = s->stream_time;
  }
  if (a->async) {
    g_mutex_lock (&a->lock);
    if (s->reused) {
      /* The worker is idle and its last result taken: no wait, no job. */
      analyze (a, &s, 1);
      a->done = s;
    } else {
      a->job = s;
      g_cond_broadcast (&a->cond);
    }
    g_mutex_unlock (&a->lock);
    return FALSE;
  }
  a->pending[a->n_pending++] = s;
  a->n_fresh += !s->reused;
  return a->n_pending == a->batch;
}

gboolean
clip_analyzer_run_batch (ClipAnalyzer * a, GPtrArray * out)
{
  gboolean ok = TRUE;
  guint i;

  if (a->n_pending > 0)
    ok = analyze (a, a->pending, a->n_pending);
  for (i = 0; i < a->n_pending; i++) {
    if (ok)
      g_ptr_array_add (out, a->pending[i]);
    else
      clip_sample_free (a->pending[i]);
    a->pending[i] = NULL;
  }
  a->n_pending = a->n_fresh = 0;
  return ok;
}

ClipSample *
clip_analyzer_drain (ClipAnalyzer * a)
{
  ClipSample *done;

  g_mutex_lock (&a->lock);
  while (a->job && a->worker)
    g_cond_wait (&a->cond, &a->lock);
  done = a->done;
  a->done = NULL;
  g_mutex_unlock (&a->lock);
  return done;
}

/* Drops the pending samples and forgets the last input and embedding:
 * after a flush nothing is reused from before it. */
static void
drop_pending (ClipAnalyzer * a)
{
  guint i;

  for (i = 0; i < a->n_pending; i++) {
    clip_sample_free (a->pending[i]);
    a->pending[i] = NULL;
  }
  a->n_pending = a->n_fresh = 0;
  a->have_last_input = FALSE;
}

void
clip_analyzer_flush (ClipAnalyzer * a)
{
  g_mutex_lock (&a->lock);
  drop_pending (a);
  a->generation++;
  clip_sample_free (a->done);
  a->done = NULL;
  g_mutex_unlock (&a->lock);
}

void
clip_analyzer_stop (ClipAnalyzer * a)
{
  g_mutex_lock (&a->lock);
  a->quit = TRUE;
  g_cond_broadcast (&a->cond);
  g_mutex_unlock (&a->lock);
  if (a->worker)
    g_thread_join (a->worker);
  a->worker = NULL;
  a->quit = FALSE;
  clip_sample_free (a->job);
  clip_sample_free (a->done);
  a->job = a->done = NULL;
  drop_pending (a);
}

gboolean
clip_analyzer_add_latency (ClipAnalyzer * a, GstClockTime t)
{
  gboolean grew = FALSE;

  g_mutex_lock (&a->lock);
  if (t > a->latency) {
    grew = t > a->latency + a->latency / 5;
    a->latency = t;
  }
  g_mutex_unlock (&a->lock);
  return grew;
}

GstClockTime
clip_analyzer_latency (ClipAnalyzer * a)
{
  GstClockTime l;

  g_mutex_lock (&a->lock);
  l = a->async ? 0 : a->latency;
  g_mutex_unlock (&a->lock);
  return l;
}

void
clip_analyzer_reset_latency (ClipAnalyzer * a)
{
  g_mutex_lock (&a->lock);
  a->latency = 0;
  g_mutex_unlock (&a->lock);
}
