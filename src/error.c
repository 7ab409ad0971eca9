#include "error.h"

#include <stdarg.h>
#include <stdio.h>

clip_status
clip_set_error(clip_error *err, clip_status status, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return status;
}

const char *
clip_status_name(clip_status status)
{
  switch (status) {
  case CLIP_OK: return "ok";
  case CLIP_ERR_ARG: return "invalid argument";
  case CLIP_ERR_IO: return "i/o error";
  case CLIP_ERR_FORMAT: return "malformed input";
  case CLIP_ERR_UNSUPPORTED: return "unsupported";
  case CLIP_ERR_NOMEM: return "out of memory";
  }
  return "unknown status";
}
