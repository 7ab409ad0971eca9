/* checkpoint.c — STUB, to be implemented (loader work). */
#include "checkpoint.h"
#include "error.h"

clip_status clip_checkpoint_load(clip_model *model, const char *path, clip_error *err)
{ (void) model; return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "%s: loader not implemented", path); }
void clip_checkpoint_release(clip_model *model) { (void) model; }
