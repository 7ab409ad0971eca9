/* store.c — the index's SQLite schema and every statement on it; an index
 * named by a postgresql:// URI goes to store-pg.c instead. */
#include "store.h"
#ifdef HAVE_LIBPQ
#include "store-pg.h"
#endif

#include <sqlite3.h>
#include <string.h>

struct store {
  sqlite3 *db;
  char *path, *cache_base;
#ifdef HAVE_LIBPQ
  pgstore *pg;
#endif
};

/* Hands a call on a PostgreSQL index to store-pg.c. */
#ifdef HAVE_LIBPQ
#define PG_CALL(call)                                                                              \
  do {                                                                                             \
    if (s->pg)                                                                                     \
      return call;                                                                                 \
  } while (0)
#else
#define PG_CALL(call)                                                                              \
  do {                                                                                             \
  } while (0)
#endif

#define STORE_ERROR g_quark_from_static_string("clip-index-store")

static const char schema_sql[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE files ("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT NOT NULL UNIQUE,"
    "  uri TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  duration REAL NOT NULL,"
    "  width INTEGER NOT NULL,"
    "  height INTEGER NOT NULL,"
    "  decode TEXT NOT NULL,"
    "  indexed_at INTEGER NOT NULL);"
    "CREATE TABLE segments ("
    "  id INTEGER PRIMARY KEY,"
    "  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,"
    "  start REAL NOT NULL,"
    "  end REAL NOT NULL,"
    "  samples INTEGER NOT NULL,"
    "  embedding BLOB NOT NULL,"
    "  thumbnail BLOB);"
    "CREATE INDEX segments_file ON segments(file_id);"
    "CREATE TABLE samples ("
    "  id INTEGER PRIMARY KEY,"
    "  segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,"
    "  time REAL NOT NULL,"
    "  duration REAL NOT NULL,"
    "  embedding BLOB NOT NULL);"
    "CREATE INDEX samples_segment ON samples(segment_id);";

static bool
fail(store *s, GError **error, const char *what)
{
  g_set_error(error, STORE_ERROR, 1, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
  return false;
}

static bool
exec(store *s, const char *sql, GError **error)
{
  char *msg = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    g_set_error(error, STORE_ERROR, 1, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return false;
  }
  return true;
}

static int
user_version(store *s)
{
  sqlite3_stmt *st;
  int v = -1;
  if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
    return -1;
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

store *
store_open(const char *path, bool create, GError **error)
{
  store *s = g_new0(store, 1);
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  int version;

  if (g_str_has_prefix(path, "postgresql://") || g_str_has_prefix(path, "postgres://")) {
#ifdef HAVE_LIBPQ
    if (!(s->pg = pgstore_open(path, create, error)))
      goto fail;
    char *masked = pgstore_mask_uri(path);
    char *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, masked, -1);
    char *dir = g_build_filename(g_get_user_cache_dir(), "clipfilter", NULL);
    g_mkdir_with_parents(dir, 0700);
    s->cache_base = g_strdup_printf("%s/index-%s", dir, hash);
    g_free(dir);
    g_free(hash);
    g_free(masked);
    return s;
#else
    g_set_error(error, STORE_ERROR, 1, "PostgreSQL index: clip-index was built without libpq");
    goto fail;
#endif
  }
  s->path = g_strdup(path);
  if (!create && !g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_set_error(error, STORE_ERROR, 1, "%s: no such index", path);
    goto fail;
  }
  if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
    fail(s, error, "cannot open");
    goto fail;
  }
  /* Readers (search) never block on a writer (add) in WAL mode; a second
   * writer waits for the first instead of failing at once. */
  sqlite3_busy_timeout(s->db, 10000);
  if (!exec(s, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
            error))
    goto fail;
  version = user_version(s);
  if (version < 0) {
    g_set_error(error, STORE_ERROR, 1, "%s: not an SQLite index (%s)", path, sqlite3_errmsg(s->db));
    goto fail;
  }
  if (version == 0) {
    sqlite3_stmt *st;
    bool empty = false;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL)
        == SQLITE_OK) {
      empty = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
      sqlite3_finalize(st);
    }
    if (!empty) {
      g_set_error(error, STORE_ERROR, 1,
                  "%s: an SQLite database that is not a clip-index index (user_version 0 "
                  "and tables present)",
                  path);
      goto fail;
    }
    if (!create) {
      g_set_error(error, STORE_ERROR, 1, "%s: empty index (run clip-index add first)", path);
      goto fail;
    }
    char *sql = g_strdup_printf("BEGIN IMMEDIATE; %s PRAGMA user_version=%d; COMMIT;", schema_sql,
                                STORE_SCHEMA_VERSION);
    bool ok = exec(s, sql, error);
    g_free(sql);
    if (!ok)
      goto fail;
  } else if (version != STORE_SCHEMA_VERSION) {
    g_set_error(error, STORE_ERROR, 1,
                "%s: index schema version %d, this clip-index reads version %d", path, version,
                STORE_SCHEMA_VERSION);
    goto fail;
  }
  return s;
fail:
  store_close(s);
  return NULL;
}

void
store_close(store *s)
{
  if (!s)
    return;
#ifdef HAVE_LIBPQ
  pgstore_close(s->pg);
#endif
  sqlite3_close(s->db);
  g_free(s->path);
  g_free(s->cache_base);
  g_free(s);
}

static char *
meta_get(store *s, const char *key)
{
  sqlite3_stmt *st;
  char *v = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW)
    v = g_strdup((const char *) sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

static bool
meta_set(store *s, const char *key, const char *value, GError **error)
{
  sqlite3_stmt *st;
  bool ok;
  if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", -1, &st,
                         NULL)
      != SQLITE_OK)
    return fail(s, error, "meta");
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
  ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_finalize(st);
  return ok ? true : fail(s, error, "meta");
}

/* The model's keys in meta, one owner for both backends. */
static char *
meta_value(store *s, const char *key)
{
#ifdef HAVE_LIBPQ
  if (s->pg)
    return pgstore_meta_get(s->pg, key);
#endif
  return meta_get(s, key);
}

bool
store_get_model(store *s, store_model *m, GError **error)
{
  char *dim;
  (void) error;
  memset(m, 0, sizeof *m);
  m->model = meta_value(s, "model");
  m->model_path = meta_value(s, "model_path");
  dim = meta_value(s, "embed_dim");
  m->embed_dim = dim ? atoi(dim) : 0;
  g_free(dim);
  return m->model != NULL;
}

bool
store_set_model(store *s, const store_model *m, GError **error)
{
  char dim[32];
  g_snprintf(dim, sizeof dim, "%d", m->embed_dim);
  const char *const kv[] = { "model",     m->model, "model_path",     m->model_path,
                             "embed_dim", dim,      "embedding_type", "f32" };
  const int n = G_N_ELEMENTS(kv) / 2;
  PG_CALL(pgstore_meta_set(s->pg, kv, n, error));
  if (!exec(s, "BEGIN IMMEDIATE", error))
    return false;
  for (int i = 0; i < n; i++)
    if (!meta_set(s, kv[2 * i], kv[2 * i + 1], error)) {
      exec(s, "ROLLBACK", NULL);
      return false;
    }
  return exec(s, "COMMIT", error);
}

void
store_model_clear(store_model *m)
{
  g_clear_pointer(&m->model, g_free);
  g_clear_pointer(&m->model_path, g_free);
}

bool
store_file_is_current(store *s, const char *path, int64_t size, int64_t mtime)
{
  PG_CALL(pgstore_file_is_current(s->pg, path, size, mtime));
  sqlite3_stmt *st;
  bool current = false;
  if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM files WHERE path=? AND size=? AND mtime=?", -1, &st,
                         NULL)
      != SQLITE_OK)
    return false;
  sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, size);
  sqlite3_bind_int64(st, 3, mtime);
  current = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  return current;
}

bool
store_put_file(store *s, const store_file *f, GError **error)
{
  PG_CALL(pgstore_put_file(s->pg, f, error));
  sqlite3_stmt *del = NULL, *file = NULL, *seg = NULL, *smp = NULL;
  int64_t file_id;
  int64_t *seg_ids = NULL;
  size_t dim_bytes;
  char *gen;

  if (!exec(s, "BEGIN IMMEDIATE", error))
    return false;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM files WHERE path=?", -1, &del, NULL) != SQLITE_OK
      || sqlite3_prepare_v2(s->db,
                            "INSERT INTO files(path, uri, size, mtime, duration, width, height, "
                            "decode, indexed_at) VALUES (?,?,?,?,?,?,?,?,strftime('%s','now'))",
                            -1, &file, NULL)
             != SQLITE_OK
      || sqlite3_prepare_v2(s->db,
                            "INSERT INTO segments(file_id, start, end, samples, embedding, "
                            "thumbnail) VALUES (?,?,?,?,?,?)",
                            -1, &seg, NULL)
             != SQLITE_OK
      || sqlite3_prepare_v2(s->db,
                            "INSERT INTO samples(segment_id, time, duration, embedding) "
                            "VALUES (?,?,?,?)",
                            -1, &smp, NULL)
             != SQLITE_OK)
    goto fail;

  sqlite3_bind_text(del, 1, f->path, -1, SQLITE_STATIC);
  if (sqlite3_step(del) != SQLITE_DONE)
    goto fail;
  sqlite3_bind_text(file, 1, f->path, -1, SQLITE_STATIC);
  sqlite3_bind_text(file, 2, f->uri, -1, SQLITE_STATIC);
  sqlite3_bind_int64(file, 3, f->size);
  sqlite3_bind_int64(file, 4, f->mtime);
  sqlite3_bind_double(file, 5, f->duration);
  sqlite3_bind_int(file, 6, f->width);
  sqlite3_bind_int(file, 7, f->height);
  sqlite3_bind_text(file, 8, f->decode, -1, SQLITE_STATIC);
  if (sqlite3_step(file) != SQLITE_DONE)
    goto fail;
  file_id = sqlite3_last_insert_rowid(s->db);

  {
    store_model m;
    store_get_model(s, &m, NULL);
    dim_bytes = (size_t) m.embed_dim * sizeof(float);
    store_model_clear(&m);
  }
  seg_ids = g_new0(int64_t, f->segments->len + 1);
  for (guint i = 0; i < f->segments->len; i++) {
    const store_segment *g = &g_array_index(f->segments, store_segment, i);
    sqlite3_reset(seg);
    sqlite3_bind_int64(seg, 1, file_id);
    sqlite3_bind_double(seg, 2, g->start);
    sqlite3_bind_double(seg, 3, g->end);
    sqlite3_bind_int(seg, 4, g->n_samples);
    sqlite3_bind_blob(seg, 5, g->embedding, (int) dim_bytes, SQLITE_STATIC);
    if (g->thumbnail) {
      gsize n;
      const void *p = g_bytes_get_data(g->thumbnail, &n);
      sqlite3_bind_blob(seg, 6, p, (int) n, SQLITE_STATIC);
    } else {
      sqlite3_bind_null(seg, 6);
    }
    if (sqlite3_step(seg) != SQLITE_DONE)
      goto fail;
    seg_ids[i] = sqlite3_last_insert_rowid(s->db);
  }
  for (guint i = 0; i < f->samples->len; i++) {
    const store_sample *p = &g_array_index(f->samples, store_sample, i);
    sqlite3_reset(smp);
    sqlite3_bind_int64(smp, 1, seg_ids[p->segment]);
    sqlite3_bind_double(smp, 2, p->time);
    sqlite3_bind_double(smp, 3, p->duration);
    sqlite3_bind_blob(smp, 4, p->embedding, (int) dim_bytes, SQLITE_STATIC);
    if (sqlite3_step(smp) != SQLITE_DONE)
      goto fail;
  }
  gen = g_strdup_printf("%" G_GINT64_FORMAT, store_generation(s) + 1);
  if (!meta_set(s, "generation", gen, error)) {
    g_free(gen);
    goto fail_quiet;
  }
  g_free(gen);
  if (!exec(s, "COMMIT", error))
    goto fail_quiet;
  sqlite3_finalize(del);
  sqlite3_finalize(file);
  sqlite3_finalize(seg);
  sqlite3_finalize(smp);
  g_free(seg_ids);
  return true;

fail:
  fail(s, error, f->path);
fail_quiet:
  sqlite3_finalize(del);
  sqlite3_finalize(file);
  sqlite3_finalize(seg);
  sqlite3_finalize(smp);
  g_free(seg_ids);
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return false;
}

const char *
store_cache_base(store *s)
{
  return s->cache_base ? s->cache_base : s->path;
}

const char *
store_copy_note(store *s)
{
  PG_CALL(pgstore_copy_note(s->pg));
  return NULL;
}

uint64_t
store_matrix_lineage(store *s)
{
  PG_CALL(pgstore_matrix_lineage(s->pg));
  return 0;
}

int64_t
store_generation(store *s)
{
  PG_CALL(pgstore_generation(s->pg));
  char *v = meta_get(s, "generation");
  int64_t g = v ? g_ascii_strtoll(v, NULL, 10) : 0;
  g_free(v);
  return g;
}

bool
store_counts_get(store *s, store_counts *c, GError **error)
{
  PG_CALL(pgstore_counts_get(s->pg, c, error));
  sqlite3_stmt *st;
  bool ok;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM segments), "
                         "(SELECT count(*) FROM samples), "
                         "(SELECT coalesce(sum(duration), 0) FROM files)",
                         -1, &st, NULL)
      != SQLITE_OK)
    return fail(s, error, "counts");
  ok = sqlite3_step(st) == SQLITE_ROW;
  if (ok) {
    c->files = sqlite3_column_int64(st, 0);
    c->segments = sqlite3_column_int64(st, 1);
    c->samples = sqlite3_column_int64(st, 2);
    c->seconds = sqlite3_column_double(st, 3);
  }
  sqlite3_finalize(st);
  return ok ? true : fail(s, error, "counts");
}

bool
store_load_matrix(store *s, int dim, int64_t **ids_out, float **rows_out, int64_t *n_out,
                  GError **error)
{
#ifdef HAVE_LIBPQ
  if (s->pg) {
    char *copy = g_strconcat(s->cache_base, ".rows", NULL);
    bool ok = pgstore_load_matrix(s->pg, dim, copy, ids_out, rows_out, n_out, error);
    g_free(copy);
    return ok;
  }
#endif
  sqlite3_stmt *st;
  int64_t n = 0, cap = 1024;
  int64_t *ids = g_new(int64_t, cap);
  float *rows = g_new(float, (size_t) cap *dim);
  int rc;

  if (sqlite3_prepare_v2(s->db, "SELECT id, embedding FROM segments ORDER BY id", -1, &st, NULL)
      != SQLITE_OK) {
    g_free(ids);
    g_free(rows);
    return fail(s, error, "segments");
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st, 1) != (int) (dim * sizeof(float))) {
      g_set_error(error, STORE_ERROR, 1,
                  "%s: segment %" G_GINT64_FORMAT " has a %d-byte embedding, expected %d", s->path,
                  (int64_t) sqlite3_column_int64(st, 0), sqlite3_column_bytes(st, 1),
                  (int) (dim * sizeof(float)));
      goto fail;
    }
    if (n == cap) {
      cap *= 2;
      ids = g_renew(int64_t, ids, cap);
      rows = g_renew(float, rows, (size_t) cap *dim);
    }
    ids[n] = sqlite3_column_int64(st, 0);
    memcpy(rows + (size_t) n * dim, sqlite3_column_blob(st, 1), dim * sizeof(float));
    n++;
  }
  if (rc != SQLITE_DONE) {
    fail(s, error, "segments");
    goto fail;
  }
  sqlite3_finalize(st);
  *ids_out = ids;
  *rows_out = rows;
  *n_out = n;
  return true;
fail:
  sqlite3_finalize(st);
  g_free(ids);
  g_free(rows);
  return false;
}

bool
store_get_segment(store *s, int64_t id, store_hit *hit, GError **error)
{
  PG_CALL(pgstore_get_segment(s->pg, id, hit, error));
  sqlite3_stmt *st;
  bool ok;
  memset(hit, 0, sizeof *hit);
  if (sqlite3_prepare_v2(s->db,
                         "SELECT f.path, s.start, s.end, s.samples, s.thumbnail FROM segments s "
                         "JOIN files f ON f.id = s.file_id WHERE s.id = ?",
                         -1, &st, NULL)
      != SQLITE_OK)
    return fail(s, error, "segment");
  sqlite3_bind_int64(st, 1, id);
  ok = sqlite3_step(st) == SQLITE_ROW;
  if (ok) {
    hit->path = g_strdup((const char *) sqlite3_column_text(st, 0));
    hit->start = sqlite3_column_double(st, 1);
    hit->end = sqlite3_column_double(st, 2);
    hit->n_samples = sqlite3_column_int(st, 3);
    if (sqlite3_column_type(st, 4) == SQLITE_BLOB)
      hit->thumbnail = g_bytes_new(sqlite3_column_blob(st, 4), sqlite3_column_bytes(st, 4));
  } else {
    g_set_error(error, STORE_ERROR, 1, "%s: no segment %" G_GINT64_FORMAT, s->path, id);
  }
  sqlite3_finalize(st);
  return ok;
}

void
store_hit_clear(store_hit *hit)
{
  g_clear_pointer(&hit->path, g_free);
  g_clear_pointer(&hit->thumbnail, g_bytes_unref);
}

bool
store_foreach_segment(store *s, int dim, store_segment_fn fn, void *data, GError **error)
{
  PG_CALL(pgstore_foreach_segment(s->pg, dim, fn, data, error));
  sqlite3_stmt *st;
  int rc;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT s.id, f.path, s.start, s.end, s.samples, s.embedding "
                         "FROM segments s JOIN files f ON f.id = s.file_id ORDER BY s.id",
                         -1, &st, NULL)
      != SQLITE_OK)
    return fail(s, error, "segments");
  float *row = g_new(float, dim); /* BLOBs carry no alignment guarantee */
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st, 5) != (int) (dim * sizeof(float))) {
      g_set_error(error, STORE_ERROR, 1,
                  "%s: segment %" G_GINT64_FORMAT " has an embedding of the wrong size", s->path,
                  (int64_t) sqlite3_column_int64(st, 0));
      sqlite3_finalize(st);
      g_free(row);
      return false;
    }
    memcpy(row, sqlite3_column_blob(st, 5), dim * sizeof(float));
    if (!fn(sqlite3_column_int64(st, 0), (const char *) sqlite3_column_text(st, 1),
            sqlite3_column_double(st, 2), sqlite3_column_double(st, 3), sqlite3_column_int(st, 4),
            row, dim, data)) {
      sqlite3_finalize(st);
      g_free(row);
      g_set_error(error, STORE_ERROR, 1, "export stopped: write error");
      return false;
    }
  }
  sqlite3_finalize(st);
  g_free(row);
  return rc == SQLITE_DONE ? true : fail(s, error, "segments");
}

bool
store_foreach_file(store *s, store_file_fn fn, void *data, GError **error)
{
  PG_CALL(pgstore_foreach_file(s->pg, fn, data, error));
  sqlite3_stmt *st;
  int rc;
  if (sqlite3_prepare_v2(s->db, "SELECT id, path, uri, size, mtime FROM files ORDER BY id", -1, &st,
                         NULL)
      != SQLITE_OK)
    return fail(s, error, "files");
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    fn(sqlite3_column_int64(st, 0), (const char *) sqlite3_column_text(st, 1),
       (const char *) sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3),
       sqlite3_column_int64(st, 4), data);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? true : fail(s, error, "files");
}

/* ---- the work queue (PostgreSQL only) -------------------------------------- */

static bool
not_shared(store *s, GError **error)
{
  g_set_error(error, STORE_ERROR, 1,
              "%s: a work queue needs a shared index (a postgresql:// URI), not an SQLite file",
              s->path);
  return false;
}

bool
store_is_shared(store *s)
{
  PG_CALL(true);
  (void) s;
  return false;
}

bool
store_enqueue(store *s, const char *path, const char *uri, int64_t size, int64_t mtime, bool *added,
              GError **error)
{
  PG_CALL(pgstore_enqueue(s->pg, path, uri, size, mtime, added, error));
  (void) path, (void) uri, (void) size, (void) mtime, (void) added;
  return not_shared(s, error);
}

int
store_claim_file(store *s, int lease, int max_attempts, store_claim *c, bool *busy, GError **error)
{
  PG_CALL(pgstore_claim(s->pg, lease, max_attempts, c, busy, error));
  (void) lease, (void) max_attempts, (void) c, (void) busy;
  not_shared(s, error);
  return -1;
}

bool
store_fail_file(store *s, int64_t queue_id, int max_attempts, const char *reason, GError **error)
{
  PG_CALL(pgstore_fail(s->pg, queue_id, max_attempts, reason, error));
  (void) queue_id, (void) max_attempts, (void) reason;
  return not_shared(s, error);
}

bool
store_renew_leases(store *s, int lease, GError **error)
{
  PG_CALL(pgstore_renew(s->pg, lease, error));
  (void) lease;
  return not_shared(s, error);
}

int
store_reconnect(store *s)
{
  PG_CALL(pgstore_reconnect(s->pg));
  (void) s;
  return 0;
}

bool
store_print_status(store *s, FILE *out, GError **error)
{
  PG_CALL(pgstore_status(s->pg, out, error));
  (void) out;
  return not_shared(s, error);
}
