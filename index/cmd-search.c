/* cmd-search.c — clip-index search: one query, from a fresh process.
 *
 * The whole query is one process's life, so it does only what the query
 * needs: the text tower alone (the vision tower alone for --image), the
 * model file mapped rather than read, GStreamer only to decode an --image,
 * the mapped copies of the segment matrix rather than the store's rows, and
 * the store again for the hits' rows alone. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "ingest.h"
#include "matrix.h"
#include "quant.h"
#include "search.h"

static double
process_cpu_seconds(void)
{
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
         + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int
cmd_search(int argc, char **argv)
{
  model_opts mo = { 0 };
  int top = 10, status;
  gboolean json = FALSE, timing = FALSE, exact_scan = FALSE, portable_scan = FALSE;
  char **templates = NULL, *thumbs = NULL, *image = NULL;
  GOptionEntry entries[] = {
    { "top", 'k', 0, G_OPTION_ARG_INT, &top, "Number of hits (default 10)", "K" },
    { "fp32-scan", 0, 0, G_OPTION_ARG_NONE, &exact_scan,
      "Score every row from the float32 matrix instead of the int8 prefilter (same hits; for "
      "comparison)",
      NULL },
    { "portable-scan", 0, 0, G_OPTION_ARG_NONE, &portable_scan,
      "Do the int8 products in portable C even where the CPU has a faster kernel (same hits; "
      "for comparison)",
      NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the hits as a JSON list", NULL },
    { "template", 0, 0, G_OPTION_ARG_STRING_ARRAY, &templates,
      "Prompt template with {} (repeatable; embeddings are averaged)", "T" },
    { "thumbnails", 0, 0, G_OPTION_ARG_FILENAME, &thumbs, "Write the hits' JPEG thumbnails here",
      "DIR" },
    { "image", 0, 0, G_OPTION_ARG_FILENAME, &image, "Search by an image instead of text", "FILE" },
    { "model", 0, 0, G_OPTION_ARG_STRING, &mo.model,
      "Model to check against the index's (default: the index's)", "M" },
    { "timing", 0, 0, G_OPTION_ARG_NONE, &timing, "Print load, embed and scan times to stderr",
      NULL },
    { NULL }
  };
  GOptionContext *oc = cli_parse(&argc, &argv, "INDEX [TEXT]",
                                 "Rank the index's segments by cosine similarity to a text "
                                 "(prompt syntax of the element: 'a|b' are synonyms) or an image.",
                                 entries, &mo, &status);
  cli_query q = { 0 };
  store *st = NULL;
  clip_error err = { 0 };
  GError *e = NULL;
  float *query = NULL;
  segment_matrix mat = { 0 };
  quant_matrix *quant = NULL;
  search_hit *hits = NULL;
  int rc = 1, n_hits, n_templates = 0;
  int64_t n_candidates = 0;
  double t_load = 0, t_embed = 0, t_matrix = 0, t_scan = 0;
  gint64 t0 = g_get_monotonic_time();

  if (!oc)
    return status;
  if (argc != (image ? 2 : 3) || top < 1) {
    rc = cli_usage_error(oc, image ? "search --image needs INDEX only"
                                   : "search needs INDEX and one TEXT; --top >= 1");
    goto out;
  }
  /* The process lives for one query: the model file is mapped (clip.h's
   * map_file, unless CLIP_MODEL_MMAP says otherwise) rather than copied
   * into memory that the query reads once; that copy was most of a text
   * tower's load. */
  mo.map_file = true;
  if ((rc = cli_query_open(&q, argv[1], &mo, image ? CLIP_TOWERS_VISION : CLIP_TOWERS_TEXT,
                           "search"))) {
    goto out;
  }
  rc = 1;
  st = q.st;
  t_load = (g_get_monotonic_time() - t0) / 1e6;
  query = g_new(float, q.rec.embed_dim);
  if (image) {
    gst_init(NULL, NULL); /* for decoding the image; text queries never need it */
    if (!ingest_image(q.ctx, q.model, image, query, &e)) {
      fprintf(stderr, "clip-index search: %s\n", e->message);
      goto out;
    }
  } else {
    const char *label = argv[2];
    n_templates = templates ? (int) g_strv_length(templates) : 0;
    for (int i = 0; i < n_templates; i++)
      if (!strstr(templates[i], "{}")) {
        fprintf(stderr, "clip-index search: template \"%s\" has no {} placeholder\n", templates[i]);
        rc = 2;
        goto out;
      }
    if (clip_embed_labels(q.ctx, &label, 1, (const char *const *) templates, n_templates, query,
                          &err)
        != CLIP_OK) {
      fprintf(stderr, "clip-index search: cannot embed \"%s\": %s\n", label, err.message);
      goto out;
    }
  }
  t_embed = (g_get_monotonic_time() - t0) / 1e6 - t_load;
  /* The int8 copy reads a quarter of the bytes and its bound makes the
   * hits those of the float32 scan, in the same order. */
  if (!(exact_scan ? segment_matrix_open(&mat, st, store_cache_base(st), q.rec.embed_dim, &e)
                   : segment_matrix_open_quant(&mat, &quant, st, store_cache_base(st),
                                               q.rec.embed_dim, &e))) {
    fprintf(stderr, "clip-index search: %s\n", e->message);
    goto out;
  }
  t_matrix = (g_get_monotonic_time() - t0) / 1e6 - t_load - t_embed;
  hits = g_new(search_hit, top);
  /* CPU time of the scan (all its threads): on a shared machine the wall
   * time follows the load, this much less. */
  double cpu_scan = process_cpu_seconds();
  const char *kernel = quant_kernel_select(portable_scan);
  if (quant) {
    gint64 t_scan0 = g_get_monotonic_time();
    n_hits = quant_top_k(quant, query, top, hits, &n_candidates);
    t_scan = (g_get_monotonic_time() - t_scan0) / 1e6;
  } else {
    n_hits = search_top_k(mat.rows, mat.n, q.rec.embed_dim, query, top, hits, &t_scan);
  }
  cpu_scan = process_cpu_seconds() - cpu_scan;

  if (thumbs && g_mkdir_with_parents(thumbs, 0755) != 0) {
    fprintf(stderr, "clip-index search: cannot create %s: %s\n", thumbs, g_strerror(errno));
    goto out;
  }
  cJSON *list = json ? cJSON_CreateArray() : NULL;
  for (int i = 0; i < n_hits; i++) {
    store_hit h;
    char *thumb_path = NULL;
    int64_t id = mat.ids[hits[i].row];
    if (!store_get_segment(st, id, &h, &e)) {
      fprintf(stderr, "clip-index search: %s\n", e->message);
      cJSON_Delete(list);
      goto out;
    }
    if (thumbs && h.thumbnail) {
      gsize len;
      const char *data = g_bytes_get_data(h.thumbnail, &len);
      char name[64];
      g_snprintf(name, sizeof name, "%02d-segment-%" G_GINT64_FORMAT ".jpg", i + 1, id);
      thumb_path = g_build_filename(thumbs, name, NULL);
      if (!g_file_set_contents(thumb_path, data, len, &e)) {
        fprintf(stderr, "clip-index search: %s\n", e->message);
        g_clear_error(&e);
        g_clear_pointer(&thumb_path, g_free);
      }
    }
    if (list) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "rank", i + 1);
      cJSON_AddNumberToObject(o, "segment", (double) id);
      cJSON_AddStringToObject(o, "file", h.path);
      cJSON_AddNumberToObject(o, "start", h.start);
      cJSON_AddNumberToObject(o, "end", h.end);
      cJSON_AddNumberToObject(o, "score", hits[i].score);
      cJSON_AddNumberToObject(o, "samples", h.n_samples);
      if (thumb_path)
        cJSON_AddStringToObject(o, "thumbnail", thumb_path);
      cJSON_AddItemToArray(list, o);
    } else {
      int s0 = (int) h.start, s1 = (int) h.end;
      printf("%2d  %.4f  %d:%02d:%02d.%d-%d:%02d:%02d.%d  %s  (segment %" G_GINT64_FORMAT ")\n",
             i + 1, hits[i].score, s0 / 3600, s0 / 60 % 60, s0 % 60, (int) ((h.start - s0) * 10),
             s1 / 3600, s1 / 60 % 60, s1 % 60, (int) ((h.end - s1) * 10), h.path, id);
    }
    g_free(thumb_path);
    store_hit_clear(&h);
  }
  if (list) {
    char *s = cJSON_Print(list);
    puts(s);
    cJSON_free(s);
    cJSON_Delete(list);
  }
  if (timing)
    fprintf(stderr,
            "model load %.1f ms, query embed %.1f ms, matrix %s %.1f ms (%" G_GINT64_FORMAT
            " rows), scan %s %.1f ms (%" G_GINT64_FORMAT " rescored, CPU %.1f ms), total %.1f ms, "
            "%s\n",
            t_load * 1e3, t_embed * 1e3, mat.map ? "mapped" : "loaded", t_matrix * 1e3, mat.n,
            quant ? "int8" : "fp32", t_scan * 1e3, quant ? n_candidates : mat.n, cpu_scan * 1e3,
            (g_get_monotonic_time() - t0) / 1e3, quant ? kernel : "sgemv");
  if (timing && store_copy_note(st))
    fprintf(stderr, "matrix %s\n", store_copy_note(st));
  if (timing && mat.note)
    fprintf(stderr, "cache files: %s\n", mat.note);
  rc = 0;
out:
  g_clear_error(&e);
  g_free(query);
  quant_matrix_free(quant);
  segment_matrix_close(&mat);
  g_free(hits);
  cli_query_close(&q);
  model_opts_clear(&mo);
  g_strfreev(templates);
  g_free(thumbs);
  g_free(image);
  g_option_context_free(oc);
  return rc;
}
