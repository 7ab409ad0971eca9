/* preprocess.c — STUB, to be implemented (preprocessing work). */
#include "preprocess.h"
#include "error.h"

clip_status clip_preprocess_frame(const clip_preprocess_params *p, const clip_image *image,
                                  float *out, clip_error *err)
{ (void) p; (void) image; (void) out;
  return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "preprocessing not implemented"); }
