/* cliplabels.h — embedded label sets and the thread that embeds them.
 *
 * A ClipLabels is immutable once made and shared by reference between the
 * label worker, the streaming thread and the analyzer. The ClipLabelWorker
 * owns a text context of its own, so a prompt change never makes the
 * streaming thread or the analyzer wait for the text tower; its lock guards
 * the newest set and the pending request. */
#ifndef CLIP_LABELS_H
#define CLIP_LABELS_H

#include <gst/gst.h>

#include "clip.h"

G_BEGIN_DECLS

typedef struct
{
  gint ref;
  guint n;
  gchar **names;                /* [n + 1], NULL-terminated */
  gboolean *background;         /* [n]: from background-prompts, never tagged */
  gfloat *embeds;               /* [n, embed_dim], unit norm */
} ClipLabels;

ClipLabels *clip_labels_ref (ClipLabels * l);
void clip_labels_unref (ClipLabels * l);

/* The text that makes a label set: the labels to tag, background labels
 * (may be NULL: none) and templates. */
typedef struct
{
  const gchar *prompts, *background, *templates;
} ClipLabelSpec;

/* Checks @spec without embedding it. Returns NULL when it is usable, else
 * a newly allocated message saying why not. */
gchar *clip_labels_check (const ClipLabelSpec * spec);

/* Parses @spec and embeds it with @ctx (embedding dimension @dim): the
 * prompts' labels first, then the background labels. Returns NULL and sets
 * @error_msg (newly allocated) when it is unusable. */
ClipLabels *clip_labels_embed (clip_ctx * ctx, gint dim,
    const ClipLabelSpec * spec, gchar ** error_msg);

typedef struct _ClipLabelWorker ClipLabelWorker;

/* A worker for @model (which must outlive it) that posts its warnings as
 * @element; the thread starts with clip_label_worker_start(). */
ClipLabelWorker *clip_label_worker_new (GstElement * element,
    const clip_model * model, clip_error * err);

/* Embeds a set at once, on the calling thread, and makes it the newest
 * (before the worker starts: the set the element starts with). */
gboolean clip_label_worker_embed_now (ClipLabelWorker * w,
    const ClipLabelSpec * spec, gchar ** error_msg);

void clip_label_worker_start (ClipLabelWorker * w);

/* Asks for a new set to be embedded in the background; a request not yet
 * started is replaced by a newer one. An unusable set is reported with an
 * element warning and the previous set stays in use. */
void clip_label_worker_request (ClipLabelWorker * w,
    const ClipLabelSpec * spec);

/* A reference to the newest embedded set. */
ClipLabels *clip_label_worker_get (ClipLabelWorker * w);

/* Stops the thread (waiting for an embedding in progress) and frees. */
void clip_label_worker_free (ClipLabelWorker * w);

G_END_DECLS

#endif
