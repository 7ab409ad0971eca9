/* checkpoint.c — finds the files of a checkpoint, has its configuration
 * read (model-config.c), checks every tensor against it and lays the
 * weights out for the forward pass (model.h). Two namings map onto the same struct:
 *   Hugging Face  text_model.* / vision_model.* / *_projection.weight
 *   OpenAI/open_clip  token_embedding.weight, transformer.resblocks.*, visual.*
 * F32 aligned tensors, linear weights included (kept in PyTorch's [out][in]
 * layout), are used in place from the file's bytes (owned memory, see
 * safetensors.h): a load converts no fp32 data. */
#include "checkpoint.h"

#include <glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "error.h"
#include "model-config.h"
#include "readfile.h"

#define HUGE_PAGE ((size_t) 2 << 20)

static const float clip_mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
static const float clip_std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

typedef struct {
  clip_model *m;
  st_file *f;
  const char *file;   /* the weights file, for messages */
  const char *config; /* where sizes came from, for shape messages */
  clip_error *err;
  bool *used; /* per tensor of f, in header order: read by the model */
  /* Binding a tower the caller did not ask for (clip_params.towers): names,
   * shapes and dtypes are checked, the bytes are neither read nor scanned. */
  bool skip;
} loader;

/* What a skipped tensor is bound to until its tower is dropped. */
static const float skipped_tensor[1];

/* ---- owned memory ---- */

static float *
alloc_floats(loader *ld, size_t n, const char *what)
{
  clip_model *m = ld->m;
  if (n == 0)
    n = 1;
  float *p = NULL;
  if (n > (SIZE_MAX - HUGE_PAGE) / sizeof(float)) {
    /* too large: reported below */
  } else if (n * sizeof(float) >= HUGE_PAGE / 2) {
    /* Large converted weights (F16/BF16) on huge pages: 4 KB page faults
     * are otherwise much of the conversion's time. */
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t) 63;
    if (posix_memalign((void **) &p, HUGE_PAGE, bytes) != 0)
      p = NULL;
    else
      madvise(p, bytes, MADV_HUGEPAGE);
  } else {
    p = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t) 63);
  }
  if (p && m->n_owned == m->cap_owned) {
    int cap = m->cap_owned ? 2 * m->cap_owned : 64;
    void **owned = realloc(m->owned, (size_t) cap * sizeof *owned);
    if (!owned) {
      free(p);
      p = NULL;
    } else {
      m->owned = owned;
      m->cap_owned = cap;
    }
  }
  if (!p) {
    clip_set_error(ld->err, CLIP_ERR_NOMEM, "%s: out of memory for '%s' (%zu floats)", ld->file,
                   what, n);
    return NULL;
  }
  m->owned[m->n_owned++] = p;
  return p;
}

/* ---- tensors ---- */

static void
format_shape(char *buf, size_t size, int n_dims, const int64_t *shape)
{
  size_t len = (size_t) snprintf(buf, size, "[");
  for (int i = 0; i < n_dims && len < size; i++)
    len += (size_t) snprintf(buf + len, size - len, "%s%lld", i ? ", " : "", (long long) shape[i]);
  if (len < size)
    snprintf(buf + len, size - len, "]");
}

/* The tensor `name` with exactly the given shape (n_dims values, -1 = any),
 * or NULL with the error set. */
static const st_tensor *
need(loader *ld, const char *name, int n_dims, ...)
{
  const st_tensor *t = st_find(ld->f, name);
  if (!t) {
    clip_set_error(ld->err, CLIP_ERR_FORMAT, "%s: required tensor '%s' is missing", ld->file, name);
    return NULL;
  }
  ld->used[t - st_get(ld->f, 0)] = true;
  int64_t want[ST_MAX_DIMS];
  va_list ap;
  va_start(ap, n_dims);
  bool ok = t->n_dims == n_dims;
  for (int i = 0; i < n_dims; i++) {
    want[i] = va_arg(ap, int64_t);
    ok = ok && (want[i] < 0 || want[i] == t->shape[i]);
  }
  va_end(ap);
  if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
    clip_set_error(ld->err, CLIP_ERR_FORMAT,
                   "%s: tensor '%s': expected dtype F32, F16 or BF16, found %s", ld->file, name,
                   st_dtype_name(t->dtype));
    return NULL;
  }
  if (!ok) {
    char e[128], f[128];
    format_shape(e, sizeof e, n_dims, want);
    format_shape(f, sizeof f, t->n_dims, t->shape);
    clip_set_error(ld->err, CLIP_ERR_FORMAT,
                   "%s: tensor '%s': expected shape %s (from %s), found %s", ld->file, name, e,
                   ld->config, f);
    return NULL;
  }
  return t;
}

#define NEED1(ld, name, a) need(ld, name, 1, (int64_t) (a))
#define NEED2(ld, name, a, b) need(ld, name, 2, (int64_t) (a), (int64_t) (b))

/* A NaN or infinity in the weights turns every answer into NaN (scores
 * of -nan with a top label all the same), so it is a model error at load;
 * the scan costs about as much as reading the weights once. */
static bool
all_finite(loader *ld, const char *name, const float *v, size_t n)
{
  /* Whole blocks of a fixed length tested with an OR of exponent checks
   * (a loop the compiler vectorizes even at -O2), the element found only
   * when a block has one. */
  enum { BLOCK = 4096 };
  size_t b = 0;
  for (; b + BLOCK <= n; b += BLOCK) {
    uint32_t bad = 0;
    for (size_t i = 0; i < BLOCK; i++) {
      uint32_t bits;
      memcpy(&bits, v + b + i, sizeof bits);
      bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    if (bad)
      break;
  }
  if (b + BLOCK > n) {
    bool bad = false;
    for (size_t i = b; i < n; i++)
      bad |= !isfinite(v[i]);
    if (!bad)
      return true;
  }
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) {
      clip_set_error(ld->err, CLIP_ERR_FORMAT,
                     "%s: tensor '%s' holds %s at element %zu (weights must be finite)", ld->file,
                     name, isnan(v[i]) ? "NaN" : "an infinity", i);
      return false;
    }
  return true;
}

/* The tensor as float32: in place when F32 and aligned, else a converted copy. */
static const float *
as_f32(loader *ld, const st_tensor *t)
{
  if (!t)
    return NULL;
  if (ld->skip)
    return skipped_tensor;
  if (st_fetch(ld->f, t, ld->err) != CLIP_OK)
    return NULL;
  const float *direct = st_f32_direct(t);
  if (direct)
    return all_finite(ld, t->name, direct, (size_t) t->n_elements) ? direct : NULL;
  float *copy = alloc_floats(ld, (size_t) t->n_elements, t->name);
  if (!copy || st_to_f32(t, copy, ld->err) != CLIP_OK
      || !all_finite(ld, t->name, copy, (size_t) t->n_elements))
    return NULL;
  st_release(ld->f, t);
  return copy;
}

/* Part p of a linear layer's weights: deferred (read when the model is
 * prepared, and only if the backend has no packed copy of the layer), or
 * bound to the placeholder in a skipped tower. */
static bool
defer_weight(loader *ld, clip_linear *lin, int p, const st_tensor *w)
{
  if (!w)
    return false;
  if (ld->skip)
    lin->w = skipped_tensor;
  else
    lin->source[p] = w;
  return true;
}

/* A bias-free linear layer from a PyTorch [out][in] weight (trailing dims
 * flattened into in, as for conv1), kept in that layout: GEMM reads it
 * transposed at about the cost of a copied [in][out] one, so an F32 weight
 * is used straight from the file's bytes. */
static bool
linear_from_torch_nobias(loader *ld, clip_linear *lin, const st_tensor *w, int in, int out)
{
  if (!w)
    return false;
  lin->in = in;
  lin->out = out;
  lin->b = NULL;
  lin->transposed = true;
  return defer_weight(ld, lin, 0, w);
}

/* A linear layer from a PyTorch [out][in] weight and an [out] bias; NULL w
 * or b (not found, error set) fails. */
static bool
linear_from_torch(loader *ld, clip_linear *lin, const st_tensor *w, const st_tensor *b, int in,
                  int out)
{
  if (!w || !b)
    return false;
  return linear_from_torch_nobias(ld, lin, w, in, out) && (lin->b = as_f32(ld, b)) != NULL;
}

/* A plain [in][out] matrix used as x @ W (OpenAI's projections). */
static bool
linear_from_matrix(loader *ld, clip_linear *lin, const st_tensor *w, int in, int out)
{
  lin->in = in;
  lin->out = out;
  lin->b = NULL;
  lin->transposed = false;
  return defer_weight(ld, lin, 0, w);
}

static bool
norm(loader *ld, clip_norm *n, const char *prefix, const char *weight, const char *bias, int width)
{
  char name[256];
  snprintf(name, sizeof name, "%s%s", prefix, weight);
  n->g = as_f32(ld, NEED1(ld, name, width));
  if (!n->g)
    return false;
  snprintf(name, sizeof name, "%s%s", prefix, bias);
  n->b = as_f32(ld, NEED1(ld, name, width));
  return n->b != NULL;
}

/* ---- transformer blocks in either naming ---- */

static bool
block_hf(loader *ld, clip_block *blk, const char *prefix, int width, int mlp)
{
  char n[256], nb[256];
#define NAME(buf, suffix) (snprintf(buf, sizeof buf, "%s%s", prefix, suffix), buf)
  if (!norm(ld, &blk->ln1, prefix, "layer_norm1.weight", "layer_norm1.bias", width)
      || !norm(ld, &blk->ln2, prefix, "layer_norm2.weight", "layer_norm2.bias", width))
    return false;

  /* q, k, v are the row blocks of one fused [3·width][width] layer (the
   * layout of open_clip's in_proj_weight), each used in place. */
  static const char *const parts[3] = { "q", "k", "v" };
  float *b = alloc_floats(ld, 3 * (size_t) width, "qkv bias");
  if (!b)
    return false;
  blk->qkv =
      (clip_linear){ .b = b, .in = width, .out = 3 * width, .transposed = true, .n_split = 3 };
  for (int p = 0; p < 3; p++) {
    char suffix[64];
    snprintf(suffix, sizeof suffix, "self_attn.%s_proj.weight", parts[p]);
    if (!defer_weight(ld, &blk->qkv, p, NEED2(ld, NAME(n, suffix), width, width)))
      return false;
    snprintf(suffix, sizeof suffix, "self_attn.%s_proj.bias", parts[p]);
    const st_tensor *tb = NEED1(ld, NAME(n, suffix), width);
    if (!tb)
      return false;
    if (!ld->skip
        && (st_fetch(ld->f, tb, ld->err) != CLIP_OK
            || st_to_f32(tb, b + (size_t) p * width, ld->err) != CLIP_OK
            || !all_finite(ld, tb->name, b + (size_t) p * width, (size_t) width)))
      return false;
  }

  return linear_from_torch(ld, &blk->attn_out,
                           NEED2(ld, NAME(n, "self_attn.out_proj.weight"), width, width),
                           NEED1(ld, NAME(nb, "self_attn.out_proj.bias"), width), width, width)
         && linear_from_torch(ld, &blk->fc1, NEED2(ld, NAME(n, "mlp.fc1.weight"), mlp, width),
                              NEED1(ld, NAME(nb, "mlp.fc1.bias"), mlp), width, mlp)
         && linear_from_torch(ld, &blk->fc2, NEED2(ld, NAME(n, "mlp.fc2.weight"), width, mlp),
                              NEED1(ld, NAME(nb, "mlp.fc2.bias"), width), mlp, width);
}

static bool
block_openclip(loader *ld, clip_block *blk, const char *prefix, int width, int mlp)
{
  char n[256], nb[256];
  return norm(ld, &blk->ln1, prefix, "ln_1.weight", "ln_1.bias", width)
         && norm(ld, &blk->ln2, prefix, "ln_2.weight", "ln_2.bias", width) &&
         /* in_proj_weight rows are q | k | v: the fused layout already. */
         linear_from_torch(ld, &blk->qkv,
                           NEED2(ld, NAME(n, "attn.in_proj_weight"), 3 * width, width),
                           NEED1(ld, NAME(nb, "attn.in_proj_bias"), 3 * width), width, 3 * width)
         && linear_from_torch(ld, &blk->attn_out,
                              NEED2(ld, NAME(n, "attn.out_proj.weight"), width, width),
                              NEED1(ld, NAME(nb, "attn.out_proj.bias"), width), width, width)
         && linear_from_torch(ld, &blk->fc1, NEED2(ld, NAME(n, "mlp.c_fc.weight"), mlp, width),
                              NEED1(ld, NAME(nb, "mlp.c_fc.bias"), mlp), width, mlp)
         && linear_from_torch(ld, &blk->fc2, NEED2(ld, NAME(n, "mlp.c_proj.weight"), width, mlp),
                              NEED1(ld, NAME(nb, "mlp.c_proj.bias"), width), mlp, width);
#undef NAME
}

static bool
tower(loader *ld, clip_tower *t, const char *layer_fmt, bool hf)
{
  t->blocks = calloc((size_t) t->layers, sizeof *t->blocks);
  if (!t->blocks) {
    clip_set_error(ld->err, CLIP_ERR_NOMEM, "%s: out of memory for %d blocks", ld->file, t->layers);
    return false;
  }
  for (int i = 0; i < t->layers; i++) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, layer_fmt, i);
    if (!(hf ? block_hf : block_openclip)(ld, &t->blocks[i], prefix, t->width, t->mlp))
      return false;
  }
  return true;
}

static bool
logit_scale(loader *ld, const char *name)
{
  const st_tensor *t = st_find(ld->f, name);
  float v;
  if (!t) {
    clip_set_error(ld->err, CLIP_ERR_FORMAT, "%s: required tensor '%s' is missing", ld->file, name);
    return false;
  }
  ld->used[t - st_get(ld->f, 0)] = true;
  if (t->n_elements != 1) {
    char f[128];
    format_shape(f, sizeof f, t->n_dims, t->shape);
    clip_set_error(ld->err, CLIP_ERR_FORMAT, "%s: tensor '%s': expected a scalar, found shape %s",
                   ld->file, name, f);
    return false;
  }
  if (st_fetch(ld->f, t, ld->err) != CLIP_OK || st_to_f32(t, &v, ld->err) != CLIP_OK)
    return false;
  if (!isfinite(v)) {
    clip_set_error(ld->err, CLIP_ERR_FORMAT, "%s: tensor '%s' is not finite", ld->file, name);
    return false;
  }
  ld->m->info.logit_scale = v;
  return true;
}

/* ---- weights in each naming ---- */

static bool
weights_hf(loader *ld)
{
  clip_model *m = ld->m;
  const clip_model_info *in = &m->info;
  int vw = in->vision_width, tw = in->text_width, p = in->patch_size, d = in->embed_dim;
  int grid = in->image_size / p;
  ld->skip = m->params.towers == CLIP_TOWERS_VISION;
  m->token_embed =
      as_f32(ld, NEED2(ld, "text_model.embeddings.token_embedding.weight", in->vocab_size, tw));
  if (!m->token_embed)
    return false;
  m->text_pos = as_f32(
      ld, NEED2(ld, "text_model.embeddings.position_embedding.weight", in->context_length, tw));
  if (!m->text_pos || !tower(ld, &m->text, "text_model.encoder.layers.%d.", true)
      || !norm(ld, &m->ln_final, "text_model.final_layer_norm.", "weight", "bias", tw)
      || !linear_from_torch_nobias(ld, &m->text_proj, NEED2(ld, "text_projection.weight", d, tw),
                                   tw, d))
    return false;

  ld->skip = m->params.towers == CLIP_TOWERS_TEXT;
  if (!linear_from_torch_nobias(ld, &m->patch_embed,
                                need(ld, "vision_model.embeddings.patch_embedding.weight", 4,
                                     (int64_t) vw, (int64_t) 3, (int64_t) p, (int64_t) p),
                                3 * p * p, vw))
    return false;
  m->class_embed = as_f32(ld, NEED1(ld, "vision_model.embeddings.class_embedding", vw));
  if (!m->class_embed)
    return false;
  m->vision_pos = as_f32(
      ld, NEED2(ld, "vision_model.embeddings.position_embedding.weight", 1 + grid * grid, vw));
  return m->vision_pos && norm(ld, &m->ln_pre, "vision_model.pre_layrnorm.", "weight", "bias", vw)
         && tower(ld, &m->vision, "vision_model.encoder.layers.%d.", true)
         && norm(ld, &m->ln_post, "vision_model.post_layernorm.", "weight", "bias", vw)
         && linear_from_torch_nobias(ld, &m->visual_proj,
                                     NEED2(ld, "visual_projection.weight", d, vw), vw, d);
}

static bool
weights_openclip(loader *ld)
{
  clip_model *m = ld->m;
  const clip_model_info *in = &m->info;
  int vw = in->vision_width, tw = in->text_width, p = in->patch_size, d = in->embed_dim;
  int grid = in->image_size / p;
  ld->skip = m->params.towers == CLIP_TOWERS_VISION;
  m->token_embed = as_f32(ld, NEED2(ld, "token_embedding.weight", in->vocab_size, tw));
  if (!m->token_embed)
    return false;
  m->text_pos = as_f32(ld, NEED2(ld, "positional_embedding", in->context_length, tw));
  if (!m->text_pos || !tower(ld, &m->text, "transformer.resblocks.%d.", false)
      || !norm(ld, &m->ln_final, "ln_final.", "weight", "bias", tw)
      || !linear_from_matrix(ld, &m->text_proj, NEED2(ld, "text_projection", tw, d), tw, d))
    return false;

  ld->skip = m->params.towers == CLIP_TOWERS_TEXT;
  if (!linear_from_torch_nobias(
          ld, &m->patch_embed,
          need(ld, "visual.conv1.weight", 4, (int64_t) vw, (int64_t) 3, (int64_t) p, (int64_t) p),
          3 * p * p, vw))
    return false;
  m->class_embed = as_f32(ld, NEED1(ld, "visual.class_embedding", vw));
  if (!m->class_embed)
    return false;
  m->vision_pos = as_f32(ld, NEED2(ld, "visual.positional_embedding", 1 + grid * grid, vw));
  return m->vision_pos && norm(ld, &m->ln_pre, "visual.ln_pre.", "weight", "bias", vw)
         && tower(ld, &m->vision, "visual.transformer.resblocks.%d.", false)
         && norm(ld, &m->ln_post, "visual.ln_post.", "weight", "bias", vw)
         && linear_from_matrix(ld, &m->visual_proj, NEED2(ld, "visual.proj", vw, d), vw, d);
}

/* ---- files ---- */

/* Whether something is at path: a FIFO or directory where a file should
 * be counts, so that reading it reports what it is instead of "missing". */
static bool
is_file(const char *path)
{
  return clip_path_type(path, NULL) != 0;
}

/* The status already in err, for callees that only return NULL/false. */
static clip_status
fail_from(clip_error *err, clip_status fallback)
{
  return err && err->status != CLIP_OK ? err->status : fallback;
}

/* vocab.json + merges.txt in dir: both (a tokenizer), neither (NULL, the
 * model can still encode given ids), or one alone (an error). */
static clip_status
load_tokenizer(clip_model *m, const char *dir, clip_error *err)
{
  char *vocab = g_build_filename(dir, "vocab.json", NULL);
  char *merges = g_build_filename(dir, "merges.txt", NULL);
  clip_status st = CLIP_OK;
  bool hv = is_file(vocab), hm = is_file(merges);
  if (hv != hm) {
    st = clip_set_error(err, CLIP_ERR_FORMAT, "%s: missing (%s is there; both are needed)",
                        hv ? merges : vocab, hv ? vocab : merges);
  } else if (hv) {
    m->tokenizer = clip_tokenizer_load(vocab, merges, err);
    if (!m->tokenizer)
      st = fail_from(err, CLIP_ERR_FORMAT);
  }
  if (st == CLIP_OK && m->tokenizer) {
    int n = clip_tokenizer_vocab_size(m->tokenizer);
    if (n > m->info.vocab_size)
      st = clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: %d tokens, but the token embedding has only %d rows", vocab, n,
                          m->info.vocab_size);
  }
  g_free(vocab);
  g_free(merges);
  return st;
}

/* Naming of a weights file by its characteristic tensors. */
typedef enum { NAMING_UNKNOWN, NAMING_HF, NAMING_OPENCLIP } naming;

static naming
detect_naming(const st_file *f)
{
  if (st_find(f, "text_model.embeddings.token_embedding.weight")
      || st_find(f, "vision_model.embeddings.patch_embedding.weight"))
    return NAMING_HF;
  if (st_find(f, "token_embedding.weight") || st_find(f, "visual.conv1.weight"))
    return NAMING_OPENCLIP;
  return NAMING_UNKNOWN;
}

/* Float tensors the model did not read mean the configuration describes
 * less than the file holds (fewer layers, most often): the forward pass
 * would silently be another model. Integer buffers (position_ids) and
 * scalars some exports add are not weights and may stay unread. */
static clip_status
check_all_used(const loader *ld)
{
  int unused = 0;
  const st_tensor *first = NULL;
  for (int i = 0; i < st_count(ld->f); i++) {
    const st_tensor *t = st_get(ld->f, i);
    bool weight =
        (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) && t->n_dims > 0;
    if (!ld->used[i] && weight) {
      unused++;
      if (!first)
        first = t;
    }
  }
  if (!unused)
    return CLIP_OK;
  return clip_set_error(
      ld->err, CLIP_ERR_FORMAT,
      "%s: %d tensor%s not used by the model that %s describes, first '%s' (does it "
      "declare fewer layers than the file holds?)",
      ld->file, unused, unused == 1 ? " is" : "s are", ld->config, first->name);
}

/* Unbinds the tower the caller did not ask for (its tensors were checked
 * but not read): the forward pass and the backends see no such tower. */
static void
drop_towers(clip_model *m)
{
  if (m->params.towers == CLIP_TOWERS_VISION) {
    m->token_embed = m->text_pos = NULL;
    free(m->text.blocks);
    m->text.blocks = NULL;
    m->ln_final = (clip_norm){ 0 };
    m->text_proj = (clip_linear){ 0 };
  } else if (m->params.towers == CLIP_TOWERS_TEXT) {
    m->class_embed = m->vision_pos = NULL;
    free(m->vision.blocks);
    m->vision.blocks = NULL;
    m->ln_pre = m->ln_post = (clip_norm){ 0 };
    m->patch_embed = m->visual_proj = (clip_linear){ 0 };
  }
}

/* Which files a path names: a directory with config.json (Hugging Face), a
 * directory with open_clip_model.safetensors, or a weights file (config is
 * then found beside it once the naming is known). */
static clip_status
locate(const char *path, char **dir, char **weights, char **config, clip_error *err)
{
  clip_status st = CLIP_OK;
  const char *why = NULL;
  char type = clip_path_type(path, &why);
  if (type == 'd') {
    *dir = g_strdup(path);
    *config = g_build_filename(*dir, "config.json", NULL);
    char *hf = g_build_filename(*dir, "model.safetensors", NULL);
    char *oc = g_build_filename(*dir, "open_clip_model.safetensors", NULL);
    if (is_file(*config)) {
      *weights = hf, hf = NULL;
      if (!is_file(*weights))
        st = clip_set_error(err, CLIP_ERR_IO,
                            "%s: missing (a Hugging Face checkpoint directory has config.json "
                            "and model.safetensors)",
                            *weights);
    } else if (is_file(oc)) {
      *weights = oc, oc = NULL;
      g_free(*config), *config = NULL;
    } else if (is_file(hf)) {
      st = clip_set_error(err, CLIP_ERR_IO, "%s: missing (model.safetensors needs its config.json)",
                          *config);
    } else {
      st = clip_set_error(err, CLIP_ERR_IO,
                          "%s: no checkpoint found (expected config.json + model.safetensors, or "
                          "open_clip_model.safetensors)",
                          path);
    }
    g_free(hf);
    g_free(oc);
  } else if (type == 'f') {
    *dir = g_path_get_dirname(path);
    *weights = g_strdup(path);
  } else if (type == 'o') {
    st = clip_set_error(err, CLIP_ERR_IO,
                        "%s: is %s, not a checkpoint (a safetensors file or a directory)", path,
                        why);
  } else {
    st = clip_set_error(err, CLIP_ERR_IO, "%s: cannot open the checkpoint: %s", path, why);
  }
  return st;
}

clip_status
clip_checkpoint_load(clip_model *m, const char *path, clip_error *err)
{
  clip_model_info *in = &m->info;
  if (err)
    err->status = CLIP_OK;
  m->path = g_strdup(path);
  in->path = m->path;
  memcpy(in->mean, clip_mean, sizeof in->mean);
  memcpy(in->std, clip_std, sizeof in->std);

  char *dir = NULL, *weights = NULL, *config = NULL, *oc_config = NULL;
  clip_status st = locate(path, &dir, &weights, &config, err);
  if (st != CLIP_OK)
    goto out;

  st_file *f = m->files[0] = st_open_lazy(weights, m->params.map_file, err);
  if (!f) {
    st = fail_from(err, CLIP_ERR_FORMAT);
    goto out;
  }
  naming nm = detect_naming(f);
  loader ld = { m, f, weights, NULL, err, NULL, false };
  if (nm == NAMING_HF) {
    if (!config)
      config = g_build_filename(dir, "config.json", NULL);
    if (!is_file(config)) {
      st = clip_set_error(err, CLIP_ERR_IO, "%s: missing (needed for the Hugging Face names in %s)",
                          config, weights);
      goto out;
    }
    if ((st = clip_config_hf(in, config, err)) != CLIP_OK
        || (st = clip_config_check_sizes(in, config, err)) != CLIP_OK)
      goto out;
    char *pp = g_build_filename(dir, "preprocessor_config.json", NULL);
    if (is_file(pp))
      st = clip_config_preprocessor(in, pp, err);
    g_free(pp);
    if (st != CLIP_OK)
      goto out;
    in->naming = "huggingface";
    ld.config = "config.json";
  } else if (nm == NAMING_OPENCLIP) {
    oc_config = g_build_filename(dir, "open_clip_config.json", NULL);
    if (!is_file(oc_config))
      g_free(oc_config), oc_config = NULL;
    if ((st = clip_config_openclip(in, f, oc_config, err)) != CLIP_OK
        || (st = clip_config_check_sizes(in, oc_config ? oc_config : weights, err)) != CLIP_OK)
      goto out;
    in->naming = "openclip";
    ld.config = oc_config ? "open_clip_config.json" : "the other tensor shapes";
  } else {
    st = clip_set_error(err, CLIP_ERR_FORMAT,
                        "%s: unknown naming: neither Hugging Face CLIP tensors "
                        "(text_model.*, vision_model.*) nor OpenAI/open_clip ones "
                        "(token_embedding.weight, visual.*) found",
                        weights);
    goto out;
  }
  m->text.width = in->text_width, m->text.layers = in->text_layers;
  m->text.heads = in->text_heads, m->text.mlp = in->text_mlp;
  m->vision.width = in->vision_width, m->vision.layers = in->vision_layers;
  m->vision.heads = in->vision_heads, m->vision.mlp = in->vision_mlp;
  const st_tensor *probe =
      st_find(f, nm == NAMING_HF ? "text_model.embeddings.token_embedding.weight"
                                 : "token_embedding.weight");
  in->dtype = probe ? st_dtype_name(probe->dtype) : "F32";

  ld.used = calloc((size_t) st_count(f) + 1, sizeof *ld.used);
  if (!ld.used) {
    st = clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory", weights);
    goto out;
  }
  bool loaded = nm == NAMING_HF ? weights_hf(&ld) : weights_openclip(&ld);
  ld.skip = false;
  loaded = loaded && logit_scale(&ld, "logit_scale");
  if (loaded)
    st = check_all_used(&ld);
  drop_towers(m);
  free(ld.used);
  if (!loaded) {
    st = fail_from(err, CLIP_ERR_FORMAT);
    goto out;
  }
  if (st != CLIP_OK)
    goto out;
  if ((st = load_tokenizer(m, dir, err)) != CLIP_OK)
    goto out;
  m->eot_id = m->tokenizer ? clip_tokenizer_eot(m->tokenizer) : in->vocab_size - 1;
  m->sot_id = m->tokenizer ? clip_tokenizer_sot(m->tokenizer) : in->vocab_size - 2;

out:
  g_free(dir);
  g_free(weights);
  g_free(config);
  g_free(oc_config);
  return st;
}

clip_status
clip_checkpoint_layer_weights(clip_model *m, clip_linear *lin, clip_error *err)
{
  st_file *f = m->files[0];
  loader ld = { m, f, f ? st_path(f) : m->path, NULL, err, NULL, false };
  for (int p = 0; p < 3; p++) {
    if (!lin->source[p])
      continue;
    const float *w = as_f32(&ld, lin->source[p]);
    if (!w)
      return fail_from(err, CLIP_ERR_FORMAT);
    if (lin->n_split > 0)
      lin->split[p] = w;
    else
      lin->w = w;
    lin->source[p] = NULL;
  }
  return CLIP_OK;
}

clip_status
clip_checkpoint_seal(clip_model *m, clip_error *err)
{
  return st_seal(m->files[0], err);
}

void
clip_checkpoint_release(clip_model *m)
{
  clip_tokenizer_free(m->tokenizer);
  m->tokenizer = NULL;
  for (int i = 0; i < m->n_owned; i++)
    free(m->owned[i]);
  free(m->owned);
  m->owned = NULL;
  m->n_owned = m->cap_owned = 0;
  free(m->vision.blocks);
  free(m->text.blocks);
  m->vision.blocks = m->text.blocks = NULL;
  for (size_t i = 0; i < sizeof m->files / sizeof m->files[0]; i++) {
    st_close(m->files[i]);
    m->files[i] = NULL;
  }
  g_free(m->path);
  m->path = NULL;
  m->info.path = NULL;
}
