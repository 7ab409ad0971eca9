/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#ifndef __GST_CLIP_FILTER_H__
#define __GST_CLIP_FILTER_H__

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

#include "gstclipfilter-enumtypes.h"

G_BEGIN_DECLS

#define GST_TYPE_CLIP_FILTER (gst_clip_filter_get_type ())
G_DECLARE_FINAL_TYPE (GstClipFilter, gst_clip_filter, GST, CLIP_FILTER,
    GstVideoFilter)

/**
 * GstClipFilterMode:
 * @GST_CLIP_FILTER_MODE_AUTO: async for live sources, sync otherwise
 * @GST_CLIP_FILTER_MODE_SYNC: analyze on the streaming thread
 * @GST_CLIP_FILTER_MODE_ASYNC: analyze on a worker thread, never delay buffers
 */
typedef enum
{
  GST_CLIP_FILTER_MODE_AUTO,
  GST_CLIP_FILTER_MODE_SYNC,
  GST_CLIP_FILTER_MODE_ASYNC,
} GstClipFilterMode;

/**
 * GstClipFilterBackend:
 * @GST_CLIP_FILTER_BACKEND_AUTO: oneDNN when the engine was built with it,
 *   else OpenBLAS
 * @GST_CLIP_FILTER_BACKEND_OPENBLAS: OpenBLAS (always available, fp32 only)
 * @GST_CLIP_FILTER_BACKEND_ONEDNN: oneDNN (fp32 or bf16)
 *
 * The values equal the engine's clip_backend.
 */
typedef enum
{
  GST_CLIP_FILTER_BACKEND_AUTO,
  GST_CLIP_FILTER_BACKEND_OPENBLAS,
  GST_CLIP_FILTER_BACKEND_ONEDNN,
} GstClipFilterBackend;

/**
 * GstClipFilterPrecision:
 * @GST_CLIP_FILTER_PRECISION_FP32: fp32 weights and activations
 * @GST_CLIP_FILTER_PRECISION_BF16: bf16 weights and activations, fp32
 *   accumulation (oneDNN backend only)
 *
 * The values equal the engine's clip_precision.
 */
typedef enum
{
  GST_CLIP_FILTER_PRECISION_FP32,
  GST_CLIP_FILTER_PRECISION_BF16,
} GstClipFilterPrecision;

/**
 * GstClipFilterPooling:
 * @GST_CLIP_FILTER_POOLING_PROBABILITIES: the mean of each label's
 *   probabilities (and cosines) over the window
 * @GST_CLIP_FILTER_POOLING_EMBEDDINGS: the mean of the normalized image
 *   embeddings over the window, then scored (mean pooling as in CLIP4Clip)
 */
typedef enum
{
  GST_CLIP_FILTER_POOLING_PROBABILITIES,
  GST_CLIP_FILTER_POOLING_EMBEDDINGS,
} GstClipFilterPooling;

GST_ELEMENT_REGISTER_DECLARE (clipfilter);

G_END_DECLS

#endif /* __GST_CLIP_FILTER_H__ */
