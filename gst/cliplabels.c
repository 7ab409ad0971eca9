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
  if (!none && clip_prompts_parse (spec->background, NULL, bg, &err) != CLIP_OK)
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
  GHashTable *known_words;      /* the model's training words, or NULL */
  gchar *model_name;

  GMutex lock;                  /* guards everything below */
  GCond cond;
  ClipLabels *labels;           /* newest embedded set */
  gboolean pending, quit;
  gchar *prompts, *background, *templates;      /* the pending request */
};

/* words.txt next to the weights lists every word a model saw in training
 * (the shipped model's, made by models/words.py). A model without one,
 * like every published checkpoint, gets no check. */
static GHashTable *
load_known_words (const gchar * model_path, gchar ** name)
{
  gchar *dir = g_file_test (model_path, G_FILE_TEST_IS_DIR) ?
      g_strdup (model_path) : g_path_get_dirname (model_path);
  gchar *file = g_build_filename (dir, "words.txt", NULL);
  gchar *text = NULL, **lines, **l;
  GHashTable *words = NULL;

  if (g_file_get_contents (file, &text, NULL, NULL)) {
    words = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    lines = g_strsplit (text, "\n", -1);
    for (l = lines; *l; l++)
      if (*g_strstrip (*l))
        g_hash_table_add (words, g_utf8_strdown (*l, -1));
    g_strfreev (lines);
  }
  *name = g_path_get_basename (dir);
  g_free (text);
  g_free (file);
  g_free (dir);
  return words;
}

/* Adds the words of @text the model never saw to @unknown (once each, in
 * order). Words are runs of letters, lowercased, as CLIP's pre-tokenizer
 * cuts them; the endings it splits off ('s, 't, 're...) are not words. */
static void
collect_unknown_words (GHashTable * known, const gchar * text,
    GPtrArray * unknown)
{
  gchar *lower, *p, *start = NULL;

  if (!text)
    return;
  lower = g_utf8_strdown (text, -1);
  for (p = lower;; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (c && g_unichar_isalpha (c)) {
      if (!start)
        start = p;
      continue;
    }
    if (start) {
      static const gchar *const endings[] = { "s", "t", "re", "ve", "m",
        "ll", "d", NULL
      };
      gchar *word = g_strndup (start, p - start);
      gboolean ending = start > lower && start[-1] == '\''
          && g_strv_contains (endings, word);

      if (!ending && !g_hash_table_contains (known, word)
          && !g_ptr_array_find_with_equal_func (unknown, word, g_str_equal,
              NULL))
        g_ptr_array_add (unknown, word);
      else
        g_free (word);
    }
    start = NULL;
    if (!c)
      break;
  }
  g_free (lower);
}

/* Called once for every set that is put in use: a model that knows only
 * test patterns and colours would score "person cooking" with confident
 * nonsense, so the user hears which words it has never seen. */
static void
warn_unknown_words (ClipLabelWorker * w, const ClipLabelSpec * spec)
{
  GPtrArray *unknown;
  gchar *list;

  if (!w->known_words)
    return;
  unknown = g_ptr_array_new_with_free_func (g_free);
  collect_unknown_words (w->known_words, spec->prompts, unknown);
  collect_unknown_words (w->known_words, spec->background, unknown);
  collect_unknown_words (w->known_words, spec->templates, unknown);
  if (unknown->len) {
    g_ptr_array_add (unknown, NULL);
    list = g_strjoinv (", ", (gchar **) unknown->pdata);
    GST_ELEMENT_WARNING (w->element, RESOURCE, SETTINGS,
        ("Model \"%s\" was trained on test patterns, colours and shapes "
            "only and never saw these prompt words: %s. Its scores for them "
            "mean nothing: fetch a real CLIP checkpoint with "
            "models/fetch-model.sh (e.g. 'models/fetch-model.sh "
            "clip-vit-base-patch32', then model=clip-vit-base-patch32).",
            w->model_name, list),
        ("the words it knows are listed in its words.txt"));
    g_free (list);
  }
  g_ptr_array_unref (unknown);
}

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
  w->known_words = load_known_words (clip_model_get_info (model)->path,
      &w->model_name);
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
  warn_unknown_words (w, spec);
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

    GST_DEBUG_OBJECT (w->element, "embedding new prompts \"%s\"", spec.prompts);
    l = clip_labels_embed (w->ctx, w->dim, &spec, &msg);
    if (!l)
      GST_ELEMENT_WARNING (w->element, RESOURCE, SETTINGS,
          ("Invalid prompts, keeping the previous ones: %s", msg), (NULL));
    else
      warn_unknown_words (w, &spec);
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
  if (w->known_words)
    g_hash_table_unref (w->known_words);
  g_free (w->model_name);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_free (w);
}
