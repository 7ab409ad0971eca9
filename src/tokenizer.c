/* tokenizer.c — STUB, to be implemented (tokenizer work). */
#include "tokenizer.h"
#include "error.h"

clip_tokenizer *clip_tokenizer_load(const char *vocab_path, const char *merges_path, clip_error *err)
{ (void) merges_path; clip_set_error(err, CLIP_ERR_UNSUPPORTED, "%s: tokenizer not implemented", vocab_path); return NULL; }
void clip_tokenizer_free(clip_tokenizer *tok) { (void) tok; }
clip_status clip_tokenizer_encode(const clip_tokenizer *tok, const char *text, int32_t *ids,
                                  size_t cap, size_t *n, clip_error *err)
{ (void) tok; (void) text; (void) ids; (void) cap; (void) n;
  return clip_set_error(err, CLIP_ERR_UNSUPPORTED, "tokenizer not implemented"); }
int32_t clip_tokenizer_sot(const clip_tokenizer *tok) { (void) tok; return 49406; }
int32_t clip_tokenizer_eot(const clip_tokenizer *tok) { (void) tok; return 49407; }
int clip_tokenizer_vocab_size(const clip_tokenizer *tok) { (void) tok; return 0; }
