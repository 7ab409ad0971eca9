/* onednn-pack.h — the oneDNN backend's packed-weight file (onednn-pack.c):
 * the packed bytes of a model's linear layers saved once, in creation
 * order, and mapped by later loads of the same checkpoint. Internal to the
 * backend (backend-onednn.c); built only with oneDNN. */
#ifndef CLIP_ONEDNN_PACK_H
#define CLIP_ONEDNN_PACK_H

#include <dnnl.h>
#include <stdbool.h>
#include <sys/stat.h>

typedef struct pack_file pack_file;

/* The file for checkpoint `weights` (id: the status of the file its
 * weights were read from, NULL to stat() the path), the layer set
 * `variant` (NULL or "" for the whole model) and precision, mapped when
 * valid; NULL when the file is turned off (CLIP_WEIGHT_CACHE=off) or
 * cannot be set up. */
pack_file *onednn_pack_open(const char *weights, const struct stat *id, const char *variant,
                            bool bf16);
/* Waits for the writer and unmaps the file; NULL is allowed. */
void onednn_pack_close(pack_file *pf);
/* The packed bytes of the next layer (in creation order) when the file has
 * them in exactly this size and layout, else NULL (the file will then be
 * rewritten). Call onednn_pack_add() for that layer before the next. */
const void *onednn_pack_next(pack_file *pf, int K, int N, const dnnl_memory_desc_t *md);
/* Records the layer just built, whose packed weights are in wei; false
 * when out of memory. */
bool onednn_pack_add(pack_file *pf, int K, int N, const dnnl_memory_desc_t *md, dnnl_memory_t wei);
/* Writes the file, on a thread of its own, when some layer was packed here
 * and the model is large enough; the layers' weights must stay until
 * onednn_pack_join() or onednn_pack_close(). */
void onednn_pack_save(pack_file *pf);
/* Waits for a running writer; NULL is allowed. */
void onednn_pack_join(pack_file *pf);

#endif
