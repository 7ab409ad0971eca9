#include "testutil.h"
#include "tmpdir.h"

#include <string.h>

#include <stdlib.h>
#include <sys/wait.h>

const char *
testutil_reference_dir(void)
{
  static char *dir;
  const char *env = g_getenv("CLIP_REFERENCE_DIR");
  if (!dir && env && g_file_test(env, G_FILE_TEST_IS_DIR)) {
    char *tok = g_build_filename(env, "tokenizer", "tokens.jsonl", NULL);
    if (g_file_test(tok, G_FILE_TEST_EXISTS))
      dir = g_strdup(env);
    g_free(tok);
  }
  if (dir)
    return dir;
  if (g_strcmp0(g_getenv("CI"), "true") == 0)
    g_test_fail_printf("reference kit not found at '%s' (CLIP_REFERENCE_DIR); under CI=true it "
                       "must be present",
                       env ? env : "(unset)");
  else
    g_test_skip_printf("reference kit not found at '%s' (set CLIP_REFERENCE_DIR)",
                       env ? env : "(unset)");
  return NULL;
}

char *
testutil_reference_path(const char *relative)
{
  const char *dir = testutil_reference_dir();
  return dir ? g_build_filename(dir, relative, NULL) : NULL;
}

const char *
testutil_tmpdir(void)
{
  const char *dir = tmpdir_at_exit("clip-test-XXXXXX");
  g_assert_nonnull(dir);
  return dir;
}

char *
testutil_write_file(const char *name, const void *data, gsize len)
{
  char *path = g_build_filename(testutil_tmpdir(), name, NULL);
  g_assert_true(g_file_set_contents(path, data, (gssize) len, NULL));
  return path;
}

int
testutil_run_tool(const char *const *args, char **out, char **err)
{
  const char *tool = g_getenv("CLIP_TOOL");
  g_assert_nonnull(tool);
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *) tool);
  for (const char *const *a = args; *a; a++)
    g_ptr_array_add(argv, (char *) *a);
  g_ptr_array_add(argv, NULL);
  int status = 0;
  char *o = NULL, *e = NULL;
  /* In sanitized builds LeakSanitizer's own tracer sometimes crashes at the
   * tool's exit on these virtual machines ("LeakSanitizer has encountered
   * a fatal error"): the sanitizer failed, it found nothing, so the run is
   * repeated (twice at most). Any other failure is the tool's answer. */
  for (int attempt = 0; attempt < 3; attempt++) {
    g_free(o), g_free(e);
    o = e = NULL;
    GError *error = NULL;
    if (!g_spawn_sync(NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &e,
                      &status, &error))
      g_error("cannot run %s: %s", tool, error->message);
    if (WIFEXITED(status) || !e || !strstr(e, "LeakSanitizer has encountered a fatal error"))
      break;
  }
  g_ptr_array_free(argv, TRUE);
  if (out)
    *out = o;
  else
    g_free(o);
  if (err)
    *err = e;
  else
    g_free(e);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
