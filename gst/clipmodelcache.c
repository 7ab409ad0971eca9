/* clipmodelcache.c — finding a model by name and sharing loaded models. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "clipmodelcache.h"

#include <stdlib.h>
#include <string.h>

/* The engine's rule (clip_model_resolve) with this build's directories:
 * the installed models, then the source tree's (an uninstalled build). */
gchar *
clip_model_cache_resolve (const gchar * model, GString * searched)
{
  const char *const dirs[] = { CLIPFILTER_MODELS_INSTALL_DIR,
    CLIPFILTER_MODELS_SOURCE_DIR, NULL
  };
  char *tried = NULL;
  char *path = clip_model_resolve (model, dirs, &tried);
  gchar *found = path ? g_strdup (path) : NULL;

  g_string_append (searched, tried ? tried : "");
  free (tried);
  free (path);
  return found;
}

/* Loaded models, shared by every instance that uses the same checkpoint
 * with the same thread count, backend and precision: a clip_model is
 * immutable once loaded, so several cameras' pipelines can read one copy of
 * the weights. A model is freed when its last user stops. */
typedef struct
{
  gchar *key;
  clip_model *model;
  guint users;
} SharedModel;

static GMutex cache_lock;
static GList *cache;            /* of SharedModel, under cache_lock */

clip_model *
clip_model_cache_acquire (const gchar * path, const clip_params * params,
    clip_error * err)
{
  gchar *real = g_canonicalize_filename (path, NULL);
  gchar *key = g_strdup_printf ("%d:%d:%d:%s", params->n_threads,
      params->backend, params->precision, real);
  SharedModel *sm = NULL;
  clip_model *model = NULL;
  GList *l;

  g_mutex_lock (&cache_lock);
  for (l = cache; l && !sm; l = l->next)
    if (g_str_equal (((SharedModel *) l->data)->key, key))
      sm = l->data;
  if (!sm) {
    clip_model *m = clip_model_load (path, params, err);
    if (m) {
      sm = g_new0 (SharedModel, 1);
      sm->key = key;
      key = NULL;
      sm->model = m;
      cache = g_list_prepend (cache, sm);
    }
  }
  if (sm) {
    sm->users++;
    model = sm->model;
  }
  g_mutex_unlock (&cache_lock);
  g_free (key);
  g_free (real);
  return model;
}

void
clip_model_cache_release (clip_model * model)
{
  GList *l;

  if (!model)
    return;
  g_mutex_lock (&cache_lock);
  for (l = cache; l; l = l->next) {
    SharedModel *sm = l->data;
    if (sm->model == model) {
      if (--sm->users == 0) {
        cache = g_list_delete_link (cache, l);
        clip_model_free (sm->model);
        g_free (sm->key);
        g_free (sm);
      }
      break;
    }
  }
  g_mutex_unlock (&cache_lock);
}

static const gchar *
backend_name (clip_backend b)
{
  switch (b) {
    case CLIP_BACKEND_OPENBLAS:
      return "openblas";
    case CLIP_BACKEND_ONEDNN:
      return "onednn";
    default:
      return "auto";
  }
}

clip_model *
clip_model_cache_open (const gchar * name, const clip_params * params,
    GError ** error, gchar ** debug)
{
  GString *searched = g_string_new (NULL);
  gchar *path = clip_model_cache_resolve (name ? name : "", searched);
  clip_error err = { 0 };
  clip_model *model = NULL;

  *debug = NULL;
  if (!path) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
        "CLIP model \"%s\" not found (searched: %s); download a "
        "published checkpoint with models/fetch-model.sh, e.g. "
        "'models/fetch-model.sh clip-vit-base-patch32' then "
        "model=clip-vit-base-patch32", name ? name : "", searched->str);
    *debug = g_strdup ("set the 'model' property to a checkpoint path");
    goto out;
  }
  if (params->precision == CLIP_PRECISION_BF16
      && params->backend == CLIP_BACKEND_OPENBLAS) {
    g_set_error_literal (error, GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_SETTINGS, "precision=bf16 needs backend=onednn "
        "(or auto in a build with oneDNN); backend=openblas computes in fp32 "
        "only");
    goto out;
  }
  if ((model = clip_model_cache_acquire (path, params, &err)))
    goto out;
  *debug = g_strdup_printf ("model: %s", path);
  /* UNSUPPORTED is mostly a backend or precision this build cannot run;
   * the engine's message says which. */
  if (err.status == CLIP_ERR_UNSUPPORTED)
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Could not load CLIP model with backend=%s precision=%s: %s",
        backend_name (params->backend),
        params->precision == CLIP_PRECISION_BF16 ? "bf16" : "fp32",
        err.message);
  else
    g_set_error (error, GST_RESOURCE_ERROR, err.status == CLIP_ERR_IO ?
        GST_RESOURCE_ERROR_NOT_FOUND : GST_RESOURCE_ERROR_FAILED,
        "Could not load CLIP model: %s", err.message);
out:
  g_free (path);
  g_string_free (searched, TRUE);
  return model;
}
