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

#include "clip.h"
#include "ingest.h"
#include "matrix.h"
#include "search.h"
#include "serve.h"
#include "store.h"
#ifdef HAVE_LIBPQ
#include "store-pg.h"
#endif

#define DEFAULT_MODEL "clipfilter-mini"

static int
usage_error(GOptionContext *oc, const char *msg)
{
  fprintf(stderr, "clip-index: %s\n", msg);
  if (oc) {
    char *help = g_option_context_get_help(oc, TRUE, NULL);
    fputs(help, stderr);
    g_free(help);
  }
  return 2;
}

/* Parses a verb's options; -h prints help and exits 0 (GOption). */
static GOptionContext *
parse(int *argc, char ***argv, const char *params, const char *summary, GOptionEntry *entries,
      int *status)
{
  GOptionContext *oc = g_option_context_new(params);
  GError *e = NULL;
  g_option_context_set_summary(oc, summary);
  g_option_context_add_main_entries(oc, entries, NULL);
  if (!g_option_context_parse(oc, argc, argv, &e)) {
    *status = usage_error(oc, e->message);
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

typedef struct {
  char *model, *precision, *backend;
  int threads;
} model_opts;

static bool
params_from_opts(const model_opts *o, clip_params *p, const char *verb)
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
static char *
index_model(store *s, const char *asked, const char *verb, bool bind, store_model *rec)
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

static clip_model *
load_model(const char *path, const clip_params *params, int want_dim, const char *verb)
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
  GOptionContext *oc = parse(&argc, &argv, work ? "INDEX" : "INDEX PATH|URI...",
                             work ? "Index files claimed from a shared index's queue (a "
                                    "postgresql:// URI), on any number of machines."
                                  : "Index video files, directories (recursively) and URIs; "
                                    "on a postgresql:// index, queue them for work.",
                             entries, &status);
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
    rc = usage_error(oc, work ? "work needs an INDEX (a postgresql:// URI) only"
                              : "add needs an INDEX and at least one PATH or URI");
    goto out;
  }
  if (work && (lease < 2 || attempts < 1 || reconnect_s < 0 || decode_only)) {
    rc = usage_error(oc, "--lease >= 2, --attempts >= 1, --reconnect-timeout >= 0; no "
                         "--decode-only");
    goto out;
  }
  if (!(interval > 0) || !(merge > -1 && merge <= 1.0001) || jobs_n < 1 || batch < 1 || thumb < 0
      || thumb > 4096 || !(change_threshold >= 0) || !(max_reuse >= 0)) {
    rc = usage_error(oc, "--interval must be > 0, --merge in (-1, 1], -j and --batch >= 1, "
                         "--thumbnail-width in [0, 4096], --change-threshold and --max-reuse "
                         ">= 0");
    goto out;
  }
  if (decode && strcmp(decode, "auto") && strcmp(decode, "keyframes") && strcmp(decode, "all")) {
    rc = usage_error(oc, "--decode must be auto, keyframes or all");
    goto out;
  }
  if (!params_from_opts(&mo, &params, "add")) {
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
  if (!(model_path = index_model(r.st, mo.model, "add", true, &rec)))
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
  if (!(model = load_model(model_path, &params, rec.embed_dim, "add")))
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
  GOptionContext *oc = parse(&argc, &argv, "INDEX",
                             "The work queue of a shared index: queued, running (by which "
                             "host and process), done, failed, throughput.",
                             entries, &status);
  GError *e = NULL;
  store *st = NULL;
  if (!oc)
    return status;
  if (argc != 2) {
    rc = usage_error(oc, "status needs an INDEX (a postgresql:// URI)");
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

/* ---- search -------------------------------------------------------------- */

static double
process_cpu_seconds(void)
{
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
         + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
cmd_search(int argc, char **argv)
{
  model_opts mo = { 0 };
  int top = 10, status;
  gboolean json = FALSE, timing = FALSE, exact_scan = FALSE;
  char **templates = NULL, *thumbs = NULL, *image = NULL;
  GOptionEntry entries[] = {
    { "top", 'k', 0, G_OPTION_ARG_INT, &top, "Number of hits (default 10)", "K" },
    { "fp32-scan", 0, 0, G_OPTION_ARG_NONE, &exact_scan,
      "Score every row from the float32 matrix instead of the int8 prefilter (same hits; for "
      "comparison)",
      NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the hits as a JSON list", NULL },
    { "template", 0, 0, G_OPTION_ARG_STRING_ARRAY, &templates,
      "Prompt template with {} (repeatable; embeddings are averaged)", "T" },
    { "thumbnails", 0, 0, G_OPTION_ARG_FILENAME, &thumbs, "Write the hits' JPEG thumbnails here",
      "DIR" },
    { "image", 0, 0, G_OPTION_ARG_FILENAME, &image, "Search by an image instead of text", "FILE" },
    { "model", 0, 0, G_OPTION_ARG_STRING, &mo.model,
      "Model to check against the index's (default: the index's)", "M" },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &mo.backend, "auto, openblas (default) or onednn",
      "B" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &mo.threads, "Engine threads", "N" },
    { "timing", 0, 0, G_OPTION_ARG_NONE, &timing, "Print load, embed and scan times to stderr",
      NULL },
    { NULL }
  };
  GOptionContext *oc = parse(&argc, &argv, "INDEX [TEXT]",
                             "Rank the index's segments by cosine similarity to a text (prompt "
                             "syntax of the element: 'a|b' are synonyms) or an image.",
                             entries, &status);
  store *st = NULL;
  store_model rec = { 0 };
  char *model_path = NULL;
  clip_model *model = NULL;
  clip_ctx *ctx = NULL;
  clip_params params;
  clip_error err = { 0 };
  GError *e = NULL;
  float *query = NULL;
  segment_matrix mat = { 0 };
  quant_matrix *quant = NULL;
  search_hit *hits = NULL;
  int rc = 1, n_hits, n_templates = 0;
  int64_t n_candidates = 0;
  double t_load = 0, t_embed = 0, t_matrix = 0, t_scan = 0;
  gint64 t0 = g_get_monotonic_time();

  if (!oc)
    return status;
  if (argc != (image ? 2 : 3) || top < 1) {
    rc = usage_error(oc, image ? "search --image needs INDEX only"
                               : "search needs INDEX and one TEXT; --top >= 1");
    goto out;
  }
  if (!mo.backend)
    mo.backend = g_strdup("openblas"); /* loads fastest: no weight repacking */
  if (!params_from_opts(&mo, &params, "search")) {
    rc = 2;
    goto out;
  }
  params.precision = CLIP_PRECISION_FP32;
  if (!(st = store_open(argv[1], false, &e))) {
    fprintf(stderr, "clip-index search: %s\n", e->message);
    goto out;
  }
  if (!(model_path = index_model(st, mo.model, "search", false, &rec)))
    goto out;
  if (!(model = load_model(model_path, &params, rec.embed_dim, "search"))
      || !(ctx = clip_ctx_new(model, &err))) {
    if (model)
      fprintf(stderr, "clip-index search: %s\n", err.message);
    goto out;
  }
  t_load = (g_get_monotonic_time() - t0) / 1e6;
  query = g_new(float, rec.embed_dim);
  if (image) {
    if (!ingest_image(ctx, model, image, query, &e)) {
      fprintf(stderr, "clip-index search: %s\n", e->message);
      goto out;
    }
  } else {
    const char *label = argv[2];
    n_templates = templates ? (int) g_strv_length(templates) : 0;
    for (int i = 0; i < n_templates; i++)
      if (!strstr(templates[i], "{}")) {
        fprintf(stderr, "clip-index search: template \"%s\" has no {} placeholder\n", templates[i]);
        rc = 2;
        goto out;
      }
    if (clip_embed_labels(ctx, &label, 1, (const char *const *) templates, n_templates, query, &err)
        != CLIP_OK) {
      fprintf(stderr, "clip-index search: cannot embed \"%s\": %s\n", label, err.message);
      goto out;
    }
  }
  t_embed = (g_get_monotonic_time() - t0) / 1e6 - t_load;
  /* The int8 copy reads a quarter of the bytes and its bound makes the
   * hits those of the float32 scan, in the same order. */
  if (!(exact_scan ? segment_matrix_open(&mat, st, store_cache_base(st), rec.embed_dim, &e)
                   : segment_matrix_open_quant(&mat, &quant, st, store_cache_base(st),
                                               rec.embed_dim, &e))) {
    fprintf(stderr, "clip-index search: %s\n", e->message);
    goto out;
  }
  t_matrix = (g_get_monotonic_time() - t0) / 1e6 - t_load - t_embed;
  hits = g_new(search_hit, top);
  /* CPU time of the scan (all its threads): on a shared machine the wall
   * time follows the load, this much less. */
  double cpu_scan = process_cpu_seconds();
  if (quant) {
    gint64 t_scan0 = g_get_monotonic_time();
    n_hits = quant_top_k(quant, query, top, hits, &n_candidates);
    t_scan = (g_get_monotonic_time() - t_scan0) / 1e6;
  } else {
    n_hits = search_top_k(mat.rows, mat.n, rec.embed_dim, query, top, hits, &t_scan);
  }
  cpu_scan = process_cpu_seconds() - cpu_scan;

  if (thumbs && g_mkdir_with_parents(thumbs, 0755) != 0) {
    fprintf(stderr, "clip-index search: cannot create %s: %s\n", thumbs, g_strerror(errno));
    goto out;
  }
  cJSON *list = json ? cJSON_CreateArray() : NULL;
  for (int i = 0; i < n_hits; i++) {
    store_hit h;
    char *thumb_path = NULL;
    int64_t id = mat.ids[hits[i].row];
    if (!store_get_segment(st, id, &h, &e)) {
      fprintf(stderr, "clip-index search: %s\n", e->message);
      cJSON_Delete(list);
      goto out;
    }
    if (thumbs && h.thumbnail) {
      gsize len;
      const char *data = g_bytes_get_data(h.thumbnail, &len);
      char name[64];
      g_snprintf(name, sizeof name, "%02d-segment-%" G_GINT64_FORMAT ".jpg", i + 1, id);
      thumb_path = g_build_filename(thumbs, name, NULL);
      if (!g_file_set_contents(thumb_path, data, len, &e)) {
        fprintf(stderr, "clip-index search: %s\n", e->message);
        g_clear_error(&e);
        g_clear_pointer(&thumb_path, g_free);
      }
    }
    if (list) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "rank", i + 1);
      cJSON_AddNumberToObject(o, "segment", (double) id);
      cJSON_AddStringToObject(o, "file", h.path);
      cJSON_AddNumberToObject(o, "start", h.start);
      cJSON_AddNumberToObject(o, "end", h.end);
      cJSON_AddNumberToObject(o, "score", hits[i].score);
      cJSON_AddNumberToObject(o, "samples", h.n_samples);
      if (thumb_path)
        cJSON_AddStringToObject(o, "thumbnail", thumb_path);
      cJSON_AddItemToArray(list, o);
    } else {
      int s0 = (int) h.start, s1 = (int) h.end;
      printf("%2d  %.4f  %d:%02d:%02d.%d-%d:%02d:%02d.%d  %s  (segment %" G_GINT64_FORMAT ")\n",
             i + 1, hits[i].score, s0 / 3600, s0 / 60 % 60, s0 % 60, (int) ((h.start - s0) * 10),
             s1 / 3600, s1 / 60 % 60, s1 % 60, (int) ((h.end - s1) * 10), h.path, id);
    }
    g_free(thumb_path);
    store_hit_clear(&h);
  }
  if (list) {
    char *s = cJSON_Print(list);
    puts(s);
    cJSON_free(s);
    cJSON_Delete(list);
  }
  if (timing)
    fprintf(stderr,
            "model load %.1f ms, query embed %.1f ms, matrix %s %.1f ms (%" G_GINT64_FORMAT
            " rows), scan %s %.1f ms (%" G_GINT64_FORMAT " rescored, CPU %.1f ms), total %.1f ms\n",
            t_load * 1e3, t_embed * 1e3, mat.map ? "mapped" : "loaded", t_matrix * 1e3, mat.n,
            quant ? "int8" : "fp32", t_scan * 1e3, quant ? n_candidates : mat.n, cpu_scan * 1e3,
            (g_get_monotonic_time() - t0) / 1e3);
  if (timing && store_copy_note(st))
    fprintf(stderr, "matrix %s\n", store_copy_note(st));
  rc = 0;
out:
  g_clear_error(&e);
  g_free(query);
  quant_matrix_free(quant);
  segment_matrix_close(&mat);
  g_free(hits);
  clip_ctx_free(ctx);
  clip_model_free(model);
  store_close(st);
  store_model_clear(&rec);
  g_free(model_path);
  g_free(mo.model);
  g_free(mo.backend);
  g_free(mo.precision);
  g_strfreev(templates);
  g_free(thumbs);
  g_free(image);
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
      parse(&argc, &argv, "INDEX", "Show an index's model and counts.", entries, &status);
  store *st = NULL;
  store_model rec = { 0 };
  store_counts c;
  GError *e = NULL;
  char *shown = NULL;

  if (!oc)
    return status;
  if (argc != 2) {
    rc = usage_error(oc, "info needs one INDEX");
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
      parse(&argc, &argv, "INDEX", "Write the segments' embeddings.", entries, &status);
  store *st = NULL;
  store_model rec = { 0 };
  store_counts c;
  GError *e = NULL;
  export_ctx x = { 0 };

  if (!oc)
    return status;
  if (argc != 2 || !format || (strcmp(format, "npy") && strcmp(format, "jsonl"))) {
    rc = usage_error(oc, "export needs one INDEX and --format npy|jsonl");
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

/* ---- serve --------------------------------------------------------------- */

#ifdef HAVE_LIBSOUP
static int
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
    { "backend", 0, 0, G_OPTION_ARG_STRING, &mo.backend, "auto, openblas (default) or onednn",
      "B" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &mo.threads, "Engine threads", "N" },
    { NULL }
  };
  GOptionContext *oc = parse(&argc, &argv, "INDEX",
                             "Serve a search page, a JSON API, thumbnails and the indexed videos "
                             "over HTTP (API in docs/indexing.md).",
                             entries, &status);
  store *st = NULL;
  store_model rec = { 0 };
  char *model_path = NULL;
  clip_model *model = NULL;
  clip_ctx *ctx = NULL;
  clip_params params;
  clip_error err = { 0 };
  GError *e = NULL;

  if (!oc)
    return status;
  if (argc != 2) {
    rc = usage_error(oc, "serve needs one INDEX");
    goto out;
  }
  if (!mo.backend)
    mo.backend = g_strdup("openblas");
  if (!params_from_opts(&mo, &params, "serve")) {
    rc = 2;
    goto out;
  }
  params.precision = CLIP_PRECISION_FP32;
  if (!(st = store_open(argv[1], false, &e))) {
    fprintf(stderr, "clip-index serve: %s\n", e->message);
    goto out;
  }
  if (!(model_path = index_model(st, NULL, "serve", false, &rec)))
    goto out;
  if (!(model = load_model(model_path, &params, rec.embed_dim, "serve"))
      || !(ctx = clip_ctx_new(model, &err))) {
    if (model)
      fprintf(stderr, "clip-index serve: %s\n", err.message);
    goto out;
  }
  serve_params sp = { .index_path = store_cache_base(st),
                      .st = st,
                      .model = &rec,
                      .ctx = ctx,
                      .listen = listen ? listen : "127.0.0.1:8080",
                      .public_listen = public_listen };
  if (!serve_run(&sp, &e)) {
    fprintf(stderr, "clip-index serve: %s\n", e->message);
    rc = g_error_matches(e, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED) ? 2 : 1;
    goto out;
  }
  rc = 0;
out:
  g_clear_error(&e);
  clip_ctx_free(ctx);
  clip_model_free(model);
  store_close(st);
  store_model_clear(&rec);
  g_free(model_path);
  g_free(mo.backend);
  g_free(listen);
  g_option_context_free(oc);
  return rc;
}
#endif

/* ---- main ---------------------------------------------------------------- */

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
} verbs[] = {
  { "add", cmd_add,
    "add INDEX PATH|URI... [--model M] [--interval S] [--precision fp32|bf16] [--backend B] "
    "[--threads N] [-j N]" },
  { "work", cmd_work,
    "work INDEX [-j N] [--until-empty] [--lease S] [--attempts N] (INDEX: postgresql://...)" },
  { "status", cmd_status, "status INDEX (INDEX: postgresql://...)" },
  { "search", cmd_search,
    "search INDEX \"text\" [--top K] [--json] [--template T]... [--thumbnails DIR] [--image "
    "FILE]" },
  { "info", cmd_info, "info INDEX [--json]" },
  { "export", cmd_export, "export INDEX --format npy|jsonl [-o FILE]" },
#ifdef HAVE_LIBSOUP
  { "serve", cmd_serve, "serve INDEX [--listen 127.0.0.1:8080] [--public]" },
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
      gst_init(NULL, NULL);
      rc = verbs[i].run(argc - 1, argv + 1);
      gst_deinit();
      return rc;
    }
  fprintf(stderr, "clip-index: unknown verb '%s'\n", argv[1]);
  return usage(stderr);
}
