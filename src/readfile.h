/* readfile.h — opening files named by untrusted configuration or users:
 * regular files only, checked on the opened descriptor, never blocking on a
 * FIFO or device, with messages that say what a path is when it is not a
 * file. */
#ifndef CLIP_READFILE_H
#define CLIP_READFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "clip.h"

/* "a directory", "a FIFO", "a character device", ... */
const char *clip_file_kind(mode_t mode);

/* Opens path read-only without blocking (O_NONBLOCK, O_CLOEXEC) and
 * requires a regular file: returns the descriptor and its size, or -1 with
 * err naming what the path is instead ("the image is a FIFO, not a regular
 * file", "cannot read the image: symbolic link loop"); what names the
 * file's role in messages. */
int clip_open_regular(const char *path, const char *what, size_t *size, clip_error *err);

/* Reads a whole regular file of at most max bytes into a malloc'ed,
 * NUL-terminated buffer (free()); the file changing size while being read
 * is an error. */
clip_status clip_read_file(const char *path, const char *what, size_t max, char **data, size_t *len,
                           clip_error *err);

/* What is at path, for deciding how to use it: 'f' a regular file, 'd' a
 * directory, 0 nothing (or unreadable), 'o' anything else. Following
 * symbolic links; why (may be NULL) gets a description for messages. */
char clip_path_type(const char *path, const char **why);

#endif
