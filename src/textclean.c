/* textclean.c — CLIP's basic_clean() + whitespace_clean() + str.lower(),
 * done on code points.
 *
 * The original runs ftfy.fix_text(), html.unescape() twice, strip(), turns
 * every run of \s into one space, strips again and lower-cases. Of ftfy we do
 * what is cheap and unambiguous (docs/tokenizer.md lists it); each fix here
 * changes only text that ftfy 6.3 changes too, and in the same way, so text
 * that ftfy leaves alone is never disturbed. */
#include "textclean.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "html-entities.h"

/* A growable code point string. Allocation failure is sticky (oom), so a
 * whole transformation is checked once, at its end. */
typedef struct {
  gunichar *v;
  size_t n, cap;
  bool oom;
} ustr;

static void
us_reserve(ustr *s, size_t extra)
{
  if (s->oom)
    return;
  if (extra > SIZE_MAX / sizeof(gunichar) / 2 - s->n) {
    s->oom = true;
    return;
  }
  size_t need = s->n + extra;
  if (need <= s->cap)
    return;
  size_t cap = s->cap ? s->cap : 16;
  while (cap < need)
    cap *= 2;
  gunichar *v = realloc(s->v, cap * sizeof *v);
  if (!v) {
    s->oom = true;
    return;
  }
  s->v = v;
  s->cap = cap;
}

static void
us_push(ustr *s, gunichar c)
{
  us_reserve(s, 1);
  if (!s->oom)
    s->v[s->n++] = c;
}

static void
us_append(ustr *s, const gunichar *v, size_t n)
{
  if (n == 0)
    return;
  us_reserve(s, n);
  if (!s->oom) {
    memcpy(s->v + s->n, v, n * sizeof *v);
    s->n += n;
  }
}

/* Appends valid UTF-8 of len bytes (-1: NUL-terminated). */
static void
us_append_utf8(ustr *s, const char *utf8, gssize len)
{
  const char *end = len < 0 ? NULL : utf8 + len;
  for (const char *p = utf8; end ? p < end : *p != '\0'; p = g_utf8_next_char(p))
    us_push(s, g_utf8_get_char(p));
}

static void
us_clear(ustr *s)
{
  free(s->v);
  *s = (ustr){ 0 };
}

static bool
us_equal(const ustr *a, const ustr *b)
{
  return a->n == b->n && (a->n == 0 || !memcmp(a->v, b->v, a->n * sizeof *a->v));
}

static bool
us_contains(const ustr *s, gunichar c)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == c)
      return true;
  return false;
}

typedef void (*us_step)(const ustr *in, ustr *out);

/* Runs one in -> out transformation and puts its result in *t. */
static void
us_apply(ustr *t, us_step step)
{
  ustr out = { 0 };
  if (t->oom)
    return;
  step(t, &out);
  if (out.oom) {
    us_clear(&out);
    t->oom = true;
    return;
  }
  free(t->v);
  *t = out;
}

static bool
is_ascii_digit(gunichar c)
{
  return c >= '0' && c <= '9';
}

static bool
is_ascii_xdigit(gunichar c)
{
  return c < 0x80 && g_ascii_isxdigit((char) c);
}

static bool
is_ascii_alnum(gunichar c)
{
  return c < 0x80 && g_ascii_isalnum((char) c);
}

/* Python's str.isspace(), which strip() uses. */
static bool
is_py_space(gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0
         || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F
         || c == 0x205F || c == 0x3000;
}

/* Unicode White_Space: what \s matches in the regex module CLIP uses. */
static bool
is_white_space(gunichar c)
{
  return is_py_space(c) && !(c >= 0x1C && c <= 0x1F);
}

/* ---- HTML character references ---------------------------------------- */

static const html_entity *
entity_find(const char *name, size_t len, unsigned flag)
{
  size_t lo = 0, hi = G_N_ELEMENTS(html_entities);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *cand = html_entities[mid].name;
    int c = strncmp(name, cand, len);
    if (c == 0 && cand[len] != '\0')
      c = -1;
    if (c == 0)
      return (html_entities[mid].flags & flag) ? &html_entities[mid] : NULL;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

static int
cmp_unsigned(const void *a, const void *b)
{
  unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;
  return x < y ? -1 : x > y;
}

/* A numeric reference as the HTML standard (and html.unescape) decodes it;
 * code is saturated at 0x110000. */
static void
html_numeric(ustr *out, unsigned long code)
{
  for (size_t i = 0; i < G_N_ELEMENTS(html_charref_fixups); i++)
    if (html_charref_fixups[i].code == code) {
      us_append_utf8(out, html_charref_fixups[i].value, -1);
      return;
    }
  if ((code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) {
    us_push(out, 0xFFFD);
    return;
  }
  unsigned key = (unsigned) code;
  if (bsearch(&key, html_dropped_codepoints, G_N_ELEMENTS(html_dropped_codepoints), sizeof key,
              cmp_unsigned))
    return;
  us_push(out, (gunichar) code);
}

/* Copies in from i up to the next '&' to out; returns the index of that
 * '&' (in->n when there is none). */
static size_t
copy_to_ampersand(const ustr *in, size_t i, ustr *out)
{
  size_t e = i;
  while (e < in->n && in->v[e] != '&')
    e++;
  if (e > i) /* an empty text has no buffer: no pointer arithmetic on NULL */
    us_append(out, in->v + i, e - i);
  return e;
}

/* Python's html.unescape(): &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
 * with the longest-prefix rule for names without ';'. */
static void
html_unescape(const ustr *in, ustr *out)
{
  const gunichar *t = in->v;
  size_t n = in->n, i = 0;
  while ((i = copy_to_ampersand(in, i, out)) < n) {
    size_t j = i + 1;
    if (j < n && t[j] == '#') {
      size_t d = j + 1;
      bool hex = false;
      if (d + 1 < n && (t[d] == 'x' || t[d] == 'X') && is_ascii_xdigit(t[d + 1])) {
        hex = true;
        d++;
      } else if (d >= n || !is_ascii_digit(t[d])) {
        us_push(out, t[i++]);
        continue;
      }
      unsigned long code = 0;
      size_t e = d;
      for (; e < n && (hex ? is_ascii_xdigit(t[e]) : is_ascii_digit(t[e])); e++) {
        code = code * (hex ? 16 : 10) + (unsigned long) g_ascii_xdigit_value((char) t[e]);
        if (code > 0x110000)
          code = 0x110000;
      }
      if (e < n && t[e] == ';')
        e++;
      html_numeric(out, code);
      i = e;
      continue;
    }
    size_t e = j;
    while (e < n && e - j < 32
           && !(t[e] == '\t' || t[e] == '\n' || t[e] == '\f' || t[e] == ' ' || t[e] == '<'
                || t[e] == '&' || t[e] == '#' || t[e] == ';'))
      e++;
    if (e == j) {
      us_push(out, t[i++]);
      continue;
    }
    if (e < n && t[e] == ';')
      e++;
    size_t len = e - j, ascii = 0;
    char name[40];
    while (ascii < len && t[j + ascii] < 0x80) {
      name[ascii] = (char) t[j + ascii];
      ascii++;
    }
    const html_entity *ent = ascii == len ? entity_find(name, len, HTML_ENTITY_HTML5) : NULL;
    size_t used = len;
    for (size_t x = MIN(len - 1, ascii); !ent && x >= 2; x--)
      if ((ent = entity_find(name, x, HTML_ENTITY_HTML5)))
        used = x;
    if (ent) {
      us_append_utf8(out, ent->value, -1);
      us_append(out, t + j + used, len - used);
    } else {
      us_append(out, t + i, e - i);
    }
    i = e;
  }
}

/* ftfy's unescape_html(): &#?[0-9A-Za-z]{1,24}; decoded only when it is a
 * known entity (or its all-caps spelling) or a complete numeric reference. */
static void
ftfy_unescape(const ustr *in, ustr *out)
{
  const gunichar *t = in->v;
  size_t n = in->n, i = 0;
  while ((i = copy_to_ampersand(in, i, out)) < n) {
    bool numeric = i + 1 < n && t[i + 1] == '#';
    size_t s = i + 1 + numeric, e = s;
    while (e < n && e - s <= 24 && is_ascii_alnum(t[e]))
      e++;
    if (e == s || e - s > 24 || e >= n || t[e] != ';') {
      us_push(out, t[i++]);
      continue;
    }
    size_t end = e + 1;
    if (!numeric) {
      char name[32];
      for (size_t k = i + 1; k < end; k++)
        name[k - i - 1] = (char) t[k];
      const html_entity *ent = entity_find(name, end - i - 1, HTML_ENTITY_FTFY);
      if (ent)
        us_append_utf8(out, ent->value, -1);
      else
        us_append(out, t + i, end - i);
    } else {
      ustr ref = { .v = (gunichar *) t + i, .n = end - i }, dec = { 0 };
      html_unescape(&ref, &dec);
      if (dec.oom)
        out->oom = true;
      else if (us_contains(&dec, ';'))
        us_append(out, t + i, end - i);
      else
        us_append(out, dec.v, dec.n);
      us_clear(&dec);
    }
    i = end;
  }
}

/* ---- ftfy: mojibake ------------------------------------------------------ */

/* Windows-1252 0x80-0x9F, "sloppy" as ftfy has it: the five undefined bytes
 * stand for the C1 control characters of the same value. */
static const gunichar cp1252_high[32] = {
  0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
  0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
  0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static int
latin1_byte(gunichar c)
{
  return c <= 0xFF ? (int) c : -1;
}

static int
sloppy_cp1252_byte(gunichar c)
{
  if (c < 0x80 || (c >= 0xA0 && c <= 0xFF))
    return (int) c;
  for (int k = 0; k < 32; k++)
    if (cp1252_high[k] == c)
      return 0x80 + k;
  return -1;
}

/* Character classes of UTF-8 mojibake seen through Windows-1252, after
 * ftfy's badness heuristic (only the characters that code page can show). */
static bool
in_set(gunichar c, const gunichar *set)
{
  for (; *set; set++)
    if (*set == c)
      return true;
  return false;
}

static const gunichar moji_bad[] = { 0xA6,  0xA4,   0xA8,   0xAC,   0xAF,   0xB8, 0x192, 0x2C6,
                                     0x2DC, 0x2020, 0x2021, 0x2030, 0xFFFD, 0xAA, 0xBA,  0 };
static const gunichar moji_numeric[] = { 0xB2, 0xB3, 0xB9, 0xB1, 0xBC, 0xBD,
                                         0xBE, 0xD7, 0xB5, 0xF7, 0 };
static const gunichar moji_law[] = { 0xB6, 0xA7, 0 };
static const gunichar moji_currency[] = { 0xA2, 0xA3, 0xA5, 0x20AC, 0 };
static const gunichar moji_start_punct[] = { 0xA1,   0xAB,   0xBF,   0xA9,   0x2018, 0x201A,
                                             0x201C, 0x201E, 0x2022, 0x2039, 0 };
static const gunichar moji_end_punct[] = { 0xAE, 0xBB, 0x201D, 0x203A, 0x2122, 0 };
/* What follows Â, Ã, Î or Ð in the UTF-8 of most Latin and Cyrillic letters. */
static const gunichar moji_after_lead[] = { 0x20AC, 0x153,  0x160,  0x161, 0xA2, 0xA3, 0x178,
                                            0x17E,  0xA0,   0xAD,   0xAE,  0xA9, 0xB0, 0xB7,
                                            0xBB,   0x2013, 0x2014, 0xB4,  0 };

static bool
moji_upper_accented(gunichar c)
{
  return (c >= 0xC0 && c <= 0xD1) || c == 0xD8 || c == 0xDC || c == 0xDD || c == 0x152 || c == 0x160
         || c == 0x17D || c == 0x178;
}

static bool
moji_lower_accented(gunichar c)
{
  return c == 0xDF || (c >= 0xE0 && c <= 0xF1) || c == 0xFC || c == 0x153 || c == 0x161
         || c == 0x17E;
}

/* True when the text shows a pair or triple that legitimate text practically
 * never has (a C1 control, "Ã©", "Ã¼", "â€œ", ...). Every pattern here is one
 * that ftfy's heuristic also calls bad, so we fix only what ftfy fixes; a
 * plain "CAFÉ’S" or "ESPAÑA…" is left alone, as ftfy leaves it. */
static bool
looks_like_mojibake(const ustr *t)
{
  for (size_t i = 0; i < t->n; i++) {
    gunichar a = t->v[i], b = i + 1 < t->n ? t->v[i + 1] : 0, c = i + 2 < t->n ? t->v[i + 2] : 0;
    bool accented = moji_upper_accented(a) || moji_lower_accented(a);
    if (a >= 0x80 && a <= 0x9F)
      return true;
    if (!b)
      break;
    if ((a == 0xC2 || a == 0xC3 || a == 0xCE || a == 0xD0)
        && (in_set(b, moji_after_lead) || in_set(b, moji_start_punct) || in_set(b, moji_end_punct)))
      return true;
    if (accented && in_set(b, moji_bad))
      return true;
    if (moji_upper_accented(a) && (in_set(b, moji_numeric) || in_set(b, moji_law)))
      return true;
    if ((moji_lower_accented(a) || in_set(a, moji_end_punct)) && in_set(b, moji_currency))
      return true;
    if ((accented || in_set(a, moji_currency) || in_set(a, moji_numeric) || in_set(a, moji_law))
        && in_set(b, moji_end_punct) && c && in_set(c, moji_start_punct))
      return true;
  }
  return false;
}

/* The whole text encoded back as Latin-1 or Windows-1252 and decoded as
 * UTF-8, when those bytes are valid UTF-8. */
static bool
decode_whole_text(ustr *t)
{
  static int (*const encoders[])(gunichar) = { latin1_byte, sloppy_cp1252_byte };
  char *bytes = malloc(t->n + 1);
  if (!bytes) {
    t->oom = true;
    return false;
  }
  bool fixed = false;
  for (size_t k = 0; k < G_N_ELEMENTS(encoders) && !fixed; k++) {
    size_t i = 0;
    for (; i < t->n; i++) {
      int b = encoders[k](t->v[i]);
      if (b <= 0)
        break;
      bytes[i] = (char) b;
    }
    if (i < t->n)
      continue;
    /* 0xC0 and 0xED need ftfy's UTF-8 variant decoder, which we lack. */
    if (memchr(bytes, 0xC0, t->n) || memchr(bytes, 0xED, t->n))
      continue;
    if (!g_utf8_validate(bytes, (gssize) t->n, NULL))
      continue;
    ustr dec = { 0 };
    us_append_utf8(&dec, bytes, (gssize) t->n);
    if (dec.oom) {
      t->oom = true;
      us_clear(&dec);
      break;
    }
    free(t->v);
    *t = dec;
    fixed = true;
  }
  free(bytes);
  return fixed;
}

static bool fix_encoding_step(ustr *t);

/* ftfy's clues of UTF-8 read as a single-byte code page, limited to the
 * characters Latin-1 and Windows-1252 can show (decode_inconsistent_utf8
 * runs only on text made of those, so the runs found are ftfy's runs). */
static bool
utf8_first_of_2(gunichar c)
{
  return (c >= 0xC2 && c <= 0xDF) || c == 0x160 || c == 0x17D;
}

static bool
utf8_first_of_3(gunichar c)
{
  return c >= 0xE0 && c <= 0xEF;
}

static bool
utf8_first_of_4(gunichar c)
{
  return c == 0xF0 || c == 0xF3 || c == 0x161;
}

/* Continuation bytes 0x80-0xBF as Latin-1 or Windows-1252 show them (and
 * Æ Ø æ ø, which Windows-1257 puts there); "strict" leaves out the space and
 * the punctuation that can stand for itself next to mojibake. */
static bool
utf8_continuation(gunichar c, bool strict)
{
  static const gunichar loose[] = { 0x201A, 0x201E, 0x2026, 0x2018, 0x2019, 0x201C,
                                    0x201D, 0x2022, 0x2013, 0x2014, 0 };
  if ((c >= 0x80 && c <= 0xBF) || c == 0xC6 || c == 0xD8 || c == 0xE6 || c == 0xF8)
    return true;
  if (c == ' ' || in_set(c, loose))
    return !strict;
  int b = sloppy_cp1252_byte(c);
  return b >= 0x80 && b <= 0x9F;
}

/* Length of the run of UTF-8-looking sequences at t[i], or 0. */
static size_t
utf8_run(const ustr *t, size_t i)
{
  size_t j = i;
  for (;;) {
    size_t k = 0, left = t->n - j;
    if (left >= 2 && utf8_first_of_2(t->v[j]))
      k = 2;
    else if (left >= 3 && utf8_first_of_3(t->v[j]))
      k = 3;
    else if (left >= 4 && utf8_first_of_4(t->v[j]))
      k = 4;
    for (size_t m = 1; m < k; m++)
      if (!utf8_continuation(t->v[j + m], false))
        k = 0;
    if (!k)
      return j - i;
    j += k;
  }
}

/* ftfy's decode_inconsistent_utf8(): runs of mojibake inside text that as
 * a whole does not decode are fixed one by one, when each looks bad. */
static bool
decode_inconsistent_utf8(ustr *t)
{
  for (size_t i = 0; i < t->n; i++)
    if (sloppy_cp1252_byte(t->v[i]) < 0 && latin1_byte(t->v[i]) < 0)
      return false;
  ustr out = { 0 };
  for (size_t i = 0; i < t->n && !out.oom;) {
    size_t len = i > 0 && utf8_continuation(t->v[i - 1], true) ? 0 : utf8_run(t, i);
    if (!len) {
      us_push(&out, t->v[i++]);
      continue;
    }
    ustr run = { 0 };
    us_append(&run, t->v + i, len);
    if (len < t->n && looks_like_mojibake(&run))
      for (int k = 0; k < 16 && fix_encoding_step(&run); k++)
        ;
    us_append(&out, run.v, run.n);
    out.oom |= run.oom;
    us_clear(&run);
    i += len;
  }
  bool changed = !out.oom && !us_equal(&out, t);
  if (out.oom)
    t->oom = true;
  if (changed) {
    free(t->v);
    *t = out;
  } else {
    us_clear(&out);
  }
  return changed;
}

/* One step of ftfy's fix_encoding(), for its common case: UTF-8 that was
 * decoded as Latin-1 or Windows-1252 (schÃ¶n -> schön), as a whole or in
 * runs. Only text that looks like mojibake is touched. ftfy's rarer paths
 * (other code pages, UTF-8 variants, bytes lost to spaces or '?') are left
 * out. */
static bool
fix_encoding_step(ustr *t)
{
  bool ascii = true;
  for (size_t i = 0; i < t->n && ascii; i++)
    ascii = t->v[i] < 0x80;
  if (ascii || t->oom || !looks_like_mojibake(t))
    return false;
  return decode_whole_text(t) || decode_inconsistent_utf8(t);
}

/* ---- ftfy: character fixes ----------------------------------------------- */

static void
fix_c1_controls(const ustr *in, ustr *out)
{
  for (size_t i = 0; i < in->n; i++) {
    gunichar c = in->v[i];
    us_push(out, c >= 0x80 && c <= 0x9F ? cp1252_high[c - 0x80] : c);
  }
}

static void
fix_latin_ligatures(const ustr *in, ustr *out)
{
  static const struct {
    gunichar c;
    const char *s;
  } ligatures[] = {
    { 0x0132, "IJ" },        { 0x0133, "ij" }, { 0x0149, "\312\274n" }, { 0x01F1, "DZ" },
    { 0x01F2, "Dz" },        { 0x01F3, "dz" }, { 0x01C4, "D\305\275" }, { 0x01C5, "D\305\276" },
    { 0x01C6, "d\305\276" }, { 0x01C7, "LJ" }, { 0x01C8, "Lj" },        { 0x01C9, "lj" },
    { 0x01CA, "NJ" },        { 0x01CB, "Nj" }, { 0x01CC, "nj" },        { 0xFB00, "ff" },
    { 0xFB01, "fi" },        { 0xFB02, "fl" }, { 0xFB03, "ffi" },       { 0xFB04, "ffl" },
    { 0xFB05, "\305\277t" }, { 0xFB06, "st" },
  };
  for (size_t i = 0; i < in->n; i++) {
    gunichar c = in->v[i];
    const char *s = NULL;
    if ((c >= 0x0132 && c <= 0x01F3) || (c >= 0xFB00 && c <= 0xFB06))
      for (size_t k = 0; k < G_N_ELEMENTS(ligatures) && !s; k++)
        if (ligatures[k].c == c)
          s = ligatures[k].s;
    if (s)
      us_append_utf8(out, s, -1);
    else
      us_push(out, c);
  }
}

/* Fullwidth and halfwidth forms (U+FF01-U+FFEF) to their NFKC equivalents,
 * and the ideographic space to a space. */
static void
fix_character_width(const ustr *in, ustr *out)
{
  for (size_t i = 0; i < in->n; i++) {
    gunichar c = in->v[i];
    if (c == 0x3000) {
      us_push(out, ' ');
      continue;
    }
    if (c < 0xFF01 || c > 0xFFEF) {
      us_push(out, c);
      continue;
    }
    char buf[8];
    int len = g_unichar_to_utf8(c, buf);
    char *norm = g_utf8_normalize(buf, len, G_NORMALIZE_NFKC);
    if (norm && (strlen(norm) != (size_t) len || memcmp(norm, buf, (size_t) len)))
      us_append_utf8(out, norm, -1);
    else
      us_push(out, c);
    g_free(norm);
  }
}

static void
uncurl_quotes(const ustr *in, ustr *out)
{
  for (size_t i = 0; i < in->n; i++) {
    gunichar c = in->v[i];
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B))
      c = '\'';
    else if (c >= 0x201C && c <= 0x201F)
      c = '"';
    us_push(out, c);
  }
}

static void
fix_line_breaks(const ustr *in, ustr *out)
{
  for (size_t i = 0; i < in->n; i++) {
    gunichar c = in->v[i];
    if (c == '\r' && i + 1 < in->n && in->v[i + 1] == '\n')
      continue;
    if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85)
      c = '\n';
    us_push(out, c);
  }
}

/* ESC [ (digits or ;)* letter: terminal colours and cursor movements. */
static void
remove_terminal_escapes(const ustr *in, ustr *out)
{
  for (size_t i = 0; i < in->n; i++) {
    if (in->v[i] == 0x1B && i + 1 < in->n && in->v[i + 1] == '[') {
      size_t e = i + 2;
      while (e < in->n && (g_unichar_isdigit(in->v[e]) || in->v[e] == ';'))
        e++;
      if (e < in->n && in->v[e] < 0x80 && g_ascii_isalpha((char) in->v[e])) {
        i = e;
        continue;
      }
    }
    us_push(out, in->v[i]);
  }
}

static void
remove_control_chars(const ustr *in, ustr *out)
{
  for (size_t i = 0; i < in->n; i++) {
    gunichar c = in->v[i];
    bool drop = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F
                || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
    if (!drop)
      us_push(out, c);
  }
}

static void
normalize_nfc(const ustr *in, ustr *out)
{
  if (in->n == 0)
    return;
  glong len = 0;
  char *utf8 = g_ucs4_to_utf8(in->v, (glong) in->n, NULL, &len, NULL);
  char *nfc = utf8 ? g_utf8_normalize(utf8, len, G_NORMALIZE_NFC) : NULL;
  if (nfc)
    us_append_utf8(out, nfc, -1);
  else
    us_append(out, in->v, in->n);
  g_free(nfc);
  g_free(utf8);
}

/* ftfy's fix_and_explain() on one segment: the fixes in ftfy's order,
 * repeated until the text stops changing. */
static void
ftfy_segment(ustr *seg, bool unescape_html)
{
  static const us_step fixes[] = {
    fix_c1_controls, fix_latin_ligatures,     fix_character_width,  uncurl_quotes,
    fix_line_breaks, remove_terminal_escapes, remove_control_chars, normalize_nfc,
  };
  /* Every round that changes something shortens the text or replaces
   * characters one way only, so a handful of rounds suffice; the cap only
   * guards against a cycle we did not foresee. */
  for (int round = 0; round < 32 && !seg->oom; round++) {
    ustr orig = { 0 };
    us_append(&orig, seg->v, seg->n);
    if (orig.oom) {
      seg->oom = true;
      break;
    }
    if (unescape_html)
      us_apply(seg, ftfy_unescape);
    for (int k = 0; k < 16 && fix_encoding_step(seg); k++)
      ;
    for (size_t k = 0; k < G_N_ELEMENTS(fixes); k++)
      us_apply(seg, fixes[k]);
    bool same = us_equal(seg, &orig);
    us_clear(&orig);
    if (same)
      break;
  }
}

/* ftfy.fix_text(): line by line (at most 10^6 code points a segment); HTML
 * entities are left alone from the first segment holding a '<' onward. */
static void
ftfy_fix_text(ustr *t)
{
  ustr out = { 0 };
  bool unescape_html = true;
  size_t pos = 0;
  while (pos < t->n && !t->oom) {
    size_t end = pos;
    while (end < t->n && t->v[end] != '\n')
      end++;
    end = MIN(end + 1, t->n);
    end = MIN(end, pos + 1000000);
    ustr seg = { 0 };
    us_append(&seg, t->v + pos, end - pos);
    if (us_contains(&seg, '<'))
      unescape_html = false;
    ftfy_segment(&seg, unescape_html);
    us_append(&out, seg.v, seg.n);
    if (seg.oom || out.oom)
      t->oom = true;
    us_clear(&seg);
    pos = end;
  }
  if (t->oom) {
    us_clear(&out);
    return;
  }
  free(t->v);
  *t = out;
}

/* ---- whitespace and case ------------------------------------------------- */

/* strip(), every run of \s to one space, strip() again. */
static void
clean_whitespace(const ustr *in, ustr *out)
{
  size_t b = 0, e = in->n;
  while (b < e && is_py_space(in->v[b]))
    b++;
  while (e > b && is_py_space(in->v[e - 1]))
    e--;
  for (size_t i = b; i < e; i++) {
    if (!is_white_space(in->v[i])) {
      us_push(out, in->v[i]);
      continue;
    }
    while (i + 1 < e && is_white_space(in->v[i + 1]))
      i++;
    us_push(out, ' ');
  }
  /* A space run may now border a stripped-only character (U+001C-U+001F). */
  while (out->n && !out->oom && is_py_space(out->v[out->n - 1]))
    out->n--;
  size_t lead = 0;
  while (lead < out->n && is_py_space(out->v[lead]))
    lead++;
  if (lead && !out->oom) {
    memmove(out->v, out->v + lead, (out->n - lead) * sizeof *out->v);
    out->n -= lead;
  }
}

/* Unicode Case_Ignorable: marks, format characters, modifiers, and the
 * apostrophe-like word-internal punctuation. */
static bool
is_case_ignorable(gunichar c)
{
  switch (g_unichar_type(c)) {
  case G_UNICODE_NON_SPACING_MARK:
  case G_UNICODE_ENCLOSING_MARK:
  case G_UNICODE_FORMAT:
  case G_UNICODE_MODIFIER_LETTER:
  case G_UNICODE_MODIFIER_SYMBOL: return true;
  default: break;
  }
  return c == '\'' || c == '.' || c == ':' || c == 0xB7 || c == 0x387 || c == 0x55F || c == 0x5F4
         || c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027 || c == 0xFE13 || c == 0xFE52
         || c == 0xFE55 || c == 0xFF07 || c == 0xFF0E || c == 0xFF1A;
}

/* Unicode Cased: letters with case, plus the few that only have a case
 * property (ª º, circled letters, small Roman numerals). */
static bool
is_cased(gunichar c)
{
  GUnicodeType type = g_unichar_type(c);
  return type == G_UNICODE_UPPERCASE_LETTER || type == G_UNICODE_LOWERCASE_LETTER
         || type == G_UNICODE_TITLECASE_LETTER || c == 0xAA || c == 0xBA
         || (c >= 0x2160 && c <= 0x217F) || (c >= 0x24B6 && c <= 0x24E9)
         || g_unichar_tolower(c) != c || g_unichar_toupper(c) != c;
}

/* Python's str.lower(): full lower-casing without locale, so İ becomes
 * i + U+0307 and Σ becomes ς at the end of a word (the Final_Sigma rule).
 * GLib lower-cases letters only; Python also the Roman numerals Ⅰ-Ⅿ and the
 * circled letters Ⓐ-Ⓩ (checked against Python 3.11 for every code point). */
static void
python_lower(const ustr *in, ustr *out)
{
  const gunichar *t = in->v;
  size_t n = in->n;
  for (size_t i = 0; i < n; i++) {
    gunichar c = t[i];
    if (c == 0x130) {
      us_push(out, 'i');
      us_push(out, 0x307);
    } else if (c == 0x3A3) {
      size_t j = i;
      while (j > 0 && is_case_ignorable(t[j - 1]))
        j--;
      bool final = j > 0 && is_cased(t[j - 1]);
      if (final) {
        j = i + 1;
        while (j < n && is_case_ignorable(t[j]))
          j++;
        final = j == n || !is_cased(t[j]);
      }
      us_push(out, final ? 0x3C2 : 0x3C3);
    } else if (c >= 0x2160 && c <= 0x216F) {
      us_push(out, c + 0x10);
    } else if (c >= 0x24B6 && c <= 0x24CF) {
      us_push(out, c + 0x1A);
    } else {
      us_push(out, g_unichar_tolower(c));
    }
  }
}

gunichar *
clip_text_clean(const char *text, size_t *n)
{
  ustr t = { 0 };
  us_append_utf8(&t, text, -1);
  ftfy_fix_text(&t);
  us_apply(&t, html_unescape);
  us_apply(&t, html_unescape);
  us_apply(&t, clean_whitespace);
  us_apply(&t, python_lower);
  if (!t.oom && !t.v)
    us_reserve(&t, 1);
  if (t.oom) {
    us_clear(&t);
    return NULL;
  }
  *n = t.n;
  return t.v;
}

char *
clip_text_clean_utf8(const char *text)
{
  size_t n;
  gunichar *v = clip_text_clean(text, &n);
  if (!v)
    return NULL;
  char *utf8 = n < SIZE_MAX / 4 ? malloc(n * 4 + 1) : NULL;
  if (utf8) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
      len += (size_t) g_unichar_to_utf8(v[i], utf8 + len);
    utf8[len] = '\0';
  }
  free(v);
  return utf8;
}
