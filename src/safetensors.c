/* safetensors.c — STUB, to be implemented (loader work). */
#include "safetensors.h"
#include "error.h"

st_file *st_open(const char *path, clip_error *err)
{ clip_set_error(err, CLIP_ERR_UNSUPPORTED, "%s: safetensors reader not implemented", path); return NULL; }
void st_close(st_file *f) { (void) f; }
const char *st_path(const st_file *f) { (void) f; return ""; }
int st_count(const st_file *f) { (void) f; return 0; }
const st_tensor *st_get(const st_file *f, int i) { (void) f; (void) i; return NULL; }
const st_tensor *st_find(const st_file *f, const char *name) { (void) f; (void) name; return NULL; }
size_t st_dtype_size(st_dtype dtype) { (void) dtype; return 0; }
const char *st_dtype_name(st_dtype dtype) { (void) dtype; return "?"; }
clip_status st_to_f32(const st_tensor *t, float *out, clip_error *err)
{ (void) t; (void) out; return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "not implemented"); }
st_writer *st_writer_new(void) { return NULL; }
clip_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int n_dims,
                          const int64_t *shape, const void *data, clip_error *err)
{ (void) w; (void) name; (void) dtype; (void) n_dims; (void) shape; (void) data;
  return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "not implemented"); }
clip_status st_writer_save(st_writer *w, const char *path, clip_error *err)
{ (void) w; (void) path; return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "not implemented"); }
void st_writer_free(st_writer *w) { (void) w; }
