/* serve.h — clip-index serve: an index's search over HTTP (libsoup 3).
 *
 * One thread: the server runs on the default main context and answers one
 * request at a time from memory (the text tower in ctx, the segment matrix
 * mapped once, the files table read once). SQLite is read for the hits'
 * rows and thumbnails only. The API is described in docs/indexing.md. */
#ifndef CLIP_INDEX_SERVE_H
#define CLIP_INDEX_SERVE_H

#include <glib.h>
#include <stdbool.h>

#include "clip.h"
#include "store.h"

typedef struct {
  const char *index_path;
  store *st;                /* open; owned by the caller */
  const store_model *model; /* the index's model record */
  clip_ctx *ctx;            /* the model's context, for text queries */
  const char *listen;       /* "HOST:PORT"; port 0 picks a free one */
  bool public_listen;       /* allow a non-loopback address */
} serve_params;

/* Listens, prints "listening on URL" on stdout, and serves until SIGINT or
 * SIGTERM. False with error set when it cannot start (bad address, address
 * in use, index unreadable). */
bool serve_run(const serve_params *p, GError **error);

#endif
