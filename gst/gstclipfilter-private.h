/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* gstclipfilter-private.h — the clipfilter element's instance, shared by
 * the files the element is made of: gstclipfilter.c (class, state changes,
 * caps, buffers, events, queries), gstclipfilter-props.c (the properties)
 * and gstclipfilter-state.c (the run-time state and the delivery of its
 * results). Not installed. */
#ifndef __GST_CLIP_FILTER_PRIVATE_H__
#define __GST_CLIP_FILTER_PRIVATE_H__

#include "gstclipfilter.h"
#include "clip.h"
#include "clipanalyzer.h"
#include "cliplabels.h"
#include "clipresults.h"
#include "clipsampler.h"
#include "clipsettings.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_clip_filter_debug);

/* Everything that exists between NULL→READY and READY→NULL; each module
 * owns its part and its lock. */
typedef struct
{
  clip_model *model;            /* shared through the model cache */
  ClipLabelWorker *labels;      /* prompt sets, embedded on its own thread */
  ClipAnalyzer *analyzer;       /* encoding and scoring, sync or async */

  /* streaming thread only */
  gboolean mode_decided;
  ClipSampler sampler;
  GstClockTime last_end;        /* where playback of the last buffer ends */
  ClipResults *results;         /* tag state, messages, meta */
} State;

struct _GstClipFilter
{
  GstVideoFilter parent;

  Settings settings;            /* GST_OBJECT_LOCK */
  guint64 analyzed, skipped;    /* GST_OBJECT_LOCK */

  GMutex state_lock;            /* guards the state pointer itself */
  State *state;
};

/* gstclipfilter-props.c */
void gst_clip_filter_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
void gst_clip_filter_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
/* The label set @s describes. */
ClipLabelSpec gst_clip_filter_label_spec (const Settings * s);
/* A copy of the settings taken under the object lock; the strings only
 * when @with_strings. */
void gst_clip_filter_settings_copy (GstClipFilter * self, Settings * out,
    gboolean with_strings);

/* gstclipfilter-state.c */
/* Loads the model, creates the modules and embeds the prompts of @s; posts
 * an error and returns NULL when any of it fails. */
State *gst_clip_filter_state_new (GstClipFilter * self, const Settings * s);
void gst_clip_filter_state_free (State * st);
/* Tags, messages and meta for one result; @buf (NULL at EOS) receives the
 * meta; the messages are queued on @msgs. */
void gst_clip_filter_deliver (GstClipFilter * self, State * st,
    const Settings * set, ClipSample * smp, GstBuffer * buf, GQueue * msgs);
/* Closes every label that is on, queueing "off" messages. */
void gst_clip_filter_close_tags (GstClipFilter * self, State * st,
    const ClipTimes * times, gboolean post, GQueue * msgs);
/* Sync: analyzes the pending frames and delivers them in order, metas on
 * @buf (NULL at EOS); FALSE after posting an error. */
gboolean gst_clip_filter_run_batch (GstClipFilter * self, State * st,
    const Settings * set, GstBuffer * buf, GQueue * msgs);
/* Sends the queued messages downstream and posts them, in order. */
void gst_clip_filter_post_all (GstClipFilter * self, GQueue * msgs);

G_END_DECLS

#endif
