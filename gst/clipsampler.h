/* clipsampler.h — which frames are due for a sample, and their times.
 *
 * Streaming thread only: no lock. */
#ifndef CLIP_SAMPLER_H
#define CLIP_SAMPLER_H

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct
{
  guint64 frame_index;          /* frames seen since the last restart */
  GstClockTime last_due;        /* grid point of the last sample */
} ClipSampler;

/* Restarts the cadence: the next frame is due (start, flush, segment). */
void clip_sampler_reset (ClipSampler * s);

/* Whether the frame at stream time @stime is due: every @frame_interval-th
 * frame when that is > 0, else the first frame at or after each multiple of
 * @interval from the first sample (0: every frame; GST_CLOCK_TIME_NONE: the
 * first frame only). In reverse playback the grid runs backwards. */
gboolean clip_sampler_is_due (ClipSampler * s, guint frame_interval,
    GstClockTime interval, GstClockTime stime, gboolean reverse);

/* Stream and running time of @t in @seg. Raw video can come in a segment
 * that is not in time (appsrc's default format is BYTES), where the
 * segment functions would fail a precondition: the timestamps then stand
 * for stream and running time, as in a default time segment. */
GstClockTime clip_segment_stream_time (const GstSegment * seg, GstClockTime t);
GstClockTime clip_segment_running_time (const GstSegment * seg,
    GstClockTime t);

G_END_DECLS

#endif
