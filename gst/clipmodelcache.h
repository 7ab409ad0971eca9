/* clipmodelcache.h — finding a model by name and sharing loaded models.
 *
 * Thread-safe: the cache has one process-wide lock. */
#ifndef CLIP_MODEL_CACHE_H
#define CLIP_MODEL_CACHE_H

#include <gst/gst.h>

#include "clip.h"

G_BEGIN_DECLS

/* The path of @model: @model itself when it is a path, else the first
 * match in $CLIPFILTER_MODEL_PATH, $XDG_DATA_HOME/clipfilter/models, the
 * installed and the source tree's models directories. Returns NULL when
 * none has it; @searched receives the directories looked in. */
gchar *clip_model_cache_resolve (const gchar * model, GString * searched);

/* The model at @path loaded with @params, shared with every other user of
 * the same file and parameters. Returns NULL and fills @err on failure. */
clip_model *clip_model_cache_acquire (const gchar * path,
    const clip_params * params, clip_error * err);

/* Resolves @name and acquires it with @params. On failure returns NULL
 * and sets @error (GST_RESOURCE_ERROR: NOT_FOUND, SETTINGS or FAILED) to
 * what a user must read, and @debug (newly allocated) to the details. */
clip_model *clip_model_cache_open (const gchar * name,
    const clip_params * params, GError ** error, gchar ** debug);

/* Drops one use of @model (may be NULL); the last user frees it. */
void clip_model_cache_release (clip_model * model);

G_END_DECLS

#endif
