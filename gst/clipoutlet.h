/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* clipoutlet.h — a bounded queue of lines between the streaming thread,
 * which fills it and never waits, and the one thread of an output (a file,
 * an MQTT broker) that drains it. The fields are guarded by @lock. */
#ifndef CLIP_OUTLET_H
#define CLIP_OUTLET_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  GMutex lock;
  GCond cond;                   /* a line was queued, or stop was asked */
  GCond drained;                /* file: the queue is empty and written */
  GQueue lines;
  gboolean writing;             /* file: a line is being written */
  guint max;
  gboolean overflowing;         /* a warning was posted for this overflow */
  gboolean stop;
  GThread *thread;
} ClipOutlet;

/* An empty queue of at most @max lines. */
ClipOutlet *clip_outlet_new (guint max);
void clip_outlet_free (ClipOutlet * o);

/* Streaming thread: queues a copy of @line, dropping the oldest line when
 * the queue is full. Returns TRUE when a line was dropped, and sets
 * @overflow_started on the first drop since the queue was last below half
 * full (the time to warn once). */
gboolean clip_outlet_push (ClipOutlet * o, const gchar * line,
    gboolean * overflow_started);

/* The oldest line (NULL: none), for the output's thread to send. */
gchar *clip_outlet_pop (ClipOutlet * o);

/* Puts back @line, which could not be sent, as the oldest (takes it). */
void clip_outlet_unpop (ClipOutlet * o, gchar * line);

/* Drops every queued line; returns how many there were. */
guint clip_outlet_discard (ClipOutlet * o);

/* Asks the output's thread to stop (under the lock, *@deadline_field, when
 * not NULL, is set to @deadline first) and joins it. */
void clip_outlet_stop (ClipOutlet * o, gint64 deadline,
    gint64 * deadline_field);

G_END_DECLS

#endif
