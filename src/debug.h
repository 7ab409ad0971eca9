/* debug.h — hooks for the tests (debug.c): the hidden states of a forward
 * pass and a switch for the text length optimisation. Not part of clip.h. */
#ifndef CLIP_DEBUG_H
#define CLIP_DEBUG_H

#include <stdbool.h>

#include "clip.h"

/* Called during a forward pass with data [n_seq, n_tok, width], valid only
 * during the call. what / layer:
 *   "vision_embeddings" 0    class token + patches + positions, before ln_pre
 *   "vision_hidden"     0    after ln_pre;  i: output of block i (1-based)
 *   "text_hidden"       0    token + position embeddings;  i: after block i
 *   "text_last_hidden"  0    final layer norm of every position
 * Text tensors have n_tok = the encoded length (see below). */
typedef void (*clip_debug_fn)(void *user, const char *what, int layer, const float *data, int n_seq,
                              int n_tok, int width);

/* Installs (or with NULL removes) the hook on a context. */
void clip_ctx_set_debug(clip_ctx *ctx, clip_debug_fn fn, void *user);

/* true (the default): clip_encode_texts runs only up to the longest row's
 * first EOT; false: always the full len given by the caller. */
void clip_ctx_set_text_truncation(clip_ctx *ctx, bool enabled);

#endif
