/* fuzz-tokenizer.c — text to ids with CLIP's vocabulary (the reference
 * kit's, from CLIP_REFERENCE_DIR; a small built-in one without it). The
 * heap-ordered merge must give the ids of CLIP's own merge loop
 * (clip_tokenizer_encode_slow), the padded form must be the truncation of
 * the full one, and every id must lie in the vocabulary. */
#include <glib.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

/* Inputs are cut at MAX_TEXT bytes. CLIP reads 77 tokens; what the full
 * encoding adds beyond them (long words, truncation, cleaning that is not
 * local) shows in a kilobyte as well as in the 64 KiB cap (tested in
 * tests/engine), and longer inputs only made each run slower: at 4 KB,
 * cleaning under the sanitizers' instrumentation took ~35 ms a run. Every
 * input is compared with the reference merge (quadratic in the word
 * length, still ~1 ms at this size). */
#define MAX_TEXT 1024

static clip_tokenizer *tok;

/* Byte symbols, the specials, and merges of letter pairs a-p. */
static void
builtin_files(char **vocab, char **merges)
{
  GString *v = g_string_new("{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1");
  GString *m = g_string_new("#version: 0.2\n");
  int id = 2, shifted = 0;
  for (int b = 0; b < 256; b++) {
    gboolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    gunichar c = printable ? (gunichar) b : (gunichar) (0x100 + shifted++);
    char s[8] = { 0 };
    g_unichar_to_utf8(c, s);
    char *q = g_strescape(s, NULL);
    g_string_append_printf(v, ", \"%s\": %d, \"%s</w>\": %d", q, id, q, id + 1);
    id += 2;
    g_free(q);
  }
  for (char a = 'a'; a <= 'p'; a++)
    for (char b = 'a'; b <= 'p'; b++) {
      g_string_append_printf(v, ", \"%c%c\": %d, \"%c%c</w>\": %d", a, b, id, a, b, id + 1);
      g_string_append_printf(m, "%c %c\n%c %c</w>\n", a, b, a, b);
      id += 2;
    }
  for (char a = 'a'; a <= 'p'; a++) {
    g_string_append_printf(v, ", \"%c%c%c%c\": %d", a, a, a, a, id++);
    g_string_append_printf(m, "%c%c %c%c\n", a, a, a, a);
  }
  g_string_append(v, "}");
  *vocab = g_string_free(v, FALSE);
  *merges = g_string_free(m, FALSE);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void) argc, (void) argv;
  clip_error err = { 0 };
  const char *ref = g_getenv("CLIP_REFERENCE_DIR");
  char *vp = ref ? g_build_filename(ref, "tiny-b32", "vocab.json", NULL) : NULL;
  char *mp = ref ? g_build_filename(ref, "tiny-b32", "merges.txt", NULL) : NULL;
  if (vp && g_file_test(vp, G_FILE_TEST_EXISTS)) {
    tok = clip_tokenizer_load(vp, mp, &err);
  } else {
    char *v, *m;
    builtin_files(&v, &m);
    tok = clip_tokenizer_load(fuzz_write(0, "vocab.json", v, strlen(v)),
                              fuzz_write(1, "merges.txt", m, strlen(m)), &err);
    g_free(v), g_free(m);
  }
  if (!tok)
    fuzz_fail("cannot load the vocabulary: %s", err.message);
  g_free(vp), g_free(mp);
  return 0;
}

/* All ids of @text in one call when they fit in @cap (each holds the
 * total), else a second call with room for all. */
static clip_status
encode_all(clip_status (*encode)(const clip_tokenizer *, const char *, int32_t *, size_t, size_t *,
                                 clip_error *),
           const char *text, int32_t **ids, size_t cap, size_t *n, clip_error *err)
{
  *ids = malloc(cap * sizeof **ids);
  clip_status st = encode(tok, text, *ids, cap, n, err);
  if (st == CLIP_OK && *n > cap) {
    *ids = realloc(*ids, *n * sizeof **ids);
    st = encode(tok, text, *ids, *n, n, err);
  }
  return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > MAX_TEXT)
    size = MAX_TEXT;
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  clip_error err = { 0 };
  size_t n = 0, n_slow = 0, cap = size + 2; /* at most a token a byte, and SOT, EOT */
  int32_t *ids, *slow;
  clip_status st = encode_all(clip_tokenizer_encode, text, &ids, cap, &n, &err);
  clip_status st_slow = encode_all(clip_tokenizer_encode_slow, text, &slow, cap, &n_slow, &err);
  if (st != st_slow || (st == CLIP_OK && n != n_slow))
    fuzz_fail("fast and reference disagree: status %d/%d, %zu/%zu ids", st, st_slow, n, n_slow);
  if (st != CLIP_OK) {
    if (st != CLIP_ERR_ARG && st != CLIP_ERR_FORMAT)
      fuzz_fail("unexpected status %d: %s", st, err.message);
    free(ids), free(slow), free(text);
    return 0;
  }
  if (memcmp(ids, slow, n * sizeof *ids))
    fuzz_fail("fast and reference merges give different ids");
  if (n < 2 || ids[0] != clip_tokenizer_sot(tok) || ids[n - 1] != clip_tokenizer_eot(tok))
    fuzz_fail("ids do not run from SOT to EOT");
  for (size_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= clip_tokenizer_vocab_size(tok))
      fuzz_fail("id %d outside the vocabulary", ids[i]);
  int32_t padded[77];
  if (clip_tokenizer_encode_padded(tok, text, padded, 77, &err) != CLIP_OK)
    fuzz_fail("padded encode failed where the full one worked: %s", err.message);
  size_t keep = n <= 77 ? n : 76;
  if (memcmp(padded, ids, keep * sizeof *ids) || (n > 77 && padded[76] != clip_tokenizer_eot(tok)))
    fuzz_fail("the padded ids are not the truncated full ones");
  for (size_t i = n; i < 77; i++)
    if (padded[i] != 0)
      fuzz_fail("padding is not zero");
  free(ids), free(slow), free(text);
  return 0;
}
