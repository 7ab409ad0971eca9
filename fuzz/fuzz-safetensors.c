/* fuzz-safetensors.c — the safetensors reader on arbitrary bytes: it either
 * refuses with a message naming the file, or every tensor it hands out lies
 * inside the data and converts without reading past it. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "safetensors.h"

#define NAME "fuzz.safetensors"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  clip_error err = { 0 };
  st_file *f = st_open_memory(NAME, data, size, &err);
  if (!f) {
    if (err.status == CLIP_OK || !strstr(err.message, NAME))
      fuzz_fail("refused without a message naming the file: '%s'", err.message);
    return 0;
  }
  for (int i = 0; i < st_count(f); i++) {
    const st_tensor *t = st_get(f, i);
    if (st_find(f, t->name) != t)
      fuzz_fail("tensor '%s' is not found by its name", t->name);
    if ((uint64_t) t->n_bytes != (uint64_t) t->n_elements * st_dtype_size(t->dtype))
      fuzz_fail("tensor '%s': %zu bytes for %lld elements", t->name, t->n_bytes,
                (long long) t->n_elements);
    /* Every byte is read: the sanitizers catch one outside the copy. */
    unsigned sum = 0;
    for (size_t b = 0; b < t->n_bytes; b++)
      sum += ((const uint8_t *) t->data)[b];
    (void) sum;
    if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) {
      float *out = malloc(((size_t) t->n_elements + 1) * sizeof *out);
      if (out && st_to_f32(t, out, &err) != CLIP_OK)
        fuzz_fail("tensor '%s': a float dtype did not convert: %s", t->name, err.message);
      free(out);
    }
  }
  st_close(f);
  return 0;
}
