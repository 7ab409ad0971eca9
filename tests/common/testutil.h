/* testutil.h — helpers shared by the engine tests. */
#ifndef CLIP_TESTUTIL_H
#define CLIP_TESTUTIL_H

#include <glib.h>

/* The reference kit directory, or NULL after marking the current test as
 * skipped (or failed, under CI=true, where the kit must be present). */
const char *testutil_reference_dir(void);

/* Newly allocated path inside the reference kit, or NULL as above. */
char *testutil_reference_path(const char *relative);

/* A fresh temporary directory for this test process (removed at exit). */
const char *testutil_tmpdir(void);

/* Writes len bytes to a new file in the temporary directory; returns its path. */
char *testutil_write_file(const char *name, const void *data, gsize len);

/* Runs $CLIP_TOOL with the NULL-terminated args; returns its exit status
 * (-1 when killed by a signal). out/err, when not NULL, receive its stdout
 * and stderr (g_free them). */
int testutil_run_tool(const char *const *args, char **out, char **err);

/* Use at the top of a test: returns from it when the kit is absent. */
#define REQUIRE_REFERENCE(var)                                                                     \
  const char *var = testutil_reference_dir();                                                      \
  if (!var)                                                                                        \
  return

#endif
