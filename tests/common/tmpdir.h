/* tmpdir.h — a process's scratch directory, shared by the tests and the
 * fuzz targets. */
#ifndef TMPDIR_AT_EXIT_H
#define TMPDIR_AT_EXIT_H

/* A fresh temporary directory named after tmpl (g_dir_make_tmp()'s
 * template), removed with the files in it when the process exits; the
 * same directory on every call. NULL when it cannot be made. */
const char *tmpdir_at_exit(const char *tmpl);

/* Removes dir, a directory of plain files (made by the caller), and frees
 * the string. */
void tmpdir_remove(char *dir);

#endif
