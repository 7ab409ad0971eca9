/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
/* gstclipmeta.h — the analysis result that clipfilter attaches to buffers.
 *
 * Applications read it without linking the CLIP engine: link
 * gstclipmeta-1.0 (pkg-config) or look the meta up by its API type name
 * "GstClipMetaAPI". Other languages use the GObject-introspection
 * namespace GstClip (GstClip.buffer_get_clip_meta(), then the
 * get_labels()/get_scores()/... accessors: the arrays in the struct are not
 * introspectable). */
#ifndef __GST_CLIP_META_H__
#define __GST_CLIP_META_H__

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_CLIP_META_API_TYPE (gst_clip_meta_api_get_type ())
#define GST_CLIP_META_INFO (gst_clip_meta_get_info ())

typedef struct _GstClipMeta GstClipMeta;

/**
 * GstClipMeta:
 * @meta: parent #GstMeta
 * @n_labels: number of labels
 * @labels: (array length=n_labels): label names in prompt order, %NULL-terminated
 * @scores: (array length=n_labels): softmax probability of each label for the analyzed frame
 * @similarities: (array length=n_labels): raw cosine similarity of each label
 * @smoothed: (array length=n_labels): mean of @scores over the element's window
 * @top_index: index of the label with the highest smoothed probability
 * @timestamp: PTS of the analyzed frame (in async mode an earlier buffer
 *   than the one carrying the meta)
 * @embedding_dim: length of @embedding, 0 when absent
 * @embedding: (array length=embedding_dim) (nullable): the image embedding
 *   (projected, not normalized), only with clipfilter's attach-embedding
 * @reused: %TRUE when the frame was not encoded because it had not changed
 *   since the last analyzed one (clipfilter's change-threshold): the
 *   embedding is that frame's, the scores are computed anew
 *
 * One CLIP zero-shot analysis of a video frame.
 */
struct _GstClipMeta
{
  GstMeta meta;

  guint n_labels;
  gchar **labels;
  gfloat *scores;
  gfloat *similarities;
  gfloat *smoothed;
  gint top_index;
  GstClockTime timestamp;

  guint embedding_dim;
  gfloat *embedding;

  gboolean reused;
};

/**
 * gst_clip_meta_api_get_type:
 *
 * Returns: the registered API type of #GstClipMeta ("GstClipMetaAPI").
 */
GType gst_clip_meta_api_get_type (void);

/**
 * gst_clip_meta_get_info: (skip)
 *
 * Returns: the #GstMetaInfo of the #GstClipMeta implementation.
 */
const GstMetaInfo *gst_clip_meta_get_info (void);

GstClipMeta *gst_buffer_add_clip_meta (GstBuffer * buffer, guint n_labels,
    const gchar * const *labels, const gfloat * scores,
    const gfloat * similarities, const gfloat * smoothed, gint top_index,
    GstClockTime timestamp);

void gst_clip_meta_set_embedding (GstClipMeta * meta, const gfloat * embedding,
    guint dim);

GstClipMeta *gst_buffer_get_clip_meta (GstBuffer * buffer);

const gchar * const *gst_clip_meta_get_labels (const GstClipMeta * meta);

const gfloat *gst_clip_meta_get_scores (const GstClipMeta * meta,
    guint * n_labels);

const gfloat *gst_clip_meta_get_similarities (const GstClipMeta * meta,
    guint * n_labels);

const gfloat *gst_clip_meta_get_smoothed (const GstClipMeta * meta,
    guint * n_labels);

const gfloat *gst_clip_meta_get_embedding (const GstClipMeta * meta,
    guint * dim);

const gchar *gst_clip_meta_get_top_label (const GstClipMeta * meta);

G_END_DECLS

#endif /* __GST_CLIP_META_H__ */
