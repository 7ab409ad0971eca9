/* fuzz-vocab.c — vocab.json and merges.txt loading. Input: the vocabulary
 * up to the first NUL byte, the merges after it. A tokenizer that loads
 * must then encode (or refuse with a message) without crashing. */
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *sep = memchr(data, 0, size);
  size_t vocab_len = sep ? (size_t) (sep - data) : size;
  const uint8_t *merges = sep ? sep + 1 : data + size;
  const char *vp = fuzz_write(0, "vocab.json", data, vocab_len);
  const char *mp = fuzz_write(1, "merges.txt", merges, (size_t) (data + size - merges));
  clip_error err = { 0 };
  clip_tokenizer *tok = clip_tokenizer_load(vp, mp, &err);
  if (!tok) {
    if (err.status == CLIP_OK || !err.message[0])
      fuzz_fail("refused without a message");
    return 0;
  }
  if (clip_tokenizer_vocab_size(tok) < 1 || clip_tokenizer_sot(tok) < 0
      || clip_tokenizer_eot(tok) < 0)
    fuzz_fail("a loaded tokenizer lacks its special tokens");
  static const char *const texts[] = { "a photo of a cat", "<|startoftext|>hello<|endoftext|>",
                                       "don't  stop ﬁne Ã© 123 !!", "" };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    int32_t ids[77];
    size_t n = 0, n_slow = 0;
    int32_t slow[77];
    clip_status a = clip_tokenizer_encode(tok, texts[i], ids, 77, &n, &err);
    clip_status b = clip_tokenizer_encode_slow(tok, texts[i], slow, 77, &n_slow, &err);
    if (a != b || n != n_slow || memcmp(ids, slow, (n < 77 ? n : 77) * sizeof *ids))
      fuzz_fail("fast and reference merges disagree on \"%s\"", texts[i]);
    for (size_t k = 0; a == CLIP_OK && k < n && k < 77; k++)
      if (ids[k] < 0 || ids[k] >= clip_tokenizer_vocab_size(tok))
        fuzz_fail("id %d outside the vocabulary", ids[k]);
  }
  clip_tokenizer_free(tok);
  return 0;
}
