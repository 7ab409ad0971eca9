/* clipmessages.h — the structures of the element's messages (`clipfilter`
 * per analyzed sample, `clipfilter-tag` per on/off change), documented in
 * the element's SECTION block. Stateless: no lock. */
#ifndef CLIP_MESSAGES_H
#define CLIP_MESSAGES_H

#include <gst/gst.h>

#include "clipanalyzer.h"

G_BEGIN_DECLS

/* Times of the frame a message speaks of. */
typedef struct
{
  GstClockTime timestamp, stream_time, running_time;
} ClipTimes;

/* A `clipfilter-tag` structure: @label turned on or off at @times, with
 * its smoothed probability and cosine. */
GstStructure *clip_message_tag (const gchar * label, gboolean on,
    gdouble score, gdouble similarity, const ClipTimes * times);

/* A `clipfilter` structure for the analyzed @sample, with the smoothed
 * probabilities and cosines [n] and the @top_k best labels by the former. */
GstStructure *clip_message_sample (const ClipSample * sample,
    const gfloat * smoothed, const gfloat * smoothed_sims, guint top_k,
    guint64 analyzed, guint64 skipped);

G_END_DECLS

#endif
