/* Tests of checkpoint loading: the kit's models in every accepted form, the
 * two namings giving identical weights, and every error case with a real bad
 * directory built at run time from the kit's files. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model.h"
#include "testutil.h"

/* On OpenBLAS: these tests read the loader's plain weight layout, which the
 * oneDNN backend replaces by prepacked copies at load. */
static clip_model *
load_ok(const char *path)
{
  clip_error err = { 0 };
  clip_params p = clip_default_params();
  p.backend = CLIP_BACKEND_OPENBLAS;
  p.precision = CLIP_PRECISION_FP32;
  clip_model *m = clip_model_load(path, &p, &err);
  if (!m)
    g_error("loading %s failed: %s", path, err.message);
  return m;
}

/* Loading must fail with status and a message containing both parts. */
static void
expect_error(const char *path, clip_status status, const char *part1, const char *part2)
{
  clip_error err = { 0 };
  clip_model *m = clip_model_load(path, NULL, &err);
  if (m)
    g_error("%s: expected failure with '%s', but it loaded", path, part2);
  if (err.status != status || !strstr(err.message, part1) || !strstr(err.message, part2))
    g_error("%s: expected status %d with '%s' and '%s', got %d: %s", path, status, part1, part2,
            err.status, err.message);
}

static void
check_tiny_b32(const clip_model_info *in, const char *dtype, const char *naming)
{
  g_assert_cmpint(in->vision_width, ==, 64);
  g_assert_cmpint(in->vision_layers, ==, 2);
  g_assert_cmpint(in->vision_heads, ==, 1);
  g_assert_cmpint(in->vision_mlp, ==, 256);
  g_assert_cmpint(in->text_width, ==, 64);
  g_assert_cmpint(in->text_layers, ==, 2);
  g_assert_cmpint(in->text_heads, ==, 1);
  g_assert_cmpint(in->text_mlp, ==, 256);
  g_assert_cmpint(in->image_size, ==, 224);
  g_assert_cmpint(in->patch_size, ==, 32);
  g_assert_cmpint(in->embed_dim, ==, 32);
  g_assert_cmpint(in->context_length, ==, 77);
  g_assert_cmpint(in->vocab_size, ==, 49408);
  g_assert_cmpint(in->activation, ==, CLIP_ACT_QUICK_GELU);
  g_assert_cmpfloat(in->layer_norm_eps, ==, 1e-5f);
  g_assert_cmpfloat_with_epsilon(in->logit_scale, 4.6052, 1e-4);
  g_assert_cmpfloat(in->mean[0], ==, 0.48145466f);
  g_assert_cmpfloat(in->mean[2], ==, 0.40821073f);
  g_assert_cmpfloat(in->std[1], ==, 0.26130258f);
  g_assert_cmpstr(in->dtype, ==, dtype);
  g_assert_cmpstr(in->naming, ==, naming);
}

static void
test_hf_dir(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = g_build_filename(ref, "tiny-b32", NULL);
  clip_model *m = load_ok(dir);
  check_tiny_b32(clip_model_get_info(m), "F32", "huggingface");
  g_assert_cmpstr(clip_model_get_info(m)->path, ==, dir);
  g_assert_cmpint(m->eot_id, ==, 49407);
  g_assert_cmpint(m->sot_id, ==, 49406);
  /* Layout: qkv [64][192] with q | k | v columns, fc1 [64][256]. */
  const clip_block *b = &m->text.blocks[1];
  g_assert_cmpint(b->qkv.in, ==, 64);
  g_assert_cmpint(b->qkv.out, ==, 192);
  g_assert_cmpint(b->fc1.in, ==, 64);
  g_assert_cmpint(b->fc1.out, ==, 256);
  g_assert_cmpint(b->fc2.in, ==, 256);
  g_assert_cmpint(m->patch_embed.in, ==, 3 * 32 * 32);
  g_assert_cmpint(m->patch_embed.out, ==, 64);
  g_assert_null(m->patch_embed.b);
  g_assert_cmpint(m->visual_proj.in, ==, 64);
  g_assert_cmpint(m->visual_proj.out, ==, 32);

  /* Spot-check the transposes against the file: k_proj.weight[o][i] must be
   * qkv.w[i][64 + o]; fc1.weight[o][i] is fc1.w[i][o]. */
  const st_tensor *k = st_find(m->files[0], "text_model.encoder.layers.1.self_attn.k_proj.weight");
  const st_tensor *kb = st_find(m->files[0], "text_model.encoder.layers.1.self_attn.k_proj.bias");
  const st_tensor *fc1 = st_find(m->files[0], "text_model.encoder.layers.1.mlp.fc1.weight");
  const st_tensor *pe = st_find(m->files[0], "vision_model.embeddings.patch_embedding.weight");
  const float *kw = k->data, *kbv = kb->data, *f1 = fc1->data, *pw = pe->data;
  for (int o = 0; o < 64; o += 7)
    for (int i = 0; i < 64; i += 5)
      g_assert_true(b->qkv.w[i * 192 + 64 + o] == kw[o * 64 + i]);
  g_assert_true(b->qkv.b[64 + 3] == kbv[3]);
  for (int o = 0; o < 256; o += 11)
    for (int i = 0; i < 64; i += 3)
      g_assert_true(b->fc1.w[i * 256 + o] == f1[o * 64 + i]);
  /* conv1 [64, 3, 32, 32]: input index c*1024 + y*32 + x. */
  g_assert_true(m->patch_embed.w[(2 * 1024 + 5 * 32 + 7) * 64 + 9] ==
                pw[9 * 3072 + 2 * 1024 + 5 * 32 + 7]);
  /* F32 tables are used in place from the mapping. */
  const st_tensor *tok = st_find(m->files[0], "text_model.embeddings.token_embedding.weight");
  g_assert_true(m->token_embed == tok->data);
  clip_model_free(m);
  g_free(dir);
}

static void
assert_same(const float *a, const float *b, size_t n, const char *what)
{
  if ((a == NULL) != (b == NULL) || (a && memcmp(a, b, n * sizeof *a)))
    g_error("%s differs between the namings", what);
}

static void
assert_same_linear(const clip_linear *a, const clip_linear *b, const char *what)
{
  g_assert_cmpint(a->in, ==, b->in);
  g_assert_cmpint(a->out, ==, b->out);
  assert_same(a->w, b->w, (size_t) a->in * a->out, what);
  assert_same(a->b, b->b, (size_t) a->out, what);
}

static void
assert_same_norm(const clip_norm *a, const clip_norm *b, int width, const char *what)
{
  assert_same(a->g, b->g, (size_t) width, what);
  assert_same(a->b, b->b, (size_t) width, what);
}

static void
assert_same_tower(const clip_tower *a, const clip_tower *b)
{
  g_assert_cmpint(a->width, ==, b->width);
  g_assert_cmpint(a->layers, ==, b->layers);
  g_assert_cmpint(a->heads, ==, b->heads);
  g_assert_cmpint(a->mlp, ==, b->mlp);
  for (int i = 0; i < a->layers; i++) {
    const clip_block *x = &a->blocks[i], *y = &b->blocks[i];
    assert_same_norm(&x->ln1, &y->ln1, a->width, "ln1");
    assert_same_norm(&x->ln2, &y->ln2, a->width, "ln2");
    assert_same_linear(&x->qkv, &y->qkv, "qkv");
    assert_same_linear(&x->attn_out, &y->attn_out, "attn_out");
    assert_same_linear(&x->fc1, &y->fc1, "fc1");
    assert_same_linear(&x->fc2, &y->fc2, "fc2");
  }
}

/* The open_clip file of tiny-b32 holds the same weights as the HF one, so
 * both loads must lay out bit-identical arrays. */
static void
test_openclip_file_matches_hf(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = g_build_filename(ref, "tiny-b32", NULL);
  char *file = g_build_filename(dir, "open_clip_model.safetensors", NULL);
  clip_model *hf = load_ok(dir), *oc = load_ok(file);
  check_tiny_b32(clip_model_get_info(oc), "F32", "openclip");
  g_assert_cmpstr(clip_model_get_info(oc)->path, ==, file);
  g_assert_true(hf->info.logit_scale == oc->info.logit_scale);

  int vw = 64, tw = 64, grid = 7;
  assert_same_linear(&hf->patch_embed, &oc->patch_embed, "patch_embed");
  assert_same(hf->class_embed, oc->class_embed, (size_t) vw, "class_embed");
  assert_same(hf->vision_pos, oc->vision_pos, (size_t) (1 + grid * grid) * vw, "vision_pos");
  assert_same_norm(&hf->ln_pre, &oc->ln_pre, vw, "ln_pre");
  assert_same_norm(&hf->ln_post, &oc->ln_post, vw, "ln_post");
  assert_same_tower(&hf->vision, &oc->vision);
  assert_same_linear(&hf->visual_proj, &oc->visual_proj, "visual_proj");
  assert_same(hf->token_embed, oc->token_embed, (size_t) 49408 * tw, "token_embed");
  assert_same(hf->text_pos, oc->text_pos, (size_t) 77 * tw, "text_pos");
  assert_same_tower(&hf->text, &oc->text);
  assert_same_norm(&hf->ln_final, &oc->ln_final, tw, "ln_final");
  assert_same_linear(&hf->text_proj, &oc->text_proj, "text_proj");
  clip_model_free(hf);
  clip_model_free(oc);
  g_free(dir);
  g_free(file);
}

static char *
make_dir(const char *name)
{
  char *dir = g_build_filename(testutil_tmpdir(), name, NULL);
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  return dir;
}

/* testutil removes only the files of its top directory. */
static void
remove_dir(char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    char *p = g_build_filename(dir, name, NULL);
    g_remove(p);
    g_free(p);
  }
  if (d)
    g_dir_close(d);
  g_rmdir(dir);
  g_free(dir);
}

static void
link_kit(const char *dir, const char *kit_file, const char *name)
{
  char *src = testutil_reference_path(kit_file);
  char *dst = g_build_filename(dir, name, NULL);
  g_assert_cmpint(symlink(src, dst), ==, 0);
  g_free(src);
  g_free(dst);
}

/* A directory holding only open_clip_model.safetensors: sizes inferred from
 * the shapes, QuickGELU as in OpenAI's checkpoints. */
static void
test_openclip_dir_without_config(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = make_dir("openclip-only");
  link_kit(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors");
  clip_model *m = load_ok(dir);
  check_tiny_b32(clip_model_get_info(m), "F32", "openclip");
  g_assert_null(m->tokenizer);
  clip_model_free(m);

  /* With a config saying quick_gelu false, the activation is exact GELU. */
  const char *cfg = "{\"model_cfg\": {\"embed_dim\": 32, \"quick_gelu\": false,"
                    " \"vision_cfg\": {\"width\": 64, \"patch_size\": 32},"
                    " \"text_cfg\": {\"heads\": 1}},"
                    " \"preprocess_cfg\": {\"mean\": [0.5, 0.5, 0.5], \"std\": [0.25, 0.5, 1]}}";
  char *p = g_build_filename(dir, "open_clip_config.json", NULL);
  g_assert_true(g_file_set_contents(p, cfg, -1, NULL));
  m = load_ok(dir);
  g_assert_cmpint(m->info.activation, ==, CLIP_ACT_GELU);
  g_assert_cmpfloat(m->info.mean[1], ==, 0.5f);
  g_assert_cmpfloat(m->info.std[0], ==, 0.25f);
  clip_model_free(m);
  g_free(p);
  remove_dir(dir);
}

static void
test_f16(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = g_build_filename(ref, "tiny-b32-mh-f16", NULL);
  clip_model *m = load_ok(dir);
  const clip_model_info *in = clip_model_get_info(m);
  g_assert_cmpint(in->vision_width, ==, 128);
  g_assert_cmpint(in->vision_heads, ==, 2);
  g_assert_cmpint(in->vision_layers, ==, 2);
  g_assert_cmpint(in->vision_mlp, ==, 512);
  g_assert_cmpint(in->text_width, ==, 128);
  g_assert_cmpint(in->text_heads, ==, 2);
  g_assert_cmpint(in->text_layers, ==, 2);
  g_assert_cmpint(in->patch_size, ==, 32);
  g_assert_cmpint(in->image_size, ==, 224);
  g_assert_cmpint(in->embed_dim, ==, 64);
  g_assert_cmpint(in->activation, ==, CLIP_ACT_QUICK_GELU);
  g_assert_cmpfloat_with_epsilon(in->logit_scale, 4.6055, 1e-4);
  g_assert_cmpfloat(in->logit_scale, ==, 4.60546875f); /* the F16 value, widened exactly */
  g_assert_cmpstr(in->dtype, ==, "F16");
  g_assert_cmpstr(in->naming, ==, "huggingface");

  /* Widened copies, equal to the F16 values. */
  const st_tensor *t = st_find(m->files[0], "text_model.encoder.layers.0.mlp.fc2.weight");
  const guint8 *h = t->data;
  float want = st_f16_to_f32((guint16) (h[2 * (5 * 512 + 17)] | h[2 * (5 * 512 + 17) + 1] << 8));
  g_assert_true(m->text.blocks[0].fc2.w[17 * 128 + 5] == want);
  const st_tensor *tok = st_find(m->files[0], "text_model.embeddings.token_embedding.weight");
  g_assert_true(m->token_embed != tok->data);
  clip_model_free(m);
  g_free(dir);
}

/* ---- bad checkpoints ---- */

/* Copies the kit's tiny-b32 model.safetensors into dir, leaving out `drop`
 * and giving `reshape` the first half of its rows as shape [rows/2, cols]. */
static void
write_weights(const char *dir, const char *kit_file, const char *out_name, const char *drop,
              const char *reshape)
{
  char *src = testutil_reference_path(kit_file);
  clip_error err = { 0 };
  st_file *f = st_open(src, &err);
  g_assert_nonnull(f);
  st_writer *w = st_writer_new();
  for (int i = 0; i < st_count(f); i++) {
    const st_tensor *t = st_get(f, i);
    if (drop && !strcmp(t->name, drop))
      continue;
    gint64 shape[ST_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    if (reshape && !strcmp(t->name, reshape))
      shape[0] /= 2;
    g_assert_cmpint(st_writer_add(w, t->name, t->dtype, t->n_dims, shape, t->data, &err), ==,
                    CLIP_OK);
  }
  char *dst = g_build_filename(dir, out_name, NULL);
  g_assert_cmpint(st_writer_save(w, dst, &err), ==, CLIP_OK);
  st_writer_free(w);
  st_close(f);
  g_free(src);
  g_free(dst);
}

/* Writes the kit's config.json with `from` replaced by `to` (once). */
static void
write_config(const char *dir, const char *kit_file, const char *name, const char *from,
             const char *to)
{
  char *src = testutil_reference_path(kit_file), *text;
  g_assert_true(g_file_get_contents(src, &text, NULL, NULL));
  GString *s = g_string_new(text);
  if (from) {
    char *at = strstr(s->str, from);
    g_assert_nonnull(at);
    gssize pos = at - s->str;
    g_string_erase(s, pos, (gssize) strlen(from));
    g_string_insert(s, pos, to);
  }
  char *dst = g_build_filename(dir, name, NULL);
  g_assert_true(g_file_set_contents(dst, s->str, -1, NULL));
  g_string_free(s, TRUE);
  g_free(text);
  g_free(src);
  g_free(dst);
}

/* A Hugging Face directory with config.json edited (from -> to). */
static char *
hf_dir_with_config(const char *name, const char *from, const char *to)
{
  char *dir = make_dir(name);
  link_kit(dir, "tiny-b32/model.safetensors", "model.safetensors");
  write_config(dir, "tiny-b32/config.json", "config.json", from, to);
  return dir;
}

static const struct {
  const char *name, *from, *to;
  clip_status status;
  const char *message;
} bad_configs[] = {
  { "zero-heads", "\"num_attention_heads\": 1,\n    \"num_hidden_layers\": 2,\n    \"pad_token_id\"",
    "\"num_attention_heads\": 0,\n    \"num_hidden_layers\": 2,\n    \"pad_token_id\"",
    CLIP_ERR_FORMAT, "text heads: expected 1 to 1000000, found 0" },
  { "heads-not-dividing", "\"num_attention_heads\": 1,\n    \"num_channels\"",
    "\"num_attention_heads\": 3,\n    \"num_channels\"", CLIP_ERR_FORMAT,
    "vision width 64 is not divisible by its 3 heads" },
  { "absurd-width", "\"hidden_size\": 64", "\"hidden_size\": 2000000", CLIP_ERR_FORMAT,
    "text width: expected 1 to 1000000, found 2000000" },
  { "negative-layers", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": -2", CLIP_ERR_FORMAT,
    "text layers: expected 1 to 1000000, found -2" },
  { "string-size", "\"hidden_size\": 64", "\"hidden_size\": \"64\"", CLIP_ERR_FORMAT,
    "text_config.hidden_size: expected an integer, found \"64\"" },
  { "fractional-size", "\"intermediate_size\": 256", "\"intermediate_size\": 256.5",
    CLIP_ERR_FORMAT, "text_config.intermediate_size: expected an integer, found 256.5" },
  { "image-not-multiple", "\"image_size\": 224", "\"image_size\": 225", CLIP_ERR_FORMAT,
    "image size 225 is not a multiple of the patch size 32" },
  { "bad-activation", "\"hidden_act\": \"quick_gelu\"", "\"hidden_act\": \"relu\"",
    CLIP_ERR_UNSUPPORTED, "text_config.hidden_act: expected \"quick_gelu\" or \"gelu\", found \"relu\"" },
  { "mixed-eps", "\"layer_norm_eps\": 1e-05", "\"layer_norm_eps\": 1e-06", CLIP_ERR_UNSUPPORTED,
    "different hidden_act or layer_norm_eps" },
  { "vision-config-array", "\"vision_config\": {", "\"vision_config\": [], \"x\": {",
    CLIP_ERR_FORMAT, "vision_config: expected an object" },
  { "invalid-json", "\"projection_dim\": 32,", "\"projection_dim\": 32,,", CLIP_ERR_FORMAT,
    "invalid JSON" },
};

static void
test_bad_configs(void)
{
  REQUIRE_REFERENCE(ref);
  for (gsize i = 0; i < G_N_ELEMENTS(bad_configs); i++) {
    char *dir = hf_dir_with_config(bad_configs[i].name, bad_configs[i].from, bad_configs[i].to);
    char *cfg = g_build_filename(dir, "config.json", NULL);
    expect_error(dir, bad_configs[i].status, cfg, bad_configs[i].message);
    g_free(cfg);
    remove_dir(dir);
  }
}

/* Config values that are fine on their own but disagree with the weights. */
static void
test_config_vs_shapes(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = hf_dir_with_config("grid", "\"image_size\": 224", "\"image_size\": 256");
  char *w = g_build_filename(dir, "model.safetensors", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, w,
               "tensor 'vision_model.embeddings.position_embedding.weight': expected shape "
               "[65, 64] (from config.json), found [50, 64]");
  g_free(w);
  remove_dir(dir);

  dir = hf_dir_with_config("vocab", "\"vocab_size\": 49408", "\"vocab_size\": 49000");
  expect_error(dir, CLIP_ERR_FORMAT, "text_model.embeddings.token_embedding.weight",
               "expected shape [49000, 64] (from config.json), found [49408, 64]");
  remove_dir(dir);

  dir = hf_dir_with_config("mlp", "\"intermediate_size\": 256", "\"intermediate_size\": 128");
  expect_error(dir, CLIP_ERR_FORMAT, "text_model.encoder.layers.0.mlp.fc1.weight",
               "expected shape [128, 64] (from config.json), found [256, 64]");
  remove_dir(dir);

  dir = hf_dir_with_config("layers", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  expect_error(dir, CLIP_ERR_FORMAT, "model.safetensors",
               "required tensor 'text_model.encoder.layers.2.layer_norm1.weight' is missing");
  remove_dir(dir);
}

static void
test_missing_files(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = make_dir("no-config");
  link_kit(dir, "tiny-b32/model.safetensors", "model.safetensors");
  char *cfg = g_build_filename(dir, "config.json", NULL);
  expect_error(dir, CLIP_ERR_IO, cfg, "missing");
  /* The weights file given directly needs its config.json as well. */
  char *w = g_build_filename(dir, "model.safetensors", NULL);
  expect_error(w, CLIP_ERR_IO, cfg, "missing (needed for the Hugging Face names");
  g_free(w);
  g_free(cfg);
  remove_dir(dir);

  dir = make_dir("no-weights");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  w = g_build_filename(dir, "model.safetensors", NULL);
  expect_error(dir, CLIP_ERR_IO, w, "missing (a Hugging Face checkpoint directory");
  g_free(w);
  remove_dir(dir);

  dir = make_dir("nothing");
  expect_error(dir, CLIP_ERR_IO, dir, "no checkpoint found");
  remove_dir(dir);

  char *none = g_build_filename(testutil_tmpdir(), "no-such-model", NULL);
  expect_error(none, CLIP_ERR_IO, none, "no such file or directory");
  g_free(none);

  dir = hf_dir_with_config("config-array", NULL, NULL);
  cfg = g_build_filename(dir, "config.json", NULL);
  g_assert_true(g_file_set_contents(cfg, "[1, 2]", -1, NULL));
  expect_error(dir, CLIP_ERR_FORMAT, cfg, "expected a JSON object at the top level");
  g_free(cfg);
  remove_dir(dir);

  /* vocab.json without merges.txt. */
  dir = hf_dir_with_config("half-vocab", NULL, NULL);
  link_kit(dir, "tiny-b32/vocab.json", "vocab.json");
  char *merges = g_build_filename(dir, "merges.txt", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, merges, "missing (");
  g_free(merges);
  remove_dir(dir);
}

static void
test_bad_weights(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = make_dir("missing-tensor");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  write_weights(dir, "tiny-b32/model.safetensors", "model.safetensors",
                "vision_model.encoder.layers.1.mlp.fc2.bias", NULL);
  char *w = g_build_filename(dir, "model.safetensors", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, w,
               "required tensor 'vision_model.encoder.layers.1.mlp.fc2.bias' is missing");
  g_free(w);
  remove_dir(dir);

  dir = make_dir("wrong-shape");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  write_weights(dir, "tiny-b32/model.safetensors", "model.safetensors", NULL,
                "text_model.encoder.layers.0.self_attn.k_proj.weight");
  w = g_build_filename(dir, "model.safetensors", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, w,
               "tensor 'text_model.encoder.layers.0.self_attn.k_proj.weight': expected shape "
               "[64, 64] (from config.json), found [32, 64]");
  g_free(w);
  remove_dir(dir);

  dir = make_dir("no-logit-scale");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  write_weights(dir, "tiny-b32/model.safetensors", "model.safetensors", "logit_scale", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, "model.safetensors", "required tensor 'logit_scale' is missing");
  remove_dir(dir);

  /* open_clip: a missing in_proj_bias, a shape inconsistent with the others,
   * and a config that disagrees with the shapes. */
  dir = make_dir("openclip-missing");
  write_weights(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors",
                "visual.transformer.resblocks.0.attn.in_proj_bias", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, "open_clip_model.safetensors",
               "required tensor 'visual.transformer.resblocks.0.attn.in_proj_bias' is missing");
  remove_dir(dir);

  dir = make_dir("openclip-shape");
  write_weights(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors", NULL,
                "transformer.resblocks.1.mlp.c_fc.weight");
  expect_error(dir, CLIP_ERR_FORMAT, "transformer.resblocks.1.mlp.c_fc.weight",
               "expected shape [256, 64] (from the other tensor shapes), found [128, 64]");
  remove_dir(dir);

  dir = make_dir("openclip-config");
  link_kit(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors");
  write_config(dir, "tiny-b32/open_clip_config.json", "open_clip_config.json", "\"width\": 64",
               "\"width\": 128");
  expect_error(dir, CLIP_ERR_FORMAT, "open_clip_config.json",
               "vision_cfg.width is 128 but");
  remove_dir(dir);

  dir = make_dir("openclip-grid");
  write_weights(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors", NULL,
                "visual.positional_embedding");
  expect_error(dir, CLIP_ERR_FORMAT, "visual.positional_embedding has 25 rows",
               "expected 1 + a square number of patches");
  remove_dir(dir);

  /* Neither naming. */
  dir = make_dir("unknown-naming");
  write_weights(dir, "preprocess/source_rgb.safetensors", "open_clip_model.safetensors", NULL, NULL);
  expect_error(dir, CLIP_ERR_FORMAT, "open_clip_model.safetensors", "unknown naming");
  remove_dir(dir);

  /* A broken weights file reports the reader's error. */
  dir = hf_dir_with_config("broken-weights", NULL, NULL);
  w = g_build_filename(dir, "model.safetensors", NULL);
  g_remove(w);
  g_assert_true(g_file_set_contents(w, "\x08\0\0\0\0\0\0\0{\"a\":1} ", 16, NULL));
  expect_error(dir, CLIP_ERR_FORMAT, w, "tensor 'a': expected an object");
  g_free(w);
  remove_dir(dir);
}

static void
test_bad_preprocessor(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = hf_dir_with_config("crop", NULL, NULL);
  write_config(dir, "tiny-b32/preprocessor_config.json", "preprocessor_config.json",
               "\"height\": 224", "\"height\": 256");
  expect_error(dir, CLIP_ERR_FORMAT, "preprocessor_config.json",
               "crop_size 224x256 disagrees with the model's image size 224");
  remove_dir(dir);

  dir = hf_dir_with_config("std", NULL, NULL);
  write_config(dir, "tiny-b32/preprocessor_config.json", "preprocessor_config.json",
               "0.26862954", "0");
  expect_error(dir, CLIP_ERR_FORMAT, "preprocessor_config.json", "image_std: expected 3 positive numbers");
  remove_dir(dir);

  /* A valid custom mean is used. */
  dir = hf_dir_with_config("mean", NULL, NULL);
  write_config(dir, "tiny-b32/preprocessor_config.json", "preprocessor_config.json",
               "0.48145466", "0.5");
  clip_model *m = load_ok(dir);
  g_assert_cmpfloat(m->info.mean[0], ==, 0.5f);
  g_assert_cmpfloat(m->info.mean[1], ==, 0.4578275f);
  clip_model_free(m);
  remove_dir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/checkpoint/hf-dir", test_hf_dir);
  g_test_add_func("/checkpoint/openclip-file-matches-hf", test_openclip_file_matches_hf);
  g_test_add_func("/checkpoint/openclip-dir-without-config", test_openclip_dir_without_config);
  g_test_add_func("/checkpoint/f16", test_f16);
  g_test_add_func("/checkpoint/bad-configs", test_bad_configs);
  g_test_add_func("/checkpoint/config-vs-shapes", test_config_vs_shapes);
  g_test_add_func("/checkpoint/missing-files", test_missing_files);
  g_test_add_func("/checkpoint/bad-weights", test_bad_weights);
  g_test_add_func("/checkpoint/bad-preprocessor", test_bad_preprocessor);
  return g_test_run();
}
