/* synth-index — writes an index of N synthetic segments (random unit
 * vectors) bound to MODEL, for measuring search at archive scale:
 *   synth-index INDEX MODEL_DIR DIM N [SEGMENTS_PER_FILE] [FIRST_FILE]
 * INDEX is a file or a postgresql:// URI; FIRST_FILE numbers the files, so
 * that a second run adds files beside those of the first. Not installed;
 * bench/bench-index.sh and bench/bench-index-pg.sh use it. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"

int
main(int argc, char **argv)
{
  GError *e = NULL;
  store *s;
  int dim;
  int64_t n, per_file, first;
  GRand *rnd;

  if (argc < 5) {
    fprintf(stderr, "usage: synth-index INDEX MODEL_DIR DIM N [SEGMENTS_PER_FILE] [FIRST_FILE]\n");
    return 2;
  }
  dim = atoi(argv[3]);
  n = g_ascii_strtoll(argv[4], NULL, 10);
  per_file = argc > 5 ? g_ascii_strtoll(argv[5], NULL, 10) : 1000;
  first = argc > 6 ? g_ascii_strtoll(argv[6], NULL, 10) : 0;
  if (dim <= 0 || n <= 0 || per_file <= 0 || first < 0) {
    fprintf(stderr, "synth-index: DIM, N and SEGMENTS_PER_FILE must be positive\n");
    return 2;
  }
  rnd = g_rand_new_with_seed(1 + (guint32) first);
  if (!(s = store_open(argv[1], true, &e))) {
    fprintf(stderr, "synth-index: %s\n", e->message);
    return 1;
  }
  store_model m = { .model = argv[2],
                    .model_path = g_canonicalize_filename(argv[2], NULL),
                    .embed_dim = dim };
  if (!store_set_model(s, &m, &e)) {
    fprintf(stderr, "synth-index: %s\n", e->message);
    return 1;
  }
  g_free(m.model_path);
  for (int64_t done = 0, k = first; done < n; k++) {
    int64_t count = MIN(per_file, n - done);
    char *path = g_strdup_printf("/archive/synthetic-%06" G_GINT64_FORMAT ".mp4", k);
    store_file f = { .path = path,
                     .uri = path,
                     .size = count,
                     .mtime = 0,
                     .duration = (double) count,
                     .width = 1920,
                     .height = 1080,
                     .decode = "keyframes" };
    f.segments = g_array_new(FALSE, TRUE, sizeof(store_segment));
    f.samples = g_array_new(FALSE, TRUE, sizeof(store_sample));
    for (int64_t i = 0; i < count; i++) {
      store_segment g = {
        .start = (double) i, .end = (double) i + 1, .n_samples = 1, .embedding = g_new(float, dim)
      };
      double norm = 0;
      for (int j = 0; j < dim; j++) {
        g.embedding[j] = (float) g_rand_double_range(rnd, -1, 1);
        norm += (double) g.embedding[j] * g.embedding[j];
      }
      for (int j = 0; j < dim; j++)
        g.embedding[j] /= (float) sqrt(norm);
      g_array_append_val(f.segments, g);
    }
    if (!store_put_file(s, &f, &e)) {
      fprintf(stderr, "synth-index: %s\n", e->message);
      return 1;
    }
    for (guint i = 0; i < f.segments->len; i++)
      g_free(g_array_index(f.segments, store_segment, i).embedding);
    g_array_free(f.segments, TRUE);
    g_array_free(f.samples, TRUE);
    g_free(path);
    done += count;
  }
  store_close(s);
  g_rand_free(rnd);
  return 0;
}
