/* model-config.h — reads a checkpoint's configuration into
 * clip_model_info (model-config.c), for the checkpoint loader. */
#ifndef CLIP_MODEL_CONFIG_H
#define CLIP_MODEL_CONFIG_H

#include "clip.h"
#include "safetensors.h"

/* Sizes, activation and layer-norm epsilon from a Hugging Face
 * config.json, with transformers' defaults for absent keys. */
clip_status clip_config_hf(clip_model_info *in, const char *path, clip_error *err);

/* Sizes of an OpenAI/open_clip checkpoint from its tensor shapes, then
 * open_clip_config.json at cfg_path (NULL: none), whose values must agree
 * with the shapes; also mean/std from its preprocess_cfg. */
clip_status clip_config_openclip(clip_model_info *in, const st_file *f, const char *cfg_path,
                                 clip_error *err);

/* Refuses sizes out of range or inconsistent (path names the file they
 * came from in messages). */
clip_status clip_config_check_sizes(const clip_model_info *in, const char *path, clip_error *err);

/* preprocessor_config.json: mean, std, and a check of the crop size. */
clip_status clip_config_preprocessor(clip_model_info *in, const char *path, clip_error *err);

#endif
