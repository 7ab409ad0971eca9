/* context.c — forward-pass contexts (clip_ctx_new/free of clip.h): the
 * backend's execution state bound to a model, and the scratch memory the
 * towers plan and reserve before a pass. */
#include "context.h"

#include <stdlib.h>

#include <glib.h>

#include "error.h"
#include "model.h"

clip_ctx *
clip_ctx_new(const clip_model *model, clip_error *err)
{
  if (!model)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_ctx_new: model is NULL"), NULL;
  clip_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return clip_set_error(err, CLIP_ERR_NOMEM, "clip_ctx_new: out of memory"), NULL;
  ctx->model = model;
  ctx->text_truncation = true;
  if (ops_backend_init(&ctx->backend, &model->params, err) != CLIP_OK
      || ops_backend_bind(&ctx->backend, model, err) != CLIP_OK) {
    free(ctx);
    return NULL;
  }
  return ctx;
}

void
clip_ctx_free(clip_ctx *ctx)
{
  if (!ctx)
    return;
  ops_backend_release(&ctx->backend);
  free(ctx->scratch);
  free(ctx);
}

size_t
clip_scratch_take(clip_scratch_plan *plan, size_t a, size_t b)
{
  const size_t align = 16; /* floats: 64 bytes, a cache line */
  size_t n, at = plan->total;
  if (!g_size_checked_mul(&n, a, b) || !g_size_checked_add(&n, n, align - 1)
      || !g_size_checked_add(&plan->total, plan->total, n & ~(align - 1)))
    plan->overflow = true;
  return at;
}

clip_status
clip_scratch_reserve(clip_ctx *ctx, const clip_scratch_plan *plan, clip_error *err)
{
  if (plan->overflow || plan->total > SIZE_MAX / sizeof(float))
    return clip_set_error(err, CLIP_ERR_ARG, "batch too large: scratch size overflows");
  if (plan->total <= ctx->scratch_floats)
    return CLIP_OK;
  /* Grown, never shrunk: after the largest batch no forward allocates. */
  free(ctx->scratch);
  ctx->scratch = aligned_alloc(64, plan->total * sizeof(float));
  ctx->scratch_floats = ctx->scratch ? plan->total : 0;
  if (!ctx->scratch)
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory for %zu MB of scratch",
                          plan->total * sizeof(float) >> 20);
  return CLIP_OK;
}
