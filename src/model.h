/* model.h — the in-memory form of a loaded CLIP model, shared by the loader
 * (checkpoint.c, which fills it), its preparation for a backend (model.c)
 * and the forward pass (vision.c, text.c, transformer.c, which only read
 * it). Internal header. */
#ifndef CLIP_MODEL_H
#define CLIP_MODEL_H

#include "clip.h"
#include "safetensors.h"
#include "tensors.h"
#include "tokenizer.h"

struct clip_model {
  clip_model_info info;
  char *path;

  /* vision tower */
  clip_linear patch_embed;  /* in 3·P·P (c, y, x order as conv1), out width, no bias */
  const float *class_embed; /* [width] */
  const float *vision_pos;  /* [1 + grid², width] */
  clip_norm ln_pre, ln_post;
  clip_tower vision;
  clip_linear visual_proj; /* in width, out embed_dim, no bias */

  /* text tower */
  const float *token_embed; /* [vocab, width] */
  const float *text_pos;    /* [context, width] */
  clip_tower text;
  clip_norm ln_final;
  clip_linear text_proj; /* in width, out embed_dim, no bias */
  int32_t eot_id, sot_id;

  clip_tokenizer *tokenizer; /* NULL when the checkpoint has no vocab files */

  /* Ownership: the checkpoint files' bytes, and the blocks allocated for
   * converted or re-laid-out tensors. Freed by clip_model_free(). Embedding,
   * positional, layer-norm and linear-weight pointers point into files[0]'s
   * bytes when the tensor is F32 and aligned; F16/BF16 tensors are copies.
   * Those bytes are the process's own (read at load), or a shared mapping
   * of the file only with clip_params.map_file (safetensors.h). */
  st_file *files[2];
  void **owned;
  int n_owned, cap_owned;

  clip_params params; /* backend resolved at load (never DEFAULT afterwards) */
  /* The backend's model state (ops.c): for oneDNN the engine and each
   * layer's prepacked weights; the plain w of those layers is then NULL
   * (clip_model_pack_layers). NULL for OpenBLAS. */
  void *backend;
};

/* Packs one linear layer for a backend, which keeps its copy keyed by lin.
 * The layer's weight matrix, in lin's layout and in n_parts consecutive
 * row blocks (HF's separate q, k, v; one block otherwise), is read only if
 * the backend asks for it with clip_model_layer_parts() (it need not when
 * its packed copy comes from a file); m_hint is the row count the layer
 * usually runs at (one image, one full-length text), which picks the
 * packed layout. */
typedef clip_status (*clip_layer_pack_fn)(void *user, clip_model *model, clip_linear *lin,
                                          int n_parts, int m_hint, clip_error *err);

/* For a pack hook: reads lin's weights now if the loader deferred them
 * (checkpoint.c: converted and checked to be finite) and points parts
 * [n_parts] at its row blocks, valid until the hook returns. */
clip_status clip_model_layer_parts(clip_model *model, clip_linear *lin, const float **parts,
                                   clip_error *err);

/* Prepares a loaded model for a backend that keeps its own copy of the
 * weights (model.c): hands every linear layer to pack(), then lets go of
 * the plain weights so the model is not held twice (the copies the loader
 * owns are freed, the pages of those still mapped from the file dropped);
 * those layers' w and split are NULL afterwards. Stops at the first
 * failure. */
clip_status clip_model_pack_layers(clip_model *model, clip_layer_pack_fn pack, void *user,
                                   clip_error *err);

/* Ends the load once the backend has prepared the model: the weights the
 * loader deferred and no backend took are read now (all of them on a
 * backend that keeps no copy), and the checkpoint file is closed. */
clip_status clip_model_finish(clip_model *model, clip_error *err);

#endif
