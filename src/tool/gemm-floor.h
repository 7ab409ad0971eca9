/* gemm-floor.h — the machine's own limit for a model: GFLOP/s of each matrix
 * product shape of a tower on each backend, measured now, and their sum (the
 * "GEMM floor"), so that forward-pass timings read as ratios to it. Used by
 * `clip-tool bench` and bench/bench-gemm. */
#ifndef CLIP_GEMM_FLOOR_H
#define CLIP_GEMM_FLOOR_H

#include <stdbool.h>
#include <stdio.h>

typedef enum {
  FLOOR_OPENBLAS = 0,
  FLOOR_ONEDNN_FP32,
  FLOOR_ONEDNN_BF16,
  FLOOR_N_METHODS
} floor_method;

/* One product shape of a tower and how often one forward pass runs it. A
 * linear shape is y[M,N] = x[M,K]·W[K,N] + b; an attention shape is the core
 * (q·kᵀ, softmax, p·v) of n sequences of T tokens with H heads of Dh. */
typedef struct {
  char name[24];
  bool attention;
  int M, K, N;     /* linear */
  int n, T, H, Dh; /* attention */
  bool causal, bias;
  int count;                  /* calls per forward pass */
  double gflop;               /* per call */
  double ms[FLOOR_N_METHODS]; /* best time per call; < 0 when not measured */
  const char *impl[FLOOR_N_METHODS];
} floor_shape;

/* Shapes of a vision tower (image_size, patch, width, layers, heads, mlp,
 * embed) at a batch; returns how many were written (at most 8). */
int floor_shapes_vision(floor_shape *s, int batch, int image_size, int patch, int width, int layers,
                        int heads, int mlp, int embed);
/* Shapes of a text tower for n_texts sequences of T tokens. */
int floor_shapes_text(floor_shape *s, int n_texts, int T, int width, int layers, int heads, int mlp,
                      int embed);

/* Measures one shape with one method on `threads` threads for at least
 * min_seconds (best of the repetitions). Returns false if the method is not
 * available in this build. */
bool floor_measure(floor_shape *s, floor_method m, int threads, double min_seconds);

/* floor_measure() on every shape with one method, after letting the other
 * library's spinning workers go to sleep: OpenBLAS's pthreads and oneDNN's
 * OpenMP threads spin for a while after their last job, and one pool's
 * spinners on the other's cores make its barriers many times slower. */
void floor_measure_all(floor_shape *s, int n, floor_method m, int threads, double min_seconds);

/* A "floor pass": every shape run count times in a row, as a forward pass
 * would, with buffers and prepacked weights made once. Timing floor passes
 * interleaved with forward passes exposes both to the same load from other
 * processes, so their ratio holds on a busy machine.
 * model_weights: every call gets its own weights, as every layer of a model
 * has, so the pass streams as many weight bytes from memory as a forward
 * pass does (at batch 1 a ViT-B/32 pass reads 350 MB of fp32 weights, far
 * more than the caches; reusing one set per shape keeps it in cache and
 * measures a limit no model can reach). false: one set reused. */
typedef struct floor_bench floor_bench;
floor_bench *floor_bench_new(const floor_shape *s, int n, floor_method m, int threads,
                             bool model_weights);
/* One pass; returns its milliseconds. */
double floor_bench_pass(floor_bench *fs);
void floor_bench_free(floor_bench *fs);

/* Σ count · ms over the shapes, for one method. */
double floor_total_ms(const floor_shape *s, int n, floor_method m);

/* Writes the shapes as a JSON array ("name", "M", "K", "N", "count",
 * "gflops" per method) and the per-method floor object, at indent. */
void floor_print_json(FILE *out, const floor_shape *s, int n, double per, const char *indent);

const char *floor_method_name(floor_method m);

/* Monotonic seconds. */
double floor_now(void);

#endif
