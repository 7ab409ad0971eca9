/* serve.c — clip-index serve: the search page, a JSON API, thumbnails and
 * the indexed videos over HTTP with libsoup 3.
 *
 * What is reachable is decided by ids, never by paths from the request:
 * /api/thumb/SEGMENT_ID and /api/video/FILE_ID look the id up in the index,
 * so no request path is ever joined to a directory. A video is served only
 * while it is the file that was indexed (same size and mtime). */
#include "serve.h"

#include <cjson/cJSON.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <time.h>

#include "matrix.h"
#include "quant.h"
#include "search.h"

#define MAX_QUERY_BYTES 1024
#define MAX_POST_BYTES (1 << 20)
#define MAX_TOP 1000
#define DEFAULT_TOP 24
#define PAGE_RESOURCE "/org/clipfilter/clip-index/page.html"

typedef struct {
  int64_t id;
  char *path; /* as indexed: absolute path, or the URI of a remote source */
  bool local; /* a file on this machine, which /api/video may serve */
  int64_t size, mtime;
} served_file;

typedef struct {
  const serve_params *p;
  segment_matrix mat;
  quant_matrix *quant;       /* the int8 copy the queries scan */
  GHashTable *files_by_id;   /* int64_t* -> served_file* (owned) */
  GHashTable *files_by_path; /* path -> served_file* */
  GBytes *page;
  store_counts counts;
  float *query;
  search_hit *hits;
  char *host_port; /* "127.0.0.1:8080" as bound, for the Host check */
  guint port;
  GMainLoop *loop;
} server;

/* ---- replies ------------------------------------------------------------- */

static void
reply_json(SoupServerMessage *msg, guint status, cJSON *body)
{
  char *s = cJSON_PrintUnformatted(body);
  soup_server_message_set_status(msg, status, NULL);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, s, strlen(s));
  cJSON_free(s);
  cJSON_Delete(body);
}

/* {"error": "..."}: every refusal says why, in the body as well. */
static void G_GNUC_PRINTF(3, 4)
    reply_error(SoupServerMessage *msg, guint status, const char *fmt, ...)
{
  va_list ap;
  cJSON *o = cJSON_CreateObject();
  va_start(ap, fmt);
  char *m = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  cJSON_AddStringToObject(o, "error", m);
  g_free(m);
  reply_json(msg, status, o);
}

/* Parses a whole decimal id ("12"); anything else (signs, "..", "%2F",
 * empty) is not an id. */
static bool
parse_id(const char *s, int64_t *id)
{
  guint64 v;
  if (!s || !*s || strlen(s) > 18)
    return false;
  for (const char *c = s; *c; c++)
    if (!g_ascii_isdigit(*c))
      return false;
  if (!g_ascii_string_to_unsigned(s, 10, 1, G_MAXINT64, &v, NULL))
    return false;
  *id = (int64_t) v;
  return true;
}

/* Common checks: GET/HEAD (and POST where allowed) only, and on a loopback
 * address only requests naming it in Host, so a web page elsewhere cannot
 * reach the server through a DNS name rebound to 127.0.0.1. */
static bool
accept_request(server *sv, SoupServerMessage *msg, bool post)
{
  const char *method = soup_server_message_get_method(msg);
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
  if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD
      && !(post && method == SOUP_METHOD_POST)) {
    soup_message_headers_replace(h, "Allow", post ? "GET, HEAD, POST" : "GET, HEAD");
    reply_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only %s served here",
                post ? "GET, HEAD and POST are" : "GET and HEAD are");
    return false;
  }
  if (!sv->p->public_listen) {
    const char *host =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Host");
    char *local = g_strdup_printf("localhost:%u", sv->port);
    bool ok = host && (!strcmp(host, sv->host_port) || !strcmp(host, local));
    g_free(local);
    if (!ok) {
      reply_error(msg, SOUP_STATUS_FORBIDDEN, "Host '%s' is not this server's address (%s)",
                  host ? host : "", sv->host_port);
      return false;
    }
  }
  return true;
}

/* ---- GET / --------------------------------------------------------------- */

static void
on_page(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *q, gpointer data)
{
  server *sv = data;
  (void) s;
  (void) q;
  if (!accept_request(sv, msg, false))
    return;
  if (strcmp(path, "/")) {
    reply_error(msg, SOUP_STATUS_NOT_FOUND, "no such page: %s", path);
    return;
  }
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  /* Everything the page uses comes from this server. */
  soup_message_headers_replace(h, "Content-Security-Policy",
                               "default-src 'self'; script-src 'unsafe-inline'; "
                               "style-src 'unsafe-inline'; img-src 'self'; media-src 'self'");
  soup_message_headers_replace(h, "Cache-Control", "no-cache");
  soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type(h, "text/html; charset=utf-8", NULL);
  soup_message_body_append_bytes(soup_server_message_get_response_body(msg), sv->page);
}

/* ---- GET /api/info ------------------------------------------------------- */

static void
on_info(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *q, gpointer data)
{
  server *sv = data;
  (void) s;
  (void) q;
  if (!accept_request(sv, msg, false))
    return;
  if (strcmp(path, "/api/info")) {
    reply_error(msg, SOUP_STATUS_NOT_FOUND, "no such page: %s", path);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "index", sv->p->index_path);
  cJSON_AddStringToObject(o, "model", sv->p->model->model);
  cJSON_AddStringToObject(o, "model_path", sv->p->model->model_path);
  cJSON_AddNumberToObject(o, "embed_dim", sv->p->model->embed_dim);
  cJSON_AddNumberToObject(o, "files", (double) sv->counts.files);
  cJSON_AddNumberToObject(o, "segments", (double) sv->mat.n);
  cJSON_AddNumberToObject(o, "samples", (double) sv->counts.samples);
  cJSON_AddNumberToObject(o, "hours", sv->counts.seconds / 3600);
  reply_json(msg, SOUP_STATUS_OK, o);
}

/* ---- GET /api/search ----------------------------------------------------- */

static const char *
query_arg(GHashTable *q, const char *name)
{
  return q ? g_hash_table_lookup(q, name) : NULL;
}

/* The text's problem, or NULL when it can be embedded. */
static const char *
text_problem(const char *text)
{
  if (strlen(text) > MAX_QUERY_BYTES)
    return "q is too long (at most " G_STRINGIFY(MAX_QUERY_BYTES) " bytes)";
  if (!g_utf8_validate(text, -1, NULL))
    return "q is not valid UTF-8";
  for (const char *c = text; *c; c++)
    if (!g_ascii_isspace(*c))
      return NULL;
  return "q is empty";
}

static int64_t
row_of_segment(const segment_matrix *m, int64_t id)
{
  /* The copy is in id order (store_load_matrix): bisect. */
  int64_t lo = 0, hi = m->n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (m->ids[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < m->n && m->ids[lo] == id ? lo : -1;
}

/* Before a POST body is read: refuse one too large to hold. */
static void
on_search_early(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *q,
                gpointer data)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
  (void) s;
  (void) path;
  (void) q;
  (void) data;
  if (soup_server_message_get_method(msg) == SOUP_METHOD_POST
      && (soup_message_headers_get_encoding(req) != SOUP_ENCODING_CONTENT_LENGTH
          || soup_message_headers_get_content_length(req) > MAX_POST_BYTES)) {
    soup_message_headers_append(soup_server_message_get_response_headers(msg), "Connection",
                                "close");
    reply_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                "a search form of at most %d bytes, with a Content-Length", MAX_POST_BYTES);
  }
}

static void search(server *sv, SoupServerMessage *msg, GHashTable *q);

/* GET with the query string, or POST with the same fields as a form (for
 * texts longer than a request line may be). */
static void
on_search(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *q, gpointer data)
{
  server *sv = data;
  (void) s;
  if (!accept_request(sv, msg, true))
    return;
  if (strcmp(path, "/api/search")) {
    reply_error(msg, SOUP_STATUS_NOT_FOUND, "no such page: %s", path);
    return;
  }
  if (soup_server_message_get_method(msg) == SOUP_METHOD_POST) {
    GBytes *body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    const char *type =
        soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), NULL);
    if (!type || g_ascii_strcasecmp(type, "application/x-www-form-urlencoded")) {
      reply_error(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                  "POST a form (application/x-www-form-urlencoded), not %s",
                  type ? type : "an untyped body");
    } else {
      GHashTable *form = soup_form_decode(g_bytes_get_data(body, NULL));
      search(sv, msg, form);
      g_hash_table_unref(form);
    }
    g_bytes_unref(body);
    return;
  }
  search(sv, msg, q);
}

/* CPU seconds of the whole process (OpenBLAS's threads included): the
 * server's cost of a query, whatever else the machine is running. */
static double
cpu_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
search(server *sv, SoupServerMessage *msg, GHashTable *q)
{
  const char *text = query_arg(q, "q"), *like = query_arg(q, "like"), *top_s = query_arg(q, "top");
  int dim = sv->p->model->embed_dim;
  guint64 top = DEFAULT_TOP;
  gint64 t0 = g_get_monotonic_time(), t1, t2, t3;
  double cpu0 = cpu_seconds();

  if (top_s && !g_ascii_string_to_unsigned(top_s, 10, 1, MAX_TOP, &top, NULL)) {
    reply_error(msg, SOUP_STATUS_BAD_REQUEST, "top must be an integer from 1 to %d", MAX_TOP);
    return;
  }
  if (!text == !like) {
    reply_error(msg, SOUP_STATUS_BAD_REQUEST,
                "give either q (a text) or like (a segment id), not %s", text ? "both" : "neither");
    return;
  }
  if (like) {
    int64_t id, row;
    if (!parse_id(like, &id)) {
      reply_error(msg, SOUP_STATUS_BAD_REQUEST, "like must be a segment id");
      return;
    }
    if ((row = row_of_segment(&sv->mat, id)) < 0) {
      reply_error(msg, SOUP_STATUS_NOT_FOUND, "no segment %" G_GINT64_FORMAT, id);
      return;
    }
    memcpy(sv->query, sv->mat.rows + (size_t) row * dim, dim * sizeof(float));
  } else {
    const char *problem = text_problem(text);
    clip_error err = { 0 };
    if (problem) {
      reply_error(msg, SOUP_STATUS_BAD_REQUEST, "%s", problem);
      return;
    }
    if (clip_embed_labels(sv->p->ctx, &text, 1, NULL, 0, sv->query, &err) != CLIP_OK) {
      reply_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "cannot embed the query: %s",
                  err.message);
      return;
    }
  }
  t1 = g_get_monotonic_time();
  int n = quant_top_k(sv->quant, sv->query, (int) top, sv->hits, NULL);
  t2 = g_get_monotonic_time();

  cJSON *list = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    store_hit h;
    GError *e = NULL;
    int64_t id = sv->mat.ids[sv->hits[i].row];
    if (!store_get_segment(sv->p->st, id, &h, &e)) {
      reply_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", e->message);
      g_error_free(e);
      cJSON_Delete(list);
      return;
    }
    served_file *f = g_hash_table_lookup(sv->files_by_path, h.path);
    cJSON *o = cJSON_CreateObject();
    char url[64];
    /* The fields of `clip-index search --json`, with URLs for the page. */
    cJSON_AddNumberToObject(o, "rank", i + 1);
    cJSON_AddNumberToObject(o, "segment", (double) id);
    cJSON_AddStringToObject(o, "file", h.path);
    cJSON_AddNumberToObject(o, "start", h.start);
    cJSON_AddNumberToObject(o, "end", h.end);
    cJSON_AddNumberToObject(o, "score", sv->hits[i].score);
    cJSON_AddNumberToObject(o, "samples", h.n_samples);
    if (h.thumbnail) {
      g_snprintf(url, sizeof url, "/api/thumb/%" G_GINT64_FORMAT, id);
      cJSON_AddStringToObject(o, "thumbnail", url);
    }
    if (f && f->local) {
      g_snprintf(url, sizeof url, "/api/video/%" G_GINT64_FORMAT, f->id);
      cJSON_AddStringToObject(o, "video", url);
    }
    cJSON_AddItemToArray(list, o);
    store_hit_clear(&h);
  }
  t3 = g_get_monotonic_time();
  /* Server time, for the page and bench/bench-serve.sh (W3C Server-Timing). */
  char timing[192];
  g_snprintf(timing, sizeof timing,
             "embed;dur=%.3f, scan;dur=%.3f, rows;dur=%.3f, total;dur=%.3f, cpu;dur=%.3f",
             (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3, (t3 - t0) / 1e3,
             (cpu_seconds() - cpu0) * 1e3);
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Server-Timing",
                               timing);
  reply_json(msg, SOUP_STATUS_OK, list);
}

/* ---- GET /api/thumb/ID --------------------------------------------------- */

static void
on_thumb(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *q, gpointer data)
{
  server *sv = data;
  const char *rest = path + strlen("/api/thumb/");
  int64_t id;
  store_hit h;
  (void) s;
  (void) q;
  if (!accept_request(sv, msg, false))
    return;
  if (!g_str_has_prefix(path, "/api/thumb/") || !parse_id(rest, &id)) {
    reply_error(msg, SOUP_STATUS_NOT_FOUND, "no such thumbnail: %s", path);
    return;
  }
  if (!store_get_segment(sv->p->st, id, &h, NULL) || !h.thumbnail) {
    reply_error(msg, SOUP_STATUS_NOT_FOUND, "segment %" G_GINT64_FORMAT " has no thumbnail", id);
    store_hit_clear(&h);
    return;
  }
  SoupMessageHeaders *rh = soup_server_message_get_response_headers(msg);
  soup_message_headers_set_content_type(rh, "image/jpeg", NULL);
  soup_message_headers_replace(rh, "Cache-Control", "max-age=60");
  soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
  soup_message_body_append_bytes(soup_server_message_get_response_body(msg), h.thumbnail);
  store_hit_clear(&h);
}

/* ---- GET /api/video/FILE_ID ---------------------------------------------- */

static void
on_video(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *q, gpointer data)
{
  server *sv = data;
  const char *rest = path + strlen("/api/video/");
  served_file *f = NULL;
  int64_t id;
  GStatBuf st;
  GError *e = NULL;
  (void) s;
  (void) q;
  if (!accept_request(sv, msg, false))
    return;
  if (g_str_has_prefix(path, "/api/video/") && parse_id(rest, &id))
    f = g_hash_table_lookup(sv->files_by_id, &id);
  if (!f || !f->local) {
    reply_error(msg, SOUP_STATUS_NOT_FOUND, "no such indexed file: %s", path);
    return;
  }
  /* The file that was indexed, not whatever its name points to now. */
  if (g_stat(f->path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != f->size
      || (int64_t) st.st_mtime != f->mtime) {
    reply_error(msg, SOUP_STATUS_NOT_FOUND,
                "file %" G_GINT64_FORMAT " is gone or has changed since it was indexed", id);
    return;
  }
  /* Mapped, not read: a range request of a large file touches only its pages. */
  GMappedFile *mf = g_mapped_file_new(f->path, FALSE, &e);
  if (!mf) {
    reply_error(msg, SOUP_STATUS_NOT_FOUND, "cannot open file %" G_GINT64_FORMAT ": %s", id,
                e->message);
    g_error_free(e);
    return;
  }
  GBytes *all = g_mapped_file_get_bytes(mf);
  g_mapped_file_unref(mf);
  goffset total = (goffset) g_bytes_get_size(all);

  SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
  SoupMessageHeaders *rh = soup_server_message_get_response_headers(msg);
  char *sniffed =
      g_content_type_guess(f->path, g_bytes_get_data(all, NULL), MIN((gsize) total, 4096), NULL);
  char *mime = g_content_type_get_mime_type(sniffed);
  soup_message_headers_set_content_type(rh, mime ? mime : "application/octet-stream", NULL);
  soup_message_headers_replace(rh, "Accept-Ranges", "bytes");
  g_free(mime);
  g_free(sniffed);

  SoupRange *ranges = NULL;
  int n_ranges = 0;
  GBytes *body = NULL;
  guint status = SOUP_STATUS_OK;
  /* libsoup answers a Range itself only by copying the whole body into one
   * buffer; a single range (what players ask for) is a slice of the map
   * here. Other forms are ignored, which HTTP allows: the whole file. */
  if (soup_message_headers_get_ranges(req, total, &ranges, &n_ranges)) {
    if (n_ranges == 1) {
      goffset a = ranges[0].start, b = ranges[0].end;
      if (a >= 0 && a <= b && b < total) {
        status = SOUP_STATUS_PARTIAL_CONTENT;
        soup_message_headers_set_content_range(rh, a, b, total);
        body = g_bytes_new_from_bytes(all, (gsize) a, (gsize) (b - a + 1));
      } else {
        status = SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE;
      }
    }
    soup_message_headers_free_ranges(req, ranges);
  } else if (soup_message_headers_get_one(req, "Range")) {
    const char *r = soup_message_headers_get_one(req, "Range");
    /* "bytes=N-" with N past the end: unsatisfiable, not ignorable. */
    if (g_str_has_prefix(r, "bytes=") && g_ascii_isdigit(r[6])
        && g_ascii_strtoll(r + 6, NULL, 10) >= total)
      status = SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE;
  }
  soup_message_headers_remove(req, "Range"); /* keep libsoup's copying path out */
  if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE) {
    char cr[64];
    g_snprintf(cr, sizeof cr, "bytes */%" G_GINT64_FORMAT, (gint64) total);
    soup_message_headers_replace(rh, "Content-Range", cr);
    reply_error(msg, status, "range not satisfiable (the file has %" G_GINT64_FORMAT " bytes)",
                (gint64) total);
  } else {
    soup_server_message_set_status(msg, status, NULL);
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), body ? body : all);
  }
  if (body)
    g_bytes_unref(body);
  g_bytes_unref(all);
}

/* ---- setup --------------------------------------------------------------- */

static void
served_file_free(gpointer p)
{
  served_file *f = p;
  g_free(f->path);
  g_free(f);
}

static void
add_file(int64_t id, const char *path, const char *uri, int64_t size, int64_t mtime, void *data)
{
  server *sv = data;
  served_file *f = g_new0(served_file, 1);
  f->id = id;
  f->path = g_strdup(path);
  f->size = size;
  f->mtime = mtime;
  /* Local files are recorded by absolute path with a file:// URI. */
  f->local = g_path_is_absolute(path) && g_str_has_prefix(uri, "file://");
  g_hash_table_insert(sv->files_by_id, &f->id, f);
  g_hash_table_insert(sv->files_by_path, f->path, f);
}

static gboolean
on_signal(gpointer data)
{
  g_main_loop_quit(((server *) data)->loop);
  return G_SOURCE_CONTINUE;
}

/* "HOST:PORT" ("[::1]:PORT" for IPv6) to a socket address; a non-loopback
 * host needs public_listen. */
static GSocketAddress *
listen_address(const serve_params *p, GError **error)
{
  GSocketConnectable *c = g_network_address_parse(p->listen, 8080, error);
  GSocketAddress *sa = NULL;
  if (!c)
    return NULL;
  const char *host = g_network_address_get_hostname(G_NETWORK_ADDRESS(c));
  guint16 port = g_network_address_get_port(G_NETWORK_ADDRESS(c));
  GInetAddress *ia = !strcmp(host, "localhost") ? g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4)
                                                : g_inet_address_new_from_string(host);
  if (!ia) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "--listen %s: give a numeric address (127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080)",
                p->listen);
  } else if (!g_inet_address_get_is_loopback(ia) && !p->public_listen) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                "--listen %s is reachable from other machines: everyone who can reach it can "
                "search the index, see its file names and thumbnails and play its videos. Add "
                "--public to mean it.",
                p->listen);
  } else {
    sa = g_inet_socket_address_new(ia, port);
  }
  g_clear_object(&ia);
  g_object_unref(c);
  return sa;
}

bool
serve_run(const serve_params *p, GError **error)
{
  server sv = { .p = p };
  SoupServer *soup = NULL;
  GSocketAddress *sa = NULL;
  GSocket *sock = NULL;
  GSList *uris = NULL;
  bool ok = false;
  guint sig_int = 0, sig_term = 0;

  if (!(sa = listen_address(p, error)))
    return false;
  sv.files_by_id = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, served_file_free);
  sv.files_by_path = g_hash_table_new(g_str_hash, g_str_equal);
  /* The int8 copy is mapped from INDEX.qmatrix when current (made by a
   * search or an earlier start), else quantized here and saved. */
  if (!segment_matrix_open_quant(&sv.mat, &sv.quant, p->st, p->index_path, p->model->embed_dim,
                                 error)
      || !store_counts_get(p->st, &sv.counts, error)
      || !store_foreach_file(p->st, add_file, &sv, error))
    goto out;
  if (!(sv.page = g_resources_lookup_data(PAGE_RESOURCE, 0, error)))
    goto out;
  sv.query = g_new(float, p->model->embed_dim);
  sv.hits = g_new(search_hit, MAX_TOP);

  soup = soup_server_new("server-header", "clip-index ", NULL);
  soup_server_add_handler(soup, "/", on_page, &sv, NULL);
  soup_server_add_handler(soup, "/api/info", on_info, &sv, NULL);
  soup_server_add_early_handler(soup, "/api/search", on_search_early, &sv, NULL);
  soup_server_add_handler(soup, "/api/search", on_search, &sv, NULL);
  soup_server_add_handler(soup, "/api/thumb", on_thumb, &sv, NULL);
  soup_server_add_handler(soup, "/api/video", on_video, &sv, NULL);
  /* Our own socket for a deeper accept queue than GLib's default of 10:
   * bursts of clients wait to be accepted instead of being retried. */
  sock = g_socket_new(g_socket_address_get_family(sa), G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                      error);
  if (!sock)
    goto out;
  g_socket_set_listen_backlog(sock, 256);
  if (!g_socket_bind(sock, sa, TRUE, error) || !g_socket_listen(sock, error)
      || !soup_server_listen_socket(soup, sock, 0, error))
    goto out;
  uris = soup_server_get_uris(soup);
  if (uris) {
    GUri *u = uris->data;
    sv.port = (guint) g_uri_get_port(u);
    sv.host_port = g_strdup_printf("%s:%u", g_uri_get_host(u), sv.port);
    if (strchr(g_uri_get_host(u), ':')) { /* IPv6 literal */
      g_free(sv.host_port);
      sv.host_port = g_strdup_printf("[%s]:%u", g_uri_get_host(u), sv.port);
    }
  }
  g_slist_free_full(uris, (GDestroyNotify) g_uri_unref);
  printf("listening on http://%s/ (%" G_GINT64_FORMAT " segments of %" G_GINT64_FORMAT
         " files, model %s)\n",
         sv.host_port, sv.mat.n, sv.counts.files, p->model->model);
  fflush(stdout);

  sv.loop = g_main_loop_new(NULL, FALSE);
  sig_int = g_unix_signal_add(SIGINT, on_signal, &sv);
  sig_term = g_unix_signal_add(SIGTERM, on_signal, &sv);
  g_main_loop_run(sv.loop);
  ok = true;
out:
  if (sig_int)
    g_source_remove(sig_int);
  if (sig_term)
    g_source_remove(sig_term);
  if (soup) {
    soup_server_disconnect(soup);
    g_object_unref(soup);
  }
  if (sv.loop)
    g_main_loop_unref(sv.loop);
  g_clear_object(&sock);
  g_clear_object(&sa);
  g_free(sv.host_port);
  g_free(sv.query);
  g_free(sv.hits);
  if (sv.page)
    g_bytes_unref(sv.page);
  g_hash_table_unref(sv.files_by_path);
  g_hash_table_unref(sv.files_by_id);
  quant_matrix_free(sv.quant);
  segment_matrix_close(&sv.mat);
  return ok;
}
