/* test-forward.c — the forward pass against the reference kit: every float
 * tensor of reference.safetensors (outputs and hidden states) for both
 * namings of tiny-b32 and for the two-head F16 model, batching, the text
 * length optimisation, argument errors, the numeric kernels, and
 * `clip-tool run`. */
#include <float.h>
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend-onednn.h"
#include "debug.h"
#include "model.h"
#include "ops.h"
#include "safetensors.h"
#include "testutil.h"

/* The kit's acceptance bound for float32 implementations (README). */
#define FP32_TOLERANCE 2e-5
/* The same inputs in a different batch composition: not bit-exact, because
 * OpenBLAS picks other kernels for other row counts (M = 1 vs M = 300 of
 * the same product differ in the last bits); measured ≤ 7.3e-7. */
#define FP32_BATCH_TOLERANCE 2e-6
/* bf16 (CLIP_PRECISION=bf16, oneDNN): weights and activations keep 8
 * significant bits, accumulation stays fp32; measured ≤ 7.6e-3 on the kit's
 * models (scale-relative, worst on text_embeds), so the bound is 2e-2.
 * Batching changes only the fp32 accumulation order: measured 0, bound 1e-4. */
#define BF16_TOLERANCE 2e-2
#define BF16_BATCH_TOLERANCE 1e-4
static double TOLERANCE = FP32_TOLERANCE, BATCH_TOLERANCE = FP32_BATCH_TOLERANCE;

/* max|a − b| / max|b|, the kit's scale-relative error. */
static double
rel_error(const float *a, const float *b, size_t n)
{
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; i++) {
    diff = fmax(diff, fabs((double) a[i] - b[i]));
    scale = fmax(scale, fabs((double) b[i]));
  }
  return scale > 0.0 ? diff / scale : diff;
}

static void
check_close(const char *what, const char *name, const float *got, const float *want, size_t n,
            double tol)
{
  const double e = rel_error(got, want, n);
  g_test_message("%s %s: scale-relative error %.3g", what, name, e);
  g_assert_cmpfloat(e, <=, tol);
}

/* A float tensor of the reference file, widened, with its shape. */
typedef struct {
  float *data;
  size_t n;
  int n_dims;
  int64_t shape[ST_MAX_DIMS];
} ref_tensor;

static ref_tensor
ref_get(st_file *f, const char *name)
{
  ref_tensor r = { 0 };
  const st_tensor *t = st_find(f, name);
  clip_error err = { 0 };
  g_assert_nonnull(t);
  r.n = (size_t) t->n_elements;
  r.n_dims = t->n_dims;
  memcpy(r.shape, t->shape, sizeof r.shape);
  r.data = g_new(float, r.n);
  g_assert_cmpint(st_to_f32(t, r.data, &err), ==, CLIP_OK);
  return r;
}

static int32_t *
ref_ids(st_file *f, int *n, int *len)
{
  const st_tensor *t = st_find(f, "input_ids");
  g_assert_nonnull(t);
  g_assert_cmpint(t->dtype, ==, ST_I32);
  *n = (int) t->shape[0];
  *len = (int) t->shape[1];
  return g_memdup2(t->data, t->n_bytes);
}

/* Hidden states captured through the debug hook into the reference's
 * layout: [layers + 1, rows, tokens, width] for the first `rows` sequences
 * and `tokens` positions. */
typedef struct {
  const char *what;
  int rows, tokens, width, n_layers;
  float *data;
  int seen; /* bit per layer */
} capture;

static void
capture_init(capture *c, const char *what, const ref_tensor *ref, bool per_layer)
{
  c->what = what;
  c->n_layers = per_layer ? (int) ref->shape[0] : 1;
  c->rows = (int) ref->shape[per_layer ? 1 : 0];
  c->tokens = (int) ref->shape[per_layer ? 2 : 1];
  c->width = (int) ref->shape[per_layer ? 3 : 2];
  c->data = g_new0(float, ref->n);
  c->seen = 0;
}

typedef struct {
  capture *c;
  int n;
} capture_set;

static void
capture_hook(void *user, const char *what, int layer, const float *data, int n_seq, int n_tok,
             int width)
{
  capture_set *set = user;
  for (int k = 0; k < set->n; k++) {
    capture *c = &set->c[k];
    if (strcmp(c->what, what) != 0)
      continue;
    g_assert_cmpint(layer, <, c->n_layers);
    g_assert_cmpint(width, ==, c->width);
    g_assert_cmpint(n_seq, >=, c->rows);
    g_assert_cmpint(n_tok, >=, c->tokens);
    for (int s = 0; s < c->rows; s++)
      for (int t = 0; t < c->tokens; t++)
        memcpy(c->data + (((size_t) layer * c->rows + s) * c->tokens + t) * width,
               data + ((size_t) s * n_tok + t) * width, (size_t) width * sizeof(float));
    c->seen |= 1 << layer;
  }
}

static clip_model *
load_model(const char *rel, clip_error *err)
{
  char *path = testutil_reference_path(rel);
  clip_model *m = clip_model_load(path, NULL, err);
  if (!m)
    g_test_message("loading %s: %s", path, err->message);
  g_free(path);
  return m;
}

/* logits_per_image as CLIPModel computes it. */
static float *
compute_logits(const clip_model *m, const float *img, int n_img, const float *txt, int n_txt)
{
  const int D = m->info.embed_dim;
  float *units = g_memdup2(txt, (size_t) n_txt * D * sizeof(float));
  float *logits = g_new(float, (size_t) n_img *n_txt);
  for (int j = 0; j < n_txt; j++)
    clip_normalize(units + (size_t) j * D, D);
  for (int i = 0; i < n_img; i++) {
    clip_score(m, img + (size_t) i * D, units, n_txt, logits + (size_t) i * n_txt, NULL);
    for (int j = 0; j < n_txt; j++)
      logits[(size_t) i * n_txt + j] *= expf(m->info.logit_scale);
  }
  g_free(units);
  return logits;
}

/* The whole reference comparison for one model: dir is the kit's model
 * directory, model_rel what to load (the directory or a file in it). */
static void
check_reference(const char *dir, const char *model_rel)
{
  clip_error err = { 0 };
  clip_model *m = load_model(model_rel, &err);
  g_assert_nonnull(m);
  char *ref_path = testutil_reference_path(dir);
  char *ref_file = g_build_filename(ref_path, "reference.safetensors", NULL);
  st_file *ref = st_open(ref_file, &err);
  g_assert_nonnull(ref);

  int n_txt, len;
  int32_t *ids = ref_ids(ref, &n_txt, &len);
  ref_tensor pix = ref_get(ref, "pixel_values");
  const int n_img = (int) pix.shape[0];
  const char *names[] = { "debug_vision_embeddings",
                          "debug_vision_hidden_states",
                          "debug_text_hidden_states",
                          "debug_text_last_hidden_state",
                          "text_embeds",
                          "text_pooler_output",
                          "image_embeds",
                          "vision_pooler_output",
                          "logits_per_image" };
  ref_tensor want[G_N_ELEMENTS(names)];
  for (guint i = 0; i < G_N_ELEMENTS(names); i++)
    want[i] = ref_get(ref, names[i]);

  capture caps[4];
  capture_init(&caps[0], "vision_embeddings", &want[0], false);
  capture_init(&caps[1], "vision_hidden", &want[1], true);
  capture_init(&caps[2], "text_hidden", &want[2], true);
  capture_init(&caps[3], "text_last_hidden", &want[3], false);
  capture_set set = { caps, 4 };

  clip_ctx *ctx = clip_ctx_new(m, &err);
  g_assert_nonnull(ctx);
  clip_ctx_set_debug(ctx, capture_hook, &set);
  const clip_model_info *info = clip_model_get_info(m);
  float *txt = g_new(float, (size_t) n_txt * info->embed_dim);
  float *txt_pool = g_new(float, (size_t) n_txt * info->text_width);
  float *img = g_new(float, (size_t) n_img * info->embed_dim);
  float *img_pool = g_new(float, (size_t) n_img * info->vision_width);
  g_assert_cmpint(clip_encode_texts(ctx, ids, n_txt, len, txt, txt_pool, &err), ==, CLIP_OK);
  g_assert_cmpint(clip_encode_images(ctx, pix.data, n_img, img, img_pool, &err), ==, CLIP_OK);
  float *logits = compute_logits(m, img, n_img, txt, n_txt);
  for (int k = 0; k < 4; k++)
    g_assert_cmpint(caps[k].seen, ==, (1 << caps[k].n_layers) - 1);

  const float *got[] = { caps[0].data, caps[1].data, caps[2].data, caps[3].data, txt,
                         txt_pool,     img,          img_pool,     logits };
  char *what = g_strdup_printf("%s (%s)", dir, info->naming);
  for (guint i = 0; i < G_N_ELEMENTS(names); i++)
    check_close(what, names[i], got[i], want[i].data, want[i].n, TOLERANCE);

  /* Without the debug hook the last block runs past attention on the pooled
   * rows only (class token, first EOT): the outputs must not change. */
  clip_ctx_set_debug(ctx, NULL, NULL);
  g_assert_cmpint(clip_encode_texts(ctx, ids, n_txt, len, txt, txt_pool, &err), ==, CLIP_OK);
  g_assert_cmpint(clip_encode_images(ctx, pix.data, n_img, img, img_pool, &err), ==, CLIP_OK);
  g_free(logits);
  got[8] = logits = compute_logits(m, img, n_img, txt, n_txt);
  char *what_kept =
      g_strdup_printf("%s (%s, pooled rows only in the last block)", dir, info->naming);
  for (guint i = 4; i < G_N_ELEMENTS(names); i++) /* the outputs; the debug states are not seen */
    check_close(what_kept, names[i], got[i], want[i].data, want[i].n, TOLERANCE);
  g_free(what_kept);

  g_free(what);
  for (guint i = 0; i < G_N_ELEMENTS(names); i++)
    g_free(want[i].data);
  for (int k = 0; k < 4; k++)
    g_free(caps[k].data);
  g_free(logits);
  g_free(img_pool);
  g_free(img);
  g_free(txt_pool);
  g_free(txt);
  g_free(pix.data);
  g_free(ids);
  clip_ctx_free(ctx);
  st_close(ref);
  g_free(ref_file);
  g_free(ref_path);
  clip_model_free(m);
}

static void
test_reference_hf(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  check_reference("tiny-b32", "tiny-b32");
}

static void
test_reference_openclip(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  check_reference("tiny-b32", "tiny-b32/open_clip_model.safetensors");
}

static void
test_reference_multihead_f16(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  check_reference("tiny-b32-mh-f16", "tiny-b32-mh-f16");
}

/* Shared set-up of the tests below: the two-head model (head splitting) and
 * its reference inputs/outputs. */
typedef struct {
  clip_model *m;
  clip_ctx *ctx;
  st_file *ref;
  int32_t *ids;
  int n_txt, len, D, Wt, Wv;
  ref_tensor pix;
} fixture;

static bool
fixture_open(fixture *f)
{
  clip_error err = { 0 };
  memset(f, 0, sizeof *f);
  char *ref_file = testutil_reference_path("tiny-b32-mh-f16/reference.safetensors");
  if (!ref_file)
    return false;
  f->m = load_model("tiny-b32-mh-f16", &err);
  g_assert_nonnull(f->m);
  f->ctx = clip_ctx_new(f->m, &err);
  g_assert_nonnull(f->ctx);
  f->ref = st_open(ref_file, &err);
  g_assert_nonnull(f->ref);
  g_free(ref_file);
  f->ids = ref_ids(f->ref, &f->n_txt, &f->len);
  f->pix = ref_get(f->ref, "pixel_values");
  f->D = f->m->info.embed_dim;
  f->Wt = f->m->info.text_width;
  f->Wv = f->m->info.vision_width;
  return true;
}

static void
fixture_close(fixture *f)
{
  g_free(f->pix.data);
  g_free(f->ids);
  st_close(f->ref);
  clip_ctx_free(f->ctx);
  clip_model_free(f->m);
}

/* Encoding rows one at a time gives what one batch gives: rows never leak
 * into each other (attention stays within a sequence) and scratch reuse
 * across sizes is clean. */
static void
test_batching(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  fixture f;
  g_assert_true(fixture_open(&f));
  clip_error err = { 0 };
  const int n_img = (int) f.pix.shape[0];
  const size_t img_len = f.pix.n / n_img;
  float *batch = g_new(float, (size_t) f.n_txt *f.Wt),
        *single = g_new(float, (size_t) f.n_txt *f.Wt);
  float *e_batch = g_new(float, (size_t) f.n_txt *f.D),
        *e_single = g_new(float, (size_t) f.n_txt *f.D);

  g_assert_cmpint(clip_encode_texts(f.ctx, f.ids, f.n_txt, f.len, e_batch, batch, &err), ==,
                  CLIP_OK);
  for (int r = 0; r < f.n_txt; r++)
    g_assert_cmpint(clip_encode_texts(f.ctx, f.ids + (size_t) r * f.len, 1, f.len,
                                      e_single + (size_t) r * f.D, single + (size_t) r * f.Wt,
                                      &err),
                    ==, CLIP_OK);
  check_close("texts one by one vs batch", "text_pooler_output", single, batch,
              (size_t) f.n_txt * f.Wt, BATCH_TOLERANCE);
  check_close("texts one by one vs batch", "text_embeds", e_single, e_batch, (size_t) f.n_txt * f.D,
              BATCH_TOLERANCE);

  float *ib = g_new(float, (size_t) n_img *f.Wv), *is = g_new(float, (size_t) n_img *f.Wv);
  float *eb = g_new(float, (size_t) n_img *f.D), *es = g_new(float, (size_t) n_img *f.D);
  g_assert_cmpint(clip_encode_images(f.ctx, f.pix.data, n_img, eb, ib, &err), ==, CLIP_OK);
  for (int i = 0; i < n_img; i++)
    g_assert_cmpint(clip_encode_images(f.ctx, f.pix.data + i * img_len, 1, es + (size_t) i * f.D,
                                       is + (size_t) i * f.Wv, &err),
                    ==, CLIP_OK);
  check_close("images one by one vs batch", "vision_pooler_output", is, ib, (size_t) n_img * f.Wv,
              BATCH_TOLERANCE);
  check_close("images one by one vs batch", "image_embeds", es, eb, (size_t) n_img * f.D,
              BATCH_TOLERANCE);

  /* pooled may be NULL; embeddings do not change. */
  g_assert_cmpint(clip_encode_images(f.ctx, f.pix.data, n_img, es, NULL, &err), ==, CLIP_OK);
  g_assert_cmpmem(es, (size_t) n_img * f.D * sizeof(float), eb,
                  (size_t) n_img * f.D * sizeof(float));

  g_free(ib), g_free(is), g_free(eb), g_free(es);
  g_free(batch), g_free(single), g_free(e_batch), g_free(e_single);
  fixture_close(&f);
}

/* Running only up to the longest first EOT gives the pooled outputs of the
 * full-length forward, and so does passing a shorter len. */
static void
test_text_truncation(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  fixture f;
  g_assert_true(fixture_open(&f));
  clip_error err = { 0 };
  const int n = 3; /* texts 0–2: EOT at 7, 9 and 1 — far before 77 */
  ref_tensor want = ref_get(f.ref, "text_pooler_output");
  float *trunc = g_new(float, (size_t) n *f.Wt), *full = g_new(float, (size_t) n *f.Wt);
  float *e_trunc = g_new(float, (size_t) n *f.D), *e_full = g_new(float, (size_t) n *f.D);

  g_assert_cmpint(clip_encode_texts(f.ctx, f.ids, n, f.len, e_trunc, trunc, &err), ==, CLIP_OK);
  clip_ctx_set_text_truncation(f.ctx, false);
  g_assert_cmpint(clip_encode_texts(f.ctx, f.ids, n, f.len, e_full, full, &err), ==, CLIP_OK);
  clip_ctx_set_text_truncation(f.ctx, true);
  check_close("EOT truncation vs full length", "text_pooler_output", trunc, full, (size_t) n * f.Wt,
              BATCH_TOLERANCE);
  check_close("EOT truncation vs full length", "text_embeds", e_trunc, e_full, (size_t) n * f.D,
              BATCH_TOLERANCE);
  check_close("EOT truncation vs reference", "text_pooler_output", trunc, want.data,
              (size_t) n * f.Wt, TOLERANCE);

  /* len < context_length: rows of 16 ids (these rows end before 16). */
  const int short_len = 16;
  int32_t *short_ids = g_new(int32_t, (size_t) n * short_len);
  for (int r = 0; r < n; r++)
    memcpy(short_ids + r * short_len, f.ids + (size_t) r * f.len, short_len * sizeof(int32_t));
  g_assert_cmpint(clip_encode_texts(f.ctx, short_ids, n, short_len, e_full, full, &err), ==,
                  CLIP_OK);
  check_close("len 16 vs reference", "text_pooler_output", full, want.data, (size_t) n * f.Wt,
              TOLERANCE);

  g_free(short_ids);
  g_free(want.data);
  g_free(trunc), g_free(full), g_free(e_trunc), g_free(e_full);
  fixture_close(&f);
}

static void
assert_error(clip_status st, const clip_error *err, clip_status want, const char *part)
{
  g_assert_cmpint(st, ==, want);
  g_assert_cmpint(err->status, ==, want);
  if (!strstr(err->message, part))
    g_error("error message '%s' lacks '%s'", err->message, part);
}

static void
test_errors(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  fixture f;
  g_assert_true(fixture_open(&f));
  clip_error err = { 0 };
  float out[4096], pooled[4096];
  const int V = f.m->info.vocab_size, L = f.m->info.context_length;
  int32_t ids[2 * 80];
  memcpy(ids, f.ids, 2 * (size_t) L * sizeof(int32_t));

  assert_error(clip_encode_texts(f.ctx, ids, 0, L, out, NULL, &err), &err, CLIP_ERR_ARG, "n is 0");
  assert_error(clip_encode_texts(f.ctx, ids, -3, L, out, NULL, &err), &err, CLIP_ERR_ARG,
               "n is -3");
  assert_error(clip_encode_texts(f.ctx, ids, 1, 0, out, NULL, &err), &err, CLIP_ERR_ARG,
               "len is 0");
  assert_error(clip_encode_texts(f.ctx, ids, 1, L + 1, out, NULL, &err), &err, CLIP_ERR_ARG,
               "len is 78");
  assert_error(clip_encode_texts(NULL, ids, 1, L, out, NULL, &err), &err, CLIP_ERR_ARG, "NULL");
  assert_error(clip_encode_texts(f.ctx, NULL, 1, L, out, NULL, &err), &err, CLIP_ERR_ARG, "NULL");
  assert_error(clip_encode_texts(f.ctx, ids, 1, L, NULL, NULL, &err), &err, CLIP_ERR_ARG, "NULL");

  ids[L + 3] = V; /* row 1, one past the vocabulary */
  char *want = g_strdup_printf("row 1, position 3: token id %d is outside the vocabulary", V);
  assert_error(clip_encode_texts(f.ctx, ids, 2, L, out, NULL, &err), &err, CLIP_ERR_ARG, want);
  g_free(want);
  ids[L + 3] = -5;
  assert_error(clip_encode_texts(f.ctx, ids, 2, L, out, NULL, &err), &err, CLIP_ERR_ARG,
               "row 1, position 3: token id -5");
  memcpy(ids + L, f.ids + L, (size_t) L * sizeof(int32_t));

  /* Row 0 cut before its EOT (at 7): no position to pool. */
  assert_error(clip_encode_texts(f.ctx, ids, 1, 5, out, NULL, &err), &err, CLIP_ERR_ARG,
               "row 0 has no end-of-text token");

  assert_error(clip_encode_images(f.ctx, f.pix.data, 0, out, pooled, &err), &err, CLIP_ERR_ARG,
               "n is 0");
  assert_error(clip_encode_images(f.ctx, NULL, 1, out, pooled, &err), &err, CLIP_ERR_ARG, "NULL");
  assert_error(clip_encode_images(NULL, f.pix.data, 1, out, pooled, &err), &err, CLIP_ERR_ARG,
               "NULL");
  g_assert_null(clip_ctx_new(NULL, &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_ARG);

  /* A failed call leaves the context usable. */
  g_assert_cmpint(clip_encode_texts(f.ctx, ids, 2, L, out, pooled, &err), ==, CLIP_OK);
  fixture_close(&f);
}

/* A backend this build does not have is refused at context creation; bf16
 * needs oneDNN; DEFAULT means oneDNN when built. */
static void
test_backend_params(void)
{
  clip_error err = { 0 };
  ops_backend be;
  clip_params p = clip_default_params();
  p.backend = CLIP_BACKEND_ONEDNN;
  if (onednn_built()) {
    g_assert_cmpint(ops_backend_init(&be, &p, &err), ==, CLIP_OK);
    g_assert_cmpint(be.kind, ==, CLIP_BACKEND_ONEDNN);
  } else {
    assert_error(ops_backend_init(&be, &p, &err), &err, CLIP_ERR_UNSUPPORTED, "oneDNN");
  }
  p = clip_default_params();
  p.backend = CLIP_BACKEND_DEFAULT;
  g_assert_cmpint(ops_backend_init(&be, &p, &err), ==, CLIP_OK);
  g_assert_cmpint(be.kind, ==, onednn_built() ? CLIP_BACKEND_ONEDNN : CLIP_BACKEND_OPENBLAS);
  p.backend = CLIP_BACKEND_OPENBLAS;
  p.precision = CLIP_PRECISION_BF16;
  assert_error(ops_backend_init(&be, &p, &err), &err, CLIP_ERR_UNSUPPORTED, "bf16");
  p = clip_default_params();
  p.n_threads = 1;
  g_assert_cmpint(ops_backend_init(&be, &p, &err), ==, CLIP_OK);
  g_assert_cmpint(be.n_threads, ==, 1);
  g_assert_cmpint(ops_backend_init(&be, NULL, &err), ==, CLIP_OK);
  g_assert_cmpint(be.n_threads, >=, 1);
}

/* The kernels on inputs with known answers. */
static void
test_ops(void)
{
  /* QuickGELU and exact GELU at a few points (values from the formulas in
   * double precision). */
  g_assert_cmpfloat_with_epsilon(ops_quick_gelu(1.0f), 1.0 / (1.0 + exp(-1.702)), 1e-7);
  g_assert_cmpfloat_with_epsilon(ops_quick_gelu(-2.0f), -2.0 / (1.0 + exp(3.404)), 1e-7);
  g_assert_cmpfloat(ops_quick_gelu(-1000.0f), ==, 0.0f);
  /* The vectorized QuickGELU of the OpenBLAS epilogue against the scalar
   * one, over the whole range (and a tail that is not a multiple of 8):
   * within 4 ulp, or 1e-30 where the value underflows. */
  enum { N_SWEEP = 40003 };
  float *sweep = g_new(float, N_SWEEP);
  for (int i = 0; i < N_SWEEP; i++)
    sweep[i] = -120.0f + 240.0f * i / (N_SWEEP - 1);
  sweep[0] = -1000.0f, sweep[1] = 1000.0f, sweep[2] = 0.0f, sweep[3] = -1e-30f;
  float *vec = g_memdup2(sweep, N_SWEEP * sizeof *sweep);
  ops_quick_gelu_rows(vec, N_SWEEP);
  for (int i = 0; i < N_SWEEP; i++) {
    const float want = ops_quick_gelu(sweep[i]);
    const float tol = fmaxf(4 * FLT_EPSILON * fabsf(want), 1e-30f);
    if (fabsf(vec[i] - want) > tol)
      g_test_fail_printf("quick_gelu_rows(%.9g) = %.9g, scalar %.9g", sweep[i], vec[i], want);
  }
  g_free(sweep), g_free(vec);
  g_assert_cmpfloat_with_epsilon(ops_gelu(1.0f), 0.8413447460685429, 1e-7);
  g_assert_cmpfloat_with_epsilon(ops_gelu(-0.5f), -0.15426876936299347, 1e-7);

  /* Layer norm of (1, 2, 3, 4): mean 2.5, var 1.25. */
  const float x[4] = { 1, 2, 3, 4 }, g[4] = { 1, 2, 1, 1 }, b[4] = { 0, 0, 1, 0 };
  const clip_norm norm = { g, b };
  float y[4];
  ops_layer_norm(&norm, 4, 0.0f, x, 4, y, 4, 1);
  const double s = 1.0 / sqrt(1.25);
  g_assert_cmpfloat_with_epsilon(y[0], -1.5 * s, 1e-6);
  g_assert_cmpfloat_with_epsilon(y[1], 2 * -0.5 * s, 1e-6);
  g_assert_cmpfloat_with_epsilon(y[2], 0.5 * s + 1, 1e-6);
  g_assert_cmpfloat_with_epsilon(y[3], 1.5 * s, 1e-6);
  /* A large offset does not cancel the variance away (two-pass). */
  const float big[4] = { 10000001, 10000002, 10000003, 10000004 };
  const float ones[4] = { 1, 1, 1, 1 }, zeros[4] = { 0 };
  const clip_norm plain = { ones, zeros };
  ops_layer_norm(&plain, 4, 0.0f, big, 4, y, 4, 1);
  g_assert_cmpfloat_with_epsilon(y[0], -1.5 * s, 1e-6);

  /* Causal softmax over a 3×3 block of zeros: row i is uniform over 0..i. */
  float sc[9] = { 0 };
  ops_softmax_rows(sc, 3, 3, 3, true);
  const float want[9] = { 1, 0, 0, 0.5f, 0.5f, 0, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f };
  for (int i = 0; i < 9; i++)
    g_assert_cmpfloat_with_epsilon(sc[i], want[i], 1e-7);

  /* linear with each epilogue on a 2×3 · 3×2 product. */
  const float w[6] = { 1, 0, 0, 1, 1, -1 }, bias[2] = { 0.5f, -1 };
  const float in[6] = { 1, 2, 3, -1, 0, 2 };
  const clip_linear lin = { .w = w, .b = bias, .in = 3, .out = 2 };
  ops_backend be = { 0 };
  float out[4];
  ops_linear(&be, &lin, in, 2, out, OPS_EPI_NONE);
  const float plain_out[4] = { 4.5f, -2, 1.5f, -3 };
  g_assert_cmpmem(out, sizeof out, plain_out, sizeof plain_out);
  /* The same weights in PyTorch's [out][in] layout give the same product. */
  const float wt[6] = { 1, 0, 1, 0, 1, -1 };
  const clip_linear lin_t = { .w = wt, .b = bias, .in = 3, .out = 2, .transposed = true };
  ops_linear(&be, &lin_t, in, 2, out, OPS_EPI_NONE);
  g_assert_cmpmem(out, sizeof out, plain_out, sizeof plain_out);
  /* ... and so do they as two separate row blocks (HF's q, k, v). */
  const clip_linear lin_s = {
    .b = bias, .in = 3, .out = 2, .transposed = true, .n_split = 2, .split = { wt, wt + 3 }
  };
  ops_linear(&be, &lin_s, in, 2, out, OPS_EPI_NONE);
  g_assert_cmpmem(out, sizeof out, plain_out, sizeof plain_out);
  ops_linear(&be, &lin_s, in, 2, out, OPS_EPI_RESIDUAL);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat(out[i], ==, 2 * plain_out[i]);
  ops_linear(&be, &lin, in, 2, out, OPS_EPI_NONE);
  ops_linear(&be, &lin, in, 2, out, OPS_EPI_RESIDUAL);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat(out[i], ==, 2 * plain_out[i]);
  ops_linear(&be, &lin, in, 2, out, OPS_EPI_QUICK_GELU);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat(out[i], ==, ops_quick_gelu(plain_out[i]));
  ops_linear(&be, &lin, in, 2, out, OPS_EPI_GELU);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat(out[i], ==, ops_gelu(plain_out[i]));
}

static int
spawn_tool(char **argv_tail, char **err_out)
{
  return testutil_run_tool((const char *const *) argv_tail, NULL, err_out);
}

/* clip-tool run on the kit's own inputs reproduces the kit's outputs. */
static void
test_tool_run(void)
{
  REQUIRE_REFERENCE(kit);
  char *model = g_build_filename(kit, "tiny-b32", NULL);
  char *input = g_build_filename(model, "reference.safetensors", NULL);
  char *output = g_build_filename(testutil_tmpdir(), "run-out.safetensors", NULL);
  char *stderr_text = NULL;
  char *args[] = { "run", model, "--input", input, "--output", output, NULL };
  int code = spawn_tool(args, &stderr_text);
  if (code != 0)
    g_test_message("clip-tool run: %s", stderr_text);
  g_assert_cmpint(code, ==, 0);
  g_free(stderr_text);

  clip_error err = { 0 };
  st_file *got = st_open(output, &err), *want = st_open(input, &err);
  g_assert_nonnull(got);
  g_assert_nonnull(want);
  const char *names[] = { "text_embeds", "text_pooler_output", "image_embeds",
                          "vision_pooler_output", "logits_per_image" };
  g_assert_cmpint(st_count(got), ==, G_N_ELEMENTS(names));
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    const st_tensor *t = st_find(got, names[i]);
    g_assert_nonnull(t);
    g_assert_cmpint(t->dtype, ==, ST_F32);
    ref_tensor a = ref_get(got, names[i]), b = ref_get(want, names[i]);
    g_assert_cmpint(a.n_dims, ==, b.n_dims);
    g_assert_cmpmem(a.shape, sizeof(int64_t) * a.n_dims, b.shape, sizeof(int64_t) * b.n_dims);
    check_close("clip-tool run tiny-b32", names[i], a.data, b.data, a.n, TOLERANCE);
    g_free(a.data);
    g_free(b.data);
  }
  st_close(got);
  st_close(want);

  /* Usage errors exit 2; failures exit 1 with the reason. */
  char *no_output[] = { "run", model, "--input", input, NULL };
  g_assert_cmpint(spawn_tool(no_output, &stderr_text), ==, 2);
  g_assert_nonnull(strstr(stderr_text, "--output is missing"));
  g_free(stderr_text);
  char *extra[] = { "run", model, model, "--input", input, "--output", output, NULL };
  g_assert_cmpint(spawn_tool(extra, &stderr_text), ==, 2);
  g_assert_nonnull(strstr(stderr_text, "unexpected argument"));
  g_free(stderr_text);
  /* An input file without either tensor: the model's own weights. */
  char *weights = g_build_filename(model, "model.safetensors", NULL);
  char *no_inputs[] = { "run", model, "--input", weights, "--output", output, NULL };
  g_assert_cmpint(spawn_tool(no_inputs, &stderr_text), ==, 1);
  g_assert_nonnull(strstr(stderr_text, "has neither input_ids nor pixel_values"));
  g_free(stderr_text);
  char *missing = g_build_filename(testutil_tmpdir(), "absent.safetensors", NULL);
  char *no_file[] = { "run", model, "--input", missing, "--output", output, NULL };
  g_assert_cmpint(spawn_tool(no_file, &stderr_text), ==, 1);
  g_assert_nonnull(strstr(stderr_text, "absent.safetensors"));
  g_free(stderr_text);

  g_free(missing);
  g_free(weights);
  g_free(output);
  g_free(input);
  g_free(model);
}

/* Runs clip-tool on an input file holding the given tensors; returns the
 * exit code and the opened output (NULL unless it succeeded). */
static int
run_tool_on(const char *model, st_writer *in, st_file **out, char **stderr_text)
{
  clip_error err = { 0 };
  char *input = g_build_filename(testutil_tmpdir(), "run-in.safetensors", NULL);
  char *output = g_build_filename(testutil_tmpdir(), "run-partial.safetensors", NULL);
  g_assert_cmpint(st_writer_save(in, input, &err), ==, CLIP_OK);
  g_remove(output);
  char *args[] = { "run", (char *) model, "--input", input, "--output", output, NULL };
  const int code = spawn_tool(args, stderr_text);
  *out = code == 0 ? st_open(output, &err) : NULL;
  g_free(output);
  g_free(input);
  return code;
}

/* Only one of the inputs: only that tower's outputs, no logits; texts
 * shorter than the context; a pixel tensor of the wrong size is refused. */
static void
test_tool_run_partial(void)
{
  REQUIRE_REFERENCE(kit);
  clip_error err = { 0 };
  char *model = g_build_filename(kit, "tiny-b32", NULL);
  char *ref_path = g_build_filename(model, "reference.safetensors", NULL);
  st_file *ref = st_open(ref_path, &err), *out = NULL;
  g_assert_nonnull(ref);
  char *stderr_text = NULL;

  /* Images 0–1 alone. */
  const st_tensor *pix = st_find(ref, "pixel_values");
  st_writer *w = st_writer_new();
  const int64_t pix_shape[4] = { 2, 3, pix->shape[2], pix->shape[3] };
  g_assert_cmpint(st_writer_add(w, "pixel_values", ST_F32, 4, pix_shape, pix->data, &err), ==,
                  CLIP_OK);
  g_assert_cmpint(run_tool_on(model, w, &out, &stderr_text), ==, 0);
  g_free(stderr_text);
  st_writer_free(w);
  g_assert_cmpint(st_count(out), ==, 2);
  g_assert_null(st_find(out, "logits_per_image"));
  ref_tensor got = ref_get(out, "image_embeds"), want = ref_get(ref, "image_embeds");
  g_assert_cmpint(got.shape[0], ==, 2);
  check_close("clip-tool run, 2 images only", "image_embeds", got.data, want.data, got.n,
              TOLERANCE);
  g_free(got.data), g_free(want.data);
  st_close(out);

  /* Texts 0–2 as 12 ids each (their EOTs are at 7, 9 and 1). */
  int n, len;
  int32_t *ids = ref_ids(ref, &n, &len);
  int32_t short_ids[3 * 12];
  for (int r = 0; r < 3; r++)
    memcpy(short_ids + r * 12, ids + (size_t) r * len, 12 * sizeof(int32_t));
  w = st_writer_new();
  g_assert_cmpint(st_writer_add(w, "input_ids", ST_I32, 2, (int64_t[]){ 3, 12 }, short_ids, &err),
                  ==, CLIP_OK);
  g_assert_cmpint(run_tool_on(model, w, &out, &stderr_text), ==, 0);
  g_free(stderr_text);
  st_writer_free(w);
  g_assert_cmpint(st_count(out), ==, 2);
  got = ref_get(out, "text_pooler_output");
  want = ref_get(ref, "text_pooler_output");
  check_close("clip-tool run, 3 texts of 12 ids", "text_pooler_output", got.data, want.data, got.n,
              TOLERANCE);
  g_free(got.data), g_free(want.data);
  st_close(out);

  /* Pixels of the wrong size. */
  w = st_writer_new();
  const int64_t small[4] = { 1, 3, 32, 32 };
  g_assert_cmpint(st_writer_add(w, "pixel_values", ST_F32, 4, small, pix->data, &err), ==, CLIP_OK);
  g_assert_cmpint(run_tool_on(model, w, &out, &stderr_text), ==, 1);
  g_assert_nonnull(strstr(stderr_text, "pixel_values: expected [N, 3, 224, 224]"));
  g_free(stderr_text);
  st_writer_free(w);

  /* A token id outside the vocabulary. */
  short_ids[5] = 1 << 20;
  w = st_writer_new();
  g_assert_cmpint(st_writer_add(w, "input_ids", ST_I32, 2, (int64_t[]){ 3, 12 }, short_ids, &err),
                  ==, CLIP_OK);
  g_assert_cmpint(run_tool_on(model, w, &out, &stderr_text), ==, 1);
  g_assert_nonnull(strstr(stderr_text, "row 0, position 5: token id 1048576"));
  g_free(stderr_text);
  st_writer_free(w);

  g_free(ids);
  st_close(ref);
  g_free(ref_path);
  g_free(model);
}

/* The GELU path: tiny-b32's weights under a config that says "gelu". The kit
 * lists how far that moves the outputs from the QuickGELU reference, to
 * three digits, for exact GELU (text 0.0134, image 0.00615) and for the tanh
 * approximation (0.0135, 0.00613); the exact form must land on the first. */
static void
test_gelu_activation(void)
{
  REQUIRE_REFERENCE(kit);
  clip_error err = { 0 };
  char *src = g_build_filename(kit, "tiny-b32", NULL);
  char *dir = g_build_filename(testutil_tmpdir(), "gelu", NULL);
  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  const char *files[] = { "model.safetensors", "vocab.json", "merges.txt",
                          "preprocessor_config.json" };
  for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
    char *from = g_build_filename(src, files[i], NULL), *to = g_build_filename(dir, files[i], NULL);
    g_assert_cmpint(symlink(from, to), ==, 0);
    g_free(from), g_free(to);
  }
  char *config_path = g_build_filename(src, "config.json", NULL), *config = NULL;
  g_assert_true(g_file_get_contents(config_path, &config, NULL, NULL));
  char **parts = g_strsplit(config, "\"quick_gelu\"", -1);
  g_assert_cmpuint(g_strv_length(parts), ==, 3); /* text and vision */
  char *gelu_config = g_strjoinv("\"gelu\"", parts);
  char *gelu_path = g_build_filename(dir, "config.json", NULL);
  g_assert_true(g_file_set_contents(gelu_path, gelu_config, -1, NULL));

  clip_model *m = clip_model_load(dir, NULL, &err);
  g_assert_nonnull(m);
  g_assert_cmpint(m->info.activation, ==, CLIP_ACT_GELU);
  char *ref_path = g_build_filename(src, "reference.safetensors", NULL);
  st_file *ref = st_open(ref_path, &err);
  g_assert_nonnull(ref);
  int n_txt, len;
  int32_t *ids = ref_ids(ref, &n_txt, &len);
  ref_tensor pix = ref_get(ref, "pixel_values");
  ref_tensor txt_want = ref_get(ref, "text_embeds"), img_want = ref_get(ref, "image_embeds");
  const int n_img = (int) pix.shape[0];
  float *txt = g_new(float, txt_want.n), *img = g_new(float, img_want.n);
  clip_ctx *ctx = clip_ctx_new(m, &err);
  g_assert_cmpint(clip_encode_texts(ctx, ids, n_txt, len, txt, NULL, &err), ==, CLIP_OK);
  g_assert_cmpint(clip_encode_images(ctx, pix.data, n_img, img, NULL, &err), ==, CLIP_OK);
  const double e_txt = rel_error(txt, txt_want.data, txt_want.n);
  const double e_img = rel_error(img, img_want.data, img_want.n);
  g_test_message("gelu config vs quick_gelu reference: text_embeds %.4g, image_embeds %.4g", e_txt,
                 e_img);
  /* (bf16 moves both by up to its own tolerance) */
  const bool fp32 = TOLERANCE == FP32_TOLERANCE;
  g_assert_cmpfloat(fabs(e_txt - 0.0134), <=, fp32 ? 0.00005 : TOLERANCE);
  g_assert_cmpfloat(fabs(e_img - 0.00615), <=, fp32 ? 0.000005 : TOLERANCE);

  clip_ctx_free(ctx);
  g_free(txt), g_free(img), g_free(txt_want.data), g_free(img_want.data), g_free(pix.data);
  g_free(ids);
  st_close(ref);
  clip_model_free(m);
  g_free(ref_path), g_free(gelu_path), g_free(gelu_config), g_free(config), g_free(config_path);
  g_strfreev(parts);
  for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
    char *to = g_build_filename(dir, files[i], NULL);
    g_remove(to);
    g_free(to);
  }
  char *cfg = g_build_filename(dir, "config.json", NULL);
  g_remove(cfg);
  g_free(cfg);
  g_rmdir(dir);
  g_free(dir), g_free(src);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (clip_default_params().precision == CLIP_PRECISION_BF16) {
    TOLERANCE = BF16_TOLERANCE;
    BATCH_TOLERANCE = BF16_BATCH_TOLERANCE;
  }
  g_test_add_func("/forward/ops", test_ops);
  g_test_add_func("/forward/backend-params", test_backend_params);
  g_test_add_func("/forward/reference/tiny-b32/huggingface", test_reference_hf);
  g_test_add_func("/forward/reference/tiny-b32/openclip", test_reference_openclip);
  g_test_add_func("/forward/reference/tiny-b32-mh-f16", test_reference_multihead_f16);
  g_test_add_func("/forward/gelu-activation", test_gelu_activation);
  g_test_add_func("/forward/batching", test_batching);
  g_test_add_func("/forward/text-truncation", test_text_truncation);
  g_test_add_func("/forward/errors", test_errors);
  g_test_add_func("/forward/clip-tool-run", test_tool_run);
  g_test_add_func("/forward/clip-tool-run-partial", test_tool_run_partial);
  return g_test_run();
}
