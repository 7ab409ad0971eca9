/* cliptagstate.h — per-label smoothing, on/off hysteresis and top-k.
 *
 * Plain GLib: no GStreamer and no engine, so the tag logic can be fed known
 * score sequences in a unit test. One ClipTagState belongs to one label set
 * and is used by one thread at a time (the element's streaming thread); it
 * has no lock of its own. */
#ifndef CLIP_TAG_STATE_H
#define CLIP_TAG_STATE_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ClipTagState ClipTagState;

/* How scores become tags; read at every sample, so changes apply at once. */
typedef struct
{
  guint window;                 /* samples averaged (>= 1); a change restarts smoothing */
  gdouble threshold;            /* off -> on when the smoothed probability reaches this */
  gdouble threshold_off;        /* on -> off when it falls below this */
  gdouble min_similarity;       /* and the smoothed cosine must be at least this to be on */
} ClipTagParams;

/* A label that turned on or off, with its smoothed probability and cosine. */
typedef struct
{
  guint label;
  gboolean on;
  gfloat score;
  gfloat similarity;
} ClipTagChange;

/* A state for @n_labels labels, all off. Labels flagged in @silent (may be
 * NULL) are scored like the others but never turn on: background labels
 * that only take probability away from the rest. */
ClipTagState *clip_tag_state_new (guint n_labels, const gboolean * silent);
void clip_tag_state_free (ClipTagState * ts);
guint clip_tag_state_n_labels (const ClipTagState * ts);

/* Forgets the smoothing window (a discontinuity); on/off states stay. */
void clip_tag_state_reset (ClipTagState * ts);

/* Adds one sample's probabilities and cosines [n]; writes their means over
 * the window to @smoothed and @smoothed_sims [n] and the labels that
 * changed state (at most n, in label order) to @changes; returns how many
 * changed. A label is on from when its smoothed probability reaches the
 * threshold and its smoothed cosine the minimum similarity, until either
 * falls below threshold-off or the minimum similarity. */
guint clip_tag_state_push (ClipTagState * ts, const ClipTagParams * params,
    const gfloat * probs, const gfloat * sims, gfloat * smoothed,
    gfloat * smoothed_sims, ClipTagChange * changes);

/* Embedding pooling: adds the image embedding @embed [dim], normalized, to a
 * window of @window embeddings and writes their mean to @mean [dim] (not
 * normalized: scoring normalizes). clip_tag_state_reset() empties it too. */
void clip_tag_state_pool (ClipTagState * ts, guint window,
    const gfloat * embed, guint dim, gfloat * mean);

/* Turns every label that is on off (EOS, flush, new label set); writes them
 * with their last smoothed probability and returns how many. */
guint clip_tag_state_close (ClipTagState * ts, ClipTagChange * changes);

/* Whether label @i is on. */
gboolean clip_tag_state_is_on (const ClipTagState * ts, guint i);

/* Index of the highest of @n values (the first one on ties). */
guint clip_tag_best (const gfloat * values, guint n);

/* The indices of the @k highest of @n values, best first, ties in index
 * order, into @order [k]. Returns min(k, n). */
guint clip_tag_top_k (const gfloat * values, guint n, guint k, guint * order);

G_END_DECLS

#endif
