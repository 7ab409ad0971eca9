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

/* Splits @text at @sep, strips blanks and drops empty pieces. */
static GPtrArray *
split_clean (const gchar * text, const gchar * sep)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  gchar **parts = g_strsplit (text ? text : "", sep, -1);
  gchar **p;

  for (p = parts; *p; p++) {
    g_strstrip (*p);
    if (**p)
      g_ptr_array_add (out, g_strdup (*p));
  }
  g_strfreev (parts);
  return out;
}

/* The parsed form of prompts and templates: label names, the label specs
 * ("syn|syn") the engine ensembles, and the templates. */
typedef struct
{
  GPtrArray *names, *specs, *templates;
} Parsed;

static void
parsed_clear (Parsed * p)
{
  g_clear_pointer (&p->names, g_ptr_array_unref);
  g_clear_pointer (&p->specs, g_ptr_array_unref);
  g_clear_pointer (&p->templates, g_ptr_array_unref);
}

static gchar *
parse (const gchar * prompts, const gchar * templates, Parsed * out)
{
  GPtrArray *entries;
  guint i;

  memset (out, 0, sizeof *out);
  if (!prompts || !g_utf8_validate (prompts, -1, NULL))
    return g_strdup (prompts ? "prompts are not valid UTF-8"
        : "no prompts set (property 'prompts', e.g. \"a dog;a cat\")");
  if (templates && !g_utf8_validate (templates, -1, NULL))
    return g_strdup ("templates are not valid UTF-8");

  out->names = g_ptr_array_new_with_free_func (g_free);
  out->specs = g_ptr_array_new_with_free_func (g_free);
  out->templates = split_clean (templates, ";");
  entries = split_clean (prompts, ";");
  for (i = 0; i < entries->len; i++) {
    GPtrArray *syn = split_clean (g_ptr_array_index (entries, i), "|");
    if (syn->len > 0) {
      g_ptr_array_add (syn, NULL);
      g_ptr_array_add (out->names, g_strdup (g_ptr_array_index (syn, 0)));
      g_ptr_array_add (out->specs, g_strjoinv ("|", (gchar **) syn->pdata));
    }
    g_ptr_array_unref (syn);
  }
  g_ptr_array_unref (entries);

  for (i = 0; i < out->templates->len; i++)
    if (!strstr (g_ptr_array_index (out->templates, i), "{}"))
      return g_strdup_printf ("template \"%s\" has no {} placeholder",
          (const gchar *) g_ptr_array_index (out->templates, i));
  if (out->names->len == 0)
    return g_strdup_printf ("prompts \"%.80s\" contain no label "
        "(labels are separated by ';', synonyms by '|')", prompts);
  return NULL;
}

gchar *
clip_labels_check (const gchar * prompts, const gchar * templates)
{
  Parsed p;
  gchar *msg = parse (prompts, templates, &p);

  parsed_clear (&p);
  return msg;
}

ClipLabels *
clip_labels_embed (clip_ctx * ctx, gint dim, const gchar * prompts,
    const gchar * templates, gchar ** error_msg)
{
  Parsed p;
  ClipLabels *l = NULL;
  clip_error err = { 0 };

  if ((*error_msg = parse (prompts, templates, &p)))
    goto out;

  l = g_new0 (ClipLabels, 1);
  l->ref = 1;
  l->n = p.names->len;
  g_ptr_array_add (p.names, NULL);
  l->names = (gchar **) g_ptr_array_steal (p.names, NULL);
  l->embeds = g_new0 (gfloat, (gsize) l->n * dim);
  if (clip_embed_labels (ctx, (const char *const *) p.specs->pdata, l->n,
          p.templates->len ? (const char *const *) p.templates->pdata : NULL,
          p.templates->len, l->embeds, &err) != CLIP_OK) {
    *error_msg = g_strdup_printf ("could not embed the prompts: %s",
        err.message);
    clip_labels_unref (l);
    l = NULL;
  }
out:
  parsed_clear (&p);
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
