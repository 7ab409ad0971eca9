/* soak.c — a long run of clipfilter in a live pipeline:
 *
 *   videotestsrc is-live=true ! capsfilter ! clipfilter (shipped model) ! fakesink
 *
 * Each cycle plays the pipeline for 30–150 ms while the prompts change every
 * 10–100 ms (one change in five is an invalid value, which the element must
 * refuse with a warning and keep its prompts), renegotiates every fourth
 * cycle by changing the capsfilter's caps (sizes, odd sizes and formats),
 * then leaves PLAYING — to NULL every fourth cycle (the model and prompts
 * are loaded again at the next NULL→READY, which takes most of a cycle's
 * time), to PAUSED otherwise.
 *
 * After each cycle the process's resident memory (VmRSS), threads
 * (/proc/self/task) and open descriptors (/proc/self/fd) are sampled.
 * The first --warmup cycles are not judged (allocator arenas, the plugin
 * registry, GLib's thread pools and caches settle there). Over the rest:
 *
 *  - threads and fds: the maximum over the last quarter of the samples is
 *    at most the maximum over the first quarter (no growth at all);
 *  - RSS: the median of the last quarter is at most the median of the
 *    first quarter plus --rss-tolerance-kb; and, when at least 2,000
 *    cycles are judged, the least-squares slope over the second half is
 *    below --slope-kb per 1,000 cycles.
 *
 * Medians of quarters rather than single samples, because the RSS of one
 * sample moves by a few hundred KB with what the streaming and label
 * threads happen to hold (frames in flight, a prompt set being embedded).
 * Under AddressSanitizer (CLIPFILTER_SANITIZE names "address") the RSS
 * check is reported but not applied: ASan's quarantine keeps freed memory
 * resident up to 256 MB, and LeakSanitizer checks for leaks at exit there.
 *
 * At the end the pipeline must still work: a last, valid prompt set is
 * set and a message naming its labels must arrive. The run fails on any
 * error message, on a warning count other than the invalid values set,
 * and on a failed or timed-out state change.
 *
 * A state change that does not complete within 20 s prints the stack of
 * every thread (gdb attached to the process) before the run fails. A
 * PAUSED->PLAYING lost by GStreamer's live source base class is started
 * again and counted instead (restart_stuck_source() says why).
 *
 * Usage: soak [--cycles N] [--warmup N] [--rss-tolerance-kb N]
 *             [--slope-kb N] [--max-seconds S] [--samples FILE] [--seed N]
 *             [--dwell-ms MS] [--null-every N]
 * --max-seconds stops the cycles early, once at least 40 have run after
 * the warm-up (the judgement then covers the cycles that ran). A smaller
 * --dwell-ms and --null-every 0 (never NULL, whose model load is most of a
 * cycle) run many more state changes per second, to hunt a rare stall;
 * with GST_DEBUG=GST_STATES:4,clipfilter:5 and GST_DEBUG_FILE set, the log
 * shows what led to it.
 * Exit 77 (skip) when the shipped model is not in the source tree, except
 * under CI=true. */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define STATE_TIMEOUT (20 * GST_SECOND)
/* How long PAUSED->PLAYING may wait for its first buffer before the
 * source's task is looked at (see restart_stuck_source()). */
#define SOURCE_CHECK (2 * GST_SECOND)
#define MIN_JUDGED 40

typedef struct {
  gint64 rss_kb;
  gint threads, fds;
} Sample;

typedef struct {
  GstElement *pipeline, *src, *caps, *clip;
  GstBus *bus;
  GRand *rand;
  gint dwell_ms, null_every;
  guint warnings, messages, prompt_sets, refused_sets, caps_changes, source_restarts;
  gint caps_index;
  guint cycle; /* the one running, for messages */
} Soak;

/* Valid sets; some use the prompt syntax's corners (synonyms, blanks,
 * empty pieces, non-ASCII). */
static const gchar *const valid_prompts[] = {
  "a ball;a cat",
  "a test pattern;a dog|a puppy;a red car",
  " moving ball | bouncing ball ; ; snow ",
  "un chat;ein Hund;猫",
  "bars",
  "a white ball on black;static noise;colour bars;a checkerboard",
};

/* Refused from READY on, each with a warning. */
static const gchar *const invalid_prompts[] = {
  ";;",
  " | ; |",
  "a cat;\xff\xfe",
  "",
};

static const gchar *const caps_list[] = {
  "video/x-raw,format=I420,width=160,height=120,framerate=30/1",
  "video/x-raw,format=RGB,width=320,height=240,framerate=30/1",
  "video/x-raw,format=NV12,width=161,height=121,framerate=30/1",
  "video/x-raw,format=BGRx,width=96,height=72,framerate=30/1",
  "video/x-raw,format=GRAY8,width=175,height=97,framerate=30/1",
};

static void
die(const gchar *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  fputs("soak: FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* A stuck state change is a hang somewhere in the pipeline's threads:
 * print every thread's stack (gdb attached to this process) before failing,
 * so that a stall seen once in hours of cycles can be explained. */
static void
dump_threads(void)
{
  gchar *pid = g_strdup_printf("%d", (int) getpid());
  gchar *argv[] = {
    "gdb", "-p", pid, "-batch", "-nx", "-ex", "set pagination off", "-ex", "thread apply all bt",
    NULL
  };
  gchar *out = NULL;
  GError *err = NULL;

  /* Yama's ptrace_scope 1 lets only an ancestor attach unless we allow it. */
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  fprintf(stderr, "soak: the stacks of every thread:\n");
  if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                    &out, NULL, NULL, &err)) {
    fprintf(stderr, "soak: no stacks: %s\n", err->message);
    g_clear_error(&err);
  } else {
    fputs(out, stderr);
  }
  g_free(out);
  g_free(pid);
}

static gint64
rss_kb(void)
{
  gchar *status = NULL, *line;
  gint64 kb = -1;

  if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
    die("cannot read /proc/self/status");
  line = strstr(status, "\nVmRSS:");
  if (line)
    kb = g_ascii_strtoll(line + strlen("\nVmRSS:"), NULL, 10);
  g_free(status);
  if (kb <= 0)
    die("no VmRSS in /proc/self/status");
  return kb;
}

static gint
count_entries(const gchar *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  gint n = 0;

  if (!d)
    die("cannot list %s", dir);
  while (g_dir_read_name(d))
    n++;
  g_dir_close(d);
  return n - (strcmp(dir, "/proc/self/fd") == 0); /* the GDir's own */
}

/* Pops every pending message: an error fails the run; warnings and the
 * element's messages are counted. Returns a copy of the last clipfilter
 * message's structure whose first label is @want_label (else NULL). */
static GstStructure *
drain_bus(Soak *s, const gchar *want_label)
{
  GstMessage *m;
  GstStructure *found = NULL;

  while ((m = gst_bus_pop(s->bus))) {
    GError *err = NULL;
    gchar *dbg = NULL;

    switch (GST_MESSAGE_TYPE(m)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error(m, &err, &dbg);
      die("error from %s: %s (%s)", GST_OBJECT_NAME(GST_MESSAGE_SRC(m)), err->message,
          dbg ? dbg : "");
      break;
    case GST_MESSAGE_WARNING:
      /* A refused prompt set is what is counted; the shipped model's
       * unknown-words warning for a valid set is expected; anything
       * else fails the run. */
      gst_message_parse_warning(m, &err, &dbg);
      if (g_str_has_prefix(err->message, "Invalid "))
        s->warnings++;
      else if (!strstr(err->message, "never saw these prompt words"))
        die("warning from %s: %s (%s)", GST_OBJECT_NAME(GST_MESSAGE_SRC(m)), err->message,
            dbg ? dbg : "");
      g_clear_error(&err);
      g_free(dbg);
      break;
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *st = gst_message_get_structure(m);
      const GValue *labels;

      if (!gst_structure_has_name(st, "clipfilter"))
        break;
      s->messages++;
      labels = gst_structure_get_value(st, "labels");
      if (want_label && labels && gst_value_array_get_size(labels) > 0
          && g_strcmp0(g_value_get_string(gst_value_array_get_value(labels, 0)), want_label) == 0) {
        if (found)
          gst_structure_free(found);
        found = gst_structure_copy(st);
      }
      break;
    }
    default: break;
    }
    gst_message_unref(m);
  }
  return found;
}

/* GStreamer's live sources (GstBaseSrc, up to at least 1.22) can lose a
 * PAUSED->PLAYING that follows PLAYING->PAUSED closely: going to PAUSED
 * wakes the streaming thread from its clock wait, it returns FLUSHING and
 * pauses its task — and when it is descheduled between the two, the
 * PAUSED->PLAYING that restarts the task comes first and the late pause
 * undoes it. No buffer is ever produced again, the sink never prerolls,
 * PLAYING never completes. The same happens with identity in place of
 * clipfilter, so it is not the element's; a long run meets it every few
 * thousand cycles. When PAUSED->PLAYING has waited SOURCE_CHECK and the
 * source's task is paused (it never is in PLAYING otherwise), the task is
 * started again, as the state change meant to, and the run counts it. */
static gboolean
restart_stuck_source(Soak *s)
{
  GstPad *pad = gst_element_get_static_pad(s->src, "src");
  GstTask *task;
  gboolean stuck;

  GST_OBJECT_LOCK(pad);
  task = GST_PAD_TASK(pad) ? gst_object_ref(GST_PAD_TASK(pad)) : NULL;
  GST_OBJECT_UNLOCK(pad);
  stuck = task && gst_task_get_state(task) == GST_TASK_PAUSED;
  if (stuck) {
    s->source_restarts++;
    fprintf(stderr,
            "soak: cycle %u: PLAYING not reached after %d s, the live source's task is "
            "paused (GstBaseSrc's PAUSED/PLAYING race): started again\n",
            s->cycle, (int) (SOURCE_CHECK / GST_SECOND));
    gst_task_start(task);
  }
  if (task)
    gst_object_unref(task);
  gst_object_unref(pad);
  return stuck;
}

static void
set_state(Soak *s, GstState state)
{
  GstStateChangeReturn ret = gst_element_set_state(s->pipeline, state);
  GstState cur = GST_STATE_VOID_PENDING;
  GstClockTime first = state == GST_STATE_PLAYING ? SOURCE_CHECK : STATE_TIMEOUT;

  if (ret != GST_STATE_CHANGE_FAILURE)
    ret = gst_element_get_state(s->pipeline, &cur, NULL, first);
  if (ret == GST_STATE_CHANGE_ASYNC && first < STATE_TIMEOUT)
    ret = gst_element_get_state(s->pipeline, &cur, NULL,
                                restart_stuck_source(s) ? STATE_TIMEOUT : STATE_TIMEOUT - first);
  if (ret == GST_STATE_CHANGE_FAILURE || ret == GST_STATE_CHANGE_ASYNC) {
    drain_bus(s, NULL); /* an error message says why, and fails */
    if (ret == GST_STATE_CHANGE_ASYNC)
      dump_threads();
    die("cycle %u: state change to %s did not complete (%s)", s->cycle,
        gst_element_state_get_name(state), gst_element_state_change_return_get_name(ret));
  }
  if (cur != state)
    die("in %s after a change to %s", gst_element_state_get_name(cur),
        gst_element_state_get_name(state));
}

static void
change_prompts(Soak *s)
{
  gboolean invalid = g_rand_int_range(s->rand, 0, 5) == 0;

  if (invalid) {
    g_object_set(s->clip, "prompts",
                 invalid_prompts[g_rand_int_range(s->rand, 0, G_N_ELEMENTS(invalid_prompts))],
                 NULL);
    s->refused_sets++;
  } else {
    g_object_set(s->clip, "prompts",
                 valid_prompts[g_rand_int_range(s->rand, 0, G_N_ELEMENTS(valid_prompts))], NULL);
    s->prompt_sets++;
  }
}

static void
change_caps(Soak *s)
{
  GstCaps *caps;

  s->caps_index = (s->caps_index + 1) % G_N_ELEMENTS(caps_list);
  caps = gst_caps_from_string(caps_list[s->caps_index]);
  g_object_set(s->caps, "caps", caps, NULL);
  gst_caps_unref(caps);
  s->caps_changes++;
}

/* One cycle: PLAYING for 30–150 ms with prompt changes every 10–100 ms
 * (--dwell-ms scales both), a caps change every fourth cycle, then PAUSED
 * or NULL (every --null-every cycles). */
static void
cycle(Soak *s, guint i)
{
  gint64 dwell = g_rand_int_range(s->rand, s->dwell_ms / 5, s->dwell_ms + 1) * 1000;
  gint64 end;
  gboolean renegotiate = i % 4 == 0;
  gboolean to_null;

  s->cycle = i;
  to_null = s->null_every > 0 && i % s->null_every == (guint) s->null_every - 1;

  set_state(s, GST_STATE_PLAYING);
  end = g_get_monotonic_time() + dwell;
  for (;;) {
    gint64 left = end - g_get_monotonic_time();
    gint64 pause =
        g_rand_int_range(s->rand, MAX(1, s->dwell_ms / 15), s->dwell_ms * 2 / 3 + 1) * 1000;

    if (left <= 0)
      break;
    g_usleep(MIN(pause, left));
    if (pause >= left)
      break;
    change_prompts(s);
    if (renegotiate && pause % 2 == 0)
      change_caps(s), renegotiate = FALSE;

    drain_bus(s, NULL);
  }
  set_state(s, to_null ? GST_STATE_NULL : GST_STATE_PAUSED);
  drain_bus(s, NULL);
}

static int
cmp_int64(gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

static gint64
median_rss(const Sample *v, guint n)
{
  gint64 *r = g_new(gint64, n), m;

  for (guint k = 0; k < n; k++)
    r[k] = v[k].rss_kb;
  qsort(r, n, sizeof *r, cmp_int64);
  m = r[n / 2];
  g_free(r);
  return m;
}

static void
max_counts(const Sample *v, guint n, gint *threads, gint *fds)
{
  *threads = *fds = 0;
  for (guint k = 0; k < n; k++) {
    *threads = MAX(*threads, v[k].threads);
    *fds = MAX(*fds, v[k].fds);
  }
}

/* Least-squares slope of RSS against the cycle number, in KB per cycle. */
static double
rss_slope(const Sample *v, guint n)
{
  double sx = 0, sy = 0, sxx = 0, sxy = 0;

  for (guint k = 0; k < n; k++) {
    sx += k;
    sy += v[k].rss_kb;
    sxx += (double) k * k;
    sxy += (double) k * v[k].rss_kb;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

int
main(int argc, char **argv)
{
  gint cycles = 300, warmup = -1, tolerance_kb = 4096, slope_kb = 512;
  gint max_seconds = 0, seed = 1, dwell_ms = 150, null_every = 4;
  gchar *samples_path = NULL;
  GOptionEntry entries[] = {
    { "cycles", 0, 0, G_OPTION_ARG_INT, &cycles, "State cycles (300)", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "Cycles not judged (a tenth, at least 50)", "N" },
    { "rss-tolerance-kb", 0, 0, G_OPTION_ARG_INT, &tolerance_kb,
      "Allowed RSS growth, last quarter against first (4096)", "KB" },
    { "slope-kb", 0, 0, G_OPTION_ARG_INT, &slope_kb,
      "Allowed RSS slope per 1000 cycles over the second half (512)", "KB" },
    { "max-seconds", 0, 0, G_OPTION_ARG_INT, &max_seconds,
      "Stop the cycles after this long (0: never)", "S" },
    { "samples", 0, 0, G_OPTION_ARG_FILENAME, &samples_path,
      "Write cycle,seconds,rss_kb,threads,fds lines here", "FILE" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, "Random seed (1)", "N" },
    { "dwell-ms", 0, 0, G_OPTION_ARG_INT, &dwell_ms,
      "Longest PLAYING time of a cycle; prompt changes come every dwell/15 to 2/3 of it (150)",
      "MS" },
    { "null-every", 0, 0, G_OPTION_ARG_INT, &null_every,
      "Go to NULL every N cycles, else PAUSED (4; 0: never)", "N" },
    { NULL }
  };
  GOptionContext *oc = g_option_context_new("- clipfilter soak test");
  GError *err = NULL;
  const gchar *root = g_getenv("CLIP_SOURCE_ROOT");
  const gchar *san = g_getenv("CLIPFILTER_SANITIZE");
  gboolean asan = san && strstr(san, "address");
  Soak s = { 0 };
  Sample *v;
  FILE *out = NULL;
  gint64 t0;
  guint done = 0, judged, q;
  gint th_first, fd_first, th_last, fd_last;
  gint64 med_first, med_last;
  double slope = 0;
  gboolean ok = TRUE;
  GstStructure *last = NULL;

  g_option_context_add_main_entries(oc, entries, NULL);
  g_option_context_add_group(oc, gst_init_get_option_group());
  if (!g_option_context_parse(oc, &argc, &argv, &err))
    die("%s", err->message);
  g_option_context_free(oc);
  if (warmup < 0)
    warmup = MAX(50, cycles / 10);
  if (cycles < warmup + MIN_JUDGED)
    die("--cycles %d leaves fewer than %d cycles after a warm-up of %d", cycles, MIN_JUDGED,
        warmup);

  if (root) {
    gchar *dir = g_build_filename(root, "models", "clipfilter-mini", NULL);
    gboolean have = g_file_test(dir, G_FILE_TEST_IS_DIR);

    if (!have) {
      fprintf(stderr, "soak: the shipped model is not in this tree (%s)\n", dir);
      g_free(dir);
      return g_strcmp0(g_getenv("CI"), "true") == 0 ? 1 : 77;
    }
    g_free(dir);
  }

  s.pipeline = gst_parse_launch("videotestsrc name=src is-live=true pattern=ball "
                                "! capsfilter name=caps ! clipfilter name=clip ! fakesink",
                                &err);
  if (!s.pipeline)
    die("cannot build the pipeline: %s", err->message);
  s.src = gst_bin_get_by_name(GST_BIN(s.pipeline), "src");
  s.caps = gst_bin_get_by_name(GST_BIN(s.pipeline), "caps");
  s.clip = gst_bin_get_by_name(GST_BIN(s.pipeline), "clip");
  s.bus = gst_element_get_bus(s.pipeline);
  s.rand = g_rand_new_with_seed(seed);
  s.dwell_ms = MAX(dwell_ms, 5);
  s.null_every = MAX(null_every, 0);
  s.caps_index = -1;
  change_caps(&s);
  g_object_set(s.clip, "prompts", valid_prompts[0], NULL);
  if (samples_path && !(out = fopen(samples_path, "w")))
    die("cannot write %s", samples_path);

  v = g_new0(Sample, cycles);
  t0 = g_get_monotonic_time();
  for (done = 0; done < (guint) cycles; done++) {
    double secs = (g_get_monotonic_time() - t0) / 1e6;

    if (max_seconds > 0 && secs > max_seconds && done >= (guint) warmup + MIN_JUDGED)
      break;
    cycle(&s, done);
    v[done].rss_kb = rss_kb();
    v[done].threads = count_entries("/proc/self/task");
    v[done].fds = count_entries("/proc/self/fd");
    if (out) { /* flushed: a long run can be followed */
      fprintf(out, "%u,%.2f,%" G_GINT64_FORMAT ",%d,%d\n", done,
              (g_get_monotonic_time() - t0) / 1e6, v[done].rss_kb, v[done].threads, v[done].fds);
      fflush(out);
    }
    if ((done + 1) % 500 == 0) {
      printf("soak: %u cycles, %.0f s, RSS %" G_GINT64_FORMAT " KB, "
             "%d threads, %d fds\n",
             done + 1, secs, v[done].rss_kb, v[done].threads, v[done].fds);
      fflush(stdout);
    }
  }

  /* Still working: a last valid set, and a message naming its labels. */
  set_state(&s, GST_STATE_PLAYING);
  g_object_set(s.clip, "prompts", "a final check;a cat", NULL);
  for (gint64 until = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
       !last && g_get_monotonic_time() < until;)
    g_usleep(20000), last = drain_bus(&s, "a final check");
  set_state(&s, GST_STATE_NULL);
  drain_bus(&s, NULL);
  if (!last)
    die("no message with the last prompts within 30 s after %u cycles", done);
  gst_structure_free(last);
  if (s.warnings != s.refused_sets)
    die("%u warnings for %u invalid prompt sets", s.warnings, s.refused_sets);

  judged = done - warmup;
  q = judged / 4;
  max_counts(v + warmup, q, &th_first, &fd_first);
  max_counts(v + done - q, q, &th_last, &fd_last);
  med_first = median_rss(v + warmup, q);
  med_last = median_rss(v + done - q, q);
  slope = rss_slope(v + done - judged / 2, judged / 2) * 1000;

  printf("soak: %u cycles in %.1f s (%u judged after a warm-up of %d); "
         "%u prompt sets, %u invalid ones refused with a warning, %u caps "
         "changes, %u messages; %u stuck live source task(s) started again\n",
         done, (g_get_monotonic_time() - t0) / 1e6, judged, warmup, s.prompt_sets, s.refused_sets,
         s.caps_changes, s.messages, s.source_restarts);
  {
    gint64 lo = G_MAXINT64, hi = 0;

    for (guint k = warmup; k < done; k++)
      lo = MIN(lo, v[k].rss_kb), hi = MAX(hi, v[k].rss_kb);
    printf("soak: RSS after the warm-up: first %" G_GINT64_FORMAT " KB, last %" G_GINT64_FORMAT
           " KB, min %" G_GINT64_FORMAT " KB, max %" G_GINT64_FORMAT " KB\n",
           v[warmup].rss_kb, v[done - 1].rss_kb, lo, hi);
  }
  printf("soak: RSS median %" G_GINT64_FORMAT " KB first quarter, %" G_GINT64_FORMAT
         " KB last quarter (%+" G_GINT64_FORMAT
         " KB, tolerance %d); slope over the second half %.0f KB per 1000 "
         "cycles%s\n",
         med_first, med_last, med_last - med_first, tolerance_kb, slope,
         judged >= 2000 ? "" : " (not judged: fewer than 2000 cycles)");
  printf("soak: threads max %d first quarter, %d last; fds max %d first, "
         "%d last\n",
         th_first, th_last, fd_first, fd_last);

  if (th_last > th_first || fd_last > fd_first) {
    fprintf(stderr, "soak: FAIL: threads or descriptors grew\n");
    ok = FALSE;
  }
  if (asan) {
    printf("soak: RSS not judged under AddressSanitizer (its quarantine)\n");
  } else if (med_last - med_first > tolerance_kb || (judged >= 2000 && slope > slope_kb)) {
    fprintf(stderr, "soak: FAIL: resident memory grew\n");
    ok = FALSE;
  }

  if (out)
    fclose(out);
  g_free(samples_path);
  g_free(v);
  g_rand_free(s.rand);
  gst_object_unref(s.bus);
  gst_object_unref(s.src);
  gst_object_unref(s.caps);
  gst_object_unref(s.clip);
  gst_object_unref(s.pipeline);
  gst_deinit();
  return ok ? 0 : 1;
}
