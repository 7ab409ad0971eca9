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

/* A tower's residual stream x [n_seq·T, width], its blocks' scratch and
 * the pooled row of each sequence [n_seq, width]: offsets taken from a
 * plan... */
typedef struct {
  size_t x, h, qkv, mlp, pooled;
} clip_tower_plan;

clip_tower_plan clip_tower_plan_take(clip_scratch_plan *plan, size_t n_seq, size_t T,
                                     const clip_tower *tower);

/* ...and the pointers once the plan is reserved. */
clip_block_scratch clip_tower_block_scratch(const clip_ctx *ctx, const clip_tower_plan *tp);

/* Runs a tower's blocks on x and leaves the row of each sequence that the
 * tower pools (keep[r]; keep NULL: row 0, the class token) in pooled
 * [n_seq, width]. Only that row is read afterwards, so the last block runs
 * past attention on it alone (clip_block_forward_kept), unless a debug hook
 * is installed: then every block runs whole and reports x as `what`. */
void clip_tower_blocks(clip_ctx *ctx, const clip_tower *tower, const clip_block_shape *shape,
                       float *x, int n_seq, int T, const clip_block_scratch *s, const int *keep,
                       float *pooled, const char *what);

/* Calls the debug hook when one is installed. */
static inline void
clip_ctx_debug(const clip_ctx *ctx, const char *what, int layer, const float *data, int n_seq,
               int n_tok, int width)
{
  if (ctx->debug)
    ctx->debug(ctx->debug_user, what, layer, data, n_seq, n_tok, width);
}

#endif
