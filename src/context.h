/* context.h — struct clip_ctx (context.c): a forward pass's backend state
 * (workers, scratch of the products), its scratch memory and the debug hook,
 * and the planning of that scratch memory. Internal header. */
#ifndef CLIP_CONTEXT_H
#define CLIP_CONTEXT_H

#include "debug.h"
#include "ops.h"

struct clip_ctx {
  const clip_model *model;
  ops_backend backend;
  float *scratch; /* grown to the largest batch seen, never inside a layer */
  size_t scratch_floats;
  clip_debug_fn debug;
  void *debug_user;
  bool text_truncation;
};

/* Lays out a pass's buffers inside ctx->scratch: take() hands out offsets
 * (64-byte aligned) of a×b floats, then the block is reserved once. */
typedef struct {
  size_t total;
  bool overflow;
} clip_scratch_plan;

size_t clip_scratch_take(clip_scratch_plan *plan, size_t a, size_t b);

/* Reserves the planned scratch; fails on overflow or out of memory. */
clip_status clip_scratch_reserve(clip_ctx *ctx, const clip_scratch_plan *plan, clip_error *err);

/* Calls the debug hook when one is installed. */
static inline void
clip_ctx_debug(const clip_ctx *ctx, const char *what, int layer, const float *data, int n_seq,
               int n_tok, int width)
{
  if (ctx->debug)
    ctx->debug(ctx->debug_user, what, layer, data, n_seq, n_tok, width);
}

#endif
