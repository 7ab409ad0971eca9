/* cliplabels.c — embedded label sets and the thread that embeds them. */
#include "cliplabels.h"

#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (gst_clip_filter_debug);
#define GST_CAT_DEFAULT gst_clip_filter_debug

ClipLabels *
clip_labels_ref (ClipLabels * l)
{
  if (l)
    g_atomic_int_inc (&l->ref);
  return l;
}

void
clip_labels_unref (ClipLabels * l)
{
  if (l && g_atomic_int_dec_and_test (&l->ref)) {
    g_strfreev (l->names);
    g_free (l->embeds);
    g_free (l);
  }
}

/* Parses with the engine's parser; the element names its own property
 * when none is set. */
static gchar *
parse (const gchar * prompts, const gchar * templates, clip_prompts * out)
{
  clip_error err = { 0 };

  memset (out, 0, sizeof *out);
  if (!prompts)
    return g_strdup ("no prompts set (property 'prompts', e.g. "
        "\"a dog;a cat\")");
  if (clip_prompts_parse (prompts, templates, out, &err) != CLIP_OK)
    return g_strdup (err.message);
  return NULL;
}

gchar *
clip_labels_check (const gchar * prompts, const gchar * templates)
{
  clip_prompts p;
  gchar *msg = parse (prompts, templates, &p);

  clip_prompts_free (&p);
  return msg;
}

ClipLabels *
clip_labels_embed (clip_ctx * ctx, gint dim, const gchar * prompts,
    const gchar * templates, gchar ** error_msg)
{
  clip_prompts p;
  ClipLabels *l = NULL;
  clip_error err = { 0 };

  if ((*error_msg = parse (prompts, templates, &p)))
    goto out;

  l = g_new0 (ClipLabels, 1);
  l->ref = 1;
  l->n = p.n_labels;
  l->names = g_strdupv (p.names);
  l->embeds = g_new0 (gfloat, (gsize) l->n * dim);
  if (clip_embed_labels (ctx, (const char *const *) p.specs, p.n_labels,
          (const char *const *) p.templates, p.n_templates, l->embeds,
          &err) != CLIP_OK) {
    *error_msg = g_strdup_printf ("could not embed the prompts: %s",
        err.message);
    clip_labels_unref (l);
    l = NULL;
  }
out:
  clip_prompts_free (&p);
  return l;
}

struct _ClipLabelWorker
{
  GstElement *element;          /* not a reference: the element outlives it */
  clip_ctx *ctx;                /* the worker thread's (or embed_now's caller's) */
  gint dim;
  GThread *thread;

  GMutex lock;                  /* guards everything below */
  GCond cond;
  ClipLabels *labels;           /* newest embedded set */
  gboolean pending, quit;
  gchar *prompts, *templates;   /* the pending request */
};

ClipLabelWorker *
clip_label_worker_new (GstElement * element, const clip_model * model,
    clip_error * err)
{
  ClipLabelWorker *w;
  clip_ctx *ctx = clip_ctx_new (model, err);

  if (!ctx)
    return NULL;
  w = g_new0 (ClipLabelWorker, 1);
  w->element = element;
  w->ctx = ctx;
  w->dim = clip_model_get_info (model)->embed_dim;
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  return w;
}

gboolean
clip_label_worker_embed_now (ClipLabelWorker * w, const gchar * prompts,
    const gchar * templates, gchar ** error_msg)
{
  ClipLabels *l = clip_labels_embed (w->ctx, w->dim, prompts, templates, error_msg);

  if (!l)
    return FALSE;
  g_mutex_lock (&w->lock);
  clip_labels_unref (w->labels);
  w->labels = l;
  g_mutex_unlock (&w->lock);
  return TRUE;
}

static gpointer
worker_func (gpointer data)
{
  ClipLabelWorker *w = data;

  g_mutex_lock (&w->lock);
  while (!w->quit) {
    gchar *prompts, *templates, *msg = NULL;
    ClipLabels *l;

    if (!w->pending) {
      g_cond_wait (&w->cond, &w->lock);
      continue;
    }
    prompts = g_steal_pointer (&w->prompts);
    templates = g_steal_pointer (&w->templates);
    w->pending = FALSE;
    g_mutex_unlock (&w->lock);

    GST_DEBUG_OBJECT (w->element, "embedding new prompts \"%s\"", prompts);
    l = clip_labels_embed (w->ctx, w->dim, prompts, templates, &msg);
    if (!l)
      GST_ELEMENT_WARNING (w->element, RESOURCE, SETTINGS,
          ("Invalid prompts, keeping the previous ones: %s", msg), (NULL));
    g_free (msg);
    g_free (prompts);
    g_free (templates);

    g_mutex_lock (&w->lock);
    if (l) {
      clip_labels_unref (w->labels);
      w->labels = l;
    }
  }
  g_mutex_unlock (&w->lock);
  return NULL;
}

void
clip_label_worker_start (ClipLabelWorker * w)
{
  w->thread = g_thread_new ("clipfilter-text", worker_func, w);
}

void
clip_label_worker_request (ClipLabelWorker * w, const gchar * prompts,
    const gchar * templates)
{
  g_mutex_lock (&w->lock);
  g_free (w->prompts);
  g_free (w->templates);
  w->prompts = g_strdup (prompts);
  w->templates = g_strdup (templates);
  w->pending = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

ClipLabels *
clip_label_worker_get (ClipLabelWorker * w)
{
  ClipLabels *l;

  g_mutex_lock (&w->lock);
  l = clip_labels_ref (w->labels);
  g_mutex_unlock (&w->lock);
  return l;
}

void
clip_label_worker_free (ClipLabelWorker * w)
{
  if (!w)
    return;
  if (w->thread) {
    g_mutex_lock (&w->lock);
    w->quit = TRUE;
    g_cond_signal (&w->cond);
    g_mutex_unlock (&w->lock);
    g_thread_join (w->thread);
  }
  clip_labels_unref (w->labels);
  g_free (w->prompts);
  g_free (w->templates);
  clip_ctx_free (w->ctx);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_free (w);
}
