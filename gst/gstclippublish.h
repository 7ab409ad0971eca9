/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#ifndef __GST_CLIP_PUBLISH_H__
#define __GST_CLIP_PUBLISH_H__

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_CLIP_PUBLISH (gst_clip_publish_get_type ())
G_DECLARE_FINAL_TYPE (GstClipPublish, gst_clip_publish, GST, CLIP_PUBLISH,
    GstBaseTransform)

/** Version of the JSON objects clippublish writes (field `schema-version`). */
#define GST_CLIP_PUBLISH_SCHEMA_VERSION 1

GST_ELEMENT_REGISTER_DECLARE (clippublish);

G_END_DECLS

#endif /* __GST_CLIP_PUBLISH_H__ */
