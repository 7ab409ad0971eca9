/* test-tokenizer.c — CLIP BPE against OpenAI's ids (tokens.jsonl), the
 * cleanup rules, vocabularies of any size, every malformed vocab.json /
 * merges.txt, and clip-tool tokenize. */
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>
#include <glib.h>

#include "testutil.h"
#include "textclean.h"
#include "tokenizer.h"

/* Non-ftfy lines of tokens.jsonl, all of which must match, and the ftfy
 * lines matched when this test was written (a floor against regressions). */
#define REFERENCE_PLAIN_LINES 299
#define REFERENCE_FTFY_LINES 40
#define REFERENCE_FTFY_MATCHED 40

static clip_tokenizer *reference_tok;

/* Fails the test but lets it go on: GTest keeps only the last failure
 * message, so each one is also logged. */
#define FAIL_AND_GO_ON(...)                                                                        \
  do {                                                                                             \
    g_test_message(__VA_ARGS__);                                                                   \
    g_test_fail_printf(__VA_ARGS__);                                                               \
  } while (0)

/* The kit's tokenizer, loaded once; NULL (test skipped) without the kit. */
static const clip_tokenizer *
reference_tokenizer(void)
{
  if (!reference_tok) {
    char *vocab = testutil_reference_path("tokenizer/vocab.json");
    char *merges = testutil_reference_path("tokenizer/merges.txt");
    if (!vocab || !merges)
      return NULL;
    clip_error err = { 0 };
    gint64 t0 = g_get_monotonic_time();
    reference_tok = clip_tokenizer_load(vocab, merges, &err);
    g_test_message("loading the 49,408-token vocabulary and 48,894 merges took %.1f ms",
                   (g_get_monotonic_time() - t0) / 1000.0);
    if (!reference_tok)
      g_error("%s", err.message);
    g_free(vocab);
    g_free(merges);
  }
  return reference_tok;
}

/* Encodes text (which must succeed) into a new array; length in *n. */
static int32_t *
encode(const clip_tokenizer *tok, const char *text, size_t *n)
{
  clip_error err = { 0 };
  g_assert_cmpint(clip_tokenizer_encode(tok, text, NULL, 0, n, &err), ==, CLIP_OK);
  int32_t *ids = g_new(int32_t, *n);
  size_t again = 0;
  if (clip_tokenizer_encode(tok, text, ids, *n, &again, &err) != CLIP_OK)
    g_error("encoding \"%s\": %s", text, err.message);
  g_assert_cmpuint(again, ==, *n);
  return ids;
}

static char *
ids_string(const int32_t *ids, size_t n)
{
  GString *s = g_string_new("[");
  for (size_t i = 0; i < n; i++)
    g_string_append_printf(s, "%s%d", i ? ", " : "", ids[i]);
  g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

static void
assert_ids(const clip_tokenizer *tok, const char *text, const int32_t *expected, size_t n_expected)
{
  size_t n = 0;
  int32_t *ids = encode(tok, text, &n);
  if (n != n_expected || memcmp(ids, expected, n * sizeof *ids)) {
    char *got = ids_string(ids, n), *want = ids_string(expected, n_expected);
    FAIL_AND_GO_ON("\"%s\": expected %s, got %s", text, want, got);
    g_free(got);
    g_free(want);
  }
  g_free(ids);
}

#define ASSERT_IDS(tok, text, ...)                                                                 \
  do {                                                                                             \
    const int32_t expected_[] = { __VA_ARGS__ };                                                   \
    assert_ids(tok, text, expected_, G_N_ELEMENTS(expected_));                                     \
  } while (0)

static gboolean
json_ids_equal(const cJSON *array, const int32_t *ids, size_t n)
{
  if (!cJSON_IsArray(array) || (size_t) cJSON_GetArraySize(array) != n)
    return FALSE;
  size_t i = 0;
  for (const cJSON *v = array->child; v; v = v->next, i++)
    if (!cJSON_IsNumber(v) || v->valueint != ids[i])
      return FALSE;
  return TRUE;
}

/* Every tokens.jsonl line whose text ftfy leaves alone must give OpenAI's
 * ids, untruncated and as the 77-token model input. */
static void
test_reference_lines(void)
{
  const clip_tokenizer *tok = reference_tokenizer();
  if (!tok)
    return;
  char *path = testutil_reference_path("tokenizer/tokens.jsonl");
  char *data = NULL;
  g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
  char **lines = g_strsplit(data, "\n", -1);
  int plain = 0, plain_ok = 0, ftfy = 0, ftfy_ok = 0, clean_ok = 0;
  gint64 busy = 0;
  for (int i = 0; lines[i]; i++) {
    if (!*lines[i])
      continue;
    cJSON *line = cJSON_Parse(lines[i]);
    g_assert_nonnull(line);
    const char *text = cJSON_GetObjectItem(line, "text")->valuestring;
    const char *clean = cJSON_GetObjectItem(line, "clean")->valuestring;
    gboolean changed = cJSON_IsTrue(cJSON_GetObjectItem(line, "ftfy_changed"));

    gint64 t0 = g_get_monotonic_time();
    size_t n = 0;
    int32_t *ids = encode(tok, text, &n);
    busy += g_get_monotonic_time() - t0;
    int32_t ids77[77];
    size_t n77 = MIN(n, 77);
    memcpy(ids77, ids, n77 * sizeof *ids);
    if (n > 77)
      ids77[76] = clip_tokenizer_eot(tok);
    gboolean ok = json_ids_equal(cJSON_GetObjectItem(line, "ids"), ids, n)
                  && json_ids_equal(cJSON_GetObjectItem(line, "ids77"), ids77, n77);
    char *mine = clip_text_clean_utf8(text);
    if (changed) {
      ftfy++;
      ftfy_ok += ok;
      if (!ok)
        g_test_message("ftfy line %d not matched: \"%s\" (expected clean \"%s\", ours \"%s\")",
                       i + 1, text, clean, mine);
    } else {
      plain++;
      plain_ok += ok;
      if (g_strcmp0(mine, clean))
        FAIL_AND_GO_ON("line %d \"%s\": cleaned to \"%s\", tokens.jsonl has \"%s\"", i + 1, text,
                       mine, clean);
      else
        clean_ok++;
      if (!ok) {
        char *got = ids_string(ids, n);
        FAIL_AND_GO_ON("line %d \"%s\": ids differ from tokens.jsonl, got %s", i + 1, text, got);
        g_free(got);
      }
    }
    g_free(mine);
    g_free(ids);
    cJSON_Delete(line);
  }
  g_test_message("tokens.jsonl: %d/%d non-ftfy lines match (ids and ids77), %d/%d ftfy lines; "
                 "%d lines tokenized in %.2f ms",
                 plain_ok, plain, ftfy_ok, ftfy, plain + ftfy, busy / 1000.0);
  g_assert_cmpint(plain, ==, REFERENCE_PLAIN_LINES);
  g_assert_cmpint(ftfy, ==, REFERENCE_FTFY_LINES);
  g_assert_cmpint(plain_ok, ==, REFERENCE_PLAIN_LINES);
  g_assert_cmpint(clean_ok, ==, REFERENCE_PLAIN_LINES);
  g_assert_cmpint(ftfy_ok, >=, REFERENCE_FTFY_MATCHED);
  g_strfreev(lines);
  g_free(data);
  g_free(path);
}

static void
test_empty(void)
{
  const clip_tokenizer *tok = reference_tokenizer();
  if (!tok)
    return;
  g_assert_cmpint(clip_tokenizer_sot(tok), ==, 49406);
  g_assert_cmpint(clip_tokenizer_eot(tok), ==, 49407);
  g_assert_cmpint(clip_tokenizer_vocab_size(tok), ==, 49408);
  ASSERT_IDS(tok, "", 49406, 49407);
  ASSERT_IDS(tok, " ", 49406, 49407);
  ASSERT_IDS(tok, " \t\r\n\v\f\u00a0\u3000\u2028\u2029\u200a ", 49406, 49407);
  ASSERT_IDS(tok, "\x1f\x1c", 49406, 49407); /* control characters ftfy removes */
  ASSERT_IDS(tok, "&nbsp;&#32;", 49406, 49407);
}

static void
test_special_tokens(void)
{
  const clip_tokenizer *tok = reference_tokenizer();
  if (!tok)
    return;
  ASSERT_IDS(tok, "hello <|endoftext|> world", 49406, 3306, 49407, 1002, 49407);
  ASSERT_IDS(tok, "<|startoftext|>a photo<|endoftext|>", 49406, 49406, 320, 1125, 49407, 49407);
  /* Lower-cased before matching; "</w>" typed in text is punctuation. */
  ASSERT_IDS(tok, "HELLO <|ENDOFTEXT|> World", 49406, 3306, 49407, 1002, 49407);
  ASSERT_IDS(tok, "a</w>b", 49406, 320, 34308, 342, 285, 321, 49407);
  ASSERT_IDS(tok, "<|endoftext", 49406, 27, 347, 40786, 4160, 49407);
  /* The pattern is case-insensitive, so "'ſ" is the 's contraction and
   * "<|ſtartoftext|>" one pre-token -- which is not the special token. */
  size_t n = 0;
  int32_t *ids = encode(tok, "<|\u017ftartoftext|>", &n);
  g_assert_cmpuint(n, >, 3);
  for (size_t i = 1; i + 1 < n; i++)
    g_assert_cmpint(ids[i], <, 49406);
  g_free(ids);
}

/* Cleanup rules that the reference lines exercise only in part. */
static void
test_cleanup(void)
{
  static const struct {
    const char *text, *clean;
  } cases[] = {
    { "  A\t\tB  ", "a b" },
    { "\u0130stanbul", "i\u0307stanbul" }, /* İ -> i + U+0307 */
    { "\u03a3\u0391\u03a3 \u039f\u0394\u039f\u03a3.",
      "\u03c3\u03b1\u03c2 \u03bf\u03b4\u03bf\u03c2." },
    { "\u03a3", "\u03c3" },               /* no cased letter before: not final */
    { "\u216b \u24b6", "\u217b \u24d0" }, /* Ⅻ Ⓐ: Python lowers them, GLib does not */
    { "<b>&amp;amp;</b>", "<b>&</b>" },   /* with a tag only CLIP's two passes run */
    { "&amp;amp;amp;amp;", "&" },         /* ftfy repeats until nothing changes */
    { "fish &amp chips &ampx", "fish & chips &x" },
    { "&#128512; &#x1F600; &#0; &#x110000; &#128;", "\U0001F600 \U0001F600 \uFFFD \uFFFD \u20ac" },
    { "&EACUTE;t&eacute;", "\u00e9t\u00e9" }, /* ftfy's all-caps entity names */
    { "\u201ccurly\u201d \u2018quotes\u2019", "\"curly\" 'quotes'" },
    { "\uff21\uff22\uff23\uff0c\uff11", "abc,1" },
    { "\ufb01\ufb02 \u01c4", "fifl d\u017e" },
    { "e\u0301", "\u00e9" },
    { "sch\u00c3\u00b6n", "sch\u00f6n" },
    /* Valid UTF-8 once encoded, but ftfy does not call it mojibake: kept. */
    { "CAF\u00c9\u2019S", "caf\u00e9's" },
    { "ESPA\u00d1A\u2026", "espa\u00f1a\u2026" },
    /* Mojibake inside text that does not decode as a whole: fixed by runs. */
    { "\u00c3\u00a9t\u00c3\u00a9 \u00e2\u20ac", "\u00e9t\u00e9 \u00e2\u20ac" },
    { "\x1b[1;31mred\x1b[0m", "red" },
    { "a\r\nb\x0b"
      "c\ufeff",
      "a bc" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *got = clip_text_clean_utf8(cases[i].text);
    if (g_strcmp0(got, cases[i].clean))
      FAIL_AND_GO_ON("clean(\"%s\"): expected \"%s\", got \"%s\"", cases[i].text, cases[i].clean,
                     got);
    g_free(got);
  }
}

static void
test_long_input(void)
{
  const clip_tokenizer *tok = reference_tokenizer();
  if (!tok)
    return;
  /* 2,500 words: "the" is id 518. */
  GString *text = g_string_new(NULL);
  for (int i = 0; i < 2500; i++)
    g_string_append(text, "the ");
  g_assert_cmpuint(text->len, ==, 10000);
  size_t n = 0;
  int32_t *ids = encode(tok, text->str, &n);
  g_assert_cmpuint(n, ==, 2502);
  g_assert_cmpint(ids[0], ==, 49406);
  g_assert_cmpint(ids[2501], ==, 49407);
  for (size_t i = 1; i < 2501; i++)
    g_assert_cmpint(ids[i], ==, 518);
  g_free(ids);

  /* One 10,000-letter word: a long merge loop, every id a real token. */
  g_string_truncate(text, 0);
  for (int i = 0; i < 1000; i++)
    g_string_append(text, "photograph");
  ids = encode(tok, text->str, &n);
  g_assert_cmpuint(n, >, 2);
  g_assert_cmpuint(n, <, 5000);
  for (size_t i = 1; i + 1 < n; i++)
    g_assert_true(ids[i] >= 0 && ids[i] < 49406);
  g_free(ids);
  g_string_free(text, TRUE);

  /* A short buffer receives the first ids; *n is the full count. */
  int32_t buf[4] = { -1, -1, -1, -1 };
  clip_error err = { 0 };
  g_assert_cmpint(clip_tokenizer_encode(tok, "a photo of a cat", buf, 3, &n, &err), ==, CLIP_OK);
  g_assert_cmpuint(n, ==, 7);
  g_assert_cmpint(buf[0], ==, 49406);
  g_assert_cmpint(buf[1], ==, 320);
  g_assert_cmpint(buf[2], ==, 1125);
  g_assert_cmpint(buf[3], ==, -1);
}

static void
test_padded(void)
{
  const clip_tokenizer *tok = reference_tokenizer();
  if (!tok)
    return;
  int32_t ids[78];
  clip_error err = { 0 };
  ids[77] = -1;
  g_assert_cmpint(clip_tokenizer_encode_padded(tok, "a photo of a cat", ids, 77, &err), ==,
                  CLIP_OK);
  static const int32_t cat[] = { 49406, 320, 1125, 539, 320, 2368, 49407 };
  g_assert_cmpmem(ids, sizeof cat, cat, sizeof cat);
  for (int i = 7; i < 77; i++)
    g_assert_cmpint(ids[i], ==, 0);
  g_assert_cmpint(ids[77], ==, -1);

  GString *text = g_string_new(NULL);
  for (int i = 0; i < 100; i++)
    g_string_append(text, "the ");
  g_assert_cmpint(clip_tokenizer_encode_padded(tok, text->str, ids, 77, &err), ==, CLIP_OK);
  g_assert_cmpint(ids[0], ==, 49406);
  for (int i = 1; i < 76; i++)
    g_assert_cmpint(ids[i], ==, 518);
  g_assert_cmpint(ids[76], ==, 49407);
  g_assert_cmpint(ids[77], ==, -1);
  g_string_free(text, TRUE);

  g_assert_cmpint(clip_tokenizer_encode_padded(tok, "x", ids, 0, &err), ==, CLIP_ERR_ARG);
  g_assert_cmpint(clip_tokenizer_encode_padded(tok, "x\xff", ids, 77, &err), ==, CLIP_ERR_ARG);
}

static void
test_invalid_utf8(void)
{
  const clip_tokenizer *tok = reference_tokenizer();
  if (!tok)
    return;
  static const struct {
    const char *text, *offset;
  } cases[] = {
    { "caf\xe9", "offset 3" },          /* Latin-1 */
    { "ok \xc3", "offset 3" },          /* truncated sequence */
    { "\xc0\xaf", "offset 0" },         /* overlong */
    { "ab\xed\xa0\x80", "offset 2" },   /* surrogate */
    { "\xf4\x90\x80\x80", "offset 0" }, /* above U+10FFFF */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    clip_error err = { 0 };
    int32_t ids[8];
    size_t n = 99;
    g_assert_cmpint(clip_tokenizer_encode(tok, cases[i].text, ids, 8, &n, &err), ==, CLIP_ERR_ARG);
    g_assert_cmpint(err.status, ==, CLIP_ERR_ARG);
    g_assert_nonnull(strstr(err.message, "not valid UTF-8"));
    g_assert_nonnull(strstr(err.message, cases[i].offset));
  }
  clip_error err = { 0 };
  size_t n;
  g_assert_cmpint(clip_tokenizer_encode(tok, NULL, NULL, 0, &n, &err), ==, CLIP_ERR_ARG);
}

/* The kit's merges.txt rewritten with CRLF, a trailing line break, or no
 * #version header gives the same ids. */
static void
test_merges_variants(void)
{
  const clip_tokenizer *tok = reference_tokenizer();
  if (!tok)
    return;
  char *vocab = testutil_reference_path("tokenizer/vocab.json");
  char *merges = testutil_reference_path("tokenizer/merges.txt");
  char *data = NULL;
  g_assert_true(g_file_get_contents(merges, &data, NULL, NULL));
  g_assert_false(g_str_has_suffix(data, "\n"));
  char **lines = g_strsplit(data, "\n", -1);
  char *crlf = g_strjoinv("\r\n", lines);
  char *variants[4];
  variants[0] = g_strconcat(crlf, "\r\n", NULL);
  variants[1] = g_strconcat(data, "\n", NULL);
  variants[2] = g_strdup(crlf);
  variants[3] = g_strconcat("\xEF\xBB\xBF", strchr(data, '\n') + 1, NULL); /* BOM, no header */
  static const char *const texts[] = {
    "a photo of a person playing the cello.",
    "McDonald's and O'Reilly",
    "\u8fd9\u662f\u4e00\u4e2a\u4f8b\u5b50 \U0001F642 1,234",
  };
  for (size_t v = 0; v < G_N_ELEMENTS(variants); v++) {
    char name[32];
    g_snprintf(name, sizeof name, "merges-%zu.txt", v);
    char *path = testutil_write_file(name, variants[v], strlen(variants[v]));
    clip_error err = { 0 };
    clip_tokenizer *other = clip_tokenizer_load(vocab, path, &err);
    if (!other)
      g_error("%s", err.message);
    for (size_t t = 0; t < G_N_ELEMENTS(texts); t++) {
      size_t n1, n2;
      int32_t *a = encode(tok, texts[t], &n1), *b = encode(other, texts[t], &n2);
      g_assert_cmpmem(a, n1 * sizeof *a, b, n2 * sizeof *b);
      g_free(a);
      g_free(b);
    }
    clip_tokenizer_free(other);
    g_free(path);
    g_free(variants[v]);
  }
  g_free(crlf);
  g_strfreev(lines);
  g_free(data);
  g_free(vocab);
  g_free(merges);
}

/* A hand-made vocabulary: ids in any order, SOT/EOT wherever they are. */
static const char tiny_vocab[] =
    "{\"a\": 0, \"b\": 1, \"c\": 2, \"<|endoftext|>\": 3, \"a</w>\": 4, \"b</w>\": 5,"
    " \"c</w>\": 6, \"<|startoftext|>\": 7, \"ab\": 8, \"bc</w>\": 9, \"abc</w>\": 10,"
    " \"\\u0120\": 11}";
static const char tiny_merges[] = "#version: 0.2\na b\nab c</w>\nb c</w>\n";

static clip_tokenizer *
load_files(const char *vocab, const char *merges, clip_error *err)
{
  char *vpath = testutil_write_file("vocab.json", vocab, strlen(vocab));
  char *mpath = testutil_write_file("merges.txt", merges, strlen(merges));
  clip_tokenizer *tok = clip_tokenizer_load(vpath, mpath, err);
  g_free(vpath);
  g_free(mpath);
  return tok;
}

static void
test_tiny_vocabulary(void)
{
  clip_error err = { 0 };
  clip_tokenizer *tok = load_files(tiny_vocab, tiny_merges, &err);
  if (!tok)
    g_error("%s", err.message);
  g_assert_cmpint(clip_tokenizer_sot(tok), ==, 7);
  g_assert_cmpint(clip_tokenizer_eot(tok), ==, 3);
  g_assert_cmpint(clip_tokenizer_vocab_size(tok), ==, 12);
  ASSERT_IDS(tok, "", 7, 3);
  /* a b c</w>: "a b" (rank 0) first, then "ab c</w>" (rank 1) beats "b c</w>". */
  ASSERT_IDS(tok, "abc", 7, 10, 3);
  ASSERT_IDS(tok, "bc", 7, 9, 3);
  ASSERT_IDS(tok, "ABC  bc", 7, 10, 9, 3);
  /* "a b</w>" is no merge: the end-of-word symbol is a different symbol. */
  ASSERT_IDS(tok, "abab", 7, 8, 0, 5, 3);
  ASSERT_IDS(tok, "cab", 7, 2, 0, 5, 3);
  ASSERT_IDS(tok, "a<|endoftext|>", 7, 4, 3, 3);

  /* A byte without a symbol, and no <unk>: a clear error. */
  int32_t ids[8];
  size_t n = 0;
  g_assert_cmpint(clip_tokenizer_encode(tok, "abd", ids, 8, &n, &err), ==, CLIP_ERR_FORMAT);
  g_assert_nonnull(
      strstr(err.message, "vocab.json has no symbol for byte 0x64 at the end of a word"));
  g_assert_nonnull(strstr(err.message, "\"abd\""));
  clip_tokenizer_free(tok);

  /* With <unk>, unknown symbols map to it. */
  char *with_unk = g_strdup(tiny_vocab);
  with_unk[strlen(with_unk) - 1] = '\0';
  char *vocab = g_strconcat(with_unk, ", \"<unk>\": 12}", NULL);
  tok = load_files(vocab, tiny_merges, &err);
  if (!tok)
    g_error("%s", err.message);
  ASSERT_IDS(tok, "abd dc", 7, 8, 12, 12, 6, 3);
  clip_tokenizer_free(tok);
  g_free(vocab);

  /* A repeated token keeps its last id; ids may have gaps, up to 2^31 - 2. */
  tok = load_files("{\"<|startoftext|>\": 0, \"a\": 1, \"<|endoftext|>\": 2147483646, \"a\": 5}",
                   "#version: 0.2\n", &err);
  if (!tok)
    g_error("%s", err.message);
  g_assert_cmpint(clip_tokenizer_eot(tok), ==, 2147483646);
  g_assert_cmpint(clip_tokenizer_vocab_size(tok), ==, 2147483647);
  clip_tokenizer_free(tok);

  /* A byte-order mark before the JSON is tolerated. */
  vocab = g_strconcat("\xEF\xBB\xBF", tiny_vocab, NULL);
  tok = load_files(vocab, tiny_merges, &err);
  if (!tok)
    g_error("%s", err.message);
  ASSERT_IDS(tok, "abc", 7, 10, 3);
  clip_tokenizer_free(tok);
  g_free(vocab);
  g_free(with_unk);
}

static void
expect_load_error(const char *vocab, const char *merges, clip_status status, const char *file,
                  const char *part)
{
  clip_error err = { 0 };
  clip_tokenizer *tok = load_files(vocab, merges, &err);
  if (tok)
    g_error("loading should fail with \"%s\"", part);
  g_assert_cmpint(err.status, ==, status);
  if (!strstr(err.message, file) || !strstr(err.message, part))
    g_error("error \"%s\" should name %s and say \"%s\"", err.message, file, part);
}

static void
test_bad_vocab(void)
{
  static const struct {
    const char *vocab, *part;
  } cases[] = {
    { "", "invalid JSON" },
    { "{\"a\": 0,", "invalid JSON" },
    { "[\"a\", \"b\"]", "expected a JSON object mapping each token to its id, found an array" },
    { "42", "found a number" },
    { "{\"a\": 0, \"b\": 1.5}", "token \"b\": expected an integer id from 0 to" },
    { "{\"a\": 0, \"b\": -1}", "token \"b\": expected an integer id from 0 to" },
    { "{\"a\": 0, \"b\": 1e12}", "token \"b\": expected an integer id from 0 to" },
    { "{\"a\": \"0\"}", "token \"a\": expected an integer id, found a string" },
    { "{\"a\": null}", "token \"a\": expected an integer id, found null" },
    { "{\"a\": 0, \"<|endoftext|>\": 1}", "the special token \"<|startoftext|>\" is missing" },
    { "{\"a\": 0, \"<|startoftext|>\": 1}", "the special token \"<|endoftext|>\" is missing" },
    { "{\"a\": 0, \"b\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}",
      "id 0 is given to both" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_load_error(cases[i].vocab, "#version: 0.2\n", CLIP_ERR_FORMAT, "vocab.json",
                      cases[i].part);

  clip_error err = { 0 };
  char *merges = testutil_write_file("merges.txt", tiny_merges, strlen(tiny_merges));
  g_assert_null(clip_tokenizer_load("/nonexistent/vocab.json", merges, &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_IO);
  g_assert_nonnull(strstr(err.message, "/nonexistent/vocab.json: cannot read the vocabulary"));
  g_free(merges);
}

static void
test_bad_merges(void)
{
  static const struct {
    const char *merges, *part;
  } cases[] = {
    { "#version: 0.2\na b\nab\n", "merges.txt:3: expected two symbols separated by a space, "
                                  "found 1: \"ab\"" },
    { "#version: 0.2\na b c\n", "merges.txt:2: expected two symbols separated by a space, "
                                "found 3" },
    { "#version: 0.2\na b\n\nab c</w>", "merges.txt:3: expected two symbols separated by a "
                                        "space, found 0" },
    { "#version: 0.2\r\na b\r\na x\r\n", "merges.txt:3: symbol \"x\" is not in" },
    { "a b\nb a\n", "merges.txt:2: the merge \"ba\" is not in" },
    { "#version: 0.2\na b\n#version: 0.2\n", "merges.txt:3: symbol \"#version:\" is not in" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_load_error(tiny_vocab, cases[i].merges, CLIP_ERR_FORMAT, "merges.txt", cases[i].part);

  clip_error err = { 0 };
  char *vocab = testutil_write_file("vocab.json", tiny_vocab, strlen(tiny_vocab));
  g_assert_null(clip_tokenizer_load(vocab, "/nonexistent/merges.txt", &err));
  g_assert_cmpint(err.status, ==, CLIP_ERR_IO);
  g_assert_nonnull(strstr(err.message, "/nonexistent/merges.txt: cannot read the merges"));
  g_free(vocab);
}

/* Random text never fails or yields an id outside the vocabulary; random
 * bytes are either valid UTF-8 or refused. */
static void
test_random_input(void)
{
  const clip_tokenizer *tok = reference_tokenizer();
  if (!tok)
    return;
  static const gunichar pool[] = {
    'a',    'Z',    '0',     ' ',     '\t',   '\n',     '\r',   '&',    '#',    ';',
    '<',    '>',    '|',     '\'',    's',    'x',      0x01,   0x0B,   0x1B,   '[',
    0x7F,   0x85,   0x9D,    0xA0,    0xC3,   0xA9,     0xE2,   0x20AC, 0x153,  0x17F,
    0x130,  0x3A3,  0x301,   0x300,   0x2028, 0x3000,   0xFF21, 0xFF0C, 0xFF9E, 0xFFE3,
    0xFB01, 0x1C5,  0x2019,  0x201C,  0xFEFF, 0x4E2D,   0xAC00, 0x915,  0x94D,  0xE01,
    0x216B, 0x24B6, 0x1F642, 0x1F3FD, 0xFFFD, 0x10FFFF,
  };
  static const char *const pieces[] = {
    "<|startoftext|>", "<|endoftext|>", "&amp;", "&#x41;",
    "&#9999999999;",   "&lt",           "'ll",   "\xc3\xa2\xe2\x82\xac"
  };
  GRand *rand = g_rand_new_with_seed(20261127);
  GString *text = g_string_new(NULL);
  for (int round = 0; round < 400; round++) {
    g_string_truncate(text, 0);
    int len = g_rand_int_range(rand, 0, 120);
    for (int i = 0; i < len; i++) {
      if (g_rand_int_range(rand, 0, 10) == 0)
        g_string_append(text, pieces[g_rand_int_range(rand, 0, G_N_ELEMENTS(pieces))]);
      else
        g_string_append_unichar(text, pool[g_rand_int_range(rand, 0, G_N_ELEMENTS(pool))]);
    }
    size_t n = 0;
    int32_t *ids = encode(tok, text->str, &n);
    g_assert_cmpuint(n, >=, 2);
    g_assert_cmpint(ids[0], ==, 49406);
    g_assert_cmpint(ids[n - 1], ==, 49407);
    for (size_t i = 0; i < n; i++)
      g_assert_true(ids[i] >= 0 && ids[i] < 49408);
    g_free(ids);
  }
  for (int round = 0; round < 400; round++) {
    char bytes[65];
    int len = g_rand_int_range(rand, 0, 64);
    for (int i = 0; i < len; i++)
      bytes[i] = (char) g_rand_int_range(rand, 1, 256);
    bytes[len] = '\0';
    clip_error err = { 0 };
    int32_t ids[300];
    size_t n = 0;
    clip_status st = clip_tokenizer_encode(tok, bytes, ids, G_N_ELEMENTS(ids), &n, &err);
    g_assert_true(st == (g_utf8_validate(bytes, -1, NULL) ? CLIP_OK : CLIP_ERR_ARG));
  }
  g_string_free(text, TRUE);
  g_rand_free(rand);
}

/* Every truncation of a valid vocab.json or merges.txt loads or is refused
 * as malformed; none crashes. */
static void
test_truncated_files(void)
{
  for (size_t len = 0; len < strlen(tiny_vocab); len++) {
    char *vocab = g_strndup(tiny_vocab, len);
    clip_error err = { 0 };
    clip_tokenizer *tok = load_files(vocab, tiny_merges, &err);
    g_assert_null(tok);
    g_assert_cmpint(err.status, ==, CLIP_ERR_FORMAT);
    g_free(vocab);
  }
  for (size_t len = 0; len <= strlen(tiny_merges); len++) {
    char *merges = g_strndup(tiny_merges, len);
    clip_error err = { 0 };
    clip_tokenizer *tok = load_files(tiny_vocab, merges, &err);
    g_assert_true(tok ? err.status == CLIP_OK : err.status == CLIP_ERR_FORMAT);
    clip_tokenizer_free(tok);
    g_free(merges);
  }
}

/* ---- clip-tool tokenize ------------------------------------------------ */

typedef struct {
  int status;
  char *out, *err;
} tool_result;

static gboolean
run_tool(tool_result *r, const char *first, ...)
{
  GPtrArray *args = g_ptr_array_new();
  g_ptr_array_add(args, (char *) "tokenize");
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(args, (char *) a);
  va_end(ap);
  g_ptr_array_add(args, NULL);
  r->status = testutil_run_tool((const char *const *) args->pdata, &r->out, &r->err);
  g_ptr_array_free(args, TRUE);
  return TRUE;
}

static void
tool_result_clear(tool_result *r)
{
  g_free(r->out);
  g_free(r->err);
}

/* The ids of line i of the tool's JSON output, checked against its text. */
static void
assert_tool_line(const char *out, int i, const char *text, const int32_t *ids, size_t n)
{
  char **lines = g_strsplit(out, "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), >, (guint) i);
  cJSON *line = cJSON_Parse(lines[i]);
  g_assert_nonnull(line);
  g_assert_cmpstr(cJSON_GetObjectItem(line, "text")->valuestring, ==, text);
  if (!json_ids_equal(cJSON_GetObjectItem(line, "ids"), ids, n))
    g_error("clip-tool line %d: unexpected ids in %s", i, lines[i]);
  cJSON_Delete(line);
  g_strfreev(lines);
}

static void
test_tool(void)
{
  char *kit = testutil_reference_path("tokenizer");
  if (!kit)
    return;
  tool_result r = { 0 };
  if (!run_tool(&r, "--model", kit, "a photo of a cat", "hello <|endoftext|> world", NULL))
    return;
  g_assert_cmpint(r.status, ==, 0);
  static const int32_t cat[] = { 49406, 320, 1125, 539, 320, 2368, 49407 };
  static const int32_t hello[] = { 49406, 3306, 49407, 1002, 49407 };
  assert_tool_line(r.out, 0, "a photo of a cat", cat, G_N_ELEMENTS(cat));
  assert_tool_line(r.out, 1, "hello <|endoftext|> world", hello, G_N_ELEMENTS(hello));
  tool_result_clear(&r);

  /* --jsonl with --context 77: the long caption is cut to ids[:76] + EOT. */
  GString *caption = g_string_new(NULL);
  for (int i = 0; i < 100; i++)
    g_string_append(caption, "the ");
  char *jsonl = g_strdup_printf("{\"text\": \"a photo of a cat\", \"kind\": \"x\"}\n\n"
                                "{\"text\": \"%s\"}\n",
                                caption->str);
  char *path = testutil_write_file("texts.jsonl", jsonl, strlen(jsonl));
  run_tool(&r, "--model", kit, "--context", "77", "--jsonl", path, NULL);
  g_assert_cmpint(r.status, ==, 0);
  int32_t the77[77];
  the77[0] = 49406;
  for (int i = 1; i < 76; i++)
    the77[i] = 518;
  the77[76] = 49407;
  assert_tool_line(r.out, 0, "a photo of a cat", cat, G_N_ELEMENTS(cat));
  assert_tool_line(r.out, 1, caption->str, the77, 77);
  tool_result_clear(&r);

  /* Usage errors exit with 2 and print the usage. */
  const char *bad[][6] = {
    { "a photo", NULL },
    { "--model", kit, NULL },
    { "--model", kit, "--jsonl", path, "text" },
    { "--model", kit, "--context", "0", "text" },
    { "--model", kit, "--context", "77x", "text" },
    { "--model", kit, "--frobnicate", "text", NULL },
    { "--model", NULL },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    run_tool(&r, bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4], bad[i][5], NULL);
    if (r.status != 2) /* say which call and what it printed */
      g_error("clip-tool tokenize %s %s: exit %d (expected 2), stderr '%s'", bad[i][0],
              bad[i][1] ? bad[i][1] : "", r.status, r.err);
    g_assert_nonnull(strstr(r.err, "usage: clip-tool tokenize"));
    tool_result_clear(&r);
  }

  /* Failures exit with 1 and say why. */
  run_tool(&r, "--model", "/nonexistent-model", "text", NULL);
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "/nonexistent-model"));
  tool_result_clear(&r);
  run_tool(&r, "--model", kit, "--jsonl", "/nonexistent.jsonl", NULL);
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "/nonexistent.jsonl"));
  tool_result_clear(&r);
  char *no_text = testutil_write_file("no-text.jsonl", "{\"txt\": 1}\n", 11);
  run_tool(&r, "--model", kit, "--jsonl", no_text, NULL);
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "no-text.jsonl:1: expected a JSON object with a \"text\" string"));
  tool_result_clear(&r);
  run_tool(&r, "--model", kit, "caf\xe9", NULL);
  g_assert_cmpint(r.status, ==, 1);
  g_assert_nonnull(strstr(r.err, "not valid UTF-8"));
  tool_result_clear(&r);

  g_free(no_text);
  g_free(path);
  g_free(jsonl);
  g_string_free(caption, TRUE);
  g_free(kit);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/tokenizer/reference-lines", test_reference_lines);
  g_test_add_func("/tokenizer/empty", test_empty);
  g_test_add_func("/tokenizer/special-tokens", test_special_tokens);
  g_test_add_func("/tokenizer/cleanup", test_cleanup);
  g_test_add_func("/tokenizer/long-input", test_long_input);
  g_test_add_func("/tokenizer/padded", test_padded);
  g_test_add_func("/tokenizer/invalid-utf8", test_invalid_utf8);
  g_test_add_func("/tokenizer/merges-variants", test_merges_variants);
  g_test_add_func("/tokenizer/tiny-vocabulary", test_tiny_vocabulary);
  g_test_add_func("/tokenizer/bad-vocab", test_bad_vocab);
  g_test_add_func("/tokenizer/bad-merges", test_bad_merges);
  g_test_add_func("/tokenizer/random-input", test_random_input);
  g_test_add_func("/tokenizer/truncated-files", test_truncated_files);
  g_test_add_func("/tokenizer/clip-tool", test_tool);
  int status = g_test_run();
  clip_tokenizer_free(reference_tok);
  return status;
}
