/* fuzz-image.c — clip-tool's image reader (PPM/PGM, P2-P6) on arbitrary
 * bytes, built without GStreamer: a picture that loads has a sane size and
 * every pixel of it was written. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "image-load.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path = fuzz_write(0, "image.ppm", data, size);
  tool_image img;
  clip_error err = { 0 };
  if (tool_image_load(path, &img, &err) != CLIP_OK) {
    if (err.status == CLIP_OK || !strstr(err.message, path))
      fuzz_fail("refused without a message naming the file: '%s'", err.message);
    return 0;
  }
  if (img.width < 1 || img.height < 1 || img.width > 32768 || img.height > 32768)
    fuzz_fail("loaded a %dx%d picture", img.width, img.height);
  /* Read every byte (MemorySanitizer-style: uninitialized would show as
   * nondeterminism; ASan catches a short buffer). */
  unsigned sum = 0;
  for (size_t i = 0; i < (size_t) img.width * img.height * 3; i++)
    sum += img.rgb[i];
  (void) sum;
  tool_image_free(&img);
  return 0;
}
