/* clipsettings.h — the clipfilter element's properties: their specs
 * (names, blurbs, ranges, defaults), the enum types and the Settings they
 * are stored in.
 *
 * A Settings is guarded by its element's object lock; processing works on
 * a copy (clip_settings_copy) taken under that lock. */
#ifndef CLIP_SETTINGS_H
#define CLIP_SETTINGS_H

#include "gstclipfilter.h"

G_BEGIN_DECLS

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
#define DEFAULT_MIN_SIMILARITY 0.4
#define DEFAULT_BACKGROUND_PROMPTS NULL
#define DEFAULT_POOLING GST_CLIP_FILTER_POOLING_PROBABILITIES
#define DEFAULT_CHANGE_THRESHOLD 0.0
#define DEFAULT_MAX_REUSE (10 * GST_SECOND)

typedef enum
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
  PROP_MIN_SIMILARITY,
  PROP_BACKGROUND_PROMPTS,
  PROP_POOLING,
  PROP_CHANGE_THRESHOLD,
  PROP_MAX_REUSE,
} ClipSettingsProp;

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
  gdouble min_similarity;
  gchar *background;
  GstClipFilterPooling pooling;
  gdouble change_threshold;
  GstClockTime max_reuse;
} Settings;

/* Installs the element's properties on @klass. */
void clip_settings_install_properties (GObjectClass * klass);

void clip_settings_init (Settings * s);
void clip_settings_clear (Settings * s);

/* Copies @src into @dst; the strings only when @with_strings (NULL else). */
void clip_settings_copy (const Settings * src, Settings * dst,
    gboolean with_strings);

/* Stores @value for @prop_id; FALSE when the property is not a plain
 * setting (the prompt texts, the counters). */
gboolean clip_settings_set (Settings * s, guint prop_id, const GValue * value);
gboolean clip_settings_get (const Settings * s, guint prop_id, GValue * value);

/* The threshold-off in use: -1 means threshold - 0.1, and it is never above
 * the threshold. */
gdouble clip_settings_threshold_off (const Settings * s);

G_END_DECLS

#endif
