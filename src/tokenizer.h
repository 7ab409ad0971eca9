/* tokenizer.h — CLIP's byte-level BPE tokenizer (text cleanup,
 * pre-tokenizer, byte symbols, merges by rank). */
#ifndef CLIP_TOKENIZER_H
#define CLIP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef struct clip_tokenizer clip_tokenizer;

/* Loads vocab.json and merges.txt (Hugging Face layout, LF or CRLF, with or
 * without trailing newline). SOT/EOT ids are looked up in the vocabulary. */
clip_tokenizer *clip_tokenizer_load(const char *vocab_path, const char *merges_path,
                                    clip_error *err);
/* Frees a tokenizer; NULL is allowed. */
void clip_tokenizer_free(clip_tokenizer *tok);

/* The longest text accepted, in bytes: every text up to it gets exactly
 * OpenAI's ids (and total); a longer one is CLIP_ERR_ARG. It bounds the
 * work a hostile prompt causes, and no prompt needs more (CLIP reads 77
 * tokens; docs/tokenizer.md). */
#define CLIP_TOKENIZER_MAX_BYTES 65536

/* SOT + tokens + EOT, untruncated: writes min(total, cap) ids, total in *n.
 * Invalid UTF-8 or a text longer than CLIP_TOKENIZER_MAX_BYTES is
 * CLIP_ERR_ARG. Thread-safe: tok is only read. */
clip_status clip_tokenizer_encode(const clip_tokenizer *tok, const char *text, int32_t *ids,
                                  size_t cap, size_t *n, clip_error *err);
/* The same with CLIP's own merge loop (quadratic in the word length): the
 * reference that tests and fuzzers check clip_tokenizer_encode() against. */
clip_status clip_tokenizer_encode_slow(const clip_tokenizer *tok, const char *text, int32_t *ids,
                                       size_t cap, size_t *n, clip_error *err);
/* CLIP's model input: exactly context ids, zero padded; a longer text is cut
 * to ids[:context-1] + EOT as clip.tokenize(truncate=True) does. */
clip_status clip_tokenizer_encode_padded(const clip_tokenizer *tok, const char *text, int32_t *ids,
                                         size_t context, clip_error *err);
/* Ids of <|startoftext|> and <|endoftext|> in this vocabulary. */
int32_t clip_tokenizer_sot(const clip_tokenizer *tok);
int32_t clip_tokenizer_eot(const clip_tokenizer *tok);
/* Largest id in vocab.json + 1: the rows a token embedding needs. */
int clip_tokenizer_vocab_size(const clip_tokenizer *tok);

#endif
