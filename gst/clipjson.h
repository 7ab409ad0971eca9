/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* clipjson.h — a clipfilter result (the structure of a `clipfilter` or
 * `clipfilter-tag` message) as one JSON object on one line, in the schema
 * clippublish documents. Stateless. */
#ifndef CLIP_JSON_H
#define CLIP_JSON_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* The JSON line (no trailing newline) of result @s: schema version, type,
 * @source_id, @stream_id and @uri (NULL: null), the wall-clock time
 * @wall_us (microseconds since the epoch, UTC), then every field of @s.
 * Integers are exact, numbers read back exactly, GST_CLOCK_TIME_NONE and
 * non-finite numbers are null. */
gchar *clip_json_result_line (const GstStructure * s, const gchar * source_id,
    const gchar * stream_id, const gchar * uri, gint64 wall_us);

G_END_DECLS

#endif
