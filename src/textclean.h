/* textclean.h — the text cleanup CLIP applies before its pre-tokenizer:
 * the safe, common part of ftfy.fix_text(), html.unescape() twice, whitespace
 * runs to one space, strip, and Python's str.lower(). Internal header. */
#ifndef CLIP_TEXTCLEAN_H
#define CLIP_TEXTCLEAN_H

#include <glib.h>
#include <stddef.h>

/* Cleans valid UTF-8 text; returns a malloc'ed UCS-4 array of *n code points
 * (never containing U+0000 unless the input did), or NULL when out of memory. */
gunichar *clip_text_clean(const char *text, size_t *n);

/* The same, as a malloc'ed UTF-8 string (for tests and tools), or NULL. */
char *clip_text_clean_utf8(const char *text);

#endif
