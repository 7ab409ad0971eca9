/* common.c — helpers of the fuzz targets. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "tmpdir.h"

const char *
fuzz_tmpdir(void)
{
  const char *dir = tmpdir_at_exit("clip-fuzz-XXXXXX");
  if (!dir)
    fuzz_fail("cannot create a temporary directory");
  return dir;
}

void
fuzz_write_path(const char *path, const void *data, size_t size)
{
  /* Not g_file_set_contents(): it fsyncs a replaced file, which made the
   * writing most of each run's time. A new file rather than the old one
   * truncated: ext4 writes a file truncated and rewritten out to disk at
   * its close (auto_da_alloc), which was a third of a run's time; a file
   * unlinked before its delayed write never reaches the disk at all. */
  g_remove(path);
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
    fuzz_fail("cannot write %s", path);
}

const char *
fuzz_write(int slot, const char *name, const void *data, size_t size)
{
  static char *paths[8];
  g_free(paths[slot]);
  paths[slot] = g_build_filename(fuzz_tmpdir(), name, NULL);
  fuzz_write_path(paths[slot], data, size);
  return paths[slot];
}

void
fuzz_fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz finding: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}
