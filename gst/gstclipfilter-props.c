/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* gstclipfilter-props.c — the clipfilter element's properties: reading and
 * writing them under the object lock, and the prompt texts, which are
 * checked before they replace the set in use. The specs themselves are in
 * clipsettings.c. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipfilter-private.h"

#define GST_CAT_DEFAULT gst_clip_filter_debug

ClipLabelSpec
gst_clip_filter_label_spec (const Settings * s)
{
  ClipLabelSpec spec = { s->prompts, s->background, s->templates };
  return spec;
}

/* Prompts, background prompts or templates: while a set is in use (READY
 * and up), a value that makes the set unusable is refused, so the property
 * keeps reading back the set in use; the embedding happens on the label
 * worker's thread, never here. In NULL it is checked at NULL->READY. */
static void
set_prompt_text (GstClipFilter * self, guint prop_id, GParamSpec * pspec,
    const GValue * value)
{
  Settings *s = &self->settings;
  gchar **field = prop_id == PROP_PROMPTS ? &s->prompts :
      prop_id == PROP_TEMPLATES ? &s->templates : &s->background;
  gchar *old, *why = NULL;
  ClipLabelSpec spec;

  g_mutex_lock (&self->state_lock);
  GST_OBJECT_LOCK (self);
  /* Try the new value in place; put the old one back when it is refused. */
  old = *field;
  *field = g_value_dup_string (value);
  spec = gst_clip_filter_label_spec (s);
  if (self->state && (why = clip_labels_check (&spec))) {
    gchar *refused = *field;
    *field = old;
    old = refused;
  } else if (self->state) {
    clip_label_worker_request (self->state->labels, &spec);
  }
  GST_OBJECT_UNLOCK (self);
  g_mutex_unlock (&self->state_lock);
  if (why) {
    /* the refused text may be the invalid UTF-8 it was refused for */
    gchar *shown = g_utf8_make_valid (old ? old : "(NULL)", -1);
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
        ("Invalid %s, keeping the previous ones: %s", pspec->name, why),
        ("refused value: \"%s\"", shown));
    g_free (shown);
  }
  g_free (old);
  g_free (why);
}

void
gst_clip_filter_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipFilter *self = GST_CLIP_FILTER (object);

  if (prop_id == PROP_PROMPTS || prop_id == PROP_TEMPLATES
      || prop_id == PROP_BACKGROUND_PROMPTS) {
    set_prompt_text (self, prop_id, pspec, value);
    return;
  }
  GST_OBJECT_LOCK (self);
  if (!clip_settings_set (&self->settings, prop_id, value))
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  GST_OBJECT_UNLOCK (self);
}

void
gst_clip_filter_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipFilter *self = GST_CLIP_FILTER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_ANALYZED:
      g_value_set_uint64 (value, self->analyzed);
      break;
    case PROP_SKIPPED:
      g_value_set_uint64 (value, self->skipped);
      break;
    default:
      if (!clip_settings_get (&self->settings, prop_id, value))
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* Processing works on a copy, so it never holds the object lock. The
 * streaming thread needs no strings (prompts are the label worker's), which
 * keeps unsampled frames free of allocations. */
void
gst_clip_filter_settings_copy (GstClipFilter * self, Settings * out,
    gboolean with_strings)
{
  GST_OBJECT_LOCK (self);
  clip_settings_copy (&self->settings, out, with_strings);
  GST_OBJECT_UNLOCK (self);
}
