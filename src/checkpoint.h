/* checkpoint.h — finds and reads a checkpoint (Hugging Face directory or
 * open_clip safetensors), maps both naming schemes onto struct clip_model and
 * lays the weights out for the forward pass. */
#ifndef CLIP_CHECKPOINT_H
#define CLIP_CHECKPOINT_H

#include "model.h"

/* Fills a zeroed model from path; on failure the caller frees it with
 * clip_model_free(). */
clip_status clip_checkpoint_load(clip_model *model, const char *path, clip_error *err);

/* Frees what the loader allocated (files, owned blocks, tokenizer). */
void clip_checkpoint_release(clip_model *model);

#endif
