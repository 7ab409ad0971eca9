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
} ClipTagParams;

/* A label that turned on or off, with its smoothed probability. */
typedef struct
{
  guint label;
  gboolean on;
  gfloat score;
} ClipTagChange;

/* A state for @n_labels labels, all off. */
ClipTagState *clip_tag_state_new (guint n_labels);
void clip_tag_state_free (ClipTagState * ts);
guint clip_tag_state_n_labels (const ClipTagState * ts);

/* Forgets the smoothing window (a discontinuity); on/off states stay. */
void clip_tag_state_reset (ClipTagState * ts);

/* Adds one sample's probabilities [n]; writes the smoothed probabilities
 * [n] and the labels that changed state (at most n, in label order) and
 * returns how many changed. */
guint clip_tag_state_push (ClipTagState * ts, const ClipTagParams * params,
    const gfloat * probs, gfloat * smoothed, ClipTagChange * changes);

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
