/* checkpoint.h — finds and reads a checkpoint (Hugging Face directory or
 * open_clip safetensors), maps both naming schemes onto struct clip_model and
 * lays the weights out for the forward pass. */
#ifndef CLIP_CHECKPOINT_H
#define CLIP_CHECKPOINT_H

#include "model.h"

/* Fills a zeroed model from path; on failure the caller frees it with
 * clip_model_free(). */
clip_status clip_checkpoint_load(clip_model *model, const char *path, clip_error *err);

/* Reads the weights the loader deferred for lin (linear layers' weights
 * are read when the model is prepared, and only when the backend has no
 * packed copy of them): converted to float32 and checked to be finite,
 * into lin->w or lin->split. Nothing to do when none are deferred. */
clip_status clip_checkpoint_layer_weights(clip_model *model, clip_linear *lin, clip_error *err);

/* Ends reading the checkpoint once the model is prepared: its file is
 * closed (no weight can be read from it afterwards), and a file that
 * changed while it was being read fails the load. */
clip_status clip_checkpoint_seal(clip_model *model, clip_error *err);

/* Frees what the loader allocated (files, owned blocks, tokenizer). */
void clip_checkpoint_release(clip_model *model);

#endif
