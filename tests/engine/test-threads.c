/* test-threads.c — the OpenBLAS backend's worker threads. The passes
 * outside the products split by rows or (sequence, head) pairs and compute
 * every element the same way wherever it runs; the products split by
 * columns or rows over the workers, each calling OpenBLAS on one thread,
 * and OpenBLAS 0.3.21 picks its kernels by shape, so a product cut in two
 * can differ from the whole in the last bits (measured with a probe: most
 * shapes, either cut). So: for a given worker count the results are
 * exactly the same every time, also with two contexts encoding at once;
 * across worker counts they agree within 2e-6 (scale-relative), well inside
 * the kit's batching tolerance (test-forward.c). */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "context.h"
#include "safetensors.h"
#include "testutil.h"

/* Everything a context computes for the kit's inputs. */
typedef struct {
  float *txt, *txt_pool, *txt_full, *txt_full_pool, *img, *img_pool;
  size_t n_txt, n_txt_pool, n_img, n_img_pool;
} outputs;

typedef struct {
  const clip_model *m;
  const int32_t *ids;
  int n_txt, len, n_img;
  const float *pix;
} inputs;

static void
encode_all(clip_ctx *ctx, const inputs *in, outputs *o)
{
  const clip_model_info *info = clip_model_get_info(in->m);
  clip_error err = { 0 };
  o->n_txt = (size_t) in->n_txt * info->embed_dim;
  o->n_txt_pool = (size_t) in->n_txt * info->text_width;
  o->n_img = (size_t) in->n_img * info->embed_dim;
  o->n_img_pool = (size_t) in->n_img * info->vision_width;
  o->txt = g_new(float, o->n_txt), o->txt_full = g_new(float, o->n_txt);
  o->txt_pool = g_new(float, o->n_txt_pool), o->txt_full_pool = g_new(float, o->n_txt_pool);
  o->img = g_new(float, o->n_img), o->img_pool = g_new(float, o->n_img_pool);
  g_assert_cmpint(clip_encode_texts(ctx, in->ids, in->n_txt, in->len, o->txt, o->txt_pool, &err),
                  ==, CLIP_OK);
  /* All 77 positions as well as the truncated run. */
  clip_ctx_set_text_truncation(ctx, false);
  g_assert_cmpint(
      clip_encode_texts(ctx, in->ids, in->n_txt, in->len, o->txt_full, o->txt_full_pool, &err), ==,
      CLIP_OK);
  clip_ctx_set_text_truncation(ctx, true);
  g_assert_cmpint(clip_encode_images(ctx, in->pix, in->n_img, o->img, o->img_pool, &err), ==,
                  CLIP_OK);
}

static void
assert_same(const outputs *a, const outputs *b)
{
  g_assert_cmpmem(a->txt, a->n_txt * sizeof(float), b->txt, b->n_txt * sizeof(float));
  g_assert_cmpmem(a->txt_pool, a->n_txt_pool * sizeof(float), b->txt_pool,
                  b->n_txt_pool * sizeof(float));
  g_assert_cmpmem(a->txt_full, a->n_txt * sizeof(float), b->txt_full, b->n_txt * sizeof(float));
  g_assert_cmpmem(a->txt_full_pool, a->n_txt_pool * sizeof(float), b->txt_full_pool,
                  b->n_txt_pool * sizeof(float));
  g_assert_cmpmem(a->img, a->n_img * sizeof(float), b->img, b->n_img * sizeof(float));
  g_assert_cmpmem(a->img_pool, a->n_img_pool * sizeof(float), b->img_pool,
                  b->n_img_pool * sizeof(float));
}

static void
outputs_free(outputs *o)
{
  g_free(o->txt), g_free(o->txt_pool), g_free(o->txt_full), g_free(o->txt_full_pool);
  g_free(o->img), g_free(o->img_pool);
}

static clip_model *
load_openblas(const char *dir, int n_threads)
{
  clip_params p = clip_default_params();
  p.backend = CLIP_BACKEND_OPENBLAS;
  p.precision = CLIP_PRECISION_FP32;
  p.n_threads = n_threads;
  clip_error err = { 0 };
  clip_model *m = clip_model_load(dir, &p, &err);
  if (!m)
    g_error("loading %s: %s", dir, err.message);
  return m;
}

/* The kit's inputs of one of its models. */
typedef struct {
  st_file *ref;
  int32_t *ids;
  float *pix;
} kit_inputs;

static void
kit_inputs_open(const char *dir, kit_inputs *k, inputs *in)
{
  clip_error err = { 0 };
  char *file = g_build_filename(dir, "reference.safetensors", NULL);
  k->ref = st_open(file, &err);
  g_assert_nonnull(k->ref);
  g_free(file);
  const st_tensor *ids = st_find(k->ref, "input_ids"), *pix = st_find(k->ref, "pixel_values");
  g_assert_nonnull(ids);
  g_assert_nonnull(pix);
  g_assert_cmpint(ids->dtype, ==, ST_I32);
  k->ids = g_memdup2(ids->data, ids->n_bytes);
  k->pix = g_new(float, pix->n_elements);
  g_assert_cmpint(st_to_f32(pix, k->pix, &err), ==, CLIP_OK);
  in->ids = k->ids;
  in->n_txt = (int) ids->shape[0];
  in->len = (int) ids->shape[1];
  in->pix = k->pix;
  in->n_img = (int) pix->shape[0];
}

static void
kit_inputs_close(kit_inputs *k)
{
  g_free(k->ids), g_free(k->pix);
  st_close(k->ref);
}

/* max|a − b| / max|b| over all outputs. */
static double
rel_error(const outputs *a, const outputs *b)
{
  const float *x[] = { a->txt, a->txt_pool, a->txt_full, a->txt_full_pool, a->img, a->img_pool };
  const float *y[] = { b->txt, b->txt_pool, b->txt_full, b->txt_full_pool, b->img, b->img_pool };
  const size_t n[] = { a->n_txt, a->n_txt_pool, a->n_txt, a->n_txt_pool, a->n_img, a->n_img_pool };
  double worst = 0.0;
  for (int k = 0; k < 6; k++) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n[k]; i++) {
      diff = fmax(diff, fabs((double) x[k][i] - y[k][i]));
      scale = fmax(scale, fabs((double) y[k][i]));
    }
    worst = fmax(worst, scale > 0.0 ? diff / scale : diff);
  }
  return worst;
}

/* One context of n_threads on the kit model in dir; split_all: every pass
 * on the workers, however small. */
static void
encode_with(const char *dir, const inputs *kit, int n_threads, bool split_all, outputs *o)
{
  clip_error err = { 0 };
  clip_model *m = load_openblas(dir, n_threads);
  inputs in = *kit;
  in.m = m;
  clip_ctx *ctx = clip_ctx_new(m, &err);
  g_assert_nonnull(ctx);
  if (split_all)
    ops_backend_set_split_threshold(&ctx->backend, 0.0);
  encode_all(ctx, &in, o);
  clip_ctx_free(ctx);
  clip_model_free(m);
}

static void
check_thread_counts(const char *rel)
{
  char *dir = testutil_reference_path(rel);
  kit_inputs k;
  inputs in;
  kit_inputs_open(dir, &k, &in);
  outputs want, got, again;
  encode_with(dir, &in, 1, false, &want);
  /* a context never touches OpenBLAS's own thread count beyond one */
  g_assert_cmpint(openblas_get_num_threads(), ==, 1);
  for (int n = 2; n <= 3; n++)
    for (int split_all = 0; split_all < 2; split_all++) {
      encode_with(dir, &in, n, split_all, &got);
      const double e = rel_error(&got, &want);
      g_test_message("%s: %d threads, %s: scale-relative error %.3g against 1 thread", rel, n,
                     split_all ? "every pass split" : "default", e);
      g_assert_cmpfloat(e, <=, 2e-6);
      encode_with(dir, &in, n, split_all, &again);
      assert_same(&again, &got);
      outputs_free(&got);
      outputs_free(&again);
    }
  outputs_free(&want);
  kit_inputs_close(&k);
  g_free(dir);
}

static void
test_thread_counts(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  check_thread_counts("tiny-b32");
  check_thread_counts("tiny-b32-mh-f16");
}

typedef struct {
  const inputs *in;
  const outputs *want;
} worker_arg;

/* A context of its own, encoding a few times with every pass split. */
static gpointer
encode_worker(gpointer p)
{
  const worker_arg *a = p;
  clip_error err = { 0 };
  clip_ctx *ctx = clip_ctx_new(a->in->m, &err);
  g_assert_nonnull(ctx);
  ops_backend_set_split_threshold(&ctx->backend, 0.0);
  for (int i = 0; i < 3; i++) {
    outputs got;
    encode_all(ctx, a->in, &got);
    assert_same(&got, a->want);
    outputs_free(&got);
  }
  clip_ctx_free(ctx);
  return NULL;
}

/* Two contexts of 2 threads on one model, each with its workers, at once:
 * the bits of one such context alone (four threads then call OpenBLAS at
 * once, each on one OpenBLAS thread). */
static void
test_concurrent_contexts(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  char *dir = testutil_reference_path("tiny-b32-mh-f16");
  kit_inputs k;
  inputs in;
  kit_inputs_open(dir, &k, &in);
  clip_error err = { 0 };
  outputs want;
  clip_model *m = load_openblas(dir, 2);
  in.m = m;
  clip_ctx *ctx = clip_ctx_new(m, &err);
  g_assert_nonnull(ctx);
  ops_backend_set_split_threshold(&ctx->backend, 0.0);
  encode_all(ctx, &in, &want);
  clip_ctx_free(ctx);

  worker_arg arg = { &in, &want };
  GThread *t[2];
  for (int i = 0; i < 2; i++)
    t[i] = g_thread_new("encode", encode_worker, &arg);
  for (int i = 0; i < 2; i++)
    g_thread_join(t[i]);
  clip_model_free(m);
  outputs_free(&want);
  kit_inputs_close(&k);
  g_free(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/threads/thread-counts", test_thread_counts);
  g_test_add_func("/threads/concurrent-contexts", test_concurrent_contexts);
  return g_test_run();
}
