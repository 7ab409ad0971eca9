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
  float *h;   /* [rows, width]: layer-norm output, then attention output */
  float *qkv; /* [rows, 3·width]: q | k | v */
  float *mlp; /* [rows, mlp] */
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

/* A pass of a tower over n_seq sequences of T tokens: the blocks' shape
 * and the buffers, all inside the context's scratch: the residual stream x
 * [n_seq·T, width], the blocks' scratch, the pooled row of each sequence
 * [n_seq, width], and the caller's own extra buffer. */
typedef struct {
  clip_block_shape shape;
  float *x;
  clip_block_scratch s;
  float *pooled;
  float *extra;
} clip_tower_pass;

/* Sets up a pass of the model's vision or text tower (causal: the text's
 * mask) with extra_rows × extra_cols floats of extra scratch; the scratch
 * is reserved once, so the pass itself never allocates. `what` and `items`
 * name the caller and its inputs in the error for a batch too large. */
clip_status clip_tower_pass_init(clip_ctx *ctx, const clip_tower *tower, bool causal, int n_seq,
                                 int T, size_t extra_rows, size_t extra_cols, const char *what,
                                 const char *items, clip_tower_pass *pass, clip_error *err);

/* Runs a tower's blocks on pass->x and leaves the row of each sequence
 * that the tower pools (keep[r]; keep NULL: row 0, the class token) in
 * pass->pooled. Only that row is read afterwards, so the last block runs
 * past attention on it alone (clip_block_forward_kept), unless a debug hook
 * is installed: then every block runs whole and reports x as `what`. */
void clip_tower_blocks(clip_ctx *ctx, const clip_tower *tower, const clip_tower_pass *pass,
                       int n_seq, int T, const int *keep, const char *what);

#endif
