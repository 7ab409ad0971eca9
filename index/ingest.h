/* ingest.h — one video file in, sampled embeddings and segments out.
 *
 * GStreamer decodes in its streaming threads (uridecodebin → videoconvert →
 * appsink); a pad probe in front of the appsink lets only the sampled frames
 * through, so the calling thread preprocesses and embeds sample N while the
 * decoder works on sample N+1. */
#ifndef CLIP_INDEX_INGEST_H
#define CLIP_INDEX_INGEST_H

#include <gst/gst.h>
#include <stdbool.h>

#include "clip.h"
#include "store.h"

typedef enum {
  INGEST_DECODE_AUTO = 0, /* key frames while they are at most 1.5 intervals apart, else all */
  INGEST_DECODE_KEYFRAMES,
  INGEST_DECODE_ALL,
} ingest_decode;

typedef struct {
  const clip_model *model;
  double interval; /* seconds between samples */
  double merge;    /* cosine at or above which a sample joins the open segment */
  ingest_decode decode;
  int batch;        /* frames per clip_encode_images() call */
  int thumb_width;  /* JPEG thumbnail width, 0: none */
  bool decode_only; /* sample without embedding (measures the decoder); model may be NULL */
  /* The change gate (as the element's change-threshold and max-reuse): a
   * sample whose model input differs from the last embedded one by a mean
   * absolute difference below change_threshold (0: off) takes that one's
   * embedding, unless max_reuse seconds (0: no limit) have passed since it. */
  double change_threshold;
  double max_reuse;
  /* Incremented atomically by the images actually embedded; may be NULL. */
  gint *embedded;
  /* Called on the calling thread after every sample with the stream time
   * reached (seconds); may be NULL. */
  void (*progress)(double seconds, void *data);
  void *progress_data;
} ingest_params;

/* Decodes, samples and embeds uri into f (segments, samples, duration, size,
 * decode mode; path/uri/size/mtime are the caller's). False and a reason on
 * failure. ctx belongs to the calling thread. */
bool ingest_file(clip_ctx *ctx, const ingest_params *p, const char *uri, store_file *f,
                 GError **error);

/* Frees what ingest_file() put into f. */
void ingest_file_clear(store_file *f);

/* Decodes an image file and embeds it (unit norm), for search --image. */
bool ingest_image(clip_ctx *ctx, const clip_model *model, const char *path, float *embedding,
                  GError **error);

#endif
