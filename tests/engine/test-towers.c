/* test-towers.c — loading one tower (clip_params.towers): on the kit's
 * checkpoints (both namings, F32 and F16) a text-only or vision-only model
 * encodes exactly what the whole model does, on every backend built; the
 * other tower's weights are never read (a NaN in them does not fail the
 * load); encoding with the missing tower and an invalid selection fail
 * with CLIP_ERR_ARG naming the tower. */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>

#include "backend-onednn.h"
#include "clip.h"
#include "safetensors.h"
#include "testutil.h"
#include "tmpdir.h"

/* The kit's inputs for a model directory: token ids and pixels. */
typedef struct {
  int32_t *ids;
  int n_txt, len;
  float *pixels;
  int n_img;
} kit_inputs;

static kit_inputs
kit_inputs_read(const char *model_dir)
{
  kit_inputs in = { 0 };
  clip_error err = { 0 };
  char *path = g_build_filename(model_dir, "reference.safetensors", NULL);
  st_file *f = st_open(path, &err);
  g_assert_nonnull(f);
  const st_tensor *ids = st_find(f, "input_ids"), *pix = st_find(f, "pixel_values");
  g_assert_nonnull(ids);
  g_assert_nonnull(pix);
  g_assert_cmpint(ids->dtype, ==, ST_I32);
  in.n_txt = (int) ids->shape[0], in.len = (int) ids->shape[1];
  in.ids = g_memdup2(ids->data, ids->n_bytes);
  in.n_img = (int) pix->shape[0];
  in.pixels = g_new(float, (size_t) pix->n_elements);
  g_assert_cmpint(st_to_f32(pix, in.pixels, &err), ==, CLIP_OK);
  st_close(f);
  g_free(path);
  return in;
}

static void
kit_inputs_free(kit_inputs *in)
{
  g_free(in->ids);
  g_free(in->pixels);
}

static clip_model *
load(const char *path, clip_backend backend, clip_towers towers, clip_error *err)
{
  clip_params p = clip_default_params();
  p.backend = backend;
  p.towers = towers;
  return clip_model_load(path, &p, err);
}

/* Embeddings of the kit's texts (or images) by model m; NULL when the
 * encode fails (err says why). */
static float *
encode(clip_model *m, const kit_inputs *in, bool images, clip_error *err)
{
  const clip_model_info *info = clip_model_get_info(m);
  clip_ctx *ctx = clip_ctx_new(m, err);
  g_assert_nonnull(ctx);
  int n = images ? in->n_img : in->n_txt;
  float *out = g_new0(float, (size_t) n * info->embed_dim);
  clip_status st = images ? clip_encode_images(ctx, in->pixels, n, out, NULL, err)
                          : clip_encode_texts(ctx, in->ids, n, in->len, out, NULL, err);
  clip_ctx_free(ctx);
  if (st != CLIP_OK) {
    g_free(out);
    return NULL;
  }
  return out;
}

/* One checkpoint: each single-tower model gives the whole model's output
 * bit for bit, and refuses the other tower. */
static void
check_model(const char *dir_rel, const char *model_rel)
{
  REQUIRE_REFERENCE(ref);
  char *dir = g_build_filename(ref, dir_rel, NULL);
  char *path = g_build_filename(ref, model_rel, NULL);
  kit_inputs in = kit_inputs_read(dir);
  const clip_backend backends[] = { CLIP_BACKEND_OPENBLAS, CLIP_BACKEND_ONEDNN };
  for (int b = 0; b < (onednn_built() ? 2 : 1); b++) {
    clip_error err = { 0 };
    clip_model *all = load(path, backends[b], CLIP_TOWERS_ALL, &err);
    g_assert_nonnull(all);
    const int D = clip_model_get_info(all)->embed_dim;
    float *txt = encode(all, &in, false, &err), *img = encode(all, &in, true, &err);
    g_assert_nonnull(txt);
    g_assert_nonnull(img);

    clip_model *text = load(path, backends[b], CLIP_TOWERS_TEXT, &err);
    g_assert_nonnull(text);
    float *got = encode(text, &in, false, &err);
    g_assert_nonnull(got);
    g_assert_cmpmem(got, (size_t) in.n_txt * D * sizeof(float), txt,
                    (size_t) in.n_txt * D * sizeof(float));
    g_free(got);
    g_assert_null(encode(text, &in, true, &err));
    g_assert_cmpint(err.status, ==, CLIP_ERR_ARG);
    g_assert_nonnull(strstr(err.message, "clip_encode_images: "));
    g_assert_nonnull(strstr(err.message, "was loaded without its vision tower"));
    g_assert_nonnull(strstr(err.message, model_rel));

    clip_model *vision = load(path, backends[b], CLIP_TOWERS_VISION, &err);
    g_assert_nonnull(vision);
    got = encode(vision, &in, true, &err);
    g_assert_nonnull(got);
    g_assert_cmpmem(got, (size_t) in.n_img * D * sizeof(float), img,
                    (size_t) in.n_img * D * sizeof(float));
    g_free(got);
    g_assert_null(encode(vision, &in, false, &err));
    g_assert_cmpint(err.status, ==, CLIP_ERR_ARG);
    g_assert_nonnull(strstr(err.message, "clip_encode_texts: "));
    g_assert_nonnull(strstr(err.message, "was loaded without its text tower"));
    /* Label embedding needs the text tower too. */
    clip_ctx *ctx = clip_ctx_new(vision, &err);
    const char *labels[] = { "a dog" };
    float *lab = g_new(float, D);
    g_assert_cmpint(clip_embed_labels(ctx, labels, 1, NULL, 0, lab, &err), ==, CLIP_ERR_ARG);
    g_assert_nonnull(strstr(err.message, "without its text tower"));
    g_free(lab);
    clip_ctx_free(ctx);

    /* Facts about the model stay those of the checkpoint. */
    g_assert_cmpint(clip_model_get_info(text)->vision_layers, ==,
                    clip_model_get_info(all)->vision_layers);
    g_assert_cmpint(clip_model_get_info(vision)->text_width, ==,
                    clip_model_get_info(all)->text_width);
    clip_model_free(vision);
    clip_model_free(text);
    clip_model_free(all);
    g_free(txt), g_free(img);
  }
  kit_inputs_free(&in);
  g_free(dir), g_free(path);
}

static void
test_hf(void)
{
  check_model("tiny-b32", "tiny-b32");
}

static void
test_openclip(void)
{
  check_model("tiny-b32", "tiny-b32/open_clip_model.safetensors");
}

static void
test_f16(void)
{
  check_model("tiny-b32-mh-f16", "tiny-b32-mh-f16");
}

/* A copy of the kit's tiny-b32 directory whose tensor `poisoned` holds a
 * NaN; the caller removes it with tmpdir_remove(). */
static char *
copy_with_nan(const char *poisoned)
{
  const char *ref = testutil_reference_dir();
  char *src = g_build_filename(ref, "tiny-b32", NULL);
  char *dir = g_build_filename(testutil_tmpdir(), poisoned, NULL);
  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  const char *files[] = { "config.json", "vocab.json", "merges.txt", "preprocessor_config.json" };
  for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
    char *from = g_build_filename(src, files[i], NULL), *to = g_build_filename(dir, files[i], NULL);
    char *text = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(from, &text, &len, NULL));
    g_assert_true(g_file_set_contents(to, text, (gssize) len, NULL));
    g_free(text), g_free(from), g_free(to);
  }
  clip_error err = { 0 };
  char *weights = g_build_filename(src, "model.safetensors", NULL);
  st_file *f = st_open(weights, &err);
  g_assert_nonnull(f);
  st_writer *w = st_writer_new();
  bool found = false;
  for (int i = 0; i < st_count(f); i++) {
    const st_tensor *t = st_get(f, i);
    void *data = g_memdup2(t->data, t->n_bytes);
    if (!strcmp(t->name, poisoned)) {
      g_assert_cmpint(t->dtype, ==, ST_F32);
      ((float *) data)[t->n_elements / 2] = NAN;
      found = true;
    }
    g_assert_cmpint(st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, data, &err), ==,
                    CLIP_OK);
    g_free(data);
  }
  g_assert_true(found);
  char *out = g_build_filename(dir, "model.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, out, &err), ==, CLIP_OK);
  st_writer_free(w);
  st_close(f);
  g_free(out), g_free(weights), g_free(src);
  return dir;
}

/* The other tower is not read: a NaN there fails the whole model's load
 * (the finite check) but not the single tower's. */
static void
test_other_tower_unread(void)
{
  REQUIRE_REFERENCE(ref);
  const struct {
    const char *tensor;
    clip_towers loads, fails;
  } cases[] = {
    { "vision_model.encoder.layers.0.mlp.fc1.weight", CLIP_TOWERS_TEXT, CLIP_TOWERS_VISION },
    { "text_model.encoder.layers.1.self_attn.q_proj.weight", CLIP_TOWERS_VISION, CLIP_TOWERS_TEXT },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *dir = copy_with_nan(cases[i].tensor);
    clip_error err = { 0 };
    clip_model *m = load(dir, CLIP_BACKEND_DEFAULT, CLIP_TOWERS_ALL, &err);
    g_assert_null(m);
    g_assert_cmpint(err.status, ==, CLIP_ERR_FORMAT);
    g_assert_nonnull(strstr(err.message, cases[i].tensor));
    g_assert_nonnull(strstr(err.message, "holds NaN"));
    m = load(dir, CLIP_BACKEND_DEFAULT, cases[i].fails, &err);
    g_assert_null(m);
    g_assert_nonnull(strstr(err.message, cases[i].tensor));
    m = load(dir, CLIP_BACKEND_DEFAULT, cases[i].loads, &err);
    if (!m)
      g_test_message("%s", err.message);
    g_assert_nonnull(m);
    clip_model_free(m);
    tmpdir_remove(dir);
  }
}

/* The other tower's names and shapes are still checked: a checkpoint
 * missing a vision tensor is refused by a text-only load. */
static void
test_other_tower_checked(void)
{
  REQUIRE_REFERENCE(ref);
  clip_error err = { 0 };
  char *src = g_build_filename(ref, "tiny-b32", "open_clip_model.safetensors", NULL);
  st_file *f = st_open(src, &err);
  g_assert_nonnull(f);
  st_writer *w = st_writer_new();
  for (int i = 0; i < st_count(f); i++) {
    const st_tensor *t = st_get(f, i);
    if (strcmp(t->name, "visual.ln_post.bias") != 0)
      g_assert_cmpint(st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, t->data, &err), ==,
                      CLIP_OK);
  }
  char *path = g_build_filename(testutil_tmpdir(), "no-ln-post.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, path, &err), ==, CLIP_OK);
  st_writer_free(w);
  st_close(f);
  g_assert_null(load(path, CLIP_BACKEND_DEFAULT, CLIP_TOWERS_TEXT, &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_FORMAT);
  g_assert_nonnull(strstr(err.message, "required tensor 'visual.ln_post.bias' is missing"));
  g_unlink(path);
  g_free(path), g_free(src);
}

static void
test_invalid_selection(void)
{
  REQUIRE_REFERENCE(ref);
  char *path = g_build_filename(ref, "tiny-b32", NULL);
  clip_error err = { 0 };
  g_assert_null(load(path, CLIP_BACKEND_DEFAULT, (clip_towers) 7, &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_ARG);
  g_assert_cmpstr(err.message, ==,
                  "clip_params.towers is 7, expected CLIP_TOWERS_ALL, _TEXT or _VISION");
  g_free(path);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/towers/hf", test_hf);
  g_test_add_func("/towers/openclip", test_openclip);
  g_test_add_func("/towers/f16", test_f16);
  g_test_add_func("/towers/other-tower-unread", test_other_tower_unread);
  g_test_add_func("/towers/other-tower-checked", test_other_tower_checked);
  g_test_add_func("/towers/invalid-selection", test_invalid_selection);
  return g_test_run();
}
