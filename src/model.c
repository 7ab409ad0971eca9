/* model.c — prepares a loaded model for a backend: walks its linear layers,
 * hands each to the backend's pack hook, and releases the plain weights the
 * backend no longer needs (owned copies freed, mapped pages dropped). */
#include "model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checkpoint.h"
#include "error.h"

/* Every linear layer of a model with the row count it usually runs at (one
 * image, one full-length text), which picks the prepacked layout. */
typedef struct {
  clip_linear *lin;
  int m_hint;
} model_layer;

static int
model_layers(clip_model *m, model_layer *out)
{
  int n = 0, grid = m->info.patch_size > 0 ? m->info.image_size / m->info.patch_size : 0;
  int Tv = grid * grid + 1, Tt = m->info.context_length;
  out[n++] = (model_layer){ &m->patch_embed, grid * grid };
  out[n++] = (model_layer){ &m->visual_proj, 1 };
  out[n++] = (model_layer){ &m->text_proj, 1 };
  const clip_tower *towers[2] = { &m->vision, &m->text };
  for (int t = 0; t < 2; t++)
    for (int l = 0; towers[t]->blocks && l < towers[t]->layers; l++) {
      clip_block *b = &towers[t]->blocks[l];
      int M = t == 0 ? Tv : Tt;
      out[n++] = (model_layer){ &b->qkv, M };
      out[n++] = (model_layer){ &b->attn_out, M };
      out[n++] = (model_layer){ &b->fc1, M };
      out[n++] = (model_layer){ &b->fc2, M };
    }
  return n;
}

/* Frees p if the loader owns it (a converted copy); false for weights
 * still mapped from the file, which stay with the mapping. */
static bool
free_owned(clip_model *m, const void *p)
{
  for (int i = 0; p && i < m->n_owned; i++)
    if (m->owned[i] == p) {
      free(m->owned[i]);
      m->owned[i] = NULL;
      return true;
    }
  return false;
}

/* Drops the resident pages of mapped weights that were reordered into the
 * backend's own memory, so the model is not held twice. Only pages wholly
 * inside [p, p + bytes): neighbouring tensors may still be read in place
 * (and a dropped page of the private read-only mapping would just be read
 * back from the file). */
static void
release_mapped(const void *p, size_t bytes)
{
  long page = sysconf(_SC_PAGESIZE);
  if (!p || page <= 0)
    return;
  uintptr_t begin = ((uintptr_t) p + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
  uintptr_t end = ((uintptr_t) p + bytes) & ~((uintptr_t) page - 1);
  if (end > begin)
    madvise((void *) begin, end - begin, MADV_DONTNEED);
}

clip_status
clip_model_layer_parts(clip_model *m, const clip_linear *lin, const float **parts, clip_error *err)
{
  /* The layer belongs to m; the const is the hook's promise not to change
   * it, which reading its deferred weights in does not break. */
  clip_linear *l = (clip_linear *) lin;
  clip_status st = clip_checkpoint_layer_weights(m, l, err);
  if (st != CLIP_OK)
    return st;
  for (int p = 0; p < (l->n_split > 0 ? l->n_split : 1); p++)
    parts[p] = l->n_split > 0 ? l->split[p] : l->w;
  return CLIP_OK;
}

/* Whether the layer has weights (read or deferred): not when its tower
 * was not loaded. */
static bool
has_weights(const clip_linear *lin)
{
  return (lin->w || lin->n_split > 0 || lin->source[0]) && lin->in > 0 && lin->out > 0;
}

clip_status
clip_model_finish(clip_model *m, clip_error *err)
{
  clip_status st = CLIP_OK;
  int cap = 3 + 4 * (m->vision.layers + m->text.layers);
  model_layer *layers = malloc((size_t) cap * sizeof *layers);
  if (!layers)
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory preparing the model's layers");
  int n = model_layers(m, layers);
  for (int i = 0; i < n && st == CLIP_OK; i++)
    st = clip_checkpoint_layer_weights(m, layers[i].lin, err);
  free(layers);
  return st == CLIP_OK ? clip_checkpoint_seal(m, err) : st;
}

clip_status
clip_model_pack_layers(clip_model *m, clip_layer_pack_fn pack, void *user, clip_error *err)
{
  clip_status st = CLIP_OK;
  int cap = 3 + 4 * (m->vision.layers + m->text.layers);
  model_layer *layers = malloc((size_t) cap * sizeof *layers);
  if (!layers)
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory preparing the model's layers");
  int n = model_layers(m, layers);
  for (int i = 0; i < n && st == CLIP_OK; i++) {
    clip_linear *lin = layers[i].lin;
    if (!has_weights(lin))
      continue; /* a tower this model does not have */
    size_t block = (size_t) lin->in * (size_t) (lin->n_split > 0 ? lin->out / lin->n_split : 0);
    /* Hugging Face's q, k and v stay separate blocks: a backend joins them
     * only when it has to pack the layer (not when its packed copy comes
     * from a file, when they are not even read). */
    st = pack(user, m, lin, lin->n_split > 0 ? lin->n_split : 1, layers[i].m_hint, err);
    if (st != CLIP_OK)
      break;
    for (int p = 0; p < 3; p++)
      lin->source[p] = NULL; /* packed from a file: never read */
    if (lin->w && !free_owned(m, lin->w))
      release_mapped(lin->w, (size_t) lin->in * (size_t) lin->out * sizeof(float));
    for (int p = 0; p < lin->n_split; p++) {
      if (!free_owned(m, lin->split[p]))
        release_mapped(lin->split[p], block * sizeof(float));
      lin->split[p] = NULL;
    }
    lin->w = NULL;
    lin->n_split = 0;
  }
  free(layers);
  return st;
}
