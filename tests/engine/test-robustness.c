/* test-robustness.c — hostile and changing inputs, each with the real bad
 * input: a model file truncated and rewritten under a loaded model, texts
 * that were quadratic to clean or merge, vocabularies and configs that were
 * accepted silently or crashed, and paths that are not regular files. */
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
    char *from = g_build_filename(kit_dir, names[i], NULL), *to = g_build_filename(dest, names[i], NULL);
    gchar *data;
    gsize len;
    g_assert_true(g_file_get_contents(from, &data, &len, NULL));
    g_assert_true(g_file_set_contents(to, data, (gssize) len, NULL));
    g_free(data), g_free(from), g_free(to);
  }
  return dest;
}

static const char *const hf_files[] = { "config.json", "model.safetensors", "vocab.json",
                                        "merges.txt", "preprocessor_config.json", NULL };

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
  char *dir = copy_model(kit, backend == CLIP_BACKEND_ONEDNN ? "changed-onednn" : "changed-blas",
                         hf_files);
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

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/robustness/file-changed-openblas", test_file_changed_openblas);
  g_test_add_func("/robustness/file-changed-onednn", test_file_changed_onednn);
  g_test_add_func("/robustness/mmap-opt-in", test_mmap_opt_in);
  return g_test_run();
}
