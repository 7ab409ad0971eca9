/* ingest.c — decode only what is sampled, embed it, merge static stretches. */
#include "ingest.h"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <math.h>
#include <string.h>

#define INGEST_ERROR g_quark_from_static_string("clip-index-ingest")

/* The formats clip_preprocess() reads directly; anything else is converted
 * by videoconvert (which is a passthrough for these). */
#define SINK_CAPS                                                                                  \
  "video/x-raw, format=(string){ I420, NV12, RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, GRAY8 " \
  "}"

typedef struct {
  GstElement *pipeline, *convert, *sink;
  GstClockTime interval;
  gint keyframes;               /* atomic: decoding key frames only */
  GstClockTime due;             /* next stream time to sample (streaming thread) */
  GstClockTime due_after_flush; /* set before a flushing seek */
  GstSegment segment;
  gint linked_video; /* atomic: a video pad was linked */
} decoder;

static bool
clip_image_from_frame(const GstVideoFrame *frame, clip_image *im)
{
  const GstVideoInfo *info = &frame->info;
  const GstVideoColorimetry *c = &GST_VIDEO_INFO_COLORIMETRY(info);
  memset(im, 0, sizeof *im);
  switch (GST_VIDEO_INFO_FORMAT(info)) {
  case GST_VIDEO_FORMAT_RGB: im->format = CLIP_FORMAT_RGB; break;
  case GST_VIDEO_FORMAT_BGR: im->format = CLIP_FORMAT_BGR; break;
  case GST_VIDEO_FORMAT_RGBA: im->format = CLIP_FORMAT_RGBA; break;
  case GST_VIDEO_FORMAT_BGRA: im->format = CLIP_FORMAT_BGRA; break;
  case GST_VIDEO_FORMAT_RGBx: im->format = CLIP_FORMAT_RGBX; break;
  case GST_VIDEO_FORMAT_BGRx: im->format = CLIP_FORMAT_BGRX; break;
  case GST_VIDEO_FORMAT_xRGB: im->format = CLIP_FORMAT_XRGB; break;
  case GST_VIDEO_FORMAT_xBGR: im->format = CLIP_FORMAT_XBGR; break;
  case GST_VIDEO_FORMAT_I420: im->format = CLIP_FORMAT_I420; break;
  case GST_VIDEO_FORMAT_NV12: im->format = CLIP_FORMAT_NV12; break;
  case GST_VIDEO_FORMAT_GRAY8: im->format = CLIP_FORMAT_GRAY8; break;
  default: return false;
  }
  im->width = GST_VIDEO_INFO_WIDTH(info);
  im->height = GST_VIDEO_INFO_HEIGHT(info);
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(frame) && i < 3; i++) {
    im->planes[i] = GST_VIDEO_FRAME_PLANE_DATA(frame, i);
    im->strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(frame, i);
  }
  im->matrix = c->matrix == GST_VIDEO_COLOR_MATRIX_BT709 ? CLIP_MATRIX_BT709 : CLIP_MATRIX_BT601;
  im->full_range = c->range == GST_VIDEO_COLOR_RANGE_0_255;
  return true;
}

/* Preprocesses one pulled sample into out [3, S, S]. */
static bool
preprocess_sample(const clip_model *model, GstSample *sample, float *out, GError **error)
{
  GstVideoInfo info;
  GstVideoFrame frame;
  clip_image im;
  clip_error err = { 0 };
  bool ok;

  if (!gst_video_info_from_caps(&info, gst_sample_get_caps(sample))
      || !gst_video_frame_map(&frame, &info, gst_sample_get_buffer(sample), GST_MAP_READ)) {
    g_set_error(error, INGEST_ERROR, 1, "cannot map a decoded frame");
    return false;
  }
  ok = clip_image_from_frame(&frame, &im) && clip_preprocess(model, &im, out, &err) == CLIP_OK;
  if (!ok)
    g_set_error(error, INGEST_ERROR, 1, "cannot preprocess a %s frame: %s",
                gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&info)),
                err.status ? err.message : "unsupported format");
  gst_video_frame_unmap(&frame);
  return ok;
}

/* Streaming thread: only frames due for a sample reach the appsink, so
 * unsampled frames cost no copy, no queue slot and no wake-up. */
static GstPadProbeReturn
sample_probe(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  decoder *d = data;
  (void) pad;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_SEGMENT)
      gst_event_copy_segment(ev, &d->segment);
    else if (GST_EVENT_TYPE(ev) == GST_EVENT_FLUSH_STOP)
      d->due = d->due_after_flush;
    return GST_PAD_PROBE_OK;
  }
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
    GstClockTime st, tol;
    if (!GST_BUFFER_PTS_IS_VALID(buf) || d->segment.format != GST_FORMAT_TIME)
      return GST_PAD_PROBE_DROP;
    st = gst_segment_to_stream_time(&d->segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    if (!GST_CLOCK_TIME_IS_VALID(st))
      return GST_PAD_PROBE_DROP;
    if (g_atomic_int_get(&d->keyframes)) {
      /* Key frames come where the encoder put them, often a frame or two
       * short of the interval (x264 with B-frames: every 29 frames for a
       * 30-frame GOP): a key frame at least 3/4 of an interval after the
       * last sample is taken, and the next one is due an interval after it,
       * so sampling follows the GOP instead of drifting against a grid. */
      if (st + d->interval / 4 < d->due)
        return GST_PAD_PROBE_DROP;
      d->due = st + d->interval;
      return GST_PAD_PROBE_OK;
    }
    /* Every frame decoded: a frame within half a frame of the due time is
     * on time; due times are multiples of the interval. */
    tol = GST_BUFFER_DURATION_IS_VALID(buf) ? GST_BUFFER_DURATION(buf) / 2 : GST_MSECOND * 10;
    if (st + tol < d->due)
      return GST_PAD_PROBE_DROP;
    d->due = ((st + tol) / d->interval + 1) * d->interval;
    return GST_PAD_PROBE_OK;
  }
  return GST_PAD_PROBE_OK;
}

static void
pad_added(GstElement *src, GstPad *pad, gpointer data)
{
  decoder *d = data;
  GstCaps *caps = gst_pad_get_current_caps(pad);
  GstPad *sinkpad;
  (void) src;
  if (!caps)
    caps = gst_pad_query_caps(pad, NULL);
  if (caps && gst_caps_get_size(caps) > 0
      && g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "video/x-raw")) {
    sinkpad = gst_element_get_static_pad(d->convert, "sink");
    if (!gst_pad_is_linked(sinkpad) && gst_pad_link(pad, sinkpad) == GST_PAD_LINK_OK)
      g_atomic_int_set(&d->linked_video, 1);
    gst_object_unref(sinkpad);
  }
  if (caps)
    gst_caps_unref(caps);
}

/* After the last pad: a file with no video stream would wait for a preroll
 * that never comes, so say so on the bus. */
static void
no_more_pads(GstElement *src, gpointer data)
{
  decoder *d = data;
  if (!g_atomic_int_get(&d->linked_video))
    gst_element_post_message(
        src, gst_message_new_application(GST_OBJECT(src), gst_structure_new_empty("no-video")));
}

static void
decoder_free(decoder *d)
{
  if (d->pipeline) {
    gst_element_set_state(d->pipeline, GST_STATE_NULL);
    gst_object_unref(d->pipeline);
  }
  g_free(d);
}

static decoder *
decoder_new(const char *uri, GstClockTime interval, GError **error)
{
  decoder *d = g_new0(decoder, 1);
  GstElement *src = gst_element_factory_make("uridecodebin", NULL);
  GstCaps *caps, *raw;
  GstPad *pad;

  d->convert = gst_element_factory_make("videoconvert", NULL);
  d->sink = gst_element_factory_make("appsink", NULL);
  if (!src || !d->convert || !d->sink) {
    g_set_error(error, INGEST_ERROR, 1,
                "missing GStreamer element (uridecodebin, videoconvert or appsink)");
    if (src)
      gst_object_unref(src);
    g_clear_pointer((GstElement **) &d->convert, gst_object_unref);
    g_clear_pointer((GstElement **) &d->sink, gst_object_unref);
    g_free(d);
    return NULL;
  }
  gst_segment_init(&d->segment, GST_FORMAT_UNDEFINED);
  d->interval = MAX(interval, 1);
  d->pipeline = gst_pipeline_new("clip-index");
  /* Only video is decoded: other streams are exposed still encoded and left
   * unlinked, which costs nothing. */
  raw = gst_caps_from_string("video/x-raw(ANY)");
  g_object_set(src, "uri", uri, "caps", raw, NULL);
  gst_caps_unref(raw);
  caps = gst_caps_from_string(SINK_CAPS);
  g_object_set(d->sink, "caps", caps, "sync", FALSE, "max-buffers", 4, "drop", FALSE,
               "enable-last-sample", FALSE, NULL);
  gst_caps_unref(caps);
  gst_bin_add_many(GST_BIN(d->pipeline), src, d->convert, d->sink, NULL);
  gst_element_link(d->convert, d->sink);
  g_signal_connect(src, "pad-added", G_CALLBACK(pad_added), d);
  g_signal_connect(src, "no-more-pads", G_CALLBACK(no_more_pads), d);
  pad = gst_element_get_static_pad(d->sink, "sink");
  gst_pad_add_probe(pad,
                    GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM
                        | GST_PAD_PROBE_TYPE_EVENT_FLUSH,
                    sample_probe, d, NULL);
  gst_object_unref(pad);
  return d;
}

/* Turns an error or the no-video note on the bus into a reason. */
static bool
bus_check(decoder *d, GstClockTime timeout, GstMessageType wanted, GError **error)
{
  GstBus *bus = gst_element_get_bus(d->pipeline);
  bool ok = true;
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered(
        bus, timeout, GST_MESSAGE_ERROR | GST_MESSAGE_APPLICATION | wanted);
    if (!m) {
      if (wanted) {
        g_set_error(error, INGEST_ERROR, 1, "timed out waiting for the decoder");
        ok = false;
      }
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error(m, &e, NULL);
      g_set_error(error, INGEST_ERROR, 1, "%s", e ? e->message : "decoder error");
      g_clear_error(&e);
      ok = false;
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_APPLICATION) {
      g_set_error(error, INGEST_ERROR, 1, "no video stream");
      ok = false;
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_STATE_CHANGED
               && GST_MESSAGE_SRC(m) != GST_OBJECT(d->pipeline)) {
      gst_message_unref(m);
      continue;
    }
    gst_message_unref(m);
    break;
  }
  gst_object_unref(bus);
  return ok;
}

typedef struct {
  GstSample *sample;
  double time;
} pending;

typedef struct {
  const ingest_params *p;
  clip_ctx *ctx;
  int dim, image_size;
  store_file *f;
  float *sum;  /* running sum of the open segment's unit embeddings */
  float *mean; /* its normalized mean */
  bool open;
  /* the change gate's reference: the last embedded sample */
  float *ref_input; /* its model input [3, S, S] */
  float *ref_embed; /* its embedding [dim] */
  double ref_time;
  bool have_ref;
} segmenter;

static GBytes *
thumbnail(GstSample *sample, int width, GError **error)
{
  GstVideoInfo info;
  GstCaps *caps;
  GstSample *jpeg;
  GstBuffer *buf;
  GstMapInfo map;
  GBytes *bytes = NULL;
  int height;

  if (width <= 0 || !gst_video_info_from_caps(&info, gst_sample_get_caps(sample)))
    return NULL;
  height =
      (int) ((double) width * info.height * info.par_d / ((double) info.width * info.par_n) + 0.5)
      & ~1;
  caps = gst_caps_new_simple("image/jpeg", "width", G_TYPE_INT, width, "height", G_TYPE_INT,
                             MAX(height, 2), "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  /* gst_video_convert_sample() scales and encodes with jpegenc. */
  jpeg = gst_video_convert_sample(sample, caps, 5 * GST_SECOND, error);
  gst_caps_unref(caps);
  if (!jpeg)
    return NULL;
  buf = gst_sample_get_buffer(jpeg);
  if (buf && gst_buffer_map(buf, &map, GST_MAP_READ)) {
    bytes = g_bytes_new(map.data, map.size);
    gst_buffer_unmap(buf, &map);
  }
  gst_sample_unref(jpeg);
  return bytes;
}

static void
segment_close(segmenter *sg)
{
  if (!sg->open)
    return;
  store_segment *g = &g_array_index(sg->f->segments, store_segment, sg->f->segments->len - 1);
  memcpy(g->embedding, sg->mean, sg->dim * sizeof(float));
  sg->open = false;
}

/* Adds one embedded sample: joins the open segment when its cosine to the
 * segment's mean reaches the threshold, else opens a new segment. */
static void
segment_add(segmenter *sg, GstSample *sample, double time, float *e)
{
  store_sample smp = { .time = time, .duration = sg->p->interval };
  store_segment *g;
  double dot = 0;

  clip_normalize(e, sg->dim);
  if (sg->open)
    for (int i = 0; i < sg->dim; i++)
      dot += (double) e[i] * sg->mean[i];
  if (!sg->open || dot < sg->p->merge) {
    store_segment ng = { .start = time,
                         .embedding = g_new(float, sg->dim),
                         .first_sample = (int) sg->f->samples->len };
    GError *err = NULL;
    segment_close(sg);
    ng.thumbnail = thumbnail(sample, sg->p->thumb_width, &err);
    g_clear_error(&err); /* a missing thumbnail is not worth failing the file */
    g_array_append_val(sg->f->segments, ng);
    memset(sg->sum, 0, sg->dim * sizeof(float));
    sg->open = true;
  }
  g = &g_array_index(sg->f->segments, store_segment, sg->f->segments->len - 1);
  for (int i = 0; i < sg->dim; i++)
    sg->sum[i] += e[i];
  memcpy(sg->mean, sg->sum, sg->dim * sizeof(float));
  clip_normalize(sg->mean, sg->dim);
  g->n_samples++;
  /* The previous sample lasts until this one. */
  if (sg->f->samples->len) {
    store_sample *prev = &g_array_index(sg->f->samples, store_sample, sg->f->samples->len - 1);
    prev->duration = time - prev->time;
  }
  smp.segment = (int) sg->f->segments->len - 1;
  smp.embedding = g_memdup2(e, sg->dim * sizeof(float));
  g_array_append_val(sg->f->samples, smp);
}

/* The change gate: whether the model input `in` at `time` may take the
 * reference's embedding. One pass over 3·S·S floats, nothing beside the
 * cost of an encoding. */
static bool
unchanged(segmenter *sg, const float *in, double time)
{
  const size_t len = (size_t) 3 * sg->image_size * sg->image_size;

  if (sg->p->change_threshold <= 0 || !sg->have_ref)
    return false;
  if (sg->p->max_reuse > 0 && time - sg->ref_time >= sg->p->max_reuse - 1e-6)
    return false;
  return clip_input_change(in, sg->ref_input, len) < sg->p->change_threshold;
}

/* Embeds the pending batch and feeds the segmenter. With the gate on, the
 * samples that changed are packed at the front of pixels and encoded;
 * the others take the embedding of the last encoded sample before them. */
static bool
flush_batch(segmenter *sg, GArray *batch, float *pixels, float *embeds, GError **error)
{
  clip_error err = { 0 };
  size_t plane = (size_t) 3 * sg->image_size * sg->image_size;
  int *source = g_new(int, MAX(batch->len, 1)); /* embeds row of each sample; -1: ref_embed */
  float *e = g_new(float, sg->dim);
  int n_enc = 0, ref = -1;
  bool ok = true;

  if (!batch->len) {
    g_free(source);
    g_free(e);
    return true;
  }
  for (guint i = 0; i < batch->len && ok; i++) {
    pending *q = &g_array_index(batch, pending, i);
    float *in = pixels + (size_t) n_enc * plane;
    if (!(ok = preprocess_sample(sg->p->model, q->sample, in, error)))
      break;
    if (unchanged(sg, in, q->time)) {
      source[i] = ref;
      continue;
    }
    if (sg->p->change_threshold > 0) {
      memcpy(sg->ref_input, in, plane * sizeof(float));
      sg->ref_time = q->time;
      sg->have_ref = true;
    }
    source[i] = ref = n_enc++;
  }
  if (ok && n_enc > 0
      && clip_encode_images(sg->ctx, pixels, n_enc, embeds, NULL, &err) != CLIP_OK) {
    g_set_error(error, INGEST_ERROR, 1, "embedding failed: %s", err.message);
    ok = false;
  }
  if (ok && sg->p->embedded)
    g_atomic_int_add(sg->p->embedded, n_enc);
  for (guint i = 0; i < batch->len; i++) {
    pending *q = &g_array_index(batch, pending, i);
    if (ok) {
      /* a copy: segment_add() normalizes it in place */
      memcpy(e, source[i] >= 0 ? embeds + (size_t) source[i] * sg->dim : sg->ref_embed,
             sg->dim * sizeof(float));
      segment_add(sg, q->sample, q->time, e);
      if (sg->p->progress)
        sg->p->progress(q->time, sg->p->progress_data);
    }
    gst_sample_unref(q->sample);
  }
  if (ok && ref >= 0)
    memcpy(sg->ref_embed, embeds + (size_t) ref * sg->dim, sg->dim * sizeof(float));
  g_array_set_size(batch, 0);
  g_free(source);
  g_free(e);
  return ok;
}

static double
sample_stream_time(GstSample *s)
{
  const GstSegment *seg = gst_sample_get_segment(s);
  GstBuffer *b = gst_sample_get_buffer(s);
  GstClockTime t = gst_segment_to_stream_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(b));
  return GST_CLOCK_TIME_IS_VALID(t) ? (double) t / GST_SECOND : 0;
}

bool
ingest_file(clip_ctx *ctx, const ingest_params *p, const char *uri, store_file *f, GError **error)
{
  static const clip_model_info none = { .embed_dim = 1, .image_size = 1 };
  const clip_model_info *mi = p->decode_only ? &none : clip_model_get_info(p->model);
  decoder *d;
  segmenter sg = { .p = p, .ctx = ctx, .dim = mi->embed_dim, .image_size = mi->image_size, .f = f };
  int batch_max = MAX(p->batch, 1);
  GArray *batch = g_array_new(FALSE, FALSE, sizeof(pending));
  float *pixels = g_new(float, (size_t) batch_max * 3 * mi->image_size * mi->image_size);
  float *embeds = g_new(float, (size_t) batch_max * mi->embed_dim);
  GstClockTime interval_ns = (GstClockTime) (p->interval * GST_SECOND);
  bool keyframes = p->decode != INGEST_DECODE_ALL;
  double last_time = -1;
  gint64 duration_ns = -1;
  bool ok = false;

  f->segments = g_array_new(FALSE, TRUE, sizeof(store_segment));
  f->samples = g_array_new(FALSE, TRUE, sizeof(store_sample));
  f->decode = keyframes ? "keyframes" : "all";
  sg.sum = g_new0(float, sg.dim);
  sg.mean = g_new0(float, sg.dim);
  sg.ref_input = g_new(float, (size_t) 3 * mi->image_size * mi->image_size);
  sg.ref_embed = g_new0(float, sg.dim);

  if (!(d = decoder_new(uri, interval_ns, error)))
    goto out;
  gst_element_set_state(d->pipeline, GST_STATE_PAUSED);
  if (!bus_check(d, 60 * GST_SECOND, GST_MESSAGE_ASYNC_DONE, error))
    goto out;
  gst_element_query_duration(d->pipeline, GST_FORMAT_TIME, &duration_ns);
  if (keyframes) {
    /* Key-unit trick mode: demuxers and GstVideoDecoder skip every frame
     * that is not a key frame, so at 1 s GOPs only the sampled frames are
     * decoded. */
    d->due_after_flush = 0;
    g_atomic_int_set(&d->keyframes, 1);
    if (!gst_element_seek(d->pipeline, 1.0, GST_FORMAT_TIME,
                          GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_TRICKMODE
                              | GST_SEEK_FLAG_TRICKMODE_KEY_UNITS,
                          GST_SEEK_TYPE_SET, 0, GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE)) {
      keyframes = false;
      f->decode = "all";
      g_atomic_int_set(&d->keyframes, 0);
    }
  }
  gst_element_set_state(d->pipeline, GST_STATE_PLAYING);

  for (;;) {
    GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(d->sink), GST_SECOND / 10);
    if (!s) {
      if (gst_app_sink_is_eos(GST_APP_SINK(d->sink)))
        break;
      if (!bus_check(d, 0, 0, error))
        goto out;
      continue;
    }
    double t = sample_stream_time(s);
    g_debug("%s: frame at %.3f s (%s)", uri, t, keyframes ? "key frames" : "all frames");
    /* Sparse key frames (long GOPs): trick mode would sample too rarely, so
     * continue with every frame decoded from the last sample on. */
    if (keyframes && p->decode == INGEST_DECODE_AUTO && last_time >= 0
        && t - last_time > 1.5 * p->interval + 1e-3) {
      GstClockTime from = (GstClockTime) ((last_time + p->interval) * GST_SECOND);
      g_debug("%s: key frames %.3f s apart, decoding all frames from %.3f s", uri, t - last_time,
              last_time + p->interval);
      gst_sample_unref(s);
      keyframes = false;
      f->decode = "all";
      g_atomic_int_set(&d->keyframes, 0);
      d->due_after_flush = from;
      gst_element_seek(d->pipeline, 1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET,
                       from, GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE);
      continue;
    }
    if (t <= last_time) { /* a frame already sampled, delivered again after a seek */
      gst_sample_unref(s);
      continue;
    }
    last_time = t;
    if (!f->width) {
      GstVideoInfo info;
      if (gst_video_info_from_caps(&info, gst_sample_get_caps(s))) {
        f->width = info.width;
        f->height = info.height;
      }
    }
    if (p->decode_only) {
      store_sample smp = { .time = t };
      g_array_append_val(f->samples, smp);
      gst_sample_unref(s);
      continue;
    }
    pending q = { s, t };
    g_array_append_val(batch, q);
    if ((int) batch->len >= batch_max && !flush_batch(&sg, batch, pixels, embeds, error))
      goto out;
  }
  if (!flush_batch(&sg, batch, pixels, embeds, error) || !bus_check(d, 0, 0, error))
    goto out;
  if (!f->samples->len) {
    g_set_error(error, INGEST_ERROR, 1, "no frame decoded");
    goto out;
  }
  if (!p->decode_only)
    segment_close(&sg);
  f->duration = duration_ns > 0 ? (double) duration_ns / GST_SECOND : last_time + p->interval;
  {
    store_sample *last = &g_array_index(f->samples, store_sample, f->samples->len - 1);
    if (f->duration > last->time)
      last->duration = MIN(last->duration, f->duration - last->time);
    for (guint i = 0; i < f->segments->len; i++) {
      store_segment *g = &g_array_index(f->segments, store_segment, i);
      store_sample *end =
          &g_array_index(f->samples, store_sample, g->first_sample + g->n_samples - 1);
      g->end = end->time + end->duration;
    }
  }
  ok = true;
out:
  for (guint i = 0; i < batch->len; i++)
    gst_sample_unref(g_array_index(batch, pending, i).sample);
  g_array_free(batch, TRUE);
  if (d)
    decoder_free(d);
  g_free(pixels);
  g_free(embeds);
  g_free(sg.sum);
  g_free(sg.mean);
  g_free(sg.ref_input);
  g_free(sg.ref_embed);
  return ok;
}

void
ingest_file_clear(store_file *f)
{
  if (f->segments) {
    for (guint i = 0; i < f->segments->len; i++) {
      store_segment *g = &g_array_index(f->segments, store_segment, i);
      g_free(g->embedding);
      if (g->thumbnail)
        g_bytes_unref(g->thumbnail);
    }
    g_array_free(f->segments, TRUE);
    f->segments = NULL;
  }
  if (f->samples) {
    for (guint i = 0; i < f->samples->len; i++)
      g_free(g_array_index(f->samples, store_sample, i).embedding);
    g_array_free(f->samples, TRUE);
    f->samples = NULL;
  }
}

bool
ingest_image(clip_ctx *ctx, const clip_model *model, const char *path, float *embedding,
             GError **error)
{
  const clip_model_info *mi = clip_model_get_info(model);
  GstElement *pipeline;
  GstSample *s = NULL;
  GstElement *sink;
  char *uri = gst_filename_to_uri(path, error);
  char *desc;
  float *pixels = NULL;
  clip_error err = { 0 };
  bool ok = false;

  if (!uri)
    return false;
  desc = g_strdup_printf("uridecodebin name=src ! videoconvert ! appsink name=sink caps=\"%s\"",
                         SINK_CAPS);
  pipeline = gst_parse_launch(desc, error);
  g_free(desc);
  if (!pipeline) {
    g_free(uri);
    return false;
  }
  {
    GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    g_object_set(src, "uri", uri, NULL);
    gst_object_unref(src);
  }
  sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  gst_element_set_state(pipeline, GST_STATE_PAUSED);
  s = gst_app_sink_try_pull_preroll(GST_APP_SINK(sink), 30 * GST_SECOND);
  if (!s) {
    GstBus *bus = gst_element_get_bus(pipeline);
    GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    GError *e = NULL;
    if (m)
      gst_message_parse_error(m, &e, NULL);
    g_set_error(error, INGEST_ERROR, 1, "%s: cannot decode the image: %s", path,
                e ? e->message : "no picture");
    g_clear_error(&e);
    if (m)
      gst_message_unref(m);
    gst_object_unref(bus);
    goto out;
  }
  pixels = g_new(float, (size_t) 3 * mi->image_size * mi->image_size);
  if (!preprocess_sample(model, s, pixels, error))
    goto out;
  if (clip_encode_images(ctx, pixels, 1, embedding, NULL, &err) != CLIP_OK) {
    g_set_error(error, INGEST_ERROR, 1, "%s: embedding failed: %s", path, err.message);
    goto out;
  }
  clip_normalize(embedding, mi->embed_dim);
  ok = true;
out:
  if (s)
    gst_sample_unref(s);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  g_free(pixels);
  g_free(uri);
  return ok;
}
