/* transformer.h — the pre-LN residual block both towers share,
 *   x += out_proj(attention(ln1(x)));  x += fc2(act(fc1(ln2(x)))),
 * and the loop that runs a tower's blocks on a context (transformer.c). */
#ifndef CLIP_TRANSFORMER_H
#define CLIP_TRANSFORMER_H

#include <stdbool.h>

#include "context.h"
#include "ops.h"

/* Scratch for one block over rows = n_seq·T rows of the residual stream; the
 * caller owns it (clip_ctx), the block never allocates. */
typedef struct {
  float *h;      /* [rows, width]: layer-norm output, then attention output */
  float *qkv;    /* [rows, 3·width]: q | k | v */
  float *mlp;    /* [rows, mlp] */
} clip_block_scratch;

/* Shapes and options of a tower's blocks. */
typedef struct {
  int width, heads, mlp;
  float eps;
  clip_activation act;
  bool causal; /* text: position i attends to 0..i only */
} clip_block_shape;

/* Runs one block in place on x [n_seq·T, width] (n_seq sequences of T
 * tokens each, attention within each sequence). */
void clip_block_forward(const ops_backend *be, const clip_block *blk, const clip_block_shape *shape,
                        float *x, int n_seq, int T, const clip_block_scratch *s);

/* The last block when only one row of each sequence is read afterwards
 * (the class token, the first end-of-text token): ln1, qkv and attention
 * for all rows (keys and values need them), everything after attention for
 * the kept rows only, a quarter of the block's products. keep[r] is the kept
 * row of sequence r (keep NULL: row 0 of each, the class token); the kept
 * rows' outputs go to out [n_seq, width], the same values the full block
 * would leave in those rows of x, which is left as it was. The scratch is
 * the full block's. */
void clip_block_forward_kept(const ops_backend *be, const clip_block *blk,
                             const clip_block_shape *shape, float *x, int n_seq, int T,
                             const int *keep, float *out, const clip_block_scratch *s);

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

#endif
