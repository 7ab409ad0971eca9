/* clip.h — CLIP inference engine (image and text towers, tokenizer,
 * preprocessing, zero-shot scoring) in plain C on OpenBLAS or oneDNN.
 *
 * Usage: zero-shot classification of one frame
 *
 *     #include "clip.h"
 *
 *     clip_error err = { 0 };
 *     clip_params params = clip_default_params();
 *     params.n_threads = 4;
 *     clip_model *model = clip_model_load("models/clipfilter-mini", &params, &err);
 *     if (!model) {
 *       fprintf(stderr, "%s: %s\n", clip_status_name(err.status), err.message);
 *       return 1;
 *     }
 *     const clip_model_info *info = clip_model_get_info(model);
 *     clip_ctx *ctx = clip_ctx_new(model, &err);      // one per encoding thread
 *
 *     // The labels, once: "synonym|synonym", each put into every template.
 *     const char *labels[] = { "a dog|a puppy", "a cat" };
 *     const char *templates[] = { "a photo of {}." };
 *     float *label_embeds = malloc(2 * info->embed_dim * sizeof(float));
 *     clip_embed_labels(ctx, labels, 2, templates, 1, label_embeds, &err);
 *
 *     // Every frame: preprocess, encode, score.
 *     clip_image frame = { .format = CLIP_FORMAT_RGB, .width = w, .height = h,
 *                          .planes = { rgb }, .strides = { 3 * w } };
 *     const int S = info->image_size;
 *     float *pixels = malloc(3 * S * S * sizeof(float));
 *     float *embed = malloc(info->embed_dim * sizeof(float));
 *     float probs[2];
 *     if (clip_preprocess(model, &frame, pixels, &err) != CLIP_OK
 *         || clip_encode_images(ctx, pixels, 1, embed, NULL, &err) != CLIP_OK)
 *       fprintf(stderr, "%s\n", err.message);         // ctx stays usable
 *     else
 *       clip_score(model, embed, label_embeds, 2, NULL, probs);
 *
 *     free(embed), free(pixels), free(label_embeds);
 *     clip_ctx_free(ctx);                               // contexts before their model
 *     clip_model_free(model);
 *
 * Thread-safety contract
 *   - A clip_model is immutable once clip_model_load() has returned: any number
 *     of threads may read it at once (tokenize, info, preprocess, score).
 *   - A clip_ctx holds the scratch memory of a forward pass. One thread at a
 *     time may use a given clip_ctx; create one context per thread that
 *     encodes. A context must be freed before its model.
 *   - No function keeps hidden global state, and none calls exit()/abort()
 *     on bad input: every failure is returned as a clip_status together with
 *     a message in the caller's clip_error (which may be NULL).
 *
 * Memory: every output buffer is owned by the caller and sized as documented.
 */
#ifndef CLIP_H
#define CLIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  CLIP_OK = 0,
  CLIP_ERR_ARG,         /* invalid argument from the caller */
  CLIP_ERR_IO,          /* a file could not be opened, read or mapped */
  CLIP_ERR_FORMAT,      /* a file is malformed or inconsistent */
  CLIP_ERR_UNSUPPORTED, /* valid input that this build cannot handle */
  CLIP_ERR_NOMEM,       /* an allocation failed */
} clip_status;

/* Error report filled by every fallible call: the status and a message that
 * names the file or field and says what was expected and what was found. */
typedef struct {
  clip_status status;
  char message[1024];
} clip_error;

typedef enum { CLIP_BACKEND_DEFAULT = 0, CLIP_BACKEND_OPENBLAS, CLIP_BACKEND_ONEDNN } clip_backend;
typedef enum { CLIP_PRECISION_FP32 = 0, CLIP_PRECISION_BF16 } clip_precision;

/* Which towers clip_model_load() reads. A model loaded with one tower reads
 * from the file, converts, checks and prepares only that tower's weights
 * (the other's names and shapes are still checked), so a text-only load
 * (one search query) or a vision-only one (an indexer whose labels are
 * already embedded) starts faster and holds less memory. Encoding with the
 * missing tower fails with CLIP_ERR_ARG. */
typedef enum {
  CLIP_TOWERS_ALL = 0, /* both towers (the default) */
  CLIP_TOWERS_TEXT,    /* text tower only: clip_encode_texts, clip_embed_labels */
  CLIP_TOWERS_VISION,  /* vision tower only: clip_encode_images */
} clip_towers;

/* Load-time parameters; start from clip_default_params(). */
typedef struct {
  int n_threads;            /* threads for matrix products; <= 0: all cores */
  clip_backend backend;     /* DEFAULT: oneDNN when built with it, else OpenBLAS */
  clip_precision precision; /* BF16 needs the oneDNN backend */
  clip_towers towers;       /* ALL by default; see clip_towers */
  bool map_file;            /* map the checkpoint instead of reading it (clip_model_load) */
} clip_params;

/* Defaults; the environment variables CLIP_BACKEND (openblas | onednn) and
 * CLIP_PRECISION (fp32 | bf16) override backend and precision, and
 * CLIP_MODEL_MMAP=1 sets map_file. */
clip_params clip_default_params(void);

typedef struct clip_model clip_model;
typedef struct clip_ctx clip_ctx;

typedef enum { CLIP_ACT_QUICK_GELU = 0, CLIP_ACT_GELU } clip_activation;

/* Facts about a loaded model (clip_model_info()). */
typedef struct {
  int image_size; /* model input is [3, image_size, image_size] */
  int patch_size;
  int vision_width, vision_layers, vision_heads, vision_mlp;
  int text_width, text_layers, text_heads, text_mlp;
  int vocab_size;
  int context_length; /* tokens per text, 77 for CLIP */
  int embed_dim;      /* projection dimension */
  clip_activation activation;
  float layer_norm_eps;
  float logit_scale; /* log of the temperature, as stored in the weights */
  float mean[3], std[3];
  const char *dtype;  /* dtype of the checkpoint's weights: "F32", "F16", "BF16" */
  const char *naming; /* "huggingface" or "openclip" */
  const char *path;   /* the file or directory it was loaded from */
} clip_model_info;

/* Finds the model called @name: a path (absolute, containing a directory
 * separator, or existing relative to the working directory) is returned as
 * written; otherwise the first of these directories holding an entry @name:
 * each of $CLIPFILTER_MODEL_PATH (':'-separated), then
 * $XDG_DATA_HOME/clipfilter/models (~/.local/share/... by default, where
 * models/fetch-model.sh downloads), then @dirs (NULL-terminated, may be
 * NULL; a build's installed and source models directories). Returns a path
 * to free() with free(), or NULL when none holds it. If @searched is not
 * NULL it receives the directories tried, ", "-separated (free() it). */
char *clip_model_resolve(const char *name, const char *const *dirs, char **searched);

/* Loads a checkpoint: a Hugging Face directory (config.json,
 * model.safetensors, vocab.json, merges.txt, preprocessor_config.json), an
 * open_clip safetensors file, or a directory holding one. NULL params means
 * defaults. Returns NULL and fills err on failure.
 *
 * The weights are read into the process's own memory, so a model file
 * replaced or truncated while the model is loaded changes nothing (one
 * written to during the load fails it with CLIP_ERR_IO);
 * params->map_file maps the file instead (less memory per process, but
 * the file must then only ever be replaced by rename()). On oneDNN, the
 * packed weights of a large model are kept in CLIP_WEIGHT_CACHE (default
 * ~/.cache/clipfilter, "off" to disable) and mapped by later loads, which
 * then do not read those weights from the checkpoint. Only the towers in
 * params->towers are read. */
clip_model *clip_model_load(const char *path, const clip_params *params, clip_error *err);
void clip_model_free(clip_model *model);
const clip_model_info *clip_model_get_info(const clip_model *model);

/* Tokenizes UTF-8 text exactly like OpenAI's CLIP tokenizer (SOT ... EOT,
 * untruncated). Writes min(total, cap) ids and stores the total in *n_ids.
 * Invalid UTF-8 is an error. */
clip_status clip_tokenize(const clip_model *model, const char *text, int32_t *ids, size_t cap,
                          size_t *n_ids, clip_error *err);

/* Tokenizes to exactly context_length ids, zero padded; longer texts are
 * truncated to ids[:context_length-1] + EOT as CLIP does. */
clip_status clip_tokenize_padded(const clip_model *model, const char *text, int32_t *ids,
                                 clip_error *err);

/* Pixel layouts accepted by clip_preprocess(); packed formats use planes[0]. */
typedef enum {
  CLIP_FORMAT_RGB = 0,
  CLIP_FORMAT_BGR,
  CLIP_FORMAT_RGBA,
  CLIP_FORMAT_BGRA,
  CLIP_FORMAT_RGBX,
  CLIP_FORMAT_BGRX,
  CLIP_FORMAT_XRGB,
  CLIP_FORMAT_XBGR,
  CLIP_FORMAT_I420,
  CLIP_FORMAT_NV12,
  CLIP_FORMAT_GRAY8,
  CLIP_FORMAT_Y444, /* planar YUV 4:4:4 (x264's default output), three full planes */
} clip_pixel_format;

typedef enum { CLIP_MATRIX_BT601 = 0, CLIP_MATRIX_BT709 } clip_yuv_matrix;

/* A frame in memory, with row strides in bytes for each plane. */
typedef struct {
  clip_pixel_format format;
  int width, height;
  const uint8_t *planes[3];
  int strides[3];
  clip_yuv_matrix matrix; /* YUV formats only */
  bool full_range;        /* YUV formats only: 0-255 instead of 16-235/240 */
} clip_image;

/* Frame -> model input [3, S, S] (S = image_size): shorter side resized with
 * Pillow-compatible bicubic, center crop, normalization with mean/std. */
clip_status clip_preprocess(const clip_model *model, const clip_image *image, float *out,
                            clip_error *err);

/* Creates a forward-pass context (scratch memory) for one thread at a time. */
clip_ctx *clip_ctx_new(const clip_model *model, clip_error *err);
void clip_ctx_free(clip_ctx *ctx);

/* Encodes n images [n, 3, S, S]: projected embeddings (not normalized) into
 * embeds [n, embed_dim]; pooled [n, vision_width] may be NULL. */
clip_status clip_encode_images(clip_ctx *ctx, const float *pixels, int n, float *embeds,
                               float *pooled, clip_error *err);

/* Encodes n texts of len token ids each ([n, len], padded with 0), pooled at
 * each row's first EOT. embeds [n, embed_dim]; pooled [n, text_width] may be
 * NULL. len <= context_length. */
clip_status clip_encode_texts(clip_ctx *ctx, const int32_t *ids, int n, int len, float *embeds,
                              float *pooled, clip_error *err);

/* Label embeddings for zero-shot scoring, as in the CLIP paper: each label is
 * "synonym|synonym|..."; every synonym is put into every template ("{}" is
 * replaced; NULL or zero templates means "{}"), the normalized embeddings are
 * averaged and the mean re-normalized. out: [n_labels, embed_dim], unit norm. */
clip_status clip_embed_labels(clip_ctx *ctx, const char *const *labels, int n_labels,
                              const char *const *templates, int n_templates, float *out,
                              clip_error *err);

/* The prompt syntax, one parser for every front end: labels are separated
 * by ';', synonyms of one label by '|' (ensembled by clip_embed_labels);
 * templates are separated by ';' and '{}' marks where the synonym goes.
 * Blanks around separators are ignored and empty pieces dropped. */
typedef struct {
  int n_labels;
  char **names;     /* [n_labels + 1], NULL-terminated: each label's first synonym */
  char **specs;     /* [n_labels + 1]: "syn|syn|..." cleaned, for clip_embed_labels */
  int n_templates;  /* 0 when none were given: then "{}" */
  char **templates; /* [n_templates + 1], NULL-terminated */
} clip_prompts;

/* Parses prompts and templates (NULL: none) into out. Fails with CLIP_ERR_ARG
 * and a message saying why on NULL prompts, invalid UTF-8, prompts with no
 * label, or a template without '{}'. Free out with clip_prompts_free(). */
clip_status clip_prompts_parse(const char *prompts, const char *templates, clip_prompts *out,
                               clip_error *err);
void clip_prompts_free(clip_prompts *prompts);

/* The mean absolute difference of two model inputs of n floats (0 when n is
 * 0): the change gate's measure of how much a frame differs from the last
 * encoded one (below a threshold, its embedding is reused). */
double clip_input_change(const float *a, const float *b, size_t n);

/* In-place L2 normalization of a vector of length d. */
void clip_normalize(float *v, int d);

/* Zero-shot scores of one image embedding against n unit label embeddings:
 * similarities[i] = cosine, probs = softmax(exp(logit_scale) * cosine).
 * Either output may be NULL. */
void clip_score(const clip_model *model, const float *image_embed, const float *labels, int n,
                float *similarities, float *probs);

const char *clip_status_name(clip_status status);

#ifdef __cplusplus
}
#endif
#endif /* CLIP_H */
