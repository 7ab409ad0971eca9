/* clipresults.c — what an analyzed sample becomes: tags, messages, meta. */
#include "clipresults.h"

#include "gstclipmeta.h"

struct _ClipResults
{
  const clip_model *model;      /* scores pooled embeddings */
  ClipLabels *active;           /* the set the tag state belongs to */
  ClipTagState *tags;
};

ClipResults *
clip_results_new (const clip_model * model)
{
  ClipResults *r = g_new0 (ClipResults, 1);

  r->model = model;
  return r;
}

void
clip_results_clear (ClipResults * r)
{
  g_clear_pointer (&r->active, clip_labels_unref);
  g_clear_pointer (&r->tags, clip_tag_state_free);
}

void
clip_results_free (ClipResults * r)
{
  if (!r)
    return;
  clip_results_clear (r);
  g_free (r);
}

void
clip_results_reset_smoothing (ClipResults * r)
{
  if (r->tags)
    clip_tag_state_reset (r->tags);
}

void
clip_results_close (ClipResults * r, const ClipTimes * times, gboolean post,
    GQueue * out)
{
  ClipTagChange *changes;
  guint i, n;

  if (!r->tags)
    return;
  changes = g_new (ClipTagChange, clip_tag_state_n_labels (r->tags));
  n = clip_tag_state_close (r->tags, changes);
  for (i = 0; i < n && post; i++)
    g_queue_push_tail (out, clip_message_tag (r->active->names
            [changes[i].label], FALSE, changes[i].score,
            changes[i].similarity, times));
  g_free (changes);
}

/* Feeds the tag state: the sample's own scores, or with embedding pooling
 * the scores of the window's mean embedding (then the window is over
 * embeddings, and each pooled score is used as it is). */
static guint
push (ClipResults * r, const ClipResultParams * p, const ClipSample * smp,
    gint dim, gfloat * smoothed, gfloat * ssims, ClipTagChange * changes)
{
  const ClipLabels *l = smp->labels;
  ClipTagParams once = p->tags;
  gfloat *mean, *probs, *sims;
  guint n;

  if (!p->pool_embeddings)
    return clip_tag_state_push (r->tags, &p->tags, smp->probs, smp->sims,
        smoothed, ssims, changes);
  mean = g_new (gfloat, dim);
  probs = g_new (gfloat, l->n);
  sims = g_new (gfloat, l->n);
  clip_tag_state_pool (r->tags, p->tags.window, smp->embed, dim, mean);
  clip_score (r->model, mean, l->embeds, l->n, sims, probs);
  once.window = 1;
  n = clip_tag_state_push (r->tags, &once, probs, sims, smoothed, ssims,
      changes);
  g_free (mean);
  g_free (probs);
  g_free (sims);
  return n;
}

gboolean
clip_results_deliver (ClipResults * r, const ClipResultParams * p,
    const ClipSample * smp, gint embed_dim, guint64 analyzed, guint64 skipped,
    GstBuffer * buf, GQueue * out)
{
  ClipLabels *l = smp->labels;
  gfloat *smoothed = g_new0 (gfloat, l->n), *ssims = g_new0 (gfloat, l->n);
  ClipTagChange *changes = g_new (ClipTagChange, l->n);
  ClipTimes times = { smp->pts, smp->stream_time, smp->running_time };
  gboolean attached = TRUE;
  guint i, n_changes;

  if (r->active != l) {
    clip_results_close (r, &times, p->post_messages, out);
    clip_results_clear (r);
    r->active = clip_labels_ref (l);
    r->tags = clip_tag_state_new (l->n, l->background);
  }
  n_changes = push (r, p, smp, embed_dim, smoothed, ssims, changes);

  if (p->post_messages) {
    g_queue_push_tail (out, clip_message_sample (smp, smoothed, ssims,
            p->top_k, analyzed, skipped));
    for (i = 0; i < n_changes; i++)
      g_queue_push_tail (out, clip_message_tag (l->names[changes[i].label],
              changes[i].on, changes[i].score, changes[i].similarity, &times));
  }

  if (buf && p->attach_meta) {
    if (gst_buffer_is_writable (buf)) {
      GstClipMeta *meta = gst_buffer_add_clip_meta (buf, l->n,
          (const gchar * const *) l->names, smp->probs, smp->sims, smoothed,
          clip_tag_best (smoothed, l->n), smp->pts);
      if (p->attach_embedding)
        gst_clip_meta_set_embedding (meta, smp->embed, embed_dim);
      meta->reused = smp->reused;
    } else {
      attached = FALSE;
    }
  }
  g_free (changes);
  g_free (smoothed);
  g_free (ssims);
  return attached;
}
