/* clipmessages.c — the structures of the element's messages. */
#include "clipmessages.h"

#include "cliptagstate.h"

GstStructure *
clip_message_tag (const gchar * label, gboolean on, gdouble score,
    gdouble similarity, const ClipTimes * times)
{
  return gst_structure_new ("clipfilter-tag",
      "label", G_TYPE_STRING, label,
      "state", G_TYPE_STRING, on ? "on" : "off",
      "score", G_TYPE_DOUBLE, score,
      "similarity", G_TYPE_DOUBLE, similarity,
      "timestamp", G_TYPE_UINT64, times->timestamp,
      "stream-time", G_TYPE_UINT64, times->stream_time,
      "running-time", G_TYPE_UINT64, times->running_time, NULL);
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

GstStructure *
clip_message_sample (const ClipSample * smp, const gfloat * smoothed,
    const gfloat * smoothed_sims, guint top_k, guint64 analyzed,
    guint64 skipped)
{
  const ClipLabels *l = smp->labels;
  GstStructure *s;
  GValue arr = G_VALUE_INIT;
  guint i, k, best = clip_tag_best (smoothed, l->n);

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
  set_float_array (s, "smoothed-similarities", smoothed_sims, l->n);
  gst_value_array_init (&arr, l->n);
  for (i = 0; i < l->n; i++) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_BOOLEAN);
    g_value_set_boolean (&v, l->background[i]);
    gst_value_array_append_and_take_value (&arr, &v);
  }
  gst_structure_take_value (s, "background", &arr);
  gst_structure_set (s, "top-label", G_TYPE_STRING, l->names[best],
      "top-score", G_TYPE_DOUBLE, (gdouble) smoothed[best], NULL);

  if (top_k > 0) {
    GValue names = G_VALUE_INIT, scores = G_VALUE_INIT;
    guint *order = g_new (guint, MIN (top_k, l->n));

    k = clip_tag_top_k (smoothed, l->n, top_k, order);
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
  gst_structure_set (s, "reused", G_TYPE_BOOLEAN, smp->reused,
      "analyzed", G_TYPE_UINT64, analyzed,
      "skipped", G_TYPE_UINT64, skipped, NULL);
  return s;
}
