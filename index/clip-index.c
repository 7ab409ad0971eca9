/* clip-index — index a video archive with CLIP and find moments by text.
 *
 *   clip-index add INDEX PATH|URI...     sample, embed, segment, store
 *   clip-index search INDEX "text"       rank segments by cosine
 *   clip-index info INDEX                model, counts, hours indexed
 *   clip-index export INDEX --format npy|jsonl
 *   clip-index serve INDEX [--listen 127.0.0.1:8080]   search page and JSON API
 *
 * Exit status: 0 success, 1 failure (for add: at least one file could not be
 * indexed; the others were), 2 usage error. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/base/gsttypefindhelper.h>
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "clip.h"
#include "ingest.h"
#include "store.h"
#ifdef HAVE_LIBPQ
#include "store-pg.h"
#endif

/* ---- add ----------------------------------------------------------------- */

typedef struct {
  char *path; /* local path, or the URI for remote sources */
  char *uri;
  int64_t size, mtime;
  bool explicit_arg;
  int64_t queue_id; /* work: the claimed queue entry */
} job;

static void
job_free(gpointer p)
{
  job *j = p;
  g_free(j->path);
  g_free(j->uri);
  g_free(j);
}

static bool
video_type(const char *m)
{
  return g_str_has_prefix(m, "video/") || !strcmp(m, "application/ogg")
         || !strcmp(m, "application/mxf") || !strcmp(m, "application/vnd.rn-realmedia");
}

/* Video by content, not by name: GIO's sniffing (shared-mime-info), then
 * GStreamer's own type finders for what GIO cannot tell (e.g. Matroska
 * without an extension). type_out gets the type found. */
static bool
is_video(const char *path, char **type_out)
{
  guchar *buf = g_malloc(65536);
  gsize n = 0;
  FILE *fp = fopen(path, "rb");
  gboolean uncertain;
  char *type, *mime;
  bool video;

  if (fp) {
    n = fread(buf, 1, 65536, fp);
    fclose(fp);
  }
  type = g_content_type_guess(path, n ? buf : NULL, n, &uncertain);
  mime = g_content_type_get_mime_type(type);
  if (!mime)
    mime = g_strdup(type);
  video = video_type(mime);
  if (!video && n) {
    GstTypeFindProbability prob;
    GstCaps *caps = gst_type_find_helper_for_data(NULL, buf, n, &prob);
    if (caps && prob >= GST_TYPE_FIND_LIKELY) {
      const char *name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
      if (video_type(name)) {
        video = true;
        g_free(mime);
        mime = g_strdup(name);
      }
    }
    if (caps)
      gst_caps_unref(caps);
  }
  if (type_out)
    *type_out = g_strdup(mime);
  g_free(mime);
  g_free(type);
  g_free(buf);
  return video;
}

static void
add_local(GPtrArray *jobs, const char *path, bool explicit_arg)
{
  GStatBuf st;
  job *j;
  if (g_stat(path, &st) != 0)
    return;
  j = g_new0(job, 1);
  j->path = g_canonicalize_filename(path, NULL);
  j->uri = g_filename_to_uri(j->path, NULL, NULL);
  j->size = st.st_size;
  j->mtime = st.st_mtime;
  j->explicit_arg = explicit_arg;
  g_ptr_array_add(jobs, j);
}

static int
cmp_str(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Recursive walk in name order, so runs and their progress are repeatable. */
static void
walk(GPtrArray *jobs, const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const char *n;
  if (!d)
    return;
  while ((n = g_dir_read_name(d)))
    if (n[0] != '.')
      g_ptr_array_add(names, g_build_filename(dir, n, NULL));
  g_dir_close(d);
  g_ptr_array_sort(names, cmp_str);
  for (guint i = 0; i < names->len; i++) {
    const char *p = g_ptr_array_index(names, i);
    if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
      walk(jobs, p);
    else if (g_file_test(p, G_FILE_TEST_IS_REGULAR) && is_video(p, NULL))
      add_local(jobs, p, false);
  }
  g_ptr_array_unref(names);
}

typedef struct {
  /* read-only while workers run */
  GPtrArray *jobs;
  const clip_model *model;
  ingest_params ip;
  store *st;
  bool tty;
  /* shared, under lock */
  GMutex lock;
  guint next;
  int done, failed;
  int64_t segments, samples;
  gint embedded; /* images encoded (fewer than samples with the change gate) */
  double video_seconds, bytes_done, bytes_total;
  double *current;     /* stream time reached per worker */
  GPtrArray *failures; /* "path\treason" */
  gint64 t0;
  /* work: files come from the shared queue */
  bool queue, until_empty;
  int lease, attempts, reconnect_timeout, taken_over;
  const char *index;
  gint stop;
  GError *fatal; /* the server stayed away */
} add_run;

/* Under r->lock after a failed call on a shared index: waits for the server
 * with a bounded backoff. True when the connection was restored (retry the
 * call), false when the failure was not a lost connection or the server
 * stayed away longer than --reconnect-timeout (then r->fatal is set). */
static bool
reconnect(add_run *r)
{
  gint64 give_up = g_get_monotonic_time() + (gint64) r->reconnect_timeout * G_USEC_PER_SEC;
  int delay_ms = 250;
  for (;;) {
    int rc = store_reconnect(r->st);
    if (rc >= 0) {
      if (rc == 1)
        fprintf(stderr, "clip-index work: reconnected to the index\n");
      return rc == 1;
    }
    if (g_get_monotonic_time() > give_up) {
      if (!r->fatal)
        r->fatal =
            g_error_new(g_quark_from_static_string("clip-index"), 1,
                        "the index server stayed unreachable for %d s", r->reconnect_timeout);
      return false;
    }
    g_usleep(delay_ms * 1000);
    delay_ms = MIN(delay_ms * 2, 5000);
  }
}

/* Under r->lock: the next file, from the list or claimed from the queue;
 * NULL when there is none (work without --until-empty waits for more). */
static job *
next_job(add_run *r)
{
  if (!r->queue)
    return r->next < r->jobs->len ? g_ptr_array_index(r->jobs, r->next++) : NULL;
  while (!r->fatal && !g_atomic_int_get(&r->stop)) {
    store_claim c;
    bool busy = false;
    GError *e = NULL;
    int got = store_claim_file(r->st, r->lease, r->attempts, &c, &busy, &e);
    if (got == 1) {
      job *j = g_new0(job, 1);
      j->path = c.path;
      j->uri = c.uri;
      j->size = c.size;
      j->mtime = c.mtime;
      j->queue_id = c.id;
      return j;
    }
    if (got < 0) {
      if (!reconnect(r) && !r->fatal)
        r->fatal = g_error_copy(e);
      g_clear_error(&e);
      continue;
    }
    if (r->until_empty && !busy)
      return NULL;
    /* Nothing free: wait for new files or for a lease to run out. */
    g_mutex_unlock(&r->lock);
    g_usleep(G_USEC_PER_SEC / 2);
    g_mutex_lock(&r->lock);
  }
  return NULL;
}

/* work: renews this process's leases on its own connection every lease/3 s. */
static gpointer
heartbeat(gpointer data)
{
  add_run *r = data;
  GError *e = NULL;
  store *hb = NULL;
  while (!g_atomic_int_get(&r->stop)) {
    if (!hb)
      hb = store_open(r->index, false, &e);
    if (hb && !store_renew_leases(hb, r->lease, &e) && store_reconnect(hb) < 0) {
      store_close(hb);
      hb = NULL;
    }
    g_clear_error(&e);
    for (int i = 0; i < r->lease * 10 / 3 && !g_atomic_int_get(&r->stop); i++)
      g_usleep(G_USEC_PER_SEC / 10);
  }
  store_close(hb);
  return NULL;
}

typedef struct {
  add_run *run;
  int worker;
} worker_arg;

static void
print_progress(add_run *r)
{
  double wall = (g_get_monotonic_time() - r->t0) / 1e6, video = r->video_seconds;
  int n_workers = 0;
  for (int i = 0; r->current[i] >= -1; i++, n_workers++)
    if (r->current[i] > 0)
      video += r->current[i];
  double rate = wall > 0 ? video / wall : 0;
  double frac = r->bytes_total > 0 ? r->bytes_done / r->bytes_total : 0;
  fprintf(stderr, "\r%d/%u files  %.1f video s/s", r->done + r->failed, r->jobs->len, rate);
  if (frac > 0.001 && frac < 1) {
    int eta = (int) (wall * (1 - frac) / frac);
    fprintf(stderr, "  ETA %d:%02d  ", eta / 60, eta % 60);
  } else {
    fprintf(stderr, "             ");
  }
  fflush(stderr);
}

typedef struct {
  add_run *run;
  int worker;
  gint64 last;
} progress_ctx;

static void
on_progress(double seconds, void *data)
{
  progress_ctx *pc = data;
  gint64 now = g_get_monotonic_time();
  g_mutex_lock(&pc->run->lock);
  pc->run->current[pc->worker] = seconds;
  if (now - pc->last > 200000) {
    pc->last = now;
    print_progress(pc->run);
  }
  g_mutex_unlock(&pc->run->lock);
}

static gpointer
add_worker(gpointer data)
{
  worker_arg *wa = data;
  add_run *r = wa->run;
  clip_error err = { 0 };
  clip_ctx *ctx = r->model ? clip_ctx_new(r->model, &err) : NULL;
  progress_ctx pc = { r, wa->worker, 0 };
  ingest_params ip = r->ip;

  if (r->tty) {
    ip.progress = on_progress;
    ip.progress_data = &pc;
  }
  for (;;) {
    job *j;
    store_file f = { 0 };
    GError *e = NULL;
    bool ok;

    g_mutex_lock(&r->lock);
    j = next_job(r);
    g_mutex_unlock(&r->lock);
    if (!j)
      break;
    f.path = j->path;
    f.uri = j->uri;
    f.size = j->size;
    f.mtime = j->mtime;
    f.queue_id = j->queue_id;
    if (!ctx && !ip.decode_only) {
      e = g_error_new(g_quark_from_static_string("clip-index"), 1, "%s", err.message);
      ok = false;
    } else {
      ok = ingest_file(ctx, &ip, j->uri, &f, &e);
    }
    g_mutex_lock(&r->lock);
    if (ok && r->st) {
      ok = store_put_file(r->st, &f, &e);
      /* A lost connection rolled the transaction back: write again. */
      while (!ok && r->queue && reconnect(r)) {
        g_clear_error(&e);
        ok = store_put_file(r->st, &f, &e);
      }
    }
    if (!ok && r->queue && e && e->code == 2) { /* lease lost: another worker has it */
      r->taken_over++;
      g_clear_error(&e);
      goto next;
    }
    if (!ok && r->queue && !r->fatal) {
      GError *qe = NULL;
      if (!store_fail_file(r->st, j->queue_id, r->attempts, e ? e->message : "failed", &qe))
        fprintf(stderr, "clip-index work: %s\n", qe->message);
      g_clear_error(&qe);
    }
    r->current[wa->worker] = 0;
    r->bytes_done += j->size;
    if (ok) {
      r->done++;
      r->segments += f.segments ? f.segments->len : 0;
      r->samples += f.samples->len;
      r->video_seconds += f.duration;
    } else {
      r->failed++;
      g_ptr_array_add(r->failures, g_strdup_printf("%s\t%s", j->path, e ? e->message : "failed"));
    }
    if (r->tty)
      print_progress(r);
  next:
    g_mutex_unlock(&r->lock);
    g_clear_error(&e);
    ingest_file_clear(&f);
    if (r->queue)
      job_free(j);
  }
  clip_ctx_free(ctx);
  return NULL;
}

/* add (work=false) indexes the files named, or on a shared index queues
 * them; work indexes files claimed from a shared index's queue. */
static int
run_add(int argc, char **argv, bool work)
{
  model_opts mo = { 0 };
  double interval = 1.0, merge = 0.9, change_threshold = 0, max_reuse = 0;
  int jobs_n = 1, batch = 4, thumb = 160, status, lease = 60, attempts = 3, reconnect_s = 300;
  char *decode = NULL;
  gboolean json = FALSE, decode_only = FALSE, until_empty = FALSE;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_STRING, &mo.model,
      "CLIP model (name or path; default " DEFAULT_MODEL "); recorded by the first add", "M" },
    { "decode-only", 0, 0, G_OPTION_ARG_NONE, &decode_only,
      "Decode and sample only: no model, INDEX not written (measures the decoder)", NULL },
    { "interval", 0, 0, G_OPTION_ARG_DOUBLE, &interval, "Seconds between samples (default 1)",
      "S" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &mo.precision, "fp32 or bf16 (bf16 needs oneDNN)",
      "P" },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &mo.backend, "auto, openblas or onednn", "B" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &mo.threads,
      "Threads per engine context (default: all cores)", "N" },
    { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs_n, "Files indexed in parallel (default 1)", "N" },
    { "merge", 0, 0, G_OPTION_ARG_DOUBLE, &merge,
      "Cosine at or above which a sample joins the current segment (default 0.9)", "C" },
    { "decode", 0, 0, G_OPTION_ARG_STRING, &decode,
      "auto (key frames while they are dense enough), keyframes or all", "MODE" },
    { "change-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &change_threshold,
      "Reuse the last embedding while the model input's mean absolute difference to the last "
      "embedded sample stays below T (0: off, the default; try 0.03)",
      "T" },
    { "max-reuse", 0, 0, G_OPTION_ARG_DOUBLE, &max_reuse,
      "Embed at least every S seconds of video with --change-threshold (0: no limit, the "
      "default)",
      "S" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Frames per inference batch (default 4)", "N" },
    { "thumbnail-width", 0, 0, G_OPTION_ARG_INT, &thumb,
      "JPEG thumbnail width, 0 for none (default 160)", "W" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the summary as JSON", NULL },
    { NULL }, /* add ends here; work's own options follow */
    { "until-empty", 0, 0, G_OPTION_ARG_NONE, &until_empty,
      "Exit when no file is queued or running (default: wait for more)", NULL },
    { "lease", 0, 0, G_OPTION_ARG_INT, &lease,
      "Seconds a claimed file stays ours without a heartbeat (default 60)", "S" },
    { "attempts", 0, 0, G_OPTION_ARG_INT, &attempts,
      "Tries per file before it is marked failed (default 3)", "N" },
    { "reconnect-timeout", 0, 0, G_OPTION_ARG_INT, &reconnect_s,
      "Seconds to wait for a lost index server before giving up (default 300)", "S" },
    { NULL }
  };
  if (work)
    memmove(&entries[G_N_ELEMENTS(entries) - 6], &entries[G_N_ELEMENTS(entries) - 5],
            5 * sizeof entries[0]);
  GOptionContext *oc = cli_parse(&argc, &argv, work ? "INDEX" : "INDEX PATH|URI...",
                                 work ? "Index files claimed from a shared index's queue (a "
                                        "postgresql:// URI), on any number of machines."
                                      : "Index video files, directories (recursively) and URIs; "
                                        "on a postgresql:// index, queue them for work.",
                                 entries, NULL, &status);
  add_run r = { 0 };
  store_model rec = { 0 };
  char *model_path = NULL;
  clip_model *model = NULL;
  clip_params params;
  GError *e = NULL;
  GPtrArray *all = NULL, *skipped = NULL;
  int unchanged = 0, rc = 1;

  if (!oc)
    return status;
  if (work ? argc != 2 : argc < 3) {
    rc = cli_usage_error(oc, work ? "work needs an INDEX (a postgresql:// URI) only"
                                  : "add needs an INDEX and at least one PATH or URI");
    goto out;
  }
  if (work && (lease < 2 || attempts < 1 || reconnect_s < 0 || decode_only)) {
    rc = cli_usage_error(oc, "--lease >= 2, --attempts >= 1, --reconnect-timeout >= 0; no "
                             "--decode-only");
    goto out;
  }
  if (!(interval > 0) || !(merge > -1 && merge <= 1.0001) || jobs_n < 1 || batch < 1 || thumb < 0
      || thumb > 4096 || !(change_threshold >= 0) || !(max_reuse >= 0)) {
    rc = cli_usage_error(oc, "--interval must be > 0, --merge in (-1, 1], -j and --batch >= 1, "
                             "--thumbnail-width in [0, 4096], --change-threshold and --max-reuse "
                             ">= 0");
    goto out;
  }
  if (decode && strcmp(decode, "auto") && strcmp(decode, "keyframes") && strcmp(decode, "all")) {
    rc = cli_usage_error(oc, "--decode must be auto, keyframes or all");
    goto out;
  }
  if (!cli_params(&mo, &params, "add")) {
    rc = 2;
    goto out;
  }

  if (decode_only)
    goto files;
  if (!(r.st = store_open(argv[1], true, &e))) {
    fprintf(stderr, "clip-index %s: %s\n", work ? "work" : "add", e->message);
    goto out;
  }
  if (work && !store_is_shared(r.st)) {
    fprintf(stderr, "clip-index work: %s is not a shared index (a postgresql:// URI)\n", argv[1]);
    goto out;
  }
  if (!(model_path = cli_index_model(r.st, mo.model, "add", true, &rec)))
    goto out;
  /* Queueing on a shared index needs no model, only its dimension the
   * first time (the workers load it): then it is loaded the fastest way,
   * fp32 on OpenBLAS, without weight repacking. */
  if (!work && store_is_shared(r.st)) {
    if (rec.embed_dim)
      goto files;
    params.backend = CLIP_BACKEND_OPENBLAS;
    params.precision = CLIP_PRECISION_FP32;
  }
  if (!(model = cli_load_model(model_path, &params, rec.embed_dim, "add")))
    goto out;
  if (!rec.embed_dim) {
    rec.embed_dim = clip_model_get_info(model)->embed_dim;
    if (!store_set_model(r.st, &rec, &e)) {
      fprintf(stderr, "clip-index add: %s\n", e->message);
      goto out;
    }
  }

files:
  all = g_ptr_array_new_with_free_func(job_free);
  skipped = g_ptr_array_new_with_free_func(g_free);
  for (int i = 2; i < argc && !work; i++) {
    char *scheme = g_uri_parse_scheme(argv[i]);
    if (scheme && strcmp(scheme, "file")) {
      job *j = g_new0(job, 1);
      j->path = g_strdup(argv[i]);
      j->uri = g_strdup(argv[i]);
      j->size = j->mtime = -1;
      j->explicit_arg = true;
      g_ptr_array_add(all, j);
    } else {
      char *p = scheme ? g_filename_from_uri(argv[i], NULL, NULL) : g_strdup(argv[i]);
      char *type = NULL;
      if (!p || !g_file_test(p, G_FILE_TEST_EXISTS))
        g_ptr_array_add(skipped, g_strdup_printf("%s\tno such file or directory", argv[i]));
      else if (g_file_test(p, G_FILE_TEST_IS_DIR))
        walk(all, p);
      else if (!is_video(p, &type))
        g_ptr_array_add(skipped,
                        g_strdup_printf("%s\tnot a video file (content type %s)", p, type));
      else
        add_local(all, p, true);
      g_free(type);
      g_free(p);
    }
    g_free(scheme);
  }
  r.jobs = g_ptr_array_new();
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < all->len; i++) {
    job *j = g_ptr_array_index(all, i);
    if (!g_hash_table_add(seen, j->path)) /* named twice (a file and its directory) */
      continue;
    if (r.st && j->size >= 0 && store_file_is_current(r.st, j->path, j->size, j->mtime)) {
      unchanged++;
      continue;
    }
    g_ptr_array_add(r.jobs, j);
    r.bytes_total += MAX(j->size, 0);
  }
  g_hash_table_unref(seen);

  if (!work && r.st && store_is_shared(r.st)) {
    int queued = 0;
    for (guint i = 0; i < r.jobs->len; i++) {
      job *j = g_ptr_array_index(r.jobs, i);
      bool added = false;
      if (!store_enqueue(r.st, j->path, j->uri, j->size, j->mtime, &added, &e)) {
        fprintf(stderr, "clip-index add: %s\n", e->message);
        goto out;
      }
      queued += added;
    }
    for (guint i = 0; i < skipped->len; i++) {
      char **kv = g_strsplit(g_ptr_array_index(skipped, i), "\t", 2);
      fprintf(stderr, "clip-index add: skipped %s: %s\n", kv[0], kv[1]);
      g_strfreev(kv);
    }
    printf("queued %d file%s; %u already queued or done; %d unchanged\n", queued,
           queued == 1 ? "" : "s", r.jobs->len - queued, unchanged);
    rc = skipped->len ? 1 : 0;
    goto out;
  }
  r.queue = work;
  r.until_empty = until_empty;
  r.lease = lease;
  r.attempts = attempts;
  r.reconnect_timeout = reconnect_s;
  r.index = argv[1];

  r.model = model;
  r.ip.model = model;
  r.ip.interval = interval;
  r.ip.merge = merge;
  r.ip.batch = batch;
  r.ip.thumb_width = thumb;
  r.ip.decode_only = decode_only;
  r.ip.change_threshold = change_threshold;
  r.ip.max_reuse = max_reuse;
  r.ip.embedded = &r.embedded;
  r.ip.decode = !decode || !strcmp(decode, "auto") ? INGEST_DECODE_AUTO
                : !strcmp(decode, "keyframes")     ? INGEST_DECODE_KEYFRAMES
                                                   : INGEST_DECODE_ALL;
  r.tty = isatty(STDERR_FILENO) && !json;
  r.failures = skipped;
  if (!work)
    jobs_n = MIN(jobs_n, (int) MAX(r.jobs->len, 1));
  r.current = g_new0(double, jobs_n + 1);
  r.current[jobs_n] = -2; /* end marker */
  g_mutex_init(&r.lock);
  r.t0 = g_get_monotonic_time();
  {
    GThread **th = g_new0(GThread *, jobs_n);
    worker_arg *wa = g_new0(worker_arg, jobs_n);
    GThread *hb = work ? g_thread_new("clip-index-heartbeat", heartbeat, &r) : NULL;
    for (int i = 0; i < jobs_n; i++) {
      wa[i].run = &r;
      wa[i].worker = i;
      th[i] = g_thread_new("clip-index-add", add_worker, &wa[i]);
    }
    for (int i = 0; i < jobs_n; i++)
      g_thread_join(th[i]);
    g_atomic_int_set(&r.stop, 1);
    if (hb)
      g_thread_join(hb);
    g_free(th);
    g_free(wa);
  }
  double wall = (g_get_monotonic_time() - r.t0) / 1e6;
  if (r.tty)
    fputc('\n', stderr);

  for (guint i = 0; i < r.failures->len; i++) {
    char **kv = g_strsplit(g_ptr_array_index(r.failures, i), "\t", 2);
    fprintf(stderr, "clip-index add: skipped %s: %s\n", kv[0], kv[1]);
    g_strfreev(kv);
  }
  if (json) {
    cJSON *o = cJSON_CreateObject(), *fl = cJSON_AddArrayToObject(o, "failed");
    cJSON_AddNumberToObject(o, "indexed", r.done);
    cJSON_AddNumberToObject(o, "unchanged", unchanged);
    cJSON_AddNumberToObject(o, "segments", (double) r.segments);
    cJSON_AddNumberToObject(o, "samples", (double) r.samples);
    cJSON_AddNumberToObject(o, "embedded", g_atomic_int_get(&r.embedded));
    cJSON_AddNumberToObject(o, "video_seconds", r.video_seconds);
    cJSON_AddNumberToObject(o, "wall_seconds", wall);
    for (guint i = 0; i < r.failures->len; i++) {
      char **kv = g_strsplit(g_ptr_array_index(r.failures, i), "\t", 2);
      cJSON *x = cJSON_CreateObject();
      cJSON_AddStringToObject(x, "file", kv[0]);
      cJSON_AddStringToObject(x, "reason", kv[1]);
      cJSON_AddItemToArray(fl, x);
      g_strfreev(kv);
    }
    char *s = cJSON_PrintUnformatted(o);
    puts(s);
    cJSON_free(s);
    cJSON_Delete(o);
  } else {
    printf("indexed %d file%s (%" G_GINT64_FORMAT " segments, %" G_GINT64_FORMAT
           " samples, %.1f s of video in %.1f s: %.1fx real time); %d unchanged; %u failed\n",
           r.done, r.done == 1 ? "" : "s", r.segments, r.samples, r.video_seconds, wall,
           wall > 0 ? r.video_seconds / wall : 0, unchanged, r.failures->len);
  }
  if (r.taken_over)
    fprintf(stderr,
            "clip-index work: %d file%s finished by another worker after our lease "
            "ran out\n",
            r.taken_over, r.taken_over == 1 ? "" : "s");
  rc = r.failures->len ? 1 : 0;
  if (r.fatal) {
    fprintf(stderr, "clip-index work: %s\n", r.fatal->message);
    g_clear_error(&r.fatal);
    rc = 1;
  }
  g_mutex_clear(&r.lock);
out:
  if (r.jobs)
    g_ptr_array_unref(r.jobs);
  if (all)
    g_ptr_array_unref(all);
  if (skipped)
    g_ptr_array_unref(skipped);
  g_free(r.current);
  g_clear_error(&e);
  clip_model_free(model);
  store_close(r.st);
  store_model_clear(&rec);
  g_free(model_path);
  g_free(mo.model);
  g_free(mo.precision);
  g_free(mo.backend);
  g_free(decode);
  g_option_context_free(oc);
  return rc;
}

static int
cmd_add(int argc, char **argv)
{
  return run_add(argc, argv, false);
}

static int
cmd_work(int argc, char **argv)
{
  return run_add(argc, argv, true);
}

/* ---- status ---------------------------------------------------------------- */

static int
cmd_status(int argc, char **argv)
{
  int status, rc = 1;
  GOptionEntry entries[] = { { NULL } };
  GOptionContext *oc = cli_parse(&argc, &argv, "INDEX",
                                 "The work queue of a shared index: queued, running (by which "
                                 "host and process), done, failed, throughput.",
                                 entries, NULL, &status);
  GError *e = NULL;
  store *st = NULL;
  if (!oc)
    return status;
  if (argc != 2) {
    rc = cli_usage_error(oc, "status needs an INDEX (a postgresql:// URI)");
    goto out;
  }
  if (!(st = store_open(argv[1], false, &e)) || !store_print_status(st, stdout, &e)) {
    fprintf(stderr, "clip-index status: %s\n", e->message);
    goto out;
  }
  rc = 0;
out:
  g_clear_error(&e);
  store_close(st);
  g_option_context_free(oc);
  return rc;
}

/* ---- info / export ------------------------------------------------------- */

static int
cmd_info(int argc, char **argv)
{
  gboolean json = FALSE;
  int status, rc = 1;
  GOptionEntry entries[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print as JSON", NULL },
                             { NULL } };
  GOptionContext *oc =
      cli_parse(&argc, &argv, "INDEX", "Show an index's model and counts.", entries, NULL, &status);
  store *st = NULL;
  store_model rec = { 0 };
  store_counts c;
  GError *e = NULL;
  char *shown = NULL;

  if (!oc)
    return status;
  if (argc != 2) {
    rc = cli_usage_error(oc, "info needs one INDEX");
    goto out;
  }
  if (!(st = store_open(argv[1], false, &e)) || !store_counts_get(st, &c, &e)) {
    fprintf(stderr, "clip-index info: %s\n", e->message);
    goto out;
  }
  store_get_model(st, &rec, NULL);
  /* A PostgreSQL URI may hold a password: never print it. */
#ifdef HAVE_LIBPQ
  shown = pgstore_mask_uri(argv[1]);
#else
  shown = g_strdup(argv[1]);
#endif
  if (json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "index", shown);
    cJSON_AddNumberToObject(o, "schema_version", STORE_SCHEMA_VERSION);
    if (rec.model) {
      cJSON_AddStringToObject(o, "model", rec.model);
      cJSON_AddStringToObject(o, "model_path", rec.model_path);
    } else {
      cJSON_AddNullToObject(o, "model");
      cJSON_AddNullToObject(o, "model_path");
    }
    cJSON_AddNumberToObject(o, "embed_dim", rec.embed_dim);
    cJSON_AddNumberToObject(o, "files", (double) c.files);
    cJSON_AddNumberToObject(o, "segments", (double) c.segments);
    cJSON_AddNumberToObject(o, "samples", (double) c.samples);
    cJSON_AddNumberToObject(o, "hours", c.seconds / 3600);
    char *s = cJSON_Print(o);
    puts(s);
    cJSON_free(s);
    cJSON_Delete(o);
  } else {
    printf("index:     %s (schema %d)\n", shown, STORE_SCHEMA_VERSION);
    printf("model:     %s (%s), dimension %d\n", rec.model ? rec.model : "(none yet)",
           rec.model_path ? rec.model_path : "-", rec.embed_dim);
    printf("files:     %" G_GINT64_FORMAT "\n", c.files);
    printf("segments:  %" G_GINT64_FORMAT "\n", c.segments);
    printf("samples:   %" G_GINT64_FORMAT "\n", c.samples);
    printf("indexed:   %.2f hours of video\n", c.seconds / 3600);
  }
  rc = 0;
out:
  g_free(shown);
  g_clear_error(&e);
  store_close(st);
  store_model_clear(&rec);
  g_option_context_free(oc);
  return rc;
}

typedef struct {
  FILE *out;
  bool npy;
} export_ctx;

static bool
export_row(int64_t id, const char *path, double start, double end, int n_samples,
           const float *embedding, int dim, void *data)
{
  export_ctx *x = data;
  if (x->npy)
    return fwrite(embedding, sizeof(float), dim, x->out) == (size_t) dim;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "segment", (double) id);
  cJSON_AddStringToObject(o, "file", path);
  cJSON_AddNumberToObject(o, "start", start);
  cJSON_AddNumberToObject(o, "end", end);
  cJSON_AddNumberToObject(o, "samples", n_samples);
  cJSON *a = cJSON_AddArrayToObject(o, "embedding");
  for (int i = 0; i < dim; i++)
    cJSON_AddItemToArray(a, cJSON_CreateNumber(embedding[i]));
  char *s = cJSON_PrintUnformatted(o);
  bool ok = fprintf(x->out, "%s\n", s) > 0;
  cJSON_free(s);
  cJSON_Delete(o);
  return ok;
}

static int
cmd_export(int argc, char **argv)
{
  char *format = NULL, *output = NULL;
  int status, rc = 1;
  GOptionEntry entries[] = {
    { "format", 0, 0, G_OPTION_ARG_STRING, &format,
      "npy (float32 matrix, one row per segment in id order) or jsonl (one segment per line)",
      "F" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Output file (default: stdout)", "FILE" },
    { NULL }
  };
  GOptionContext *oc =
      cli_parse(&argc, &argv, "INDEX", "Write the segments' embeddings.", entries, NULL, &status);
  store *st = NULL;
  store_model rec = { 0 };
  store_counts c;
  GError *e = NULL;
  export_ctx x = { 0 };

  if (!oc)
    return status;
  if (argc != 2 || !format || (strcmp(format, "npy") && strcmp(format, "jsonl"))) {
    rc = cli_usage_error(oc, "export needs one INDEX and --format npy|jsonl");
    goto out;
  }
  if (!(st = store_open(argv[1], false, &e)) || !store_counts_get(st, &c, &e)) {
    fprintf(stderr, "clip-index export: %s\n", e->message);
    goto out;
  }
  store_get_model(st, &rec, NULL);
  x.npy = !strcmp(format, "npy");
  x.out = output ? fopen(output, "wb") : stdout;
  if (!x.out) {
    fprintf(stderr, "clip-index export: cannot write %s: %s\n", output, g_strerror(errno));
    goto out;
  }
  if (x.npy) {
    /* NPY 1.0: magic, header length, a dict padded so data starts at a
     * multiple of 64 bytes. */
    char dict[128];
    int len = g_snprintf(dict, sizeof dict,
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (%" G_GINT64_FORMAT
                         ", %d), }",
                         c.segments, rec.embed_dim);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    unsigned short hlen = (unsigned short) (len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, x.out);
    fputc(hlen & 0xff, x.out);
    fputc(hlen >> 8, x.out);
    fputs(dict, x.out);
    for (int i = 0; i < pad; i++)
      fputc(' ', x.out);
    fputc('\n', x.out);
  }
  if (!store_foreach_segment(st, rec.embed_dim, export_row, &x, &e)) {
    fprintf(stderr, "clip-index export: %s\n", e->message);
    goto out;
  }
  if (fflush(x.out) != 0) {
    fprintf(stderr, "clip-index export: write error: %s\n", g_strerror(errno));
    goto out;
  }
  rc = 0;
out:
  if (x.out && x.out != stdout)
    fclose(x.out);
  g_clear_error(&e);
  store_close(st);
  store_model_clear(&rec);
  g_free(format);
  g_free(output);
  g_option_context_free(oc);
  return rc;
}

/* ---- main ---------------------------------------------------------------- */

/* decodes: the verb decodes video, so GStreamer is initialized for it (the
 * others skip its registry; search initializes it for --image itself). */
static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  bool decodes;
  const char *usage;
} verbs[] = {
  { "add", cmd_add, true,
    "add INDEX PATH|URI... [--model M] [--interval S] [--precision fp32|bf16] [--backend B] "
    "[--threads N] [-j N]" },
  { "work", cmd_work, true,
    "work INDEX [-j N] [--until-empty] [--lease S] [--attempts N] (INDEX: postgresql://...)" },
  { "status", cmd_status, false, "status INDEX (INDEX: postgresql://...)" },
  { "search", cmd_search, false,
    "search INDEX \"text\" [--top K] [--json] [--template T]... [--thumbnails DIR] [--image "
    "FILE]" },
  { "info", cmd_info, false, "info INDEX [--json]" },
  { "export", cmd_export, false, "export INDEX --format npy|jsonl [-o FILE]" },
#ifdef HAVE_LIBSOUP
  { "serve", cmd_serve, false, "serve INDEX [--listen 127.0.0.1:8080] [--public]" },
#endif
};

static int
usage(FILE *out)
{
  fprintf(out, "usage: clip-index VERB ARGS (clip-index VERB --help for its options)\n");
  for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
    fprintf(out, "  clip-index %s\n", verbs[i].usage);
  return out == stderr ? 2 : 0;
}

int
main(int argc, char **argv)
{
  int rc;
  if (argc < 2)
    return usage(stderr);
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
    return usage(stdout);
  for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
    if (!strcmp(argv[1], verbs[i].name)) {
      if (verbs[i].decodes)
        gst_init(NULL, NULL);
      rc = verbs[i].run(argc - 1, argv + 1);
      if (gst_is_initialized())
        gst_deinit();
      return rc;
    }
  fprintf(stderr, "clip-index: unknown verb '%s'\n", argv[1]);
  return usage(stderr);
}
