/* Tests of checkpoint loading: the kit's models in every accepted form, the
 * two namings giving identical weights, and every error case with a real bad
 * directory built at run time from the kit's files. */
#include <cjson/cJSON.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model.h"
#include "testutil.h"
#include "tmpdir.h"

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

/* The shape of a test model whose towers are alike: both @width wide with
 * @heads heads and @layers blocks, embeddings of @embed_dim, QuickGELU. */
static void
check_towers(const clip_model_info *in, int width, int heads, int layers, int embed_dim)
{
  g_assert_cmpint(in->vision_width, ==, width);
  g_assert_cmpint(in->vision_heads, ==, heads);
  g_assert_cmpint(in->vision_layers, ==, layers);
  g_assert_cmpint(in->text_width, ==, width);
  g_assert_cmpint(in->text_heads, ==, heads);
  g_assert_cmpint(in->text_layers, ==, layers);
  g_assert_cmpint(in->embed_dim, ==, embed_dim);
  g_assert_cmpint(in->activation, ==, CLIP_ACT_QUICK_GELU);
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

/* Row r of a transposed layer's [out][in] matrix, whole or split. */
static const float *
torch_row(const clip_linear *l, int r)
{
  g_assert_true(l->transposed);
  if (l->n_split > 0) {
    int rows = l->out / l->n_split;
    return l->split[r / rows] + (size_t) (r % rows) * l->in;
  }
  return l->w + (size_t) r * l->in;
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
  /* vocab.json + merges.txt beside config.json give a tokenizer. */
  g_assert_nonnull(m->tokenizer);
  int32_t ids[8];
  size_t n = 0;
  clip_error err = { 0 };
  g_assert_cmpint(clip_tokenize(m, "a photo", ids, 8, &n, &err), ==, CLIP_OK);
  g_assert_cmpuint(n, ==, 4);
  g_assert_cmpint(ids[0], ==, 49406);
  g_assert_cmpint(ids[3], ==, 49407);
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

  /* Spot-check the layout against the file: linear weights stay [out][in];
   * k_proj.weight[o][i] must be qkv.w[64 + o][i]; fc1.weight is used in place. */
  const st_tensor *k = st_find(m->files[0], "text_model.encoder.layers.1.self_attn.k_proj.weight");
  const st_tensor *kb = st_find(m->files[0], "text_model.encoder.layers.1.self_attn.k_proj.bias");
  const st_tensor *fc1 = st_find(m->files[0], "text_model.encoder.layers.1.mlp.fc1.weight");
  const st_tensor *pe = st_find(m->files[0], "vision_model.embeddings.patch_embedding.weight");
  const float *kw = k->data, *kbv = kb->data, *f1 = fc1->data, *pw = pe->data;
  for (int o = 0; o < 64; o += 7)
    for (int i = 0; i < 64; i += 5)
      g_assert_true(torch_row(&b->qkv, 64 + o)[i] == kw[o * 64 + i]);
  g_assert_true(b->qkv.n_split == 3 && b->qkv.split[1] == kw); /* in place */
  g_assert_true(b->qkv.transposed && b->fc1.transposed && m->patch_embed.transposed);
  g_assert_true(b->fc1.w == f1);
  g_assert_true(b->qkv.b[64 + 3] == kbv[3]);
  for (int o = 0; o < 256; o += 11)
    for (int i = 0; i < 64; i += 3)
      g_assert_true(b->fc1.w[o * 64 + i] == f1[o * 64 + i]);
  /* conv1 [64, 3, 32, 32]: input index c*1024 + y*32 + x. */
  g_assert_true(m->patch_embed.w[9 * 3072 + 2 * 1024 + 5 * 32 + 7]
                == pw[9 * 3072 + 2 * 1024 + 5 * 32 + 7]);
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

/* W[i][o] of either stored layout. */
static float
weight_at(const clip_linear *l, int i, int o)
{
  return l->transposed ? torch_row(l, o)[i] : l->w[(size_t) i * l->out + o];
}

/* Same weights element by element, whatever layout each naming stores (the
 * open_clip projections are [in][out], the HF ones [out][in]). */
static void
assert_same_linear(const clip_linear *a, const clip_linear *b, const char *what)
{
  g_assert_cmpint(a->in, ==, b->in);
  g_assert_cmpint(a->out, ==, b->out);
  for (int i = 0; i < a->in; i++)
    for (int o = 0; o < a->out; o++)
      if (weight_at(a, i, o) != weight_at(b, i, o))
        g_error("%s differs between the namings at [%d][%d]", what, i, o);
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

static char *make_dir(const char *name);
static void write_config(const char *dir, const char *kit_file, const char *name, const char *from,
                         const char *to);

/* Every tensor of tiny-b32 moved one byte off alignment: the loader must copy
 * (no misaligned float loads, which UBSan would report) and get the same
 * weights as from the aligned file. */
static void
test_misaligned_weights(void)
{
  REQUIRE_REFERENCE(ref);
  char *src = testutil_reference_path("tiny-b32/model.safetensors"), *bytes;
  gsize len;
  g_assert_true(g_file_get_contents(src, &bytes, &len, NULL));
  guint64 hl = 0;
  for (int i = 7; i >= 0; i--)
    hl = hl << 8 | (guint8) bytes[i];
  cJSON *header = cJSON_ParseWithLength(bytes + 8, hl);
  g_assert_nonnull(header);
  for (cJSON *e = header->child; e; e = e->next) {
    cJSON *offs = cJSON_GetObjectItem(e, "data_offsets");
    for (cJSON *o = offs ? offs->child : NULL; o; o = o->next)
      cJSON_SetNumberValue(o, o->valuedouble + 1);
  }
  char *json = cJSON_PrintUnformatted(header);
  gsize jl = strlen(json), padded = (jl + 7) & ~(gsize) 7;
  GByteArray *out = g_byte_array_new();
  for (int i = 0; i < 8; i++)
    g_byte_array_append(out, (guint8[]){ (guint8) ((guint64) padded >> (8 * i)) }, 1);
  g_byte_array_append(out, (guint8 *) json, (guint) jl);
  for (gsize i = jl; i < padded; i++)
    g_byte_array_append(out, (const guint8 *) " ", 1);
  g_byte_array_append(out, (const guint8 *) "", 1); /* the one-byte shift */
  g_byte_array_append(out, (guint8 *) bytes + 8 + hl, (guint) (len - 8 - hl));

  char *dir = make_dir("misaligned");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  char *dst = g_build_filename(dir, "model.safetensors", NULL);
  g_assert_true(g_file_set_contents(dst, (char *) out->data, out->len, NULL));

  char *kit = g_build_filename(ref, "tiny-b32", NULL);
  clip_model *a = load_ok(kit), *b = load_ok(dir);
  g_assert_false(st_find(b->files[0], "logit_scale")->aligned);
  g_assert_true(b->token_embed
                != st_find(b->files[0], "text_model.embeddings.token_embedding.weight")->data);
  g_assert_true(a->info.logit_scale == b->info.logit_scale);
  assert_same(a->token_embed, b->token_embed, (size_t) 49408 * 64, "token_embed");
  assert_same(a->vision_pos, b->vision_pos, (size_t) 50 * 64, "vision_pos");
  assert_same_linear(&a->patch_embed, &b->patch_embed, "patch_embed");
  assert_same_tower(&a->vision, &b->vision);
  assert_same_tower(&a->text, &b->text);
  assert_same_linear(&a->text_proj, &b->text_proj, "text_proj");
  clip_model_free(a);
  clip_model_free(b);
  g_free(kit);
  g_free(dst);
  tmpdir_remove(dir);
  g_byte_array_free(out, TRUE);
  cJSON_free(json);
  cJSON_Delete(header);
  g_free(bytes);
  g_free(src);
}

/* tiny-b32 truncated to BF16 at run time: dtype reported, values widened
 * exactly (the BF16 bits shifted into the top of a float). */
static void
test_bf16_weights(void)
{
  REQUIRE_REFERENCE(ref);
  char *src = testutil_reference_path("tiny-b32/model.safetensors");
  clip_error err = { 0 };
  st_file *f = st_open(src, &err);
  g_assert_nonnull(f);
  st_writer *w = st_writer_new();
  for (int i = 0; i < st_count(f); i++) {
    const st_tensor *t = st_get(f, i);
    const guint32 *v = t->data;
    guint16 *h = g_new(guint16, t->n_elements ? t->n_elements : 1);
    for (gint64 k = 0; k < t->n_elements; k++)
      h[k] = (guint16) (v[k] >> 16);
    g_assert_cmpint(st_writer_add(w, t->name, ST_BF16, t->n_dims, t->shape, h, &err), ==, CLIP_OK);
    g_free(h);
  }
  char *dir = make_dir("bf16");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  char *dst = g_build_filename(dir, "model.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, dst, &err), ==, CLIP_OK);
  st_writer_free(w);

  clip_model *m = load_ok(dir);
  g_assert_cmpstr(m->info.dtype, ==, "BF16");
  const guint32 *q = st_find(f, "vision_model.encoder.layers.1.self_attn.v_proj.weight")->data;
  /* v_proj.weight[o=3][i=10] -> qkv.w[128 + 3][10] */
  guint32 bits = q[3 * 64 + 10] & 0xffff0000u;
  float want;
  memcpy(&want, &bits, sizeof want);
  g_assert_true(torch_row(&m->vision.blocks[1].qkv, 128 + 3)[10] == want);
  guint32 ls = *(const guint32 *) st_find(f, "logit_scale")->data & 0xffff0000u;
  memcpy(&want, &ls, sizeof want);
  g_assert_true(m->info.logit_scale == want);
  clip_model_free(m);
  st_close(f);
  g_free(dst);
  tmpdir_remove(dir);
  g_free(src);
}

static char *
make_dir(const char *name)
{
  char *dir = g_build_filename(testutil_tmpdir(), name, NULL);
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  return dir;
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
  tmpdir_remove(dir);
}

static void
test_f16(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = g_build_filename(ref, "tiny-b32-mh-f16", NULL);
  clip_model *m = load_ok(dir);
  const clip_model_info *in = clip_model_get_info(m);
  check_towers(in, 128, 2, 2, 64);
  g_assert_cmpint(in->vision_mlp, ==, 512);
  g_assert_cmpint(in->patch_size, ==, 32);
  g_assert_cmpint(in->image_size, ==, 224);
  g_assert_cmpfloat_with_epsilon(in->logit_scale, 4.6055, 1e-4);
  g_assert_cmpfloat(in->logit_scale, ==, 4.60546875f); /* the F16 value, widened exactly */
  g_assert_cmpstr(in->dtype, ==, "F16");
  g_assert_cmpstr(in->naming, ==, "huggingface");

  /* Widened copies, equal to the F16 values (read from a second open: the
   * loader released the pages it converted). */
  char *file = g_build_filename(dir, "model.safetensors", NULL);
  st_file *again = st_open(file, NULL);
  g_assert_nonnull(again);
  const st_tensor *t = st_find(again, "text_model.encoder.layers.0.mlp.fc2.weight");
  const guint8 *h = t->data;
  float want = st_f16_to_f32((guint16) (h[2 * (5 * 512 + 17)] | h[2 * (5 * 512 + 17) + 1] << 8));
  g_assert_true(m->text.blocks[0].fc2.w[5 * 512 + 17] == want);
  st_close(again);
  g_free(file);
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
  { "zero-heads",
    "\"num_attention_heads\": 1,\n    \"num_hidden_layers\": 2,\n    \"pad_token_id\"",
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
    CLIP_ERR_UNSUPPORTED,
    "text_config.hidden_act: expected \"quick_gelu\" or \"gelu\", found \"relu\"" },
  { "mixed-eps", "\"layer_norm_eps\": 1e-05", "\"layer_norm_eps\": 1e-06", CLIP_ERR_UNSUPPORTED,
    "different hidden_act or layer_norm_eps" },
  { "vision-config-array", "\"vision_config\": {", "\"vision_config\": [], \"x\": {",
    CLIP_ERR_FORMAT, "vision_config: expected an object" },
  /* cJSON reads the first of duplicate keys, so these override the kit's. */
  { "absurd-patch", "\"vision_config\": {",
    "\"vision_config\": {\"image_size\": 1000000, \"patch_size\": 1000,", CLIP_ERR_FORMAT,
    "patch size 1000 is absurd" },
  { "absurd-grid", "\"vision_config\": {",
    "\"vision_config\": {\"image_size\": 1000000, \"patch_size\": 100,", CLIP_ERR_FORMAT,
    "100000000 patches per image is absurd" },
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
    tmpdir_remove(dir);
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
  tmpdir_remove(dir);

  dir = hf_dir_with_config("vocab", "\"vocab_size\": 49408", "\"vocab_size\": 49000");
  expect_error(dir, CLIP_ERR_FORMAT, "text_model.embeddings.token_embedding.weight",
               "expected shape [49000, 64] (from config.json), found [49408, 64]");
  tmpdir_remove(dir);

  dir = hf_dir_with_config("mlp", "\"intermediate_size\": 256", "\"intermediate_size\": 128");
  expect_error(dir, CLIP_ERR_FORMAT, "text_model.encoder.layers.0.mlp.fc1.weight",
               "expected shape [128, 64] (from config.json), found [256, 64]");
  tmpdir_remove(dir);

  dir = hf_dir_with_config("layers", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  expect_error(dir, CLIP_ERR_FORMAT, "model.safetensors",
               "required tensor 'text_model.encoder.layers.2.layer_norm1.weight' is missing");
  tmpdir_remove(dir);
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
  tmpdir_remove(dir);

  dir = make_dir("no-weights");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  w = g_build_filename(dir, "model.safetensors", NULL);
  expect_error(dir, CLIP_ERR_IO, w, "missing (a Hugging Face checkpoint directory");
  g_free(w);
  tmpdir_remove(dir);

  dir = make_dir("nothing");
  expect_error(dir, CLIP_ERR_IO, dir, "no checkpoint found");
  tmpdir_remove(dir);

  char *none = g_build_filename(testutil_tmpdir(), "no-such-model", NULL);
  expect_error(none, CLIP_ERR_IO, none, "no such file or directory");
  g_free(none);

  dir = hf_dir_with_config("config-array", NULL, NULL);
  cfg = g_build_filename(dir, "config.json", NULL);
  g_assert_true(g_file_set_contents(cfg, "[1, 2]", -1, NULL));
  expect_error(dir, CLIP_ERR_FORMAT, cfg, "expected a JSON object at the top level");
  g_free(cfg);
  tmpdir_remove(dir);

  /* A malformed vocab.json fails the load with the tokenizer's message. */
  dir = hf_dir_with_config("bad-vocab", NULL, NULL);
  link_kit(dir, "tiny-b32/merges.txt", "merges.txt");
  char *vocab = g_build_filename(dir, "vocab.json", NULL);
  g_assert_true(g_file_set_contents(vocab, "{\"a\": 1, ", -1, NULL));
  clip_error err = { 0 };
  g_assert_null(clip_model_load(dir, NULL, &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_FORMAT);
  g_assert_nonnull(strstr(err.message, vocab));
  g_free(vocab);
  tmpdir_remove(dir);

  /* A malformed merges.txt too. */
  dir = hf_dir_with_config("bad-merges", NULL, NULL);
  link_kit(dir, "tiny-b32/vocab.json", "vocab.json");
  char *merges_path = g_build_filename(dir, "merges.txt", NULL);
  g_assert_true(g_file_set_contents(merges_path, "#version: 0.2\nabc\n", -1, NULL));
  g_assert_null(clip_model_load(dir, NULL, &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_FORMAT);
  g_assert_nonnull(strstr(err.message, merges_path));
  g_free(merges_path);
  tmpdir_remove(dir);

  /* Token ids beyond the embedding table would be read out of bounds. */
  dir = hf_dir_with_config("big-vocab", NULL, NULL);
  link_kit(dir, "tiny-b32/merges.txt", "merges.txt");
  write_config(dir, "tiny-b32/vocab.json", "vocab.json", "\"<|endoftext|>\": 49407",
               "\"<|endoftext|>\": 60000");
  vocab = g_build_filename(dir, "vocab.json", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, vocab,
               "60001 tokens, but the token embedding has only 49408 rows");
  g_free(vocab);
  tmpdir_remove(dir);

  /* vocab.json without merges.txt. */
  dir = hf_dir_with_config("half-vocab", NULL, NULL);
  link_kit(dir, "tiny-b32/vocab.json", "vocab.json");
  char *merges = g_build_filename(dir, "merges.txt", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, merges, "missing (");
  g_free(merges);
  tmpdir_remove(dir);
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
  tmpdir_remove(dir);

  dir = make_dir("wrong-shape");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  write_weights(dir, "tiny-b32/model.safetensors", "model.safetensors", NULL,
                "text_model.encoder.layers.0.self_attn.k_proj.weight");
  w = g_build_filename(dir, "model.safetensors", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, w,
               "tensor 'text_model.encoder.layers.0.self_attn.k_proj.weight': expected shape "
               "[64, 64] (from config.json), found [32, 64]");
  g_free(w);
  tmpdir_remove(dir);

  dir = make_dir("no-logit-scale");
  write_config(dir, "tiny-b32/config.json", "config.json", NULL, NULL);
  write_weights(dir, "tiny-b32/model.safetensors", "model.safetensors", "logit_scale", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, "model.safetensors",
               "required tensor 'logit_scale' is missing");
  tmpdir_remove(dir);

  /* open_clip: a missing in_proj_bias, a shape inconsistent with the others,
   * and a config that disagrees with the shapes. */
  dir = make_dir("openclip-missing");
  write_weights(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors",
                "visual.transformer.resblocks.0.attn.in_proj_bias", NULL);
  expect_error(dir, CLIP_ERR_FORMAT, "open_clip_model.safetensors",
               "required tensor 'visual.transformer.resblocks.0.attn.in_proj_bias' is missing");
  tmpdir_remove(dir);

  dir = make_dir("openclip-shape");
  write_weights(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors", NULL,
                "transformer.resblocks.1.mlp.c_fc.weight");
  expect_error(dir, CLIP_ERR_FORMAT, "transformer.resblocks.1.mlp.c_fc.weight",
               "expected shape [256, 64] (from the other tensor shapes), found [128, 64]");
  tmpdir_remove(dir);

  dir = make_dir("openclip-config");
  link_kit(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors");
  write_config(dir, "tiny-b32/open_clip_config.json", "open_clip_config.json", "\"width\": 64",
               "\"width\": 128");
  expect_error(dir, CLIP_ERR_FORMAT, "open_clip_config.json", "vision_cfg.width is 128 but");
  tmpdir_remove(dir);

  dir = make_dir("openclip-grid");
  write_weights(dir, "tiny-b32/open_clip_model.safetensors", "open_clip_model.safetensors", NULL,
                "visual.positional_embedding");
  expect_error(dir, CLIP_ERR_FORMAT, "visual.positional_embedding has 25 rows",
               "expected 1 + a square number of patches");
  tmpdir_remove(dir);

  /* Neither naming. */
  dir = make_dir("unknown-naming");
  write_weights(dir, "preprocess/source_rgb.safetensors", "open_clip_model.safetensors", NULL,
                NULL);
  expect_error(dir, CLIP_ERR_FORMAT, "open_clip_model.safetensors", "unknown naming");
  tmpdir_remove(dir);

  /* A broken weights file reports the reader's error. */
  dir = hf_dir_with_config("broken-weights", NULL, NULL);
  w = g_build_filename(dir, "model.safetensors", NULL);
  g_remove(w);
  g_assert_true(g_file_set_contents(w, "\x08\0\0\0\0\0\0\0{\"a\":1} ", 16, NULL));
  expect_error(dir, CLIP_ERR_FORMAT, w, "tensor 'a': expected an object");
  g_free(w);
  tmpdir_remove(dir);
}

/* Replaces every occurrence of from in the file at path. */
static void
edit_file(const char *path, const char *from, const char *to)
{
  char *text;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  GString *s = g_string_new(text);
  g_assert_cmpuint(g_string_replace(s, from, to, 0), >, 0);
  g_assert_true(g_file_set_contents(path, s->str, -1, NULL));
  g_string_free(s, TRUE);
  g_free(text);
}

/* hidden_act "gelu" (exact erf GELU) and another epsilon, in both towers. */
static void
test_gelu_config(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = hf_dir_with_config("gelu", NULL, NULL);
  char *cfg = g_build_filename(dir, "config.json", NULL);
  edit_file(cfg, "\"quick_gelu\"", "\"gelu\"");
  edit_file(cfg, "\"layer_norm_eps\": 1e-05", "\"layer_norm_eps\": 1e-06");
  clip_model *m = load_ok(dir);
  g_assert_cmpint(m->info.activation, ==, CLIP_ACT_GELU);
  g_assert_cmpfloat(m->info.layer_norm_eps, ==, 1e-6f);
  clip_model_free(m);
  g_free(cfg);
  tmpdir_remove(dir);

  /* text_config_dict / vision_config_dict override the plain sections. */
  dir =
      hf_dir_with_config("config-dict", "\"projection_dim\": 32,",
                         "\"projection_dim\": 32, \"text_config_dict\": {\"hidden_act\": \"gelu\"},"
                         " \"vision_config_dict\": {\"hidden_act\": \"gelu\"},");
  m = load_ok(dir);
  g_assert_cmpint(m->info.activation, ==, CLIP_ACT_GELU);
  clip_model_free(m);
  tmpdir_remove(dir);

  /* A null section means transformers' defaults (text width 512 here);
   * cJSON reads the first of the duplicate keys. */
  dir = hf_dir_with_config("null-text-config", "\"projection_dim\": 32,",
                           "\"projection_dim\": 32, \"text_config\": null,");
  expect_error(dir, CLIP_ERR_FORMAT, "text_model.embeddings.token_embedding.weight",
               "expected shape [49408, 512] (from config.json), found [49408, 64]");
  tmpdir_remove(dir);
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
  tmpdir_remove(dir);

  dir = hf_dir_with_config("resize", NULL, NULL);
  write_config(dir, "tiny-b32/preprocessor_config.json", "preprocessor_config.json",
               "\"shortest_edge\": 224", "\"shortest_edge\": 256");
  expect_error(dir, CLIP_ERR_UNSUPPORTED, "preprocessor_config.json",
               "size 256 differs from the image size 224");
  tmpdir_remove(dir);

  /* Old files give crop_size and size as plain numbers. */
  dir = hf_dir_with_config("old-style", NULL, NULL);
  char *pp = g_build_filename(dir, "preprocessor_config.json", NULL);
  g_assert_true(g_file_set_contents(pp, "{\"crop_size\": 224, \"size\": 224}", -1, NULL));
  clip_model *old = load_ok(dir);
  clip_model_free(old);
  g_assert_true(g_file_set_contents(pp, "{\"crop_size\": 200, \"size\": 224}", -1, NULL));
  expect_error(dir, CLIP_ERR_FORMAT, pp, "crop_size 200x200 disagrees");
  g_free(pp);
  tmpdir_remove(dir);

  dir = hf_dir_with_config("std", NULL, NULL);
  write_config(dir, "tiny-b32/preprocessor_config.json", "preprocessor_config.json", "0.26862954",
               "0");
  expect_error(dir, CLIP_ERR_FORMAT, "preprocessor_config.json",
               "image_std: expected 3 positive numbers");
  tmpdir_remove(dir);

  /* A valid custom mean is used. */
  dir = hf_dir_with_config("mean", NULL, NULL);
  write_config(dir, "tiny-b32/preprocessor_config.json", "preprocessor_config.json", "0.48145466",
               "0.5");
  clip_model *m = load_ok(dir);
  g_assert_cmpfloat(m->info.mean[0], ==, 0.5f);
  g_assert_cmpfloat(m->info.mean[1], ==, 0.4578275f);
  clip_model_free(m);
  tmpdir_remove(dir);
}

/* ---- layout on odd sizes ---- */

static void
add_random(st_writer *w, GRand *rng, const char *name, int n_dims, gint64 d0, gint64 d1, gint64 d2,
           gint64 d3)
{
  gint64 shape[4] = { d0, d1, d2, d3 }, n = 1;
  for (int i = 0; i < n_dims; i++)
    n *= shape[i];
  float *v = g_new(float, n ? n : 1);
  for (gint64 i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range(rng, -1, 1);
  clip_error err = { 0 };
  g_assert_cmpint(st_writer_add(w, name, ST_F32, n_dims, shape, v, &err), ==, CLIP_OK);
  g_free(v);
}

/* The layer's [out][in] rows row0.. must be the file's [o][i] for every
 * element (PyTorch's layout, kept as stored). */
static void
assert_torch_layout(const st_file *f, const char *name, const clip_linear *lin, int out, int row0)
{
  const st_tensor *t = st_find(f, name);
  g_assert_nonnull(t);
  g_assert_true(lin->transposed);
  int in = lin->in;
  g_assert_cmpint(t->n_elements, ==, (gint64) in * out);
  const float *src = st_f32_direct(t);
  for (int o = 0; o < out; o++)
    for (int i = 0; i < in; i++)
      if (torch_row(lin, row0 + o)[i] != src[(size_t) o * in + i])
        g_error("%s: element [%d][%d] misplaced", name, o, i);
}

/* A Hugging Face checkpoint with sizes that are not multiples of 4 or 8
 * (width 12, MLP 7 and 13, patch 3 so conv in = 27, projection 5): every
 * linear weight is compared element by element with the file. */
static void
test_layout_odd_sizes(void)
{
  char *dir = make_dir("odd");
  const char *config =
      "{\"projection_dim\": 5,"
      " \"text_config\": {\"hidden_size\": 12, \"intermediate_size\": 7, \"num_attention_heads\": "
      "3,"
      "  \"num_hidden_layers\": 1, \"max_position_embeddings\": 5, \"vocab_size\": 9},"
      " \"vision_config\": {\"hidden_size\": 12, \"intermediate_size\": 13, "
      "\"num_attention_heads\": 2,"
      "  \"num_hidden_layers\": 1, \"image_size\": 6, \"patch_size\": 3}}";
  char *cfg = g_build_filename(dir, "config.json", NULL);
  g_assert_true(g_file_set_contents(cfg, config, -1, NULL));
  GRand *rng = g_rand_new_with_seed(5);
  st_writer *w = st_writer_new();
  const int W = 12;
  add_random(w, rng, "text_model.embeddings.token_embedding.weight", 2, 9, W, 0, 0);
  add_random(w, rng, "text_model.embeddings.position_embedding.weight", 2, 5, W, 0, 0);
  add_random(w, rng, "vision_model.embeddings.patch_embedding.weight", 4, W, 3, 3, 3);
  add_random(w, rng, "vision_model.embeddings.class_embedding", 1, W, 0, 0, 0);
  add_random(w, rng, "vision_model.embeddings.position_embedding.weight", 2, 5, W, 0, 0);
  add_random(w, rng, "text_projection.weight", 2, 5, W, 0, 0);
  add_random(w, rng, "visual_projection.weight", 2, 5, W, 0, 0);
  add_random(w, rng, "logit_scale", 0, 0, 0, 0, 0);
  const char *norms[] = { "text_model.final_layer_norm", "vision_model.pre_layrnorm",
                          "vision_model.post_layernorm" };
  char name[256];
  for (int i = 0; i < 3; i++) {
    add_random(w, rng, (g_snprintf(name, sizeof name, "%s.weight", norms[i]), name), 1, W, 0, 0, 0);
    add_random(w, rng, (g_snprintf(name, sizeof name, "%s.bias", norms[i]), name), 1, W, 0, 0, 0);
  }
  const char *towers[] = { "text_model", "vision_model" };
  const int mlps[] = { 7, 13 };
  for (int t = 0; t < 2; t++) {
    const char *suffix1[] = { "layer_norm1", "layer_norm2" };
    for (int i = 0; i < 2; i++) {
      g_snprintf(name, sizeof name, "%s.encoder.layers.0.%s.weight", towers[t], suffix1[i]);
      add_random(w, rng, name, 1, W, 0, 0, 0);
      g_snprintf(name, sizeof name, "%s.encoder.layers.0.%s.bias", towers[t], suffix1[i]);
      add_random(w, rng, name, 1, W, 0, 0, 0);
    }
    const char *proj[] = { "q_proj", "k_proj", "v_proj", "out_proj" };
    for (int i = 0; i < 4; i++) {
      g_snprintf(name, sizeof name, "%s.encoder.layers.0.self_attn.%s.weight", towers[t], proj[i]);
      add_random(w, rng, name, 2, W, W, 0, 0);
      g_snprintf(name, sizeof name, "%s.encoder.layers.0.self_attn.%s.bias", towers[t], proj[i]);
      add_random(w, rng, name, 1, W, 0, 0, 0);
    }
    g_snprintf(name, sizeof name, "%s.encoder.layers.0.mlp.fc1.weight", towers[t]);
    add_random(w, rng, name, 2, mlps[t], W, 0, 0);
    g_snprintf(name, sizeof name, "%s.encoder.layers.0.mlp.fc1.bias", towers[t]);
    add_random(w, rng, name, 1, mlps[t], 0, 0, 0);
    g_snprintf(name, sizeof name, "%s.encoder.layers.0.mlp.fc2.weight", towers[t]);
    add_random(w, rng, name, 2, W, mlps[t], 0, 0);
    g_snprintf(name, sizeof name, "%s.encoder.layers.0.mlp.fc2.bias", towers[t]);
    add_random(w, rng, name, 1, W, 0, 0, 0);
  }
  /* Older HF checkpoints carry int64 position_ids buffers: ignored. */
  const gint64 ids[5] = { 0, 1, 2, 3, 4 };
  clip_error err = { 0 };
  g_assert_cmpint(st_writer_add(w, "text_model.embeddings.position_ids", ST_I64, 2,
                                (gint64[]){ 1, 5 }, ids, &err),
                  ==, CLIP_OK);
  char *weights = g_build_filename(dir, "model.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, weights, &err), ==, CLIP_OK);
  st_writer_free(w);
  g_rand_free(rng);

  clip_model *m = load_ok(dir);
  const st_file *f = m->files[0];
  g_assert_cmpint(m->info.vision_heads, ==, 2);
  g_assert_cmpint(m->info.text_heads, ==, 3);
  g_assert_cmpint(m->patch_embed.in, ==, 27);
  assert_torch_layout(f, "vision_model.embeddings.patch_embedding.weight", &m->patch_embed, W, 0);
  assert_torch_layout(f, "text_projection.weight", &m->text_proj, 5, 0);
  assert_torch_layout(f, "visual_projection.weight", &m->visual_proj, 5, 0);
  const clip_tower *tw[] = { &m->text, &m->vision };
  for (int t = 0; t < 2; t++) {
    const clip_block *b = &tw[t]->blocks[0];
    const char *qkv[] = { "q_proj", "k_proj", "v_proj" };
    for (int i = 0; i < 3; i++) {
      g_snprintf(name, sizeof name, "%s.encoder.layers.0.self_attn.%s.weight", towers[t], qkv[i]);
      assert_torch_layout(f, name, &b->qkv, W, i * W);
      g_snprintf(name, sizeof name, "%s.encoder.layers.0.self_attn.%s.bias", towers[t], qkv[i]);
      g_assert_cmpmem(b->qkv.b + i * W, W * sizeof(float), st_find(f, name)->data,
                      W * sizeof(float));
    }
    g_snprintf(name, sizeof name, "%s.encoder.layers.0.self_attn.out_proj.weight", towers[t]);
    assert_torch_layout(f, name, &b->attn_out, W, 0);
    g_snprintf(name, sizeof name, "%s.encoder.layers.0.mlp.fc1.weight", towers[t]);
    assert_torch_layout(f, name, &b->fc1, mlps[t], 0);
    g_snprintf(name, sizeof name, "%s.encoder.layers.0.mlp.fc2.weight", towers[t]);
    g_assert_cmpint(b->fc2.in, ==, mlps[t]);
    assert_torch_layout(f, name, &b->fc2, W, 0);
    g_assert_cmpint(b->fc2.in, ==, mlps[t]);
    g_assert_cmpint(b->fc2.out, ==, W);
  }
  clip_model_free(m);
  g_free(weights);
  g_free(cfg);
  tmpdir_remove(dir);
}

/* ---- clip-tool info and random-model ---- */

/* Runs clip-tool with args; returns the exit status, output in out and errout. */
static int
run_tool(const char *const *args, char **out, char **errout)
{
  return testutil_run_tool(args, out, errout);
}

/* Runs clip-tool with args and expects exit status 0. */
static void
run_tool_ok(const char *const *args)
{
  char *out = NULL, *errout = NULL;
  g_assert_cmpint(run_tool(args, &out, &errout), ==, 0);
  g_free(out), g_free(errout);
}

static cJSON *
info_json(const char *model)
{
  char *out = NULL, *errout = NULL;
  int rc = run_tool((const char *[]){ "info", model, NULL }, &out, &errout);
  if (rc != 0)
    g_error("clip-tool info %s: exit %d: %s", model, rc, errout);
  cJSON *j = cJSON_Parse(out);
  g_assert_nonnull(j);
  g_free(out);
  g_free(errout);
  return j;
}

static int
json_int(const cJSON *j, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  g_assert_true(cJSON_IsNumber(v));
  return v->valueint;
}

static const char *
json_str(const cJSON *j, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  g_assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static void
test_tool_info(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = g_build_filename(ref, "tiny-b32", NULL);
  cJSON *j = info_json(dir);
  g_assert_cmpstr(json_str(j, "architecture"), ==, "ViT-64x2/32");
  g_assert_cmpstr(json_str(j, "path"), ==, dir);
  g_assert_cmpstr(json_str(j, "naming"), ==, "huggingface");
  g_assert_cmpstr(json_str(j, "dtype"), ==, "F32");
  g_assert_cmpstr(json_str(j, "activation"), ==, "quick_gelu");
  g_assert_cmpint(json_int(j, "image_size"), ==, 224);
  g_assert_cmpint(json_int(j, "patch_size"), ==, 32);
  g_assert_cmpint(json_int(j, "embed_dim"), ==, 32);
  g_assert_cmpint(json_int(j, "context_length"), ==, 77);
  g_assert_cmpint(json_int(j, "vocab_size"), ==, 49408);
  g_assert_cmpint(json_int(j, "vision_width"), ==, 64);
  g_assert_cmpint(json_int(j, "vision_layers"), ==, 2);
  g_assert_cmpint(json_int(j, "vision_heads"), ==, 1);
  g_assert_cmpint(json_int(j, "vision_mlp"), ==, 256);
  g_assert_cmpint(json_int(j, "text_width"), ==, 64);
  g_assert_cmpint(json_int(j, "text_layers"), ==, 2);
  g_assert_cmpint(json_int(j, "text_heads"), ==, 1);
  g_assert_cmpint(json_int(j, "text_mlp"), ==, 256);
  g_assert_cmpfloat(cJSON_GetObjectItem(j, "layer_norm_eps")->valuedouble, ==, 1e-5);
  g_assert_cmpfloat_with_epsilon(cJSON_GetObjectItem(j, "logit_scale")->valuedouble, 4.6052, 1e-4);
  const cJSON *mean = cJSON_GetObjectItem(j, "mean"), *std = cJSON_GetObjectItem(j, "std");
  g_assert_cmpint(cJSON_GetArraySize(mean), ==, 3);
  g_assert_cmpint(cJSON_GetArraySize(std), ==, 3);
  g_assert_true((float) cJSON_GetArrayItem(mean, 0)->valuedouble == 0.48145466f);
  g_assert_true((float) cJSON_GetArrayItem(std, 2)->valuedouble == 0.27577711f);
  cJSON_Delete(j);
  g_free(dir);

  char *file = g_build_filename(ref, "tiny-b32", "open_clip_model.safetensors", NULL);
  j = info_json(file);
  g_assert_cmpstr(json_str(j, "naming"), ==, "openclip");
  cJSON_Delete(j);
  g_free(file);

  dir = g_build_filename(ref, "tiny-b32-mh-f16", NULL);
  j = info_json(dir);
  g_assert_cmpstr(json_str(j, "dtype"), ==, "F16");
  g_assert_cmpint(json_int(j, "vision_heads"), ==, 2);
  g_assert_cmpint(json_int(j, "embed_dim"), ==, 64);
  /* Printed as the shortest decimal that reads back as the same float. */
  g_assert_true((float) cJSON_GetObjectItem(j, "logit_scale")->valuedouble == 4.60546875f);
  cJSON_Delete(j);
  g_free(dir);

  /* Errors: load failures exit 1 with the message, bad arguments 2. */
  char *out = NULL, *errout = NULL;
  char *none = g_build_filename(testutil_tmpdir(), "no-model", NULL);
  g_assert_cmpint(run_tool((const char *[]){ "info", none, NULL }, &out, &errout), ==, 1);
  g_assert_nonnull(strstr(errout, none));
  g_assert_nonnull(strstr(errout, "no such file or directory"));
  g_assert_cmpstr(out, ==, "");
  g_free(out), g_free(errout);
  g_free(none);
  g_assert_cmpint(run_tool((const char *[]){ "info", NULL }, &out, &errout), ==, 2);
  g_assert_nonnull(strstr(errout, "usage: clip-tool info MODEL"));
  g_free(out), g_free(errout);
  g_assert_cmpint(run_tool((const char *[]){ "info", "a", "b", NULL }, &out, &errout), ==, 2);
  g_free(out), g_free(errout);
}

static double
tensor_std(const st_tensor *t, double *mean_out)
{
  const float *v = st_f32_direct(t);
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < t->n_elements; i++)
    sum += v[i], sq += (double) v[i] * v[i];
  double mean = sum / (double) t->n_elements;
  *mean_out = mean;
  return sqrt(sq / (double) t->n_elements - mean * mean);
}

static void
test_tool_random_model(void)
{
  char *a = g_build_filename(testutil_tmpdir(), "random-a", NULL);
  char *b = g_build_filename(testutil_tmpdir(), "random-b", NULL);
  char *c = g_build_filename(testutil_tmpdir(), "random-c", NULL);
  char *out = NULL, *errout = NULL;
  run_tool_ok((const char *[]){ "random-model", "--arch", "tiny", "--seed", "7", a, NULL });
  run_tool_ok((const char *[]){ "random-model", "--seed", "7", "--arch", "tiny", b, NULL });
  run_tool_ok((const char *[]){ "random-model", "--arch", "tiny", "--seed", "8", c, NULL });

  /* Same seed, same bytes; another seed, other weights. */
  char *fa = g_build_filename(a, "model.safetensors", NULL);
  char *fb = g_build_filename(b, "model.safetensors", NULL);
  char *fc = g_build_filename(c, "model.safetensors", NULL);
  gchar *da, *db, *dc;
  gsize la, lb, lc;
  g_assert_true(g_file_get_contents(fa, &da, &la, NULL));
  g_assert_true(g_file_get_contents(fb, &db, &lb, NULL));
  g_assert_true(g_file_get_contents(fc, &dc, &lc, NULL));
  g_assert_cmpmem(da, la, db, lb);
  g_assert_cmpuint(la, ==, lc);
  g_assert_true(memcmp(da, dc, la) != 0);
  g_free(da), g_free(db), g_free(dc);

  clip_model *m = load_ok(a);
  const clip_model_info *in = clip_model_get_info(m);
  check_towers(in, 64, 2, 2, 32);
  g_assert_cmpint(in->vocab_size, ==, 49408);
  g_assert_cmpint(in->context_length, ==, 77);
  g_assert_cmpfloat(in->logit_scale, ==, logf(100.0f));
  g_assert_cmpstr(in->naming, ==, "huggingface");
  g_assert_cmpstr(in->dtype, ==, "F32");
  /* Without --vocab, a byte-level tokenizer: each byte a token in CLIP's
   * byte order ('a' is the 65th printable byte, 'b' + "</w>" 256 + 65),
   * between the start and end ids the config names. */
  g_assert_nonnull(m->tokenizer);
  int32_t ids[8];
  size_t n_ids = 0;
  clip_error terr = { 0 };
  g_assert_cmpint(clip_tokenize(m, "ab", ids, 8, &n_ids, &terr), ==, CLIP_OK);
  g_assert_cmpuint(n_ids, ==, 4);
  g_assert_cmpint(ids[0], ==, 49406);
  g_assert_cmpint(ids[1], ==, 64);
  g_assert_cmpint(ids[2], ==, 256 + 65);
  g_assert_cmpint(ids[3], ==, 49407);

  /* CLIP's init scales: q_proj std width^-1/2, fc2 width^-1/2 (2 layers)^-1/2,
   * token embedding 0.02, layer-norm gains around 1. */
  double mean;
  const st_file *f = m->files[0];
  double s = tensor_std(st_find(f, "vision_model.encoder.layers.1.self_attn.q_proj.weight"), &mean);
  g_assert_cmpfloat(fabs(s - 0.125), <, 0.125 * 0.05);
  g_assert_cmpfloat(fabs(mean), <, 0.01);
  s = tensor_std(st_find(f, "text_model.encoder.layers.0.mlp.fc2.weight"), &mean);
  g_assert_cmpfloat(fabs(s - 0.0625), <, 0.0625 * 0.05);
  s = tensor_std(st_find(f, "text_model.embeddings.token_embedding.weight"), &mean);
  g_assert_cmpfloat(fabs(s - 0.02), <, 0.02 * 0.01);
  s = tensor_std(st_find(f, "vision_model.post_layernorm.weight"), &mean);
  g_assert_cmpfloat(fabs(mean - 1), <, 0.05);
  g_assert_cmpfloat(s, >, 0.05);
  clip_model_free(m);

  /* info reads it too. */
  cJSON *j = info_json(a);
  g_assert_cmpstr(json_str(j, "architecture"), ==, "ViT-64x2/32");
  cJSON_Delete(j);

  /* Bad arguments: usage and exit 2, nothing written. */
  const char *bad[][8] = {
    { "random-model", "--arch", "ViT-X", "--seed", "1", c, NULL },
    { "random-model", "--arch", "tiny", c, NULL },
    { "random-model", "--arch", "tiny", "--seed", "x1", c, NULL },
    { "random-model", "--arch", "tiny", "--seed", "-1", c, NULL },
    { "random-model", "--arch", "tiny", "--seed", "1", NULL },
    { "random-model", "--arch", "tiny", "--seed", "1", c, "extra" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_cmpint(run_tool(bad[i], &out, &errout), ==, 2);
    g_assert_nonnull(strstr(errout, "usage: clip-tool random-model"));
    g_free(out), g_free(errout);
  }
  g_free(fa), g_free(fb), g_free(fc);
  for (char **d = (char *[]){ a, b, c, NULL }; *d; d++)
    tmpdir_remove(*d);
}

static void
test_tool_random_model_vocab(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = g_build_filename(testutil_tmpdir(), "random-vocab", NULL);
  char *kit = g_build_filename(ref, "tiny-b32", NULL);
  char *out = NULL, *errout = NULL;
  run_tool_ok((const char *[]){ "random-model", "--arch", "tiny", "--seed", "1", "--vocab", kit,
                                dir, NULL });
  for (const char *const *name = (const char *[]){ "vocab.json", "merges.txt", NULL }; *name;
       name++) {
    char *p1 = g_build_filename(kit, *name, NULL), *p2 = g_build_filename(dir, *name, NULL);
    gchar *d1, *d2;
    gsize l1, l2;
    g_assert_true(g_file_get_contents(p1, &d1, &l1, NULL));
    g_assert_true(g_file_get_contents(p2, &d2, &l2, NULL));
    g_assert_cmpmem(d1, l1, d2, l2);
    g_free(d1), g_free(d2), g_free(p1), g_free(p2);
  }
  /* A vocabulary directory without the files fails with exit 1. */
  char *empty = make_dir("empty-vocab");
  char *dir2 = g_build_filename(testutil_tmpdir(), "random-vocab2", NULL);
  g_assert_cmpint(run_tool((const char *[]){ "random-model", "--arch", "tiny", "--seed", "1",
                                             "--vocab", empty, dir2, NULL },
                           &out, &errout),
                  ==, 1);
  g_assert_nonnull(strstr(errout, "vocab.json"));
  g_free(out), g_free(errout);
  tmpdir_remove(empty);
  tmpdir_remove(dir2);
  tmpdir_remove(dir);
  g_free(kit);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/checkpoint/hf-dir", test_hf_dir);
  g_test_add_func("/checkpoint/openclip-file-matches-hf", test_openclip_file_matches_hf);
  g_test_add_func("/checkpoint/openclip-dir-without-config", test_openclip_dir_without_config);
  g_test_add_func("/checkpoint/f16", test_f16);
  g_test_add_func("/checkpoint/misaligned-weights", test_misaligned_weights);
  g_test_add_func("/checkpoint/bf16-weights", test_bf16_weights);
  g_test_add_func("/checkpoint/gelu-config", test_gelu_config);
  g_test_add_func("/checkpoint/layout-odd-sizes", test_layout_odd_sizes);
  g_test_add_func("/checkpoint/bad-configs", test_bad_configs);
  g_test_add_func("/checkpoint/config-vs-shapes", test_config_vs_shapes);
  g_test_add_func("/checkpoint/missing-files", test_missing_files);
  g_test_add_func("/checkpoint/bad-weights", test_bad_weights);
  g_test_add_func("/checkpoint/bad-preprocessor", test_bad_preprocessor);
  g_test_add_func("/checkpoint/tool-info", test_tool_info);
  g_test_add_func("/checkpoint/tool-random-model", test_tool_random_model);
  g_test_add_func("/checkpoint/tool-random-model-vocab", test_tool_random_model_vocab);
  return g_test_run();
}
