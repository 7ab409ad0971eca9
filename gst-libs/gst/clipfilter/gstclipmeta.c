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
  return src ? g_memdup2 (src, (gsize) n * sizeof (gfloat)) : g_new0 (gfloat,
      n);
}

/**
 * gst_buffer_add_clip_meta:
 * @buffer: a writable #GstBuffer
 * @n_labels: number of labels
 * @labels: (array length=n_labels): label names
 * @scores: (array length=n_labels): softmax probability of each label
 * @similarities: (array length=n_labels) (nullable): raw cosine similarity of
 *   each label (zeros when %NULL)
 * @smoothed: (array length=n_labels) (nullable): smoothed probabilities
 *   (@scores when %NULL)
 * @top_index: index of the label with the highest smoothed probability
 * @timestamp: PTS of the analyzed frame
 *
 * Attaches a #GstClipMeta holding copies of the given arrays.
 *
 * Returns: (transfer none) (nullable): the new meta
 */
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

/**
 * gst_clip_meta_set_embedding:
 * @meta: a #GstClipMeta
 * @embedding: (array length=dim) (nullable): the image embedding
 * @dim: its length
 *
 * Stores a copy of an image embedding of @dim floats in @meta (%NULL or 0
 * removes it).
 */
void
gst_clip_meta_set_embedding (GstClipMeta * meta, const gfloat * embedding,
    guint dim)
{
  g_return_if_fail (meta != NULL);
  g_free (meta->embedding);
  meta->embedding = (embedding && dim) ? copy_floats (embedding, dim) : NULL;
  meta->embedding_dim = meta->embedding ? dim : 0;
}

/**
 * gst_buffer_get_clip_meta:
 * @buffer: a #GstBuffer
 *
 * The first #GstClipMeta on @buffer (a batch of frames can leave several:
 * iterate them with gst_buffer_iterate_meta_filtered()).
 *
 * Returns: (transfer none) (nullable): the meta, or %NULL
 */
GstClipMeta *
gst_buffer_get_clip_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return (GstClipMeta *) gst_buffer_get_meta (buffer, GST_CLIP_META_API_TYPE);
}

/**
 * gst_clip_meta_get_labels:
 * @meta: a #GstClipMeta
 *
 * Returns: (transfer none) (array zero-terminated=1): the label names, in
 *   prompt order
 */
const gchar *const *
gst_clip_meta_get_labels (const GstClipMeta * meta)
{
  static const gchar *const none[] = { NULL };

  g_return_val_if_fail (meta != NULL, NULL);
  return meta->labels ? (const gchar * const *) meta->labels : none;
}

/**
 * gst_clip_meta_get_scores:
 * @meta: a #GstClipMeta
 * @n_labels: (out): number of labels
 *
 * Returns: (transfer none) (array length=n_labels): the softmax probability
 *   of each label for the analyzed frame
 */
const gfloat *
gst_clip_meta_get_scores (const GstClipMeta * meta, guint * n_labels)
{
  g_return_val_if_fail (meta != NULL && n_labels != NULL, NULL);
  *n_labels = meta->n_labels;
  return meta->scores;
}

/**
 * gst_clip_meta_get_similarities:
 * @meta: a #GstClipMeta
 * @n_labels: (out): number of labels
 *
 * Returns: (transfer none) (array length=n_labels): the raw cosine
 *   similarity of the image and each label
 */
const gfloat *
gst_clip_meta_get_similarities (const GstClipMeta * meta, guint * n_labels)
{
  g_return_val_if_fail (meta != NULL && n_labels != NULL, NULL);
  *n_labels = meta->n_labels;
  return meta->similarities;
}

/**
 * gst_clip_meta_get_smoothed:
 * @meta: a #GstClipMeta
 * @n_labels: (out): number of labels
 *
 * Returns: (transfer none) (array length=n_labels): the probabilities
 *   averaged over clipfilter's window
 */
const gfloat *
gst_clip_meta_get_smoothed (const GstClipMeta * meta, guint * n_labels)
{
  g_return_val_if_fail (meta != NULL && n_labels != NULL, NULL);
  *n_labels = meta->n_labels;
  return meta->smoothed;
}

/**
 * gst_clip_meta_get_embedding:
 * @meta: a #GstClipMeta
 * @dim: (out): length of the embedding, 0 when absent
 *
 * Returns: (transfer none) (array length=dim) (nullable): the image
 *   embedding (projected, not normalized), present only with clipfilter's
 *   attach-embedding
 */
const gfloat *
gst_clip_meta_get_embedding (const GstClipMeta * meta, guint * dim)
{
  g_return_val_if_fail (meta != NULL && dim != NULL, NULL);
  *dim = meta->embedding_dim;
  return meta->embedding;
}

/**
 * gst_clip_meta_get_top_label:
 * @meta: a #GstClipMeta
 *
 * Returns: (transfer none) (nullable): the label with the highest smoothed
 *   probability, %NULL without labels
 */
const gchar *
gst_clip_meta_get_top_label (const GstClipMeta * meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  if (meta->top_index < 0 || (guint) meta->top_index >= meta->n_labels)
    return NULL;
  return meta->labels[meta->top_index];
}
