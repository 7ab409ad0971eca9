/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-clipfilter
 * @title: clipfilter
 *
 * clipfilter tags video with CLIP, zero-shot: it samples decoded frames,
 * embeds them with the image tower and scores them against the user's
 * prompts. Frames pass through unchanged and uncopied; the results leave the
 * element as a #GstClipMeta on buffers and as element messages on the bus.
 *
 * |[
 * gst-launch-1.0 filesrc location=kitchen.mp4 ! decodebin ! \
 *     clipfilter model=clip-vit-base-patch32 \
 *     prompts="person cooking|person frying food;person dancing" ! fakesink -m
 * ]|
 *
 * Real video needs a real CLIP checkpoint (`models/fetch-model.sh
 * clip-vit-base-patch32`): the default model, the shipped clipfilter-mini,
 * knows test patterns, colours and shapes only.
 *
 * As playbin's video filter, a value with spaces needs its spaces escaped,
 * since gst-launch-1.0 parses the filter's description a second time:
 * |[
 * gst-launch-1.0 playbin uri=file:///path/to/video.mp4 \
 *     video-filter='clipfilter prompts=a\ ball;colour\ bars' \
 *     video-sink=fakesink audio-sink=fakesink
 * ]|
 *
 * ## Formats
 *
 * Every raw video format GStreamer's video library reads is accepted, and the
 * caps are the same on both sides: no `videoconvert` is needed in front.
 * RGB, BGR, the 4-byte RGB layouts, GRAY8, and I420, NV12 and Y444 in
 * BT.601/BT.709 are read by the engine itself; any other format is
 * converted to RGBx by a #GstVideoConverter, on sampled frames only, giving
 * the same model input as `videoconvert` in front would.
 *
 * ## Prompts
 *
 * #GstClipFilter:prompts is a `;`-separated list of labels; inside a label,
 * `|` separates synonyms. Every synonym is put into every template of
 * #GstClipFilter:templates (`;`-separated, `{}` is replaced), the text
 * embeddings are normalized and averaged per label, as in the CLIP paper.
 * A label is named after its first synonym. Blanks around separators are
 * ignored; empty labels are dropped. Texts longer than the model's context
 * are truncated as CLIP does.
 *
 * #GstClipFilter:background-prompts (same syntax) names what is there when
 * none of the prompts is, e.g. `"an empty room;a street"`: these labels take
 * part in the softmax, so a prompt has to win against them, but they never
 * turn on and never post tags. They come after the prompts' labels in the
 * messages and the meta.
 *
 * The model and the prompts are loaded at the NULL→READY transition; an
 * error there (model not found or invalid, no label, invalid UTF-8) fails
 * the state change with an error message on the bus. Prompts, background
 * prompts and templates may be changed in any state: the new set is
 * embedded on a separate thread and used from the next sample after it is
 * ready. From READY on, a value that would make the set unusable (e.g.
 * `prompts=";;"`) is refused with a warning: the property keeps the value
 * in use.
 *
 * A model whose directory lists the words of its training captions in
 * `words.txt` (the shipped clipfilter-mini does) has every prompt set put
 * in use checked once: prompt, synonym, template and background words
 * outside that list are named in one #GST_RESOURCE_ERROR_SETTINGS warning
 * that points to `models/fetch-model.sh`, since that model's scores for them
 * mean nothing. The set is still used. A model name that is not found fails
 * with #GST_RESOURCE_ERROR_NOT_FOUND naming the directories searched and
 * `models/fetch-model.sh`.
 *
 * ## Backend and precision
 *
 * #GstClipFilter:backend picks the engine's matrix-product backend: `auto`
 * (oneDNN when the engine was built with it, else OpenBLAS), `openblas` or
 * `onednn`. #GstClipFilter:precision is `fp32` (the default) or `bf16`:
 * weights and activations in bf16 with fp32 accumulation, about twice as
 * fast with slightly different scores (see docs/performance.md); bf16 needs
 * the oneDNN backend. Both, like #GstClipFilter:threads, may change in NULL
 * or READY only and take effect at the next NULL→READY; they override the
 * engine's `CLIP_BACKEND`/`CLIP_PRECISION` environment variables. A
 * combination the build cannot run (`precision=bf16` with
 * `backend=openblas`, or oneDNN in a build without it) fails that state
 * change with an error naming the reason. Instances that load the same
 * checkpoint with the same backend, precision and threads share one copy
 * of the weights.
 *
 * ## Sampling and modes
 *
 * A frame is sampled every #GstClipFilter:interval nanoseconds of stream
 * time (the first frame after start, a flush or a new segment, then the
 * first frame at or after each multiple of the interval; 0 samples every
 * frame, -1 only that first frame), or every Nth frame when
 * #GstClipFilter:frame-interval is set. Buffers without a timestamp are all
 * sampled in interval mode. In a segment that is not in time (appsrc's
 * default BYTES format), the timestamps stand for stream and running time.
 * In reverse playback the grid runs backwards with the stream time and the
 * running time of a frame is that of its end, where sinks start playing it.
 * Unsampled frames are not even mapped.
 *
 * In `sync` mode a sampled frame is analyzed on the streaming thread before
 * it is pushed on: results are deterministic, nothing is skipped, and the
 * analysis time is added to the latency reported in the LATENCY query.
 * With #GstClipFilter:batch-size N > 1 (sync only, for indexing
 * throughput) N sampled frames are encoded together: their messages are
 * posted, in frame order and with each frame's own times, when the Nth is
 * sampled, and their metas ride on that Nth buffer (one #GstClipMeta per
 * frame; iterate them with gst_buffer_iterate_meta_filtered()). An
 * incomplete batch is analyzed at EOS and dropped at a flush.
 * In `async` mode the streaming thread only reduces the sampled frame to the
 * model input and hands it to a worker thread; buffers are never delayed by
 * the analysis. If the worker is still busy when a sample is due, that
 * sample is skipped (the frame passes untouched) and counted in
 * #GstClipFilter:skipped. The result rides on the first buffer that leaves
 * the element after it is ready. `auto` (the default) picks `async` when
 * upstream is live (LATENCY query) and `sync` otherwise.
 *
 * ## Change gate
 *
 * With #GstClipFilter:change-threshold above 0, a sampled frame whose model
 * input (the normalized S×S tensor) differs from the last encoded frame's
 * by a mean absolute difference below the threshold is not encoded: it
 * takes that frame's embedding and is scored against the current prompts,
 * marked `reused` in the message and the meta. #GstClipFilter:max-reuse
 * forces an encoding at least that often in stream time; a flush forgets
 * the reference. A still scene through x264 changes by about 0.002, a
 * small ball moving over a still 320x240 background by 0.04–0.09.
 *
 * ## Smoothing and tags
 *
 * With #GstClipFilter:pooling `probabilities` (the default), `smoothed` is
 * the mean of the probabilities of the last #GstClipFilter:window samples
 * and `smoothed-similarities` the mean of their cosines. With `embeddings`,
 * the window's normalized image embeddings are averaged and the mean is
 * scored (mean pooling, as in CLIP4Clip): better for actions that show over
 * several frames, where single frames are ambiguous; probabilities are
 * better when the label is visible in each frame and the window only
 * removes noise.
 *
 * A label turns "on" when its smoothed probability reaches
 * #GstClipFilter:threshold and its smoothed cosine reaches
 * #GstClipFilter:min-similarity, and "off" again when its probability falls
 * below #GstClipFilter:threshold-off (hysteresis, so a label near the
 * threshold does not flicker) or its cosine below the minimum similarity.
 * The probability only says which prompt fits best (with one prompt it is
 * always 1); the cosine says whether it fits at all. The default
 * minimum (0.4) suits the shipped model, whose matching frames score about
 * 0.45–0.6 and others below 0.35; real CLIP checkpoints give lower cosines
 * (about 0.2–0.35 for a match), so measure yours (the `similarities` field)
 * and set it, or -1 to switch the gate off. Smoothing restarts on a
 * discontinuity, a flush and a new label set. Labels still on are closed
 * with an "off" message at EOS, at a flush and when the label set changes.
 *
 * ## Messages
 *
 * When #GstClipFilter:post-messages is %TRUE, an element message named
 * `clipfilter` is posted for every analyzed sample:
 *
 * * #GstClockTime `timestamp`: the PTS of the analyzed frame.
 * * #GstClockTime `stream-time`: the stream time of the analyzed frame.
 * * #GstClockTime `running-time`: the running time of the analyzed frame.
 * * #GstClockTime `duration`: the duration of the analyzed frame.
 * * #GstValueArray of #gchararray `labels`: the label names, in prompt order
 *   (background labels last).
 * * #GstValueArray of #gdouble `scores`: softmax probability of each label
 *   (CLIP's logit scale applied to the cosine similarities).
 * * #GstValueArray of #gdouble `similarities`: raw cosine similarity of the
 *   image and each label embedding.
 * * #GstValueArray of #gdouble `smoothed`: mean of `scores` over the window
 *   (with embedding pooling: the scores of the window's mean embedding).
 * * #GstValueArray of #gdouble `smoothed-similarities`: likewise for the
 *   cosine similarities; the value #GstClipFilter:min-similarity gates.
 * * #GstValueArray of #gboolean `background`: whether each label comes from
 *   #GstClipFilter:background-prompts (never tagged).
 * * #gchararray `top-label`: the label with the highest smoothed probability.
 * * #gdouble `top-score`: its smoothed probability.
 * * #GstValueArray of #gchararray `top-labels`, #GstValueArray of #gdouble
 *   `top-scores`: the #GstClipFilter:top-k best labels by smoothed
 *   probability, best first (omitted when top-k is 0).
 * * #gboolean `reused`: %TRUE when the change gate found the frame unchanged
 *   and its embedding is that of the last encoded frame.
 * * #guint64 `analyzed`: samples analyzed since the element started.
 * * #guint64 `skipped`: samples skipped since the element started (async).
 *
 * and an element message named `clipfilter-tag` when a label turns on or off:
 *
 * * #gchararray `label`: the label name.
 * * #gchararray `state`: `on` or `off`.
 * * #gdouble `score`: its smoothed probability at that sample.
 * * #gdouble `similarity`: its smoothed cosine similarity at that sample.
 * * #GstClockTime `timestamp`, `stream-time`, `running-time`: times of the
 *   analyzed frame that caused the change (at EOS or a flush, the end of the
 *   last buffer).
 *
 * ## Meta
 *
 * When #GstClipFilter:attach-meta is %TRUE, each result is attached as a
 * #GstClipMeta: in sync mode to the analyzed buffer, in async mode to the
 * first outgoing buffer after the result is ready (the meta's timestamp is
 * the analyzed frame's PTS).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipfilter-private.h"

GST_DEBUG_CATEGORY (gst_clip_filter_debug);
#define GST_CAT_DEFAULT gst_clip_filter_debug

/* Every raw format GstVideoConverter reads (videoconvert's list): the
 * engine reads RGB, BGR, the 4-byte RGB layouts, GRAY8, and I420, NV12 and
 * Y444 in BT.601/BT.709 itself; any other is converted to RGBx, sampled
 * frames only. */
#define VIDEO_FORMATS GST_VIDEO_FORMATS_ALL

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
#define gst_clip_filter_parent_class parent_class
G_DEFINE_TYPE (GstClipFilter, gst_clip_filter, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (clipfilter, "clipfilter", GST_RANK_NONE,
    GST_TYPE_CLIP_FILTER);

static void gst_clip_filter_finalize (GObject * object);
static GstStateChangeReturn gst_clip_filter_change_state (GstElement * element,
    GstStateChange transition);
static gboolean gst_clip_filter_start (GstBaseTransform * trans);
static gboolean gst_clip_filter_stop (GstBaseTransform * trans);
static gboolean gst_clip_filter_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_clip_filter_query (GstBaseTransform * trans,
    GstPadDirection direction, GstQuery * query);
static GstFlowReturn gst_clip_filter_transform_ip (GstBaseTransform * trans,
    GstBuffer * buf);
static gboolean gst_clip_filter_set_info (GstVideoFilter * filter,
    GstCaps * incaps, GstVideoInfo * in_info, GstCaps * outcaps,
    GstVideoInfo * out_info);

static void
gst_clip_filter_class_init (GstClipFilterClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *vfilter_class = GST_VIDEO_FILTER_CLASS (klass);

  gobject_class->finalize = gst_clip_filter_finalize;
  gobject_class->set_property = gst_clip_filter_set_property;
  gobject_class->get_property = gst_clip_filter_get_property;

  clip_settings_install_properties (gobject_class);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "CLIP zero-shot tagger",
      "Filter/Analyzer/Video",
      "Tags video frames with CLIP zero-shot scores against text prompts. "
      "Results: element messages \"clipfilter\" (every analyzed frame) and "
      "\"clipfilter-tag\" (a label turning on/off), and a GstClipMeta on "
      "buffers; their fields and the meta API are documented in "
      "docs/element.md (Doc-uri)", "The clipfilter authors");
  /* gst-inspect-1.0 shows this; the SECTION block above reaches only the
   * documentation tools. */
  gst_element_class_add_static_metadata (element_class,
      GST_ELEMENT_METADATA_DOC_URI, GST_PACKAGE_ORIGIN
      "/blob/main/docs/element.md");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_clip_filter_change_state);
  trans_class->start = GST_DEBUG_FUNCPTR (gst_clip_filter_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clip_filter_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clip_filter_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_clip_filter_query);
  /* Our own transform_ip instead of GstVideoFilter's, which maps every
   * frame: unsampled frames must cost nothing. */
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_clip_filter_transform_ip);
  vfilter_class->set_info = GST_DEBUG_FUNCPTR (gst_clip_filter_set_info);

  GST_DEBUG_CATEGORY_INIT (gst_clip_filter_debug, "clipfilter", 0,
      "CLIP zero-shot tagger");
}

static void
gst_clip_filter_init (GstClipFilter * self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  clip_settings_init (&self->settings);
  g_mutex_init (&self->state_lock);

  /* Never passthrough: the meta needs a writable buffer, which costs at most
   * a shallow GstBuffer copy (the memory is shared, never copied). No QoS:
   * an analyzer must not drop frames. */
  gst_base_transform_set_in_place (trans, TRUE);
  gst_base_transform_set_qos_enabled (trans, FALSE);
}

static void
gst_clip_filter_finalize (GObject * object)
{
  GstClipFilter *self = GST_CLIP_FILTER (object);

  clip_settings_clear (&self->settings);
  g_mutex_clear (&self->state_lock);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static GstStateChangeReturn
gst_clip_filter_change_state (GstElement * element, GstStateChange transition)
{
  GstClipFilter *self = GST_CLIP_FILTER (element);
  GstStateChangeReturn ret;
  State *st;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    Settings s;

    gst_clip_filter_settings_copy (self, &s, TRUE);
    st = gst_clip_filter_state_new (self, &s);
    if (!st) {
      clip_settings_clear (&s);
      return GST_STATE_CHANGE_FAILURE;
    }
    clip_label_worker_start (st->labels);
    g_mutex_lock (&self->state_lock);
    self->state = st;
    /* A change made while the model loaded is embedded now, not lost. */
    GST_OBJECT_LOCK (self);
    if (g_strcmp0 (s.prompts, self->settings.prompts) != 0
        || g_strcmp0 (s.background, self->settings.background) != 0
        || g_strcmp0 (s.templates, self->settings.templates) != 0) {
      ClipLabelSpec spec = gst_clip_filter_label_spec (&self->settings);
      clip_label_worker_request (st->labels, &spec);
    }
    GST_OBJECT_UNLOCK (self);
    g_mutex_unlock (&self->state_lock);
    clip_settings_clear (&s);
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL
      || (transition == GST_STATE_CHANGE_NULL_TO_READY
          && ret == GST_STATE_CHANGE_FAILURE)) {
    g_mutex_lock (&self->state_lock);
    st = self->state;
    self->state = NULL;
    g_mutex_unlock (&self->state_lock);
    gst_clip_filter_state_free (st);
  }
  return ret;
}

/* ---- streaming: start/stop, caps ------------------------------------------ */

static gboolean
gst_clip_filter_start (GstBaseTransform * trans)
{
  GstClipFilter *self = GST_CLIP_FILTER (trans);
  State *st = self->state;

  g_return_val_if_fail (st != NULL, FALSE);
  st->mode_decided = FALSE;
  clip_sampler_reset (&st->sampler);
  st->last_end = GST_CLOCK_TIME_NONE;
  clip_analyzer_reset_latency (st->analyzer);
  clip_results_reset_smoothing (st->results);
  GST_OBJECT_LOCK (self);
  self->analyzed = self->skipped = 0;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_clip_filter_stop (GstBaseTransform * trans)
{
  GstClipFilter *self = GST_CLIP_FILTER (trans);
  State *st = self->state;

  if (!st)
    return TRUE;
  clip_analyzer_stop (st->analyzer);
  clip_analyzer_clear_format (st->analyzer);
  clip_results_clear (st->results);
  return TRUE;
}

static gboolean
gst_clip_filter_set_info (GstVideoFilter * filter, GstCaps * incaps,
    GstVideoInfo * in_info, GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstClipFilter *self = GST_CLIP_FILTER (filter);

  (void) incaps;
  (void) outcaps;
  (void) out_info;
  if (!self->state || !clip_analyzer_set_format (self->state->analyzer,
          in_info)) {
    GST_ERROR_OBJECT (self, "unsupported format %s",
        gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info)));
    return FALSE;
  }
  GST_DEBUG_OBJECT (self, "analyzing %dx%d %s", GST_VIDEO_INFO_WIDTH (in_info),
      GST_VIDEO_INFO_HEIGHT (in_info),
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info)));
  return TRUE;
}

/* ---- streaming: buffers and events ----------------------------------------- */

/* Decides auto mode once per start: async when upstream is live. */
static gboolean
decide_async (GstClipFilter * self, const Settings * set)
{
  GstQuery *q;
  gboolean live = FALSE;

  if (set->mode != GST_CLIP_FILTER_MODE_AUTO)
    return set->mode == GST_CLIP_FILTER_MODE_ASYNC;
  q = gst_query_new_latency ();
  if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), q))
    gst_query_parse_latency (q, &live, NULL, NULL);
  gst_query_unref (q);
  GST_INFO_OBJECT (self, "upstream is %slive: %s mode", live ? "" : "not ",
      live ? "async" : "sync");
  return live;
}

static GstFlowReturn
gst_clip_filter_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstClipFilter *self = GST_CLIP_FILTER (trans);
  State *st = self->state;
  GstSegment *seg = &trans->segment;
  GstFlowReturn ret = GST_FLOW_OK;
  GQueue msgs = G_QUEUE_INIT;
  Settings set;
  ClipSample *done = NULL, *smp;
  ClipLabels *labels;
  GstClockTime pts = GST_BUFFER_PTS (buf), stime = GST_CLOCK_TIME_NONE;
  gboolean busy = FALSE, unmapped = FALSE;
  clip_error err = { 0 };
  gint64 t0;

  if (G_UNLIKELY (!st || !GST_VIDEO_FILTER (self)->negotiated))
    return GST_FLOW_NOT_NEGOTIATED;

  gst_clip_filter_settings_copy (self, &set, FALSE);
  if (G_UNLIKELY (!st->mode_decided)) {
    clip_analyzer_set_async (st->analyzer, decide_async (self, &set));
    st->mode_decided = TRUE;
  }
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT))
    clip_results_reset_smoothing (st->results);
  if (GST_CLOCK_TIME_IS_VALID (pts)) {
    stime = clip_segment_stream_time (seg, pts);
    /* where playback of this buffer ends: its start when reversed */
    st->last_end = GST_BUFFER_DURATION_IS_VALID (buf) && seg->rate > 0 ?
        pts + GST_BUFFER_DURATION (buf) : pts;
  }

  if ((done = clip_analyzer_take_done (st->analyzer, &busy))) {
    gst_clip_filter_deliver (self, st, &set, done, buf, &msgs);
    clip_sample_free (done);
  }

  if (!clip_sampler_is_due (&st->sampler, set.frame_interval, set.interval,
          stime, seg->rate < 0))
    goto out;
  if (busy) {
    GST_OBJECT_LOCK (self);
    self->skipped++;
    GST_OBJECT_UNLOCK (self);
    GST_LOG_OBJECT (self, "worker busy, skipping %" GST_TIME_FORMAT,
        GST_TIME_ARGS (pts));
    goto out;
  }

  t0 = g_get_monotonic_time ();
  /* Only sampled frames are mapped and converted. */
  if (!clip_analyzer_preprocess (st->analyzer, buf, &unmapped, &err)) {
    if (unmapped) {
      GST_ELEMENT_WARNING (self, STREAM, FORMAT, (NULL),
          ("could not map the video frame"));
    } else {
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("CLIP preprocessing failed: %s", err.message), (NULL));
      ret = GST_FLOW_ERROR;
    }
    goto out;
  }
  labels = clip_label_worker_get (st->labels);
  smp = clip_sample_new (labels, clip_analyzer_generation (st->analyzer));
  clip_labels_unref (labels);
  smp->pts = pts;
  smp->duration = GST_BUFFER_DURATION (buf);
  smp->stream_time = stime;
  /* A reversed frame is played from its end (as sinks sync it). */
  smp->running_time = clip_segment_running_time (seg, seg->rate < 0
      && GST_BUFFER_DURATION_IS_VALID (buf) ? pts + GST_BUFFER_DURATION (buf)
      : pts);

  clip_analyzer_set_gate (st->analyzer, set.change_threshold, set.max_reuse);
  if (!clip_analyzer_submit (st->analyzer, smp))
    goto out;
  if (!gst_clip_filter_run_batch (self, st, &set, buf, &msgs)) {
    ret = GST_FLOW_ERROR;
    goto out;
  }
  if (clip_analyzer_add_latency (st->analyzer,
          (g_get_monotonic_time () - t0) * GST_USECOND))
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));

out:
  clip_settings_clear (&set);
  gst_clip_filter_post_all (self, &msgs);
  return ret;
}

static gboolean
gst_clip_filter_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstClipFilter *self = GST_CLIP_FILTER (trans);
  State *st = self->state;
  GQueue msgs = G_QUEUE_INIT;
  Settings set;

  if (!st)
    goto chain;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
    case GST_EVENT_FLUSH_STOP:{
      GstClockTime end = st->last_end;
      ClipTimes times = { end, clip_segment_stream_time (&trans->segment, end),
        clip_segment_running_time (&trans->segment, end)
      };

      gst_clip_filter_settings_copy (self, &set, FALSE);
      if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
        /* Deliver what is still in the batch or on the worker. */
        ClipSample *done;

        gst_clip_filter_run_batch (self, st, &set, NULL, &msgs);
        if ((done = clip_analyzer_drain (st->analyzer))) {
          gst_clip_filter_deliver (self, st, &set, done, NULL, &msgs);
          clip_sample_free (done);
        }
      } else {
        /* Results of frames before the flush are stale. */
        clip_analyzer_flush (st->analyzer);
      }
      gst_clip_filter_close_tags (self, st, &times, set.post_messages, &msgs);
      clip_results_reset_smoothing (st->results);
      clip_sampler_reset (&st->sampler);
      clip_settings_clear (&set);
      gst_clip_filter_post_all (self, &msgs);
      break;
    }
    case GST_EVENT_SEGMENT:
      clip_sampler_reset (&st->sampler);
      break;
    default:
      break;
  }

chain:
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_clip_filter_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstClipFilter *self = GST_CLIP_FILTER (trans);
  gboolean res;

  res = GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction,
      query);
  if (res && direction == GST_PAD_SRC
      && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime min, max, ours = 0;
    gboolean live;

    g_mutex_lock (&self->state_lock);
    if (self->state)
      ours = clip_analyzer_latency (self->state->analyzer);
    g_mutex_unlock (&self->state_lock);

    /* Sync mode holds a sampled buffer for the time of one analysis. */
    gst_query_parse_latency (query, &live, &min, &max);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    gst_query_set_latency (query, live, min, max);
  }
  return res;
}
