/* cliptagstate.c — per-label smoothing, on/off hysteresis and top-k. */
#include "cliptagstate.h"

#include <string.h>

struct _ClipTagState
{
  guint n;
  gfloat *ring;                 /* [window, n]: the last window samples */
  guint window, fill, pos;
  gboolean *on;                 /* [n] */
  gfloat *last;                 /* [n]: smoothed probabilities of the last sample */
};

ClipTagState *
clip_tag_state_new (guint n_labels)
{
  ClipTagState *ts = g_new0 (ClipTagState, 1);

  ts->n = n_labels;
  ts->on = g_new0 (gboolean, n_labels);
  ts->last = g_new0 (gfloat, n_labels);
  return ts;
}

void
clip_tag_state_free (ClipTagState * ts)
{
  if (!ts)
    return;
  g_free (ts->ring);
  g_free (ts->on);
  g_free (ts->last);
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
  ts->fill = 0;
  ts->pos = 0;
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
    const gfloat * probs, gfloat * smoothed, ClipTagChange * changes)
{
  const guint n = ts->n, window = MAX (params->window, 1);
  guint i, w, n_changes = 0;

  if (ts->window != window) {
    g_free (ts->ring);
    ts->window = window;
    ts->ring = g_new0 (gfloat, (gsize) window * n);
    clip_tag_state_reset (ts);
  }
  memcpy (ts->ring + (gsize) ts->pos * n, probs, n * sizeof (gfloat));
  ts->pos = (ts->pos + 1) % ts->window;
  ts->fill = MIN (ts->fill + 1, ts->window);

  memset (smoothed, 0, n * sizeof (gfloat));
  for (w = 0; w < ts->fill; w++)
    for (i = 0; i < n; i++)
      smoothed[i] += ts->ring[(gsize) w * n + i];
  for (i = 0; i < n; i++)
    smoothed[i] /= ts->fill;
  memcpy (ts->last, smoothed, n * sizeof (gfloat));

  for (i = 0; i < n; i++) {
    gboolean was = ts->on[i];

    if (!was && smoothed[i] >= params->threshold)
      ts->on[i] = TRUE;
    else if (was && smoothed[i] < params->threshold_off)
      ts->on[i] = FALSE;
    if (ts->on[i] != was) {
      changes[n_changes].label = i;
      changes[n_changes].on = ts->on[i];
      changes[n_changes].score = smoothed[i];
      n_changes++;
    }
  }
  return n_changes;
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
    n_changes++;
  }
  return n_changes;
}
