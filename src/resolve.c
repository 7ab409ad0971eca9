/* resolve.c — finding a model by name, the one rule the element and
 * clip-tool share, so "model=clipfilter-mini" and "clip-tool info
 * clipfilter-mini" always open the same checkpoint. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"

char *
clip_model_resolve(const char *name, const char *const *dirs, char **searched)
{
  GPtrArray *tried = g_ptr_array_new_with_free_func(g_free);
  const char *env = g_getenv("CLIPFILTER_MODEL_PATH");
  GString *list = g_string_new(NULL);
  char *found = NULL;

  if (searched)
    *searched = NULL;
  if (!name || !*name)
    goto out;
  /* A path is taken as written: the loader then names the file it lacks. */
  if (g_path_is_absolute(name) || strchr(name, G_DIR_SEPARATOR)
      || g_file_test(name, G_FILE_TEST_EXISTS)) {
    found = g_strdup(name);
    goto out;
  }
  if (env && *env) {
    char **v = g_strsplit(env, G_SEARCHPATH_SEPARATOR_S, -1);
    for (char **p = v; *p; p++)
      if (**p)
        g_ptr_array_add(tried, g_strdup(*p));
    g_strfreev(v);
  }
  /* Where models/fetch-model.sh downloads to. */
  g_ptr_array_add(tried, g_build_filename(g_get_user_data_dir(), "clipfilter", "models", NULL));
  for (const char *const *d = dirs; d && *d; d++)
    g_ptr_array_add(tried, g_strdup(*d));

  for (guint i = 0; i < tried->len && !found; i++) {
    char *p = g_build_filename(g_ptr_array_index(tried, i), name, NULL);
    if (g_file_test(p, G_FILE_TEST_EXISTS))
      found = p;
    else
      g_free(p);
    g_string_append_printf(list, "%s%s", i ? ", " : "", (const char *) g_ptr_array_index(tried, i));
  }
out:
  if (searched)
    *searched = strdup(list->str);
  g_string_free(list, TRUE);
  g_ptr_array_unref(tried);
  /* g_malloc'd memory may be released with free() (GLib >= 2.46); the
   * copy keeps the contract plain. */
  char *ret = found ? strdup(found) : NULL;
  g_free(found);
  return ret;
}
