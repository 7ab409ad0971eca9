/* model-config.c — a checkpoint's configuration: Hugging Face config.json
 * and preprocessor_config.json, open_clip_config.json, or the sizes the
 * tensor shapes imply (OpenAI's build_model() rules), each checked against
 * the others and refused when absurd before any tensor is bound. */
#include "model-config.h"

#include <cjson/cJSON.h>
#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "readfile.h"

/* Sizes beyond this are refused as absurd before anything is allocated. */
#define MAX_SIZE 1000000

typedef struct {
  const char *file; /* for messages */
  clip_error *err;
  bool failed;
} cfg_reader;

/* An integer member of obj (or def when absent); sets failed with a message
 * when present but not an integer. */
static int
cfg_int(cfg_reader *r, const cJSON *obj, const char *section, const char *key, int def)
{
  const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (!v || r->failed)
    return def;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 2e9) {
    char *text = cJSON_PrintUnformatted(v);
    clip_set_error(r->err, CLIP_ERR_FORMAT, "%s: %s%s%s: expected an integer, found %.64s", r->file,
                   section, *section ? "." : "", key, text ? text : "?");
    cJSON_free(text);
    r->failed = true;
    return def;
  }
  return (int) v->valuedouble;
}

static double
cfg_number(cfg_reader *r, const cJSON *obj, const char *section, const char *key, double def)
{
  const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (!v || r->failed)
    return def;
  if (!cJSON_IsNumber(v)) {
    char *text = cJSON_PrintUnformatted(v);
    clip_set_error(r->err, CLIP_ERR_FORMAT, "%s: %s%s%s: expected a number, found %.64s", r->file,
                   section, *section ? "." : "", key, text ? text : "?");
    cJSON_free(text);
    r->failed = true;
    return def;
  }
  return v->valuedouble;
}

/* An optional sub-object (null counts as absent); anything else is an error. */
static const cJSON *
cfg_object(cfg_reader *r, const cJSON *obj, const char *key)
{
  const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (v && !cJSON_IsObject(v) && !cJSON_IsNull(v) && !r->failed) {
    clip_set_error(r->err, CLIP_ERR_FORMAT, "%s: %s: expected an object", r->file, key);
    r->failed = true;
  }
  return cJSON_IsObject(v) ? v : NULL;
}

/* Three positive numbers (image mean or std); keeps out unchanged when absent. */
static void
cfg_triple(cfg_reader *r, const cJSON *obj, const char *key, float out[3], bool positive)
{
  const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (!v || r->failed)
    return;
  bool ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 3;
  float tmp[3];
  int i = 0;
  for (const cJSON *e = ok ? v->child : NULL; e; e = e->next, i++) {
    ok = ok && cJSON_IsNumber(e) && isfinite(e->valuedouble) && fabs(e->valuedouble) < 1e6
         && (!positive || e->valuedouble > 0);
    tmp[i] = ok ? (float) e->valuedouble : 0;
  }
  if (!ok) {
    clip_set_error(r->err, CLIP_ERR_FORMAT, "%s: %s: expected 3 %snumbers", r->file, key,
                   positive ? "positive " : "");
    r->failed = true;
    return;
  }
  memcpy(out, tmp, sizeof tmp);
}

/* Configuration files are small; a larger one is refused before reading. */
#define MAX_CONFIG_BYTES ((size_t) 16 << 20)

/* Reads and parses a JSON file whose top level must be an object. */
static cJSON *
read_json(const char *path, clip_error *err)
{
  char *text = NULL;
  size_t len = 0;
  if (clip_read_file(path, "configuration", MAX_CONFIG_BYTES, &text, &len, err) != CLIP_OK)
    return NULL;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!root)
    clip_set_error(err, CLIP_ERR_FORMAT, "%s: invalid JSON near byte %zu", path,
                   end && end >= text ? (size_t) (end - text) : (size_t) 0);
  else if (!cJSON_IsObject(root)) {
    clip_set_error(err, CLIP_ERR_FORMAT, "%s: expected a JSON object at the top level", path);
    cJSON_Delete(root);
    root = NULL;
  }
  free(text);
  return root;
}

static bool
hidden_act(cfg_reader *r, const cJSON *obj, const char *section, clip_activation *act)
{
  const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, "hidden_act") : NULL;
  if (!v)
    return true;
  if (cJSON_IsString(v) && !strcmp(v->valuestring, "quick_gelu"))
    *act = CLIP_ACT_QUICK_GELU;
  else if (cJSON_IsString(v) && !strcmp(v->valuestring, "gelu"))
    *act = CLIP_ACT_GELU;
  else {
    char *text = cJSON_PrintUnformatted(v);
    clip_set_error(r->err, CLIP_ERR_UNSUPPORTED,
                   "%s: %s.hidden_act: expected \"quick_gelu\" or \"gelu\", found %.64s", r->file,
                   section, text ? text : "?");
    cJSON_free(text);
    r->failed = true;
    return false;
  }
  return true;
}

/* A tower's section of config.json. Older configs (LAION's among them) also
 * carry text_config_dict / vision_config_dict, whose keys transformers lets
 * override the plain section. */
static cJSON *
merged_section(cfg_reader *r, const cJSON *root, const char *key, const char *dict_key)
{
  const cJSON *base = cfg_object(r, root, key), *dict = cfg_object(r, root, dict_key);
  cJSON *out = base ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
  for (const cJSON *e = dict ? dict->child : NULL; out && e; e = e->next) {
    cJSON_DeleteItemFromObjectCaseSensitive(out, e->string);
    cJSON_AddItemToObject(out, e->string, cJSON_Duplicate(e, 1));
  }
  if (!out && !r->failed) {
    clip_set_error(r->err, CLIP_ERR_NOMEM, "%s: out of memory reading %s", r->file, key);
    r->failed = true;
  }
  return out;
}

/* Hugging Face CLIPConfig, with transformers' defaults for absent keys. */
clip_status
clip_config_hf(clip_model_info *in, const char *path, clip_error *err)
{
  cJSON *root = read_json(path, err);
  if (!root)
    return err ? err->status : CLIP_ERR_FORMAT;
  cfg_reader r = { path, err, false };
  cJSON *tc = merged_section(&r, root, "text_config", "text_config_dict");
  cJSON *vc = merged_section(&r, root, "vision_config", "vision_config_dict");
  in->text_width = cfg_int(&r, tc, "text_config", "hidden_size", 512);
  in->text_mlp = cfg_int(&r, tc, "text_config", "intermediate_size", 2048);
  in->text_heads = cfg_int(&r, tc, "text_config", "num_attention_heads", 8);
  in->text_layers = cfg_int(&r, tc, "text_config", "num_hidden_layers", 12);
  in->context_length = cfg_int(&r, tc, "text_config", "max_position_embeddings", 77);
  in->vocab_size = cfg_int(&r, tc, "text_config", "vocab_size", 49408);
  in->vision_width = cfg_int(&r, vc, "vision_config", "hidden_size", 768);
  in->vision_mlp = cfg_int(&r, vc, "vision_config", "intermediate_size", 3072);
  in->vision_heads = cfg_int(&r, vc, "vision_config", "num_attention_heads", 12);
  in->vision_layers = cfg_int(&r, vc, "vision_config", "num_hidden_layers", 12);
  in->image_size = cfg_int(&r, vc, "vision_config", "image_size", 224);
  in->patch_size = cfg_int(&r, vc, "vision_config", "patch_size", 32);
  int channels = cfg_int(&r, vc, "vision_config", "num_channels", 3);
  in->embed_dim = cfg_int(&r, root, "", "projection_dim", 512);
  double teps = cfg_number(&r, tc, "text_config", "layer_norm_eps", 1e-5);
  double veps = cfg_number(&r, vc, "vision_config", "layer_norm_eps", 1e-5);
  clip_activation tact = CLIP_ACT_QUICK_GELU, vact = CLIP_ACT_QUICK_GELU;
  if (!r.failed)
    hidden_act(&r, tc, "text_config", &tact);
  if (!r.failed)
    hidden_act(&r, vc, "vision_config", &vact);
  cJSON_Delete(tc);
  cJSON_Delete(vc);
  cJSON_Delete(root);
  if (r.failed)
    return err ? err->status : CLIP_ERR_FORMAT;
  if (channels != 3)
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED,
                          "%s: vision_config.num_channels: expected 3, found %d", path, channels);
  if (tact != vact || teps != veps)
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED,
                          "%s: text and vision towers use different hidden_act or layer_norm_eps "
                          "(expected the same for both)",
                          path);
  in->activation = tact;
  in->layer_norm_eps = (float) teps;
  return CLIP_OK;
}

/* Sizes out of range are refused here, before any tensor is looked at. */
clip_status
clip_config_check_sizes(const clip_model_info *in, const char *path, clip_error *err)
{
  const struct {
    const char *name;
    int value;
  } sizes[] = {
    { "text width", in->text_width },         { "text MLP size", in->text_mlp },
    { "text heads", in->text_heads },         { "text layers", in->text_layers },
    { "context length", in->context_length }, { "vocab size", in->vocab_size },
    { "vision width", in->vision_width },     { "vision MLP size", in->vision_mlp },
    { "vision heads", in->vision_heads },     { "vision layers", in->vision_layers },
    { "image size", in->image_size },         { "patch size", in->patch_size },
    { "projection dim", in->embed_dim },
  };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    if (sizes[i].value <= 0 || sizes[i].value > MAX_SIZE)
      return clip_set_error(err, CLIP_ERR_FORMAT, "%s: %s: expected 1 to %d, found %d", path,
                            sizes[i].name, MAX_SIZE, sizes[i].value);
  if (in->text_width % in->text_heads)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: text width %d is not divisible by its %d heads", path,
                          in->text_width, in->text_heads);
  if (in->vision_width % in->vision_heads)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: vision width %d is not divisible by its %d heads", path,
                          in->vision_width, in->vision_heads);
  if (in->image_size % in->patch_size)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: image size %d is not a multiple of the patch size %d", path,
                          in->image_size, in->patch_size);
  if ((int64_t) 3 * in->patch_size * in->patch_size > MAX_SIZE)
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s: patch size %d is absurd (3·P² > %d)", path,
                          in->patch_size, MAX_SIZE);
  int64_t grid = in->image_size / in->patch_size;
  if (grid * grid > MAX_SIZE)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: %" PRId64 " patches per image is absurd (image size %d, patch size "
                          "%d; at most %d)",
                          path, grid * grid, in->image_size, in->patch_size, MAX_SIZE);
  if (!(in->layer_norm_eps > 0 && in->layer_norm_eps < 1))
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s: layer_norm_eps: expected (0, 1), found %g",
                          path, in->layer_norm_eps);
  return CLIP_OK;
}

/* preprocessor_config.json: mean, std and a check of the crop size. */
clip_status
clip_config_preprocessor(clip_model_info *in, const char *path, clip_error *err)
{
  cJSON *root = read_json(path, err);
  if (!root)
    return err ? err->status : CLIP_ERR_FORMAT;
  cfg_reader r = { path, err, false };
  cfg_triple(&r, root, "image_mean", in->mean, false);
  cfg_triple(&r, root, "image_std", in->std, true);
  /* crop_size is {"height", "width"} in new files and a number in old ones. */
  const cJSON *crop = cJSON_GetObjectItemCaseSensitive(root, "crop_size");
  int h = in->image_size, w = in->image_size;
  if (cJSON_IsObject(crop)) {
    h = cfg_int(&r, crop, "crop_size", "height", h);
    w = cfg_int(&r, crop, "crop_size", "width", w);
  } else if (crop) {
    h = w = cfg_int(&r, root, "", "crop_size", h);
  }
  /* size: the shorter side after resizing ({"shortest_edge"} or a number);
   * the preprocessing resizes to the crop size, as CLIP's models all do. */
  const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
  int edge = in->image_size;
  if (cJSON_IsObject(size))
    edge = cfg_int(&r, size, "size", "shortest_edge", edge);
  else if (size)
    edge = cfg_int(&r, root, "", "size", edge);
  cJSON_Delete(root);
  if (r.failed)
    return err ? err->status : CLIP_ERR_FORMAT;
  if (h != in->image_size || w != in->image_size)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: crop_size %dx%d disagrees with the model's image size %d", path, w,
                          h, in->image_size);
  if (edge != in->image_size)
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED,
                          "%s: size %d differs from the image size %d (resizing to another size "
                          "before the crop is not supported)",
                          path, edge, in->image_size);
  return CLIP_OK;
}

/* Number of consecutive layers whose first tensor exists. */
static int
count_layers(const st_file *f, const char *fmt)
{
  int n = 0;
  char name[256];
  for (;; n++) {
    snprintf(name, sizeof name, fmt, n);
    if (!st_find(f, name) || n >= MAX_SIZE)
      return n;
  }
}

static int64_t
dim(const st_file *f, const char *name, int n_dims, int i)
{
  const st_tensor *t = st_find(f, name);
  return t && t->n_dims == n_dims ? t->shape[i] : -1;
}

static int
clamp_size(int64_t v)
{
  return v < 0 || v > MAX_SIZE ? -1 : (int) v;
}

/* Sizes of an OpenAI/open_clip checkpoint from its tensor shapes, the way
 * OpenAI's build_model() does (heads = width / 64), then open_clip_config.json
 * when present, whose values must agree with the shapes. */
clip_status
clip_config_openclip(clip_model_info *in, const st_file *f, const char *cfg_path, clip_error *err)
{
  const char *file = st_path(f);
  in->vision_width = clamp_size(dim(f, "visual.conv1.weight", 4, 0));
  in->patch_size = clamp_size(dim(f, "visual.conv1.weight", 4, 2));
  int64_t positions = dim(f, "visual.positional_embedding", 2, 0);
  int64_t grid = positions > 1 ? (int64_t) llround(sqrt((double) (positions - 1))) : 0;
  if (positions > 1 && grid * grid != positions - 1)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: visual.positional_embedding has %lld rows, expected 1 + a square "
                          "number of patches",
                          file, (long long) positions);
  in->image_size = grid > 0 && in->patch_size > 0 ? clamp_size(grid * in->patch_size) : -1;
  in->vision_layers = count_layers(f, "visual.transformer.resblocks.%d.ln_1.weight");
  in->vision_mlp = clamp_size(dim(f, "visual.transformer.resblocks.0.mlp.c_fc.weight", 2, 0));
  in->text_width = clamp_size(dim(f, "token_embedding.weight", 2, 1));
  in->vocab_size = clamp_size(dim(f, "token_embedding.weight", 2, 0));
  in->context_length = clamp_size(dim(f, "positional_embedding", 2, 0));
  in->text_layers = count_layers(f, "transformer.resblocks.%d.ln_1.weight");
  in->text_mlp = clamp_size(dim(f, "transformer.resblocks.0.mlp.c_fc.weight", 2, 0));
  in->embed_dim = clamp_size(dim(f, "text_projection", 2, 1));
  in->layer_norm_eps = 1e-5f;
  in->activation = CLIP_ACT_QUICK_GELU;
  int vision_head_width = 64, text_heads = in->text_width / 64;

  const struct {
    const char *name;
    int value;
  } inferred[] = {
    { "visual.conv1.weight", in->vision_width },  { "visual.positional_embedding", in->image_size },
    { "token_embedding.weight", in->text_width }, { "positional_embedding", in->context_length },
    { "text_projection", in->embed_dim },
  };
  for (size_t i = 0; i < sizeof inferred / sizeof inferred[0]; i++)
    if (inferred[i].value <= 0)
      return clip_set_error(err, CLIP_ERR_FORMAT,
                            "%s: tensor '%s' is missing or has an unexpected shape, so the model "
                            "size cannot be inferred",
                            file, inferred[i].name);
  if (in->vision_mlp <= 0)
    in->vision_mlp = 4 * in->vision_width; /* the missing tensor is reported later */
  if (in->text_mlp <= 0)
    in->text_mlp = 4 * in->text_width;

  if (cfg_path) {
    cJSON *root = read_json(cfg_path, err);
    if (!root)
      return err ? err->status : CLIP_ERR_FORMAT;
    cfg_reader r = { cfg_path, err, false };
    const cJSON *mc = cfg_object(&r, root, "model_cfg");
    const cJSON *vc = cfg_object(&r, mc, "vision_cfg");
    const cJSON *tc = cfg_object(&r, mc, "text_cfg");
    const cJSON *pc = cfg_object(&r, root, "preprocess_cfg");
    const cJSON *qg = mc ? cJSON_GetObjectItemCaseSensitive(mc, "quick_gelu") : NULL;
    /* open_clip's default is exact GELU; OpenAI-trained models say quick_gelu. */
    in->activation = cJSON_IsTrue(qg) ? CLIP_ACT_QUICK_GELU : CLIP_ACT_GELU;
    if (qg && !cJSON_IsBool(qg) && !r.failed) {
      clip_set_error(err, CLIP_ERR_FORMAT, "%s: model_cfg.quick_gelu: expected true or false",
                     cfg_path);
      r.failed = true;
    }
    vision_head_width = cfg_int(&r, vc, "vision_cfg", "head_width", 64);
    text_heads = cfg_int(&r, tc, "text_cfg", "heads", text_heads);
    const struct {
      const cJSON *obj;
      const char *section, *key;
      int value;
    } checks[] = {
      { mc, "model_cfg", "embed_dim", in->embed_dim },
      { vc, "vision_cfg", "width", in->vision_width },
      { vc, "vision_cfg", "layers", in->vision_layers },
      { vc, "vision_cfg", "patch_size", in->patch_size },
      { vc, "vision_cfg", "image_size", in->image_size },
      { tc, "text_cfg", "width", in->text_width },
      { tc, "text_cfg", "layers", in->text_layers },
      { tc, "text_cfg", "context_length", in->context_length },
      { tc, "text_cfg", "vocab_size", in->vocab_size },
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0] && !r.failed; i++) {
      int v = cfg_int(&r, checks[i].obj, checks[i].section, checks[i].key, checks[i].value);
      if (!r.failed && v != checks[i].value) {
        clip_set_error(err, CLIP_ERR_FORMAT, "%s: %s.%s is %d but %s has %d", cfg_path,
                       checks[i].section, checks[i].key, v, file, checks[i].value);
        r.failed = true;
      }
    }
    cfg_triple(&r, pc, "mean", in->mean, false);
    cfg_triple(&r, pc, "std", in->std, true);
    cJSON_Delete(root);
    if (r.failed)
      return err ? err->status : CLIP_ERR_FORMAT;
  }
  if (vision_head_width <= 0 || in->vision_width % vision_head_width)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: vision width %d is not a multiple of the head width %d", file,
                          in->vision_width, vision_head_width);
  in->vision_heads = in->vision_width / vision_head_width;
  in->text_heads = text_heads;
  return CLIP_OK;
}
