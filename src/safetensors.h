/* safetensors.h — reader (and writer) for the safetensors format: u64 header
 * length, JSON header, tensor bytes. The file is untrusted: every offset,
 * shape and dtype is validated before use. The bytes are read into memory
 * the process owns (a file changed later changes nothing); CLIP_MODEL_MMAP=1
 * maps the file instead, zero-copy, for memory-constrained users who
 * replace models only by rename(). */
#ifndef CLIP_SAFETENSORS_H
#define CLIP_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "clip.h"

typedef enum {
  ST_F32 = 0,
  ST_F16,
  ST_BF16,
  ST_I32,
  ST_I64,
  ST_U8,
  ST_F64,
  ST_I8,
  ST_I16,
  ST_BOOL
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
  const char *name;
  st_dtype dtype;
  int n_dims;
  int64_t shape[ST_MAX_DIMS];
  int64_t n_elements;
  const void *data; /* inside the file's bytes; n_bytes long */
  size_t n_bytes;
  /* data sits at a multiple of the element size: only then may it be read
   * in place as float/int32 (a hostile file can misalign it). */
  bool aligned;
} st_tensor;

typedef struct st_file st_file;

/* Header lengths above this are refused as absurd: real headers are under
 * 1 MB (60 KB for ViT-L/14), and cJSON holds up to ~32 bytes per header
 * byte while parsing, so the cap also bounds that (~0.5 GB). */
#define ST_MAX_HEADER (16u * 1024 * 1024)

/* Reads (or, with CLIP_MODEL_MMAP=1, maps) and validates a file; NULL and
 * err filled on failure. A path that is not a regular file (FIFO, device,
 * directory) is refused without blocking. */
st_file *st_open(const char *path, clip_error *err);
/* As st_open, but reads only the header now: each tensor's bytes are read
 * into the process's memory by st_fetch() when first asked for, so a
 * loader reads only what it uses. Until st_seal() the file stays open; a
 * tensor not fetched reads as zeros. With map, the file is mapped as
 * st_open maps it with CLIP_MODEL_MMAP=1. */
st_file *st_open_lazy(const char *path, bool map, clip_error *err);
/* Reads the tensor's bytes from a lazy file (once; nothing to do for other
 * files). Fails with CLIP_ERR_IO when the file has shrunk or cannot be read. */
clip_status st_fetch(st_file *f, const st_tensor *t, clip_error *err);
/* Closes a lazy file's descriptor and makes its bytes read-only: no tensor
 * can be fetched afterwards. Fails with CLIP_ERR_IO when the file was
 * written to since it was opened (its size, modification or change time
 * moved), as the bytes read may then mix two versions. Nothing to do for
 * other files. */
clip_status st_seal(st_file *f, clip_error *err);
/* The status (fstat) of the file when it was opened: what identifies the
 * bytes read from it. NULL for st_open_memory files. */
const struct stat *st_identity(const st_file *f);
/* Validates a copy of len bytes as a file called name (fuzzing, tests). */
st_file *st_open_memory(const char *name, const void *bytes, size_t len, clip_error *err);
/* Whether CLIP_MODEL_MMAP=1 asks for zero-copy mappings. */
bool st_mmap_requested(void);
/* Frees the file's bytes; NULL is allowed. */
void st_close(st_file *f);
/* The path the file was opened with. */
const char *st_path(const st_file *f);
/* Number of tensors (the __metadata__ entry is not one). */
int st_count(const st_file *f);
/* The i-th tensor in header order, NULL when out of range. */
const st_tensor *st_get(const st_file *f, int i);
/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* Bytes per element. */
size_t st_dtype_size(st_dtype dtype);
/* The name used in headers ("F32", "BF16", ...). */
const char *st_dtype_name(st_dtype dtype);
/* Parses a header dtype name; false when unknown. */
bool st_dtype_parse(const char *name, st_dtype *dtype);

/* Maps the tensor's pages in one call ahead of a full read (one fault per
 * page otherwise); harmless where the kernel lacks it. */
void st_prefault(const st_file *f, const st_tensor *t);

/* Tells the kernel the tensor's pages are no longer needed (after they were
 * copied), so they leave the resident set; the tensor's data must not be
 * read afterwards (owned pages then read as zeros). */
void st_release(const st_file *f, const st_tensor *t);

/* The tensor's data as floats in place (F32 and aligned), else NULL. */
const float *st_f32_direct(const st_tensor *t);

/* Copies a float tensor (F32, F16 or BF16) widened to float32 into out
 * (n_elements floats). */
clip_status st_to_f32(const st_tensor *t, float *out, clip_error *err);
/* One IEEE half (bits) widened exactly to float. */
float st_f16_to_f32(uint16_t h);
/* One bfloat16 (bits) widened exactly to float. */
float st_bf16_to_f32(uint16_t h);

/* Writer: collects tensors and writes a valid file (header padded with
 * spaces to a multiple of 8, tensors back to back, ordered by decreasing
 * element size so each starts at a multiple of its element size). */
typedef struct st_writer st_writer;
/* Fills n_bytes of a tensor's data at save time (for tensors too large to
 * hold twice in memory); returns false to abort the save. */
typedef bool (*st_fill_fn)(void *user, const char *name, void *out, size_t n_bytes);

st_writer *st_writer_new(void);
/* Adds a tensor; data (dtype size × product(shape) bytes) is copied. */
clip_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int n_dims,
                          const int64_t *shape, const void *data, clip_error *err);
/* Adds a tensor whose bytes fill(user, name, buf, n) produces during save. */
clip_status st_writer_add_generated(st_writer *w, const char *name, st_dtype dtype, int n_dims,
                                    const int64_t *shape, st_fill_fn fill, void *user,
                                    clip_error *err);
/* Writes the file (through a temporary name, renamed when complete). */
clip_status st_writer_save(st_writer *w, const char *path, clip_error *err);
/* Frees the writer; NULL is allowed. */
void st_writer_free(st_writer *w);

#endif
