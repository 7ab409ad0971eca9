/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* clipjson.c — a clipfilter result as one JSON line. */
#include "clipjson.h"

#include <math.h>
#include <cjson/cJSON.h>

#include "gstclippublish.h"

static cJSON *
value_to_json (const GValue * v)
{
  GType t = G_VALUE_TYPE (v);
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (t == G_TYPE_STRING) {
    const gchar *s = g_value_get_string (v);
    return s ? cJSON_CreateString (s) : cJSON_CreateNull ();
  }
  if (t == G_TYPE_BOOLEAN)
    return cJSON_CreateBool (g_value_get_boolean (v));
  /* Numbers are printed so that they read back exactly (cJSON's own
   * printing may round off the last bit). */
  if (t == G_TYPE_DOUBLE || t == G_TYPE_FLOAT) {
    gdouble d = t == G_TYPE_DOUBLE ? g_value_get_double (v)
        : g_value_get_float (v);
    if (!isfinite (d))
      return cJSON_CreateNull ();
    return cJSON_CreateRaw (g_ascii_dtostr (buf, sizeof buf, d));
  }
  /* Integers are written exactly (cJSON numbers are doubles, which would
   * round nanosecond times past 2^53); GST_CLOCK_TIME_NONE is null. */
  if (t == G_TYPE_UINT64) {
    guint64 u = g_value_get_uint64 (v);
    if (u == G_MAXUINT64)
      return cJSON_CreateNull ();
    g_snprintf (buf, sizeof buf, "%" G_GUINT64_FORMAT, u);
    return cJSON_CreateRaw (buf);
  }
  if (t == G_TYPE_INT64 || t == G_TYPE_INT || t == G_TYPE_UINT) {
    if (t == G_TYPE_INT64)
      g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, g_value_get_int64 (v));
    else if (t == G_TYPE_INT)
      g_snprintf (buf, sizeof buf, "%d", g_value_get_int (v));
    else
      g_snprintf (buf, sizeof buf, "%u", g_value_get_uint (v));
    return cJSON_CreateRaw (buf);
  }
  if (t == GST_TYPE_ARRAY || t == GST_TYPE_LIST) {
    gboolean array = t == GST_TYPE_ARRAY;
    guint i, n =
        array ? gst_value_array_get_size (v) : gst_value_list_get_size (v);
    cJSON *arr = cJSON_CreateArray ();

    for (i = 0; i < n; i++)
      cJSON_AddItemToArray (arr, value_to_json (array ?
              gst_value_array_get_value (v, i) : gst_value_list_get_value (v,
                  i)));
    return arr;
  }
  {
    /* anything else in its GStreamer serialization */
    gchar *s = gst_value_serialize (v);
    cJSON *j = s ? cJSON_CreateString (s) : cJSON_CreateNull ();
    g_free (s);
    return j;
  }
}

static gboolean
add_field (GQuark field, const GValue * value, gpointer obj)
{
  cJSON_AddItemToObject (obj, g_quark_to_string (field), value_to_json (value));
  return TRUE;
}

static cJSON *
string_or_null (const gchar * s)
{
  return s ? cJSON_CreateString (s) : cJSON_CreateNull ();
}

gchar *
clip_json_result_line (const GstStructure * s, const gchar * source_id,
    const gchar * stream_id, const gchar * uri, gint64 wall_us)
{
  cJSON *obj = cJSON_CreateObject ();
  GDateTime *utc = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  GDateTime *when = g_date_time_add (utc, wall_us % G_USEC_PER_SEC);
  gchar *wall = g_date_time_format (when, "%Y-%m-%dT%H:%M:%S.%fZ");
  gchar *text, *line;

  cJSON_AddNumberToObject (obj, "schema-version",
      GST_CLIP_PUBLISH_SCHEMA_VERSION);
  cJSON_AddStringToObject (obj, "type", gst_structure_get_name (s));
  cJSON_AddItemToObject (obj, "source-id", string_or_null (source_id));
  cJSON_AddItemToObject (obj, "stream-id", string_or_null (stream_id));
  cJSON_AddItemToObject (obj, "uri", string_or_null (uri));
  cJSON_AddStringToObject (obj, "wall-time", wall);
  gst_structure_foreach (s, add_field, obj);

  text = cJSON_PrintUnformatted (obj);
  line = g_strdup (text);
  cJSON_free (text);
  cJSON_Delete (obj);
  g_free (wall);
  g_date_time_unref (when);
  g_date_time_unref (utc);
  return line;
}
