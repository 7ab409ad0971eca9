/* cliptagstate.c — per-label smoothing, on/off hysteresis and top-k. */
#include "cliptagstate.h"

#include <math.h>
#include <string.h>

/* The last @window rows of @width floats. */
typedef struct
{
  gfloat *rows;
  guint width, window, fill, pos;
} Ring;

/* Adds @row, restarting when the window changes; returns the mean of the
 * rows held into @mean. */
static void
ring_push (Ring * r, guint window, guint width, const gfloat * row,
    gfloat * mean)
{
  guint i, w;

  if (r->window != window || r->width != width) {
    g_free (r->rows);
    r->window = window;
    r->width = width;
    r->rows = g_new0 (gfloat, (gsize) window * width);
    r->fill = r->pos = 0;
  }
  memcpy (r->rows + (gsize) r->pos * width, row, width * sizeof (gfloat));
  r->pos = (r->pos + 1) % r->window;
  r->fill = MIN (r->fill + 1, r->window);
  memset (mean, 0, width * sizeof (gfloat));
  for (w = 0; w < r->fill; w++)
    for (i = 0; i < width; i++)
      mean[i] += r->rows[(gsize) w * width + i];
  for (i = 0; i < width; i++)
    mean[i] /= r->fill;
}

struct _ClipTagState
{
  guint n;
  Ring probs, sims, embeds;
  gboolean *silent;             /* [n]: background labels, never on */
  gboolean *on;                 /* [n] */
  gfloat *last, *last_sims;     /* [n]: smoothed values of the last sample */
};

ClipTagState *
clip_tag_state_new (guint n_labels, const gboolean * silent)
{
  ClipTagState *ts = g_new0 (ClipTagState, 1);

  ts->n = n_labels;
  ts->silent = g_new0 (gboolean, n_labels);
  if (silent)
    memcpy (ts->silent, silent, n_labels * sizeof (gboolean));
  ts->on = g_new0 (gboolean, n_labels);
  ts->last = g_new0 (gfloat, n_labels);
  ts->last_sims = g_new0 (gfloat, n_labels);
  return ts;
}

void
clip_tag_state_free (ClipTagState * ts)
{
  if (!ts)
    return;
  g_free (ts->probs.rows);
  g_free (ts->sims.rows);
  g_free (ts->embeds.rows);
  g_free (ts->silent);
  g_free (ts->on);
  g_free (ts->last);
  g_free (ts->last_sims);
  g_free (ts);
}

guint
clip_tag_state_n_labels (const ClipTagState * ts)
{
  return ts->n;
}

void
clip_tag_state_reset (ClipTagState * ts)
{
  ts->probs.fill = ts->probs.pos = 0;
  ts->sims.fill = ts->sims.pos = 0;
  ts->embeds.fill = ts->embeds.pos = 0;
}

gboolean
clip_tag_state_is_on (const ClipTagState * ts, guint i)
{
  return i < ts->n && ts->on[i];
}

guint
clip_tag_best (const gfloat * values, guint n)
{
  guint i, best = 0;

  for (i = 1; i < n; i++)
    if (values[i] > values[best])
      best = i;
  return best;
}

guint
clip_tag_top_k (const gfloat * values, guint n, guint k, guint * order)
{
  guint *all = g_new (guint, MAX (n, 1));
  guint i, j;

  k = MIN (k, n);
  /* Insertion sort: label sets are small, and it keeps ties in order. */
  for (i = 0; i < n; i++) {
    for (j = i; j > 0 && values[all[j - 1]] < values[i]; j--)
      all[j] = all[j - 1];
    all[j] = i;
  }
  memcpy (order, all, k * sizeof (guint));
  g_free (all);
  return k;
}

guint
clip_tag_state_push (ClipTagState * ts, const ClipTagParams * params,
    const gfloat * probs, const gfloat * sims, gfloat * smoothed,
    gfloat * smoothed_sims, ClipTagChange * changes)
{
  const guint n = ts->n, window = MAX (params->window, 1);
  guint i, n_changes = 0;

  ring_push (&ts->probs, window, n, probs, smoothed);
  ring_push (&ts->sims, window, n, sims, smoothed_sims);
  memcpy (ts->last, smoothed, n * sizeof (gfloat));
  memcpy (ts->last_sims, smoothed_sims, n * sizeof (gfloat));

  for (i = 0; i < n; i++) {
    gboolean was = ts->on[i];
    gboolean similar = smoothed_sims[i] >= params->min_similarity;

    if (!was && !ts->silent[i] && similar && smoothed[i] >= params->threshold)
      ts->on[i] = TRUE;
    else if (was && (!similar || smoothed[i] < params->threshold_off))
      ts->on[i] = FALSE;
    if (ts->on[i] != was) {
      changes[n_changes].label = i;
      changes[n_changes].on = ts->on[i];
      changes[n_changes].score = smoothed[i];
      changes[n_changes].similarity = smoothed_sims[i];
      n_changes++;
    }
  }
  return n_changes;
}

void
clip_tag_state_pool (ClipTagState * ts, guint window, const gfloat * embed,
    guint dim, gfloat * mean)
{
  gfloat *unit = g_new (gfloat, dim);
  gdouble sq = 0.0;
  guint i;

  /* Each frame counts the same, whatever its embedding's length. */
  for (i = 0; i < dim; i++)
    sq += (gdouble) embed[i] * embed[i];
  for (i = 0; i < dim; i++)
    unit[i] = sq > 0.0 ? (gfloat) (embed[i] / sqrt (sq)) : 0.0f;
  ring_push (&ts->embeds, MAX (window, 1), dim, unit, mean);
  g_free (unit);
}

guint
clip_tag_state_close (ClipTagState * ts, ClipTagChange * changes)
{
  guint i, n_changes = 0;

  for (i = 0; i < ts->n; i++) {
    if (!ts->on[i])
      continue;
    ts->on[i] = FALSE;
    changes[n_changes].label = i;
    changes[n_changes].on = FALSE;
    changes[n_changes].score = ts->last[i];
    changes[n_changes].similarity = ts->last_sims[i];
    n_changes++;
  }
  return n_changes;
}
