/* cachefile.c — writing and mapping the files of cachefile.h. */
#include "cachefile.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
write_all(int fd, const void *buf, size_t len)
{
  static const char zeros[4096];
  const char *p = buf;
  while (len) {
    ssize_t w = write(fd, p ? p : zeros, p ? len : MIN(len, sizeof zeros));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    if (p)
      p += w;
    len -= w;
  }
  return true;
}

bool
cachefile_write(const char *path, const cachefile_part *parts, int n_parts)
{
  char *tmp = g_strdup_printf("%s.%d.tmp", path, (int) getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0;

  for (int i = 0; ok && i < n_parts; i++)
    ok = write_all(fd, parts[i].data, parts[i].len);
  if (fd >= 0)
    ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
  if (!ok)
    unlink(tmp);
  g_free(tmp);
  return ok;
}

void *
cachefile_map(const char *path, void *header, size_t header_len,
              bool (*check)(const void *header, size_t size, const void *data), const void *data,
              bool populate, size_t *size)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  void *p = NULL;

  if (fd < 0)
    return NULL;
  if (fstat(fd, &st) == 0 && (size_t) st.st_size >= header_len
      && pread(fd, header, header_len, 0) == (ssize_t) header_len
      && check(header, (size_t) st.st_size, data)) {
    p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
    if (p == MAP_FAILED)
      p = NULL;
    else
      *size = st.st_size;
  }
  close(fd);
  return p;
}
