/* onednn-unbuilt.c — the oneDNN backend's API in a build without oneDNN:
 * every call that would need it fails with CLIP_ERR_UNSUPPORTED saying how
 * to build it, so callers need no conditional code. */
#include "backend-onednn.h"

#include "error.h"

bool
onednn_built(void)
{
  return false;
}

#define UNBUILT(err)                                                                               \
  clip_set_error(err, CLIP_ERR_UNSUPPORTED,                                                        \
                 "oneDNN backend: this build has no oneDNN "                                       \
                 "(configure with -Donednn=enabled and libdnnl-dev)")

onednn_engine *
onednn_engine_new(int n_threads, clip_error *err)
{
  (void) n_threads;
  UNBUILT(err);
  return NULL;
}
void
onednn_engine_free(onednn_engine *eng)
{
  (void) eng;
}
int
onednn_engine_threads(const onednn_engine *eng)
{
  (void) eng;
  return 0;
}
onednn_linear *
onednn_linear_new(onednn_engine *eng, const float *w, bool transposed, const float *b, int K, int N,
                  bool bf16, int m_hint, clip_error *err)
{
  (void) eng, (void) w, (void) b, (void) K, (void) N, (void) bf16, (void) m_hint;
  UNBUILT(err);
  return NULL;
}
onednn_linear *
onednn_linear_new_parts(onednn_engine *eng, const float *const *parts, int n_parts, bool transposed,
                        const float *b, int K, int N, bool bf16, int m_hint, clip_error *err)
{
  (void) eng, (void) parts, (void) n_parts, (void) transposed, (void) b, (void) K, (void) N;
  (void) bf16, (void) m_hint;
  UNBUILT(err);
  return NULL;
}
onednn_linear *
onednn_linear_new_lazy(onednn_engine *eng, onednn_parts_fn get, void *user, int n_parts,
                       bool transposed, const float *b, int K, int N, bool bf16, int m_hint,
                       clip_error *err)
{
  (void) eng, (void) get, (void) user, (void) n_parts, (void) transposed, (void) b, (void) K;
  (void) N, (void) bf16, (void) m_hint;
  UNBUILT(err);
  return NULL;
}
void
onednn_linear_free(onednn_linear *lin)
{
  (void) lin;
}
void
onednn_engine_use_pack_file(onednn_engine *eng, const char *weights, const struct stat *id,
                            const char *variant, bool bf16)
{
  (void) eng, (void) weights, (void) id, (void) variant, (void) bf16;
}
void
onednn_engine_save_pack_file(onednn_engine *eng)
{
  (void) eng;
}
clip_status
onednn_linear_warm(onednn_linear *lin, int M, onednn_act act, bool residual, clip_error *err)
{
  (void) lin, (void) M, (void) act, (void) residual;
  return UNBUILT(err);
}
clip_status
onednn_attention_warm(onednn_engine *eng, int n, int T, int H, int Dh, clip_error *err)
{
  (void) eng, (void) n, (void) T, (void) H, (void) Dh;
  return UNBUILT(err);
}
size_t
onednn_linear_bytes(const onednn_linear *lin)
{
  (void) lin;
  return 0;
}
bool
onednn_linear_is_bf16(const onednn_linear *lin)
{
  (void) lin;
  return false;
}
onednn_exec *
onednn_exec_new(onednn_engine *eng, clip_error *err)
{
  (void) eng;
  UNBUILT(err);
  return NULL;
}
void
onednn_exec_free(onednn_exec *ex)
{
  (void) ex;
}
const char *
onednn_exec_last_impl(const onednn_exec *ex)
{
  (void) ex;
  return "none";
}
clip_status
onednn_linear_run(onednn_exec *ex, onednn_linear *lin, const float *x, int M, float *y,
                  onednn_act act, bool residual, clip_error *err)
{
  (void) ex, (void) lin, (void) x, (void) M, (void) y, (void) act, (void) residual;
  return UNBUILT(err);
}
clip_status
onednn_linear_run_bf16(onednn_exec *ex, onednn_linear *lin, const uint16_t *x, int M, float *y,
                       onednn_act act, bool residual, clip_error *err)
{
  (void) ex, (void) lin, (void) x, (void) M, (void) y, (void) act, (void) residual;
  return UNBUILT(err);
}
clip_status
onednn_attention(onednn_exec *ex, const float *qkv, int n, int T, int H, int Dh, bool causal,
                 float *out, clip_error *err)
{
  (void) ex, (void) qkv, (void) n, (void) T, (void) H, (void) Dh, (void) causal, (void) out;
  return UNBUILT(err);
}
