/* clipsampler.c — which frames are due for a sample. */
#include "clipsampler.h"

void
clip_sampler_reset (ClipSampler * s)
{
  s->frame_index = 0;
  s->last_due = GST_CLOCK_TIME_NONE;
}

gboolean
clip_sampler_is_due (ClipSampler * s, guint frame_interval,
    GstClockTime interval, GstClockTime stime, gboolean reverse)
{
  guint64 index = s->frame_index++;
  GstClockTime d, step;

  if (frame_interval > 0)
    return index % frame_interval == 0;
  if (!GST_CLOCK_TIME_IS_VALID (stime))
    return TRUE;
  /* The grid is kept as the last sample's grid point, never as the next
   * one: last + interval overflows for huge intervals. A frame at or
   * before the last sample (in playback order) went back in time and
   * restarts the grid. */
  if (!GST_CLOCK_TIME_IS_VALID (s->last_due) || (reverse ?
          stime >= s->last_due : stime <= s->last_due)) {
    s->last_due = stime;
    return TRUE;
  }
  if (interval == 0)
    return TRUE;
  d = reverse ? s->last_due - stime : stime - s->last_due;
  if (d < interval)
    return FALSE;
  /* Keep to a grid, so the cadence does not drift with the frame rate. */
  step = d / interval * interval;
  s->last_due = reverse ? s->last_due - step : s->last_due + step;
  return TRUE;
}

GstClockTime
clip_segment_stream_time (const GstSegment * seg, GstClockTime t)
{
  if (seg->format != GST_FORMAT_TIME)
    return t;
  return gst_segment_to_stream_time (seg, GST_FORMAT_TIME, t);
}

GstClockTime
clip_segment_running_time (const GstSegment * seg, GstClockTime t)
{
  if (seg->format != GST_FORMAT_TIME)
    return t;
  return gst_segment_to_running_time (seg, GST_FORMAT_TIME, t);
}
