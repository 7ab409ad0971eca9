/* clip-tool tokenize — token ids of texts as JSON lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <glib.h>

#include "clip.h"
#include "tokenizer.h"
#include "tool.h"

#define USAGE "usage: clip-tool tokenize --model MODEL [--context N] (TEXT... | --jsonl FILE)\n"

/* Either a bare vocabulary (a directory with vocab.json and merges.txt, which
 * also covers Hugging Face checkpoints without loading their weights) or
 * anything clip_model_load() accepts. */
typedef struct {
  clip_tokenizer *tok;
  clip_model *model;
} tokenize_source;

static int
usage_error(const char *fmt, const char *arg)
{
  fprintf(stderr, "clip-tool tokenize: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n" USAGE);
  return 2;
}

static int
source_open(tokenize_source *src, const char *path)
{
  clip_error err = { 0 };
  char *found = tool_model_path(path, &err);
  if (!found) {
    fprintf(stderr, "clip-tool tokenize: %s\n", err.message);
    return 1;
  }
  path = found;
  char *vocab = g_build_filename(path, "vocab.json", NULL);
  char *merges = g_build_filename(path, "merges.txt", NULL);
  if (g_file_test(vocab, G_FILE_TEST_IS_REGULAR) && g_file_test(merges, G_FILE_TEST_IS_REGULAR))
    src->tok = clip_tokenizer_load(vocab, merges, &err);
  else
    src->model = clip_model_load(path, NULL, &err);
  g_free(vocab);
  g_free(merges);
  free(found);
  if (!src->tok && !src->model) {
    fprintf(stderr, "clip-tool tokenize: %s\n", err.message);
    return 1;
  }
  return 0;
}

static clip_status
source_encode(const tokenize_source *src, const char *text, int32_t *ids, size_t cap, size_t *n,
              clip_error *err)
{
  if (src->tok)
    return clip_tokenizer_encode(src->tok, text, ids, cap, n, err);
  return clip_tokenize(src->model, text, ids, cap, n, err);
}

/* Prints {"text": ..., "ids": [...]}; with context > 0 the ids are CLIP's
 * model input without its zero padding: ids[:context-1] + EOT when longer. */
static int
print_tokens(const tokenize_source *src, const char *text, long context, const char *where)
{
  clip_error err = { 0 };
  size_t n = 0;
  int32_t *ids = NULL;
  if (source_encode(src, text, NULL, 0, &n, &err) == CLIP_OK) {
    ids = malloc(n * sizeof *ids);
    if (!ids) {
      fprintf(stderr, "clip-tool tokenize: out of memory\n");
      return 1;
    }
    source_encode(src, text, ids, n, &n, &err);
  }
  if (err.status != CLIP_OK) {
    fprintf(stderr, "clip-tool tokenize: %s%s\n", where, err.message);
    free(ids);
    return 1;
  }
  if (context > 0 && n > (size_t) context) {
    ids[context - 1] = ids[n - 1]; /* the last id is always EOT */
    n = (size_t) context;
  }
  cJSON *line = cJSON_CreateObject();
  cJSON *list = cJSON_CreateArray();
  cJSON_AddItemToObject(line, "text", cJSON_CreateString(text));
  cJSON_AddItemToObject(line, "ids", list);
  for (size_t i = 0; i < n; i++)
    cJSON_AddItemToArray(list, cJSON_CreateNumber(ids[i]));
  char *json = cJSON_PrintUnformatted(line);
  int status = 0;
  if (json)
    printf("%s\n", json);
  else
    status = 1, fprintf(stderr, "clip-tool tokenize: out of memory\n");
  cJSON_free(json);
  cJSON_Delete(line);
  free(ids);
  return status;
}

/* Whether a JSON text holds a \\u0000 escape, which cJSON would take as
 * the end of the string: the prompt would be cut there without a word. */
static bool
has_escaped_nul(const char *json, size_t len)
{
  for (size_t i = 0; i + 1 < len; i++) {
    if (json[i] != '\\')
      continue;
    if (json[i + 1] == 'u' && i + 6 <= len && !memcmp(json + i + 2, "0000", 4))
      return true;
    i++;
  }
  return false;
}

static int
tokenize_jsonl(const tokenize_source *src, const char *path, long context)
{
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) {
    fprintf(stderr, "clip-tool tokenize: %s: %s\n", path, strerror(errno));
    return 1;
  }
  char *buf = NULL;
  size_t size = 0;
  ssize_t len;
  int status = 0;
  for (long line_no = 1; status == 0 && (len = getline(&buf, &size, f)) >= 0; line_no++) {
    if (strspn(buf, " \t\r\n") == (size_t) len)
      continue;
    cJSON *obj = cJSON_ParseWithLength(buf, (size_t) len);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(obj, "text");
    char where[64];
    snprintf(where, sizeof where, "line %ld: ", line_no);
    if (!cJSON_IsString(text)) {
      fprintf(stderr, "clip-tool tokenize: %s:%ld: expected a JSON object with a \"text\" string\n",
              path, line_no);
      status = 1;
    } else if (has_escaped_nul(buf, (size_t) len)) {
      fprintf(stderr,
              "clip-tool tokenize: %s:%ld: the line holds a NUL character (\\u0000), "
              "which a prompt cannot contain\n",
              path, line_no);
      status = 1;
    } else {
      status = print_tokens(src, text->valuestring, context, where);
    }
    cJSON_Delete(obj);
  }
  if (status == 0 && ferror(f)) {
    fprintf(stderr, "clip-tool tokenize: %s: read error\n", path);
    status = 1;
  }
  free(buf);
  if (f != stdin)
    fclose(f);
  return status;
}

int
cmd_tokenize(int argc, char **argv)
{
  const char *model = NULL, *jsonl = NULL;
  long context = 0;
  int first_text = argc;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      printf(USAGE);
      return 0;
    }
    if (!strcmp(arg, "--")) {
      first_text = i + 1;
      break;
    }
    if (arg[0] != '-' || arg[1] == '\0') {
      first_text = i;
      break;
    }
    bool takes_value =
        !strcmp(arg, "--model") || !strcmp(arg, "--context") || !strcmp(arg, "--jsonl");
    if (!takes_value)
      return usage_error("unknown option '%s'", arg);
    if (i + 1 >= argc)
      return usage_error("%s needs a value", arg);
    const char *value = argv[++i];
    if (!strcmp(arg, "--model")) {
      model = value;
    } else if (!strcmp(arg, "--jsonl")) {
      jsonl = value;
    } else {
      char *end = NULL;
      errno = 0;
      context = strtol(value, &end, 10);
      if (errno || end == value || *end || context < 1 || context > 1000000)
        return usage_error("--context expects a whole number from 1 to 1000000, found '%s'", value);
    }
  }
  int n_texts = argc - first_text;
  if (!model)
    return usage_error("%s", "--model is required");
  if ((n_texts > 0) == (jsonl != NULL))
    return usage_error("%s", "give either TEXT... or --jsonl FILE");

  tokenize_source src = { 0 };
  if (source_open(&src, model))
    return 1;
  int status = 0;
  if (jsonl)
    status = tokenize_jsonl(&src, jsonl, context);
  for (int i = first_text; i < argc && status == 0; i++)
    status = print_tokens(&src, argv[i], context, "");
  clip_tokenizer_free(src.tok);
  clip_model_free(src.model);
  return status;
}
