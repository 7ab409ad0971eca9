/* onednn-bf16.c — exact fp32 <-> bf16 conversions (round to nearest even)
 * for the oneDNN backend's bf16 products; they do not need oneDNN, so
 * every build has them (backend-onednn.h). */
#include "backend-onednn.h"

#include <stdint.h>
#include <string.h>

static inline uint16_t
f32_to_bf16_one(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);        /* round to nearest even */
  return (uint16_t) (u >> 16);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10
#include <immintrin.h>
#define HAVE_AVX512BF16_PATH 1
/* vcvtne2ps2bf16 rounds to nearest even like the scalar path. */
__attribute__((target("avx512f,avx512bf16"))) static void
f32_to_bf16_avx512(const float *src, uint16_t *dst, size_t n)
{
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
    __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
    _mm512_storeu_si512((void *) (dst + i), (__m512i) v);
  }
  for (; i < n; i++)
    dst[i] = f32_to_bf16_one(src[i]);
}
#endif

static void
f32_to_bf16_range(const float *src, uint16_t *dst, size_t n)
{
#ifdef HAVE_AVX512BF16_PATH
  static int has = -1;
  if (has < 0)
    has = __builtin_cpu_supports("avx512bf16") ? 1 : 0;
  if (has) {
    f32_to_bf16_avx512(src, dst, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; i++)
    dst[i] = f32_to_bf16_one(src[i]);
}

void
onednn_f32_to_bf16(const float *src, uint16_t *dst, size_t n)
{
  /* Large activations (batch 16: 2.4 M values into fc2) are split over the
   * same OpenMP pool that runs the products. */
  const size_t chunk = 1 << 16;
  if (n < 2 * chunk) {
    f32_to_bf16_range(src, dst, n);
    return;
  }
  long n_chunks = (long) ((n + chunk - 1) / chunk);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
  for (long c = 0; c < n_chunks; c++) {
    size_t at = (size_t) c * chunk;
    f32_to_bf16_range(src + at, dst + at, at + chunk <= n ? chunk : n - at);
  }
}

void
onednn_bf16_to_f32(const uint16_t *src, float *dst, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t) src[i] << 16;
    memcpy(dst + i, &u, 4);
  }
}
