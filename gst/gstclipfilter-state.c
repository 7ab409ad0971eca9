/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* gstclipfilter-state.c — what the clipfilter element holds between
 * NULL→READY and READY→NULL (the model and the modules that use it), and
 * what an analyzed sample becomes on its way out: tags, messages posted on
 * the bus and sent downstream, and the meta. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipfilter-private.h"
#include "clipmodelcache.h"

#define GST_CAT_DEFAULT gst_clip_filter_debug

/* ---- state: NULL→READY and READY→NULL ---------------------------------- */

void
gst_clip_filter_state_free (State * st)
{
  if (!st)
    return;
  clip_analyzer_free (st->analyzer);
  clip_label_worker_free (st->labels);
  clip_results_free (st->results);
  clip_model_cache_release (st->model);
  g_free (st);
}

/* Posts @error as an element error, as GST_ELEMENT_ERROR would. */
static void
post_error (GstClipFilter * self, const GError * error, gchar * debug)
{
  gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR,
      error->domain, error->code, g_strdup (error->message), debug, __FILE__,
      GST_FUNCTION, __LINE__);
}

/* Loads the model, creates the modules and embeds the prompts of @s; posts
 * an error and returns NULL when any of it fails. */
State *
gst_clip_filter_state_new (GstClipFilter * self, const Settings * s)
{
  State *st = g_new0 (State, 1);
  clip_error err = { 0 };
  clip_params params = clip_default_params ();
  GError *error = NULL;
  gchar *debug = NULL, *msg = NULL;
  ClipLabelSpec spec;

  /* The properties decide, not the engine's CLIP_BACKEND/CLIP_PRECISION
   * environment defaults: a pipeline behaves as written. */
  params.n_threads = s->threads;
  params.backend = (clip_backend) s->backend;
  params.precision = (clip_precision) s->precision;
  if (!(st->model = clip_model_cache_open (s->model, &params, &error, &debug))) {
    post_error (self, error, debug);
    g_error_free (error);
    goto fail;
  }
  if (!(st->analyzer = clip_analyzer_new (GST_ELEMENT (self), st->model,
              s->batch_size, &err))
      || !(st->labels = clip_label_worker_new (GST_ELEMENT (self), st->model,
              &err))) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not create a CLIP context: %s", err.message), (NULL));
    goto fail;
  }
  spec = gst_clip_filter_label_spec (s);
  if (!clip_label_worker_embed_now (st->labels, &spec, &msg)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid prompts: %s", msg), (NULL));
    g_free (msg);
    goto fail;
  }
  st->results = clip_results_new (st->model);
  GST_INFO_OBJECT (self, "loaded %s", clip_model_get_info (st->model)->path);
  return st;

fail:
  gst_clip_filter_state_free (st);
  return NULL;
}

/* ---- results: tags, messages, meta ---------------------------------------- */

static void
queue_message (GstClipFilter * self, GQueue * msgs, GstStructure * s)
{
  g_queue_push_tail (msgs, gst_message_new_element (GST_OBJECT (self), s));
}

/* Results downstream: every `clipfilter` / `clipfilter-tag` message also
 * travels in-band as a serialized custom downstream event carrying a copy
 * of the message's structure, so that downstream elements (clippublish)
 * see the results in stream order, before the buffer that carries the meta,
 * without listening to the bus. While the source pad is flushing (the "off"
 * tags closed at a flush) the event is dropped by the pad. */
static void
push_result_event (GstClipFilter * self, GstMessage * msg)
{
  GstStructure *copy = gst_structure_copy (gst_message_get_structure (msg));

  gst_pad_push_event (GST_BASE_TRANSFORM_SRC_PAD (self),
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, copy));
}

void
gst_clip_filter_post_all (GstClipFilter * self, GQueue * msgs)
{
  GstMessage *m;
  while ((m = g_queue_pop_head (msgs))) {
    push_result_event (self, m);
    gst_element_post_message (GST_ELEMENT (self), m);
  }
}

/* Tags, messages and meta for one result; @buf (NULL at EOS) receives
 * the meta. */
void
gst_clip_filter_deliver (GstClipFilter * self, State * st, const Settings * set,
    ClipSample * smp, GstBuffer * buf, GQueue * msgs)
{
  ClipResultParams p = { {set->window, set->threshold, 0.0,
      set->min_similarity}, set->pooling ==
      GST_CLIP_FILTER_POOLING_EMBEDDINGS, set->top_k, set->post_messages,
  set->attach_meta, set->attach_embedding
  };
  GQueue structs = G_QUEUE_INIT;
  GstStructure *s;
  guint64 analyzed, skipped;

  p.tags.threshold_off = clip_settings_threshold_off (set);
  GST_OBJECT_LOCK (self);
  analyzed = ++self->analyzed;
  skipped = self->skipped;
  GST_OBJECT_UNLOCK (self);

  if (!clip_results_deliver (st->results, &p, smp,
          clip_model_get_info (st->model)->embed_dim, analyzed, skipped, buf,
          &structs))
    GST_WARNING_OBJECT (self, "buffer not writable, meta not attached");
  while ((s = g_queue_pop_head (&structs)))
    queue_message (self, msgs, s);
}

/* Closes every label that is on, queueing "off" messages. */
void
gst_clip_filter_close_tags (GstClipFilter * self, State * st,
    const ClipTimes * times, gboolean post, GQueue * msgs)
{
  GQueue structs = G_QUEUE_INIT;
  GstStructure *s;

  clip_results_close (st->results, times, post, &structs);
  while ((s = g_queue_pop_head (&structs)))
    queue_message (self, msgs, s);
}

/* Sync: analyzes the pending frames and delivers them in order, metas on
 * @buf (NULL at EOS). */
gboolean
gst_clip_filter_run_batch (GstClipFilter * self, State * st,
    const Settings * set, GstBuffer * buf, GQueue * msgs)
{
  GPtrArray *done = g_ptr_array_new_with_free_func ((GDestroyNotify)
      clip_sample_free);
  gboolean ok = clip_analyzer_run_batch (st->analyzer, done);
  guint i;

  for (i = 0; i < done->len; i++)
    gst_clip_filter_deliver (self, st, set, g_ptr_array_index (done, i), buf,
        msgs);
  g_ptr_array_unref (done);
  return ok;
}
