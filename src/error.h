/* error.h — filling a clip_error. */
#ifndef CLIP_ERROR_H
#define CLIP_ERROR_H

#include "clip.h"

/* Sets err (if not NULL) and returns status, so callers can write
 * `return clip_set_error(err, CLIP_ERR_FORMAT, "%s: ...", path);`. */
clip_status clip_set_error(clip_error *err, clip_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
