/* clipanalyzer.h — image encoding and scoring of sampled frames: in sync
 * mode batched on the streaming thread, in async mode on a worker thread.
 *
 * The streaming thread fills the model input and submits samples; the
 * worker (async) encodes them. The analyzer's lock guards the job hand-over
 * (job, done, generation), the mode and the latency; the model input
 * belongs to the worker while a job runs and to the streaming thread
 * otherwise. */
#ifndef CLIP_ANALYZER_H
#define CLIP_ANALYZER_H

#include <gst/gst.h>
#include <gst/video/video.h>

#include "clip.h"
#include "cliplabels.h"

G_BEGIN_DECLS

/* One sampled frame and, once analyzed, its result. */
typedef struct
{
  ClipLabels *labels;           /* the set it is scored against */
  guint64 generation;           /* analyzer generation when sampled */
  GstClockTime pts, duration, stream_time, running_time;
  gfloat *embed;                /* [embed_dim] */
  gfloat *sims;                 /* [n]: cosine similarities */
  gfloat *probs;                /* [n]: softmax probabilities */
  gboolean reused;              /* not encoded: the last analyzed frame's embedding */
} ClipSample;

/* A sample of the analyzer's current generation, scored against @labels
 * (a reference is taken). */
ClipSample *clip_sample_new (ClipLabels * labels, guint64 generation);
void clip_sample_free (ClipSample * s);

typedef struct _ClipAnalyzer ClipAnalyzer;

/* An analyzer for @model (which must outlive it) encoding up to @batch
 * frames at once in sync mode; errors are posted as @element. */
ClipAnalyzer *clip_analyzer_new (GstElement * element, clip_model * model,
    guint batch, clip_error * err);
void clip_analyzer_free (ClipAnalyzer * a);

/* Async mode starts the worker thread. */
void clip_analyzer_set_async (ClipAnalyzer * a, gboolean async);

guint64 clip_analyzer_generation (ClipAnalyzer * a);

/* Async: takes the finished result, if any, and says whether the worker is
 * still busy (then no new sample may be submitted). */
ClipSample *clip_analyzer_take_done (ClipAnalyzer * a, gboolean * busy);

/* Takes the negotiated format; FALSE when it can be neither read by the
 * engine nor converted. Formats the engine does not read get a
 * GstVideoConverter to RGBx, used on sampled frames only. */
gboolean clip_analyzer_set_format (ClipAnalyzer * a, const GstVideoInfo * info);

/* Frees what set_format made for the format (caps change, stop). */
void clip_analyzer_clear_format (ClipAnalyzer * a);

/* Maps the sampled @buf and reduces it to the model input of the next
 * sample. On failure sets @unmapped when the frame could not be mapped,
 * else fills @err. */
gboolean clip_analyzer_preprocess (ClipAnalyzer * a, GstBuffer * buf,
    gboolean * unmapped, clip_error * err);

/* The change gate: a sampled frame whose model input differs from the
 * last encoded one by a mean absolute difference below @threshold (0: off)
 * reuses that frame's embedding, unless @max_reuse (0: no limit) of stream
 * time has passed since it. */
void clip_analyzer_set_gate (ClipAnalyzer * a, gdouble threshold,
    GstClockTime max_reuse);

/* Hands the sample whose input was just preprocessed over, deciding first
 * whether it reuses the last embedding: sync to the batch; async to the
 * worker, or, reused, straight to the finished result (scoring is cheap).
 * Returns TRUE when a sync batch is full. */
gboolean clip_analyzer_submit (ClipAnalyzer * a, ClipSample * s);

/* Sync: analyzes the pending samples; appends them, in order and with
 * their results, to @out (which takes ownership). Returns FALSE after
 * posting an error. */
gboolean clip_analyzer_run_batch (ClipAnalyzer * a, GPtrArray * out);

/* Async: waits for the job in progress and returns its result (or NULL). */
ClipSample *clip_analyzer_drain (ClipAnalyzer * a);

/* Drops pending samples and stale results (a flush). */
void clip_analyzer_flush (ClipAnalyzer * a);

/* Stops the worker and drops everything pending (stop). */
void clip_analyzer_stop (ClipAnalyzer * a);

/* Sync: records the time one analysis held a buffer; returns TRUE when the
 * latency grew by more than a fifth (time to post a LATENCY message). */
gboolean clip_analyzer_add_latency (ClipAnalyzer * a, GstClockTime t);

/* The latency sync mode adds (0 in async mode). */
GstClockTime clip_analyzer_latency (ClipAnalyzer * a);
void clip_analyzer_reset_latency (ClipAnalyzer * a);

G_END_DECLS

#endif
