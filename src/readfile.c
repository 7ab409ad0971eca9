/* readfile.c — regular files only, checked on the descriptor. A path is
 * opened before it is examined (fstat), so nothing can be swapped in
 * between; O_NONBLOCK keeps a FIFO from blocking the open itself. */
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

const char *
clip_file_kind(mode_t mode)
{
  if (S_ISREG(mode))
    return "a regular file";
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISCHR(mode))
    return "a character device";
  if (S_ISBLK(mode))
    return "a block device";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a file";
}

/* strerror() with the two cases users meet worded as what they are. */
static const char *
open_problem(int e)
{
  switch (e) {
  case ENOENT: return "no such file or directory";
  case ELOOP: return "symbolic link loop";
  case EACCES: return "permission denied";
  default: return strerror(e);
  }
}

int
clip_open_regular(const char *path, const char *what, size_t *size, clip_error *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    clip_set_error(err, CLIP_ERR_IO, "%s: cannot read the %s: %s", path, what, open_problem(errno));
    return -1;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    clip_set_error(err, CLIP_ERR_IO, "%s: cannot examine the %s: %s", path, what, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(sb.st_mode)) {
    clip_set_error(err, CLIP_ERR_IO, "%s: the %s is %s, not a regular file", path, what,
                   clip_file_kind(sb.st_mode));
    close(fd);
    return -1;
  }
  *size = (size_t) sb.st_size;
  return fd;
}

clip_status
clip_read_file(const char *path, const char *what, size_t max, char **data, size_t *len,
               clip_error *err)
{
  size_t size = 0;
  int fd = clip_open_regular(path, what, &size, err);
  if (fd < 0)
    return err ? err->status : CLIP_ERR_IO;
  if (size > max) {
    close(fd);
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: the %s is %zu bytes, more than the %zu accepted", path, what, size,
                          max);
  }
  char *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory for the %s (%zu bytes)", path,
                          what, size);
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      clip_status st =
          clip_set_error(err, CLIP_ERR_IO, "%s: read %zu of the %s's %zu bytes: %s", path, got,
                         what, size, r < 0 ? strerror(errno) : "the file shrank while being read");
      free(buf);
      close(fd);
      return st;
    }
    got += (size_t) r;
  }
  close(fd);
  buf[size] = '\0';
  *data = buf;
  *len = size;
  return CLIP_OK;
}

char
clip_path_type(const char *path, const char **why)
{
  struct stat sb;
  const char *dummy;
  if (!why)
    why = &dummy;
  if (stat(path, &sb) != 0) {
    *why = open_problem(errno);
    return 0;
  }
  *why = clip_file_kind(sb.st_mode);
  return S_ISREG(sb.st_mode) ? 'f' : S_ISDIR(sb.st_mode) ? 'd' : 'o';
}
