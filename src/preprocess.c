/* preprocess.c — video frame to CLIP model input.
 *
 * The RGB path reproduces CLIP's torchvision/Pillow pipeline bit for bit
 * (see docs/preprocessing.md): Pillow's 8-bit bicubic resampling, which is
 * separable, horizontal pass first, each pass rounding to uint8 with 22-bit
 * fixed-point weights; then a center crop and a float32 normalization.
 *
 * Speed comes from doing only the work the crop keeps: the horizontal pass
 * runs only on the input rows the vertical pass reads and only for the
 * cropped columns, and YUV frames are resampled plane by plane straight to
 * the cropped grid and converted to RGB per output pixel — the full frame is
 * never converted. The integer sums are exact, so the AVX2 kernels give the
 * same bytes as the portable ones.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "preprocess.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#endif

#define PRECISION_BITS 22 /* Pillow's fixed-point precision for 8-bit images */
#define MAX_SIDE 32768    /* larger frames are refused as absurd */
#define MAX_OUT_SIZE 4096

clip_preprocess_params
clip_preprocess_default_params(void)
{
  clip_preprocess_params p = {
    .size = 224,
    .mean = { 0.48145466f, 0.4578275f, 0.40821073f },
    .std = { 0.26862954f, 0.26130258f, 0.27577711f },
  };
  return p;
}

/* ---- resampling weights ---------------------------------------------- */

/* Fixed-point weights of one axis for a run of consecutive output samples. */
typedef struct {
  int n;      /* output samples */
  int kpad;   /* taps stored per output: a multiple of 8, zero padded */
  int *start; /* [n] first input sample read */
  int *count; /* [n] input samples read */
  int32_t *w; /* [n][kpad] */
} axis_weights;

/* Pillow's bicubic kernel (a = -0.5), written in the same operation order so
 * the doubles, and hence the rounded weights, come out identical. */
static double
bicubic(double x)
{
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

static void
axis_weights_free(axis_weights *a)
{
  free(a->start);
  free(a->count);
  free(a->w);
  memset(a, 0, sizeof *a);
}

/* Weights for outputs first..first+n-1 of an axis resampled from in_size
 * samples with input step `scale` per output sample; output i is centred at
 * in0 + (i + 0.5) * scale in input coordinates (Pillow's precompute_coeffs;
 * in0 is non-zero only for chroma planes, to honour the chroma siting). */
static clip_status
axis_weights_init(axis_weights *a, int in_size, double scale, double in0, int first, int n,
                  clip_error *err)
{
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 2.0 * filterscale;
  int ksize = (int) ceil(support) * 2 + 1;
  memset(a, 0, sizeof *a);
  a->n = n;
  a->kpad = (ksize + 7) & ~7;
  a->start = malloc((size_t) n * sizeof *a->start);
  a->count = malloc((size_t) n * sizeof *a->count);
  a->w = calloc((size_t) n * a->kpad, sizeof *a->w);
  double *k = malloc((size_t) ksize * sizeof *k);
  if (!a->start || !a->count || !a->w || !k) {
    free(k);
    axis_weights_free(a);
    return clip_set_error(err, CLIP_ERR_NOMEM, "preprocess: out of memory for %d x %d weights", n,
                          ksize);
  }
  for (int i = 0; i < n; i++) {
    double center = in0 + (first + i + 0.5) * scale;
    double ss = 1.0 / filterscale;
    int xmin = (int) (center - support + 0.5);
    int xmax = (int) (center + support + 0.5);
    if (xmin < 0)
      xmin = 0;
    if (xmin > in_size - 1)
      xmin = in_size - 1;
    if (xmax > in_size)
      xmax = in_size;
    if (xmax <= xmin)
      xmax = xmin + 1;
    int cnt = xmax - xmin;
    double ww = 0.0;
    for (int x = 0; x < cnt; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    int32_t *wi = a->w + (size_t) i * a->kpad;
    for (int x = 0; x < cnt; x++) {
      double v = ww != 0.0 ? k[x] / ww : k[x];
      /* Rounded half away from zero, as Pillow's normalize_coeffs_8bpc. */
      wi[x] = v < 0 ? (int32_t) (-0.5 + v * (1 << PRECISION_BITS))
                    : (int32_t) (0.5 + v * (1 << PRECISION_BITS));
    }
    a->start[i] = xmin;
    a->count[i] = cnt;
  }
  free(k);
  return CLIP_OK;
}

/* Pillow's clip8: the sum already carries the rounding bias 2^21. */
static inline uint8_t
clip8(int32_t ss)
{
  if (ss >= (1 << PRECISION_BITS << 8))
    return 255;
  if (ss <= 0)
    return 0;
  return (uint8_t) (ss >> PRECISION_BITS);
}

/* ---- the two passes ---------------------------------------------------- */

/* One source plane resampled to nch output planes: bpp interleaved bytes per
 * pixel, offs[c] the byte of output channel c within a pixel. */
typedef struct {
  const uint8_t *data;
  int stride, width, height, bpp, nch;
  int offs[3];
} plane_src;

/* Horizontal pass of one row for every output column. */
typedef void (*hrow_fn)(const uint8_t *line, const plane_src *s, const axis_weights *ax,
                        const int32_t *wexp, uint8_t *const *dst);
/* Vertical pass of one output row: n columns from count rows of stride n. */
typedef void (*vrow_fn)(const uint8_t *rows, int n, const int32_t *w, int count, uint8_t *dst);

/* Tap sums of one output for each of the bpp bytes of a pixel, bias
 * included. Always inlined with a constant bpp, so the byte loop unrolls
 * and the sums stay in registers. */
__attribute__((always_inline)) static inline void
hsum_scalar(const uint8_t *p, const int32_t *w, int count, const int bpp, int32_t *sums)
{
  int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0, s3 = s0;
  for (int x = 0; x < count; x++, p += bpp) {
    const int32_t k = w[x];
    s0 += p[0] * k;
    if (bpp > 1)
      s1 += p[1] * k;
    if (bpp > 2)
      s2 += p[2] * k;
    if (bpp > 3)
      s3 += p[3] * k;
  }
  sums[0] = s0;
  sums[1] = s1;
  sums[2] = s2;
  sums[3] = s3;
}

__attribute__((always_inline)) static inline void
hrow_scalar_bpp(const uint8_t *line, const plane_src *s, const axis_weights *ax,
                uint8_t *const *dst, const int bpp)
{
  /* Locals, because every uint8_t store may alias the structs. */
  const int n = ax->n, kpad = ax->kpad, nch = s->nch;
  const int *start = ax->start, *count = ax->count;
  const int32_t *w = ax->w;
  const int o0 = s->offs[0], o1 = s->offs[1], o2 = s->offs[2];
  uint8_t *d0 = dst[0], *d1 = nch > 1 ? dst[1] : NULL, *d2 = nch > 2 ? dst[2] : NULL;
  int32_t sums[4];
  for (int i = 0; i < n; i++) {
    hsum_scalar(line + (size_t) start[i] * bpp, w + (size_t) i * kpad, count[i], bpp, sums);
    d0[i] = clip8(sums[o0]);
    if (nch > 1)
      d1[i] = clip8(sums[o1]);
    if (nch > 2)
      d2[i] = clip8(sums[o2]);
  }
}

static void
hrow_scalar(const uint8_t *line, const plane_src *s, const axis_weights *ax, const int32_t *wexp,
            uint8_t *const *dst)
{
  (void) wexp;
  switch (s->bpp) {
  case 1: hrow_scalar_bpp(line, s, ax, dst, 1); break;
  case 2: hrow_scalar_bpp(line, s, ax, dst, 2); break;
  case 3: hrow_scalar_bpp(line, s, ax, dst, 3); break;
  default: hrow_scalar_bpp(line, s, ax, dst, 4); break;
  }
}

/* Columns j0..n-1 of one vertical output row, taps outermost so each input
 * row is read contiguously (and the compiler may vectorize the inner loop). */
static void
vcols_scalar(const uint8_t *rows, int stride, int j0, int n, const int32_t *w, int count,
             uint8_t *dst)
{
  int32_t acc[64];
  for (int jb = j0; jb < n; jb += 64) {
    const int m = n - jb < 64 ? n - jb : 64;
    for (int j = 0; j < m; j++)
      acc[j] = 1 << (PRECISION_BITS - 1);
    for (int t = 0; t < count; t++) {
      const uint8_t *r = rows + (size_t) t * stride + jb;
      const int32_t k = w[t];
      for (int j = 0; j < m; j++)
        acc[j] += r[j] * k;
    }
    for (int j = 0; j < m; j++)
      dst[jb + j] = clip8(acc[j]);
  }
}

static void
vrow_scalar(const uint8_t *rows, int n, const int32_t *w, int count, uint8_t *dst)
{
  vcols_scalar(rows, n, 0, n, w, count, dst);
}

#ifdef HAVE_X86_SIMD
/* AVX2 horizontal pass: each output reads kpad whole pixels as bytes and
 * multiplies them by the weights repeated per byte (wexp), so lane l of an
 * accumulator only ever holds byte (l mod bpp) of a pixel. bpp 3 uses three
 * accumulators (24 bytes = 8 pixels) folded by the byte index mod 3. The
 * per-bpp copies come from one always-inlined body with bpp constant. */
__attribute__((target("avx2"), always_inline)) static inline void
hrow_avx2_bpp(const uint8_t *line, const plane_src *s, const axis_weights *ax, const int32_t *wexp,
              uint8_t *const *dst, const int bpp)
{
  /* Locals, because every uint8_t store may alias the structs. */
  const int n = ax->n, kpad = ax->kpad, nb = kpad * bpp, nch = s->nch, width = s->width;
  const int *start = ax->start;
  const int o0 = s->offs[0], o1 = s->offs[1], o2 = s->offs[2];
  uint8_t *d0 = dst[0], *d1 = nch > 1 ? dst[1] : NULL, *d2 = nch > 2 ? dst[2] : NULL;
  const int32_t bias = 1 << (PRECISION_BITS - 1);
  int32_t sums[4] __attribute__((aligned(16)));
  for (int i = 0; i < n; i++) {
    const uint8_t *p = line + (size_t) start[i] * bpp;
    const int32_t *w = wexp + (size_t) i * nb;
    if (start[i] + kpad > width) { /* would read past the row end */
      hsum_scalar(p, ax->w + (size_t) i * kpad, ax->count[i], bpp, sums);
    } else if (bpp == 3) {
      __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0;
      for (int b = 0; b < nb; b += 24) {
        __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (p + b)));
        __m256i v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (p + b + 8)));
        __m256i v2 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (p + b + 16)));
        a0 = _mm256_add_epi32(
            a0, _mm256_mullo_epi32(v0, _mm256_loadu_si256((const __m256i *) (w + b))));
        a1 = _mm256_add_epi32(
            a1, _mm256_mullo_epi32(v1, _mm256_loadu_si256((const __m256i *) (w + b + 8))));
        a2 = _mm256_add_epi32(
            a2, _mm256_mullo_epi32(v2, _mm256_loadu_si256((const __m256i *) (w + b + 16))));
      }
      /* Bytes j and j + 12 share a channel: fold 24 lanes to 12 held in
       * A (j 0-3), B (j 4-7), C (j 8-11); then channel c of lane 0-2 is
       * A[c] + B[(c+2)%3] + C[(c+1)%3] + (A3, B3, C3)[c]. */
      __m256i x = _mm256_add_epi32(a0, _mm256_permute2x128_si256(a1, a2, 0x21));
      __m128i A = _mm256_castsi256_si128(x), B = _mm256_extracti128_si256(x, 1);
      __m128i C = _mm_add_epi32(_mm256_castsi256_si128(a1), _mm256_extracti128_si256(a2, 1));
      __m128i t = _mm_add_epi32(A, _mm_shuffle_epi32(B, _MM_SHUFFLE(3, 1, 0, 2)));
      t = _mm_add_epi32(t, _mm_shuffle_epi32(C, _MM_SHUFFLE(3, 0, 2, 1)));
      __m128i q = _mm_blend_epi32(_mm_shuffle_epi32(A, _MM_SHUFFLE(3, 3, 3, 3)),
                                  _mm_shuffle_epi32(B, _MM_SHUFFLE(3, 3, 3, 3)), 0x2);
      q = _mm_blend_epi32(q, _mm_shuffle_epi32(C, _MM_SHUFFLE(3, 3, 3, 3)), 0x4);
      t = _mm_add_epi32(_mm_add_epi32(t, q), _mm_set1_epi32(bias));
      _mm_store_si128((__m128i *) sums, t);
    } else {
      __m256i acc = _mm256_setzero_si256();
      for (int b = 0; b < nb; b += 8) {
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (p + b)));
        acc = _mm256_add_epi32(
            acc, _mm256_mullo_epi32(v, _mm256_loadu_si256((const __m256i *) (w + b))));
      }
      __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
      if (bpp <= 2)
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
      if (bpp == 1)
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
      _mm_store_si128((__m128i *) sums, _mm_add_epi32(h, _mm_set1_epi32(bias)));
    }
    d0[i] = clip8(sums[o0]);
    if (nch > 1)
      d1[i] = clip8(sums[o1]);
    if (nch > 2)
      d2[i] = clip8(sums[o2]);
  }
}

__attribute__((target("avx2"))) static void
hrow_avx2(const uint8_t *line, const plane_src *s, const axis_weights *ax, const int32_t *wexp,
          uint8_t *const *dst)
{
  switch (s->bpp) {
  case 1: hrow_avx2_bpp(line, s, ax, wexp, dst, 1); break;
  case 2: hrow_avx2_bpp(line, s, ax, wexp, dst, 2); break;
  case 3: hrow_avx2_bpp(line, s, ax, wexp, dst, 3); break;
  default: hrow_avx2_bpp(line, s, ax, wexp, dst, 4); break;
  }
}

/* AVX2 vertical pass: 8 output columns at a time, all taps in registers. */
__attribute__((target("avx2"))) static void
vrow_avx2(const uint8_t *rows, int n, const int32_t *w, int count, uint8_t *dst)
{
  const __m256i bias = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256i acc = bias;
    for (int t = 0; t < count; t++) {
      __m256i v =
          _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (rows + (size_t) t * n + j)));
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v, _mm256_set1_epi32(w[t])));
    }
    /* Arithmetic shift then unsigned saturation equals clip8. */
    acc = _mm256_srai_epi32(acc, PRECISION_BITS);
    __m128i p16 = _mm_packus_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    _mm_storel_epi64((__m128i *) (dst + j), _mm_packus_epi16(p16, p16));
  }
  vcols_scalar(rows, n, j, n, w, count, dst);
}
#endif

/* The row kernels for this CPU: AVX2 where it has it, else portable C. */
static void
pick_kernels(bool simd, hrow_fn *hrow, vrow_fn *vrow)
{
  *hrow = hrow_scalar;
  *vrow = vrow_scalar;
#ifdef HAVE_X86_SIMD
  if (simd && __builtin_cpu_supports("avx2")) {
    *hrow = hrow_avx2;
    *vrow = vrow_avx2;
  }
#else
  (void) simd;
#endif
}

/* Resamples one source plane to s->nch planes dst[c] of ax->n × ay->n bytes:
 * the horizontal pass only over the rows the vertical pass reads. */
static clip_status
resample_plane(const plane_src *s, const axis_weights *ax, const axis_weights *ay, bool simd,
               uint8_t *const *dst, clip_error *err)
{
  const int n = ax->n;
  const int row0 = ay->start[0];
  const int row1 = ay->start[ay->n - 1] + ay->count[ay->n - 1];
  const size_t rows = (size_t) (row1 - row0);
  hrow_fn hrow;
  vrow_fn vrow;
  pick_kernels(simd, &hrow, &vrow);
  uint8_t *tmp = malloc((size_t) s->nch * rows * n);
  int32_t *wexp = malloc((size_t) n * ax->kpad * s->bpp * sizeof *wexp);
  if (!tmp || !wexp) {
    free(tmp);
    free(wexp);
    return clip_set_error(err, CLIP_ERR_NOMEM, "preprocess: out of memory for %zu rows", rows);
  }
  for (size_t i = 0; i < (size_t) n * ax->kpad; i++)
    for (int b = 0; b < s->bpp; b++)
      wexp[i * s->bpp + b] = ax->w[i];

  for (size_t r = 0; r < rows; r++) {
    uint8_t *line_dst[3] = { NULL, NULL, NULL };
    for (int c = 0; c < s->nch; c++)
      line_dst[c] = tmp + (c * rows + r) * n;
    hrow(s->data + (row0 + r) * (size_t) s->stride, s, ax, wexp, line_dst);
  }
  for (int c = 0; c < s->nch; c++)
    for (int o = 0; o < ay->n; o++)
      vrow(tmp + (c * rows + (size_t) (ay->start[o] - row0)) * n, n, ay->w + (size_t) o * ay->kpad,
           ay->count[o], dst[c] + (size_t) o * n);
  free(tmp);
  free(wexp);
  return CLIP_OK;
}

/* ---- geometry and validation ------------------------------------------ */

/* Python's round(d / 2) for an integer d >= 0: halves go to the even side. */
static int
half_round_even(int d)
{
  int q = d / 2;
  return (d % 2 && q % 2) ? q + 1 : q;
}

static bool
is_packed_rgb(clip_pixel_format f)
{
  return f >= CLIP_FORMAT_RGB && f <= CLIP_FORMAT_XBGR;
}

static const char *
format_name(clip_pixel_format f)
{
  static const char *names[] = { "RGB",  "BGR",  "RGBA", "BGRA", "RGBx",  "BGRx",
                                 "xRGB", "xBGR", "I420", "NV12", "GRAY8", "Y444" };
  return (unsigned) f < sizeof names / sizeof names[0] ? names[f] : "?";
}

static clip_status
check_plane(const clip_image *im, int i, long row_bytes, clip_error *err)
{
  if (!im->planes[i])
    return clip_set_error(err, CLIP_ERR_ARG, "clip_image: planes[%d] is NULL (format %s needs it)",
                          i, format_name(im->format));
  if (im->strides[i] < row_bytes)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_image: strides[%d] is %d bytes, smaller than a row of the "
                          "%s plane (%ld bytes for width %d)",
                          i, im->strides[i], format_name(im->format), row_bytes, im->width);
  return CLIP_OK;
}

static clip_status
validate(const clip_preprocess_params *p, const clip_image *im, clip_error *err)
{
  if (!p || !im)
    return clip_set_error(err, CLIP_ERR_ARG, "preprocess: NULL %s", p ? "image" : "params");
  if (p->size <= 0 || p->size > MAX_OUT_SIZE)
    return clip_set_error(err, CLIP_ERR_ARG, "preprocess: output size %d out of range (1..%d)",
                          p->size, MAX_OUT_SIZE);
  for (int c = 0; c < 3; c++)
    if (!(p->std[c] > 0.0f) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
      return clip_set_error(err, CLIP_ERR_ARG,
                            "preprocess: channel %d has mean %g, std %g (std must be > 0)", c,
                            (double) p->mean[c], (double) p->std[c]);
  if (im->width <= 0 || im->width > MAX_SIDE || im->height <= 0 || im->height > MAX_SIDE)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_image: size %dx%d out of range (1..%d on each side)", im->width,
                          im->height, MAX_SIDE);
  long w = im->width, cw = (w + 1) / 2;
  if (is_packed_rgb(im->format))
    return check_plane(im, 0, w * (im->format <= CLIP_FORMAT_BGR ? 3 : 4), err);
  clip_status st;
  switch (im->format) {
  case CLIP_FORMAT_GRAY8: return check_plane(im, 0, w, err);
  case CLIP_FORMAT_I420:
    if ((st = check_plane(im, 0, w, err)) || (st = check_plane(im, 1, cw, err))
        || (st = check_plane(im, 2, cw, err)))
      return st;
    break;
  case CLIP_FORMAT_NV12:
    if ((st = check_plane(im, 0, w, err)) || (st = check_plane(im, 1, 2 * cw, err)))
      return st;
    break;
  case CLIP_FORMAT_Y444:
    if ((st = check_plane(im, 0, w, err)) || (st = check_plane(im, 1, w, err))
        || (st = check_plane(im, 2, w, err)))
      return st;
    break;
  default:
    return clip_set_error(err, CLIP_ERR_ARG, "clip_image: unknown pixel format %d",
                          (int) im->format);
  }
  if (im->matrix != CLIP_MATRIX_BT601 && im->matrix != CLIP_MATRIX_BT709)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "clip_image: unknown YUV matrix %d (expected BT601 or BT709)",
                          (int) im->matrix);
  return CLIP_OK;
}

/* ---- YUV to RGB -------------------------------------------------------- */

/* Converts resampled Y, U, V planes (n pixels) to RGB planes with the frame's
 * matrix and range, rounding to the nearest uint8 as an RGB frame would hold. */
static void
yuv_to_rgb(const uint8_t *y, const uint8_t *u, const uint8_t *v, size_t n, clip_yuv_matrix matrix,
           bool full_range, uint8_t *const *rgb)
{
  double kr = matrix == CLIP_MATRIX_BT709 ? 0.2126 : 0.299;
  double kb = matrix == CLIP_MATRIX_BT709 ? 0.0722 : 0.114;
  double kg = 1.0 - kr - kb;
  double yoff = full_range ? 0.0 : 16.0;
  double ys = 255.0 / (full_range ? 255.0 : 219.0);
  double cs = 255.0 / (full_range ? 255.0 : 224.0);
  /* The matrix in float with the range scaling folded in. */
  float cy = (float) ys;
  float crv = (float) (2.0 * (1.0 - kr) * cs);
  float cgu = (float) (-2.0 * kb * (1.0 - kb) / kg * cs);
  float cgv = (float) (-2.0 * kr * (1.0 - kr) / kg * cs);
  float cbu = (float) (2.0 * (1.0 - kb) * cs);
  float fy0 = (float) yoff;
  for (size_t i = 0; i < n; i++) {
    float yy = ((float) y[i] - fy0) * cy + 0.5f;
    float uu = (float) u[i] - 128.0f, vv = (float) v[i] - 128.0f;
    float r = yy + crv * vv, g = yy + cgu * uu + cgv * vv, b = yy + cbu * uu;
    rgb[0][i] = r <= 0.0f ? 0 : r >= 255.0f ? 255 : (uint8_t) r;
    rgb[1][i] = g <= 0.0f ? 0 : g >= 255.0f ? 255 : (uint8_t) g;
    rgb[2][i] = b <= 0.0f ? 0 : b >= 255.0f ? 255 : (uint8_t) b;
  }
}

/* ---- entry points ------------------------------------------------------ */

static clip_status
preprocess_u8(const clip_preprocess_params *p, const clip_image *im, bool simd, uint8_t *rgb,
              clip_error *err)
{
  clip_status st = validate(p, im, err);
  if (st != CLIP_OK)
    return st;
  if (!rgb)
    return clip_set_error(err, CLIP_ERR_ARG, "preprocess: NULL output");
  const int S = p->size, w = im->width, h = im->height;
  /* Shorter side to S, longer side floor(S * long / short), as torchvision. */
  int rw = w <= h ? S : (int) ((int64_t) S * w / h);
  int rh = w <= h ? (int) ((int64_t) S * h / w) : S;
  int left = half_round_even(rw - S), top = half_round_even(rh - S);
  double sx = (double) w / rw, sy = (double) h / rh;
  size_t plane = (size_t) S * S;
  uint8_t *out[3] = { rgb, rgb + plane, rgb + 2 * plane };

  axis_weights ax, ay, cx = { 0 }, cy = { 0 };
  if ((st = axis_weights_init(&ax, w, sx, 0.0, left, S, err)))
    return st;
  if ((st = axis_weights_init(&ay, h, sy, 0.0, top, S, err))) {
    axis_weights_free(&ax);
    return st;
  }

  if (is_packed_rgb(im->format)) {
    static const int offs[8][3] = { { 0, 1, 2 }, { 2, 1, 0 }, { 0, 1, 2 }, { 2, 1, 0 },
                                    { 0, 1, 2 }, { 2, 1, 0 }, { 1, 2, 3 }, { 3, 2, 1 } };
    plane_src s = { im->planes[0],
                    im->strides[0],
                    w,
                    h,
                    im->format <= CLIP_FORMAT_BGR ? 3 : 4,
                    3,
                    { offs[im->format][0], offs[im->format][1], offs[im->format][2] } };
    st = resample_plane(&s, &ax, &ay, simd, out, err);
  } else if (im->format == CLIP_FORMAT_GRAY8) {
    /* Pillow converts L to RGB after resizing: R = G = B = L. */
    plane_src s = { im->planes[0], im->strides[0], w, h, 1, 1, { 0 } };
    st = resample_plane(&s, &ax, &ay, simd, out, err);
    if (st == CLIP_OK) {
      memcpy(out[1], out[0], plane);
      memcpy(out[2], out[0], plane);
    }
  } else {
    /* GStreamer's default chroma siting for caps without one: horizontally
     * co-sited above 576 lines (MPEG-2 style), centred otherwise (JPEG);
     * always vertically centred. A co-sited sample k sits on luma column 2k,
     * so chroma coordinate = luma / 2 + 0.25. 4:4:4 chroma sits on the
     * luma samples: the luma grid is its grid. */
    bool sub = im->format != CLIP_FORMAT_Y444;
    int cw = sub ? (w + 1) / 2 : w, chh = sub ? (h + 1) / 2 : h;
    double cx0 = sub && h > 576 ? 0.25 : 0.0, csx = sub ? sx / 2 : sx, csy = sub ? sy / 2 : sy;
    uint8_t *yuv = malloc(3 * plane);
    if (!yuv)
      st = clip_set_error(err, CLIP_ERR_NOMEM, "preprocess: out of memory");
    if (!st)
      st = axis_weights_init(&cx, cw, csx, cx0, left, S, err);
    if (!st)
      st = axis_weights_init(&cy, chh, csy, 0.0, top, S, err);
    uint8_t *yp[1] = { yuv }, *uv[2] = { yuv + plane, yuv + 2 * plane };
    if (!st) {
      plane_src ys = { im->planes[0], im->strides[0], w, h, 1, 1, { 0 } };
      st = resample_plane(&ys, &ax, &ay, simd, yp, err);
    }
    if (!st && im->format == CLIP_FORMAT_NV12) {
      plane_src s = { im->planes[1], im->strides[1], cw, chh, 2, 2, { 0, 1 } };
      st = resample_plane(&s, &cx, &cy, simd, uv, err);
    } else if (!st) {
      plane_src us = { im->planes[1], im->strides[1], cw, chh, 1, 1, { 0 } };
      plane_src vs = { im->planes[2], im->strides[2], cw, chh, 1, 1, { 0 } };
      st = resample_plane(&us, &cx, &cy, simd, uv, err);
      if (!st)
        st = resample_plane(&vs, &cx, &cy, simd, uv + 1, err);
    }
    if (!st)
      yuv_to_rgb(yp[0], uv[0], uv[1], plane, im->matrix, im->full_range, out);
    free(yuv);
  }
  axis_weights_free(&ax);
  axis_weights_free(&ay);
  axis_weights_free(&cx);
  axis_weights_free(&cy);
  return st;
}

clip_status
clip_preprocess_frame_u8(const clip_preprocess_params *p, const clip_image *im, uint8_t *rgb,
                         clip_error *err)
{
  return preprocess_u8(p, im, true, rgb, err);
}

clip_status
clip_preprocess_frame_u8_portable(const clip_preprocess_params *p, const clip_image *im,
                                  uint8_t *rgb, clip_error *err)
{
  return preprocess_u8(p, im, false, rgb, err);
}

clip_status
clip_preprocess_frame(const clip_preprocess_params *p, const clip_image *im, float *out,
                      clip_error *err)
{
  if (!out)
    return clip_set_error(err, CLIP_ERR_ARG, "preprocess: NULL output");
  clip_status st = validate(p, im, err);
  if (st != CLIP_OK)
    return st;
  size_t plane = (size_t) p->size * p->size;
  uint8_t *rgb = malloc(3 * plane);
  if (!rgb)
    return clip_set_error(err, CLIP_ERR_NOMEM, "preprocess: out of memory");
  st = clip_preprocess_frame_u8(p, im, rgb, err);
  if (st == CLIP_OK) {
    /* True float32 divisions, as torchvision's ToTensor + Normalize:
     * a reciprocal would move many values by one ulp. */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
      for (int v = 0; v < 256; v++)
        lut[c][v] = ((float) v / 255.0f - p->mean[c]) / p->std[c];
    for (int c = 0; c < 3; c++)
      for (size_t i = 0; i < plane; i++)
        out[c * plane + i] = lut[c][rgb[c * plane + i]];
  }
  free(rgb);
  return st;
}
