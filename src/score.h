/* score.h — zero-shot scoring math and prompt ensembling helpers: cosine
 * similarities, temperature softmax, label/template expansion. The public
 * entry points (clip_score, clip_normalize, clip_embed_labels) are in clip.h. */
#ifndef CLIP_SCORE_H
#define CLIP_SCORE_H

#include "clip.h"

/* sims[i] = cos(embed, units[i]) for n unit vectors of dimension d; an
 * all-zero embed gives 0. */
void clip_score_cosines(const float *embed, const float *units, int n, int d, float *sims);

/* probs = softmax(scale · cosines), numerically stable; probs may alias
 * cosines. */
void clip_score_probs(const float *cosines, int n, float scale, float *probs);

/* Splits a label "syn|syn|…" into its synonyms, each stripped of surrounding
 * whitespace, empty ones dropped. Returns a NULL-terminated g_strfreev()
 * array; an empty one when the label has no synonym. */
char **clip_label_synonyms(const char *label);

/* The template with every "{}" replaced by synonym (g_free the result). */
char *clip_prompt_fill(const char *template_, const char *synonym);

#endif
