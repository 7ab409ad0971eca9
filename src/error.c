#include "error.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Copies text into out (size bytes, NUL-terminated), writing invalid UTF-8
 * and control characters as \xNN: messages quote names and lines from
 * untrusted files, which must not put raw bytes (a newline forging a log
 * line, a terminal escape) into a log or a bus message. */
static void
copy_escaped(char *out, size_t size, const char *text)
{
  size_t o = 0;
  const char *p = text, *end = text + strlen(text);
  while (p < end) {
    gunichar c = g_utf8_get_char_validated(p, end - p);
    size_t len = c < 0x80000000u ? (size_t) (g_utf8_next_char(p) - p) : 1;
    bool plain = c < 0x80000000u && !(c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0));
    size_t need = plain ? len : 4 * len;
    if (o + need >= size)
      break;
    if (plain) {
      memcpy(out + o, p, len);
      o += len;
    } else {
      for (size_t i = 0; i < len; i++)
        o += (size_t) snprintf(out + o, size - o, "\\x%02X", (unsigned char) p[i]);
    }
    p += len;
  }
  out[o] = '\0';
}

clip_status
clip_set_error(clip_error *err, clip_status status, const char *fmt, ...)
{
  if (err) {
    char raw[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    copy_escaped(err->message, sizeof err->message, raw);
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
