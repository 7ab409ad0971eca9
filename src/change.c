/* change.c — the change gate's measure: how far one model input is from
 * another, so the element and clip-index skip encoding the same picture. */
#include "clip.h"

#include <math.h>

double
clip_input_change(const float *a, const float *b, size_t n)
{
  double sum = 0;

  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    sum += fabsf(a[i] - b[i]);
  return sum / n;
}
