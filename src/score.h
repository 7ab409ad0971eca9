/* score.h — zero-shot scoring math: cosine similarities, temperature
 * softmax (label/template expansion is in prompts.h). The public
 * entry points (clip_score, clip_normalize, clip_embed_labels) are in clip.h. */
#ifndef CLIP_SCORE_H
#define CLIP_SCORE_H

#include "clip.h"
#include "prompts.h" /* clip_label_synonyms, clip_prompt_fill */

/* sims[i] = cos(embed, units[i]) for n unit vectors of dimension d; an
 * all-zero embed gives 0. */
void clip_score_cosines(const float *embed, const float *units, int n, int d, float *sims);

/* probs = softmax(scale · cosines), numerically stable; probs may alias
 * cosines. */
void clip_score_probs(const float *cosines, int n, float scale, float *probs);

#endif
