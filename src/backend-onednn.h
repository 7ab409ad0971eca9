/* backend-onednn.h — the oneDNN matrix-product backend (linear layers with
 * fused epilogues, attention products), engine-internal.
 *
 * No oneDNN type appears here, so a port to another oneDNN major version stays
 * inside backend-onednn.c. Built only with CLIP_HAVE_ONEDNN; without it the
 * functions below exist and report CLIP_ERR_UNSUPPORTED.
 *
 * Ownership and threads: an onednn_engine and the onednn_linear layers built
 * on it belong to a model and are read-only after creation, except for the
 * primitive cache, which is locked. Execution state (stream, scratchpad)
 * lives in an onednn_exec, one per thread that runs the forward pass (a
 * clip_ctx). */
#ifndef CLIP_BACKEND_ONEDNN_H
#define CLIP_BACKEND_ONEDNN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "clip.h"

typedef struct onednn_engine onednn_engine;
typedef struct onednn_linear onednn_linear;
typedef struct onednn_exec onednn_exec;

/* What runs after y = x·W + b, in this order: activation, then residual
 * (y = act(x·W + b) + y_before). */
typedef enum {
  ONEDNN_ACT_NONE = 0,
  ONEDNN_ACT_QUICK_GELU, /* x·sigmoid(1.702·x): oneDNN swish, alpha 1.702 */
  ONEDNN_ACT_GELU,       /* erf GELU */
} onednn_act;

/* True when this build has the oneDNN backend. */
bool onednn_built(void);

/* CPU engine whose primitives use n_threads threads (<= 0: all cores); the
 * thread count is fixed before any primitive exists. Also pins OpenBLAS to
 * one thread so its pool never competes with oneDNN's OpenMP pool. */
onednn_engine *onednn_engine_new(int n_threads, clip_error *err);
void onednn_engine_free(onednn_engine *eng);
int onednn_engine_threads(const onednn_engine *eng);

/* Prepares y = x·W + b for W fp32, row-major [K][N] or, when transposed,
 * [N][K] (PyTorch's layout), and b [N] (or NULL): the weights are reordered
 * once into the layout the matmul prefers for about m_hint rows (stored as
 * bf16 when bf16 is set; then x is bf16). The caller's w and b may be freed
 * afterwards. */
onednn_linear *onednn_linear_new(onednn_engine *eng, const float *w, bool transposed,
                                 const float *b, int K, int N, bool bf16, int m_hint,
                                 clip_error *err);
/* The same for weights given in n_parts blocks of N / n_parts rows each of
 * PyTorch's [N][K] layout (transposed only), as separate q, k and v
 * projections are stored: joined only when they have to be packed. */
onednn_linear *onednn_linear_new_parts(onednn_engine *eng, const float *const *parts, int n_parts,
                                       bool transposed, const float *b, int K, int N, bool bf16,
                                       int m_hint, clip_error *err);
/* Supplies a layer's n_parts weight blocks (as for onednn_linear_new_parts)
 * when they have to be packed; they stay valid until the layer is built. */
typedef clip_status (*onednn_parts_fn)(void *user, const float **parts, clip_error *err);
/* onednn_linear_new_parts with the weights read through get() only when
 * the packed-weight file does not have the layer. */
onednn_linear *onednn_linear_new_lazy(onednn_engine *eng, onednn_parts_fn get, void *user,
                                      int n_parts, bool transposed, const float *b, int K, int N,
                                      bool bf16, int m_hint, clip_error *err);
void onednn_linear_free(onednn_linear *lin);

/* Packed-weight file: layers built on eng after this call take their packed
 * weights, in creation order, from the file saved for the weights file
 * `weights` (a model's checkpoint; id is the status of the file the
 * weights were read from, NULL to stat() the path now) and `variant` (NULL or "" for the whole
 * model, else a name for another set of its layers, such as one tower's:
 * each set has its own file, since layers are matched by position) when it
 * is valid, instead of packing them;
 * onednn_engine_save_pack_file(), called once all of them exist (no layer is
 * built on eng after it), writes the file when some layer had to be packed,
 * on a thread of its own: freeing a layer or eng waits for it. The file lives in
 * $CLIP_WEIGHT_CACHE or else ~/.cache/clipfilter (CLIP_WEIGHT_CACHE=off:
 * none); models under 64 MB of packed weights get none. Both calls are
 * best-effort: a file that cannot be read or written only costs the packing.
 * Layers are then built one at a time (not from several threads at once). */
void onednn_engine_use_pack_file(onednn_engine *eng, const char *weights, const struct stat *id,
                                 const char *variant, bool bf16);
void onednn_engine_save_pack_file(onednn_engine *eng);
/* Bytes held by the prepared weights and bias. */
size_t onednn_linear_bytes(const onednn_linear *lin);
bool onednn_linear_is_bf16(const onednn_linear *lin);

/* Creates (JIT-compiles) the primitives a later run with these arguments
 * will use, so that the first frame does not pay for them. */
clip_status onednn_linear_warm(onednn_linear *lin, int M, onednn_act act, bool residual,
                               clip_error *err);
clip_status onednn_attention_warm(onednn_engine *eng, int n, int T, int H, int Dh, clip_error *err);

/* Per-thread execution state: a stream and a scratchpad that grows only when
 * a new shape needs more. */
onednn_exec *onednn_exec_new(onednn_engine *eng, clip_error *err);
void onednn_exec_free(onednn_exec *ex);

/* y[M][N] = act(x·W + b) (+ y if residual). x is fp32 [M][K]; for a bf16
 * layer it is converted into the exec's scratch first (prefer
 * onednn_linear_run_bf16 with activations produced as bf16). */
clip_status onednn_linear_run(onednn_exec *ex, onednn_linear *lin, const float *x, int M, float *y,
                              onednn_act act, bool residual, clip_error *err);

/* The same with bf16 activations x [M][K] (a bf16 layer only). */
clip_status onednn_linear_run_bf16(onednn_exec *ex, onednn_linear *lin, const uint16_t *x, int M,
                                   float *y, onednn_act act, bool residual, clip_error *err);

/* Multi-head self-attention core for n sequences of T tokens: qkv is
 * [n·T][3·H·Dh] with columns q | k | v, head h at h·Dh inside each; writes
 * out [n·T][H·Dh] = softmax(q·kᵀ/√Dh (+ causal mask))·v per head. All the
 * products, the mask and the softmax run on oneDNN's thread pool. */
clip_status onednn_attention(onednn_exec *ex, const float *qkv, int n, int T, int H, int Dh,
                             bool causal, float *out, clip_error *err);

/* The oneDNN implementation that ran the exec's last primitive (for
 * benchmarks: "brg:avx512_core_bf16", ...), or "none". */
const char *onednn_exec_last_impl(const onednn_exec *ex);

/* fp32 -> bf16 with round-to-nearest-even (NaN stays NaN), for passes that
 * produce activations for bf16 layers. */
void onednn_f32_to_bf16(const float *src, uint16_t *dst, size_t n);
/* bf16 -> fp32 (exact). */
void onednn_bf16_to_f32(const uint16_t *src, float *dst, size_t n);

#endif
