/* Tests of the safetensors reader and writer: a round trip through the
 * writer, exact F16/BF16 widening, the kit's files, and every malformed
 * header with a real bad file. */
#include <glib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "safetensors.h"
#include "testutil.h"

/* Writes a file: u64 length of header (as given, unpadded), header, then
 * data_len bytes counting 0, 1, 2, ... */
static char *
write_raw(const char *name, const char *header, gsize data_len)
{
  gsize hl = strlen(header);
  guint8 *buf = g_malloc0(8 + hl + data_len + 1);
  for (int i = 0; i < 8; i++)
    buf[i] = (guint8) ((guint64) hl >> (8 * i));
  memcpy(buf + 8, header, hl);
  for (gsize i = 0; i < data_len; i++)
    buf[8 + hl + i] = (guint8) i;
  char *path = testutil_write_file(name, buf, 8 + hl + data_len);
  g_free(buf);
  return path;
}

/* Opens path expecting failure with status and a message holding both the
 * path and `part`. */
static void
expect_error(const char *path, clip_status status, const char *part)
{
  clip_error err = { 0 };
  st_file *f = st_open(path, &err);
  if (f)
    g_error("%s: expected failure with '%s', but it opened", path, part);
  g_assert_cmpint(err.status, ==, status);
  if (!strstr(err.message, path) || !strstr(err.message, part))
    g_error("message '%s' lacks the path or '%s'", err.message, part);
}

static void
test_round_trip(void)
{
  const float f32[6] = { 1.5f, -2.25f, 0.0f, 3.0e-38f, 1e30f, -0.0f };
  const float scalar = 4.6051702f;
  const gint32 i32[3] = { -7, 0, 2147483647 };
  const guint8 u8[5] = { 0, 1, 127, 128, 255 };
  const gint64 i64[2] = { -1, G_GINT64_CONSTANT(1) << 40 };
  /* F16: 1, -2, max, smallest subnormal, largest subnormal, -0, inf, -inf, nan */
  const guint16 f16[9] = { 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x8000, 0x7c00, 0xfc00, 0x7e00 };
  const float f16_want[8] = {
    1.0f,  -2.0f,    65504.0f, 5.9604644775390625e-08f, 6.0975551605224609e-05f,
    -0.0f, INFINITY, -INFINITY
  };
  /* BF16: 1, -3.140625, smallest subnormal, inf, nan */
  const guint16 bf16[5] = { 0x3f80, 0xc049, 0x0001, 0x7f80, 0x7fc0 };
  const float bf16_want[4] = { 1.0f, -3.140625f, 9.18354961579912115600575419705e-41f, INFINITY };

  st_writer *w = st_writer_new();
  clip_error err = { 0 };
  /* U8 first so a writer that kept insertion order would misalign the rest. */
  g_assert_cmpint(st_writer_add(w, "bytes", ST_U8, 1, (gint64[]){ 5 }, u8, &err), ==, CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "half", ST_F16, 2, (gint64[]){ 3, 3 }, f16, &err), ==, CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "matrix", ST_F32, 2, (gint64[]){ 2, 3 }, f32, &err), ==,
                  CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "logit_scale", ST_F32, 0, NULL, &scalar, &err), ==, CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "ints", ST_I32, 1, (gint64[]){ 3 }, i32, &err), ==, CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "longs", ST_I64, 1, (gint64[]){ 2 }, i64, &err), ==, CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "brain", ST_BF16, 1, (gint64[]){ 5 }, bf16, &err), ==, CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "empty", ST_F32, 2, (gint64[]){ 0, 4 }, NULL, &err), ==,
                  CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "ints", ST_I32, 1, (gint64[]){ 3 }, i32, &err), ==,
                  CLIP_ERR_ARG);
  char *path = g_build_filename(testutil_tmpdir(), "round.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, path, &err), ==, CLIP_OK);
  st_writer_free(w);

  /* Header padded with spaces to a multiple of 8, tensors back to back. */
  gchar *bytes;
  gsize len;
  g_assert_true(g_file_get_contents(path, &bytes, &len, NULL));
  guint64 hl = 0;
  for (int i = 7; i >= 0; i--)
    hl = hl << 8 | (guint8) bytes[i];
  g_assert_cmpuint(hl % 8, ==, 0);
  g_assert_cmpuint(len, ==,
                   8 + hl + sizeof f32 + 4 + sizeof i32 + sizeof u8 + sizeof i64 + sizeof f16
                       + sizeof bf16);
  g_assert_cmpint(bytes[8 + hl - 1], ==, ' ');
  g_free(bytes);

  st_file *f = st_open(path, &err);
  g_assert_nonnull(f);
  g_assert_cmpstr(st_path(f), ==, path);
  g_assert_cmpint(st_count(f), ==, 8);
  g_assert_null(st_find(f, "__metadata__"));
  g_assert_null(st_find(f, "missing"));
  g_assert_null(st_get(f, 8));
  for (int i = 0; i < st_count(f); i++)
    g_assert_true(st_get(f, i)->aligned);

  const st_tensor *t = st_find(f, "matrix");
  g_assert_cmpint(t->dtype, ==, ST_F32);
  g_assert_cmpint(t->n_dims, ==, 2);
  g_assert_cmpint(t->shape[0], ==, 2);
  g_assert_cmpint(t->shape[1], ==, 3);
  g_assert_cmpint(t->n_elements, ==, 6);
  g_assert_cmpmem(st_f32_direct(t), sizeof f32, f32, sizeof f32);

  t = st_find(f, "logit_scale");
  g_assert_cmpint(t->n_dims, ==, 0);
  g_assert_cmpint(t->n_elements, ==, 1);
  g_assert_cmpuint(t->n_bytes, ==, 4);
  float v;
  g_assert_cmpint(st_to_f32(t, &v, &err), ==, CLIP_OK);
  g_assert_true(v == scalar);

  t = st_find(f, "ints");
  g_assert_cmpint(t->dtype, ==, ST_I32);
  g_assert_cmpmem(t->data, t->n_bytes, i32, sizeof i32);
  g_assert_cmpint(st_to_f32(t, &v, &err), ==, CLIP_ERR_FORMAT);
  g_assert_nonnull(strstr(err.message, "expected a float dtype"));
  g_assert_null(st_f32_direct(t));
  t = st_find(f, "bytes");
  g_assert_cmpmem(t->data, t->n_bytes, u8, sizeof u8);
  t = st_find(f, "longs");
  g_assert_cmpint(t->dtype, ==, ST_I64);
  g_assert_cmpmem(t->data, t->n_bytes, i64, sizeof i64);
  t = st_find(f, "empty");
  g_assert_cmpint(t->n_elements, ==, 0);
  g_assert_cmpuint(t->n_bytes, ==, 0);

  float out[9];
  t = st_find(f, "half");
  g_assert_cmpint(t->dtype, ==, ST_F16);
  g_assert_cmpint(st_to_f32(t, out, &err), ==, CLIP_OK);
  for (int i = 0; i < 8; i++)
    g_assert_true(out[i] == f16_want[i]);
  g_assert_true(signbit(out[5]));
  g_assert_true(isnan(out[8]));
  t = st_find(f, "brain");
  g_assert_cmpint(t->dtype, ==, ST_BF16);
  g_assert_cmpint(st_to_f32(t, out, &err), ==, CLIP_OK);
  for (int i = 0; i < 4; i++)
    g_assert_true(out[i] == bf16_want[i]);
  g_assert_true(isnan(out[4]));
  st_close(f);
  g_free(path);
}

/* Every F16 bit pattern widens to the value the compiler's _Float16 gives. */
static void
test_f16_exhaustive(void)
{
  for (guint32 h = 0; h < 0x10000; h++) {
    float got = st_f16_to_f32((guint16) h);
    guint32 exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double want = exp == 0    ? ldexp(man, -24)
                  : exp == 31 ? (man ? NAN : INFINITY)
                              : ldexp(1024 + man, (int) exp - 25);
    if (h & 0x8000)
      want = -want;
    if (isnan(want))
      g_assert_true(isnan(got));
    else
      g_assert_true(got == (float) want && !signbit(got) == !(h & 0x8000));
  }
}

static void
test_dtype_names(void)
{
  st_dtype d;
  const char *names[] = { "F32", "F16", "BF16", "I32", "I64", "U8", "F64", "I8", "I16", "BOOL" };
  const size_t sizes[] = { 4, 2, 2, 4, 8, 1, 8, 1, 2, 1 };
  for (int i = 0; i < 10; i++) {
    g_assert_true(st_dtype_parse(names[i], &d));
    g_assert_cmpint(d, ==, i);
    g_assert_cmpstr(st_dtype_name(d), ==, names[i]);
    g_assert_cmpuint(st_dtype_size(d), ==, sizes[i]);
  }
  g_assert_false(st_dtype_parse("F8_E4M3", &d));
  g_assert_cmpuint(st_dtype_size((st_dtype) 99), ==, 0);
}

/* Key order, __metadata__ anywhere and a header ending in spaces. */
static void
test_key_order(void)
{
  char *path = write_raw("order.safetensors",
                         "{\"b\":{\"data_offsets\":[4,12],\"shape\":[2],\"dtype\":\"F32\"},"
                         "\"__metadata__\":{\"format\":\"pt\"},"
                         "\"a\":{\"shape\":[],\"dtype\":\"I32\",\"data_offsets\":[0,4]}}      ",
                         12);
  clip_error err = { 0 };
  st_file *f = st_open(path, &err);
  g_assert_nonnull(f);
  g_assert_cmpint(st_count(f), ==, 2);
  g_assert_cmpint(st_find(f, "a")->n_dims, ==, 0);
  g_assert_cmpuint(st_find(f, "b")->n_bytes, ==, 8);
  st_close(f);
  g_free(path);
}

/* A hostile header can place F32 data at an odd address: it must be reported
 * unaligned, never handed out as float*, and still convert correctly. */
static void
test_misaligned(void)
{
  const char *header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}";
  float want[2] = { 1.25f, -8.0f };
  gsize hl = strlen(header);
  guint8 buf[256] = { 0 };
  for (int i = 0; i < 8; i++)
    buf[i] = (guint8) ((guint64) hl >> (8 * i));
  memcpy(buf + 8, header, hl);
  memcpy(buf + 8 + hl + 1, want, sizeof want);
  char *path = testutil_write_file("misaligned.safetensors", buf, 8 + hl + 9);
  clip_error err = { 0 };
  st_file *f = st_open(path, &err);
  g_assert_nonnull(f);
  const st_tensor *t = st_find(f, "x");
  g_assert_false(t->aligned);
  g_assert_null(st_f32_direct(t));
  float got[2];
  g_assert_cmpint(st_to_f32(t, got, &err), ==, CLIP_OK);
  g_assert_cmpmem(got, sizeof got, want, sizeof want);
  st_close(f);
  g_free(path);
}

static void
test_kit_files(void)
{
  REQUIRE_REFERENCE(dir);
  char *path = g_build_filename(dir, "tiny-b32", "model.safetensors", NULL);
  clip_error err = { 0 };
  st_file *f = st_open(path, &err);
  g_assert_nonnull(f);
  g_assert_cmpint(st_count(f), ==, 78);
  const st_tensor *t = st_find(f, "logit_scale");
  g_assert_cmpint(t->n_dims, ==, 0);
  float v;
  g_assert_cmpint(st_to_f32(t, &v, &err), ==, CLIP_OK);
  g_assert_cmpfloat_with_epsilon(v, 4.6052, 1e-4);
  /* Prefaulting and releasing pages are hints: the data stays readable. */
  t = st_find(f, "text_model.embeddings.token_embedding.weight");
  const float *v0 = st_f32_direct(t);
  float first = v0[0], last = v0[t->n_elements - 1];
  st_prefault(f, t);
  st_release(f, t);
  g_assert_true(v0[0] == first && v0[t->n_elements - 1] == last);
  st_close(f);
  g_free(path);

  path = g_build_filename(dir, "tiny-b32", "open_clip_model.safetensors", NULL);
  f = st_open(path, &err);
  g_assert_nonnull(f);
  g_assert_cmpint(st_count(f), ==, 62);
  st_close(f);
  g_free(path);

  path = g_build_filename(dir, "tiny-b32", "reference.safetensors", NULL);
  f = st_open(path, &err);
  g_assert_nonnull(f);
  t = st_find(f, "input_ids");
  g_assert_cmpint(t->dtype, ==, ST_I32);
  g_assert_cmpint(t->shape[0], ==, 16);
  g_assert_cmpint(t->shape[1], ==, 77);
  st_close(f);
  g_free(path);
}

static void
test_short_files(void)
{
  char *path = testutil_write_file("short.safetensors", "\x10\0\0\0\0", 5);
  expect_error(path, CLIP_ERR_FORMAT, "shorter than the 8-byte header length");
  g_free(path);
  path = testutil_write_file("empty.safetensors", "", 0);
  expect_error(path, CLIP_ERR_FORMAT, "file is 0 bytes");
  g_free(path);

  /* Header length 64 but only 10 header bytes present. */
  path = testutil_write_file("trunc.safetensors", "\x40\0\0\0\0\0\0\0{\"a\":{}}  ", 18);
  expect_error(path, CLIP_ERR_FORMAT, "shorter than its header length 64");
  g_free(path);

  /* 2^40: absurd, refused before comparing with the file size. */
  path = testutil_write_file("absurd.safetensors", "\0\0\0\0\0\x01\0\0{}", 10);
  expect_error(path, CLIP_ERR_FORMAT, "header length 1099511627776 is absurd");
  g_free(path);
  path = testutil_write_file("absurd2.safetensors", "\x01\0\x40\x06\0\0\0\0{}", 10);
  expect_error(path, CLIP_ERR_FORMAT,
               "header length 104857601 is absurd (more than 16777216 bytes)");
  g_free(path);

  path = g_build_filename(testutil_tmpdir(), "does-not-exist.safetensors", NULL);
  expect_error(path, CLIP_ERR_IO, "cannot read the safetensors file: no such file or directory");
  g_free(path);
  expect_error(testutil_tmpdir(), CLIP_ERR_IO, "not a regular file");
}

static const struct {
  const char *header;
  gsize data_len;
  const char *message;
} bad_headers[] = {
  { "{\"a\": {\"dtype\": \"F32\", ", 16, "header is not valid JSON" },
  { "", 0, "header is not valid JSON" },
  { "[1, 2, 3]", 0, "header: expected a JSON object, found an array" },
  { "\"tensors\"", 0, "header: expected a JSON object, found a string" },
  { "{} {}", 0, "trailing data after the JSON object" },
  { "{\"a\": 3}", 0,
    "tensor 'a': expected an object with dtype, shape and data_offsets, found a number" },
  { "{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "tensor 'a': missing 'dtype'" },
  { "{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", 8, "tensor 'a': missing 'shape'" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "tensor 'a': missing 'data_offsets'" },
  { "{\"a\": {\"dtype\": 32, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
    "tensor 'a': dtype: expected a string, found a number" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": \"2\", \"data_offsets\": [0, 8]}}", 8,
    "tensor 'a': shape: expected an array, found a string" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": {\"begin\": 0}}}", 8,
    "tensor 'a': data_offsets: expected an array [begin, end], found an object" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4, 8]}}", 8,
    "data_offsets: expected an array [begin, end], found an array of another length" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, \"8\"]}}", 8,
    "tensor 'a': data_offsets: expected two non-negative integers" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-4, 4]}}", 8,
    "tensor 'a': data_offsets: expected two non-negative integers" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8,
    "tensor 'a': shape[0]: expected a non-negative integer, found a negative or fractional "
    "number" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1, 2.5], \"data_offsets\": [0, 8]}}", 8,
    "tensor 'a': shape[1]: expected a non-negative integer" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [null], \"data_offsets\": [0, 8]}}", 8,
    "tensor 'a': shape[0]: expected a non-negative integer, found null" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,2], \"data_offsets\": [0, 8]}}", 8,
    "tensor 'a': shape has 9 dimensions, at most 8 supported" },
  { "{\"a\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 8,
    "tensor 'a': unknown dtype 'F8_E4M3'" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
    "tensor 'a': data_offsets [0, 16] outside the data area of 8 bytes" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [16, 20]}}", 8,
    "tensor 'a': data_offsets [16, 20] outside the data area of 8 bytes" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8,
    "tensor 'a': data_offsets [8, 4]: begin is after end" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
    "tensor 'a': data_offsets span 8 bytes, expected 12 (F32 x 3 elements)" },
  { "{\"a\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [0, 4]}}", 8,
    "tensor 'a': data_offsets span 4 bytes, expected 8 (F16 x 4 elements)" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 8]}}",
    8, "tensor 'a': shape has too many elements (overflow)" },
  { "{\"a\": {\"dtype\": \"I64\", \"shape\": [4503599627370496], \"data_offsets\": [0, 8]}}", 8,
    "tensor 'a': data_offsets span 8 bytes, expected 36028797018963968" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
    " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
    16, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]" },
  { "{\"b\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [12, 16]},"
    " \"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
    16, "tensor 'b': data_offsets [12, 16] overlap tensor 'a' [0, 16]" },
  { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
    " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
    16, "tensor 'a' appears twice in the header" },
};

static void
test_bad_headers(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(bad_headers); i++) {
    char name[64];
    g_snprintf(name, sizeof name, "bad-%02zu.safetensors", i);
    char *path = write_raw(name, bad_headers[i].header, bad_headers[i].data_len);
    expect_error(path, CLIP_ERR_FORMAT, bad_headers[i].message);
    g_free(path);
  }
}

static void
test_writer_errors(void)
{
  clip_error err = { 0 };
  st_writer *w = st_writer_new();
  float x = 1;
  g_assert_cmpint(st_writer_add(w, "neg", ST_F32, 1, (gint64[]){ -1 }, &x, &err), ==, CLIP_ERR_ARG);
  g_assert_nonnull(strstr(err.message, "'neg': bad shape"));
  g_assert_cmpint(
      st_writer_add(w, "dims", ST_F32, 9, (gint64[]){ 1, 1, 1, 1, 1, 1, 1, 1, 1 }, &x, &err), ==,
      CLIP_ERR_ARG);
  g_assert_cmpint(st_writer_add(w, "x", ST_F32, 0, NULL, &x, &err), ==, CLIP_OK);
  char *path = g_build_filename(testutil_tmpdir(), "no-such-dir", "x.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, path, &err), ==, CLIP_ERR_IO);
  g_assert_nonnull(strstr(err.message, "cannot create"));
  g_free(path);
  st_writer_free(w);
}

static bool
fill_ramp(void *user, const char *name, void *out, size_t n_bytes)
{
  (void) name;
  int *calls = user;
  (*calls)++;
  for (size_t i = 0; i < n_bytes / 4; i++)
    ((float *) out)[i] = (float) i;
  return true;
}

static bool
fill_fail(void *user, const char *name, void *out, size_t n_bytes)
{
  (void) user, (void) name, (void) out, (void) n_bytes;
  return false;
}

static void
test_writer_generated(void)
{
  clip_error err = { 0 };
  int calls = 0;
  st_writer *w = st_writer_new();
  g_assert_cmpint(
      st_writer_add_generated(w, "ramp", ST_F32, 2, (gint64[]){ 10, 10 }, fill_ramp, &calls, &err),
      ==, CLIP_OK);
  char *path = g_build_filename(testutil_tmpdir(), "generated.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, path, &err), ==, CLIP_OK);
  st_writer_free(w);
  g_assert_cmpint(calls, ==, 1);
  st_file *f = st_open(path, &err);
  g_assert_nonnull(f);
  const float *v = st_f32_direct(st_find(f, "ramp"));
  g_assert_cmpfloat(v[99], ==, 99.0f);
  st_close(f);

  w = st_writer_new();
  g_assert_cmpint(
      st_writer_add_generated(w, "bad", ST_F32, 1, (gint64[]){ 4 }, fill_fail, NULL, &err), ==,
      CLIP_OK);
  g_assert_cmpint(st_writer_save(w, path, &err), ==, CLIP_ERR_ARG);
  g_assert_nonnull(strstr(err.message, "generating tensor 'bad' failed"));
  st_writer_free(w);
  g_free(path);
}

/* st_open_lazy reads a tensor's bytes when fetched (as st_open would have
 * them); a file that shrank meanwhile fails the fetch, and one written to
 * since the open (even with its modification time set back) fails the
 * seal. */
static void
test_lazy(void)
{
  clip_error err = { 0 };
  st_writer *w = st_writer_new();
  float a[1000], b[3] = { 1.5f, -2.0f, 3.25f };
  for (int i = 0; i < 1000; i++)
    a[i] = (float) i * 0.5f;
  int64_t sa[1] = { 1000 }, sb[1] = { 3 };
  g_assert_cmpint(st_writer_add(w, "a", ST_F32, 1, sa, a, &err), ==, CLIP_OK);
  g_assert_cmpint(st_writer_add(w, "b", ST_F32, 1, sb, b, &err), ==, CLIP_OK);
  char *path = g_build_filename(testutil_tmpdir(), "lazy.safetensors", NULL);
  g_assert_cmpint(st_writer_save(w, path, &err), ==, CLIP_OK);
  st_writer_free(w);

  st_file *f = st_open_lazy(path, false, &err);
  g_assert_nonnull(f);
  g_assert_nonnull(st_identity(f));
  const st_tensor *tb = st_find(f, "b");
  g_assert_cmpint(st_fetch(f, tb, &err), ==, CLIP_OK);
  g_assert_cmpmem(tb->data, sizeof b, b, sizeof b);
  g_assert_cmpint(st_fetch(f, tb, &err), ==, CLIP_OK); /* once is enough */
  g_assert_cmpint(st_seal(f, &err), ==, CLIP_OK);
  st_close(f);

  /* Shrunk after the open: the fetch of a tensor past the end fails. */
  f = st_open_lazy(path, false, &err);
  g_assert_nonnull(f);
  struct stat before;
  g_assert_cmpint(stat(path, &before), ==, 0);
  g_assert_cmpint(truncate(path, before.st_size - 100), ==, 0);
  clip_status st = CLIP_OK;
  for (int i = 0; i < st_count(f) && st == CLIP_OK; i++)
    st = st_fetch(f, st_get(f, i), &err);
  g_assert_cmpint(st, ==, CLIP_ERR_IO);
  g_assert_nonnull(strstr(err.message, "the file shrank while being read"));
  g_assert_nonnull(strstr(err.message, path));
  st_close(f);

  /* Written to in place between open and seal, its modification time set
   * back: the change time gives it away. */
  w = st_writer_new();
  g_assert_cmpint(st_writer_add(w, "b", ST_F32, 1, sb, b, &err), ==, CLIP_OK);
  g_assert_cmpint(st_writer_save(w, path, &err), ==, CLIP_OK);
  st_writer_free(w);
  f = st_open_lazy(path, false, &err);
  g_assert_nonnull(f);
  struct stat sbuf;
  g_assert_cmpint(stat(path, &sbuf), ==, 0);
  g_usleep(20000);
  FILE *rw = fopen(path, "r+");
  g_assert_nonnull(rw);
  g_assert_cmpint(fseek(rw, -4, SEEK_END), ==, 0);
  g_assert_cmpint(fwrite("\0\0\0\0", 1, 4, rw), ==, 4);
  fclose(rw);
  const struct timespec times[2] = { sbuf.st_atim, sbuf.st_mtim };
  g_assert_cmpint(utimensat(AT_FDCWD, path, times, 0), ==, 0);
  g_assert_cmpint(st_fetch(f, st_find(f, "b"), &err), ==, CLIP_OK);
  g_assert_cmpint(st_seal(f, &err), ==, CLIP_ERR_IO);
  g_assert_nonnull(strstr(err.message, "the file changed while it was being read"));
  st_close(f);
  g_unlink(path);
  g_free(path);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/safetensors/round-trip", test_round_trip);
  g_test_add_func("/safetensors/f16-exhaustive", test_f16_exhaustive);
  g_test_add_func("/safetensors/dtype-names", test_dtype_names);
  g_test_add_func("/safetensors/key-order", test_key_order);
  g_test_add_func("/safetensors/misaligned", test_misaligned);
  g_test_add_func("/safetensors/kit-files", test_kit_files);
  g_test_add_func("/safetensors/short-files", test_short_files);
  g_test_add_func("/safetensors/bad-headers", test_bad_headers);
  g_test_add_func("/safetensors/writer-errors", test_writer_errors);
  g_test_add_func("/safetensors/writer-generated", test_writer_generated);
  g_test_add_func("/safetensors/lazy", test_lazy);
  return g_test_run();
}
