/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* clipoutlet.c — the bounded queue in front of an output's thread. */
#include "clipoutlet.h"

ClipOutlet *
clip_outlet_new (guint max)
{
  ClipOutlet *o = g_new0 (ClipOutlet, 1);

  g_mutex_init (&o->lock);
  g_cond_init (&o->cond);
  g_cond_init (&o->drained);
  g_queue_init (&o->lines);
  o->max = max;
  return o;
}

void
clip_outlet_free (ClipOutlet * o)
{
  g_queue_clear_full (&o->lines, g_free);
  g_mutex_clear (&o->lock);
  g_cond_clear (&o->cond);
  g_cond_clear (&o->drained);
  g_free (o);
}

gboolean
clip_outlet_push (ClipOutlet * o, const gchar * line,
    gboolean * overflow_started)
{
  gboolean dropped = FALSE;

  *overflow_started = FALSE;
  g_mutex_lock (&o->lock);
  if (o->lines.length >= o->max) {
    g_free (g_queue_pop_head (&o->lines));
    dropped = TRUE;
    *overflow_started = !o->overflowing;
    o->overflowing = TRUE;
  } else if (o->lines.length < o->max / 2) {
    o->overflowing = FALSE;
  }
  g_queue_push_tail (&o->lines, g_strdup (line));
  g_cond_signal (&o->cond);
  g_mutex_unlock (&o->lock);
  return dropped;
}

gchar *
clip_outlet_pop (ClipOutlet * o)
{
  gchar *line;

  g_mutex_lock (&o->lock);
  line = g_queue_pop_head (&o->lines);
  g_mutex_unlock (&o->lock);
  return line;
}

void
clip_outlet_unpop (ClipOutlet * o, gchar * line)
{
  g_mutex_lock (&o->lock);
  g_queue_push_head (&o->lines, line);
  g_mutex_unlock (&o->lock);
}

guint
clip_outlet_discard (ClipOutlet * o)
{
  guint n;

  g_mutex_lock (&o->lock);
  n = o->lines.length;
  g_queue_clear_full (&o->lines, g_free);
  g_mutex_unlock (&o->lock);
  return n;
}

void
clip_outlet_stop (ClipOutlet * o, gint64 deadline, gint64 * deadline_field)
{
  g_mutex_lock (&o->lock);
  o->stop = TRUE;
  if (deadline_field)
    *deadline_field = deadline;
  g_cond_broadcast (&o->cond);
  g_mutex_unlock (&o->lock);
  g_thread_join (o->thread);
  o->thread = NULL;
}
