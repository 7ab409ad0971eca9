/* clip-tool random-model — writes a Hugging Face-layout checkpoint with the
 * exact shapes of a published OpenAI CLIP model and seeded random weights at
 * CLIP's initialization scales, so benchmarks and tests get real sizes and
 * realistic activations without a download. */
#include <cjson/cJSON.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "tool.h"

typedef struct {
  const char *name;
  int vision_width, vision_layers, vision_heads, patch;
  int text_width, text_layers, text_heads, embed_dim;
} arch;

/* openai/clip-vit-base-patch32, -base-patch16, -large-patch14; "tiny" is a
 * small internal shape for tests (not in the usage text). */
static const arch arches[] = {
  { "ViT-B-32", 768, 12, 12, 32, 512, 12, 8, 512 },
  { "ViT-B-16", 768, 12, 12, 16, 512, 12, 8, 512 },
  { "ViT-L-14", 1024, 24, 16, 14, 768, 12, 12, 768 },
  { "tiny", 64, 2, 2, 32, 64, 2, 2, 32 },
};

enum { IMAGE_SIZE = 224, CONTEXT = 77, VOCAB = 49408 };

/* How one tensor's values are drawn: mean + std·N(0,1), or uniform in
 * [-bound, bound] when uniform. */
typedef struct {
  uint64_t seed;
  float mean, std;
  bool uniform;
} init;

static uint64_t
splitmix64(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* xoshiro256+ state; the top 24 bits of each draw make a float in (0, 1]. */
typedef struct {
  uint64_t s[4];
} rng;

static uint64_t
rng_next(rng *r)
{
  uint64_t *s = r->s, result = s[0] + s[3], t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = (s[3] << 45) | (s[3] >> 19);
  return result;
}

static float
unit(uint64_t bits)
{
  return ((float) (bits >> 40) + 1.0f) * (1.0f / 16777216.0f);
}

/* Each tensor has its own stream (seed and name hashed), so values do not
 * depend on the order tensors are written in. */
static bool
fill(void *user, const char *name, void *out, size_t n_bytes)
{
  const init *in = user;
  uint64_t h = in->seed ^ 0xcbf29ce484222325u;
  for (const char *p = name; *p; p++)
    h = (h ^ (uint8_t) *p) * 0x100000001b3u;
  rng r;
  for (int i = 0; i < 4; i++)
    r.s[i] = splitmix64(&h);
  float *v = out;
  size_t n = n_bytes / sizeof *v;
  if (in->uniform) {
    for (size_t i = 0; i < n; i++)
      v[i] = in->std * (2.0f * unit(rng_next(&r)) - 1.0f);
    return true;
  }
  for (size_t i = 0; i < n; i += 2) {
    /* Box-Muller: two normals per pair of uniforms. */
    uint64_t bits = rng_next(&r);
    float radius = sqrtf(-2.0f * logf(unit(bits))), angle = 6.2831853f * unit(bits << 24);
    v[i] = in->mean + in->std * radius * cosf(angle);
    if (i + 1 < n)
      v[i + 1] = in->mean + in->std * radius * sinf(angle);
  }
  return true;
}

typedef struct {
  st_writer *w;
  GPtrArray *inits; /* owned init structs, alive until the save */
  uint64_t seed;
  clip_error err;
  bool failed;
} builder;

static void
add(builder *b, const char *name, float mean, float std, bool uniform, int n_dims, int64_t d0,
    int64_t d1)
{
  if (b->failed)
    return;
  init *in = g_new(init, 1);
  *in = (init){ b->seed, mean, std, uniform };
  g_ptr_array_add(b->inits, in);
  int64_t shape[4] = { d0, d1 };
  if (st_writer_add_generated(b->w, name, ST_F32, n_dims, shape, fill, in, &b->err) != CLIP_OK)
    b->failed = true;
}

static void
add_conv(builder *b, const char *name, int width, int patch)
{
  if (b->failed)
    return;
  /* PyTorch's default conv init: uniform with bound 1/sqrt(fan_in). */
  init *in = g_new(init, 1);
  *in = (init){ b->seed, 0, 1.0f / sqrtf(3.0f * patch * patch), true };
  g_ptr_array_add(b->inits, in);
  int64_t shape[4] = { width, 3, patch, patch };
  if (st_writer_add_generated(b->w, name, ST_F32, 4, shape, fill, in, &b->err) != CLIP_OK)
    b->failed = true;
}

#define NAME(...) (g_snprintf(name, sizeof name, __VA_ARGS__), name)

/* Layer norms around 1 and biases around 0 with visible spread, so a dropped
 * bias or gain changes the output (as in the reference kit's models). */
static void
add_norm(builder *b, const char *prefix, int width)
{
  char name[256];
  add(b, NAME("%sweight", prefix), 1.0f, 0.1f, false, 1, width, 0);
  add(b, NAME("%sbias", prefix), 0.0f, 0.05f, false, 1, width, 0);
}

/* One tower's blocks with OpenAI's scales: attention std width^-1/2, output
 * projections width^-1/2 · (2·layers)^-1/2, MLP input (2·width)^-1/2. */
static void
add_blocks(builder *b, const char *tower, int width, int layers)
{
  char name[256], prefix[128];
  float attn = 1.0f / sqrtf((float) width), proj = attn / sqrtf(2.0f * layers);
  float fc = 1.0f / sqrtf(2.0f * width), bias = 0.02f;
  for (int i = 0; i < layers; i++) {
    g_snprintf(prefix, sizeof prefix, "%s.encoder.layers.%d.", tower, i);
    add_norm(b, NAME("%slayer_norm1.", prefix), width);
    add_norm(b, NAME("%slayer_norm2.", prefix), width);
    for (const char *p = "qkv"; *p; p++) {
      add(b, NAME("%sself_attn.%c_proj.weight", prefix, *p), 0, attn, false, 2, width, width);
      add(b, NAME("%sself_attn.%c_proj.bias", prefix, *p), 0, bias, false, 1, width, 0);
    }
    add(b, NAME("%sself_attn.out_proj.weight", prefix), 0, proj, false, 2, width, width);
    add(b, NAME("%sself_attn.out_proj.bias", prefix), 0, bias, false, 1, width, 0);
    add(b, NAME("%smlp.fc1.weight", prefix), 0, fc, false, 2, 4 * width, width);
    add(b, NAME("%smlp.fc1.bias", prefix), 0, bias, false, 1, 4 * width, 0);
    add(b, NAME("%smlp.fc2.weight", prefix), 0, proj, false, 2, width, 4 * width);
    add(b, NAME("%smlp.fc2.bias", prefix), 0, bias, false, 1, width, 0);
  }
}

static void
add_weights(builder *b, const arch *a)
{
  char name[256];
  int vw = a->vision_width, tw = a->text_width, grid = IMAGE_SIZE / a->patch;
  add(b, "text_model.embeddings.token_embedding.weight", 0, 0.02f, false, 2, VOCAB, tw);
  add(b, "text_model.embeddings.position_embedding.weight", 0, 0.01f, false, 2, CONTEXT, tw);
  add_blocks(b, "text_model", tw, a->text_layers);
  add_norm(b, "text_model.final_layer_norm.", tw);
  add(b, "text_projection.weight", 0, 1.0f / sqrtf((float) tw), false, 2, a->embed_dim, tw);

  float scale = 1.0f / sqrtf((float) vw);
  add_conv(b, "vision_model.embeddings.patch_embedding.weight", vw, a->patch);
  add(b, "vision_model.embeddings.class_embedding", 0, scale, false, 1, vw, 0);
  add(b, "vision_model.embeddings.position_embedding.weight", 0, scale, false, 2, 1 + grid * grid,
      vw);
  add_norm(b, "vision_model.pre_layrnorm.", vw);
  add_blocks(b, "vision_model", vw, a->vision_layers);
  add_norm(b, "vision_model.post_layernorm.", vw);
  add(b, "visual_projection.weight", 0, scale, false, 2, a->embed_dim, vw);
  (void) name;
}

static bool
write_json(const char *dir, const char *file, cJSON *root)
{
  char *text = cJSON_Print(root);
  char *path = g_build_filename(dir, file, NULL);
  GError *gerr = NULL;
  bool ok = text && g_file_set_contents(path, text, -1, &gerr);
  if (!ok)
    fprintf(stderr, "clip-tool random-model: %s: %s\n", path,
            gerr ? gerr->message : "out of memory");
  g_clear_error(&gerr);
  g_free(path);
  cJSON_free(text);
  cJSON_Delete(root);
  return ok;
}

static cJSON *
tower_config(const arch *a, bool vision)
{
  cJSON *c = cJSON_CreateObject();
  int width = vision ? a->vision_width : a->text_width;
  cJSON_AddNumberToObject(c, "hidden_size", width);
  cJSON_AddNumberToObject(c, "intermediate_size", 4 * width);
  cJSON_AddNumberToObject(c, "num_attention_heads", vision ? a->vision_heads : a->text_heads);
  cJSON_AddNumberToObject(c, "num_hidden_layers", vision ? a->vision_layers : a->text_layers);
  cJSON_AddStringToObject(c, "hidden_act", "quick_gelu");
  cJSON_AddNumberToObject(c, "layer_norm_eps", 1e-5);
  cJSON_AddNumberToObject(c, "projection_dim", a->embed_dim);
  cJSON_AddNumberToObject(c, "attention_dropout", 0);
  cJSON_AddNumberToObject(c, "dropout", 0);
  cJSON_AddNumberToObject(c, "initializer_factor", 1);
  cJSON_AddNumberToObject(c, "initializer_range", 0.02);
  if (vision) {
    cJSON_AddStringToObject(c, "model_type", "clip_vision_model");
    cJSON_AddNumberToObject(c, "image_size", IMAGE_SIZE);
    cJSON_AddNumberToObject(c, "patch_size", a->patch);
    cJSON_AddNumberToObject(c, "num_channels", 3);
  } else {
    cJSON_AddStringToObject(c, "model_type", "clip_text_model");
    cJSON_AddNumberToObject(c, "max_position_embeddings", CONTEXT);
    cJSON_AddNumberToObject(c, "vocab_size", VOCAB);
    cJSON_AddNumberToObject(c, "bos_token_id", 49406);
    cJSON_AddNumberToObject(c, "eos_token_id", 49407);
    cJSON_AddNumberToObject(c, "pad_token_id", 1);
  }
  return c;
}

static bool
write_configs(const char *dir, const arch *a)
{
  cJSON *root = cJSON_CreateObject();
  cJSON *archs = cJSON_AddArrayToObject(root, "architectures");
  cJSON_AddItemToArray(archs, cJSON_CreateString("CLIPModel"));
  cJSON_AddStringToObject(root, "model_type", "clip");
  cJSON_AddNumberToObject(root, "projection_dim", a->embed_dim);
  cJSON_AddNumberToObject(root, "logit_scale_init_value", 2.6592);
  cJSON_AddNumberToObject(root, "initializer_factor", 1);
  cJSON_AddStringToObject(root, "torch_dtype", "float32");
  cJSON_AddItemToObject(root, "text_config", tower_config(a, false));
  cJSON_AddItemToObject(root, "vision_config", tower_config(a, true));
  if (!write_json(dir, "config.json", root))
    return false;

  static const double mean[3] = { 0.48145466, 0.4578275, 0.40821073 };
  static const double std[3] = { 0.26862954, 0.26130258, 0.27577711 };
  root = cJSON_CreateObject();
  cJSON *crop = cJSON_AddObjectToObject(root, "crop_size");
  cJSON_AddNumberToObject(crop, "height", IMAGE_SIZE);
  cJSON_AddNumberToObject(crop, "width", IMAGE_SIZE);
  cJSON_AddBoolToObject(root, "do_center_crop", 1);
  cJSON_AddBoolToObject(root, "do_convert_rgb", 1);
  cJSON_AddBoolToObject(root, "do_normalize", 1);
  cJSON_AddBoolToObject(root, "do_rescale", 1);
  cJSON_AddBoolToObject(root, "do_resize", 1);
  cJSON_AddItemToObject(root, "image_mean", cJSON_CreateDoubleArray(mean, 3));
  cJSON_AddStringToObject(root, "image_processor_type", "CLIPImageProcessor");
  cJSON_AddItemToObject(root, "image_std", cJSON_CreateDoubleArray(std, 3));
  cJSON_AddNumberToObject(root, "resample", 3);
  cJSON_AddNumberToObject(root, "rescale_factor", 1.0 / 255.0);
  cJSON *size = cJSON_AddObjectToObject(root, "size");
  cJSON_AddNumberToObject(size, "shortest_edge", IMAGE_SIZE);
  return write_json(dir, "preprocessor_config.json", root);
}

static bool
copy_vocab(const char *from, const char *to)
{
  static const char *const files[] = { "vocab.json", "merges.txt" };
  for (int i = 0; i < 2; i++) {
    char *src = g_build_filename(from, files[i], NULL), *dst = g_build_filename(to, files[i], NULL);
    char *data = NULL;
    gsize len = 0;
    GError *gerr = NULL;
    bool ok = g_file_get_contents(src, &data, &len, &gerr)
              && g_file_set_contents(dst, data, (gssize) len, &gerr);
    if (!ok)
      fprintf(stderr, "clip-tool random-model: %s\n", gerr->message);
    g_clear_error(&gerr);
    g_free(data);
    g_free(src);
    g_free(dst);
    if (!ok)
      return false;
  }
  return true;
}

/* Without --vocab: a byte-level tokenizer in CLIP's id layout, so the model
 * works everywhere a tokenizer is needed (the element, clip-tool score).
 * Ids 0-255 are the bytes in CLIP's byte order, 256-511 the same ending a
 * word ("</w>"), and <|startoftext|>/<|endoftext|> take the last two ids as
 * in OpenAI's vocabulary and the config's bos/eos ids. There are no merges:
 * every byte is a token. */
static bool
write_byte_vocab(const char *dir)
{
  int order[256], n = 0;
  bool printable[256] = { false };
  for (int c = 0; c < 256; c++)
    if ((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)) {
      printable[c] = true;
      order[n++] = c;
    }
  for (int c = 0; c < 256; c++)
    if (!printable[c])
      order[n++] = c;
  /* CLIP's reversible map: a printable byte stands for itself, the others
   * for code points 256, 257, ... in byte order. */
  gunichar symbol[256];
  for (int c = 0, extra = 0; c < 256; c++)
    symbol[c] = printable[c] ? (gunichar) c : (gunichar) (256 + extra++);
  cJSON *root = cJSON_CreateObject();
  for (int end = 0; end < 2; end++)
    for (int i = 0; i < 256; i++) {
      char key[16];
      int len = g_unichar_to_utf8(symbol[order[i]], key);
      snprintf(key + len, sizeof key - len, "%s", end ? "</w>" : "");
      cJSON_AddNumberToObject(root, key, end * 256 + i);
    }
  cJSON_AddNumberToObject(root, "<|startoftext|>", VOCAB - 2);
  cJSON_AddNumberToObject(root, "<|endoftext|>", VOCAB - 1);
  if (!write_json(dir, "vocab.json", root))
    return false;
  char *path = g_build_filename(dir, "merges.txt", NULL);
  GError *gerr = NULL;
  bool ok = g_file_set_contents(path, "#version: 0.2\n", -1, &gerr);
  if (!ok)
    fprintf(stderr, "clip-tool random-model: %s\n", gerr->message);
  g_clear_error(&gerr);
  g_free(path);
  return ok;
}

static int
usage(void)
{
  fprintf(stderr, "usage: clip-tool random-model --arch ViT-B-32|ViT-B-16|ViT-L-14 --seed N "
                  "[--vocab DIR] OUT_DIR\n");
  return 2;
}

int
cmd_random_model(int argc, char **argv)
{
  const arch *a = NULL;
  const char *out = NULL, *vocab = NULL, *seed_text = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--arch") && i + 1 < argc) {
      const char *v = argv[++i];
      for (size_t k = 0; k < G_N_ELEMENTS(arches); k++)
        if (!strcmp(v, arches[k].name))
          a = &arches[k];
      if (!a) {
        fprintf(stderr, "clip-tool random-model: unknown --arch '%s'\n", v);
        return usage();
      }
    } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed_text = argv[++i];
    } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
      vocab = argv[++i];
    } else if (argv[i][0] == '-' || out) {
      fprintf(stderr, "clip-tool random-model: unexpected argument '%s'\n", argv[i]);
      return usage();
    } else {
      out = argv[i];
    }
  }
  char *end = NULL;
  unsigned long long seed = seed_text ? strtoull(seed_text, &end, 10) : 0;
  if (!a || !out || !seed_text || !*seed_text || *end || seed_text[0] == '-') {
    if (seed_text && (!*seed_text || *end || seed_text[0] == '-'))
      fprintf(stderr,
              "clip-tool random-model: --seed: expected a non-negative integer, found '%s'\n",
              seed_text);
    return usage();
  }
  if (g_mkdir_with_parents(out, 0755) != 0) {
    fprintf(stderr, "clip-tool random-model: cannot create %s\n", out);
    return 1;
  }
  if (!write_configs(out, a) || (vocab ? !copy_vocab(vocab, out) : !write_byte_vocab(out)))
    return 1;

  builder b = { st_writer_new(), g_ptr_array_new_with_free_func(g_free), seed, { 0 }, false };
  add_weights(&b, a);
  add(&b, "logit_scale", logf(100.0f), 0, false, 0, 0, 0);
  char *path = g_build_filename(out, "model.safetensors", NULL);
  int status = 0;
  if (b.failed || st_writer_save(b.w, path, &b.err) != CLIP_OK) {
    fprintf(stderr, "clip-tool random-model: %s\n", b.err.message);
    status = 1;
  }
  g_free(path);
  st_writer_free(b.w);
  g_ptr_array_free(b.inits, TRUE);
  return status;
}
