/* cli.c — option parsing and model binding shared by clip-index's verbs. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cli_usage_error(GOptionContext *oc, const char *msg)
{
  fprintf(stderr, "clip-index: %s\n", msg);
  if (oc) {
    char *help = g_option_context_get_help(oc, TRUE, NULL);
    fputs(help, stderr);
    g_free(help);
  }
  return 2;
}

GOptionContext *
cli_parse(int *argc, char ***argv, const char *params, const char *summary, GOptionEntry *entries,
          model_opts *query, int *status)
{
  GOptionContext *oc = g_option_context_new(params);
  GError *e = NULL;
  GOptionEntry query_entries[] = {
    { "backend", 0, 0, G_OPTION_ARG_STRING, query ? &query->backend : NULL,
      "auto (oneDNN where built with it), openblas or onednn; default: openblas for search "
      "(loads fastest), auto for serve",
      "B" },
    { "threads", 0, 0, G_OPTION_ARG_INT, query ? &query->threads : NULL,
      "Engine threads (default: all cores for search, 1 for serve)", "N" },
    { NULL }
  };
  g_option_context_set_summary(oc, summary);
  g_option_context_add_main_entries(oc, entries, NULL);
  if (query)
    g_option_context_add_main_entries(oc, query_entries, NULL);
  if (!g_option_context_parse(oc, argc, argv, &e)) {
    *status = cli_usage_error(oc, e->message);
    g_error_free(e);
    g_option_context_free(oc);
    return NULL;
  }
  *status = 0;
  return oc;
}

/* ---- the model ----------------------------------------------------------- */

/* A bare name is looked up exactly as the element's model property does
 * (clip_model_resolve); a path is taken as is. The result is canonical, so
 * that the path the index records compares equal however it was named. */
static char *
resolve_model(const char *model, GString *searched)
{
  const char *const dirs[] = { CLIPFILTER_MODELS_INSTALL_DIR, CLIPFILTER_MODELS_SOURCE_DIR, NULL };
  char *tried = NULL;
  char *found = clip_model_resolve(model, dirs, &tried);
  char *path = NULL;

  if (tried)
    g_string_append(searched, tried);
  if (found && g_file_test(found, G_FILE_TEST_EXISTS))
    path = g_canonicalize_filename(found, NULL);
  free(found);
  free(tried);
  return path;
}

bool
cli_params(const model_opts *o, clip_params *p, const char *verb)
{
  *p = clip_default_params();
  if (o->threads > 0)
    p->n_threads = o->threads;
  if (o->backend) {
    if (!strcmp(o->backend, "openblas"))
      p->backend = CLIP_BACKEND_OPENBLAS;
    else if (!strcmp(o->backend, "onednn"))
      p->backend = CLIP_BACKEND_ONEDNN;
    else if (!strcmp(o->backend, "auto"))
      p->backend = CLIP_BACKEND_DEFAULT;
    else {
      fprintf(stderr, "clip-index %s: --backend must be auto, openblas or onednn, not '%s'\n", verb,
              o->backend);
      return false;
    }
  }
  if (o->precision) {
    if (!strcmp(o->precision, "fp32"))
      p->precision = CLIP_PRECISION_FP32;
    else if (!strcmp(o->precision, "bf16"))
      p->precision = CLIP_PRECISION_BF16;
    else {
      fprintf(stderr, "clip-index %s: --precision must be fp32 or bf16, not '%s'\n", verb,
              o->precision);
      return false;
    }
  }
  return true;
}

/* Binds the index to a model (first add) or checks that the one asked for
 * is the one the index was built with: embeddings of two models live in
 * different spaces, so mixing them would rank nonsense. Returns the path to
 * load, or NULL after printing why not. */
char *
cli_index_model(store *s, const char *asked, const char *verb, bool bind, store_model *rec)
{
  GString *searched = g_string_new(NULL);
  char *path = NULL;
  GError *e = NULL;

  store_get_model(s, rec, &e);
  g_clear_error(&e);
  if (asked || !rec->model) {
    const char *name = asked ? asked : DEFAULT_MODEL;
    path = resolve_model(name, searched);
    if (!path) {
      fprintf(stderr, "clip-index %s: model '%s' not found%s%s%s\n", verb, name,
              searched->len ? " (searched: " : "", searched->str, searched->len ? ")" : "");
      goto out;
    }
    if (rec->model && strcmp(path, rec->model_path)) {
      fprintf(stderr,
              "clip-index %s: this index was built with model '%s' (%s, dimension %d); it "
              "cannot be used with model '%s' (%s): embeddings of different models are not "
              "comparable. Omit --model or use another index.\n",
              verb, rec->model, rec->model_path, rec->embed_dim, name, path);
      g_clear_pointer(&path, g_free);
      goto out;
    }
    if (!rec->model && !bind) {
      fprintf(stderr, "clip-index %s: the index records no model (nothing added yet)\n", verb);
      g_clear_pointer(&path, g_free);
      goto out;
    }
    if (!rec->model) {
      rec->model = g_strdup(name);
      rec->model_path = g_strdup(path);
    }
  } else {
    /* The recorded path first; the name again if the model moved. */
    path = g_file_test(rec->model_path, G_FILE_TEST_EXISTS) ? g_strdup(rec->model_path)
                                                            : resolve_model(rec->model, searched);
    if (!path)
      fprintf(stderr, "clip-index %s: the index's model '%s' (%s) is not found%s%s%s\n", verb,
              rec->model, rec->model_path, searched->len ? " (searched: " : "", searched->str,
              searched->len ? ")" : "");
  }
out:
  g_string_free(searched, TRUE);
  return path;
}

clip_model *
cli_load_model(const char *path, const clip_params *params, int want_dim, const char *verb)
{
  clip_error err = { 0 };
  clip_model *m = clip_model_load(path, params, &err);
  if (!m) {
    fprintf(stderr, "clip-index %s: cannot load model %s: %s\n", verb, path, err.message);
    return NULL;
  }
  if (want_dim && clip_model_get_info(m)->embed_dim != want_dim) {
    fprintf(stderr,
            "clip-index %s: model %s has embedding dimension %d, the index holds %d: refusing "
            "to mix models\n",
            verb, path, clip_model_get_info(m)->embed_dim, want_dim);
    clip_model_free(m);
    return NULL;
  }
  return m;
}

void
model_opts_clear(model_opts *o)
{
  g_free(o->model);
  g_free(o->precision);
  g_free(o->backend);
  memset(o, 0, sizeof *o);
}

int
cli_query_open(cli_query *q, const char *index, const model_opts *mo, clip_towers towers,
               const char *verb)
{
  model_opts o = *mo;
  clip_params params;
  clip_error err = { 0 };
  GError *e = NULL;
  char *path = NULL;
  int rc = 1;

  memset(q, 0, sizeof *q);
  if (!o.backend)
    o.backend = "openblas";
  if (!cli_params(&o, &params, verb))
    return 2;
  params.precision = CLIP_PRECISION_FP32;
  params.towers = towers;
  if (mo->map_file && !g_getenv("CLIP_MODEL_MMAP"))
    params.map_file = true;
  if (!(q->st = store_open(index, false, &e))) {
    fprintf(stderr, "clip-index %s: %s\n", verb, e->message);
    g_error_free(e);
    return 1;
  }
  if (!(path = cli_index_model(q->st, mo->model, verb, false, &q->rec)))
    goto out;
  if (!(q->model = cli_load_model(path, &params, q->rec.embed_dim, verb)))
    goto out;
  if (!(q->ctx = clip_ctx_new(q->model, &err))) {
    fprintf(stderr, "clip-index %s: %s\n", verb, err.message);
    goto out;
  }
  rc = 0;
out:
  g_free(path);
  if (rc)
    cli_query_close(q);
  return rc;
}

void
cli_query_close(cli_query *q)
{
  clip_ctx_free(q->ctx);
  clip_model_free(q->model);
  store_close(q->st);
  store_model_clear(&q->rec);
  memset(q, 0, sizeof *q);
}
