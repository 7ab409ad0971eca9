/* tmpdir.c — a process's scratch directory, removed at exit. */
#include "tmpdir.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>

static char *tmpdir;

void
tmpdir_remove(char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    char *p = g_build_filename(dir, name, NULL);
    g_remove(p);
    g_free(p);
  }
  if (d)
    g_dir_close(d);
  g_rmdir(dir);
  g_free(dir);
}

static void
remove_tmpdir(void)
{
  tmpdir_remove(tmpdir);
}

const char *
tmpdir_at_exit(const char *tmpl)
{
  if (!tmpdir && (tmpdir = g_dir_make_tmp(tmpl, NULL)))
    atexit(remove_tmpdir);
  return tmpdir;
}
