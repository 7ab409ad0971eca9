/* cli.h — what clip-index's verbs share: option parsing, the model an index
 * is bound to, and the open index plus model a query verb works with. */
#ifndef CLIP_INDEX_CLI_H
#define CLIP_INDEX_CLI_H

#include <glib.h>
#include <stdbool.h>

#include "clip.h"
#include "store.h"

#define DEFAULT_MODEL "clipfilter-mini"

/* Prints "clip-index: MSG" and the verb's help to stderr; returns 2. */
int cli_usage_error(GOptionContext *oc, const char *msg);
struct model_opts;
/* Parses a verb's options, plus --backend and --threads into *query when
 * given (the engine options of a query verb). -h prints help and exits 0,
 * as GOption does; NULL with *status set (2) after a usage error. */
GOptionContext *cli_parse(int *argc, char ***argv, const char *params, const char *summary,
                          GOptionEntry *entries, struct model_opts *query, int *status);

typedef struct model_opts {
  char *model, *precision, *backend;
  int threads;
  bool map_file; /* map the model file unless CLIP_MODEL_MMAP says otherwise */
} model_opts;

void model_opts_clear(model_opts *o);
/* The engine parameters the options ask for; false after printing why they
 * are wrong. */
bool cli_params(const model_opts *o, clip_params *p, const char *verb);
/* Binds the index to a model (first add, bind) or checks that the one asked
 * for is the one the index was built with. Returns the path to load, or
 * NULL after printing why not. */
char *cli_index_model(store *s, const char *asked, const char *verb, bool bind, store_model *rec);
/* Loads the model at path and checks its embedding dimension against the
 * index's (want_dim, 0: none recorded yet); NULL after printing why not. */
clip_model *cli_load_model(const char *path, const clip_params *params, int want_dim,
                           const char *verb);

/* An index open for queries with the towers of its model they need. */
typedef struct {
  store *st;
  store_model rec;
  clip_model *model;
  clip_ctx *ctx;
} cli_query;

/* Opens index and loads its model (mo->model, when given, must be the
 * index's) in fp32 with only the towers asked for. The default backend
 * is OpenBLAS, which loads fastest: its products use the checkpoint's
 * weights as they are, where oneDNN repacks them first. Returns 0, or the
 * exit status after printing why not. */
int cli_query_open(cli_query *q, const char *index, const model_opts *mo, clip_towers towers,
                   const char *verb);
void cli_query_close(cli_query *q);

/* The query verbs, each in a file of its own. */
int cmd_search(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
