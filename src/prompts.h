/* prompts.h — the prompt syntax: labels separated by ';', synonyms of a
 * label by '|', '{}' in a template where the synonym goes. The public entry
 * points (clip_prompts_parse, clip_prompts_free) are in clip.h; the helpers
 * below are what the ensembling in score.c builds on. */
#ifndef CLIP_PROMPTS_H
#define CLIP_PROMPTS_H

#include "clip.h"

/* Splits a label "syn|syn|…" into its synonyms, each stripped of surrounding
 * whitespace, empty ones dropped. Returns a NULL-terminated g_strfreev()
 * array; an empty one when the label has no synonym. */
char **clip_label_synonyms(const char *label);

/* The template with every "{}" replaced by synonym (g_free the result). */
char *clip_prompt_fill(const char *template_, const char *synonym);

#endif
