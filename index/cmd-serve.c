/* cmd-serve.c — clip-index serve: the options, then the index and the
 * text tower of its model held for serve.c's queries. */
#include <gio/gio.h>
#include <stdio.h>

#include "cli.h"
#include "serve.h"

int
cmd_serve(int argc, char **argv)
{
  model_opts mo = { 0 };
  char *listen = NULL;
  gboolean public_listen = FALSE;
  int status, rc = 1;
  GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING, &listen,
      "Address and port (default 127.0.0.1:8080; port 0 picks a free one)", "HOST:PORT" },
    { "public", 0, 0, G_OPTION_ARG_NONE, &public_listen,
      "Allow a non-loopback --listen address: whoever reaches it can search the index and play "
      "its videos",
      NULL },
    { NULL }
  };
  GOptionContext *oc = cli_parse(&argc, &argv, "INDEX",
                                 "Serve a search page, a JSON API, thumbnails and the indexed "
                                 "videos over HTTP (API in docs/indexing.md).",
                                 entries, &mo, &status);
  cli_query q = { 0 };
  GError *e = NULL;

  if (!oc)
    return status;
  if (argc != 2) {
    rc = cli_usage_error(oc, "serve needs one INDEX");
    goto out;
  }
  /* Unlike a one-query process, the server loads once and embeds many
   * texts: oneDNN (when built with it) packs the weights at start and then
   * reads them as they are, where OpenBLAS repacks them in every product,
   * about a third of the CPU time per query. One engine thread: a short
   * text is a few rows through the weights, bound by reading them, and
   * OpenMP threads that wait for a core on a busy machine spin. */
  if (!mo.backend)
    mo.backend = g_strdup("auto");
  if (mo.threads <= 0)
    mo.threads = 1;
  /* Queries are texts or segments of the index: the text tower only. */
  if ((rc = cli_query_open(&q, argv[1], &mo, CLIP_TOWERS_TEXT, "serve")))
    goto out;
  serve_params sp = { .index_path = store_cache_base(q.st),
                      .st = q.st,
                      .model = &q.rec,
                      .ctx = q.ctx,
                      .listen = listen ? listen : "127.0.0.1:8080",
                      .public_listen = public_listen };
  if (!serve_run(&sp, &e)) {
    fprintf(stderr, "clip-index serve: %s\n", e->message);
    rc = g_error_matches(e, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED) ? 2 : 1;
    goto out;
  }
out:
  g_clear_error(&e);
  cli_query_close(&q);
  model_opts_clear(&mo);
  g_free(listen);
  g_option_context_free(oc);
  return rc;
}
