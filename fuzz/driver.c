/* driver.c — replays inputs through a fuzz target without libFuzzer, so the
 * normal test suite (any compiler, any sanitizer) runs every target over its
 * committed corpus and regression inputs: driver DIR|FILE... */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"

/* Targets without an initializer get this one. */
__attribute__((weak)) int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void) argc, (void) argv;
  return 0;
}

static int
cmp_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
run_file(const char *path)
{
  gchar *data;
  gsize len;
  GError *err = NULL;
  if (!g_file_get_contents(path, &data, &len, &err)) {
    fprintf(stderr, "%s: %s\n", path, err->message);
    g_error_free(err);
    return 1;
  }
  /* A copy of exactly len bytes, so reading past the input is caught. */
  uint8_t *copy =
      g_malloc(len ? len : 1); /* g_memdup2() gives NULL for 0 bytes; libFuzzer never passes NULL */
  memcpy(copy, data, len);
  g_free(data);
  LLVMFuzzerTestOneInput(copy, len);
  g_free(copy);
  return 0;
}

int
main(int argc, char **argv)
{
  LLVMFuzzerInitialize(&argc, &argv);
  int n = 0, failed = 0;
  for (int i = 1; i < argc; i++) {
    if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
      failed |= run_file(argv[i]);
      n++;
      continue;
    }
    GDir *d = g_dir_open(argv[i], 0, NULL);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while (d && (name = g_dir_read_name(d)))
      g_ptr_array_add(names, g_build_filename(argv[i], name, NULL));
    if (d)
      g_dir_close(d);
    g_ptr_array_sort(names, cmp_names);
    for (guint k = 0; k < names->len; k++, n++)
      failed |= run_file(names->pdata[k]);
    g_ptr_array_free(names, TRUE);
  }
  printf("%s: %d inputs replayed\n", argv[0], n);
  return failed;
}
