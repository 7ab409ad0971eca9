/* prompts.c — the one parser of the prompt syntax: ';' between labels, '|'
 * between synonyms, ';' between templates and '{}' in a template. */
#include "prompts.h"

#include <glib.h>
#include <string.h>

#include "error.h"

/* Splits text at sep, strips blanks and drops empty pieces: a
 * NULL-terminated g_strfreev() array. */
static char **
split_clean(const char *text, const char *sep)
{
  char **parts = g_strsplit(text ? text : "", sep, -1);
  int kept = 0;
  for (int i = 0; parts[i]; i++) {
    g_strstrip(parts[i]);
    if (parts[i][0])
      parts[kept++] = parts[i];
    else
      g_free(parts[i]);
  }
  parts[kept] = NULL;
  return parts;
}

char **
clip_label_synonyms(const char *label)
{
  return split_clean(label, "|");
}

char *
clip_prompt_fill(const char *template_, const char *synonym)
{
  char **pieces = g_strsplit(template_, "{}", -1);
  char *prompt = g_strjoinv(synonym, pieces);
  g_strfreev(pieces);
  return prompt;
}

void
clip_prompts_free(clip_prompts *p)
{
  if (!p)
    return;
  g_strfreev(p->names);
  g_strfreev(p->specs);
  g_strfreev(p->templates);
  memset(p, 0, sizeof *p);
}

clip_status
clip_prompts_parse(const char *prompts, const char *templates, clip_prompts *out, clip_error *err)
{
  if (!out)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_prompts_parse: out is NULL");
  memset(out, 0, sizeof *out);
  if (!prompts)
    return clip_set_error(err, CLIP_ERR_ARG, "no prompts given (e.g. \"a dog;a cat\")");
  const char *bad;
  if (!g_utf8_validate(prompts, -1, &bad))
    return clip_set_error(err, CLIP_ERR_ARG, "prompts are not valid UTF-8 (byte %d)",
                          (int) (bad - prompts));
  if (templates && !g_utf8_validate(templates, -1, &bad))
    return clip_set_error(err, CLIP_ERR_ARG, "templates are not valid UTF-8 (byte %d)",
                          (int) (bad - templates));

  char **tmpl = split_clean(templates, ";");
  for (int t = 0; tmpl[t]; t++)
    if (!strstr(tmpl[t], "{}")) {
      clip_set_error(err, CLIP_ERR_ARG, "template \"%s\" has no {} placeholder", tmpl[t]);
      g_strfreev(tmpl);
      return CLIP_ERR_ARG;
    }

  /* Labels without a synonym ("", " | ") are dropped like empty pieces. */
  char **entries = split_clean(prompts, ";");
  GPtrArray *names = g_ptr_array_new(), *specs = g_ptr_array_new();
  for (int i = 0; entries[i]; i++) {
    char **syn = clip_label_synonyms(entries[i]);
    if (syn[0]) {
      g_ptr_array_add(names, g_strdup(syn[0]));
      g_ptr_array_add(specs, g_strjoinv("|", syn));
    }
    g_strfreev(syn);
  }
  g_strfreev(entries);
  out->n_labels = (int) names->len;
  g_ptr_array_add(names, NULL);
  g_ptr_array_add(specs, NULL);
  out->names = (char **) g_ptr_array_free(names, FALSE);
  out->specs = (char **) g_ptr_array_free(specs, FALSE);
  out->n_templates = (int) g_strv_length(tmpl);
  out->templates = tmpl;
  if (out->n_labels == 0) {
    clip_prompts_free(out);
    return clip_set_error(err, CLIP_ERR_ARG,
                          "prompts \"%.80s\" contain no label (labels are separated by ';', "
                          "synonyms by '|')",
                          prompts);
  }
  return CLIP_OK;
}
