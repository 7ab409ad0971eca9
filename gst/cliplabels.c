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
    g_free (l->background);
    g_free (l->embeds);
    g_free (l);
  }
}

/* Parses with the engine's parser; the element names its own properties
 * in its messages. Background prompts that are only blanks mean none. */
static gchar *
parse (const ClipLabelSpec * spec, clip_prompts * fg, clip_prompts * bg)
{
  clip_error err = { 0 };
  gchar *blank = g_strstrip (g_strdup (spec->background ?
          spec->background : ""));
  gboolean none = *blank == '\0';

  g_free (blank);
  memset (fg, 0, sizeof *fg);
  memset (bg, 0, sizeof *bg);
  if (!spec->prompts)
    return g_strdup ("no prompts set (property 'prompts', e.g. "
        "\"a dog;a cat\")");
  if (clip_prompts_parse (spec->prompts, spec->templates, fg, &err) != CLIP_OK)
    return g_strdup (err.message);
  if (!none && clip_prompts_parse (spec->background, NULL, bg,
          &err) != CLIP_OK)
    return g_strdup_printf ("background-prompts: %s", err.message);
  return NULL;
}

gchar *
clip_labels_check (const ClipLabelSpec * spec)
{
  clip_prompts fg, bg;
  gchar *msg = parse (spec, &fg, &bg);

  clip_prompts_free (&fg);
  clip_prompts_free (&bg);
  return msg;
}

ClipLabels *
clip_labels_embed (clip_ctx * ctx, gint dim, const ClipLabelSpec * spec,
    gchar ** error_msg)
{
  clip_prompts fg, bg;
  ClipLabels *l = NULL;
  clip_error err = { 0 };
  GPtrArray *names, *specs;
  gint i;

  if ((*error_msg = parse (spec, &fg, &bg)))
    goto out;

  names = g_ptr_array_new ();
  specs = g_ptr_array_new ();
  l = g_new0 (ClipLabels, 1);
  l->ref = 1;
  l->n = fg.n_labels + bg.n_labels;
  l->background = g_new0 (gboolean, l->n);
  for (i = 0; i < fg.n_labels; i++) {
    g_ptr_array_add (names, g_strdup (fg.names[i]));
    g_ptr_array_add (specs, fg.specs[i]);
  }
  for (i = 0; i < bg.n_labels; i++) {
    l->background[fg.n_labels + i] = TRUE;
    g_ptr_array_add (names, g_strdup (bg.names[i]));
    g_ptr_array_add (specs, bg.specs[i]);
  }
  g_ptr_array_add (names, NULL);
  l->names = (gchar **) g_ptr_array_free (names, FALSE);
  l->embeds = g_new0 (gfloat, (gsize) l->n * dim);
  /* One embedding call: the templates apply to the background too. */
  if (clip_embed_labels (ctx, (const char *const *) specs->pdata, l->n,
          (const char *const *) fg.templates, fg.n_templates, l->embeds,
          &err) != CLIP_OK) {
    *error_msg = g_strdup_printf ("could not embed the prompts: %s",
        err.message);
    clip_labels_unref (l);
    l = NULL;
  }
  g_ptr_array_free (specs, TRUE);
out:
  clip_prompts_free (&fg);
  clip_prompts_free (&bg);
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
  gchar *prompts, *background, *templates;      /* the pending request */
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
clip_label_worker_embed_now (ClipLabelWorker * w, const ClipLabelSpec * spec,
    gchar ** error_msg)
{
  ClipLabels *l = clip_labels_embed (w->ctx, w->dim, spec, error_msg);

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
    gchar *msg = NULL;
    ClipLabelSpec spec;
    ClipLabels *l;

    if (!w->pending) {
      g_cond_wait (&w->cond, &w->lock);
      continue;
    }
    spec.prompts = g_steal_pointer (&w->prompts);
    spec.background = g_steal_pointer (&w->background);
    spec.templates = g_steal_pointer (&w->templates);
    w->pending = FALSE;
    g_mutex_unlock (&w->lock);

    GST_DEBUG_OBJECT (w->element, "embedding new prompts \"%s\"",
        spec.prompts);
    l = clip_labels_embed (w->ctx, w->dim, &spec, &msg);
    if (!l)
      GST_ELEMENT_WARNING (w->element, RESOURCE, SETTINGS,
          ("Invalid prompts, keeping the previous ones: %s", msg), (NULL));
    g_free (msg);
    g_free ((gchar *) spec.prompts);
    g_free ((gchar *) spec.background);
    g_free ((gchar *) spec.templates);

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
clip_label_worker_request (ClipLabelWorker * w, const ClipLabelSpec * spec)
{
  g_mutex_lock (&w->lock);
  g_free (w->prompts);
  g_free (w->background);
  g_free (w->templates);
  w->prompts = g_strdup (spec->prompts);
  w->background = g_strdup (spec->background);
  w->templates = g_strdup (spec->templates);
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
  g_free (w->background);
  g_free (w->templates);
  clip_ctx_free (w->ctx);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_free (w);
}
