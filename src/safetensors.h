/* safetensors.h — reader (and writer) for the safetensors format: u64 header
 * length, JSON header, tensor bytes. The file is untrusted: every offset,
 * shape and dtype is validated before use; data is memory-mapped. */
#ifndef CLIP_SAFETENSORS_H
#define CLIP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef enum { ST_F32 = 0, ST_F16, ST_BF16, ST_I32, ST_I64, ST_U8, ST_F64, ST_I8, ST_I16, ST_BOOL } st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
  const char *name;
  st_dtype dtype;
  int n_dims;
  int64_t shape[ST_MAX_DIMS];
  int64_t n_elements;
  const void *data; /* inside the mapping; n_bytes long */
  size_t n_bytes;
} st_tensor;

typedef struct st_file st_file;

/* Maps and validates a file; NULL and err filled on failure. */
st_file *st_open(const char *path, clip_error *err);
void st_close(st_file *f);
const char *st_path(const st_file *f);
int st_count(const st_file *f);
const st_tensor *st_get(const st_file *f, int i);
/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
size_t st_dtype_size(st_dtype dtype);
const char *st_dtype_name(st_dtype dtype);

/* Copies a float tensor (F32, F16 or BF16) widened to float32 into out
 * (n_elements floats). */
clip_status st_to_f32(const st_tensor *t, float *out, clip_error *err);

/* Writer: collects tensors (data is copied) and writes a valid file. */
typedef struct st_writer st_writer;
st_writer *st_writer_new(void);
clip_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int n_dims,
                          const int64_t *shape, const void *data, clip_error *err);
clip_status st_writer_save(st_writer *w, const char *path, clip_error *err);
void st_writer_free(st_writer *w);

#endif
