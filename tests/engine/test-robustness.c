/* test-robustness.c — hostile and changing inputs, each with the real bad
 * input: a model file truncated and rewritten under a loaded model, texts
 * that were quadratic to clean or merge, vocabularies and configs that were
 * accepted silently or crashed, and paths that are not regular files. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clip.h"
#include "safetensors.h"
#include "testutil.h"
#include "tokenizer.h"

/* Copies the kit model's files named in `names` into a new directory. */
static char *
copy_model(const char *kit_dir, const char *dest_name, const char *const *names)
{
  char *dest = g_build_filename(testutil_tmpdir(), dest_name, NULL);
  g_assert_cmpint(g_mkdir_with_parents(dest, 0755), ==, 0);
  for (int i = 0; names[i]; i++) {
    char *from = g_build_filename(kit_dir, names[i], NULL),
         *to = g_build_filename(dest, names[i], NULL);
    gchar *data;
    gsize len;
    g_assert_true(g_file_get_contents(from, &data, &len, NULL));
    g_assert_true(g_file_set_contents(to, data, (gssize) len, NULL));
    g_free(data), g_free(from), g_free(to);
  }
  return dest;
}

static const char *const hf_files[] = { "config.json", "model.safetensors",        "vocab.json",
                                        "merges.txt",  "preprocessor_config.json", NULL };

/* Text and image embeddings of a few fixed inputs. */
static float *
embeddings(const clip_model *m, size_t *n)
{
  const clip_model_info *in = clip_model_get_info(m);
  clip_error err = { 0 };
  clip_ctx *ctx = clip_ctx_new(m, &err);
  g_assert_nonnull(ctx);
  int32_t ids[2 * 77];
  g_assert_cmpint(clip_tokenize_padded(m, "a photo of a cat", ids, &err), ==, CLIP_OK);
  g_assert_cmpint(clip_tokenize_padded(m, "a diagram", ids + 77, &err), ==, CLIP_OK);
  size_t side = (size_t) in->image_size, d = (size_t) in->embed_dim;
  float *pix = g_new(float, 3 * side * side);
  for (size_t i = 0; i < 3 * side * side; i++)
    pix[i] = (float) ((i * 7919) % 255) / 127.0f - 1.0f;
  *n = 3 * d;
  float *out = g_new(float, *n);
  g_assert_cmpint(clip_encode_texts(ctx, ids, 2, 77, out, NULL, &err), ==, CLIP_OK);
  g_assert_cmpint(clip_encode_images(ctx, pix, 1, out + 2 * d, NULL, &err), ==, CLIP_OK);
  for (size_t i = 0; i < *n; i++)
    g_assert_true(isfinite(out[i]));
  g_free(pix);
  clip_ctx_free(ctx);
  return out;
}

/* Overwrites a safetensors file's data area with 0xFF bytes (NaN as F32) in
 * place, then truncates the file to its header: a loaded model must answer
 * as before, and not die of SIGBUS. */
static void
check_file_changed_under(clip_backend backend)
{
  REQUIRE_REFERENCE(ref);
  char *kit = g_build_filename(ref, "tiny-b32", NULL);
  char *dir =
      copy_model(kit, backend == CLIP_BACKEND_ONEDNN ? "changed-onednn" : "changed-blas", hf_files);
  char *weights = g_build_filename(dir, "model.safetensors", NULL);
  clip_params p = clip_default_params();
  p.backend = backend;
  clip_error err = { 0 };
  clip_model *m = clip_model_load(dir, &p, &err);
  if (!m && err.status == CLIP_ERR_UNSUPPORTED) {
    g_test_skip(err.message);
    goto out;
  }
  g_assert_nonnull(m);
  size_t n;
  float *before = embeddings(m, &n);

  int fd = open(weights, O_RDWR);
  g_assert_cmpint(fd, >=, 0);
  guint8 hl[8];
  g_assert_cmpint(pread(fd, hl, 8, 0), ==, 8);
  guint64 header = 0;
  for (int i = 7; i >= 0; i--)
    header = header << 8 | hl[i];
  struct stat sb;
  g_assert_cmpint(fstat(fd, &sb), ==, 0);
  size_t data = (size_t) sb.st_size - 8 - header;
  guint8 *junk = g_malloc(data);
  memset(junk, 0xFF, data);
  g_assert_cmpint(pwrite(fd, junk, data, (off_t) (8 + header)), ==, (ssize_t) data);
  g_free(junk);
  float *rewritten = embeddings(m, &n);
  g_assert_cmpmem(before, n * sizeof *before, rewritten, n * sizeof *rewritten);
  g_assert_cmpint(ftruncate(fd, (off_t) (8 + header)), ==, 0);
  close(fd);
  float *truncated = embeddings(m, &n);
  g_assert_cmpmem(before, n * sizeof *before, truncated, n * sizeof *truncated);
  g_free(before), g_free(rewritten), g_free(truncated);
  clip_model_free(m);
out:
  g_free(weights), g_free(dir), g_free(kit);
}

static void
test_file_changed_openblas(void)
{
  check_file_changed_under(CLIP_BACKEND_OPENBLAS);
}

static void
test_file_changed_onednn(void)
{
  check_file_changed_under(CLIP_BACKEND_ONEDNN);
}

/* CLIP_MODEL_MMAP=1 (zero-copy, opt-in) gives the same answers. */
static void
test_mmap_opt_in(void)
{
  REQUIRE_REFERENCE(ref);
  char *dir = g_build_filename(ref, "tiny-b32", NULL);
  clip_error err = { 0 };
  clip_model *m = clip_model_load(dir, NULL, &err);
  g_assert_nonnull(m);
  size_t n;
  float *owned = embeddings(m, &n);
  clip_model_free(m);
  g_setenv("CLIP_MODEL_MMAP", "1", TRUE);
  g_assert_true(st_mmap_requested());
  m = clip_model_load(dir, NULL, &err);
  g_unsetenv("CLIP_MODEL_MMAP");
  g_assert_nonnull(m);
  float *mapped = embeddings(m, &n);
  g_assert_cmpmem(owned, n * sizeof *owned, mapped, n * sizeof *mapped);
  clip_model_free(m);
  g_free(owned), g_free(mapped), g_free(dir);
}

/* ---- long texts -------------------------------------------------------- */

static clip_tokenizer *
kit_tokenizer(void)
{
  const char *ref = testutil_reference_dir();
  if (!ref)
    return NULL;
  char *vocab = g_build_filename(ref, "tiny-b32", "vocab.json", NULL);
  char *merges = g_build_filename(ref, "tiny-b32", "merges.txt", NULL);
  clip_error err = { 0 };
  clip_tokenizer *tok = clip_tokenizer_load(vocab, merges, &err);
  if (!tok)
    g_error("%s", err.message);
  g_free(vocab), g_free(merges);
  return tok;
}

/* `unit` repeated to fill `bytes` bytes. */
static char *
repeat(const char *unit, size_t bytes)
{
  size_t u = strlen(unit);
  char *s = g_malloc(bytes + 1);
  for (size_t i = 0; i < bytes; i++)
    s[i] = unit[i % u];
  s[bytes] = '\0';
  return s;
}

/* A word of random ASCII letters (a fixed seed). */
static char *
random_word(size_t bytes, guint32 seed)
{
  GRand *r = g_rand_new_with_seed(seed);
  char *s = g_malloc(bytes + 1);
  for (size_t i = 0; i < bytes; i++)
    s[i] = (char) ('a' + g_rand_int_range(r, 0, 26));
  s[bytes] = '\0';
  g_rand_free(r);
  return s;
}

/* Encodes text fully; returns the ids (g_free) and their count. */
static gint32 *
encode_all(const clip_tokenizer *tok, const char *text, size_t *n, bool slow)
{
  clip_error err = { 0 };
  size_t total = 0;
  clip_status st =
      (slow ? clip_tokenizer_encode_slow : clip_tokenizer_encode)(tok, text, NULL, 0, &total, &err);
  if (st != CLIP_OK)
    g_error("encoding %zu bytes: %s", strlen(text), err.message);
  gint32 *ids = g_new(gint32, total);
  g_assert_cmpint(
      (slow ? clip_tokenizer_encode_slow : clip_tokenizer_encode)(tok, text, ids, total, n, &err),
      ==, CLIP_OK);
  g_assert_cmpuint(*n, ==, total);
  return ids;
}

static void
expect_too_long(const clip_tokenizer *tok, const char *text)
{
  clip_error err = { 0 };
  size_t n = 99;
  gint64 t0 = g_get_monotonic_time();
  g_assert_cmpint(clip_tokenizer_encode(tok, text, NULL, 0, &n, &err), ==, CLIP_ERR_ARG);
  g_test_message("refused %zu bytes in %.3f ms", strlen(text),
                 (g_get_monotonic_time() - t0) / 1000.0);
  g_assert_nonnull(strstr(err.message, "longer than 65536 bytes"));
}

/* The three 1 MB texts that took 15-26 s are refused by their length; texts
 * of the same kind at the limit are encoded, with the right ids. */
static void
test_long_texts(void)
{
  clip_tokenizer *tok = kit_tokenizer();
  if (!tok)
    return;
  const size_t mb = 1 << 20, limit = CLIP_TOKENIZER_MAX_BYTES;
  g_assert_cmpuint(limit, ==, 65536);
  char *marks = repeat("\xCC\x81", mb), *word = random_word(mb, 1),
       *moji = repeat("\xC3\x83\xC2\xA9", mb);
  expect_too_long(tok, marks);
  expect_too_long(tok, word);
  expect_too_long(tok, moji);
  g_free(marks), g_free(word), g_free(moji);

  /* At the limit: combining acute accents (one symbol run, no letter), a
   * random word, and mojibake that ftfy turns into é. */
  size_t n, n_ref;
  gint64 t0 = g_get_monotonic_time();
  marks = repeat("\xCC\x81", limit);
  gint32 *ids = encode_all(tok, marks, &n, false);
  g_test_message("%zu bytes of combining marks: %zu ids in %.1f ms", limit, n,
                 (g_get_monotonic_time() - t0) / 1000.0);
  g_assert_cmpint(ids[0], ==, clip_tokenizer_sot(tok));
  g_assert_cmpint(ids[n - 1], ==, clip_tokenizer_eot(tok));
  g_assert_cmpuint(n, >, 2);
  g_free(ids);

  t0 = g_get_monotonic_time();
  word = random_word(limit, 2);
  ids = encode_all(tok, word, &n, false);
  g_test_message("a %zu-byte random word: %zu ids in %.1f ms", limit, n,
                 (g_get_monotonic_time() - t0) / 1000.0);
  g_assert_cmpuint(n, >, 2);
  g_free(ids);

  t0 = g_get_monotonic_time();
  moji = repeat("\xC3\x83\xC2\xA9", limit);
  ids = encode_all(tok, moji, &n, false);
  g_test_message("%zu bytes of \"\xC3\x83\xC2\xA9\": %zu ids in %.1f ms", limit, n,
                 (g_get_monotonic_time() - t0) / 1000.0);
  char *fixed = repeat("\xC3\xA9", limit / 2);
  gint32 *want = encode_all(tok, fixed, &n_ref, false);
  g_assert_cmpmem(ids, n * sizeof *ids, want, n_ref * sizeof *want);
  g_free(ids), g_free(want), g_free(fixed);

  /* The heap-ordered merge gives CLIP's loop's ids on long words (shorter
   * ones: the reference is quadratic). */
  for (guint32 seed = 3; seed < 8; seed++) {
    char *w = random_word(2048 + 1000 * seed, seed);
    gint32 *fast = encode_all(tok, w, &n, false), *slow = encode_all(tok, w, &n_ref, true);
    g_assert_cmpmem(fast, n * sizeof *fast, slow, n_ref * sizeof *slow);
    g_free(fast), g_free(slow), g_free(w);
  }
  char *w = repeat("\xCC\x81", 6000);
  gint32 *fast = encode_all(tok, w, &n, false), *slow = encode_all(tok, w, &n_ref, true);
  g_assert_cmpmem(fast, n * sizeof *fast, slow, n_ref * sizeof *slow);
  g_free(fast), g_free(slow), g_free(w);
  g_free(marks), g_free(word), g_free(moji);
  clip_tokenizer_free(tok);
}

/* ---- vocabularies ------------------------------------------------------ */

static void
expect_tokenizer_error(const char *vocab_text, const char *merges_text, const char *part)
{
  char *vocab = testutil_write_file("vocab.json", vocab_text, strlen(vocab_text));
  char *merges = testutil_write_file("merges.txt", merges_text, strlen(merges_text));
  clip_error err = { 0 };
  clip_tokenizer *tok = clip_tokenizer_load(vocab, merges, &err);
  g_assert_null(tok);
  g_assert_cmpint(err.status, ==, CLIP_ERR_FORMAT);
  if (!strstr(err.message, vocab) || !strstr(err.message, part))
    g_error("message '%s' lacks the path or '%s'", err.message, part);
  g_free(vocab), g_free(merges);
}

/* vocab.json = {} asked for a 2^61-byte allocation. */
static void
test_empty_vocabulary(void)
{
  expect_tokenizer_error("{}", "#version: 0.2\n", "the vocabulary is empty");
  expect_tokenizer_error("  {\n}\n", "", "the vocabulary is empty");
}

/* ---- checkpoints -------------------------------------------------------- */

static void
expect_load_error(const char *path, clip_status status, const char *part)
{
  clip_error err = { 0 };
  clip_model *m = clip_model_load(path, NULL, &err);
  if (m)
    g_error("%s: expected failure with '%s', but it loaded", path, part);
  g_assert_cmpint(err.status, ==, status);
  if (!strstr(err.message, part))
    g_error("message '%s' lacks '%s'", err.message, part);
}

/* Replaces the first occurrence of from by to in a copied file. */
static void
edit_file(const char *dir, const char *name, const char *from, const char *to)
{
  char *path = g_build_filename(dir, name, NULL);
  gchar *text;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  char *at = strstr(text, from);
  g_assert_nonnull(at);
  *at = '\0';
  char *edited = g_strconcat(text, to, at + strlen(from), NULL);
  g_assert_true(g_file_set_contents(path, edited, -1, NULL));
  g_free(edited), g_free(text), g_free(path);
}

/* The byte offset in a safetensors file where a tensor's data begins. */
static gint64
tensor_offset(const char *path, const char *name)
{
  gchar *bytes;
  gsize len;
  g_assert_true(g_file_get_contents(path, &bytes, &len, NULL));
  guint64 hl = 0;
  for (int i = 7; i >= 0; i--)
    hl = hl << 8 | (guint8) bytes[i];
  cJSON *root = cJSON_ParseWithLength(bytes + 8, hl);
  g_assert_nonnull(root);
  const cJSON *offs = cJSON_GetObjectItem(cJSON_GetObjectItem(root, name), "data_offsets");
  g_assert_nonnull(offs);
  gint64 at = 8 + (gint64) hl + (gint64) cJSON_GetArrayItem(offs, 0)->valuedouble;
  cJSON_Delete(root);
  g_free(bytes);
  return at;
}

static void
poke(const char *path, gint64 at, const void *bytes, size_t n)
{
  int fd = open(path, O_WRONLY);
  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpint(pwrite(fd, bytes, n, (off_t) at), ==, (ssize_t) n);
  close(fd);
}

/* image_size 1000000 overflowed int building the message ("-388717296
 * patches per image"). */
static void
test_huge_image_size(void)
{
  REQUIRE_REFERENCE(ref);
  char *kit = g_build_filename(ref, "tiny-b32", NULL);
  char *dir = copy_model(kit, "huge-image", hf_files);
  edit_file(dir, "config.json", "\"image_size\": 224", "\"image_size\": 1000000");
  expect_load_error(dir, CLIP_ERR_FORMAT, "976562500 patches per image is absurd");
  g_free(dir), g_free(kit);
}

/* A config declaring one layer of two: the second layer's tensors were
 * silently ignored. */
static void
test_fewer_layers_declared(void)
{
  REQUIRE_REFERENCE(ref);
  char *kit = g_build_filename(ref, "tiny-b32", NULL);
  char *dir = copy_model(kit, "fewer-layers", hf_files);
  edit_file(dir, "config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1");
  expect_load_error(dir, CLIP_ERR_FORMAT,
                    "tensors are not used by the model that config.json describes");
  expect_load_error(dir, CLIP_ERR_FORMAT, "encoder.layers.1.");
  g_free(dir), g_free(kit);
}

/* NaN in F32 weights (used in place) and infinity in F16 ones (widened):
 * the element posted scores=<-nan,-nan> with a top label. */
static void
test_non_finite_weights(void)
{
  REQUIRE_REFERENCE(ref);
  const char *name = "text_model.encoder.layers.1.mlp.fc1.weight";
  char *kit = g_build_filename(ref, "tiny-b32", NULL);
  char *dir = copy_model(kit, "nan-f32", hf_files);
  char *weights = g_build_filename(dir, "model.safetensors", NULL);
  const guint8 nan32[4] = { 0x00, 0x00, 0xC0, 0x7F };
  poke(weights, tensor_offset(weights, name) + 4 * 7, nan32, 4);
  expect_load_error(dir, CLIP_ERR_FORMAT,
                    "tensor 'text_model.encoder.layers.1.mlp.fc1.weight' holds NaN at element 7");
  g_free(weights), g_free(dir), g_free(kit);

  kit = g_build_filename(ref, "tiny-b32-mh-f16", NULL);
  dir = copy_model(kit, "inf-f16", hf_files);
  weights = g_build_filename(dir, "model.safetensors", NULL);
  const guint8 inf16[2] = { 0x00, 0xFC }; /* -inf */
  poke(weights, tensor_offset(weights, "vision_model.post_layernorm.bias") + 2 * 3, inf16, 2);
  expect_load_error(dir, CLIP_ERR_FORMAT,
                    "tensor 'vision_model.post_layernorm.bias' holds an infinity at element 3");
  g_free(weights), g_free(dir), g_free(kit);
}

/* "logit_scale\u0000junk" passed for logit_scale (cJSON ends the string at
 * the NUL); other readers see another name. */
static void
test_nul_in_tensor_name(void)
{
  const char *headers[] = {
    "{\"logit_scale\\u0000junk\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
    "{\"__metadata__\":{\"a\\u0000\":\"b\"},\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":"
    "[0,4]}}",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(headers); i++) {
    gsize hl = strlen(headers[i]);
    guint8 *buf = g_malloc0(8 + hl + 4);
    for (int k = 0; k < 8; k++)
      buf[k] = (guint8) ((guint64) hl >> (8 * k));
    memcpy(buf + 8, headers[i], hl);
    clip_error err = { 0 };
    st_file *f = st_open_memory("nul.safetensors", buf, 8 + hl + 4, &err);
    g_assert_null(f);
    g_assert_cmpint(err.status, ==, CLIP_ERR_FORMAT);
    g_assert_nonnull(strstr(err.message, "nul.safetensors: header holds an escaped NUL (\\u0000)"));
    g_free(buf);
  }
  /* An escaped backslash before "u0000" is no NUL: the name is a\u0000. */
  const char *ok = "{\"a\\\\u0000\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
  gsize hl = strlen(ok);
  guint8 *buf = g_malloc0(8 + hl + 4);
  for (int k = 0; k < 8; k++)
    buf[k] = (guint8) ((guint64) hl >> (8 * k));
  memcpy(buf + 8, ok, hl);
  clip_error err = { 0 };
  st_file *f = st_open_memory("ok.safetensors", buf, 8 + hl + 4, &err);
  g_assert_nonnull(f);
  g_assert_nonnull(st_find(f, "a\\u0000"));
  st_close(f);
  g_free(buf);
}

/* ---- paths that are not files, and clip-tool -------------------------- */

static void
expect_tool(const char *const *args, int status, const char *part)
{
  char *out = NULL, *err = NULL;
  int got = testutil_run_tool(args, &out, &err);
  if (got != status || !strstr(err, part))
    g_error("clip-tool %s ...: expected exit %d with '%s', got %d: %s", args[0], status, part, got,
            err);
  g_free(out), g_free(err);
}

/* A FIFO blocked run, preprocess and score forever; FIFOs, directories,
 * devices and symlink loops were all reported as missing. */
static void
test_not_regular_files(void)
{
  REQUIRE_REFERENCE(ref);
  char *model = g_build_filename(ref, "tiny-b32", NULL);
  char *fifo = g_build_filename(testutil_tmpdir(), "fifo", NULL);
  char *loop = g_build_filename(testutil_tmpdir(), "loop", NULL);
  char *out = g_build_filename(testutil_tmpdir(), "out.safetensors", NULL);
  g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
  g_assert_cmpint(symlink(loop, loop), ==, 0);

  expect_tool((const char *[]){ "run", model, "--input", fifo, "--output", out, NULL }, 1,
              "the safetensors file is a FIFO, not a regular file");
  expect_tool((const char *[]){ "preprocess", "--input", fifo, "--output", out, NULL }, 1,
              "the safetensors file is a FIFO, not a regular file");
  expect_tool((const char *[]){ "preprocess", "--input", "/dev/zero", "--output", out, NULL }, 1,
              "/dev/zero: the safetensors file is a character device, not a regular file");
  expect_tool((const char *[]){ "score", model, fifo, "a cat", NULL }, 1,
              "the image is a FIFO, not a regular file");
  expect_tool((const char *[]){ "score", model, "/dev/zero", "a cat", NULL }, 1,
              "/dev/zero: the image is a character device, not a regular file");
  expect_tool((const char *[]){ "score", model, testutil_tmpdir(), "a cat", NULL }, 1,
              "the image is a directory, not a regular file");
  expect_tool((const char *[]){ "score", model, loop, "a cat", NULL }, 1,
              "cannot read the image: symbolic link loop");

  expect_load_error(fifo, CLIP_ERR_IO, "is a FIFO, not a checkpoint");
  expect_load_error("/dev/zero", CLIP_ERR_IO, "is a character device, not a checkpoint");
  expect_load_error(loop, CLIP_ERR_IO, "cannot open the checkpoint: symbolic link loop");

  /* A FIFO where a checkpoint directory's config.json or vocabulary is. */
  char *dir = copy_model(model, "fifo-config", (const char *const[]){ "model.safetensors", NULL });
  char *config = g_build_filename(dir, "config.json", NULL);
  g_assert_cmpint(mkfifo(config, 0600), ==, 0);
  expect_load_error(dir, CLIP_ERR_IO,
                    "config.json: the configuration is a FIFO, not a regular file");
  g_free(config), g_free(dir);
  dir = copy_model(model, "fifo-vocab",
                   (const char *const[]){ "model.safetensors", "config.json", "merges.txt", NULL });
  char *vocab = g_build_filename(dir, "vocab.json", NULL);
  g_assert_cmpint(mkfifo(vocab, 0600), ==, 0);
  expect_load_error(dir, CLIP_ERR_IO, "vocab.json: the vocabulary is a FIFO, not a regular file");
  g_free(vocab), g_free(dir);
  g_free(model), g_free(fifo), g_free(loop), g_free(out);
}

/* A NUL inside a --jsonl prompt silently cut the prompt. */
static void
test_nul_in_jsonl_prompt(void)
{
  REQUIRE_REFERENCE(ref);
  char *model = g_build_filename(ref, "tiny-b32", NULL);
  const char *lines = "{\"text\": \"a cat\"}\n{\"text\": \"a dog\\u0000 and a cat\"}\n";
  char *jsonl = testutil_write_file("nul.jsonl", lines, strlen(lines));
  char *out = NULL, *err = NULL;
  int got = testutil_run_tool(
      (const char *[]){ "tokenize", "--model", model, "--jsonl", jsonl, NULL }, &out, &err);
  g_assert_cmpint(got, ==, 1);
  g_assert_nonnull(strstr(err, "nul.jsonl:2: the line holds a NUL character (\\u0000)"));
  g_assert_nonnull(strstr(out, "\"text\":\"a cat\""));
  g_assert_null(strstr(out, "a dog"));
  g_free(out), g_free(err), g_free(jsonl), g_free(model);
}

/* Bytes from files are escaped in messages: a terminal escape and an
 * invalid UTF-8 byte in a vocabulary token. */
static void
test_escaped_messages(void)
{
  expect_tokenizer_error("{\"\x1b[31mred\": \"x\"}", "", "token \"\\x1B[31mred\"");
  expect_tokenizer_error("{\"bad\xff\": 1.5}", "", "token \"bad\\xFF\"");
  clip_error err = { 0 };
  char *vocab = testutil_write_file("vocab.json", "{\"\xff\n\": 1.5}", 9);
  char *merges = testutil_write_file("merges.txt", "", 0);
  g_assert_null(clip_tokenizer_load(vocab, merges, &err));
  for (const char *p = err.message; *p; p++)
    g_assert_true((guint8) *p >= 0x20 && (guint8) *p < 0x7F);
  g_free(vocab), g_free(merges);
}

/* "P6 99999999 1 255" was read as a width of 9999999 followed by 9. */
static void
test_ppm_long_width(void)
{
  REQUIRE_REFERENCE(ref);
  char *model = g_build_filename(ref, "tiny-b32", NULL);
  const char *ppm = "P6\n99999999 1\n255\n\x01\x02\x03";
  char *path = testutil_write_file("wide.ppm", ppm, strlen(ppm));
  expect_tool((const char *[]){ "score", model, path, "a cat", NULL }, 1,
              "wide.ppm: image size 99999999x1 out of range (1..32768)");
  const char *huge = "P3\n3 1 99999999999999999999999\n1 2 3 4 5 6 7 8 9\n";
  char *path2 = testutil_write_file("maxval.ppm", huge, strlen(huge));
  expect_tool((const char *[]){ "score", model, path2, "a cat", NULL }, 1,
              "maxval.ppm: bad P3 header");
  /* 32768x32768 declared over three bytes: refused before 3 GB are allocated. */
  const char *big = "P6\n32768 32768\n255\n\x01\x02\x03";
  char *path3 = testutil_write_file("big.ppm", big, strlen(big));
  expect_tool((const char *[]){ "score", model, path3, "a cat", NULL }, 1,
              "big.ppm: truncated P6 data (expected 3221225472 bytes of pixels, found 3)");
  g_free(path), g_free(path2), g_free(path3), g_free(model);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/robustness/file-changed-openblas", test_file_changed_openblas);
  g_test_add_func("/robustness/file-changed-onednn", test_file_changed_onednn);
  g_test_add_func("/robustness/mmap-opt-in", test_mmap_opt_in);
  g_test_add_func("/robustness/long-texts", test_long_texts);
  g_test_add_func("/robustness/empty-vocabulary", test_empty_vocabulary);
  g_test_add_func("/robustness/huge-image-size", test_huge_image_size);
  g_test_add_func("/robustness/fewer-layers-declared", test_fewer_layers_declared);
  g_test_add_func("/robustness/non-finite-weights", test_non_finite_weights);
  g_test_add_func("/robustness/nul-in-tensor-name", test_nul_in_tensor_name);
  g_test_add_func("/robustness/not-regular-files", test_not_regular_files);
  g_test_add_func("/robustness/nul-in-jsonl-prompt", test_nul_in_jsonl_prompt);
  g_test_add_func("/robustness/escaped-messages", test_escaped_messages);
  g_test_add_func("/robustness/ppm-long-width", test_ppm_long_width);
  return g_test_run();
}
