/* test-score.c — zero-shot scoring and prompt ensembling: the softmax and
 * cosine math on hand-computed values, label/template expansion, ensembling
 * checked against a direct computation with clip_encode_texts, padded
 * tokenization against the kit's input_ids, and argument errors. */
#include <math.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"
#include "score.h"
#include "testutil.h"

/* A model that only carries what clip_score reads. */
static clip_model
fake_model(int dim, float logit_scale)
{
  clip_model m;
  memset(&m, 0, sizeof m);
  m.info.embed_dim = dim;
  m.info.logit_scale = logit_scale;
  return m;
}

static void
test_normalize(void)
{
  float v[2] = { 3, 4 };
  clip_normalize(v, 2);
  g_assert_cmpfloat_with_epsilon(v[0], 0.6, 1e-7);
  g_assert_cmpfloat_with_epsilon(v[1], 0.8, 1e-7);
  float z[3] = { 0, 0, 0 };
  clip_normalize(z, 3); /* no direction: stays zero, no NaN */
  g_assert_cmpfloat(z[0], ==, 0.0f);
  g_assert_cmpfloat(z[2], ==, 0.0f);
  float tiny[2] = { 3e-30f, 4e-30f }; /* squares underflow in float */
  clip_normalize(tiny, 2);
  g_assert_cmpfloat_with_epsilon(tiny[1], 0.8, 1e-7);
  clip_normalize(v, 0);
  clip_normalize(NULL, 2);
}

/* Image (3, 4) against four unit labels: cosines 0.6, 0.8, 1, −0.6. */
static const float image[2] = { 3, 4 };
static const float labels[8] = { 1, 0, 0, 1, 0.6f, 0.8f, -1, 0 };

static void
test_score_values(void)
{
  float sims[4], probs[4];
  const float want_sims[4] = { 0.6f, 0.8f, 1.0f, -0.6f };

  /* logit_scale = ln 100: the probabilities of CLIP's usual temperature,
   * softmax(100 · cos), computed by hand in double. */
  clip_model m = fake_model(2, logf(100.0f));
  clip_score(&m, image, labels, 4, sims, probs);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat_with_epsilon(sims[i], want_sims[i], 1e-7);
  g_assert_cmpfloat_with_epsilon(probs[0], 4.248354246535078e-18, 1e-22);
  g_assert_cmpfloat_with_epsilon(probs[1], 2.0611536181902033e-09, 1e-14);
  g_assert_cmpfloat_with_epsilon(probs[2], 0.99999999793884631, 1e-7);
  g_assert_cmpfloat(probs[3], ==, 0.0f); /* 3.3e-70 underflows float */

  /* logit_scale = 0: softmax of the cosines themselves. */
  m = fake_model(2, 0.0f);
  clip_score(&m, image, labels, 4, NULL, probs); /* similarities may be NULL */
  const double want[4] = { 0.24910188385106444, 0.30425372799858436, 0.37161634255798504,
                           0.075028045592366241 };
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat_with_epsilon(probs[i], want[i], 1e-7);

  /* probs may be NULL. */
  memset(sims, 0, sizeof sims);
  clip_score(&m, image, labels, 4, sims, NULL);
  g_assert_cmpfloat_with_epsilon(sims[1], 0.8, 1e-7);

  /* n = 0 and NULL inputs leave the outputs alone. */
  probs[0] = 42;
  clip_score(&m, image, labels, 0, NULL, probs);
  clip_score(NULL, image, labels, 4, NULL, probs);
  clip_score(&m, NULL, labels, 4, NULL, probs);
  g_assert_cmpfloat(probs[0], ==, 42.0f);
}

/* Softmax stays finite for huge temperatures and zero embeddings. */
static void
test_score_stability(void)
{
  float sims[4], probs[4];
  clip_model m = fake_model(2, 69.0f); /* exp(69) ≈ 9e29: logits near 1e30 */
  clip_score(&m, image, labels, 4, sims, probs);
  g_assert_cmpfloat(probs[2], ==, 1.0f);
  g_assert_cmpfloat(probs[0], ==, 0.0f);
  g_assert_cmpfloat(probs[3], ==, 0.0f);

  const float zero[2] = { 0, 0 };
  m = fake_model(2, logf(100.0f));
  clip_score(&m, zero, labels, 4, sims, probs);
  for (int i = 0; i < 4; i++) {
    g_assert_cmpfloat(sims[i], ==, 0.0f);
    g_assert_cmpfloat_with_epsilon(probs[i], 0.25, 1e-7);
  }

  float one = 0.3f;
  clip_score_probs(&one, 1, 100.0f, &one);
  g_assert_cmpfloat(one, ==, 1.0f);
}

static void
assert_strv(char **got, const char *const *want)
{
  g_assert_cmpuint(g_strv_length(got), ==, g_strv_length((char **) want));
  for (int i = 0; want[i]; i++)
    g_assert_cmpstr(got[i], ==, want[i]);
  g_strfreev(got);
}

static void
test_label_expansion(void)
{
  const char *two[] = { "person cooking", "person frying food", NULL };
  assert_strv(clip_label_synonyms(" person cooking | person frying food||"), two);
  const char *one[] = { "dog", NULL };
  assert_strv(clip_label_synonyms("dog"), one);
  const char *none[] = { NULL };
  assert_strv(clip_label_synonyms(""), none);
  assert_strv(clip_label_synonyms("|| | \t|"), none);

  char *p = clip_prompt_fill("a photo of a {}.", "cat");
  g_assert_cmpstr(p, ==, "a photo of a cat.");
  g_free(p);
  p = clip_prompt_fill("{}: a {} scene", "beach");
  g_assert_cmpstr(p, ==, "beach: a beach scene");
  g_free(p);
  p = clip_prompt_fill("{}", "person doing archery");
  g_assert_cmpstr(p, ==, "person doing archery");
  g_free(p);
}

static clip_model *
load_tiny(void)
{
  clip_error err = { 0 };
  char *path = testutil_reference_path("tiny-b32");
  clip_model *m = clip_model_load(path, NULL, &err);
  if (!m)
    g_test_message("loading %s: %s", path, err.message);
  g_assert_nonnull(m);
  g_free(path);
  return m;
}

/* The CLIP-paper ensemble of a list of prompts computed directly: encode,
 * normalize each, average, normalize. */
static void
direct_ensemble(clip_ctx *ctx, const clip_model *m, const char *const *prompts, int n, float *out,
                bool normalize_each)
{
  clip_error err = { 0 };
  const int L = m->info.context_length, D = m->info.embed_dim;
  int32_t *ids = g_new(int32_t, (size_t) n * L);
  float *e = g_new(float, (size_t) n *D);
  for (int i = 0; i < n; i++)
    g_assert_cmpint(clip_tokenize_padded(m, prompts[i], ids + (size_t) i * L, &err), ==, CLIP_OK);
  g_assert_cmpint(clip_encode_texts(ctx, ids, n, L, e, NULL, &err), ==, CLIP_OK);
  memset(out, 0, (size_t) D * sizeof *out);
  for (int i = 0; i < n; i++) {
    if (normalize_each)
      clip_normalize(e + (size_t) i * D, D);
    for (int j = 0; j < D; j++)
      out[j] += e[(size_t) i * D + j] / n;
  }
  clip_normalize(out, D);
  g_free(e);
  g_free(ids);
}

static double
max_diff(const float *a, const float *b, int n)
{
  double d = 0;
  for (int i = 0; i < n; i++)
    d = fmax(d, fabs((double) a[i] - b[i]));
  return d;
}

/* Embeddings of the same prompts in another batch composition agree to
 * float32 noise (OpenBLAS picks other kernels for other row counts). */
#define ENSEMBLE_TOLERANCE 2e-6

static void
test_ensemble(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  clip_error err = { 0 };
  clip_model *m = load_tiny();
  clip_ctx *ctx = clip_ctx_new(m, &err);
  g_assert_nonnull(ctx);
  const int D = m->info.embed_dim;

  /* 3 labels × 6 synonyms-templates = 36 prompts: more than one batch. */
  const char *lab[] = { "cat | kitten|kitty", "dog|puppy", "bird" };
  const char *tpl[] = { "a photo of a {}.",  "a blurry photo of a {}.",     "a drawing of a {}.",
                        "a {} in the wild.", "a close-up photo of the {}.", "itap of a {}." };
  float *out = g_new(float, 3 * D), *want = g_new(float, D), *raw = g_new(float, D);
  g_assert_cmpint(clip_embed_labels(ctx, lab, 3, tpl, 6, out, &err), ==, CLIP_OK);

  const char *syn[3][3] = { { "cat", "kitten", "kitty" }, { "dog", "puppy" }, { "bird" } };
  const int n_syn[3] = { 3, 2, 1 };
  for (int l = 0; l < 3; l++) {
    const char *prompts[18];
    char *owned[18];
    int n = 0;
    for (int s = 0; s < n_syn[l]; s++)
      for (int t = 0; t < 6; t++)
        prompts[n] = owned[n] = clip_prompt_fill(tpl[t], syn[l][s]), n++;
    direct_ensemble(ctx, m, prompts, n, want, true);
    const double d = max_diff(out + (size_t) l * D, want, D);
    g_test_message("label %d: ensemble vs direct computation, max abs difference %.3g", l, d);
    g_assert_cmpfloat(d, <=, ENSEMBLE_TOLERANCE);
    double norm = 0;
    for (int j = 0; j < D; j++)
      norm += (double) out[(size_t) l * D + j] * out[(size_t) l * D + j];
    g_assert_cmpfloat_with_epsilon(norm, 1.0, 1e-6);
    /* The order matters: averaging raw embeddings first is another vector
     * (their norms differ), which this test would tell apart. */
    if (n > 1) {
      direct_ensemble(ctx, m, prompts, n, raw, false);
      g_test_message("label %d: ensemble vs mean of unnormalized embeddings %.3g", l,
                     max_diff(want, raw, D));
      g_assert_cmpfloat(max_diff(want, raw, D), >, 100 * ENSEMBLE_TOLERANCE);
    }
    for (int i = 0; i < n; i++)
      g_free(owned[i]);
  }

  /* No templates: the label text itself, the same as the template "{}". */
  const char *plain[] = { "a photo of a cat." };
  const char *identity[] = { "{}" };
  float *a = g_new(float, D), *b = g_new(float, D);
  g_assert_cmpint(clip_embed_labels(ctx, plain, 1, NULL, 0, a, &err), ==, CLIP_OK);
  g_assert_cmpint(clip_embed_labels(ctx, plain, 1, identity, 1, b, &err), ==, CLIP_OK);
  g_assert_cmpmem(a, D * sizeof(float), b, D * sizeof(float));
  direct_ensemble(ctx, m, plain, 1, want, true);
  g_assert_cmpfloat(max_diff(a, want, D), <=, ENSEMBLE_TOLERANCE);

  g_free(a), g_free(b), g_free(raw), g_free(want), g_free(out);
  clip_ctx_free(ctx);
  clip_model_free(m);
}

/* clip_tokenize_padded gives the kit's input_ids on the texts that need no
 * ftfy repair, including the empty text, one of exactly 77 ids and one
 * truncated to ids[:76] + EOT. */
static void
test_tokenize_padded(void)
{
  REQUIRE_REFERENCE(kit);
  clip_error err = { 0 };
  clip_model *m = load_tiny();
  char *ref_path = g_build_filename(kit, "tiny-b32", "reference.safetensors", NULL);
  st_file *ref = st_open(ref_path, &err);
  g_assert_nonnull(ref);
  const st_tensor *t = st_find(ref, "input_ids");
  g_assert_nonnull(t);
  const int L = m->info.context_length;
  g_assert_cmpint(t->shape[1], ==, L);
  const struct {
    int row;
    const char *text;
  } cases[] = {
    { 0, "a photo of a cat." },
    { 1, "a video of a person doing archery." },
    { 2, "" },
    { 3, "A very long caption that keeps going and going, describing a busy market square on a "
         "sunny Saturday morning, with vendors selling fresh fruit, vegetables, flowers, "
         "handmade jewelry, old books, vinyl records and warm bread, while children chase "
         "pigeons around the fountain, musicians play jazz near the clock tower, tourists take "
         "photos of the cathedral, and an old man feeds the ducks by the river under the shade "
         "of a large chestnut tree." },
    { 4, "A PHOTO OF A DOG" },
    { 10, "hello <|endoftext|> world" },
    { 12, "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 "
          "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1" },
  };
  int32_t *ids = g_new(int32_t, L);
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    const int32_t *want = (const int32_t *) t->data + (size_t) cases[i].row * L;
    for (int k = 0; k < L; k++)
      ids[k] = -1;
    g_assert_cmpint(clip_tokenize_padded(m, cases[i].text, ids, &err), ==, CLIP_OK);
    g_assert_cmpmem(ids, L * sizeof(int32_t), want, L * sizeof(int32_t));
  }
  g_assert_cmpint(ids[0], ==, m->sot_id);
  g_assert_cmpint(clip_tokenize_padded(m, NULL, ids, &err), ==, CLIP_ERR_ARG);
  g_assert_cmpint(clip_tokenize_padded(NULL, "x", ids, &err), ==, CLIP_ERR_ARG);
  g_assert_cmpint(clip_tokenize_padded(m, "x", NULL, &err), ==, CLIP_ERR_ARG);
  g_free(ids);
  st_close(ref);
  g_free(ref_path);
  clip_model_free(m);
}

static void
assert_error(clip_status st, const clip_error *err, const char *part)
{
  g_assert_cmpint(st, ==, CLIP_ERR_ARG);
  g_assert_cmpint(err->status, ==, CLIP_ERR_ARG);
  if (!strstr(err->message, part))
    g_error("error message '%s' lacks '%s'", err->message, part);
}

static void
test_embed_errors(void)
{
  REQUIRE_REFERENCE(kit);
  (void) kit;
  clip_error err = { 0 };
  clip_model *m = load_tiny();
  clip_ctx *ctx = clip_ctx_new(m, &err);
  float *out = g_new(float, 4 * m->info.embed_dim);
  const char *ok[] = { "cat", "dog" };
  const char *empty[] = { "cat", "" };
  const char *seps[] = { " | |" };
  const char *null_label[] = { "cat", NULL };
  const char *no_slot[] = { "a photo of a {}.", "a photo" };
  const char *null_tpl[] = { NULL };

  assert_error(clip_embed_labels(ctx, empty, 2, NULL, 0, out, &err), &err,
               "label 1 ('') has no name");
  assert_error(clip_embed_labels(ctx, seps, 1, NULL, 0, out, &err), &err,
               "label 0 (' | |') has no name");
  assert_error(clip_embed_labels(ctx, null_label, 2, NULL, 0, out, &err), &err, "label 1 is NULL");
  assert_error(clip_embed_labels(ctx, ok, 2, no_slot, 2, out, &err), &err,
               "template 1 ('a photo') has no '{}'");
  assert_error(clip_embed_labels(ctx, ok, 2, null_tpl, 1, out, &err), &err, "template 0 is NULL");
  assert_error(clip_embed_labels(ctx, ok, 2, NULL, 3, out, &err), &err, "3 templates given");
  assert_error(clip_embed_labels(ctx, ok, 2, no_slot, -1, out, &err), &err, "-1 templates");
  assert_error(clip_embed_labels(ctx, ok, 0, NULL, 0, out, &err), &err, "n_labels is 0");
  assert_error(clip_embed_labels(ctx, ok, 2, NULL, 0, NULL, &err), &err, "NULL");
  assert_error(clip_embed_labels(NULL, ok, 2, NULL, 0, out, &err), &err, "NULL");
  assert_error(clip_embed_labels(ctx, NULL, 2, NULL, 0, out, &err), &err, "NULL");
  /* Still usable afterwards. */
  g_assert_cmpint(clip_embed_labels(ctx, ok, 2, NULL, 0, out, &err), ==, CLIP_OK);

  g_free(out);
  clip_ctx_free(ctx);
  clip_model_free(m);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/score/normalize", test_normalize);
  g_test_add_func("/score/values", test_score_values);
  g_test_add_func("/score/stability", test_score_stability);
  g_test_add_func("/score/label-expansion", test_label_expansion);
  g_test_add_func("/score/ensemble", test_ensemble);
  g_test_add_func("/score/tokenize-padded", test_tokenize_padded);
  g_test_add_func("/score/embed-errors", test_embed_errors);
  return g_test_run();
}
