/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
/**
 * SECTION:gstclipmeta
 * @title: GstClipMeta
 * @short_description: CLIP zero-shot scores of a video frame
 *
 * Attached by the `clipfilter` element. It survives buffer copies and
 * transformations (scaling or colour conversion do not change what the
 * frame shows), so it can be read anywhere downstream. It does not depend on
 * the CLIP engine.
 */
#include "gstclipmeta.h"

#include <string.h>

GType
gst_clip_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstClipMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
gst_clip_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstClipMeta *m = (GstClipMeta *) meta;

  (void) params;
  (void) buffer;
  m->n_labels = 0;
  m->labels = NULL;
  m->scores = m->similarities = m->smoothed = NULL;
  m->top_index = -1;
  m->timestamp = GST_CLOCK_TIME_NONE;
  m->embedding_dim = 0;
  m->embedding = NULL;
  m->reused = FALSE;
  return TRUE;
}

static void
gst_clip_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstClipMeta *m = (GstClipMeta *) meta;

  (void) buffer;
  g_strfreev (m->labels);
  g_free (m->scores);
  g_free (m->similarities);
  g_free (m->smoothed);
  g_free (m->embedding);
}

/* What a frame shows does not change with copies, scaling or conversion, so
 * the meta follows every transformation. */
static gboolean
gst_clip_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer,
    GQuark type, gpointer data)
{
  GstClipMeta *src = (GstClipMeta *) meta;
  GstClipMeta *copy;

  (void) buffer;
  (void) type;
  (void) data;
  copy = gst_buffer_add_clip_meta (dest, src->n_labels,
      (const gchar * const *) src->labels, src->scores, src->similarities,
      src->smoothed, src->top_index, src->timestamp);
  if (!copy)
    return FALSE;
  if (src->embedding)
    gst_clip_meta_set_embedding (copy, src->embedding, src->embedding_dim);
  copy->reused = src->reused;
  return TRUE;
}

const GstMetaInfo *
gst_clip_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *mi = gst_meta_register (GST_CLIP_META_API_TYPE,
        "GstClipMeta", sizeof (GstClipMeta), gst_clip_meta_init,
        gst_clip_meta_free, gst_clip_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) mi);
  }
  return info;
}

static gfloat *
copy_floats (const gfloat * src, guint n)
{
  return src ? g_memdup2 (src, (gsize) n * sizeof (gfloat)) : g_new0 (gfloat, n);
}

GstClipMeta *
gst_buffer_add_clip_meta (GstBuffer * buffer, guint n_labels,
    const gchar * const *labels, const gfloat * scores,
    const gfloat * similarities, const gfloat * smoothed, gint top_index,
    GstClockTime timestamp)
{
  GstClipMeta *m;
  guint i;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (n_labels == 0 || (labels && scores), NULL);

  m = (GstClipMeta *) gst_buffer_add_meta (buffer, GST_CLIP_META_INFO, NULL);
  if (!m)
    return NULL;
  m->n_labels = n_labels;
  m->labels = g_new0 (gchar *, n_labels + 1);
  for (i = 0; i < n_labels; i++)
    m->labels[i] = g_strdup (labels[i]);
  m->scores = copy_floats (scores, n_labels);
  m->similarities = copy_floats (similarities, n_labels);
  m->smoothed = copy_floats (smoothed ? smoothed : scores, n_labels);
  m->top_index = top_index;
  m->timestamp = timestamp;
  return m;
}

void
gst_clip_meta_set_embedding (GstClipMeta * meta, const gfloat * embedding,
    guint dim)
{
  g_return_if_fail (meta != NULL);
  g_free (meta->embedding);
  meta->embedding = (embedding && dim) ? copy_floats (embedding, dim) : NULL;
  meta->embedding_dim = meta->embedding ? dim : 0;
}
