/* safetensors.c — the safetensors reader and writer. Files are untrusted:
 * the header is checked completely before any tensor pointer is handed out,
 * so later code can index tensor data by its shape without further checks. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "readfile.h"

struct st_file {
  char *path;
  void *map; /* the file's bytes: owned anonymous pages, or the file mapped */
  size_t map_size;
  bool mapped_file;
  /* Opened by st_open_lazy: the file, open until st_seal(), from which
   * st_fetch() reads each tensor into map the first time it is asked for;
   * -1 once every byte asked for is in (or for other files). */
  int fd;
  bool *fetched;       /* per tensor, lazy files only */
  struct stat id;      /* the opened file's status at open (zero for memory) */
  const uint8_t *data; /* first byte after the header */
  size_t data_size;
  st_tensor *tensors;
  int n_tensors;
  GHashTable *by_name; /* name -> st_tensor* */
};

static const struct {
  const char *name;
  size_t size;
} dtypes[] = {
  [ST_F32] = { "F32", 4 },   [ST_F16] = { "F16", 2 }, [ST_BF16] = { "BF16", 2 },
  [ST_I32] = { "I32", 4 },   [ST_I64] = { "I64", 8 }, [ST_U8] = { "U8", 1 },
  [ST_F64] = { "F64", 8 },   [ST_I8] = { "I8", 1 },   [ST_I16] = { "I16", 2 },
  [ST_BOOL] = { "BOOL", 1 },
};
#define N_DTYPES ((int) (sizeof dtypes / sizeof dtypes[0]))

size_t
st_dtype_size(st_dtype dtype)
{
  return (int) dtype >= 0 && (int) dtype < N_DTYPES ? dtypes[dtype].size : 0;
}

const char *
st_dtype_name(st_dtype dtype)
{
  return (int) dtype >= 0 && (int) dtype < N_DTYPES ? dtypes[dtype].name : "?";
}

bool
st_dtype_parse(const char *name, st_dtype *dtype)
{
  for (int i = 0; i < N_DTYPES; i++)
    if (!strcmp(name, dtypes[i].name)) {
      *dtype = (st_dtype) i;
      return true;
    }
  return false;
}

/* ---- reader ---- */

/* A JSON number that is a non-negative integer exactly representable as a
 * double (2^53), so it converts to uint64 without surprises. */
static bool
json_uint(const cJSON *item, uint64_t *out)
{
  if (!cJSON_IsNumber(item))
    return false;
  double v = item->valuedouble;
  if (!(v >= 0 && v <= 9007199254740992.0) || v != (double) (uint64_t) v)
    return false;
  *out = (uint64_t) v;
  return true;
}

static const char *
json_type_name(const cJSON *item)
{
  if (!item)
    return "nothing";
  if (cJSON_IsString(item))
    return "a string";
  if (cJSON_IsNumber(item))
    return "a number";
  if (cJSON_IsArray(item))
    return "an array";
  if (cJSON_IsObject(item))
    return "an object";
  if (cJSON_IsBool(item))
    return "a boolean";
  if (cJSON_IsNull(item))
    return "null";
  return "an invalid value";
}

/* Fills t from one header entry; sizes are checked against the data area. */
static clip_status
parse_entry(const st_file *f, const cJSON *entry, st_tensor *t, uint64_t range[2], clip_error *err)
{
  const char *path = f->path, *name = entry->string;
  if (!cJSON_IsObject(entry))
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': expected an object with dtype, shape and "
                          "data_offsets, found %s",
                          path, name, json_type_name(entry));
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
  const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
  if (!dtype || !shape || !offsets)
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s: tensor '%s': missing '%s'", path, name,
                          !dtype   ? "dtype"
                          : !shape ? "shape"
                                   : "data_offsets");
  if (!cJSON_IsString(dtype))
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': dtype: expected a string, found %s", path, name,
                          json_type_name(dtype));
  if (!st_dtype_parse(dtype->valuestring, &t->dtype))
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': unknown dtype '%s' (expected F32, F16, BF16, F64, "
                          "I64, I32, I16, I8, U8 or BOOL)",
                          path, name, dtype->valuestring);
  if (!cJSON_IsArray(shape))
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': shape: expected an array, found %s", path, name,
                          json_type_name(shape));
  int n_dims = cJSON_GetArraySize(shape);
  if (n_dims > ST_MAX_DIMS)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': shape has %d dimensions, at most %d supported", path,
                          name, n_dims, ST_MAX_DIMS);
  t->n_dims = n_dims;
  uint64_t n_elements = 1;
  int d = 0;
  for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
    uint64_t v;
    if (!json_uint(dim, &v))
      return clip_set_error(
          err, CLIP_ERR_FORMAT,
          "%s: tensor '%s': shape[%d]: expected a non-negative integer, found %s", path, name, d,
          cJSON_IsNumber(dim) ? "a negative or fractional number" : json_type_name(dim));
    t->shape[d] = (int64_t) v;
    if (__builtin_mul_overflow(n_elements, v, &n_elements) || n_elements > (UINT64_C(1) << 53))
      return clip_set_error(err, CLIP_ERR_FORMAT,
                            "%s: tensor '%s': shape has too many elements (overflow)", path, name);
  }
  t->n_elements = (int64_t) n_elements;
  uint64_t n_bytes;
  if (__builtin_mul_overflow(n_elements, (uint64_t) st_dtype_size(t->dtype), &n_bytes))
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s: tensor '%s': byte size overflows", path, name);

  if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
    return clip_set_error(
        err, CLIP_ERR_FORMAT,
        "%s: tensor '%s': data_offsets: expected an array [begin, end], found %s", path, name,
        cJSON_IsArray(offsets) ? "an array of another length" : json_type_name(offsets));
  if (!json_uint(offsets->child, &range[0]) || !json_uint(offsets->child->next, &range[1]))
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets: expected two non-negative integers", path,
                          name);
  if (range[0] > range[1])
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                          "]: begin is after end",
                          path, name, range[0], range[1]);
  if (range[1] > f->data_size)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] outside the data area of %zu bytes",
                          path, name, range[0], range[1], f->data_size);
  if (range[1] - range[0] != n_bytes)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets span %" PRIu64 " bytes, expected %" PRIu64
                          " (%s x %" PRIu64 " elements)",
                          path, name, range[1] - range[0], n_bytes, dtype->valuestring, n_elements);
  t->n_bytes = (size_t) n_bytes;
  t->data = f->data + range[0];
  t->aligned = (uintptr_t) t->data % st_dtype_size(t->dtype) == 0;
  return CLIP_OK;
}

typedef struct {
  uint64_t begin, end;
  int index;
} span;

static int
span_cmp(const void *a, const void *b)
{
  const span *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* Parses and validates the header; f->data/data_size are set. */
static clip_status
parse_header(st_file *f, const char *json, size_t len, clip_error *err)
{
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!root) {
    /* The parse end, not cJSON_GetErrorPtr(): that one is a global. */
    size_t pos = end && end >= json && end <= json + len ? (size_t) (end - json) : 0;
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: header is not valid JSON (error near byte %zu)", f->path, 8 + pos);
  }
  clip_status st = CLIP_OK;
  for (const char *p = end; p < json + len; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0') {
      st = clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: header has trailing data after the JSON object (byte %zu)", f->path,
                          8 + (size_t) (p - json));
      goto out;
    }
  if (!cJSON_IsObject(root)) {
    st = clip_set_error(err, CLIP_ERR_FORMAT, "%s: header: expected a JSON object, found %s",
                        f->path, json_type_name(root));
    goto out;
  }
  int n = 0;
  for (const cJSON *e = root->child; e; e = e->next)
    n++;
  f->tensors = calloc(n ? (size_t) n : 1, sizeof *f->tensors);
  span *spans = calloc(n ? (size_t) n : 1, sizeof *spans);
  if (!f->tensors || !spans) {
    free(spans);
    st = clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory for %d tensors", f->path, n);
    goto out;
  }
  for (const cJSON *e = root->child; e; e = e->next) {
    if (!strcmp(e->string, "__metadata__"))
      continue;
    st_tensor *t = &f->tensors[f->n_tensors];
    uint64_t range[2] = { 0, 0 };
    if ((st = parse_entry(f, e, t, range, err)) != CLIP_OK)
      break;
    if (g_hash_table_contains(f->by_name, e->string)) {
      st = clip_set_error(err, CLIP_ERR_FORMAT, "%s: tensor '%s' appears twice in the header",
                          f->path, e->string);
      break;
    }
    t->name = g_strdup(e->string);
    g_hash_table_insert(f->by_name, (char *) t->name, t);
    spans[f->n_tensors] = (span){ range[0], range[1], f->n_tensors };
    f->n_tensors++;
  }
  if (st == CLIP_OK) {
    /* Sorted by begin, overlapping means starting before the previous end;
     * empty tensors occupy no bytes and overlap nothing. */
    qsort(spans, (size_t) f->n_tensors, sizeof *spans, span_cmp);
    const span *prev = NULL;
    for (int i = 0; i < f->n_tensors; i++) {
      const span *s = &spans[i];
      if (s->begin == s->end)
        continue;
      if (prev && s->begin < prev->end) {
        st = clip_set_error(err, CLIP_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] overlap tensor '%s' [%" PRIu64 ", %" PRIu64 "]",
                            f->path, f->tensors[s->index].name, s->begin, s->end,
                            f->tensors[prev->index].name, prev->begin, prev->end);
        break;
      }
      prev = s;
    }
  }
  free(spans);
out:
  cJSON_Delete(root);
  return st;
}

/* True when the header text holds a \\u0000 escape: cJSON would end the
 * string there, so "logit_scale\\u0000junk" would pass for "logit_scale"
 * while other readers see another name. Backslash pairs are skipped so an
 * escaped backslash followed by "u0000" is not mistaken for one. */
static bool
has_escaped_nul(const char *json, size_t len, size_t *at)
{
  for (size_t i = 0; i + 1 < len; i++) {
    if (json[i] != '\\')
      continue;
    if (json[i + 1] == 'u' && i + 6 <= len && !memcmp(json + i + 2, "0000", 4)) {
      *at = i;
      return true;
    }
    i++; /* the escaped character */
  }
  return false;
}

/* Validates the bytes now in f->map (f->map_size long). */
static clip_status
parse_file(st_file *f, clip_error *err)
{
  const char *path = f->path;
  if (f->map_size < 8)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: file is %zu bytes, shorter than the 8-byte header length", path,
                          f->map_size);
  const uint8_t *bytes = f->map;
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = header_len << 8 | bytes[i];
  if (header_len > ST_MAX_HEADER)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: header length %" PRIu64 " is absurd (more than %u bytes)", path,
                          header_len, ST_MAX_HEADER);
  if (header_len > f->map_size - 8)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: file is %zu bytes, shorter than its header length %" PRIu64 " + 8",
                          path, f->map_size, header_len);
  size_t nul_at;
  if (has_escaped_nul((const char *) bytes + 8, (size_t) header_len, &nul_at))
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: header holds an escaped NUL (\\u0000) at byte %zu: tensor names "
                          "and metadata cannot contain NUL",
                          path, 8 + nul_at);
  f->data = bytes + 8 + header_len;
  f->data_size = f->map_size - 8 - (size_t) header_len;
  return parse_header(f, (const char *) bytes + 8, (size_t) header_len, err);
}

static st_file *
file_new(const char *path, clip_error *err)
{
  st_file *f = calloc(1, sizeof *f);
  if (!f)
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory", path), NULL;
  f->path = g_strdup(path);
  f->fd = -1;
  f->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  return f;
}

/* Anonymous memory for a file's bytes; MAP_FAILED on failure. Not asked
 * for huge pages: with the kernel's usual defrag=madvise the faults then
 * compact memory synchronously, which made a ViT-B/32 load take 4x the
 * system time (2.3 s against 0.6 s). */
static void *
owned_pages(size_t size)
{
  return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

bool
st_mmap_requested(void)
{
  const char *v = getenv("CLIP_MODEL_MMAP");
  return v && !strcmp(v, "1");
}

/* Reads [from, to) of the file at fd into the same offsets of f->map. */
static clip_status
read_range(st_file *f, int fd, size_t from, size_t to, clip_error *err)
{
  for (size_t got = from; got < to;) {
    ssize_t r = pread(fd, (uint8_t *) f->map + got, to - got, (off_t) got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return clip_set_error(err, CLIP_ERR_IO, "%s: read %zu of %zu bytes: %s", f->path, got,
                            f->map_size,
                            r < 0 ? strerror(errno) : "the file shrank while being read");
    got += (size_t) r;
  }
  return CLIP_OK;
}

/* The header part of a lazy file: the 8-byte length and the JSON it gives
 * (checked again by parse_file), read into f->map. */
static clip_status
read_header(st_file *f, int fd, clip_error *err)
{
  if (read_range(f, fd, 0, 8, err) != CLIP_OK)
    return err ? err->status : CLIP_ERR_IO;
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = header_len << 8 | ((const uint8_t *) f->map)[i];
  if (header_len > ST_MAX_HEADER || header_len > f->map_size - 8)
    return CLIP_OK; /* parse_file reports it */
  return read_range(f, fd, 8, 8 + (size_t) header_len, err);
}

static st_file *
open_file(const char *path, bool lazy, bool map, clip_error *err)
{
  if (!path)
    return clip_set_error(err, CLIP_ERR_ARG, "st_open: NULL path"), NULL;
  st_file *f = file_new(path, err);
  if (!f)
    return NULL;

  /* A FIFO must not block the open; the descriptor, not the path, is
   * checked, so nothing can be swapped in between. */
  size_t size = 0;
  int fd = clip_open_regular(path, "safetensors file", &size, err);
  if (fd < 0)
    goto fail;
  if (size < 8) {
    clip_set_error(err, CLIP_ERR_FORMAT,
                   "%s: file is %zu bytes, shorter than the 8-byte header length", path, size);
    close(fd);
    goto fail;
  }
  if (fstat(fd, &f->id) != 0)
    memset(&f->id, 0, sizeof f->id);
  if (size > SIZE_MAX / 2) {
    clip_set_error(err, CLIP_ERR_FORMAT, "%s: file of %zu bytes is too large", path, size);
    close(fd);
    goto fail;
  }
  f->map_size = size;
  if (map) {
    /* Zero-copy, opt-in: the forward pass then reads the file's pages, so
     * truncating the file kills the process (SIGBUS) and rewriting it in
     * place changes the answers. Replace models by rename() only. */
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    f->mapped_file = true;
  } else {
    /* Default: the bytes are read into memory the process owns, so a file
     * changed later (truncated, rewritten in place) changes nothing here. */
    f->map = owned_pages(f->map_size);
    if (f->map != MAP_FAILED) {
      clip_status st = lazy ? read_header(f, fd, err) : read_range(f, fd, 0, f->map_size, err);
      if (st != CLIP_OK) {
        close(fd);
        goto fail;
      }
      if (lazy) {
        f->fd = fd, fd = -1; /* the tensors are read by st_fetch() */
      } else {
        mprotect(f->map, f->map_size, PROT_READ);
      }
    }
  }
  if (fd >= 0)
    close(fd);
  if (f->map == MAP_FAILED) {
    f->map = NULL;
    clip_set_error(err, CLIP_ERR_IO, "%s: cannot %s %zu bytes: %s", path,
                   f->mapped_file ? "map" : "allocate", f->map_size, strerror(errno));
    goto fail;
  }
  if (parse_file(f, err) != CLIP_OK)
    goto fail;
  if (f->fd >= 0 && !(f->fetched = calloc((size_t) f->n_tensors + 1, sizeof *f->fetched))) {
    clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory", path);
    goto fail;
  }
  return f;

fail:
  st_close(f);
  return NULL;
}

st_file *
st_open(const char *path, clip_error *err)
{
  return open_file(path, false, st_mmap_requested(), err);
}

st_file *
st_open_lazy(const char *path, bool map, clip_error *err)
{
  return open_file(path, true, map, err);
}

clip_status
st_fetch(st_file *f, const st_tensor *t, clip_error *err)
{
  if (!f || !t || f->fd < 0)
    return CLIP_OK;
  size_t i = (size_t) (t - f->tensors);
  if (f->fetched[i])
    return CLIP_OK;
  size_t from = (size_t) ((const uint8_t *) t->data - (const uint8_t *) f->map);
  clip_status st = read_range(f, f->fd, from, from + t->n_bytes, err);
  f->fetched[i] = st == CLIP_OK;
  return st;
}

/* Whether a file's contents may differ between two status reads: any
 * write changes the modification time, and the change time also moves on
 * a write whose modification time is then set back (cp -p, rsync -t,
 * touch -r), which no user can set. */
static bool
same_file(const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
         && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec
         && a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

clip_status
st_seal(st_file *f, clip_error *err)
{
  if (!f || f->fd < 0)
    return CLIP_OK;
  struct stat now;
  bool changed = fstat(f->fd, &now) != 0 || !same_file(&now, &f->id);
  close(f->fd);
  f->fd = -1;
  mprotect(f->map, f->map_size, PROT_READ);
  if (changed)
    return clip_set_error(err, CLIP_ERR_IO,
                          "%s: the file changed while it was being read (written to during the "
                          "load); load it again once it is complete",
                          f->path);
  return CLIP_OK;
}

const struct stat *
st_identity(const st_file *f)
{
  return f && f->id.st_ino ? &f->id : NULL;
}

st_file *
st_open_memory(const char *name, const void *bytes, size_t len, clip_error *err)
{
  if (!name || (len && !bytes))
    return clip_set_error(err, CLIP_ERR_ARG, "st_open_memory: NULL argument"), NULL;
  st_file *f = file_new(name, err);
  if (!f)
    return NULL;
  f->map_size = len;
  f->map = owned_pages(len ? len : 1);
  if (f->map == MAP_FAILED) {
    f->map = NULL;
    clip_set_error(err, CLIP_ERR_NOMEM, "%s: cannot allocate %zu bytes", name, len);
    goto fail;
  }
  if (len)
    memcpy(f->map, bytes, len);
  if (parse_file(f, err) != CLIP_OK)
    goto fail;
  return f;

fail:
  st_close(f);
  return NULL;
}

void
st_close(st_file *f)
{
  if (!f)
    return;
  if (f->fd >= 0)
    close(f->fd);
  free(f->fetched);
  if (f->map)
    munmap(f->map, f->map_size ? f->map_size : 1);
  for (int i = 0; i < f->n_tensors; i++)
    g_free((char *) f->tensors[i].name);
  free(f->tensors);
  g_hash_table_destroy(f->by_name);
  g_free(f->path);
  free(f);
}

const char *
st_path(const st_file *f)
{
  return f->path;
}

int
st_count(const st_file *f)
{
  return f->n_tensors;
}

const st_tensor *
st_get(const st_file *f, int i)
{
  return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const st_tensor *
st_find(const st_file *f, const char *name)
{
  return g_hash_table_lookup(f->by_name, name);
}

void
st_prefault(const st_file *f, const st_tensor *t)
{
#ifdef MADV_POPULATE_READ
  long page = sysconf(_SC_PAGESIZE);
  if (!f || !t || page <= 0 || !t->n_bytes)
    return;
  uintptr_t begin = (uintptr_t) t->data & ~((uintptr_t) page - 1);
  madvise((void *) begin, (uintptr_t) t->data + t->n_bytes - begin, MADV_POPULATE_READ);
#else
  (void) f, (void) t;
#endif
}

void
st_release(const st_file *f, const st_tensor *t)
{
  long page = sysconf(_SC_PAGESIZE);
  if (!f || !t || page <= 0 || !t->n_bytes)
    return;
  /* Only pages wholly inside the tensor: the neighbours may be in use. */
  uintptr_t begin = ((uintptr_t) t->data + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
  uintptr_t end = ((uintptr_t) t->data + t->n_bytes) & ~((uintptr_t) page - 1);
  if (end > begin)
    madvise((void *) begin, end - begin, MADV_DONTNEED);
}

const float *
st_f32_direct(const st_tensor *t)
{
  return t->dtype == ST_F32 && t->aligned ? t->data : NULL;
}

float
st_f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | man << 13; /* inf, nan (payload kept) */
  } else if (exp != 0) {
    bits = sign | (exp + 112) << 23 | man << 13;
  } else if (man == 0) {
    bits = sign;
  } else {
    /* Subnormal half: normalize the mantissa into a float exponent. */
    int e = 113;
    while (!(man & 0x400)) {
      man <<= 1;
      e--;
    }
    bits = sign | (uint32_t) e << 23 | (man & 0x3ff) << 13;
  }
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

float
st_bf16_to_f32(uint16_t h)
{
  uint32_t bits = (uint32_t) h << 16;
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

clip_status
st_to_f32(const st_tensor *t, float *out, clip_error *err)
{
  const uint8_t *src = t->data;
  size_t n = (size_t) t->n_elements;
  switch (t->dtype) {
  case ST_F32:
    memcpy(out, src, n * sizeof *out); /* memcpy: the source may be misaligned */
    return CLIP_OK;
  case ST_F16:
  case ST_BF16: {
    float (*widen)(uint16_t) = t->dtype == ST_F16 ? st_f16_to_f32 : st_bf16_to_f32;
    for (size_t i = 0; i < n; i++)
      out[i] = widen((uint16_t) (src[2 * i] | src[2 * i + 1] << 8));
    return CLIP_OK;
  }
  default:
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "tensor '%s': expected a float dtype (F32, F16 or BF16), found %s",
                          t->name, st_dtype_name(t->dtype));
  }
}

/* ---- writer ---- */

typedef struct {
  char *name;
  st_dtype dtype;
  int n_dims;
  int64_t shape[ST_MAX_DIMS];
  size_t n_bytes;
  void *data; /* owned copy, or NULL with fill */
  st_fill_fn fill;
  void *user;
} st_entry;

struct st_writer {
  GPtrArray *entries;
};

static void
entry_free(gpointer p)
{
  st_entry *e = p;
  g_free(e->name);
  free(e->data);
  g_free(e);
}

st_writer *
st_writer_new(void)
{
  st_writer *w = g_new0(st_writer, 1);
  w->entries = g_ptr_array_new_with_free_func(entry_free);
  return w;
}

void
st_writer_free(st_writer *w)
{
  if (!w)
    return;
  g_ptr_array_free(w->entries, TRUE);
  g_free(w);
}

static st_entry *
new_entry(st_writer *w, const char *name, st_dtype dtype, int n_dims, const int64_t *shape,
          clip_error *err)
{
  if (!w || !name || (n_dims > 0 && !shape))
    return clip_set_error(err, CLIP_ERR_ARG, "st_writer_add: NULL argument"), NULL;
  if (st_dtype_size(dtype) == 0 || n_dims < 0 || n_dims > ST_MAX_DIMS)
    return clip_set_error(err, CLIP_ERR_ARG, "st_writer_add: '%s': bad dtype or %d dimensions",
                          name, n_dims),
           NULL;
  uint64_t n = st_dtype_size(dtype);
  for (int i = 0; i < n_dims; i++)
    if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t) shape[i], &n) || n > SIZE_MAX / 2)
      return clip_set_error(err, CLIP_ERR_ARG, "st_writer_add: '%s': bad shape", name), NULL;
  for (guint i = 0; i < w->entries->len; i++)
    if (!strcmp(((st_entry *) w->entries->pdata[i])->name, name))
      return clip_set_error(err, CLIP_ERR_ARG, "st_writer_add: '%s' added twice", name), NULL;
  st_entry *e = g_new0(st_entry, 1);
  e->name = g_strdup(name);
  e->dtype = dtype;
  e->n_dims = n_dims;
  if (n_dims > 0)
    memcpy(e->shape, shape, (size_t) n_dims * sizeof *shape);
  e->n_bytes = (size_t) n;
  return e;
}

clip_status
st_writer_add(st_writer *w, const char *name, st_dtype dtype, int n_dims, const int64_t *shape,
              const void *data, clip_error *err)
{
  st_entry *e = new_entry(w, name, dtype, n_dims, shape, err);
  if (!e)
    return err ? err->status : CLIP_ERR_ARG;
  if (e->n_bytes) {
    e->data = malloc(e->n_bytes);
    if (!e->data) {
      entry_free(e);
      return clip_set_error(err, CLIP_ERR_NOMEM, "st_writer_add: '%s': out of memory", name);
    }
    memcpy(e->data, data, e->n_bytes);
  }
  g_ptr_array_add(w->entries, e);
  return CLIP_OK;
}

clip_status
st_writer_add_generated(st_writer *w, const char *name, st_dtype dtype, int n_dims,
                        const int64_t *shape, st_fill_fn fill, void *user, clip_error *err)
{
  st_entry *e = new_entry(w, name, dtype, n_dims, shape, err);
  if (!e)
    return err ? err->status : CLIP_ERR_ARG;
  e->fill = fill;
  e->user = user;
  g_ptr_array_add(w->entries, e);
  return CLIP_OK;
}

static gint
entry_cmp(gconstpointer a, gconstpointer b)
{
  const st_entry *x = *(st_entry *const *) a, *y = *(st_entry *const *) b;
  size_t sx = st_dtype_size(x->dtype), sy = st_dtype_size(y->dtype);
  return sx > sy ? -1 : sx < sy;
}

clip_status
st_writer_save(st_writer *w, const char *path, clip_error *err)
{
  if (!w || !path)
    return clip_set_error(err, CLIP_ERR_ARG, "st_writer_save: NULL argument");
  /* Larger elements first keeps every tensor aligned without gaps (stable:
   * g_ptr_array_sort is a merge sort). */
  g_ptr_array_sort(w->entries, entry_cmp);
  cJSON *root = cJSON_CreateObject();
  cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
  cJSON_AddStringToObject(meta, "format", "pt");
  uint64_t offset = 0;
  for (guint i = 0; i < w->entries->len; i++) {
    st_entry *e = w->entries->pdata[i];
    cJSON *t = cJSON_AddObjectToObject(root, e->name);
    cJSON_AddStringToObject(t, "dtype", st_dtype_name(e->dtype));
    cJSON *shape = cJSON_AddArrayToObject(t, "shape");
    for (int d = 0; d < e->n_dims; d++)
      cJSON_AddItemToArray(shape, cJSON_CreateNumber((double) e->shape[d]));
    cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double) offset));
    offset += e->n_bytes;
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double) offset));
  }
  char *json = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!json)
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory for the header", path);
  size_t len = strlen(json), padded = (len + 7) & ~(size_t) 7;

  clip_status st = CLIP_OK;
  char *tmp = g_strdup_printf("%s.tmp", path);
  FILE *out = fopen(tmp, "wb");
  if (!out) {
    st = clip_set_error(err, CLIP_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    goto done;
  }
  uint8_t hl[8];
  for (int i = 0; i < 8; i++)
    hl[i] = (uint8_t) ((uint64_t) padded >> (8 * i));
  bool ok = fwrite(hl, 1, 8, out) == 8 && fwrite(json, 1, len, out) == len;
  for (size_t i = len; ok && i < padded; i++)
    ok = fputc(' ', out) != EOF;
  void *scratch = NULL;
  size_t scratch_size = 0;
  for (guint i = 0; ok && i < w->entries->len; i++) {
    st_entry *e = w->entries->pdata[i];
    const void *bytes = e->data;
    if (e->fill && e->n_bytes) {
      if (e->n_bytes > scratch_size) {
        free(scratch);
        scratch_size = e->n_bytes;
        scratch = malloc(scratch_size);
        if (!scratch) {
          fclose(out);
          remove(tmp);
          st = clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory for tensor '%s'", path,
                              e->name);
          goto done;
        }
      }
      if (!e->fill(e->user, e->name, scratch, e->n_bytes)) {
        free(scratch);
        fclose(out);
        remove(tmp);
        st = clip_set_error(err, CLIP_ERR_ARG, "%s: generating tensor '%s' failed", path, e->name);
        goto done;
      }
      bytes = scratch;
    }
    ok = e->n_bytes == 0 || fwrite(bytes, 1, e->n_bytes, out) == e->n_bytes;
  }
  free(scratch);
  if (fclose(out) != 0)
    ok = false;
  if (!ok || rename(tmp, path) != 0) {
    st = clip_set_error(err, CLIP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    remove(tmp);
  }
done:
  g_free(tmp);
  cJSON_free(json);
  return st;
}
