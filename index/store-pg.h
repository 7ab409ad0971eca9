/* store-pg.h — the index on a PostgreSQL server (libpq), behind store.h.
 *
 * store.c hands every call on a postgresql:// or postgres:// index to these
 * functions; they mirror store.h one to one. */
#ifndef CLIP_INDEX_STORE_PG_H
#define CLIP_INDEX_STORE_PG_H

#include "store.h"

typedef struct pgstore pgstore;

/* True when name is a libpq connection URI rather than a file name. */
bool pgstore_is_uri(const char *name);
/* The URI with any password replaced by "***", for messages (g_free). */
char *pgstore_mask_uri(const char *uri);

pgstore *pgstore_open(const char *uri, bool create, GError **error);
void pgstore_close(pgstore *p);
/* One meta value (g_free), NULL when absent; n key/value pairs in one transaction. */
char *pgstore_meta_get(pgstore *p, const char *key);
bool pgstore_meta_set(pgstore *p, const char *const *kv, int n, GError **error);
bool pgstore_file_is_current(pgstore *p, const char *path, int64_t size, int64_t mtime);
bool pgstore_put_file(pgstore *p, const store_file *f, GError **error);
bool pgstore_counts_get(pgstore *p, store_counts *c, GError **error);
/* The segment matrix from the local copy at copy_path (store-pg-copy.h),
 * refreshed with the rows the server has beyond it, or read whole. */
bool pgstore_load_matrix(pgstore *p, int dim, const char *copy_path, int64_t **ids, float **rows,
                         int64_t *n, GError **error);
/* What the last pgstore_load_matrix fetched, for --timing; NULL before. */
const char *pgstore_copy_note(pgstore *p);
/* The lineage (store.h) of the last pgstore_load_matrix's rows; 0 before. */
uint64_t pgstore_matrix_lineage(pgstore *p);
bool pgstore_get_segment(pgstore *p, int64_t id, store_hit *hit, GError **error);
bool pgstore_foreach_segment(pgstore *p, int dim, store_segment_fn fn, void *data, GError **error);
bool pgstore_foreach_file(pgstore *p, store_file_fn fn, void *data, GError **error);
int64_t pgstore_generation(pgstore *p);
bool pgstore_enqueue(pgstore *p, const char *path, const char *uri, int64_t size, int64_t mtime,
                     bool *added, GError **error);
int pgstore_claim(pgstore *p, int lease, int max_attempts, store_claim *c, bool *busy,
                  GError **error);
bool pgstore_fail(pgstore *p, int64_t id, int max_attempts, const char *reason, GError **error);
bool pgstore_renew(pgstore *p, int lease, GError **error);
int pgstore_reconnect(pgstore *p);
bool pgstore_status(pgstore *p, FILE *out, GError **error);

#endif
