/* fuzz-prompts.c — the prompt syntax (clip_prompts_parse): the prompts up to
 * the first NUL, then, when there is one, the templates up to the next.
 * A refusal is CLIP_ERR_ARG with a message and a zeroed result. An accepted
 * set has at least one label; every label name is its spec's first synonym;
 * names, synonyms and templates are valid UTF-8, non-empty, stripped and free
 * of the separators; every template holds "{}"; filling a template gives the
 * expected length; and parsing the set written back ("spec;spec", "t;t")
 * gives the same set (the syntax is a fixed point of its own output). */
#include <glib.h>
#include <string.h>

#include "clip.h"
#include "fuzz.h"
#include "prompts.h"

/* Fills are checked for the first few templates and synonyms only, so an
 * input of many short pieces stays linear. */
#define MAX_FILLED 16

static void
check_piece(const char *what, const char *s, const char *forbidden)
{
  size_t n = strlen(s);
  if (n == 0)
    fuzz_fail("an empty %s was kept", what);
  if (!g_utf8_validate(s, -1, NULL))
    fuzz_fail("%s \"%s\" is not valid UTF-8", what, s);
  if (g_ascii_isspace(s[0]) || g_ascii_isspace(s[n - 1]))
    fuzz_fail("%s \"%s\" is not stripped", what, s);
  if (strpbrk(s, forbidden))
    fuzz_fail("%s \"%s\" holds a separator", what, s);
}

static size_t
count_placeholders(const char *t)
{
  size_t n = 0;
  for (const char *p = strstr(t, "{}"); p; p = strstr(p + 2, "{}"))
    n++;
  return n;
}

static void
check_set(const clip_prompts *p)
{
  if (p->n_labels < 1 || !p->names || !p->specs || !p->templates)
    fuzz_fail("accepted with %d labels", p->n_labels);
  if (p->names[p->n_labels] || p->specs[p->n_labels])
    fuzz_fail("names or specs not NULL-terminated at %d", p->n_labels);
  if ((int) g_strv_length(p->templates) != p->n_templates)
    fuzz_fail("n_templates %d, %u templates", p->n_templates, g_strv_length(p->templates));

  for (int t = 0; t < p->n_templates; t++) {
    check_piece("template", p->templates[t], ";");
    if (!strstr(p->templates[t], "{}"))
      fuzz_fail("template \"%s\" has no {}", p->templates[t]);
  }
  for (int i = 0; i < p->n_labels; i++) {
    check_piece("label name", p->names[i], ";|");
    check_piece("label spec", p->specs[i], ";");
    char **syn = clip_label_synonyms(p->specs[i]);
    if (!syn[0] || strcmp(syn[0], p->names[i]) != 0)
      fuzz_fail("label \"%s\" is not the first synonym of \"%s\"", p->names[i], p->specs[i]);
    char *joined = g_strjoinv("|", syn);
    if (strcmp(joined, p->specs[i]) != 0)
      fuzz_fail("spec \"%s\" is not its synonyms joined (\"%s\")", p->specs[i], joined);
    g_free(joined);
    for (int s = 0; syn[s] && s < MAX_FILLED; s++) {
      check_piece("synonym", syn[s], ";|");
      for (int t = 0; t < p->n_templates && t < MAX_FILLED; t++) {
        char *filled = clip_prompt_fill(p->templates[t], syn[s]);
        size_t n = count_placeholders(p->templates[t]);
        size_t want = strlen(p->templates[t]) + n * strlen(syn[s]) - 2 * n;
        if (strlen(filled) != want)
          fuzz_fail("\"%s\" in \"%s\" gave %zu bytes, not %zu", syn[s], p->templates[t],
                    strlen(filled), want);
        if (!g_utf8_validate(filled, -1, NULL))
          fuzz_fail("\"%s\" in \"%s\" is not valid UTF-8", syn[s], p->templates[t]);
        g_free(filled);
      }
    }
    g_strfreev(syn);
  }
}

static gboolean
same_strv(char **a, char **b)
{
  for (; *a && *b; a++, b++)
    if (strcmp(*a, *b) != 0)
      return FALSE;
  return !*a && !*b;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* Not g_strndup: it gives NULL for an empty input (data may be NULL). */
  char *prompts = g_malloc(size + 1);
  if (size)
    memcpy(prompts, data, size);
  prompts[size] = '\0';
  size_t n = strlen(prompts);
  char *templates = n < size ? g_strdup(prompts + n + 1) : NULL;

  clip_prompts p;
  clip_error err = { 0 };
  clip_status st = clip_prompts_parse(prompts, templates, &p, &err);
  if (st != CLIP_OK) {
    if (st != CLIP_ERR_ARG || !err.message[0])
      fuzz_fail("refused with status %d and message \"%s\"", st, err.message);
    if (p.n_labels || p.names || p.specs || p.templates || p.n_templates)
      fuzz_fail("a refusal left a result behind");
    g_free(prompts);
    g_free(templates);
    return 0;
  }
  check_set(&p);

  /* Written back in the syntax, the set must parse to itself. */
  char *prompts2 = g_strjoinv(";", p.specs);
  char *templates2 = p.n_templates ? g_strjoinv(";", p.templates) : NULL;
  clip_prompts q;
  if (clip_prompts_parse(prompts2, templates2, &q, &err) != CLIP_OK)
    fuzz_fail("the set written back (\"%s\") is refused: %s", prompts2, err.message);
  if (q.n_labels != p.n_labels || q.n_templates != p.n_templates || !same_strv(q.names, p.names)
      || !same_strv(q.specs, p.specs) || !same_strv(q.templates, p.templates))
    fuzz_fail("\"%s\" does not parse to the set it was written from", prompts2);
  clip_prompts_free(&q);
  g_free(prompts2);
  g_free(templates2);

  clip_prompts_free(&p);
  if (p.names || p.n_labels)
    fuzz_fail("clip_prompts_free left the set behind");
  g_free(prompts);
  g_free(templates);
  return 0;
}
