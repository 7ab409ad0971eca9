/* clipsettings.c — the clipfilter element's properties. */
#include "clipsettings.h"

#include <string.h>

#include "clip.h"

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

void
clip_settings_install_properties (GObjectClass * gobject_class)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags live = rw | GST_PARAM_MUTABLE_PLAYING;

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
      g_param_spec_int64 ("interval", "Interval",
          "Stream time between two analyzed frames, in nanoseconds (e.g. "
          "interval=1000000000 = 1 s); 0: every frame; -1: only the first "
          "frame after start, a flush or a new segment. Used when "
          "frame-interval is 0", -1, G_MAXINT64, DEFAULT_INTERVAL, live));
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

  g_object_class_install_property (gobject_class, PROP_MIN_SIMILARITY,
      g_param_spec_double ("min-similarity", "Minimum similarity",
          "A label turns on only when its smoothed cosine similarity (raw, "
          "before the softmax) also reaches this, and turns off when it falls "
          "below: the absolute 'is it there at all' gate, which a softmax over "
          "the prompts cannot give (with one prompt its probability is always "
          "1). The default suits the shipped model (matching frames about "
          "0.45-0.6, others below 0.35); real CLIP checkpoints have lower "
          "cosines (about 0.2-0.35 for a match): see docs/element.md. "
          "-1: no gate", -1.0, 1.0, DEFAULT_MIN_SIMILARITY, live));
  g_object_class_install_property (gobject_class, PROP_BACKGROUND_PROMPTS,
      g_param_spec_string ("background-prompts", "Background prompts",
          "Labels (same syntax as prompts) for what is there when none of the "
          "prompts is, e.g. \"an empty room;a street\": they take part in the "
          "softmax, so a prompt only wins against them, but never post tags. "
          "Listed after the prompts in messages and metas",
          DEFAULT_BACKGROUND_PROMPTS, live));
  g_object_class_install_property (gobject_class, PROP_POOLING,
      g_param_spec_enum ("pooling", "Pooling",
          "How the window's samples are combined: probabilities (the mean of "
          "each label's probabilities and cosines) or embeddings (the mean of "
          "the normalized image embeddings, then scored: better for actions "
          "seen over several frames)", GST_TYPE_CLIP_FILTER_POOLING,
          DEFAULT_POOLING, live));

  g_object_class_install_property (gobject_class, PROP_CHANGE_THRESHOLD,
      g_param_spec_double ("change-threshold", "Change threshold",
          "Change gate: a sampled frame whose model input (the normalized "
          "SxS tensor, values about -1.8 to 2.1) differs from the last "
          "encoded frame's by a mean absolute difference below this is not "
          "encoded again; its result reuses that frame's embedding "
          "(reused=true in the message and meta). Measured: a still scene "
          "through x264 about 0.002, a small ball moving on a still 320x240 "
          "background 0.04-0.09, noise 0.27; e.g. 0.01. 0: off",
          0.0, 10.0, DEFAULT_CHANGE_THRESHOLD, live));
  g_object_class_install_property (gobject_class, PROP_MAX_REUSE,
      g_param_spec_uint64 ("max-reuse", "Max reuse",
          "Change gate: encode a frame at least this often, in nanoseconds "
          "of stream time (e.g. max-reuse=10000000000 = 10 s), however "
          "little it changed; 0: no limit", 0, G_MAXUINT64, DEFAULT_MAX_REUSE,
          live));

  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_FILTER_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_FILTER_POOLING, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_FILTER_BACKEND, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_FILTER_PRECISION, 0);
}

void
clip_settings_init (Settings * s)
{
  s->model = g_strdup (DEFAULT_MODEL);
  s->prompts = g_strdup (DEFAULT_PROMPTS);
  s->templates = g_strdup (DEFAULT_TEMPLATES);
  s->interval = DEFAULT_INTERVAL;
  s->frame_interval = DEFAULT_FRAME_INTERVAL;
  s->mode = DEFAULT_MODE;
  s->threshold = DEFAULT_THRESHOLD;
  s->threshold_off = DEFAULT_THRESHOLD_OFF;
  s->window = DEFAULT_WINDOW;
  s->top_k = DEFAULT_TOP_K;
  s->post_messages = DEFAULT_POST_MESSAGES;
  s->attach_meta = DEFAULT_ATTACH_META;
  s->attach_embedding = DEFAULT_ATTACH_EMBEDDING;
  s->threads = DEFAULT_THREADS;
  s->batch_size = DEFAULT_BATCH_SIZE;
  s->backend = DEFAULT_BACKEND;
  s->precision = DEFAULT_PRECISION;
  s->min_similarity = DEFAULT_MIN_SIMILARITY;
  s->background = g_strdup (DEFAULT_BACKGROUND_PROMPTS);
  s->pooling = DEFAULT_POOLING;
  s->change_threshold = DEFAULT_CHANGE_THRESHOLD;
  s->max_reuse = DEFAULT_MAX_REUSE;
}

void
clip_settings_clear (Settings * s)
{
  g_free (s->model);
  g_free (s->prompts);
  g_free (s->templates);
  g_free (s->background);
  memset (s, 0, sizeof *s);
}

void
clip_settings_copy (const Settings * src, Settings * dst, gboolean with_strings)
{
  *dst = *src;
  dst->model = with_strings ? g_strdup (src->model) : NULL;
  dst->prompts = with_strings ? g_strdup (src->prompts) : NULL;
  dst->templates = with_strings ? g_strdup (src->templates) : NULL;
  dst->background = with_strings ? g_strdup (src->background) : NULL;
}

gboolean
clip_settings_set (Settings * s, guint prop_id, const GValue * value)
{
  switch (prop_id) {
    case PROP_MODEL:
      g_free (s->model);
      s->model = g_value_dup_string (value);
      break;
    case PROP_INTERVAL:
      /* -1 is GST_CLOCK_TIME_NONE: no grid point after the first */
      s->interval = g_value_get_int64 (value) < 0 ? GST_CLOCK_TIME_NONE :
          (GstClockTime) g_value_get_int64 (value);
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
    case PROP_MIN_SIMILARITY:
      s->min_similarity = g_value_get_double (value);
      break;
    case PROP_POOLING:
      s->pooling = g_value_get_enum (value);
      break;
    case PROP_CHANGE_THRESHOLD:
      s->change_threshold = g_value_get_double (value);
      break;
    case PROP_MAX_REUSE:
      s->max_reuse = g_value_get_uint64 (value);
      break;
    default:
      return FALSE;
  }
  return TRUE;
}

gboolean
clip_settings_get (const Settings * s, guint prop_id, GValue * value)
{
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
      g_value_set_int64 (value, GST_CLOCK_TIME_IS_VALID (s->interval) ?
          (gint64) s->interval : -1);
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
    case PROP_MIN_SIMILARITY:
      g_value_set_double (value, s->min_similarity);
      break;
    case PROP_BACKGROUND_PROMPTS:
      g_value_set_string (value, s->background);
      break;
    case PROP_POOLING:
      g_value_set_enum (value, s->pooling);
      break;
    case PROP_CHANGE_THRESHOLD:
      g_value_set_double (value, s->change_threshold);
      break;
    case PROP_MAX_REUSE:
      g_value_set_uint64 (value, s->max_reuse);
      break;
    default:
      return FALSE;
  }
  return TRUE;
}

gdouble
clip_settings_threshold_off (const Settings * s)
{
  if (s->threshold_off < 0)
    return MAX (s->threshold - DEFAULT_HYSTERESIS, 0.0);
  return MIN (s->threshold_off, s->threshold);
}
