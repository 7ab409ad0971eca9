/* clip-tool bench — times the image and text towers of a model and, in the
 * same process, the GEMM floor of the same shapes on the same backend, so
 * every figure reads as a ratio to this machine's own limit (shared
 * machines vary run to run; ratios within one run do not). Prints JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <glib.h>

#include "backend-onednn.h"
#include "clip.h"
#include "error.h"
#include "context.h"
#include "model.h"
#include "text.h"
#include "gemm-floor.h"
#include "tool.h"

#define USAGE                                                                                      \
  "usage: clip-tool bench MODEL [--batch B] [--runs N] [--threads T] [--backend "                  \
  "openblas|onednn]\n"                                                                             \
  "                       [--precision fp32|bf16] [--text N] [--text-tokens L] [--profile]\n"      \
  "                       [--floor-seconds S]\n"

typedef struct {
  const char *model;
  int batch, runs, threads, texts, text_tokens;
  bool profile;
  double floor_seconds;
  clip_params params;
} options;

static int
parse(int argc, char **argv, options *o)
{
  memset(o, 0, sizeof *o);
  o->batch = 1, o->runs = 10, o->threads = 2, o->texts = 8, o->floor_seconds = 0.2;
  o->params = clip_default_params();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--profile"))
      o->profile = true;
    else if (a[0] == '-' && !v)
      return fprintf(stderr, "clip-tool bench: %s needs a value\n" USAGE, a), 2;
    else if (!strcmp(a, "--batch"))
      o->batch = atoi(v), i++;
    else if (!strcmp(a, "--runs"))
      o->runs = atoi(v), i++;
    else if (!strcmp(a, "--threads"))
      o->threads = atoi(v), i++;
    else if (!strcmp(a, "--text"))
      o->texts = atoi(v), i++;
    else if (!strcmp(a, "--text-tokens"))
      o->text_tokens = atoi(v), i++;
    else if (!strcmp(a, "--floor-seconds"))
      o->floor_seconds = atof(v), i++;
    else if (!strcmp(a, "--backend")) {
      if (!strcmp(v, "openblas"))
        o->params.backend = CLIP_BACKEND_OPENBLAS;
      else if (!strcmp(v, "onednn"))
        o->params.backend = CLIP_BACKEND_ONEDNN;
      else
        return fprintf(stderr,
                       "clip-tool bench: --backend: expected openblas or onednn, found "
                       "'%s'\n",
                       v),
               2;
      i++;
    } else if (!strcmp(a, "--precision")) {
      if (!strcmp(v, "fp32"))
        o->params.precision = CLIP_PRECISION_FP32;
      else if (!strcmp(v, "bf16"))
        o->params.precision = CLIP_PRECISION_BF16;
      else
        return fprintf(stderr,
                       "clip-tool bench: --precision: expected fp32 or bf16, found "
                       "'%s'\n",
                       v),
               2;
      i++;
    } else if (a[0] == '-')
      return fprintf(stderr, "clip-tool bench: unknown option '%s'\n" USAGE, a), 2;
    else if (!o->model)
      o->model = a;
    else
      return fprintf(stderr, "clip-tool bench: more than one MODEL\n" USAGE), 2;
  }
  if (!o->model)
    return fprintf(stderr, USAGE), 2;
  if (o->batch < 1 || o->runs < 1 || o->threads < 1 || o->texts < 0 || o->floor_seconds <= 0
      || (o->text_tokens != 0 && o->text_tokens < 2))
    return fprintf(stderr, "clip-tool bench: batch, runs and threads must be >= 1, text >= 0, "
                           "text-tokens >= 2, floor-seconds > 0\n"),
           2;
  o->params.n_threads = o->threads;
  return 0;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
  qsort(v, (size_t) n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Floors measured twice (before and after the timed runs) and the better
 * of the two kept, so a burst of load from other processes during one
 * measurement does not make the floor look slower than the machine is. */
static void
measure_floor(floor_shape *s, int n, floor_method m, int threads, double seconds)
{
  floor_shape again[16];
  memcpy(again, s, (size_t) n * sizeof *s);
  floor_measure_all(again, n, m, threads, seconds);
  for (int i = 0; i < n; i++)
    if (s[i].ms[m] < 0 || again[i].ms[m] < s[i].ms[m]) {
      s[i].ms[m] = again[i].ms[m];
      s[i].impl[m] = again[i].impl[m];
    }
}

/* One tower's encode, for time_against_floor(). */
typedef struct {
  clip_ctx *ctx;
  const float *pixels; /* images, or */
  const int32_t *ids;  /* texts of len ids */
  int n, len;
  float *embeds;
} encode_job;

static clip_status
encode(const encode_job *j, clip_error *err)
{
  return j->pixels ? clip_encode_images(j->ctx, j->pixels, j->n, j->embeds, NULL, err)
                   : clip_encode_texts(j->ctx, j->ids, j->n, j->len, j->embeds, NULL, err);
}

typedef struct {
  double min, median, floor_min, ratio_median;
} timed;

/* `runs` encodes, each followed by one model-floor pass over the tower's
 * shapes (every product alone, each layer with its own weights): both see
 * the same load from other processes and read the same weight bytes from
 * memory. Times are ms divided by per; times and ratios hold runs values. */
static bool
time_against_floor(const encode_job *j, double per, const floor_shape *s, int n, floor_method m,
                   int threads, int runs, double *times, double *ratios, timed *out,
                   clip_error *err)
{
  floor_bench *fs = floor_bench_new(s, n, m, threads, true);
  if (!fs) {
    clip_set_error(err, CLIP_ERR_NOMEM, "cannot set up the floor pass");
    return false;
  }
  *out = (timed){ INFINITY, 0, INFINITY, 0 };
  for (int i = 0; i < runs; i++) {
    double t0 = floor_now();
    if (encode(j, err) != CLIP_OK) {
      floor_bench_free(fs);
      return false;
    }
    times[i] = (floor_now() - t0) * 1e3 / per;
    double pass = floor_bench_pass(fs) / per;
    out->min = fmin(out->min, times[i]);
    out->floor_min = fmin(out->floor_min, pass);
    ratios[i] = times[i] / pass;
  }
  floor_bench_free(fs);
  out->median = median(times, runs);
  out->ratio_median = median(ratios, runs);
  return true;
}

/* `runs` encodes with the backend's per-stage timing on; their seconds. */
static double
profile_runs(const encode_job *j, int runs, ops_profile *prof)
{
  ops_backend *be = &j->ctx->backend;
  double s = 0.0;
  be->profile = prof;
  for (int i = 0; i < runs; i++) {
    double t0 = floor_now();
    encode(j, NULL);
    s += floor_now() - t0;
  }
  be->profile = NULL;
  return s;
}

/* Names a profiled product after the model shape it matches. */
static const char *
shape_name(const ops_profile_entry *e, const clip_model_info *in, int batch)
{
  if (e->attention)
    return "attention";
  int Wv = in->vision_width, Wt = in->text_width, grid = in->image_size / in->patch_size;
  /* (for ViT-B/32 the patch embedding has fc2's K and N; only M differs) */
  if (e->K == 3 * in->patch_size * in->patch_size && e->N == Wv && e->M == grid * grid * batch)
    return "patch_embed";
  if (e->N == 3 * e->K)
    return "qkv";
  if ((e->K == Wv && e->N == in->vision_mlp) || (e->K == Wt && e->N == in->text_mlp))
    return "fc1";
  if ((e->N == Wv && e->K == in->vision_mlp) || (e->N == Wt && e->K == in->text_mlp))
    return "fc2";
  if (e->N == in->embed_dim && (e->K == Wv || e->K == Wt) && e->M < 64)
    return "proj";
  if (e->K == e->N)
    return "attn_out";
  return "other";
}

static void
print_profile(const ops_profile *p, const clip_model_info *in, int batch, double total_s,
              int passes)
{
  double gemm = 0.0;
  printf("    \"stages_ms_per_pass\": {");
  static const char *names[] = { "patch_embed", "qkv", "attention", "attn_out",
                                 "fc1",         "fc2", "proj",      "other" };
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    double s = 0.0;
    for (int i = 0; i < p->n; i++)
      if (!strcmp(shape_name(&p->e[i], in, batch), names[k]))
        s += p->e[i].seconds;
    gemm += s;
    printf("%s\"%s\": %.3f", k ? ", " : "", names[k], s * 1e3 / passes);
  }
  printf(", \"outside_products\": %.3f},\n", (total_s - gemm) * 1e3 / passes);
  /* Parts of the stages above: layer norms are outside the products; the
   * activation is inside fc1 (oneDNN fuses it into the product as a
   * post-op, so there it has no time of its own and reads 0). */
  printf("    \"layer_norm_ms_per_pass\": %.3f,\n    \"activation_in_fc1_ms_per_pass\": %.3f,\n",
         p->layer_norm_seconds * 1e3 / passes, p->activation_seconds * 1e3 / passes);
  printf("    \"share_outside_products\": %.3f", total_s > 0 ? (total_s - gemm) / total_s : 0.0);
}

typedef struct {
  double load_ms, first_result_ms;
  double load_cpu_ms, first_result_cpu_ms; /* the process's CPU time, all threads */
} startup_times;

/* CPU time of the whole process: on a shared machine it moves far less
 * with other people's load than wall time does (spinning OpenMP threads
 * count too). */
static double
cpu_ms(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
         + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-3;
}

/* A start as a live user sees it: clip_model_load() to the first image
 * embedding (a context and one one-image pass), timed on a fresh model. */
static bool
time_startup(const char *path, const clip_params *params, startup_times *t, clip_error *err)
{
  double t0 = floor_now(), c0 = cpu_ms();
  clip_model *model = clip_model_load(path, params, err);
  if (!model)
    return false;
  t->load_ms = (floor_now() - t0) * 1e3;
  t->load_cpu_ms = cpu_ms() - c0;
  const clip_model_info *in = clip_model_get_info(model);
  size_t npix = (size_t) 3 * in->image_size * in->image_size;
  float *pixels = malloc(npix * sizeof *pixels), *embed = malloc(in->embed_dim * sizeof *embed);
  clip_ctx *ctx = pixels && embed ? clip_ctx_new(model, err) : NULL;
  bool ok = false;
  if (ctx) {
    for (size_t i = 0; i < npix; i++)
      pixels[i] = (float) (i % 251) / 125.0f - 1.0f;
    ok = clip_encode_images(ctx, pixels, 1, embed, NULL, err) == CLIP_OK;
    t->first_result_ms = (floor_now() - t0) * 1e3;
    t->first_result_cpu_ms = cpu_ms() - c0;
  } else if (!pixels || !embed) {
    clip_set_error(err, CLIP_ERR_NOMEM, "out of memory");
  }
  clip_ctx_free(ctx);
  free(pixels), free(embed);
  clip_model_free(model);
  return ok;
}

/* The same with the packed-weight file turned off (oneDNN packs at load). */
static bool
time_startup_packing(const char *path, const clip_params *params, startup_times *t, clip_error *err)
{
  char *saved = g_strdup(g_getenv("CLIP_WEIGHT_CACHE"));
  g_setenv("CLIP_WEIGHT_CACHE", "off", TRUE);
  bool ok = time_startup(path, params, t, err);
  if (saved)
    g_setenv("CLIP_WEIGHT_CACHE", saved, TRUE);
  else
    g_unsetenv("CLIP_WEIGHT_CACHE");
  g_free(saved);
  return ok;
}

static const char *words[] = { "dog",
                               "cat",
                               "person cooking",
                               "car on a highway at night",
                               "bicycle",
                               "a crowded street market in the rain",
                               "tree",
                               "boat",
                               "person dancing",
                               "empty parking lot" };

static int
bench(options o)
{
  int rc = 0;
  clip_error err = { 0 };
  /* Start-up, each on a fresh model in this process: the OpenBLAS baseline
   * (after one untimed start that pays what only a process's first load
   * does), the start this run benchmarks (on oneDNN with the packed-weight
   * file; the first such start writes it), and on oneDNN the packing at
   * load, timed after it so that it does not pay the engine's first use. */
  startup_times base = { 0 }, packing = { 0 }, start = { 0 };
  clip_params base_params = o.params;
  base_params.backend = CLIP_BACKEND_OPENBLAS;
  base_params.precision = CLIP_PRECISION_FP32;
  bool onednn = o.params.backend == CLIP_BACKEND_ONEDNN
                || (o.params.backend == CLIP_BACKEND_DEFAULT && onednn_built());
  if (!time_startup(o.model, &base_params, &base, &err)
      || !time_startup(o.model, &base_params, &base, &err)) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    return 1;
  }
  double t0 = floor_now(), c0 = cpu_ms();
  clip_model *model = clip_model_load(o.model, &o.params, &err);
  start.load_ms = (floor_now() - t0) * 1e3;
  start.load_cpu_ms = cpu_ms() - c0;
  if (!model) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    return 1;
  }
  const clip_model_info *in = clip_model_get_info(model);
  clip_ctx *ctx = clip_ctx_new(model, &err);
  if (!ctx) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    clip_model_free(model);
    return 1;
  }
  const ops_backend *be = &ctx->backend;
  floor_method method = be->kind == CLIP_BACKEND_OPENBLAS      ? FLOOR_OPENBLAS
                        : be->precision == CLIP_PRECISION_BF16 ? FLOOR_ONEDNN_BF16
                                                               : FLOOR_ONEDNN_FP32;
  const int S = in->image_size, B = o.batch;
  /* the bench's own set-up, not part of the start */
  double t_prep = floor_now(), c_prep = cpu_ms();
  size_t npix = (size_t) B * 3 * S * S;
  float *pixels = malloc(npix * sizeof *pixels);
  float *embeds = malloc((size_t) (B > o.texts ? B : o.texts + 1) * in->embed_dim * sizeof *embeds);
  int32_t *ids = calloc((size_t) (o.texts + 1) * in->context_length, sizeof *ids);
  double *times = malloc((size_t) o.runs * sizeof *times);
  double *ratios = malloc((size_t) o.runs * sizeof *ratios);
  if (!pixels || !embeds || !ids || !times || !ratios) {
    fprintf(stderr, "clip-tool bench: out of memory\n");
    rc = 1;
    goto out;
  }
  unsigned r = 1;
  for (size_t i = 0; i < npix; i++) {
    r = r * 1664525u + 1013904223u;
    pixels[i] = ((r >> 8) * (1.0f / 16777216.0f)) * 4.0f - 2.0f; /* normalized pixel range */
  }
  t0 += floor_now() - t_prep;
  c0 += cpu_ms() - c_prep;
  if (clip_encode_images(ctx, pixels, 1, embeds, NULL, &err) != CLIP_OK) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    rc = 1;
    goto out;
  }
  start.first_result_ms = (floor_now() - t0) * 1e3;
  start.first_result_cpu_ms = cpu_ms() - c0;
  if (onednn && !time_startup_packing(o.model, &o.params, &packing, &err)) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    rc = 1;
    goto out;
  }

  /* Texts: real prompts when the model has a tokenizer, else (or with
   * --text-tokens L) synthetic texts of L tokens (default 8): start, L − 2
   * ordinary ids, end. The run length is the longest text's end-of-text
   * token + 1 (the engine stops there). */
  if (o.text_tokens > in->context_length) {
    fprintf(stderr, "clip-tool bench: --text-tokens %d: the model's context is %d tokens\n",
            o.text_tokens, in->context_length);
    rc = 2;
    goto out;
  }
  int t_run = 0;
  const int32_t lowest_special = model->sot_id < model->eot_id ? model->sot_id : model->eot_id;
  for (int i = 0; i < o.texts; i++) {
    char prompt[128];
    snprintf(prompt, sizeof prompt, "a photo of a %s.", words[i % (sizeof words / sizeof *words)]);
    int32_t *row = ids + (size_t) i * in->context_length;
    if (o.text_tokens > 0 || clip_tokenize_padded(model, prompt, row, NULL) != CLIP_OK) {
      const int L = o.text_tokens > 0 ? o.text_tokens : 8;
      memset(row, 0, (size_t) in->context_length * sizeof *row);
      row[0] = model->sot_id;
      for (int t = 1; t < L - 1; t++)
        row[t] = (int32_t) ((i * 131 + t * 17) % (lowest_special > 0 ? lowest_special : 1));
      row[L - 1] = model->eot_id;
    }
    int eot = clip_text_first_eot(model, row, in->context_length);
    if (eot + 1 > t_run)
      t_run = eot + 1;
  }

  floor_shape vis[16], txt_full[16], txt_run[16];
  int n_vis = floor_shapes_vision(vis, B, S, in->patch_size, in->vision_width, in->vision_layers,
                                  in->vision_heads, in->vision_mlp, in->embed_dim);
  int n_txt =
      floor_shapes_text(txt_full, o.texts > 0 ? o.texts : 1, in->context_length, in->text_width,
                        in->text_layers, in->text_heads, in->text_mlp, in->embed_dim);
  floor_shapes_text(txt_run, o.texts > 0 ? o.texts : 1, t_run > 0 ? t_run : 1, in->text_width,
                    in->text_layers, in->text_heads, in->text_mlp, in->embed_dim);

  /* The first pass of this batch size creates its primitives. */
  t0 = floor_now();
  if (clip_encode_images(ctx, pixels, B, embeds, NULL, &err) != CLIP_OK) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    rc = 1;
    goto out;
  }
  double first_ms = (floor_now() - t0) * 1e3;
  if (o.texts > 0
      && clip_encode_texts(ctx, ids, o.texts, in->context_length, embeds, NULL, &err) != CLIP_OK) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    rc = 1;
    goto out;
  }
  /* The engine's peak: the model, a context and the scratch of both towers
   * at these sizes exist now, and a forward pass allocates nothing; the
   * floor measurements below allocate weights of their own. */
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double rss_mb = ru.ru_maxrss / 1024.0;

  floor_measure_all(vis, n_vis, method, o.threads, o.floor_seconds);
  const encode_job img_job = { ctx, pixels, NULL, B, 0, embeds };
  const encode_job txt_job = { ctx, NULL, ids, o.texts, in->context_length, embeds };
  timed img = { 0 }, txt = { 0 };
  if (!time_against_floor(&img_job, B, vis, n_vis, method, o.threads, o.runs, times, ratios, &img,
                          &err)) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    rc = 1;
    goto out;
  }
  measure_floor(vis, n_vis, method, o.threads, o.floor_seconds);
  double floor_img = floor_total_ms(vis, n_vis, method) / B;

  if (o.texts > 0) {
    floor_measure_all(txt_full, n_txt, method, o.threads, o.floor_seconds);
    floor_measure_all(txt_run, n_txt, method, o.threads, o.floor_seconds);
    if (!time_against_floor(&txt_job, 1, txt_run, n_txt, method, o.threads, o.runs, times, ratios,
                            &txt, &err)) {
      fprintf(stderr, "clip-tool bench: %s\n", err.message);
      rc = 1;
      goto out;
    }
    measure_floor(txt_run, n_txt, method, o.threads, o.floor_seconds);
  }

  ops_profile prof = { 0 }, txt_prof = { 0 };
  double prof_s = 0.0, txt_prof_s = 0.0;
  if (o.profile) {
    prof_s = profile_runs(&img_job, o.runs, &prof);
    if (o.texts > 0)
      txt_prof_s = profile_runs(&txt_job, o.runs, &txt_prof);
  }

  /* Weights in the compute precision: the linear layers in fp32 or bf16,
   * everything else (embeddings, norms) fp32. */
  double lin_params = 0.0;
  for (int i = 0; i < n_vis; i++)
    if (!vis[i].attention)
      lin_params += (double) vis[i].K * vis[i].N * vis[i].count;
  for (int i = 0; i < n_txt; i++)
    if (!txt_full[i].attention)
      lin_params += (double) txt_full[i].K * txt_full[i].N * txt_full[i].count;
  double other_params =
      (double) in->vocab_size * in->text_width + (double) in->context_length * in->text_width
      + ((double) (S / in->patch_size) * (S / in->patch_size) + 2) * in->vision_width;
  double weights_mb =
      (lin_params * (method == FLOOR_ONEDNN_BF16 ? 2 : 4) + other_params * 4) / (1024.0 * 1024.0);

  printf("{\n  \"model\": \"%s\",\n  \"backend\": \"%s\",\n  \"precision\": \"%s\",\n"
         "  \"threads\": %d,\n  \"batch\": %d,\n  \"runs\": %d,\n",
         o.model, be->kind == CLIP_BACKEND_OPENBLAS ? "openblas" : "onednn",
         be->precision == CLIP_PRECISION_BF16 ? "bf16" : "fp32", o.threads, B, o.runs);
  /* OpenMP's wait policy decides how oneDNN behaves on a busy machine
   * (docs/performance.md, "Noise"): recorded with the figures. */
  const char *policy = getenv("OMP_WAIT_POLICY");
  if (!policy)
    policy = "default";
  else if (strpbrk(policy, "\"\\") || strlen(policy) > 32)
    policy = "(unprintable)";
  printf("  \"omp_wait_policy\": \"%s\",\n", policy);
  printf("  \"load_ms\": %.1f,\n  \"first_result_ms\": %.1f,\n", start.load_ms,
         start.first_result_ms);
  printf("  \"load_cpu_ms\": %.1f,\n  \"first_result_cpu_ms\": %.1f,\n", start.load_cpu_ms,
         start.first_result_cpu_ms);
  printf("  \"startup\": {\n    \"openblas_load_ms\": %.1f,\n"
         "    \"openblas_first_result_ms\": %.1f,\n"
         "    \"openblas_load_cpu_ms\": %.1f,\n"
         "    \"openblas_first_result_cpu_ms\": %.1f,\n",
         base.load_ms, base.first_result_ms, base.load_cpu_ms, base.first_result_cpu_ms);
  if (onednn)
    printf("    \"packing_load_ms\": %.1f,\n    \"packing_first_result_ms\": %.1f,\n",
           packing.load_ms, packing.first_result_ms);
  printf("    \"first_result_ratio_to_openblas\": %.2f\n  },\n",
         start.first_result_ms / base.first_result_ms);
  printf("  \"first_pass_ms\": %.1f,\n", first_ms);
  printf("  \"ms_per_image_min\": %.2f,\n  \"ms_per_image_median\": %.2f,\n"
         "  \"images_per_s\": %.1f,\n",
         img.min, img.median, 1000.0 / img.median);
  printf("  \"gemm_floor_ms_per_image\": %.2f,\n  \"ratio_to_floor_min\": %.3f,\n"
         "  \"ratio_to_floor_median\": %.3f,\n",
         floor_img, img.min / floor_img, img.median / floor_img);
  printf("  \"model_floor_ms_per_image_min\": %.2f,\n  \"ratio_to_model_floor_min\": %.3f,\n"
         "  \"ratio_to_model_floor_median\": %.3f,\n",
         img.floor_min, img.min / img.floor_min, img.ratio_median);
  printf("  \"vision_floor\": {\n");
  floor_print_json(stdout, vis, n_vis, B, "    ");
  printf("\n  },\n");
  if (o.texts > 0) {
    double f_full = floor_total_ms(txt_full, n_txt, method);
    double f_run = floor_total_ms(txt_run, n_txt, method);
    printf("  \"text\": {\n    \"prompts\": %d,\n    \"tokens_run\": %d,\n"
           "    \"ms_min\": %.2f,\n    \"ms_median\": %.2f,\n"
           "    \"gemm_floor_ms_77_tokens\": %.2f,\n    \"gemm_floor_ms_tokens_run\": %.2f,\n"
           "    \"ratio_to_floor_77_min\": %.3f,\n    \"ratio_to_floor_run_min\": %.3f,\n"
           "    \"model_floor_ms_tokens_run_min\": %.2f,\n"
           "    \"ratio_to_model_floor_min\": %.3f,\n    \"ratio_to_model_floor_median\": %.3f\n"
           "  },\n",
           o.texts, t_run, txt.min, txt.median, f_full, f_run, txt.min / f_full, txt.min / f_run,
           txt.floor_min, txt.min / txt.floor_min, txt.ratio_median);
  }
  printf("  \"peak_rss_mb\": %.1f,\n  \"weights_mb_compute_precision\": %.1f,\n"
         "  \"rss_budget_mb\": %.1f",
         rss_mb, weights_mb, 1.15 * weights_mb + 64);
  if (o.profile) {
    printf(",\n  \"profile\": {\n    \"passes\": %d,\n    \"ms_per_image\": %.2f,\n", o.runs,
           prof_s * 1e3 / o.runs / B);
    print_profile(&prof, in, B, prof_s, o.runs * B);
    printf("\n  }");
    if (o.texts > 0) {
      printf(",\n  \"text_profile\": {\n    \"passes\": %d,\n    \"ms_per_pass\": %.2f,\n", o.runs,
             txt_prof_s * 1e3 / o.runs);
      print_profile(&txt_prof, in, B, txt_prof_s, o.runs);
      printf("\n  }");
    }
  }
  printf("\n}\n");
out:
  free(pixels), free(embeds), free(ids), free(times), free(ratios);
  clip_ctx_free(ctx);
  clip_model_free(model);
  return rc;
}

int
cmd_bench(int argc, char **argv)
{
  options o;
  int rc = parse(argc, argv, &o);
  if (rc)
    return rc;
  /* Found once, outside the timed start-ups. */
  clip_error err = { 0 };
  char *path = tool_model_path(o.model, &err);
  if (!path) {
    fprintf(stderr, "clip-tool bench: %s\n", err.message);
    return 1;
  }
  o.model = path;
  rc = bench(o);
  free(path);
  return rc;
}
