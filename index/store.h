/* store.h — the index file: one SQLite database (schema in docs/indexing.md).
 *
 * One connection per process; callers serialize access (the add verb holds
 * a lock around every call). Every file is written in one transaction, so a
 * run killed at any moment leaves either all of a file's rows or none. */
#ifndef CLIP_INDEX_STORE_H
#define CLIP_INDEX_STORE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define STORE_SCHEMA_VERSION 1

typedef struct store store;

/* The model an index is bound to, recorded by the first add. */
typedef struct {
  char *model;      /* as the user named it, e.g. "clipfilter-mini" */
  char *model_path; /* the canonical path it resolved to */
  int embed_dim;
} store_model;

/* One segment of a file: consecutive samples with near-identical embeddings. */
typedef struct {
  double start, end; /* seconds, stream time */
  int n_samples;
  float *embedding;  /* unit-norm mean, embed_dim floats (owned by the caller) */
  GBytes *thumbnail; /* JPEG, may be NULL */
  int first_sample;  /* index into the file's samples */
} store_segment;

typedef struct {
  double time, duration;
  int segment; /* index into the file's segments */
  float *embedding;
} store_sample;

/* Everything add writes for one file. */
typedef struct {
  const char *path, *uri;
  int64_t size, mtime;
  double duration;
  int width, height;
  const char *decode; /* "keyframes" or "all" */
  GArray *segments;   /* store_segment */
  GArray *samples;    /* store_sample */
  int64_t queue_id;   /* shared index: the queue entry marked done with the rows */
} store_file;

/* Opens (create=true: creates) an index; NULL and a message on failure. */
store *store_open(const char *path, bool create, GError **error);
void store_close(store *s);

/* The recorded model; false with model->model NULL when none is recorded yet. */
bool store_get_model(store *s, store_model *model, GError **error);
bool store_set_model(store *s, const store_model *model, GError **error);
void store_model_clear(store_model *model);

/* True when path is indexed with this size and mtime. */
bool store_file_is_current(store *s, const char *path, int64_t size, int64_t mtime);

/* Replaces any rows of f->path by f's, in one transaction. */
bool store_put_file(store *s, const store_file *f, GError **error);

/* Summary counts for info. */
typedef struct {
  int64_t files, segments, samples;
  double seconds;
} store_counts;
bool store_counts_get(store *s, store_counts *c, GError **error);

/* The segment matrix: ids [n], rows [n, dim] (unit norm), both g_malloc'ed.
 * A PostgreSQL index keeps a local copy (store-pg-copy.h) beside the cache
 * base below and fetches only what the server has beyond it. */
bool store_load_matrix(store *s, int dim, int64_t **ids, float **rows, int64_t *n, GError **error);
/* PostgreSQL: how the last store_load_matrix got its rows; NULL otherwise. */
const char *store_copy_note(store *s);
/* What the rows of the last store_load_matrix descend from, 0 when unknown:
 * two loads with the same nonzero lineage hold the same rows up to the
 * shorter one's end (rows were only added between them), so a file made
 * from the first can be extended to the second. PostgreSQL: the index's
 * identity and its count of deletions (store-pg-copy.h); SQLite: 0, since
 * its generation moves for an added file and a replaced one alike. */
uint64_t store_matrix_lineage(store *s);

/* Details of one segment for printing a hit. */
typedef struct {
  char *path;
  double start, end;
  int n_samples;
  GBytes *thumbnail;
} store_hit;
bool store_get_segment(store *s, int64_t id, store_hit *hit, GError **error);
void store_hit_clear(store_hit *hit);

/* Calls fn for every segment in id order (export). */
typedef bool (*store_segment_fn)(int64_t id, const char *path, double start, double end,
                                 int n_samples, const float *embedding, int dim, void *data);
bool store_foreach_segment(store *s, int dim, store_segment_fn fn, void *data, GError **error);

/* Calls fn for every file in id order (serve). */
typedef void (*store_file_fn)(int64_t id, const char *path, const char *uri, int64_t size,
                              int64_t mtime, void *data);
bool store_foreach_file(store *s, store_file_fn fn, void *data, GError **error);

/* Where files derived from the index go, as a name to add a suffix to: the
 * index file itself for SQLite; for PostgreSQL
 * $XDG_CACHE_HOME/clipfilter/index-<sha256 of the URI without password>
 * (directory created), so search keeps its matrix copy on local disk. */
const char *store_cache_base(store *s);

/* The sqlite3 handle's data generation: changes whenever a file is written. */
int64_t store_generation(store *s);

/* The shared work queue of a PostgreSQL index (false/-1 with a message on
 * an SQLite index). A claimed file is leased for `lease` seconds, renewed by
 * store_renew_leases; a file whose worker vanished is claimed again. */
bool store_is_shared(store *s);
bool store_enqueue(store *s, const char *path, const char *uri, int64_t size, int64_t mtime,
                   bool *added, GError **error);
typedef struct {
  int64_t id;
  char *path, *uri;
  int64_t size, mtime;
} store_claim;
/* 1: claimed into c (free path and uri); 0: nothing free (*busy: files
 * still running elsewhere); -1: error. */
int store_claim_file(store *s, int lease, int max_attempts, store_claim *c, bool *busy,
                     GError **error);
/* Back to the queue, or failed for good after max_attempts. */
bool store_fail_file(store *s, int64_t queue_id, int max_attempts, const char *reason,
                     GError **error);
bool store_renew_leases(store *s, int lease, GError **error);
/* After a failed call: 0 when the connection is fine (the failure was real),
 * 1 when it was lost and is restored, -1 when the server is still away. */
int store_reconnect(store *s);
bool store_print_status(store *s, FILE *out, GError **error);
#endif
