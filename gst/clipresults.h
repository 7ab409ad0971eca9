/* clipresults.h — what an analyzed sample becomes: the tag state of the
 * label set in use, the `clipfilter` and `clipfilter-tag` message
 * structures and the GstClipMeta on a buffer.
 *
 * Streaming thread only: no lock. */
#ifndef CLIP_RESULTS_H
#define CLIP_RESULTS_H

#include <gst/gst.h>

#include "clipanalyzer.h"
#include "clipmessages.h"
#include "cliptagstate.h"

G_BEGIN_DECLS

/* The settings a result is delivered with. */
typedef struct
{
  ClipTagParams tags;
  gboolean pool_embeddings;     /* window over embeddings, not probabilities */
  guint top_k;
  gboolean post_messages, attach_meta, attach_embedding;
} ClipResultParams;

typedef struct _ClipResults ClipResults;

/* Results scored with @model (which must outlive them). */
ClipResults *clip_results_new (const clip_model * model);
void clip_results_free (ClipResults * r);

/* Restarts smoothing (a discontinuity, a flush, EOS). */
void clip_results_reset_smoothing (ClipResults * r);

/* Forgets the label set in use and its tags, without messages (stop). */
void clip_results_clear (ClipResults * r);

/* Feeds @smp to the tag state, appends the message structures to @out
 * (when posting) and attaches the meta to @buf (may be NULL). A sample of a
 * new label set first closes the tags of the previous one. The meta is
 * attached when @buf is writable; returns FALSE when it was not. */
gboolean clip_results_deliver (ClipResults * r, const ClipResultParams * p,
    const ClipSample * smp, gint embed_dim, guint64 analyzed, guint64 skipped,
    GstBuffer * buf, GQueue * out);

/* Turns every label that is on off at @times (EOS, flush), appending the
 * `clipfilter-tag` structures to @out when @post. */
void clip_results_close (ClipResults * r, const ClipTimes * times,
    gboolean post, GQueue * out);

G_END_DECLS

#endif
