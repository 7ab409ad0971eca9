/* debug.c — the test hooks of debug.h on a context. */
#include "debug.h"

#include "context.h"

void
clip_ctx_set_debug(clip_ctx *ctx, clip_debug_fn fn, void *user)
{
  ctx->debug = fn;
  ctx->debug_user = user;
}

void
clip_ctx_set_text_truncation(clip_ctx *ctx, bool enabled)
{
  ctx->text_truncation = enabled;
}
