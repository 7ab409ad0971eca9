/* bench-gemm — GFLOP/s of every matrix product shape of the ViT-B/32 image
 * encoder (batch 1 and 16) and the text encoder (8 prompts of 77 tokens) on
 * OpenBLAS, oneDNN fp32 and oneDNN bf16, and the summed "GEMM floor" that
 * the forward pass cannot beat. Prints JSON; see bench/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm-floor.h"

static void
measure_all(floor_shape *s, int n, int threads, double seconds)
{
  for (int m = 0; m < FLOOR_N_METHODS; m++)
    floor_measure_all(s, n, m, threads, seconds);
}

int
main(int argc, char **argv)
{
  int threads = 2, batches[8] = { 1, 16 }, n_batches = 2, texts = 8;
  double seconds = 0.3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--texts") && i + 1 < argc)
      texts = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
      n_batches = 0;
      for (char *t = strtok(argv[++i], ","); t && n_batches < 8; t = strtok(NULL, ","))
        batches[n_batches++] = atoi(t);
    } else {
      fprintf(stderr, "usage: bench-gemm [--threads T] [--batch B1,B2,...] [--texts N] "
                      "[--seconds S per shape and method]\n");
      return 2;
    }
  }
  if (threads < 1 || texts < 1 || seconds <= 0 || n_batches < 1) {
    fprintf(stderr, "bench-gemm: threads, texts, seconds and batches must be positive\n");
    return 2;
  }
  floor_shape s[16];
  printf("{\n  \"model\": \"ViT-B-32 shapes\",\n  \"threads\": %d,\n  \"vision\": [\n", threads);
  for (int b = 0; b < n_batches; b++) {
    if (batches[b] < 1)
      return 2;
    int n = floor_shapes_vision(s, batches[b], 224, 32, 768, 12, 12, 3072, 512);
    measure_all(s, n, threads, seconds);
    printf("    {\n      \"batch\": %d,\n", batches[b]);
    floor_print_json(stdout, s, n, batches[b], "      ");
    printf(",\n      \"floor_unit\": \"ms per image\"\n    }%s\n", b + 1 < n_batches ? "," : "");
  }
  int n = floor_shapes_text(s, texts, 77, 512, 12, 8, 2048, 512);
  measure_all(s, n, threads, seconds);
  printf("  ],\n  \"text\": {\n    \"prompts\": %d,\n    \"tokens\": 77,\n", texts);
  floor_print_json(stdout, s, n, 1, "    ");
  printf(",\n    \"floor_unit\": \"ms for all prompts\"\n  }\n}\n");
  return 0;
}
