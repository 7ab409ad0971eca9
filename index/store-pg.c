/* store-pg.c — the index schema on PostgreSQL and every statement on it.
 *
 * The same tables as the SQLite index. Paths and URIs are bytea: a file name
 * is a byte string (quotes, newlines, bytes that are not UTF-8), and a text
 * column in a UTF8 database refuses invalid UTF-8, so only bytea keeps every
 * name intact without an escaping convention of our own. Every statement is
 * PQexecParams with parameters; results come back in binary so embeddings,
 * thumbnails and names need no decoding. */
#include "store-pg.h"
#include "store-pg-copy.h"

#include <libpq-fe.h>
#include <string.h>
#include <unistd.h>

struct pgstore {
  PGconn *conn;
  char *name;              /* the URI with the password masked */
  char host[256], pid[16]; /* this worker, as the queue records it */
  char *copy_note;         /* how the last pgstore_load_matrix got its rows */
  uint64_t lineage;        /* and what they descend from (store.h) */
};

#define STORE_ERROR g_quark_from_static_string("clip-index-store")
#define MAX_PARAMS 10
/* Advisory locks: schema creation; segment writers (shared) against the
 * search that fixes a watermark (exclusive). */
#define LOCK_SCHEMA 7236052
#define LOCK_SEGMENTS 7236053

/* Parameters of one statement: numbers as text (exact: %.17g for doubles),
 * byte strings in binary. */
typedef struct {
  int n;
  const char *val[MAX_PARAMS];
  int len[MAX_PARAMS], fmt[MAX_PARAMS];
  char buf[MAX_PARAMS][G_ASCII_DTOSTR_BUF_SIZE];
} params;

static void
p_bytes(params *p, const void *data, size_t n)
{
  p->val[p->n] = data ? data : "";
  p->len[p->n] = (int) n;
  p->fmt[p->n++] = 1;
}

static void
p_str(params *p, const char *s)
{
  p_bytes(p, s, strlen(s));
}

static void
p_i64(params *p, int64_t v)
{
  g_snprintf(p->buf[p->n], sizeof p->buf[0], "%" G_GINT64_FORMAT, v);
  p->val[p->n] = p->buf[p->n];
  p->len[p->n] = 0;
  p->fmt[p->n++] = 0;
}

static void
p_f64(params *p, double v)
{
  g_snprintf(p->buf[p->n], sizeof p->buf[0], "%.17g", v);
  p->val[p->n] = p->buf[p->n];
  p->len[p->n] = 0;
  p->fmt[p->n++] = 0;
}

static bool
fail(pgstore *s, GError **error, const char *what)
{
  char *m = g_strchomp(g_strdup(PQerrorMessage(s->conn)));
  g_set_error(error, STORE_ERROR, 1, "%s: %s: %s", s->name, what, m);
  g_free(m);
  return false;
}

/* A failed result's message, naming the index and what was done. */
static void
result_error(pgstore *s, const PGresult *r, GError **error, const char *what)
{
  char *m = g_strchomp(g_strdup(PQresultErrorMessage(r)));
  if (error && !*error)
    g_set_error(error, STORE_ERROR, 1, "%s: %s: %s", s->name, what, m);
  g_free(m);
}

/* r when its status is ok, else NULL with the error set (r cleared). */
static PGresult *
checked(pgstore *s, PGresult *r, GError **error, const char *what)
{
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
    return r;
  result_error(s, r, error, what);
  PQclear(r);
  return NULL;
}

/* Runs sql with parameters; results are binary. */
static PGresult *
run(pgstore *s, const char *sql, const params *p, GError **error, const char *what)
{
  return checked(s,
                 PQexecParams(s->conn, sql, p ? p->n : 0, NULL, p ? p->val : NULL,
                              p ? p->len : NULL, p ? p->fmt : NULL, 1),
                 error, what);
}

/* Constant SQL without parameters (may hold several statements). */
static bool
exec(pgstore *s, const char *sql, GError **error, const char *what)
{
  PGresult *r = checked(s, PQexec(s->conn, sql), error, what);
  PQclear(r);
  return r != NULL;
}

static int64_t
get_i64(const PGresult *r, int row, int col)
{
  uint64_t v;
  memcpy(&v, PQgetvalue(r, row, col), 8);
  return (int64_t) GUINT64_FROM_BE(v);
}

static int
get_i32(const PGresult *r, int row, int col)
{
  uint32_t v;
  memcpy(&v, PQgetvalue(r, row, col), 4);
  return (int32_t) GUINT32_FROM_BE(v);
}

static double
get_f64(const PGresult *r, int row, int col)
{
  uint64_t v;
  double d;
  memcpy(&v, PQgetvalue(r, row, col), 8);
  v = GUINT64_FROM_BE(v);
  memcpy(&d, &v, 8);
  return d;
}

static char *
get_str(const PGresult *r, int row, int col)
{
  return g_strndup(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}

bool
pgstore_is_uri(const char *name)
{
  return g_str_has_prefix(name, "postgresql://") || g_str_has_prefix(name, "postgres://");
}

char *
pgstore_mask_uri(const char *uri)
{
  const char *host = strstr(uri, "://");
  const char *at, *colon;
  if (!host)
    return g_strdup(uri);
  host += 3;
  at = strchr(host, '@');
  if (at && (!strchr(host, '/') || at < strchr(host, '/'))
      && (colon = memchr(host, ':', at - host)))
    return g_strdup_printf("%.*s:***%s", (int) (colon - uri), uri, at);
  /* password=... in the query string */
  const char *pw = strstr(uri, "password=");
  if (pw) {
    const char *end = strchr(pw, '&');
    return g_strdup_printf("%.*spassword=***%s", (int) (pw - uri), uri, end ? end : "");
  }
  return g_strdup(uri);
}

static const char schema_sql[] =
    "CREATE TABLE schema_version (version integer NOT NULL);"
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);"
    "CREATE SEQUENCE generation;"
    "CREATE TABLE files ("
    "  id bigserial PRIMARY KEY,"
    "  path bytea NOT NULL UNIQUE,"
    "  uri bytea NOT NULL,"
    "  size bigint NOT NULL,"
    "  mtime bigint NOT NULL,"
    "  duration double precision NOT NULL,"
    "  width integer NOT NULL,"
    "  height integer NOT NULL,"
    "  decode text NOT NULL,"
    "  indexed_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE segments ("
    "  id bigserial PRIMARY KEY,"
    "  file_id bigint NOT NULL REFERENCES files(id) ON DELETE CASCADE,"
    "  start double precision NOT NULL,"
    "  \"end\" double precision NOT NULL,"
    "  samples integer NOT NULL,"
    "  embedding bytea NOT NULL,"
    "  thumbnail bytea);"
    "CREATE INDEX segments_file ON segments(file_id);"
    "CREATE TABLE samples ("
    "  id bigserial PRIMARY KEY,"
    "  segment_id bigint NOT NULL REFERENCES segments(id) ON DELETE CASCADE,"
    "  time double precision NOT NULL,"
    "  duration double precision NOT NULL,"
    "  embedding bytea NOT NULL);"
    "CREATE INDEX samples_segment ON samples(segment_id);"
    /* The work queue: a worker owns a running entry while lease_until is in
     * the future; its heartbeat moves lease_until on. */
    "CREATE TABLE queue ("
    "  id bigserial PRIMARY KEY,"
    "  path bytea NOT NULL UNIQUE,"
    "  uri bytea NOT NULL,"
    "  size bigint NOT NULL,"
    "  mtime bigint NOT NULL,"
    "  state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','running','done','failed')),"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  host text, pid integer,"
    "  lease_until timestamptz,"
    "  error text,"
    "  enqueued_at timestamptz NOT NULL DEFAULT now(),"
    "  started_at timestamptz, finished_at timestamptz);"
    "CREATE INDEX queue_state ON queue(state, id);";

/* What the local copy of the embeddings (store-pg-copy.h) relies on: an
 * identity of this index, and a count of the statements that removed or
 * changed segments. The trigger runs on the server, so any writer (a
 * replaced file's cascade, an administrator's DELETE) bumps the count, and
 * it takes the writers' lock before the rows change so that the search
 * fixing its watermark sees the count and the rows of one moment; it also
 * moves the generation, which tells search that its matrix is stale. Added to
 * an index of the first version when it is next opened. */
static const char changes_sql[] =
    "CREATE SEQUENCE segment_changes;"
    "CREATE FUNCTION segment_changed() RETURNS trigger LANGUAGE plpgsql AS "
    "$$BEGIN PERFORM pg_advisory_xact_lock_shared(" G_STRINGIFY(
        LOCK_SEGMENTS) "); "
                       "PERFORM nextval('segment_changes'); PERFORM nextval('generation'); RETURN "
                       "NULL; END$$;"
                       "CREATE TRIGGER segments_changed BEFORE UPDATE OR DELETE OR TRUNCATE ON "
                       "segments "
                       "FOR EACH STATEMENT EXECUTE FUNCTION segment_changed();"
                       "INSERT INTO meta(key, value) VALUES ('index_id', gen_random_uuid()::text);";

/* Creates the schema once: concurrent first runs (many workers) serialize
 * on an advisory lock and all but the first find the tables made. */
static bool
check_schema(pgstore *s, bool create, GError **error)
{
  PGresult *r;
  bool ok = false;
  int version = -1;

  if (!exec(s, "BEGIN", error, "begin")
      || !exec(s, "SELECT pg_advisory_xact_lock(" G_STRINGIFY(LOCK_SCHEMA) ")", error,
               "schema lock")
      || !(r = run(s, "SELECT to_regclass('schema_version') IS NOT NULL", NULL, error, "schema")))
    goto out;
  bool exists = PQgetvalue(r, 0, 0)[0] != 0;
  PQclear(r);
  if (exists) {
    if (!(r = run(s, "SELECT max(version) FROM schema_version", NULL, error, "schema version")))
      goto out;
    version = PQgetisnull(r, 0, 0) ? 0 : get_i32(r, 0, 0);
    PQclear(r);
    if (version != STORE_SCHEMA_VERSION) {
      g_set_error(error, STORE_ERROR, 1,
                  "%s: index schema version %d, this clip-index reads version %d", s->name, version,
                  STORE_SCHEMA_VERSION);
      goto out;
    }
    if (!(r = run(s, "SELECT to_regclass('segment_changes') IS NULL", NULL, error, "schema")))
      goto out;
    bool old = PQgetvalue(r, 0, 0)[0] != 0;
    PQclear(r);
    if (old && !exec(s, changes_sql, create ? error : NULL, "add the change count")) {
      if (create)
        goto out;
      /* A user without the right to add them searches without the copy. */
      PQclear(PQexec(s->conn, "ROLLBACK"));
      return true;
    }
  } else if (!create) {
    g_set_error(error, STORE_ERROR, 1, "%s: empty index (run clip-index add first)", s->name);
    goto out;
  } else {
    params p = { 0 };
    p_i64(&p, STORE_SCHEMA_VERSION);
    if (!exec(s, schema_sql, error, "create schema")
        || !exec(s, changes_sql, error, "create schema")
        || !(r = run(s, "INSERT INTO schema_version VALUES ($1::integer)", &p, error, "schema")))
      goto out;
    PQclear(r);
  }
  ok = exec(s, "COMMIT", error, "commit");
out:
  if (!ok)
    PQclear(PQexec(s->conn, "ROLLBACK"));
  return ok;
}

pgstore *
pgstore_open(const char *uri, bool create, GError **error)
{
  pgstore *s = g_new0(pgstore, 1);
  s->name = pgstore_mask_uri(uri);
  /* libpq finds the password in the URI, PGPASSWORD, ~/.pgpass or a service
   * file; its messages never contain it. */
  s->conn = PQconnectdb(uri);
  if (PQstatus(s->conn) != CONNECTION_OK) {
    fail(s, error, "cannot connect");
    goto fail;
  }
  PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
  g_strlcpy(s->host, g_get_host_name(), sizeof s->host);
  g_snprintf(s->pid, sizeof s->pid, "%d", (int) getpid());
  if (!check_schema(s, create, error))
    goto fail;
  return s;
fail:
  pgstore_close(s);
  return NULL;
}

void
pgstore_close(pgstore *s)
{
  if (!s)
    return;
  PQfinish(s->conn);
  g_free(s->name);
  g_free(s->copy_note);
  g_free(s);
}

char *
pgstore_meta_get(pgstore *s, const char *key)
{
  params p = { 0 };
  PGresult *r;
  char *v = NULL;
  p_str(&p, key);
  if (!(r = run(s, "SELECT value FROM meta WHERE key = convert_from($1::bytea, 'UTF8')", &p, NULL,
                "meta")))
    return NULL;
  if (PQntuples(r) == 1)
    v = get_str(r, 0, 0);
  PQclear(r);
  return v;
}

static bool
meta_set(pgstore *s, const char *key, const char *value, GError **error)
{
  params p = { 0 };
  PGresult *r;
  p_str(&p, key);
  p_str(&p, value);
  r = run(s,
          "INSERT INTO meta(key, value) VALUES (convert_from($1::bytea, 'UTF8'), "
          "convert_from($2::bytea, 'UTF8')) ON CONFLICT (key) DO UPDATE SET value = "
          "EXCLUDED.value",
          &p, error, "meta");
  PQclear(r);
  return r != NULL;
}

bool
pgstore_meta_set(pgstore *s, const char *const *kv, int n, GError **error)
{
  if (!exec(s, "BEGIN", error, "begin"))
    return false;
  for (int i = 0; i < n; i++)
    if (!meta_set(s, kv[2 * i], kv[2 * i + 1], error))
      goto fail;
  if (exec(s, "COMMIT", error, "commit"))
    return true;
fail:
  PQclear(PQexec(s->conn, "ROLLBACK"));
  return false;
}

bool
pgstore_file_is_current(pgstore *s, const char *path, int64_t size, int64_t mtime)
{
  params p = { 0 };
  PGresult *r;
  bool current;
  p_str(&p, path);
  p_i64(&p, size);
  p_i64(&p, mtime);
  if (!(r = run(s, "SELECT 1 FROM files WHERE path = $1::bytea AND size = $2 AND mtime = $3", &p,
                NULL, "files")))
    return false;
  current = PQntuples(r) == 1;
  PQclear(r);
  return current;
}

/* ---- binary COPY (the format of PostgreSQL's COPY ... (FORMAT binary)) -- */

typedef struct {
  pgstore *s;
  GByteArray *buf;
  const char *what;
  bool ok;
} copy_in;

static void
copy_put(copy_in *c, const void *data, size_t n)
{
  g_byte_array_append(c->buf, data, n);
  /* Sent in pieces of about 1 MB: memory stays bounded whatever the file. */
  if (c->buf->len >= (1u << 20)) {
    c->ok = c->ok && PQputCopyData(c->s->conn, (const char *) c->buf->data, c->buf->len) == 1;
    g_byte_array_set_size(c->buf, 0);
  }
}

static void
copy_be(copy_in *c, uint64_t v, int bytes)
{
  unsigned char b[8];
  for (int i = 0; i < bytes; i++)
    b[i] = (unsigned char) (v >> (8 * (bytes - 1 - i)));
  copy_put(c, b, bytes);
}

/* Each field: its length (int32, -1 for NULL), then its bytes, big-endian. */
static void
copy_row(copy_in *c, int fields)
{
  copy_be(c, fields, 2);
}

static void
copy_i64(copy_in *c, int64_t v)
{
  copy_be(c, 8, 4);
  copy_be(c, (uint64_t) v, 8);
}

static void
copy_i32(copy_in *c, int32_t v)
{
  copy_be(c, 4, 4);
  copy_be(c, (uint32_t) v, 4);
}

static void
copy_f64(copy_in *c, double v)
{
  uint64_t u;
  memcpy(&u, &v, 8);
  copy_be(c, 8, 4);
  copy_be(c, u, 8);
}

static void
copy_bytes(copy_in *c, const void *data, int64_t n)
{
  copy_be(c, (uint32_t) (int32_t) n, 4);
  if (n > 0)
    copy_put(c, data, n);
}

static bool
copy_begin(pgstore *s, copy_in *c, const char *sql, GError **error, const char *what)
{
  static const char header[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
  PGresult *r = PQexec(s->conn, sql);
  bool ok = PQresultStatus(r) == PGRES_COPY_IN;
  PQclear(r);
  if (!ok)
    return fail(s, error, what);
  *c = (copy_in){ .s = s, .buf = g_byte_array_new(), .what = what, .ok = true };
  copy_put(c, header, sizeof header - 1); /* signature, flags, no extension */
  return true;
}

static bool
copy_end(copy_in *c, GError **error)
{
  PGresult *r;
  bool ok;
  copy_be(c, 0xffff, 2); /* trailer: a field count of -1 */
  ok = c->ok && PQputCopyData(c->s->conn, (const char *) c->buf->data, c->buf->len) == 1;
  g_byte_array_unref(c->buf);
  ok = PQputCopyEnd(c->s->conn, ok ? NULL : "client error") == 1 && ok;
  /* The COPY's own result, then the end of the command. */
  while ((r = PQgetResult(c->s->conn))) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      result_error(c->s, r, error, c->what);
      ok = false;
    }
    PQclear(r);
  }
  if (!ok && error && !*error)
    fail(c->s, error, c->what);
  return ok;
}

bool
pgstore_put_file(pgstore *s, const store_file *f, GError **error)
{
  params p = { 0 };
  PGresult *r = NULL;
  int64_t file_id, *seg_ids = NULL;
  char *dim = pgstore_meta_get(s, "embed_dim");
  size_t dim_bytes = (size_t) (dim ? atoi(dim) : 0) * sizeof(float);

  g_free(dim);

  /* The shared lock before any segment id is drawn: a search that fixes its
   * watermark under the exclusive lock never passes an id that commits
   * later (store-pg-copy.h). */
  if (!exec(s, "BEGIN", error, "begin")
      || !exec(s, "SELECT pg_advisory_xact_lock_shared(" G_STRINGIFY(LOCK_SEGMENTS) ")", error,
               "segments lock"))
    goto fail;
  p_str(&p, f->path);
  if (!(r = run(s, "DELETE FROM files WHERE path = $1::bytea", &p, error, f->path)))
    goto fail;
  PQclear(r);
  p = (params){ 0 };
  p_str(&p, f->path);
  p_str(&p, f->uri);
  p_i64(&p, f->size);
  p_i64(&p, f->mtime);
  p_f64(&p, f->duration);
  p_i64(&p, f->width);
  p_i64(&p, f->height);
  p_str(&p, f->decode);
  if (!(r = run(s,
                "INSERT INTO files(path, uri, size, mtime, duration, width, height, decode) "
                "VALUES ($1::bytea, $2::bytea, $3, $4, $5, $6, $7, "
                "convert_from($8::bytea, 'UTF8')) RETURNING id",
                &p, error, f->path)))
    goto fail;
  file_id = get_i64(r, 0, 0);
  PQclear(r);

  /* The segment ids first (one statement), so that segments and samples
   * each go in one binary COPY: a file costs a few round trips, not one per
   * row. */
  seg_ids = g_new0(int64_t, f->segments->len + 1);
  p = (params){ 0 };
  p_i64(&p, f->segments->len);
  if (!(r = run(s,
                "SELECT nextval(pg_get_serial_sequence('segments', 'id')) "
                "FROM generate_series(1, $1::integer)",
                &p, error, f->path)))
    goto fail;
  for (guint i = 0; i < f->segments->len; i++)
    seg_ids[i] = get_i64(r, i, 0);
  PQclear(r);
  copy_in c;
  if (!copy_begin(s, &c,
                  "COPY segments(id, file_id, start, \"end\", samples, embedding, thumbnail) "
                  "FROM STDIN (FORMAT binary)",
                  error, f->path))
    goto fail;
  for (guint i = 0; i < f->segments->len; i++) {
    const store_segment *g = &g_array_index(f->segments, store_segment, i);
    gsize n = 0;
    const void *thumb = g->thumbnail ? g_bytes_get_data(g->thumbnail, &n) : NULL;
    copy_row(&c, 7);
    copy_i64(&c, seg_ids[i]);
    copy_i64(&c, file_id);
    copy_f64(&c, g->start);
    copy_f64(&c, g->end);
    copy_i32(&c, g->n_samples);
    copy_bytes(&c, g->embedding, dim_bytes);
    copy_bytes(&c, thumb, g->thumbnail ? (int64_t) n : -1);
  }
  if (!copy_end(&c, error))
    goto fail;
  if (!copy_begin(s, &c,
                  "COPY samples(segment_id, time, duration, embedding) FROM STDIN (FORMAT binary)",
                  error, f->path))
    goto fail;
  for (guint i = 0; i < f->samples->len; i++) {
    const store_sample *q = &g_array_index(f->samples, store_sample, i);
    copy_row(&c, 4);
    copy_i64(&c, seg_ids[q->segment]);
    copy_f64(&c, q->time);
    copy_f64(&c, q->duration);
    copy_bytes(&c, q->embedding, dim_bytes);
  }
  if (!copy_end(&c, error))
    goto fail;
  /* Done in the same transaction as the rows: both or neither. A worker
   * whose lease was taken over finds no entry of its own and rolls back. */
  if (f->queue_id) {
    p = (params){ 0 };
    p_i64(&p, f->queue_id);
    p_str(&p, s->host);
    p_str(&p, s->pid);
    if (!(r = run(s,
                  "UPDATE queue SET state = 'done', finished_at = now(), error = NULL "
                  "WHERE id = $1 AND state = 'running' AND host = convert_from($2::bytea, 'UTF8') "
                  "AND pid = convert_from($3::bytea, 'UTF8')::integer",
                  &p, error, f->path)))
      goto fail;
    bool mine = atoi(PQcmdTuples(r)) == 1;
    PQclear(r);
    if (!mine) {
      g_set_error(error, STORE_ERROR, 2, "%s: lease lost: another worker took the file over",
                  f->path);
      goto fail;
    }
  }
  /* A sequence, not a meta row: concurrent writers never wait on it. */
  if (!exec(s, "SELECT nextval('generation')", error, "generation")
      || !exec(s, "COMMIT", error, "commit"))
    goto fail;
  g_free(seg_ids);
  return true;
fail:
  g_free(seg_ids);
  PQclear(PQexec(s->conn, "ROLLBACK"));
  return false;
}

int64_t
pgstore_generation(pgstore *s)
{
  PGresult *r = run(s, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM generation",
                    NULL, NULL, "generation");
  int64_t g = r && PQntuples(r) == 1 ? get_i64(r, 0, 0) : 0;
  PQclear(r);
  return g;
}

bool
pgstore_counts_get(pgstore *s, store_counts *c, GError **error)
{
  PGresult *r = run(s,
                    "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM segments), "
                    "(SELECT count(*) FROM samples), "
                    "(SELECT coalesce(sum(duration), 0)::double precision FROM files)",
                    NULL, error, "counts");
  if (!r)
    return false;
  c->files = get_i64(r, 0, 0);
  c->segments = get_i64(r, 0, 1);
  c->samples = get_i64(r, 0, 2);
  c->seconds = get_f64(r, 0, 3);
  PQclear(r);
  return true;
}

/* Appends the segments with after < id <= upto to c, row by row
 * (single-row mode): libpq would otherwise hold the whole result, as large
 * as the matrix, beside the copy being built. (A cursor read in FETCHes of
 * 10,000 rows bounds memory too but took 1.6-2.5 times as long for 10^6
 * rows over a Unix socket.) */
static bool
fetch_rows(pgstore *s, pg_copy *c, int64_t after, int64_t upto, GError **error)
{
  params p = { 0 };
  bool ok = true;
  PGresult *r;

  p_i64(&p, after);
  p_i64(&p, upto);
  if (!PQsendQueryParams(
          s->conn, "SELECT id, embedding FROM segments WHERE id > $1 AND id <= $2 ORDER BY id", p.n,
          NULL, p.val, p.len, p.fmt, 1)
      || !PQsetSingleRowMode(s->conn))
    return fail(s, error, "segments");
  /* Every result is read, also after an error, to leave the connection idle. */
  while ((r = PQgetResult(s->conn))) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_SINGLE_TUPLE && ok) {
      int64_t id = get_i64(r, 0, 0);
      if (PQgetlength(r, 0, 1) != (int) (c->dim * sizeof(float))) {
        g_set_error(error, STORE_ERROR, 1,
                    "%s: segment %" G_GINT64_FORMAT " has a %d-byte embedding, expected %d",
                    s->name, id, PQgetlength(r, 0, 1), (int) (c->dim * sizeof(float)));
        ok = false;
      } else {
        pg_copy_append(c, id, (const float *) PQgetvalue(r, 0, 1));
      }
    } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && ok) {
      result_error(s, r, error, "segments");
      ok = false;
    }
    PQclear(r);
  }
  return ok;
}

/* The highest committed segment id and the change count, at one moment:
 * under the exclusive lock no writer is between drawing an id and its
 * commit, so every id at or below *upto is final. Writers wait for this
 * one short transaction only. */
static bool
watermark(pgstore *s, int64_t *upto, int64_t *changes, GError **error)
{
  PGresult *r = NULL;
  if (exec(s, "BEGIN", error, "begin")
      && exec(s, "SET LOCAL lock_timeout = '60s'", error, "lock timeout")
      && exec(s, "SELECT pg_advisory_xact_lock(" G_STRINGIFY(LOCK_SEGMENTS) ")", error,
              "segments lock (writers kept it for 60 s)")
      && (r = run(s,
                  "SELECT coalesce(max(id), 0), (SELECT CASE WHEN is_called THEN last_value "
                  "ELSE 0 END FROM segment_changes) FROM segments",
                  NULL, error, "watermark"))) {
    *upto = get_i64(r, 0, 0);
    *changes = get_i64(r, 0, 1);
    PQclear(r);
    return exec(s, "COMMIT", error, "commit");
  }
  PQclear(PQexec(s->conn, "ROLLBACK"));
  return false;
}

/* FNV-1a, never 0 (which means "no lineage"). */
static uint64_t
fnv1a64(const char *s)
{
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 1099511628211ull;
  return h ? h : 1;
}

bool
pgstore_load_matrix(pgstore *s, int dim, const char *copy_path, int64_t **ids_out, float **rows_out,
                    int64_t *n_out, GError **error)
{
  char *identity = pgstore_meta_get(s, "index_id"), *damaged = NULL;
  int64_t upto = G_MAXINT64, changes = 0, before;
  pg_copy c;
  bool have = false;

  /* Without an identity (an index this user could not add it to) there is
   * no copy: every row is read. */
  if (identity && !watermark(s, &upto, &changes, error)) {
    g_free(identity);
    return false;
  }
  gint64 t0 = g_get_monotonic_time(), t_read = 0, t_fetch, t_write = 0;
  if (identity) {
    have = pg_copy_read(&c, copy_path, dim, identity, &damaged);
    t_read = g_get_monotonic_time() - t0;
    if (damaged)
      g_printerr("clip-index: local copy %s is %s; reading every segment again\n", copy_path,
                 damaged);
    /* Segments removed or replaced since: the copy cannot tell which. */
    if (have && (c.changes != changes || c.watermark > upto)) {
      pg_copy_clear(&c);
      have = false;
    }
  }
  if (!have)
    pg_copy_init(&c, dim, identity ? identity : "");
  before = c.n;
  if (!fetch_rows(s, &c, have ? c.watermark : 0, upto, error)) {
    pg_copy_clear(&c);
    g_free(identity);
    g_free(damaged);
    return false;
  }
  t_fetch = g_get_monotonic_time() - t0 - t_read;
  if (identity) {
    c.read_watermark = c.watermark;
    c.watermark = upto;
    c.changes = changes;
    pg_copy_write(&c, copy_path);
    t_write = g_get_monotonic_time() - t0 - t_read - t_fetch;
  }
  g_free(s->copy_note);
  s->copy_note = g_strdup_printf(
      "%s: %" G_GINT64_FORMAT " segments fetched from the server, %" G_GINT64_FORMAT
      " from the local copy (fetch %.1f ms, copy read %.1f ms, write %.1f ms)",
      have ? "refreshed by id" : (identity ? "full read" : "full read (no copy: index_id missing)"),
      c.n - before, before, t_fetch / 1e3, t_read / 1e3, t_write / 1e3);
  /* Rows of one identity and deletion count are the segments up to some
   * watermark, so of two such loads one is the other's prefix. */
  s->lineage = 0;
  if (identity) {
    char *tag = g_strdup_printf("%s/%" G_GINT64_FORMAT, identity, changes);
    s->lineage = fnv1a64(tag);
    g_free(tag);
  }
  *ids_out = c.ids;
  *rows_out = c.rows;
  *n_out = c.n;
  g_free(identity);
  g_free(damaged);
  return true;
}

const char *
pgstore_copy_note(pgstore *s)
{
  return s->copy_note;
}

uint64_t
pgstore_matrix_lineage(pgstore *s)
{
  return s->lineage;
}

bool
pgstore_get_segment(pgstore *s, int64_t id, store_hit *hit, GError **error)
{
  params p = { 0 };
  PGresult *r;
  memset(hit, 0, sizeof *hit);
  p_i64(&p, id);
  if (!(r = run(s,
                "SELECT f.path, s.start, s.\"end\", s.samples, s.thumbnail FROM segments s "
                "JOIN files f ON f.id = s.file_id WHERE s.id = $1",
                &p, error, "segment")))
    return false;
  if (PQntuples(r) != 1) {
    g_set_error(error, STORE_ERROR, 1, "%s: no segment %" G_GINT64_FORMAT, s->name, id);
    PQclear(r);
    return false;
  }
  hit->path = get_str(r, 0, 0);
  hit->start = get_f64(r, 0, 1);
  hit->end = get_f64(r, 0, 2);
  hit->n_samples = get_i32(r, 0, 3);
  if (!PQgetisnull(r, 0, 4))
    hit->thumbnail = g_bytes_new(PQgetvalue(r, 0, 4), PQgetlength(r, 0, 4));
  PQclear(r);
  return true;
}

bool
pgstore_foreach_segment(pgstore *s, int dim, store_segment_fn fn, void *data, GError **error)
{
  PGresult *r = run(s,
                    "SELECT s.id, f.path, s.start, s.\"end\", s.samples, s.embedding "
                    "FROM segments s JOIN files f ON f.id = s.file_id ORDER BY s.id",
                    NULL, error, "segments");
  bool ok = true;
  if (!r)
    return false;
  float *row = g_new(float, dim);
  for (int i = 0; ok && i < PQntuples(r); i++) {
    if (PQgetlength(r, i, 5) != (int) (dim * sizeof(float))) {
      g_set_error(error, STORE_ERROR, 1,
                  "%s: segment %" G_GINT64_FORMAT " has an embedding of the wrong size", s->name,
                  get_i64(r, i, 0));
      ok = false;
      break;
    }
    memcpy(row, PQgetvalue(r, i, 5), dim * sizeof(float));
    char *path = get_str(r, i, 1);
    ok = fn(get_i64(r, i, 0), path, get_f64(r, i, 2), get_f64(r, i, 3), get_i32(r, i, 4), row, dim,
            data);
    g_free(path);
    if (!ok)
      g_set_error(error, STORE_ERROR, 1, "export stopped: write error");
  }
  g_free(row);
  PQclear(r);
  return ok;
}

bool
pgstore_foreach_file(pgstore *s, store_file_fn fn, void *data, GError **error)
{
  PGresult *r =
      run(s, "SELECT id, path, uri, size, mtime FROM files ORDER BY id", NULL, error, "files");
  if (!r)
    return false;
  for (int i = 0; i < PQntuples(r); i++) {
    char *path = get_str(r, i, 1), *uri = get_str(r, i, 2);
    fn(get_i64(r, i, 0), path, uri, get_i64(r, i, 3), get_i64(r, i, 4), data);
    g_free(path);
    g_free(uri);
  }
  PQclear(r);
  return true;
}

/* ---- the work queue ---------------------------------------------------- */

bool
pgstore_enqueue(pgstore *s, const char *path, const char *uri, int64_t size, int64_t mtime,
                bool *added, GError **error)
{
  params p = { 0 };
  PGresult *r;
  p_str(&p, path);
  p_str(&p, uri);
  p_i64(&p, size);
  p_i64(&p, mtime);
  /* A file already queued or running stays as it is; a done file comes back
   * when it changed, a failed one always (a new add is a new chance). */
  if (!(r = run(s,
                "INSERT INTO queue(path, uri, size, mtime) VALUES ($1::bytea, $2::bytea, $3, $4) "
                "ON CONFLICT (path) DO UPDATE SET state = 'queued', attempts = 0, error = NULL, "
                "uri = EXCLUDED.uri, size = EXCLUDED.size, mtime = EXCLUDED.mtime, "
                "enqueued_at = now(), host = NULL, pid = NULL "
                "WHERE queue.state = 'failed' OR (queue.state = 'done' AND "
                "(queue.size <> EXCLUDED.size OR queue.mtime <> EXCLUDED.mtime OR queue.size < 0))",
                &p, error, path)))
    return false;
  *added = atoi(PQcmdTuples(r)) == 1;
  PQclear(r);
  return true;
}

int
pgstore_claim(pgstore *s, int lease, int max_attempts, store_claim *c, bool *busy, GError **error)
{
  params p = { 0 };
  PGresult *r;
  int got;

  memset(c, 0, sizeof *c);
  *busy = false;
  p_i64(&p, max_attempts);
  /* An entry whose worker died max_attempts times is not tried again. */
  if (!(r = run(s,
                "UPDATE queue SET state = 'failed', error = 'worker lost ' || attempts || "
                "' times (lease expired)' WHERE state = 'running' AND lease_until < now() "
                "AND attempts >= $1",
                &p, error, "queue")))
    return -1;
  PQclear(r);
  p = (params){ 0 };
  p_i64(&p, lease);
  p_str(&p, s->host);
  p_str(&p, s->pid);
  /* SKIP LOCKED: concurrent workers each take a different entry without
   * waiting on one another; an expired lease makes a running entry free. */
  if (!(r = run(s,
                "UPDATE queue SET state = 'running', attempts = attempts + 1, "
                "lease_until = now() + $1 * interval '1 second', "
                "host = convert_from($2::bytea, 'UTF8'), pid = convert_from($3::bytea, "
                "'UTF8')::integer, "
                "started_at = now() WHERE id = (SELECT id FROM queue WHERE state = 'queued' "
                "OR (state = 'running' AND lease_until < now()) ORDER BY id "
                "FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id, path, uri, size, mtime",
                &p, error, "claim")))
    return -1;
  got = PQntuples(r);
  if (got == 1) {
    c->id = get_i64(r, 0, 0);
    c->path = get_str(r, 0, 1);
    c->uri = get_str(r, 0, 2);
    c->size = get_i64(r, 0, 3);
    c->mtime = get_i64(r, 0, 4);
  }
  PQclear(r);
  if (got == 1)
    return 1;
  if (!(r = run(s, "SELECT count(*) FROM queue WHERE state IN ('queued', 'running')", NULL, error,
                "queue")))
    return -1;
  *busy = get_i64(r, 0, 0) > 0;
  PQclear(r);
  return 0;
}

bool
pgstore_fail(pgstore *s, int64_t id, int max_attempts, const char *reason, GError **error)
{
  params p = { 0 };
  PGresult *r;
  /* The error column is text: a message naming a non-UTF-8 path is made valid. */
  char *valid = g_utf8_make_valid(reason, -1);
  p_i64(&p, id);
  p_i64(&p, max_attempts);
  p_str(&p, valid);
  p_str(&p, s->host);
  p_str(&p, s->pid);
  r = run(s,
          "UPDATE queue SET state = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END, "
          "error = convert_from($3::bytea, 'UTF8'), finished_at = now(), lease_until = NULL "
          "WHERE id = $1 AND state = 'running' AND host = convert_from($4::bytea, 'UTF8') "
          "AND pid = convert_from($5::bytea, 'UTF8')::integer",
          &p, error, "queue");
  PQclear(r);
  g_free(valid);
  return r != NULL;
}

bool
pgstore_renew(pgstore *s, int lease, GError **error)
{
  params p = { 0 };
  PGresult *r;
  p_i64(&p, lease);
  p_str(&p, s->host);
  p_str(&p, s->pid);
  r = run(s,
          "UPDATE queue SET lease_until = now() + $1 * interval '1 second' "
          "WHERE state = 'running' AND host = convert_from($2::bytea, 'UTF8') "
          "AND pid = convert_from($3::bytea, 'UTF8')::integer",
          &p, error, "heartbeat");
  PQclear(r);
  return r != NULL;
}

int
pgstore_reconnect(pgstore *s)
{
  if (PQstatus(s->conn) == CONNECTION_OK) {
    /* libpq notices a server gone away only on the next command. */
    PGresult *r = PQexec(s->conn, "SELECT 1");
    bool alive = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (alive)
      return 0;
  }
  PQreset(s->conn);
  if (PQstatus(s->conn) != CONNECTION_OK)
    return -1;
  PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
  return 1;
}

bool
pgstore_status(pgstore *s, FILE *out, GError **error)
{
  PGresult *r;
  if (!(r = run(s,
                "SELECT s.state, count(q.id) FROM (VALUES ('queued'), ('running'), ('done'), "
                "('failed')) s(state) LEFT JOIN queue q ON q.state = s.state GROUP BY s.state "
                "ORDER BY min(array_position(ARRAY['queued','running','done','failed'], s.state))",
                NULL, error, "status")))
    return false;
  for (int i = 0; i < PQntuples(r); i++) {
    char *st = get_str(r, i, 0);
    fprintf(out, "%s%s %" G_GINT64_FORMAT, i ? ", " : "", st, get_i64(r, i, 1));
    g_free(st);
  }
  fputc('\n', out);
  PQclear(r);
  if (!(r = run(s,
                "SELECT host, pid, path, extract(epoch FROM now() - started_at)::double precision, "
                "extract(epoch FROM lease_until - now())::double precision FROM queue "
                "WHERE state = 'running' ORDER BY host, pid, id",
                NULL, error, "status")))
    return false;
  for (int i = 0; i < PQntuples(r); i++) {
    char *host = get_str(r, i, 0), *path = get_str(r, i, 2);
    double lease = get_f64(r, i, 4);
    fprintf(out, "running: %s pid %d: %s (%.0f s%s)\n", host, get_i32(r, i, 1), path,
            get_f64(r, i, 3), lease < 0 ? ", lease expired" : "");
    g_free(host);
    g_free(path);
  }
  PQclear(r);
  if (!(r = run(s,
                "SELECT path, attempts, coalesce(error, '') FROM queue WHERE state = 'failed' "
                "ORDER BY id",
                NULL, error, "status")))
    return false;
  for (int i = 0; i < PQntuples(r); i++) {
    char *path = get_str(r, i, 0), *err = get_str(r, i, 2);
    fprintf(out, "failed: %s after %d attempt%s: %s\n", path, get_i32(r, i, 1),
            get_i32(r, i, 1) == 1 ? "" : "s", err);
    g_free(path);
    g_free(err);
  }
  PQclear(r);
  /* Throughput over the last ten minutes of finished files. */
  if (!(r = run(s,
                "SELECT count(*), coalesce(sum(f.duration), 0)::double precision, "
                "extract(epoch FROM coalesce(max(q.finished_at) - min(q.started_at), "
                "'0'::interval))::double precision FROM queue q JOIN files f ON f.path = q.path "
                "WHERE q.state = 'done' AND q.finished_at > now() - interval '10 minutes'",
                NULL, error, "status")))
    return false;
  double span = get_f64(r, 0, 2);
  fprintf(out, "last 10 min: %" G_GINT64_FORMAT " files, %.1f s of video", get_i64(r, 0, 0),
          get_f64(r, 0, 1));
  if (span > 0)
    fprintf(out, " in %.1f s: %.2f files/min, %.1fx real time", span,
            get_i64(r, 0, 0) * 60.0 / span, get_f64(r, 0, 1) / span);
  fputc('\n', out);
  PQclear(r);
  return true;
}
