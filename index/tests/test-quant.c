/* The int8 prefilter returns exactly search_top_k()'s hits: random unit
 * rows, clustered rows (many near-ties), exact duplicates, a zero row, k
 * larger than n, queries equal to rows, a scan split across threads, and a
 * copy saved to a file and mapped back, and one extended in place. Every case runs with each int8
 * kernel (AVX-512 VNNI where the CPU has it, and the portable one), which
 * must agree to the candidate: both sum the same integers exactly. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "quant.h"
#include "search.h"

static void
normalize(float *x, int dim)
{
  double s = 0;
  for (int i = 0; i < dim; i++)
    s += (double) x[i] * x[i];
  for (int i = 0; i < dim && s > 0; i++)
    x[i] /= (float) sqrt(s);
}

static void
random_unit(GRand *r, float *x, int dim)
{
  for (int i = 0; i < dim; i++)
    x[i] = (float) g_rand_double_range(r, -1, 1);
  normalize(x, dim);
}

/* n random unit rows [n, dim], to g_free() */
static float *
random_rows(GRand *r, int64_t n, int dim)
{
  float *rows = g_new(float, MAX(n, 1) * dim);
  for (int64_t i = 0; i < n; i++)
    random_unit(r, rows + i * dim, dim);
  return rows;
}

/* Same rows in the same order; scores within float rounding of a dot
 * product summed in another order. */
static void
check(const float *rows, int64_t n, int dim, const float *q, int k)
{
  search_hit *want = g_new(search_hit, k), *got = g_new(search_hit, k);
  quant_matrix *m = quant_matrix_new(rows, n, dim);
  int nw = search_top_k(rows, n, dim, q, k, want, NULL);
  int64_t candidates[2];
  for (int portable = 0; portable < 2; portable++) {
    quant_kernel_select(portable);
    int ng = quant_top_k(m, q, k, got, &candidates[portable]);
    g_assert_cmpint(ng, ==, nw);
    for (int i = 0; i < nw; i++) {
      g_assert_cmpfloat_with_epsilon(got[i].score, want[i].score, 1e-5);
      /* a tie may be ordered either way only if the scores are within rounding */
      if (got[i].row != want[i].row)
        g_assert_cmpfloat_with_epsilon(got[i].score, want[i].score, 1e-6);
    }
  }
  g_assert_cmpint(candidates[0], ==, candidates[1]);
  quant_kernel_select(false);
  quant_matrix_free(m);
  g_free(want);
  g_free(got);
}

static void
test_random(void)
{
  GRand *r = g_rand_new_with_seed(7);
  int dims[] = { 64, 512, 37 };
  for (guint d = 0; d < G_N_ELEMENTS(dims); d++) {
    int dim = dims[d];
    int64_t n = 20000;
    float *rows = random_rows(r, n, dim), *q = g_new(float, dim);
    for (int t = 0; t < 10; t++) {
      random_unit(r, q, dim);
      check(rows, n, dim, q, 10);
      check(rows, n, dim, q, 1);
      check(rows, n, dim, q, 500);
    }
    /* a query equal to a row finds it first with cosine 1 */
    check(rows, n, dim, rows + 123 * dim, 5);
    g_free(rows);
    g_free(q);
  }
  g_rand_free(r);
}

static void
test_clusters_duplicates_zero(void)
{
  GRand *r = g_rand_new_with_seed(11);
  int dim = 64;
  int64_t n = 5000;
  float *rows = g_new(float, n *dim), *c = g_new(float, dim), *q = g_new(float, dim);
  random_unit(r, c, dim);
  for (int64_t i = 0; i < n; i++) {
    /* one tight cluster: scores differ in the third decimal */
    for (int j = 0; j < dim; j++)
      rows[i * dim + j] = c[j] + (float) g_rand_double_range(r, -0.01, 0.01);
    normalize(rows + i * dim, dim);
  }
  for (int64_t i = 100; i < 200; i++) /* exact duplicates */
    memcpy(rows + i * dim, rows + 99 * dim, dim * sizeof(float));
  memset(rows + 300 * dim, 0, dim * sizeof(float)); /* a zero row */
  check(rows, n, dim, c, 10);
  check(rows, n, dim, c, 150);
  check(rows, n, dim, rows + 99 * dim, 120);
  random_unit(r, q, dim);
  check(rows, n, dim, q, 10);
  check(rows, 7, dim, q, 10); /* k > n */
  g_free(rows);
  g_free(c);
  g_free(q);
  g_rand_free(r);
}

/* Past 65536 rows the scan runs on one thread per core, each taking chunks
 * of 16384 rows in turn (the last one short here): the merged bound must
 * still keep every true hit, including duplicates split across chunks and
 * threads. */
static void
test_parts(void)
{
  GRand *r = g_rand_new_with_seed(13);
  int dim = 64;
  int64_t n = 150001;
  float *rows = random_rows(r, n, dim), *q = g_new(float, dim);
  for (int64_t i = 0; i < n; i += 5000) /* one row repeated through every part */
    memcpy(rows + i * dim, rows + 7 * dim, dim * sizeof(float));
  for (int t = 0; t < 5; t++) {
    random_unit(r, q, dim);
    check(rows, n, dim, q, 10);
    check(rows, n, dim, q, 100);
  }
  check(rows, n, dim, rows + 7 * dim, 40);
  g_free(rows);
  g_free(q);
  g_rand_free(r);
}

/* Dimensions around the kernels' 64-byte chunks (a short last chunk, a
 * single value, one chunk and one more), one row, and rows at the int8
 * extremes: every value ±the row's maximum, so each product is ±127·127
 * and the sums are the largest the kernels see. */
static void
test_odd_dims_extremes(void)
{
  GRand *r = g_rand_new_with_seed(17);
  int dims[] = { 1, 3, 63, 64, 65, 127, 129, 200, 1000 };
  for (guint d = 0; d < G_N_ELEMENTS(dims); d++) {
    int dim = dims[d];
    int64_t n = 3000;
    float *rows = random_rows(r, n, dim), *q = g_new(float, dim);
    for (int64_t i = 0; i < 50; i++) { /* ±1 patterns, the query's sign pattern among them */
      for (int j = 0; j < dim; j++)
        rows[i * dim + j] = g_rand_boolean(r) ? 1.0f : -1.0f;
      normalize(rows + i * dim, dim);
    }
    memcpy(q, rows + 7 * dim, dim * sizeof(float));
    check(rows, n, dim, q, 10);
    for (int j = 0; j < dim; j++) /* the opposite row: every product -127·127 */
      rows[8 * dim + j] = -q[j];
    check(rows, n, dim, q, (int) n); /* every row, the opposite one last */
    random_unit(r, q, dim);
    check(rows, n, dim, q, 10);
    check(rows, 1, dim, q, 10); /* one row */
    g_free(rows);
    g_free(q);
  }
  g_rand_free(r);
}

/* A saved copy maps back to the same hits and scores; a copy of another
 * generation, size or dimension, or a truncated one, is refused. */
static void
test_save_map(void)
{
  GRand *r = g_rand_new_with_seed(11);
  const int dim = 512, k = 10;
  const int64_t n = 3000;
  float *rows = random_rows(r, n, dim), *q = g_new(float, dim);
  search_hit a[10], b[10];
  char *dir = g_dir_make_tmp("quant-XXXXXX", NULL);
  char *path = g_build_filename(dir, "x.qmatrix", NULL);

  random_unit(r, q, dim);
  quant_matrix *m = quant_matrix_new(rows, n, dim);
  g_assert_true(quant_matrix_save(m, path, 42, 0));
  quant_matrix *mm = quant_matrix_map(path, rows, n, dim, 42);
  g_assert_nonnull(mm);
  int na = quant_top_k(m, q, k, a, NULL), nb = quant_top_k(mm, q, k, b, NULL);
  g_assert_cmpint(na, ==, k);
  g_assert_cmpint(nb, ==, k);
  for (int i = 0; i < k; i++) {
    g_assert_cmpint(a[i].row, ==, b[i].row);
    g_assert_true(a[i].score == b[i].score);
  }
  quant_matrix_free(mm);
  g_assert_null(quant_matrix_map(path, rows, n, dim, 43));
  g_assert_null(quant_matrix_map(path, rows, n - 1, dim, 42));
  g_assert_null(quant_matrix_map(path, rows, n, 64, 42));
  g_assert_cmpint(truncate(path, 1000), ==, 0);
  g_assert_null(quant_matrix_map(path, rows, n, dim, 42));
  g_assert_cmpint(g_unlink(path), ==, 0);
  g_assert_null(quant_matrix_map(path, rows, n, dim, 42));
  /* an empty matrix round-trips too */
  quant_matrix *e = quant_matrix_new(rows, 0, dim);
  g_assert_true(quant_matrix_save(e, path, 1, 0));
  quant_matrix *em = quant_matrix_map(path, rows, 0, dim, 1);
  g_assert_nonnull(em);
  g_assert_cmpint(quant_top_k(em, q, k, a, NULL), ==, 0);
  quant_matrix_free(em);
  quant_matrix_free(e);
  g_unlink(path);
  g_rmdir(dir);
  quant_matrix_free(m);
  g_free(path);
  g_free(dir);
  g_free(rows);
  g_free(q);
  g_rand_free(r);
}

static void
assert_same_hits(quant_matrix *x, quant_matrix *y, const float *q, int k)
{
  search_hit a[16], b[16];
  int64_t ca, cb;
  int na = quant_top_k(x, q, k, a, &ca), nb = quant_top_k(y, q, k, b, &cb);
  g_assert_cmpint(na, ==, nb);
  g_assert_cmpint(ca, ==, cb);
  for (int i = 0; i < na; i++) {
    g_assert_cmpint(a[i].row, ==, b[i].row);
    g_assert_true(a[i].score == b[i].score);
  }
}

/* A copy extended in place with rows added since holds the bytes a full
 * rebuild would: same hits, same candidates, and the same file contents
 * where rows are in use. It refuses other lineages, fewer rows than it
 * has, more than its room, and flags a truncated file as damaged. */
static void
test_extend(void)
{
  GRand *r = g_rand_new_with_seed(12);
  const int dim = 96, k = 10;
  const int64_t n0 = 2000, n = 2700;
  float *rows = random_rows(r, n, dim), *q = g_new(float, dim);
  char *dir = g_dir_make_tmp("quant-XXXXXX", NULL);
  char *path = g_build_filename(dir, "x.qmatrix", NULL);
  char *full = g_build_filename(dir, "full.qmatrix", NULL);
  char *damaged = NULL, *a = NULL, *b = NULL;
  gsize la, lb;
  GStatBuf st0, st1;

  random_unit(r, q, dim);
  quant_matrix *m0 = quant_matrix_new(rows, n0, dim), *m = quant_matrix_new(rows, n, dim);
  g_assert_true(quant_matrix_save(m0, path, 5, 77));
  g_assert_cmpint(g_stat(path, &st0), ==, 0);
  /* another lineage, or no lineage: rebuild */
  g_assert_cmpint(quant_matrix_extend(path, rows, n, dim, 6, 78, &damaged), ==, -1);
  g_assert_cmpint(quant_matrix_extend(path, rows, n, dim, 6, 0, &damaged), ==, -1);
  g_assert_null(damaged);
  g_assert_cmpint(quant_matrix_extend(path, rows, n, dim, 6, 77, &damaged), ==, n - n0);
  g_assert_null(damaged);
  g_assert_cmpint(g_stat(path, &st1), ==, 0);
  g_assert_cmpint(st0.st_ino, ==, st1.st_ino);
  g_assert_null(quant_matrix_map(path, rows, n, dim, 5));
  quant_matrix *mm = quant_matrix_map(path, rows, n, dim, 6);
  g_assert_nonnull(mm);
  assert_same_hits(m, mm, q, k);
  for (int i = 0; i < 20; i++) {
    memcpy(q, rows + (size_t) g_rand_int_range(r, 0, n) * dim, dim * sizeof *q);
    assert_same_hits(m, mm, q, k);
  }
  quant_matrix_free(mm);
  /* each array's rows in use hold the bytes of a file saved whole (whose
   * room differs: the layout of quant.c, capacity at byte 24) */
  g_assert_true(quant_matrix_save(m, full, 6, 77));
  g_assert_true(g_file_get_contents(path, &a, &la, NULL));
  g_assert_true(g_file_get_contents(full, &b, &lb, NULL));
  int64_t cap_a, cap_b;
  memcpy(&cap_a, a + 24, 8);
  memcpy(&cap_b, b + 24, 8);
  for (int v = 0; v < 3; v++)
    g_assert_cmpint(memcmp(a + 64 + v * cap_a * 4, b + 64 + v * cap_b * 4, n * 4), ==, 0);
  g_assert_cmpint(memcmp(a + ((64 + cap_a * 12 + 63) & ~63), b + ((64 + cap_b * 12 + 63) & ~63),
                         (size_t) n * dim),
                  ==, 0);
  g_free(a);
  g_free(b);
  /* nothing new: a no-op; fewer rows or more than the room: rebuild */
  g_assert_cmpint(quant_matrix_extend(path, rows, n, dim, 6, 77, &damaged), ==, 0);
  g_assert_cmpint(quant_matrix_extend(path, rows, n - 1, dim, 7, 77, &damaged), ==, -1);
  g_assert_null(damaged);
  /* a truncated file is damaged, never mapped or extended */
  g_assert_cmpint(truncate(path, st1.st_size - 100), ==, 0);
  g_assert_null(quant_matrix_map(path, rows, n, dim, 6));
  g_assert_cmpint(quant_matrix_extend(path, rows, n, dim, 8, 77, &damaged), ==, -1);
  g_assert_nonnull(damaged);
  g_assert_nonnull(strstr(damaged, "damaged"));
  g_free(damaged);
  damaged = NULL;
  /* a file without room (no lineage) cannot grow */
  g_assert_true(quant_matrix_save(m0, path, 5, 0));
  g_assert_cmpint(quant_matrix_extend(path, rows, n, dim, 6, 77, &damaged), ==, -1);
  g_assert_null(damaged);
  g_unlink(path);
  g_unlink(full);
  g_rmdir(dir);
  quant_matrix_free(m0);
  quant_matrix_free(m);
  g_free(path);
  g_free(full);
  g_free(dir);
  g_free(rows);
  g_free(q);
  g_rand_free(r);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_message("int8 kernel of this CPU: %s", quant_kernel_select(false));
  g_test_add_func("/quant/random", test_random);
  g_test_add_func("/quant/clusters-duplicates-zero", test_clusters_duplicates_zero);
  g_test_add_func("/quant/parts", test_parts);
  g_test_add_func("/quant/odd-dims-extremes", test_odd_dims_extremes);
  g_test_add_func("/quant/save-map", test_save_map);
  g_test_add_func("/quant/extend", test_extend);
  return g_test_run();
}
