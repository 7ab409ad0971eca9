/* context.h — struct clip_ctx: the scratch memory, backend and debug hook of
 * a forward pass, shared by clip.c and the towers. Internal header. */
#ifndef CLIP_CONTEXT_H
#define CLIP_CONTEXT_H

#include "debug.h"
#include "model.h"
#include "ops.h"
#include "transformer.h"

struct clip_ctx {
  const clip_model *model;
  ops_backend backend;
  float *scratch; /* grown to the largest batch seen, never inside a layer */
  size_t scratch_floats;
  clip_debug_fn debug;
  void *debug_user;
  bool text_truncation;
};

/* Lays out a tower's buffers inside ctx->scratch: take() hands out offsets
 * (64-byte aligned) of a×b floats, then the block is reserved once. */
typedef struct {
  size_t total;
  bool overflow;
} clip_scratch_plan;

size_t clip_scratch_take(clip_scratch_plan *plan, size_t a, size_t b);

/* Reserves the planned scratch; fails on overflow or out of memory. */
clip_status clip_scratch_reserve(clip_ctx *ctx, const clip_scratch_plan *plan, clip_error *err);

/* A tower's residual stream x [rows, width] and its blocks' scratch, for
 * rows = sequences × T tokens: offsets taken from a plan... */
typedef struct {
  size_t x, h, qkv, mlp;
} clip_tower_plan;

clip_tower_plan clip_tower_plan_take(clip_scratch_plan *plan, size_t rows,
                                     const clip_tower *tower);

/* ...and the pointers once the plan is reserved. */
clip_block_scratch clip_tower_block_scratch(const clip_ctx *ctx, const clip_tower_plan *tp);

/* Calls the debug hook when one is installed. */
static inline void
clip_ctx_debug(const clip_ctx *ctx, const char *what, int layer, const float *data, int n_seq,
               int n_tok, int width)
{
  if (ctx->debug)
    ctx->debug(ctx->debug_user, what, layer, data, n_seq, n_tok, width);
}

#endif
