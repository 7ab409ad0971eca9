/* cachefile.c — writing and mapping the files of cachefile.h. */
#include "cachefile.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    len -= (size_t) w;
  }
  return true;
}

bool
cachefile_write(const char *path, const cachefile_part *parts, int n_parts)
{
  char *tmp = g_strdup_printf("%s.%d.tmp", path, (int) getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  off_t end = 0;

  /* Zeros are skipped (a hole) and the size set at the end. */
  for (int i = 0; ok && i < n_parts; i++) {
    ok = parts[i].data ? write_all(fd, parts[i].data, parts[i].len)
                       : lseek(fd, (off_t) parts[i].len, SEEK_CUR) >= 0;
    end += (off_t) parts[i].len;
  }
  if (fd >= 0)
    ok = ok && ftruncate(fd, end) == 0;
  if (fd >= 0)
    ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
  if (!ok)
    unlink(tmp);
  g_free(tmp);
  return ok;
}

void *
cachefile_map(const char *path, void *header, size_t header_len,
              size_t (*check)(const void *header, size_t size, const void *data), const void *data,
              bool populate, size_t *size)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  size_t len = 0;
  void *p = NULL;

  if (fd < 0)
    return NULL;
  /* Shared: an extension writes the header under an exclusive lock. Where
   * flock fails, so does cachefile_extend_open(): files are only renamed.
   * The rows a header counts never change after it, so the lock covers the
   * header alone and mapping them does not hold up an extension. */
  (void) flock(fd, LOCK_SH);
  bool got = fstat(fd, &st) == 0 && (size_t) st.st_size >= header_len
             && pread(fd, header, header_len, 0) == (ssize_t) header_len;
  (void) flock(fd, LOCK_UN);
  if (got && (len = check(header, (size_t) st.st_size, data)) > 0 && len <= (size_t) st.st_size) {
    p = mmap(NULL, len, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
    if (p == MAP_FAILED)
      p = NULL;
    else
      *size = len;
  }
  close(fd);
  return p;
}

int
cachefile_extend_open(const char *path, void *header, size_t header_len, size_t *size)
{
  int fd = open(path, O_RDWR | O_CLOEXEC);
  struct stat st;

  if (fd < 0)
    return -1;
  if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0 || (size_t) st.st_size < header_len
      || pread(fd, header, header_len, 0) != (ssize_t) header_len) {
    close(fd);
    return -1;
  }
  *size = (size_t) st.st_size;
  return fd;
}

bool
cachefile_pwrite(int fd, const void *data, size_t len, size_t off)
{
  const char *p = data;
  while (len) {
    ssize_t w = pwrite(fd, p, len, (off_t) off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    off += (size_t) w;
    len -= (size_t) w;
  }
  return true;
}

bool
cachefile_extend_commit(int fd, const void *header, size_t header_len)
{
  /* The rows reach the disk before the header that counts them, so that
   * not even a power cut leaves a header over rows never written. */
  bool ok = fdatasync(fd) == 0 && cachefile_pwrite(fd, header, header_len, 0);
  return close(fd) == 0 && ok;
}
