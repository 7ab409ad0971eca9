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
 * gst-launch-1.0 filesrc location=kitchen.mp4 ! decodebin ! videoconvert ! \
 *     clipfilter prompts="person cooking|person frying food;person dancing" ! fakesink -m
 * ]|
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
 * The model and the prompts are loaded at the NULL→READY transition; an
 * error there (model not found or invalid, no label, invalid UTF-8) fails
 * the state change with an error message on the bus. Prompts and templates
 * may be changed in any state: the new set is embedded on a separate thread
 * and used from the next sample after it is ready; if the new set is
 * invalid, a warning is posted and the previous set stays in use.
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
 * A frame is sampled every #GstClipFilter:interval of stream time (the first
 * frame after start, a flush or a new segment, then the first frame at or
 * after each multiple of the interval), or every Nth frame when
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
 * ## Smoothing and tags
 *
 * `smoothed` is the mean of the probabilities of the last
 * #GstClipFilter:window samples. A label turns "on" when its smoothed
 * probability reaches #GstClipFilter:threshold and "off" again when it falls
 * below #GstClipFilter:threshold-off (hysteresis, so a label near the
 * threshold does not flicker). Smoothing restarts on a discontinuity, a
 * flush and a new label set. Labels still on are closed with an "off"
 * message at EOS, at a flush and when the label set changes.
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
 * * #GstValueArray of #gchararray `labels`: the label names, in prompt order.
 * * #GstValueArray of #gdouble `scores`: softmax probability of each label
 *   (CLIP's logit scale applied to the cosine similarities).
 * * #GstValueArray of #gdouble `similarities`: raw cosine similarity of the
 *   image and each label embedding.
 * * #GstValueArray of #gdouble `smoothed`: mean of `scores` over the window.
 * * #gchararray `top-label`: the label with the highest smoothed probability.
 * * #gdouble `top-score`: its smoothed probability.
 * * #GstValueArray of #gchararray `top-labels`, #GstValueArray of #gdouble
 *   `top-scores`: the #GstClipFilter:top-k best labels by smoothed
 *   probability, best first (omitted when top-k is 0).
 * * #guint64 `analyzed`: samples analyzed since the element started.
 * * #guint64 `skipped`: samples skipped since the element started (async).
 *
 * and an element message named `clipfilter-tag` when a label turns on or off:
 *
 * * #gchararray `label`: the label name.
 * * #gchararray `state`: `on` or `off`.
 * * #gdouble `score`: its smoothed probability at that sample.
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

#include <string.h>

#include "gstclipfilter.h"
#include "gstclipmeta.h"
#include "clip.h"

GST_DEBUG_CATEGORY_STATIC (gst_clip_filter_debug);
#define GST_CAT_DEFAULT gst_clip_filter_debug

#define VIDEO_FORMATS \
  "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, I420, NV12, GRAY8 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

#define DEFAULT_MODEL "clipfilter-mini"
#define DEFAULT_PROMPTS NULL
#define DEFAULT_TEMPLATES "{}"
#define DEFAULT_INTERVAL (GST_SECOND / 2)
#define DEFAULT_FRAME_INTERVAL 0
#define DEFAULT_MODE GST_CLIP_FILTER_MODE_AUTO
#define DEFAULT_THRESHOLD 0.5
#define DEFAULT_THRESHOLD_OFF -1.0
#define DEFAULT_HYSTERESIS 0.1
#define DEFAULT_WINDOW 1
#define DEFAULT_TOP_K 3
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_ATTACH_META TRUE
#define DEFAULT_ATTACH_EMBEDDING FALSE
#define DEFAULT_THREADS 0
#define DEFAULT_BATCH_SIZE 1
#define DEFAULT_BACKEND GST_CLIP_FILTER_BACKEND_AUTO
#define DEFAULT_PRECISION GST_CLIP_FILTER_PRECISION_FP32

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_PROMPTS,
  PROP_TEMPLATES,
  PROP_INTERVAL,
  PROP_FRAME_INTERVAL,
  PROP_MODE,
  PROP_THRESHOLD,
  PROP_THRESHOLD_OFF,
  PROP_WINDOW,
  PROP_TOP_K,
  PROP_POST_MESSAGES,
  PROP_ATTACH_META,
  PROP_ATTACH_EMBEDDING,
  PROP_THREADS,
  PROP_BATCH_SIZE,
  PROP_BACKEND,
  PROP_PRECISION,
  PROP_ANALYZED,
  PROP_SKIPPED,
};

/* What the user set; copied under the object lock where it is used. */
typedef struct
{
  gchar *model;
  gchar *prompts;
  gchar *templates;
  GstClockTime interval;
  guint frame_interval;
  GstClipFilterMode mode;
  gdouble threshold;
  gdouble threshold_off;
  guint window;
  guint top_k;
  gboolean post_messages;
  gboolean attach_meta;
  gboolean attach_embedding;
  gint threads;
  guint batch_size;
  GstClipFilterBackend backend;
  GstClipFilterPrecision precision;
} Settings;

/* One embedded prompt set, shared by reference between the text thread,
 * the streaming thread and the worker. */
typedef struct
{
  gint ref;
  guint n;
  gchar **names;
  gfloat *embeds;               /* [n, embed_dim], unit norm */
} Labels;

/* One analyzed frame. */
typedef struct
{
  Labels *labels;
  guint64 generation;
  GstClockTime pts, duration, stream_time, running_time;
  gfloat *embed;                /* [embed_dim] */
  gfloat *sims;                 /* [n] */
  gfloat *probs;                /* [n] */
} Sample;

/* Everything that exists between NULL→READY and READY→NULL. */
typedef struct
{
  GstClipFilter *self;          /* not a reference: the element outlives its state */
  clip_model *model;
  clip_ctx *image_ctx;          /* streaming thread (sync) or worker (async) */
  clip_ctx *text_ctx;           /* text thread only */
  gint embed_dim, image_size;
  gulong debug_delay_us;

  /* negotiated format (streaming thread) */
  GstVideoInfo info;
  clip_image image;
  gfloat *pixels;               /* [batch, 3, S, S]; in async owned by the worker while a job runs */
  guint batch;                  /* sync: frames encoded together */
  Sample **pending;             /* sync: sampled frames waiting for a full batch */
  guint n_pending;

  /* sampling, smoothing and tags (streaming thread) */
  gboolean mode_decided, async;
  guint64 frame_index;
  GstClockTime last_due, last_end;     /* last_due: grid point of the last sample */
  Labels *active;
  gfloat *ring;
  guint ring_window, ring_fill, ring_pos;
  gboolean *on;
  gfloat *last;                 /* smoothed probabilities of the last sample */

  GMutex lock;                  /* guards everything below */
  GCond cond;
  Labels *labels;               /* newest embedded set */
  GThread *text_thread;
  gboolean text_quit;
  guint text_serial;            /* serial of the prompt set embedded last */
  GThread *worker;
  gboolean worker_quit;
  Sample *job;                  /* non-NULL while the worker is busy */
  Sample *done;                 /* a finished result not yet delivered */
  guint64 generation;           /* bumped on flush: stale results are dropped */
  GstClockTime latency;         /* worst analysis time seen in sync mode */
} State;

struct _GstClipFilter
{
  GstVideoFilter parent;

  Settings settings;            /* GST_OBJECT_LOCK */
  guint prompt_serial;          /* GST_OBJECT_LOCK; bumped on prompt changes */
  guint64 analyzed, skipped;    /* GST_OBJECT_LOCK */

  GMutex text_lock;             /* wakes the text thread */
  GCond text_cond;

  GMutex state_lock;            /* guards the state pointer itself */
  State *state;
};

#define gst_clip_filter_parent_class parent_class
G_DEFINE_TYPE (GstClipFilter, gst_clip_filter, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (clipfilter, "clipfilter", GST_RANK_NONE,
    GST_TYPE_CLIP_FILTER);

static void gst_clip_filter_finalize (GObject * object);
static void gst_clip_filter_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_clip_filter_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
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

GType
gst_clip_filter_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CLIP_FILTER_MODE_AUTO, "async for live sources, sync otherwise",
        "auto"},
    {GST_CLIP_FILTER_MODE_SYNC,
        "analyze on the streaming thread (deterministic, nothing skipped)",
        "sync"},
    {GST_CLIP_FILTER_MODE_ASYNC,
          "analyze on a worker thread, never delay buffers (busy: skip)",
        "async"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstClipFilterMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* The element's enums mirror the engine's, so a cast converts them. */
G_STATIC_ASSERT ((gint) GST_CLIP_FILTER_BACKEND_AUTO ==
    (gint) CLIP_BACKEND_DEFAULT);
G_STATIC_ASSERT ((gint) GST_CLIP_FILTER_BACKEND_OPENBLAS ==
    (gint) CLIP_BACKEND_OPENBLAS);
G_STATIC_ASSERT ((gint) GST_CLIP_FILTER_BACKEND_ONEDNN ==
    (gint) CLIP_BACKEND_ONEDNN);
G_STATIC_ASSERT ((gint) GST_CLIP_FILTER_PRECISION_FP32 ==
    (gint) CLIP_PRECISION_FP32);
G_STATIC_ASSERT ((gint) GST_CLIP_FILTER_PRECISION_BF16 ==
    (gint) CLIP_PRECISION_BF16);

GType
gst_clip_filter_backend_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CLIP_FILTER_BACKEND_AUTO,
        "oneDNN when the engine was built with it, else OpenBLAS", "auto"},
    {GST_CLIP_FILTER_BACKEND_OPENBLAS, "OpenBLAS (fp32 only)", "openblas"},
    {GST_CLIP_FILTER_BACKEND_ONEDNN, "oneDNN (fp32 or bf16)", "onednn"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstClipFilterBackend", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_clip_filter_precision_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CLIP_FILTER_PRECISION_FP32, "fp32", "fp32"},
    {GST_CLIP_FILTER_PRECISION_BF16,
        "bf16 weights and activations, fp32 accumulation (oneDNN only)",
        "bf16"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstClipFilterPrecision", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void
gst_clip_filter_class_init (GstClipFilterClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *vfilter_class = GST_VIDEO_FILTER_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags live = rw | GST_PARAM_MUTABLE_PLAYING;

  gobject_class->finalize = gst_clip_filter_finalize;
  gobject_class->set_property = gst_clip_filter_set_property;
  gobject_class->get_property = gst_clip_filter_get_property;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "CLIP checkpoint: a path (Hugging Face directory or open_clip "
          "safetensors file) or the name of an installed model, searched in "
          "$CLIPFILTER_MODEL_PATH, $XDG_DATA_HOME/clipfilter/models and the "
          "installed models directory (then the source tree's models/ when "
          "run uninstalled). Loaded at NULL->READY; changes take "
          "effect at the next NULL->READY", DEFAULT_MODEL,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_PROMPTS,
      g_param_spec_string ("prompts", "Prompts",
          "Labels separated by ';'; '|' separates synonyms of one label that "
          "are ensembled (e.g. \"person cooking|person frying food;person "
          "dancing\"). Required. Changes while PLAYING are embedded in the "
          "background and used from the next sample after", DEFAULT_PROMPTS,
          live));
  g_object_class_install_property (gobject_class, PROP_TEMPLATES,
      g_param_spec_string ("templates", "Templates",
          "Templates separated by ';', '{}' is replaced by each synonym and "
          "the results ensembled (e.g. \"a photo of a person {}.;a video of a "
          "person {}.\")", DEFAULT_TEMPLATES, live));
  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_uint64 ("interval", "Interval",
          "Stream time between two analyzed frames (in nanoseconds); used "
          "when frame-interval is 0", 1, G_MAXUINT64, DEFAULT_INTERVAL, live));
  g_object_class_install_property (gobject_class, PROP_FRAME_INTERVAL,
      g_param_spec_uint ("frame-interval", "Frame interval",
          "Analyze every Nth frame (0: sample by the interval property)",
          0, G_MAXUINT, DEFAULT_FRAME_INTERVAL, live));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "Where frames are analyzed: sync (streaming thread, deterministic, "
          "adds latency), async (worker thread, never delays buffers, skips "
          "samples while busy), auto (async for live sources)",
          GST_TYPE_CLIP_FILTER_MODE, DEFAULT_MODE,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "A label turns on when its smoothed probability reaches this",
          0.0, 1.0, DEFAULT_THRESHOLD, live));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD_OFF,
      g_param_spec_double ("threshold-off", "Threshold off",
          "A label that is on turns off when its smoothed probability falls "
          "below this (hysteresis; at most threshold; -1: threshold - 0.1)",
          -1.0, 1.0, DEFAULT_THRESHOLD_OFF, live));
  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_uint ("window", "Window",
          "Smoothing: mean of the probabilities of the last N samples",
          1, 1000, DEFAULT_WINDOW, live));
  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top k",
          "Number of best labels listed in the message's top-labels and "
          "top-scores fields (0: omit them)", 0, 1000, DEFAULT_TOP_K, live));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a 'clipfilter' element message per analyzed sample and "
          "'clipfilter-tag' messages when labels turn on or off",
          DEFAULT_POST_MESSAGES, live));
  g_object_class_install_property (gobject_class, PROP_ATTACH_META,
      g_param_spec_boolean ("attach-meta", "Attach meta",
          "Attach a GstClipMeta with each result to a buffer",
          DEFAULT_ATTACH_META, live));
  g_object_class_install_property (gobject_class, PROP_ATTACH_EMBEDDING,
      g_param_spec_boolean ("attach-embedding", "Attach embedding",
          "Also store the image embedding in the GstClipMeta",
          DEFAULT_ATTACH_EMBEDDING, live));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "Threads for the matrix products (0: all cores); takes effect at "
          "the next NULL->READY", 0, 1024, DEFAULT_THREADS,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "Sync mode: encode this many sampled frames at once, for indexing "
          "throughput; results (messages, metas) come when the batch is full "
          "or at EOS, on the buffer that completed it. Ignored in async mode",
          1, 256, DEFAULT_BATCH_SIZE, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_enum ("backend", "Backend",
          "Engine backend for the matrix products: auto (oneDNN when built "
          "with it, else OpenBLAS), openblas, onednn. Takes effect at the "
          "next NULL->READY; a backend this build lacks fails that change",
          GST_TYPE_CLIP_FILTER_BACKEND, DEFAULT_BACKEND,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision",
          "Compute precision: fp32, or bf16 (weights and activations in bf16, "
          "fp32 accumulation; about twice as fast, slightly different "
          "scores; needs the oneDNN backend, otherwise NULL->READY fails). "
          "Takes effect at the next NULL->READY",
          GST_TYPE_CLIP_FILTER_PRECISION, DEFAULT_PRECISION,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ANALYZED,
      g_param_spec_uint64 ("analyzed", "Analyzed",
          "Samples analyzed since the element started", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_SKIPPED,
      g_param_spec_uint64 ("skipped", "Skipped",
          "Samples skipped because the async worker was busy", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "CLIP zero-shot tagger",
      "Filter/Analyzer/Video",
      "Tags video frames with CLIP zero-shot scores against text prompts "
      "(GstClipMeta and bus messages)", "The clipfilter authors");

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

  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_FILTER_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_FILTER_BACKEND, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_FILTER_PRECISION, 0);
  GST_DEBUG_CATEGORY_INIT (gst_clip_filter_debug, "clipfilter", 0,
      "CLIP zero-shot tagger");
}

static void
gst_clip_filter_init (GstClipFilter * self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  self->settings.model = g_strdup (DEFAULT_MODEL);
  self->settings.prompts = g_strdup (DEFAULT_PROMPTS);
  self->settings.templates = g_strdup (DEFAULT_TEMPLATES);
  self->settings.interval = DEFAULT_INTERVAL;
  self->settings.frame_interval = DEFAULT_FRAME_INTERVAL;
  self->settings.mode = DEFAULT_MODE;
  self->settings.threshold = DEFAULT_THRESHOLD;
  self->settings.threshold_off = DEFAULT_THRESHOLD_OFF;
  self->settings.window = DEFAULT_WINDOW;
  self->settings.top_k = DEFAULT_TOP_K;
  self->settings.post_messages = DEFAULT_POST_MESSAGES;
  self->settings.attach_meta = DEFAULT_ATTACH_META;
  self->settings.attach_embedding = DEFAULT_ATTACH_EMBEDDING;
  self->settings.threads = DEFAULT_THREADS;
  self->settings.batch_size = DEFAULT_BATCH_SIZE;
  self->settings.backend = DEFAULT_BACKEND;
  self->settings.precision = DEFAULT_PRECISION;
  g_mutex_init (&self->text_lock);
  g_cond_init (&self->text_cond);
  g_mutex_init (&self->state_lock);

  /* Never passthrough: the meta needs a writable buffer, which costs at most
   * a shallow GstBuffer copy (the memory is shared, never copied). No QoS:
   * an analyzer must not drop frames. */
  gst_base_transform_set_in_place (trans, TRUE);
  gst_base_transform_set_qos_enabled (trans, FALSE);
}

static void
settings_clear (Settings * s)
{
  g_free (s->model);
  g_free (s->prompts);
  g_free (s->templates);
  memset (s, 0, sizeof *s);
}

static void
gst_clip_filter_finalize (GObject * object)
{
  GstClipFilter *self = GST_CLIP_FILTER (object);

  settings_clear (&self->settings);
  g_mutex_clear (&self->text_lock);
  g_cond_clear (&self->text_cond);
  g_mutex_clear (&self->state_lock);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_clip_filter_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipFilter *self = GST_CLIP_FILTER (object);
  Settings *s = &self->settings;
  gboolean prompts_changed = FALSE;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (s->model);
      s->model = g_value_dup_string (value);
      break;
    case PROP_PROMPTS:
      g_free (s->prompts);
      s->prompts = g_value_dup_string (value);
      prompts_changed = TRUE;
      break;
    case PROP_TEMPLATES:
      g_free (s->templates);
      s->templates = g_value_dup_string (value);
      prompts_changed = TRUE;
      break;
    case PROP_INTERVAL:
      s->interval = g_value_get_uint64 (value);
      break;
    case PROP_FRAME_INTERVAL:
      s->frame_interval = g_value_get_uint (value);
      break;
    case PROP_MODE:
      s->mode = g_value_get_enum (value);
      break;
    case PROP_THRESHOLD:
      s->threshold = g_value_get_double (value);
      break;
    case PROP_THRESHOLD_OFF:
      s->threshold_off = g_value_get_double (value);
      break;
    case PROP_WINDOW:
      s->window = g_value_get_uint (value);
      break;
    case PROP_TOP_K:
      s->top_k = g_value_get_uint (value);
      break;
    case PROP_POST_MESSAGES:
      s->post_messages = g_value_get_boolean (value);
      break;
    case PROP_ATTACH_META:
      s->attach_meta = g_value_get_boolean (value);
      break;
    case PROP_ATTACH_EMBEDDING:
      s->attach_embedding = g_value_get_boolean (value);
      break;
    case PROP_THREADS:
      s->threads = g_value_get_int (value);
      break;
    case PROP_BATCH_SIZE:
      s->batch_size = g_value_get_uint (value);
      break;
    case PROP_BACKEND:
      s->backend = g_value_get_enum (value);
      break;
    case PROP_PRECISION:
      s->precision = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  if (prompts_changed)
    self->prompt_serial++;
  GST_OBJECT_UNLOCK (self);

  /* The embedding itself happens on the text thread, never here. */
  if (prompts_changed) {
    g_mutex_lock (&self->text_lock);
    g_cond_signal (&self->text_cond);
    g_mutex_unlock (&self->text_lock);
  }
}

static void
gst_clip_filter_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipFilter *self = GST_CLIP_FILTER (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, s->model);
      break;
    case PROP_PROMPTS:
      g_value_set_string (value, s->prompts);
      break;
    case PROP_TEMPLATES:
      g_value_set_string (value, s->templates);
      break;
    case PROP_INTERVAL:
      g_value_set_uint64 (value, s->interval);
      break;
    case PROP_FRAME_INTERVAL:
      g_value_set_uint (value, s->frame_interval);
      break;
    case PROP_MODE:
      g_value_set_enum (value, s->mode);
      break;
    case PROP_THRESHOLD:
      g_value_set_double (value, s->threshold);
      break;
    case PROP_THRESHOLD_OFF:
      g_value_set_double (value, s->threshold_off);
      break;
    case PROP_WINDOW:
      g_value_set_uint (value, s->window);
      break;
    case PROP_TOP_K:
      g_value_set_uint (value, s->top_k);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, s->post_messages);
      break;
    case PROP_ATTACH_META:
      g_value_set_boolean (value, s->attach_meta);
      break;
    case PROP_ATTACH_EMBEDDING:
      g_value_set_boolean (value, s->attach_embedding);
      break;
    case PROP_THREADS:
      g_value_set_int (value, s->threads);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, s->batch_size);
      break;
    case PROP_BACKEND:
      g_value_set_enum (value, s->backend);
      break;
    case PROP_PRECISION:
      g_value_set_enum (value, s->precision);
      break;
    case PROP_ANALYZED:
      g_value_set_uint64 (value, self->analyzed);
      break;
    case PROP_SKIPPED:
      g_value_set_uint64 (value, self->skipped);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* A copy of the settings, so processing never holds the object lock. The
 * streaming thread needs no strings (prompts are the text thread's), which
 * keeps unsampled frames free of allocations. */
static void
settings_copy (GstClipFilter * self, Settings * out, gboolean with_strings)
{
  GST_OBJECT_LOCK (self);
  *out = self->settings;
  out->model = with_strings ? g_strdup (self->settings.model) : NULL;
  out->prompts = with_strings ? g_strdup (self->settings.prompts) : NULL;
  out->templates = with_strings ? g_strdup (self->settings.templates) : NULL;
  GST_OBJECT_UNLOCK (self);
}

/* ---- labels ------------------------------------------------------------ */

static Labels *
labels_ref (Labels * l)
{
  if (l)
    g_atomic_int_inc (&l->ref);
  return l;
}

static void
labels_unref (Labels * l)
{
  if (l && g_atomic_int_dec_and_test (&l->ref)) {
    g_strfreev (l->names);
    g_free (l->embeds);
    g_free (l);
  }
}

/* Splits @text at @sep, strips blanks and drops empty pieces. */
static GPtrArray *
split_clean (const gchar * text, const gchar * sep)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  gchar **parts = g_strsplit (text ? text : "", sep, -1);
  gchar **p;

  for (p = parts; *p; p++) {
    g_strstrip (*p);
    if (**p)
      g_ptr_array_add (out, g_strdup (*p));
  }
  g_strfreev (parts);
  return out;
}

/* Parses prompts and templates and embeds them with @ctx. Returns NULL and
 * sets @error_msg (newly allocated) when they are unusable. */
static Labels *
labels_embed (clip_ctx * ctx, gint dim, const gchar * prompts,
    const gchar * templates, gchar ** error_msg)
{
  GPtrArray *entries, *tmpl, *specs;
  Labels *l = NULL;
  clip_error err = { 0 };
  guint i;

  if (!prompts || !g_utf8_validate (prompts, -1, NULL)) {
    *error_msg = g_strdup (prompts ? "prompts are not valid UTF-8"
        : "no prompts set (property 'prompts', e.g. \"a dog;a cat\")");
    return NULL;
  }
  if (templates && !g_utf8_validate (templates, -1, NULL)) {
    *error_msg = g_strdup ("templates are not valid UTF-8");
    return NULL;
  }

  entries = split_clean (prompts, ";");
  tmpl = split_clean (templates, ";");
  specs = g_ptr_array_new_with_free_func (g_free);
  l = g_new0 (Labels, 1);
  l->ref = 1;
  l->names = g_new0 (gchar *, entries->len + 1);

  for (i = 0; i < entries->len; i++) {
    GPtrArray *syn = split_clean (g_ptr_array_index (entries, i), "|");
    if (syn->len > 0) {
      g_ptr_array_add (syn, NULL);
      l->names[l->n++] = g_strdup (g_ptr_array_index (syn, 0));
      g_ptr_array_add (specs, g_strjoinv ("|", (gchar **) syn->pdata));
    }
    g_ptr_array_unref (syn);
  }

  for (i = 0; i < tmpl->len; i++) {
    if (!strstr (g_ptr_array_index (tmpl, i), "{}")) {
      *error_msg = g_strdup_printf ("template \"%s\" has no {} placeholder",
          (const gchar *) g_ptr_array_index (tmpl, i));
      goto fail;
    }
  }
  if (l->n == 0) {
    *error_msg = g_strdup_printf ("prompts \"%.80s\" contain no label "
        "(labels are separated by ';', synonyms by '|')", prompts);
    goto fail;
  }

  l->embeds = g_new0 (gfloat, (gsize) l->n * dim);
  if (clip_embed_labels (ctx, (const char *const *) specs->pdata, l->n,
          tmpl->len ? (const char *const *) tmpl->pdata : NULL, tmpl->len,
          l->embeds, &err) != CLIP_OK) {
    *error_msg = g_strdup_printf ("could not embed the prompts: %s",
        err.message);
    goto fail;
  }
  goto out;

fail:
  labels_unref (l);
  l = NULL;
out:
  g_ptr_array_unref (entries);
  g_ptr_array_unref (tmpl);
  g_ptr_array_unref (specs);
  return l;
}

/* Background embedding of prompt changes: one thread with its own context,
 * so the streaming thread and the worker never wait for the text tower. */
static gpointer
text_thread_func (gpointer data)
{
  State *st = data;
  GstClipFilter *self = st->self;
  guint done;

  g_mutex_lock (&st->lock);
  done = st->text_serial;
  g_mutex_unlock (&st->lock);

  g_mutex_lock (&self->text_lock);
  for (;;) {
    gchar *prompts, *templates, *msg = NULL;
    guint serial;
    gboolean quit;
    Labels *l;

    g_mutex_lock (&st->lock);
    quit = st->text_quit;
    g_mutex_unlock (&st->lock);
    if (quit)
      break;

    GST_OBJECT_LOCK (self);
    serial = self->prompt_serial;
    prompts = g_strdup (self->settings.prompts);
    templates = g_strdup (self->settings.templates);
    GST_OBJECT_UNLOCK (self);

    if (serial == done) {
      g_free (prompts);
      g_free (templates);
      g_cond_wait (&self->text_cond, &self->text_lock);
      continue;
    }

    g_mutex_unlock (&self->text_lock);
    GST_DEBUG_OBJECT (self, "embedding new prompts \"%s\"", prompts);
    l = labels_embed (st->text_ctx, st->embed_dim, prompts, templates, &msg);
    if (l) {
      g_mutex_lock (&st->lock);
      labels_unref (st->labels);
      st->labels = l;
      st->text_serial = serial;
      g_mutex_unlock (&st->lock);
    } else {
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
          ("Invalid prompts, keeping the previous ones: %s", msg), (NULL));
    }
    done = serial;
    g_free (msg);
    g_free (prompts);
    g_free (templates);
    g_mutex_lock (&self->text_lock);
  }
  g_mutex_unlock (&self->text_lock);
  return NULL;
}

/* ---- model loading (NULL→READY) ----------------------------------------- */

/* The model property is a path, or a name searched in the model dirs. */
static gchar *
resolve_model (const gchar * model, GString * searched)
{
  GPtrArray *dirs;
  const gchar *env = g_getenv ("CLIPFILTER_MODEL_PATH");
  gchar *found = NULL;
  guint i;

  if (g_path_is_absolute (model) || strchr (model, G_DIR_SEPARATOR)
      || g_file_test (model, G_FILE_TEST_EXISTS))
    return g_strdup (model);

  dirs = g_ptr_array_new_with_free_func (g_free);
  if (env && *env) {
    gchar **v = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1), **p;
    for (p = v; *p; p++)
      if (**p)
        g_ptr_array_add (dirs, g_strdup (*p));
    g_strfreev (v);
  }
  g_ptr_array_add (dirs, g_build_filename (g_get_user_data_dir (),
          "clipfilter", "models", NULL));
  g_ptr_array_add (dirs, g_strdup (CLIPFILTER_MODELS_INSTALL_DIR));
  g_ptr_array_add (dirs, g_strdup (CLIPFILTER_MODELS_SOURCE_DIR));

  for (i = 0; i < dirs->len && !found; i++) {
    gchar *p = g_build_filename (g_ptr_array_index (dirs, i), model, NULL);
    if (g_file_test (p, G_FILE_TEST_EXISTS))
      found = p;
    else
      g_free (p);
    g_string_append_printf (searched, "%s%s", i ? ", " : "",
        (const gchar *) g_ptr_array_index (dirs, i));
  }
  g_ptr_array_unref (dirs);
  return found;
}

/* Loaded models, shared by every instance that uses the same checkpoint
 * with the same thread count, backend and precision: a clip_model is immutable once loaded, so
 * several cameras' pipelines can read one copy of the weights. A model is
 * freed when its last user stops. */
typedef struct
{
  gchar *key;
  clip_model *model;
  guint users;
} SharedModel;

static GMutex shared_models_lock;
static GList *shared_models;

static clip_model *
shared_model_acquire (const gchar * path, const clip_params * params,
    clip_error * err)
{
  gchar *real = g_canonicalize_filename (path, NULL);
  gchar *key = g_strdup_printf ("%d:%d:%d:%s", params->n_threads,
      params->backend, params->precision, real);
  SharedModel *sm = NULL;
  clip_model *model = NULL;
  GList *l;

  g_mutex_lock (&shared_models_lock);
  for (l = shared_models; l && !sm; l = l->next)
    if (g_str_equal (((SharedModel *) l->data)->key, key))
      sm = l->data;
  if (!sm) {
    clip_model *m = clip_model_load (path, params, err);
    if (m) {
      sm = g_new0 (SharedModel, 1);
      sm->key = key;
      key = NULL;
      sm->model = m;
      shared_models = g_list_prepend (shared_models, sm);
    }
  }
  if (sm) {
    sm->users++;
    model = sm->model;
  }
  g_mutex_unlock (&shared_models_lock);
  g_free (key);
  g_free (real);
  return model;
}

static void
shared_model_release (clip_model * model)
{
  GList *l;

  if (!model)
    return;
  g_mutex_lock (&shared_models_lock);
  for (l = shared_models; l; l = l->next) {
    SharedModel *sm = l->data;
    if (sm->model == model) {
      if (--sm->users == 0) {
        shared_models = g_list_delete_link (shared_models, l);
        clip_model_free (sm->model);
        g_free (sm->key);
        g_free (sm);
      }
      break;
    }
  }
  g_mutex_unlock (&shared_models_lock);
}

static void
state_free (State * st)
{
  if (!st)
    return;
  labels_unref (st->labels);
  labels_unref (st->active);
  g_free (st->pixels);
  g_free (st->pending);
  g_free (st->ring);
  g_free (st->on);
  g_free (st->last);
  clip_ctx_free (st->image_ctx);
  clip_ctx_free (st->text_ctx);
  shared_model_release (st->model);
  g_mutex_clear (&st->lock);
  g_cond_clear (&st->cond);
  g_free (st);
}

static const gchar *
backend_nick (GstClipFilterBackend b)
{
  GEnumValue *v = g_enum_get_value (g_type_class_peek
      (GST_TYPE_CLIP_FILTER_BACKEND), b);
  return v ? v->value_nick : "?";
}

/* Loads the model, creates the contexts and embeds the prompts; posts an
 * error and returns NULL when any of it fails. */
static State *
state_new (GstClipFilter * self)
{
  Settings s;
  State *st = g_new0 (State, 1);
  clip_error err = { 0 };
  clip_params params = clip_default_params ();
  GString *searched = g_string_new (NULL);
  gchar *path = NULL, *msg = NULL;
  const gchar *delay;
  const clip_model_info *info;

  st->self = self;
  g_mutex_init (&st->lock);
  g_cond_init (&st->cond);
  /* The serial is read before the prompts: a change in between is embedded
   * again by the text thread rather than lost. */
  GST_OBJECT_LOCK (self);
  st->text_serial = self->prompt_serial;
  GST_OBJECT_UNLOCK (self);
  settings_copy (self, &s, TRUE);

  path = resolve_model (s.model ? s.model : "", searched);
  if (!path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("CLIP model \"%s\" not found (searched: %s)", s.model ? s.model : "",
            searched->str), ("set the 'model' property to a checkpoint path"));
    goto fail;
  }

  /* The properties decide, not the engine's CLIP_BACKEND/CLIP_PRECISION
   * environment defaults: a pipeline behaves as written. */
  params.n_threads = s.threads;
  params.backend = (clip_backend) s.backend;
  params.precision = (clip_precision) s.precision;
  if (s.precision == GST_CLIP_FILTER_PRECISION_BF16
      && s.backend == GST_CLIP_FILTER_BACKEND_OPENBLAS) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("precision=bf16 needs backend=onednn (or auto in a build with "
            "oneDNN); backend=openblas computes in fp32 only"), (NULL));
    goto fail;
  }
  st->model = shared_model_acquire (path, &params, &err);
  if (!st->model) {
    /* UNSUPPORTED is mostly a backend or precision this build cannot run;
     * the engine's message says which. */
    if (err.status == CLIP_ERR_UNSUPPORTED)
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Could not load CLIP model with backend=%s precision=%s: %s",
              backend_nick (s.backend), s.precision ? "bf16" : "fp32",
              err.message), ("model: %s", path));
    else if (err.status == CLIP_ERR_IO)
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("Could not load CLIP model: %s", err.message), ("model: %s", path));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
          ("Could not load CLIP model: %s", err.message), ("model: %s", path));
    goto fail;
  }
  info = clip_model_get_info (st->model);
  st->embed_dim = info->embed_dim;
  st->image_size = info->image_size;

  if (!(st->image_ctx = clip_ctx_new (st->model, &err))
      || !(st->text_ctx = clip_ctx_new (st->model, &err))) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not create a CLIP context: %s", err.message), (NULL));
    goto fail;
  }

  st->labels = labels_embed (st->text_ctx, st->embed_dim, s.prompts,
      s.templates, &msg);
  if (!st->labels) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid prompts: %s", msg), (NULL));
    goto fail;
  }

  st->batch = MAX (s.batch_size, 1);
  st->pixels = g_new0 (gfloat, (gsize) st->batch * 3 * st->image_size *
      st->image_size);
  st->pending = g_new0 (Sample *, st->batch);
  /* Test hook: an artificially slow analysis (sync vs async tests). */
  if ((delay = g_getenv ("CLIPFILTER_DEBUG_ANALYSIS_DELAY_MS")))
    st->debug_delay_us = (gulong) g_ascii_strtoull (delay, NULL, 10) * 1000;

  GST_INFO_OBJECT (self, "loaded %s: %d labels, embed dim %d", path,
      st->labels->n, st->embed_dim);
  g_free (path);
  g_free (msg);
  g_string_free (searched, TRUE);
  settings_clear (&s);
  return st;

fail:
  g_free (path);
  g_free (msg);
  g_string_free (searched, TRUE);
  settings_clear (&s);
  state_free (st);
  return NULL;
}

static GstStateChangeReturn
gst_clip_filter_change_state (GstElement * element, GstStateChange transition)
{
  GstClipFilter *self = GST_CLIP_FILTER (element);
  GstStateChangeReturn ret;
  State *st;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    if (!(st = state_new (self)))
      return GST_STATE_CHANGE_FAILURE;
    g_mutex_lock (&self->state_lock);
    self->state = st;
    st->text_thread = g_thread_new ("clipfilter-text", text_thread_func, st);
    g_mutex_unlock (&self->state_lock);
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL
      || (transition == GST_STATE_CHANGE_NULL_TO_READY
          && ret == GST_STATE_CHANGE_FAILURE)) {
    g_mutex_lock (&self->state_lock);
    st = self->state;
    self->state = NULL;
    g_mutex_unlock (&self->state_lock);
    if (st) {
      g_mutex_lock (&st->lock);
      st->text_quit = TRUE;
      g_mutex_unlock (&st->lock);
      g_mutex_lock (&self->text_lock);
      g_cond_signal (&self->text_cond);
      g_mutex_unlock (&self->text_lock);
      g_thread_join (st->text_thread);
      state_free (st);
    }
  }
  return ret;
}

/* ---- streaming: start/stop, caps, events --------------------------------- */

static void
sample_free (Sample * s)
{
  if (!s)
    return;
  labels_unref (s->labels);
  g_free (s->embed);
  g_free (s->sims);
  g_free (s->probs);
  g_free (s);
}

static void
reset_smoothing (State * st)
{
  st->ring_fill = 0;
  st->ring_pos = 0;
}

static gpointer worker_func (gpointer data);

static void
drop_pending (State * st)
{
  guint i;

  for (i = 0; i < st->n_pending; i++) {
    sample_free (st->pending[i]);
    st->pending[i] = NULL;
  }
  st->n_pending = 0;
}

static void
worker_stop (State * st)
{
  g_mutex_lock (&st->lock);
  st->worker_quit = TRUE;
  g_cond_broadcast (&st->cond);
  g_mutex_unlock (&st->lock);
  if (st->worker)
    g_thread_join (st->worker);
  st->worker = NULL;
  st->worker_quit = FALSE;
  sample_free (st->job);
  sample_free (st->done);
  st->job = st->done = NULL;
}

static gboolean
gst_clip_filter_start (GstBaseTransform * trans)
{
  GstClipFilter *self = GST_CLIP_FILTER (trans);
  State *st = self->state;

  g_return_val_if_fail (st != NULL, FALSE);
  st->mode_decided = FALSE;
  st->frame_index = 0;
  st->last_due = GST_CLOCK_TIME_NONE;
  st->last_end = GST_CLOCK_TIME_NONE;
  st->latency = 0;
  reset_smoothing (st);
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
  worker_stop (st);
  drop_pending (st);
  labels_unref (st->active);
  st->active = NULL;
  g_clear_pointer (&st->on, g_free);
  g_clear_pointer (&st->last, g_free);
  g_clear_pointer (&st->ring, g_free);
  st->ring_window = 0;
  return TRUE;
}

static gboolean
gst_clip_filter_set_info (GstVideoFilter * filter, GstCaps * incaps,
    GstVideoInfo * in_info, GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstClipFilter *self = GST_CLIP_FILTER (filter);
  State *st = self->state;
  clip_image *im;
  const GstVideoColorimetry *c = &GST_VIDEO_INFO_COLORIMETRY (in_info);

  (void) incaps;
  (void) outcaps;
  (void) out_info;
  if (!st)
    return FALSE;
  im = &st->image;
  memset (im, 0, sizeof *im);
  switch (GST_VIDEO_INFO_FORMAT (in_info)) {
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
    default:
      GST_ERROR_OBJECT (self, "unsupported format %s",
          gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info)));
      return FALSE;
  }
  im->width = GST_VIDEO_INFO_WIDTH (in_info);
  im->height = GST_VIDEO_INFO_HEIGHT (in_info);
  im->matrix = c->matrix == GST_VIDEO_COLOR_MATRIX_BT709 ?
      CLIP_MATRIX_BT709 : CLIP_MATRIX_BT601;
  im->full_range = c->range == GST_VIDEO_COLOR_RANGE_0_255;
  st->info = *in_info;
  GST_DEBUG_OBJECT (self, "analyzing %dx%d %s", im->width, im->height,
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info)));
  return TRUE;
}

/* ---- analysis ------------------------------------------------------------ */

/* Encodes the n model inputs in st->pixels in one batch and scores each
 * against its own label set. Runs on the thread that owns image_ctx. */
static gboolean
analyze (GstClipFilter * self, State * st, Sample ** smps, guint n)
{
  clip_error err = { 0 };
  gfloat *embeds = g_new0 (gfloat, (gsize) n * st->embed_dim);
  guint i;

  if (st->debug_delay_us)
    g_usleep (st->debug_delay_us);
  if (clip_encode_images (st->image_ctx, st->pixels, (int) n, embeds, NULL,
          &err) != CLIP_OK) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("CLIP image encoding failed: %s", err.message), (NULL));
    g_free (embeds);
    return FALSE;
  }
  for (i = 0; i < n; i++) {
    Sample *s = smps[i];
    s->embed = g_memdup2 (embeds + (gsize) i * st->embed_dim,
        st->embed_dim * sizeof (gfloat));
    s->sims = g_new0 (gfloat, s->labels->n);
    s->probs = g_new0 (gfloat, s->labels->n);
    clip_score (st->model, s->embed, s->labels->embeds, s->labels->n, s->sims,
        s->probs);
  }
  g_free (embeds);
  return TRUE;
}


static gpointer
worker_func (gpointer data)
{
  State *st = data;
  GstClipFilter *self = st->self;

  g_mutex_lock (&st->lock);
  while (!st->worker_quit) {
    Sample *s = st->job;
    gboolean ok;

    if (!s || st->done) {
      g_cond_wait (&st->cond, &st->lock);
      continue;
    }
    g_mutex_unlock (&st->lock);
    ok = analyze (self, st, &s, 1);
    g_mutex_lock (&st->lock);
    st->job = NULL;
    if (ok && s->generation == st->generation)
      st->done = s;
    else
      sample_free (s);
    g_cond_broadcast (&st->cond);
  }
  g_mutex_unlock (&st->lock);
  return NULL;
}

static GstMessage *
tag_message (GstClipFilter * self, const gchar * label, gboolean on,
    gdouble score, GstClockTime ts, GstClockTime stream_time,
    GstClockTime running_time)
{
  GstStructure *s = gst_structure_new ("clipfilter-tag",
      "label", G_TYPE_STRING, label,
      "state", G_TYPE_STRING, on ? "on" : "off",
      "score", G_TYPE_DOUBLE, score,
      "timestamp", G_TYPE_UINT64, ts,
      "stream-time", G_TYPE_UINT64, stream_time,
      "running-time", G_TYPE_UINT64, running_time, NULL);
  return gst_message_new_element (GST_OBJECT (self), s);
}

/* Closes every label that is on, queueing "off" messages. */
static void
close_tags (GstClipFilter * self, State * st, GstClockTime ts,
    GstClockTime stream_time, GstClockTime running_time, gboolean post,
    GQueue * out)
{
  guint i;

  if (!st->active || !st->on)
    return;
  for (i = 0; i < st->active->n; i++) {
    if (st->on[i] && post)
      g_queue_push_tail (out, tag_message (self, st->active->names[i], FALSE,
              st->last[i], ts, stream_time, running_time));
    st->on[i] = FALSE;
  }
}

static void
array_append_double (GValue * arr, gdouble d)
{
  GValue v = G_VALUE_INIT;
  g_value_init (&v, G_TYPE_DOUBLE);
  g_value_set_double (&v, d);
  gst_value_array_append_and_take_value (arr, &v);
}

static void
array_append_string (GValue * arr, const gchar * str)
{
  GValue v = G_VALUE_INIT;
  g_value_init (&v, G_TYPE_STRING);
  g_value_set_string (&v, str);
  gst_value_array_append_and_take_value (arr, &v);
}

static void
set_float_array (GstStructure * s, const gchar * field, const gfloat * f,
    guint n)
{
  GValue arr = G_VALUE_INIT;
  guint i;

  gst_value_array_init (&arr, n);
  for (i = 0; i < n; i++)
    array_append_double (&arr, f[i]);
  gst_structure_take_value (s, field, &arr);
}

static GstMessage *
sample_message (GstClipFilter * self, const Settings * set, const Sample * smp,
    const gfloat * smoothed, gint best, guint64 analyzed, guint64 skipped)
{
  const Labels *l = smp->labels;
  GstStructure *s;
  GValue arr = G_VALUE_INIT;
  guint i, k;

  s = gst_structure_new ("clipfilter",
      "timestamp", G_TYPE_UINT64, smp->pts,
      "stream-time", G_TYPE_UINT64, smp->stream_time,
      "running-time", G_TYPE_UINT64, smp->running_time,
      "duration", G_TYPE_UINT64, smp->duration, NULL);
  gst_value_array_init (&arr, l->n);
  for (i = 0; i < l->n; i++)
    array_append_string (&arr, l->names[i]);
  gst_structure_take_value (s, "labels", &arr);
  set_float_array (s, "scores", smp->probs, l->n);
  set_float_array (s, "similarities", smp->sims, l->n);
  set_float_array (s, "smoothed", smoothed, l->n);
  gst_structure_set (s, "top-label", G_TYPE_STRING, l->names[best],
      "top-score", G_TYPE_DOUBLE, (gdouble) smoothed[best], NULL);

  k = MIN (set->top_k, l->n);
  if (k > 0) {
    GValue names = G_VALUE_INIT, scores = G_VALUE_INIT;
    guint *order = g_new (guint, l->n);
    guint j;

    /* Insertion sort by smoothed probability, ties in prompt order. */
    for (i = 0; i < l->n; i++) {
      for (j = i; j > 0 && smoothed[order[j - 1]] < smoothed[i]; j--)
        order[j] = order[j - 1];
      order[j] = i;
    }
    gst_value_array_init (&names, k);
    gst_value_array_init (&scores, k);
    for (i = 0; i < k; i++) {
      array_append_string (&names, l->names[order[i]]);
      array_append_double (&scores, smoothed[order[i]]);
    }
    gst_structure_take_value (s, "top-labels", &names);
    gst_structure_take_value (s, "top-scores", &scores);
    g_free (order);
  }
  gst_structure_set (s, "analyzed", G_TYPE_UINT64, analyzed,
      "skipped", G_TYPE_UINT64, skipped, NULL);
  return gst_message_new_element (GST_OBJECT (self), s);
}

/* Results downstream: every `clipfilter` / `clipfilter-tag` message also
 * travels in-band as a serialized custom downstream event carrying a copy
 * of the message's structure, so that downstream elements (clippublish)
 * see the results in stream order, before the buffer that carries the meta,
 * without listening to the bus. While the source pad is flushing (the "off"
 * tags closed at a flush) the event is dropped by the pad. */
static void
push_result_event (GstClipFilter * self, GstMessage * msg)
{
  GstStructure *copy = gst_structure_copy (gst_message_get_structure (msg));

  gst_pad_push_event (GST_BASE_TRANSFORM_SRC_PAD (self),
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, copy));
}

static void
post_all (GstClipFilter * self, GQueue * msgs)
{
  GstMessage *m;
  while ((m = g_queue_pop_head (msgs))) {
    push_result_event (self, m);
    gst_element_post_message (GST_ELEMENT (self), m);
  }
}

/* Smoothing, tag state, meta and messages for one result. @buf (may be
 * NULL at EOS) receives the meta. Messages are queued in @msgs, to be posted
 * once no lock is held. Streaming thread only. */
static void
deliver (GstClipFilter * self, State * st, const Settings * set, Sample * smp,
    GstBuffer * buf, GQueue * msgs)
{
  Labels *l = smp->labels;
  gfloat *smoothed = g_new0 (gfloat, l->n);
  gdouble off;
  guint64 analyzed, skipped;
  guint i, w;
  gint best = 0;

  if (st->active != l) {
    close_tags (self, st, smp->pts, smp->stream_time, smp->running_time,
        set->post_messages, msgs);
    labels_unref (st->active);
    st->active = labels_ref (l);
    g_free (st->on);
    g_free (st->last);
    st->on = g_new0 (gboolean, l->n);
    st->last = g_new0 (gfloat, l->n);
    st->ring_window = 0;
  }
  if (st->ring_window != set->window) {
    g_free (st->ring);
    st->ring_window = set->window;
    st->ring = g_new0 (gfloat, (gsize) st->ring_window * l->n);
    reset_smoothing (st);
  }

  memcpy (st->ring + (gsize) st->ring_pos * l->n, smp->probs,
      l->n * sizeof (gfloat));
  st->ring_pos = (st->ring_pos + 1) % st->ring_window;
  st->ring_fill = MIN (st->ring_fill + 1, st->ring_window);
  for (w = 0; w < st->ring_fill; w++)
    for (i = 0; i < l->n; i++)
      smoothed[i] += st->ring[(gsize) w * l->n + i];
  for (i = 0; i < l->n; i++) {
    smoothed[i] /= st->ring_fill;
    if (smoothed[i] > smoothed[best])
      best = i;
  }
  memcpy (st->last, smoothed, l->n * sizeof (gfloat));

  GST_OBJECT_LOCK (self);
  analyzed = ++self->analyzed;
  skipped = self->skipped;
  GST_OBJECT_UNLOCK (self);

  if (set->post_messages)
    g_queue_push_tail (msgs, sample_message (self, set, smp, smoothed, best,
            analyzed, skipped));

  off = set->threshold_off < 0 ? MAX (set->threshold - DEFAULT_HYSTERESIS, 0.0)
      : MIN (set->threshold_off, set->threshold);
  for (i = 0; i < l->n; i++) {
    gboolean was = st->on[i];
    if (!was && smoothed[i] >= set->threshold)
      st->on[i] = TRUE;
    else if (was && smoothed[i] < off)
      st->on[i] = FALSE;
    if (st->on[i] != was && set->post_messages)
      g_queue_push_tail (msgs, tag_message (self, l->names[i], st->on[i],
              smoothed[i], smp->pts, smp->stream_time, smp->running_time));
  }

  if (buf && set->attach_meta) {
    if (gst_buffer_is_writable (buf)) {
      GstClipMeta *meta = gst_buffer_add_clip_meta (buf, l->n,
          (const gchar * const *) l->names, smp->probs, smp->sims, smoothed,
          best, smp->pts);
      if (set->attach_embedding)
        gst_clip_meta_set_embedding (meta, smp->embed, st->embed_dim);
    } else {
      GST_WARNING_OBJECT (self, "buffer not writable, meta not attached");
    }
  }
  g_free (smoothed);
}

/* Sync: encodes the pending frames and delivers them in order, metas on
 * @buf (NULL at EOS). */
static gboolean
flush_pending (GstClipFilter * self, State * st, const Settings * set,
    GstBuffer * buf, GQueue * msgs)
{
  gboolean ok = TRUE;
  guint i;

  if (st->n_pending > 0) {
    ok = analyze (self, st, st->pending, st->n_pending);
    for (i = 0; i < st->n_pending; i++) {
      if (ok)
        deliver (self, st, set, st->pending[i], buf, msgs);
      sample_free (st->pending[i]);
      st->pending[i] = NULL;
    }
  }
  st->n_pending = 0;
  return ok;
}

/* Stream and running time of @t. Raw video can come in a segment that is
 * not in time (appsrc's default format is BYTES), where the segment
 * functions would fail a precondition: the timestamps are then taken as
 * they are, as in a default time segment. */
static GstClockTime
stream_time (const GstSegment * seg, GstClockTime t)
{
  if (seg->format != GST_FORMAT_TIME)
    return t;
  return gst_segment_to_stream_time (seg, GST_FORMAT_TIME, t);
}

static GstClockTime
running_time (const GstSegment * seg, GstClockTime t)
{
  if (seg->format != GST_FORMAT_TIME)
    return t;
  return gst_segment_to_running_time (seg, GST_FORMAT_TIME, t);
}

/* Whether the frame at stream time @stime is due for a sample. In reverse
 * playback stream time runs backwards, and so does the grid. */
static gboolean
is_due (State * st, const Settings * set, GstClockTime stime, gboolean reverse)
{
  guint64 index = st->frame_index++;
  GstClockTime d, step;

  if (set->frame_interval > 0)
    return index % set->frame_interval == 0;
  if (!GST_CLOCK_TIME_IS_VALID (stime))
    return TRUE;
  /* The grid is kept as the last sample's grid point, never as the next
   * one: last + interval overflows for huge intervals. A frame at or
   * before the last sample (in playback order) went back in time and
   * restarts the grid. */
  if (!GST_CLOCK_TIME_IS_VALID (st->last_due) || (reverse ?
          stime >= st->last_due : stime <= st->last_due)) {
    st->last_due = stime;
    return TRUE;
  }
  d = reverse ? st->last_due - stime : stime - st->last_due;
  if (d < set->interval)
    return FALSE;
  /* Keep to a grid, so the cadence does not drift with the frame rate. */
  step = d / set->interval * set->interval;
  st->last_due = reverse ? st->last_due - step : st->last_due + step;
  return TRUE;
}

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
  Sample *done = NULL, *smp;
  GstClockTime pts = GST_BUFFER_PTS (buf), stime = GST_CLOCK_TIME_NONE;
  gboolean busy = FALSE;
  GstVideoFrame frame;
  clip_error err = { 0 };
  clip_status status;
  gint i;

  if (G_UNLIKELY (!st || !GST_VIDEO_FILTER (self)->negotiated))
    return GST_FLOW_NOT_NEGOTIATED;

  settings_copy (self, &set, FALSE);
  if (G_UNLIKELY (!st->mode_decided)) {
    gboolean async = decide_async (self, &set);

    /* under the lock: the LATENCY query reads it from another thread */
    g_mutex_lock (&st->lock);
    st->async = async;
    g_mutex_unlock (&st->lock);
    st->mode_decided = TRUE;
    if (st->async)
      st->worker = g_thread_new ("clipfilter-worker", worker_func, st);
  }
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT))
    reset_smoothing (st);
  if (GST_CLOCK_TIME_IS_VALID (pts)) {
    stime = stream_time (seg, pts);
    /* where playback of this buffer ends: its start when reversed */
    st->last_end = GST_BUFFER_DURATION_IS_VALID (buf) && seg->rate > 0 ?
        pts + GST_BUFFER_DURATION (buf) : pts;
  }

  if (st->async) {
    g_mutex_lock (&st->lock);
    done = st->done;
    st->done = NULL;
    busy = st->job != NULL;
    g_mutex_unlock (&st->lock);
    if (done) {
      deliver (self, st, &set, done, buf, &msgs);
      sample_free (done);
    }
  }

  if (!is_due (st, &set, stime, seg->rate < 0))
    goto out;
  if (busy) {
    GST_OBJECT_LOCK (self);
    self->skipped++;
    GST_OBJECT_UNLOCK (self);
    GST_LOG_OBJECT (self, "worker busy, skipping %" GST_TIME_FORMAT,
        GST_TIME_ARGS (pts));
    goto out;
  }

  smp = g_new0 (Sample, 1);
  g_mutex_lock (&st->lock);
  smp->labels = labels_ref (st->labels);
  smp->generation = st->generation;
  g_mutex_unlock (&st->lock);
  smp->pts = pts;
  smp->duration = GST_BUFFER_DURATION (buf);
  smp->stream_time = stime;
  /* A reversed frame is played from its end (as sinks sync it). */
  smp->running_time = running_time (seg, seg->rate < 0
      && GST_BUFFER_DURATION_IS_VALID (buf) ? pts + GST_BUFFER_DURATION (buf)
      : pts);

  {
    gint64 t0 = g_get_monotonic_time ();

    /* Only sampled frames are mapped; the worker is idle, so st->pixels is
     * ours to fill (sync: the next free slot of the batch). */
    if (!gst_video_frame_map (&frame, &st->info, buf, GST_MAP_READ)) {
      GST_ELEMENT_WARNING (self, STREAM, FORMAT, (NULL),
          ("could not map the video frame"));
      sample_free (smp);
      goto out;
    }
    for (i = 0; i < (gint) GST_VIDEO_FRAME_N_PLANES (&frame) && i < 3; i++) {
      st->image.planes[i] = GST_VIDEO_FRAME_PLANE_DATA (&frame, i);
      st->image.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, i);
    }
    status = clip_preprocess (st->model, &st->image, st->pixels +
        (gsize) st->n_pending * 3 * st->image_size * st->image_size, &err);
    gst_video_frame_unmap (&frame);
    memset (st->image.planes, 0, sizeof st->image.planes);
    if (status != CLIP_OK) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("CLIP preprocessing failed: %s", err.message), (NULL));
      sample_free (smp);
      ret = GST_FLOW_ERROR;
      goto out;
    }

    if (st->async) {
      g_mutex_lock (&st->lock);
      st->job = smp;
      g_cond_broadcast (&st->cond);
      g_mutex_unlock (&st->lock);
      goto out;
    }

    st->pending[st->n_pending++] = smp;
    if (st->n_pending < st->batch)
      goto out;
    if (!flush_pending (self, st, &set, buf, &msgs)) {
      ret = GST_FLOW_ERROR;
      goto out;
    }
    t0 = (g_get_monotonic_time () - t0) * GST_USECOND;
    g_mutex_lock (&st->lock);
    if ((GstClockTime) t0 > st->latency) {
      gboolean grew = (GstClockTime) t0 > st->latency + st->latency / 5;
      st->latency = t0;
      g_mutex_unlock (&st->lock);
      if (grew)
        gst_element_post_message (GST_ELEMENT (self),
            gst_message_new_latency (GST_OBJECT (self)));
    } else {
      g_mutex_unlock (&st->lock);
    }
  }

out:
  settings_clear (&set);
  post_all (self, &msgs);
  return ret;
}

/* Waits for the worker's current job and delivers it (EOS). */
static void
drain (GstClipFilter * self, State * st, const Settings * set, GQueue * msgs)
{
  Sample *done;

  flush_pending (self, st, set, NULL, msgs);
  g_mutex_lock (&st->lock);
  while (st->job && st->worker)
    g_cond_wait (&st->cond, &st->lock);
  done = st->done;
  st->done = NULL;
  g_mutex_unlock (&st->lock);
  if (done) {
    deliver (self, st, set, done, NULL, msgs);
    sample_free (done);
  }
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
      gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;

      settings_copy (self, &set, FALSE);
      if (eos) {
        drain (self, st, &set, &msgs);
      } else {
        /* Results of frames before the flush are stale. */
        g_mutex_lock (&st->lock);
        drop_pending (st);
        st->generation++;
        sample_free (st->done);
        st->done = NULL;
        g_mutex_unlock (&st->lock);
      }
      close_tags (self, st, end,
          stream_time (&trans->segment, end),
          running_time (&trans->segment, end),
          set.post_messages, &msgs);
      reset_smoothing (st);
      st->last_due = GST_CLOCK_TIME_NONE;
      st->frame_index = 0;
      settings_clear (&set);
      post_all (self, &msgs);
      break;
    }
    case GST_EVENT_SEGMENT:
      st->last_due = GST_CLOCK_TIME_NONE;
      st->frame_index = 0;
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
    if (self->state && !self->state->async) {
      g_mutex_lock (&self->state->lock);
      ours = self->state->latency;
      g_mutex_unlock (&self->state->lock);
    }
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
