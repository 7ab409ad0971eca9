/* clip-tool's command line: help and usage errors of every subcommand, and
 * models found by name as the element finds them (clip_model_resolve). */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "testutil.h"

static const char *const commands[] = { "info",  "tokenize",     "run",   "preprocess",
                                        "score", "random-model", "bench", NULL };

/* Name lookups must not see the user's downloads or search path. */
static void
isolate_search_path(void)
{
  char *data = g_build_filename(testutil_tmpdir(), "xdg-data", NULL);
  g_mkdir_with_parents(data, 0755);
  g_setenv("XDG_DATA_HOME", data, TRUE);
  g_unsetenv("CLIPFILTER_MODEL_PATH");
  g_free(data);
}

static void
test_help(void)
{
  for (const char *const *c = commands; *c; c++)
    for (const char *const *h = (const char *[]){ "--help", "-h", NULL }; *h; h++) {
      char *out = NULL, *err = NULL;
      /* alone, and after other arguments (a model name, an option) */
      g_assert_cmpint(testutil_run_tool((const char *[]){ *c, *h, NULL }, &out, &err), ==, 0);
      char *want = g_strdup_printf("usage: clip-tool %s ", *c);
      g_assert_true(g_str_has_prefix(out, want));
      g_assert_cmpstr(err, ==, "");
      g_free(out), g_free(err);
      g_assert_cmpint(
          testutil_run_tool((const char *[]){ *c, "clipfilter-mini", "--runs", *h, NULL }, &out,
                            &err),
          ==, 0);
      g_assert_true(g_str_has_prefix(out, want));
      g_free(want), g_free(out), g_free(err);
    }
  char *out = NULL, *err = NULL;
  g_assert_cmpint(testutil_run_tool((const char *[]){ "--help", NULL }, &out, &err), ==, 0);
  g_assert_true(g_str_has_prefix(out, "usage: clip-tool COMMAND"));
  g_free(out), g_free(err);
}

static void
test_usage_errors(void)
{
  for (const char *const *c = commands; *c; c++) {
    char *out = NULL, *err = NULL;
    g_assert_cmpint(
        testutil_run_tool((const char *[]){ *c, "--no-such-option", "x", NULL }, &out, &err), ==,
        2);
    g_assert_nonnull(strstr(err, "usage: clip-tool"));
    g_free(out), g_free(err);
    /* no arguments at all */
    g_assert_cmpint(testutil_run_tool((const char *[]){ *c, NULL }, &out, &err), ==, 2);
    g_free(out), g_free(err);
  }
  char *out = NULL, *err = NULL;
  g_assert_cmpint(testutil_run_tool((const char *[]){ "no-such-command", NULL }, &out, &err), ==,
                  2);
  g_assert_nonnull(strstr(err, "unknown command 'no-such-command'"));
  g_free(out), g_free(err);
}

/* The shipped model by name, from the build tree (the source tree's models
 * directory), by info, score and bench. */
static void
test_shipped_model_by_name(void)
{
  isolate_search_path();
  char *out = NULL, *err = NULL;
  g_assert_cmpint(
      testutil_run_tool((const char *[]){ "info", "clipfilter-mini", NULL }, &out, &err), ==, 0);
  char *want = g_build_filename(g_getenv("CLIP_SOURCE_ROOT"), "models", "clipfilter-mini", NULL);
  char *field = g_strdup_printf("\"path\":\t\"%s\"", want);
  g_assert_nonnull(strstr(out, field));
  g_assert_nonnull(strstr(out, "\"tokenizer\":\ttrue"));
  g_free(field), g_free(want), g_free(out), g_free(err);

  /* score: a PPM of one flat red frame */
  char *ppm = g_build_filename(testutil_tmpdir(), "red.ppm", NULL);
  GString *img = g_string_new("P6\n64 64\n255\n");
  for (int i = 0; i < 64 * 64; i++)
    g_string_append_len(img, "\xff\x00\x00", 3);
  g_assert_true(g_file_set_contents(ppm, img->str, (gssize) img->len, NULL));
  g_string_free(img, TRUE);
  g_assert_cmpint(
      testutil_run_tool((const char *[]){ "score", "clipfilter-mini", ppm, "red", "blue", NULL },
                        &out, &err),
      ==, 0);
  g_assert_nonnull(strstr(out, "\"labels\":[\"red\",\"blue\"]"));
  g_free(out), g_free(err), g_free(ppm);

  g_assert_cmpint(
      testutil_run_tool((const char *[]){ "bench", "clipfilter-mini", "--runs", "1", "--text", "0",
                                          "--floor-seconds", "0.01", NULL },
                        &out, &err),
      ==, 0);
  g_free(out), g_free(err);
}

static void
test_not_found(void)
{
  isolate_search_path();
  char *out = NULL, *err = NULL;
  g_assert_cmpint(testutil_run_tool((const char *[]){ "info", "no-such-model", NULL }, &out, &err),
                  ==, 1);
  g_assert_nonnull(strstr(err, "model 'no-such-model' not found (searched: "));
  g_assert_nonnull(strstr(err, g_getenv("XDG_DATA_HOME")));
  g_assert_nonnull(strstr(err, "models/fetch-model.sh"));
  g_free(out), g_free(err);
}

/* The rule itself: a path as written, else $CLIPFILTER_MODEL_PATH, the
 * user's data directory, then the given directories, first match wins. */
static void
test_resolve(void)
{
  const char *tmp = testutil_tmpdir();
  char *a = g_build_filename(tmp, "dirs-a", NULL), *b = g_build_filename(tmp, "dirs-b", NULL);
  char *env = g_build_filename(tmp, "dirs-env", NULL);
  char *xdg = g_build_filename(tmp, "xdg-data", NULL);
  char *user = g_build_filename(xdg, "clipfilter", "models", NULL);
  for (char **d = (char *[]){ a, b, env, user, NULL }; *d; d++)
    g_assert_cmpint(g_mkdir_with_parents(*d, 0755), ==, 0);
  char *in_b = g_build_filename(b, "m", NULL), *in_env = g_build_filename(env, "m", NULL);
  char *in_user = g_build_filename(user, "m", NULL);
  g_assert_cmpint(g_mkdir(in_b, 0755), ==, 0);
  const char *const dirs[] = { a, b, NULL };
  g_setenv("XDG_DATA_HOME", xdg, TRUE);
  g_unsetenv("CLIPFILTER_MODEL_PATH");

  char *searched = NULL, *p = clip_model_resolve("m", dirs, &searched);
  g_assert_cmpstr(p, ==, in_b);
  char *list = g_strdup_printf("%s, %s, %s", user, a, b);
  g_assert_cmpstr(searched, ==, list);
  free(p), free(searched), g_free(list);

  g_assert_cmpint(g_mkdir(in_user, 0755), ==, 0);
  p = clip_model_resolve("m", dirs, NULL);
  g_assert_cmpstr(p, ==, in_user);
  free(p);

  g_assert_cmpint(g_mkdir(in_env, 0755), ==, 0);
  char *path_env = g_strdup_printf("/nonexistent%s%s", G_SEARCHPATH_SEPARATOR_S, env);
  g_setenv("CLIPFILTER_MODEL_PATH", path_env, TRUE);
  p = clip_model_resolve("m", dirs, NULL);
  g_assert_cmpstr(p, ==, in_env);
  free(p);

  /* not found: NULL, every directory named */
  p = clip_model_resolve("other", dirs, &searched);
  g_assert_null(p);
  list = g_strdup_printf("/nonexistent, %s, %s, %s, %s", env, user, a, b);
  g_assert_cmpstr(searched, ==, list);
  free(searched), g_free(list);

  /* a path is taken as written, found or not */
  p = clip_model_resolve("/no/such/dir/m", dirs, NULL);
  g_assert_cmpstr(p, ==, "/no/such/dir/m");
  free(p);
  g_assert_null(clip_model_resolve("", dirs, NULL));

  g_unsetenv("CLIPFILTER_MODEL_PATH");
  for (char **d = (char *[]){ in_env, in_user, in_b, a, b, env, user, NULL }; *d; d++) {
    g_rmdir(*d);
    g_free(*d);
  }
  g_free(path_env), g_free(xdg);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/clip-tool/help", test_help);
  g_test_add_func("/clip-tool/usage-errors", test_usage_errors);
  g_test_add_func("/clip-tool/shipped-model-by-name", test_shipped_model_by_name);
  g_test_add_func("/clip-tool/not-found", test_not_found);
  g_test_add_func("/clip-tool/resolve", test_resolve);
  return g_test_run();
}
