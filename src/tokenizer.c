/* tokenizer.c — CLIP's byte-level BPE over a vocab.json/merges.txt pair.
 *
 * Text is cleaned (textclean.c), split by CLIP's pre-tokenizer pattern, each
 * pre-token's UTF-8 bytes become byte symbols with "</w>" on the last one, and
 * the lowest-ranked adjacent pair is merged (every non-overlapping occurrence,
 * left to right) until no pair has a rank. Symbols are vocabulary ids
 * throughout: the loader insists that both halves of every merge and their
 * concatenation are in the vocabulary, so merging ids is merging strings. */
#include "tokenizer.h"

#include <glib.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "readfile.h"
#include "textclean.h"

#define SOT_STRING "<|startoftext|>"
#define EOT_STRING "<|endoftext|>"
#define UNK_STRING "<unk>"
#define NO_RANK INT32_MAX

/* 16 bytes, so the 49k-token table stays small enough to be cache friendly. */
typedef struct {
  uint32_t key;  /* offset of the string in tok->strings + 1; 0: empty slot */
  uint32_t hash; /* high bits of the key's hash: most misses skip memcmp */
  uint32_t len;
  int32_t id;
} vocab_slot;

typedef struct {
  uint64_t key; /* left id << 32 | right id; UINT64_MAX: empty slot */
  int32_t rank;
  int32_t merged;
} merge_slot;

struct clip_tokenizer {
  char *vocab_path;
  char *strings; /* every vocabulary string, NUL-separated */
  vocab_slot *vocab;
  size_t vocab_mask;
  merge_slot *merges;
  size_t merge_mask;
  /* Byte symbol ids, [byte][1 when last in the word]; a missing symbol is
   * stored as -1 - (byte | last << 8) so the error can say which. */
  int32_t byte_symbol[256][2];
  int32_t sot, eot, unk;
  int vocab_size, n_merges;
};

/* ---- hash tables ------------------------------------------------------- */

static uint64_t
hash_bytes(const char *s, size_t len)
{
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char) s[i]) * 1099511628211ull;
  return h;
}

static uint64_t
hash_u64(uint64_t x)
{
  x ^= x >> 33; /* murmur3 finalizer */
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

/* A power of two of at least n * num / den slots; 0 on overflow. */
static size_t
table_size(size_t n, size_t num, size_t den)
{
  size_t size = 16;
  if (n > SIZE_MAX / num)
    return 0;
  while (size < n * num / den) {
    if (size > SIZE_MAX / 4)
      return 0;
    size *= 2;
  }
  return size;
}

static const char *
vocab_string(const clip_tokenizer *tok, const vocab_slot *slot)
{
  return tok->strings + slot->key - 1;
}

/* The slot holding s (len bytes, hash h), or the empty slot where it goes. */
static vocab_slot *
vocab_slot_for(const clip_tokenizer *tok, const char *s, size_t len, uint64_t h)
{
  size_t i = h & tok->vocab_mask;
  for (;; i = (i + 1) & tok->vocab_mask) {
    const vocab_slot *slot = &tok->vocab[i];
    if (!slot->key
        || (slot->hash == (uint32_t) (h >> 32) && slot->len == len
            && !memcmp(vocab_string(tok, slot), s, len)))
      return &tok->vocab[i];
  }
}

/* The id of a vocabulary string of len bytes, or -1. */
static int32_t
vocab_find(const clip_tokenizer *tok, const char *s, size_t len)
{
  const vocab_slot *slot = vocab_slot_for(tok, s, len, hash_bytes(s, len));
  return slot->key ? slot->id : -1;
}

static merge_slot *
merge_slot_for(const clip_tokenizer *tok, int32_t left, int32_t right)
{
  uint64_t key = (uint64_t) (uint32_t) left << 32 | (uint32_t) right;
  size_t i = hash_u64(key) & tok->merge_mask;
  while (tok->merges[i].key != UINT64_MAX && tok->merges[i].key != key)
    i = (i + 1) & tok->merge_mask;
  return &tok->merges[i];
}

static int32_t
merge_rank(const clip_tokenizer *tok, int32_t left, int32_t right)
{
  if (left < 0 || right < 0)
    return NO_RANK;
  const merge_slot *slot = merge_slot_for(tok, left, right);
  return slot->key == UINT64_MAX ? NO_RANK : slot->rank;
}

/* ---- loading ----------------------------------------------------------- */

static const char *
json_kind(const cJSON *item)
{
  if (cJSON_IsString(item))
    return "a string";
  if (cJSON_IsNumber(item))
    return "a number";
  if (cJSON_IsBool(item))
    return "a boolean";
  if (cJSON_IsNull(item))
    return "null";
  if (cJSON_IsArray(item))
    return "an array";
  if (cJSON_IsObject(item))
    return "an object";
  return "invalid JSON";
}

/* Real vocabularies are ~1 MB, merge lists ~0.5 MB; the cap bounds what
 * cJSON builds from a hostile one (~100 bytes per token). */
#define MAX_TOKENIZER_FILE ((size_t) 16 << 20)

static clip_status
read_file(const char *path, const char *what, char **data, size_t *len, clip_error *err)
{
  size_t size = 0;
  clip_status st = clip_read_file(path, what, MAX_TOKENIZER_FILE, data, &size, err);
  if (st != CLIP_OK)
    return st;
  /* A byte-order mark (left by some editors) is not content. */
  if (size >= 3 && !memcmp(*data, "\xEF\xBB\xBF", 3)) {
    memmove(*data, *data + 3, size - 3);
    size -= 3;
    (*data)[size] = '\0';
  }
  *len = size;
  return CLIP_OK;
}

static int
cmp_int32(const void *a, const void *b)
{
  int32_t x = *(const int32_t *) a, y = *(const int32_t *) b;
  return (x > y) - (x < y);
}

/* Rejects two strings sharing an id (merges work on ids, so ids must name
 * strings one to one) and sets vocab_size to the largest id + 1. The ids
 * are sorted and neighbours compared: memory by the number of tokens, not
 * by the largest id (a bitmap up to it took 256 MB for one hostile id). */
static clip_status
vocab_check_ids(clip_tokenizer *tok, clip_error *err)
{
  int32_t max_id = -1;
  size_t n = 0;
  for (size_t i = 0; i <= tok->vocab_mask; i++)
    if (tok->vocab[i].key) {
      n++;
      if (tok->vocab[i].id > max_id)
        max_id = tok->vocab[i].id;
    }
  tok->vocab_size = max_id + 1;
  int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
  if (!ids)
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory checking %zu ids",
                          tok->vocab_path, n);
  for (size_t i = 0, k = 0; i <= tok->vocab_mask; i++)
    if (tok->vocab[i].key)
      ids[k++] = tok->vocab[i].id;
  qsort(ids, n, sizeof *ids, cmp_int32);
  int32_t dup = -1;
  for (size_t k = 1; k < n && dup < 0; k++)
    if (ids[k] == ids[k - 1])
      dup = ids[k];
  free(ids);
  if (dup < 0)
    return CLIP_OK;
  const char *names[2] = { NULL, NULL };
  for (size_t i = 0, k = 0; i <= tok->vocab_mask && k < 2; i++)
    if (tok->vocab[i].key && tok->vocab[i].id == dup)
      names[k++] = vocab_string(tok, &tok->vocab[i]);
  return clip_set_error(err, CLIP_ERR_FORMAT, "%s: id %d is given to both \"%s\" and \"%s\"",
                        tok->vocab_path, dup, names[0], names[1]);
}

static clip_status
vocab_load(clip_tokenizer *tok, const char *path, clip_error *err)
{
  char *data = NULL;
  size_t len = 0;
  clip_status st = read_file(path, "vocabulary", &data, &len, err);
  if (st != CLIP_OK)
    return st;
  cJSON *root = cJSON_ParseWithLength(data, len);
  if (!root) {
    const char *at = cJSON_GetErrorPtr();
    long offset = at && at >= data && at <= data + len ? (long) (at - data) : -1;
    st = clip_set_error(err, CLIP_ERR_FORMAT,
                        "%s: invalid JSON near byte %ld (expected an object mapping each token "
                        "to its id)",
                        path, offset);
    free(data);
    return st;
  }
  free(data);
  if (!cJSON_IsObject(root)) {
    st = clip_set_error(err, CLIP_ERR_FORMAT,
                        "%s: expected a JSON object mapping each token to its id, found %s", path,
                        json_kind(root));
    cJSON_Delete(root);
    return st;
  }

  size_t count = 0, bytes = 0;
  for (const cJSON *item = root->child; item; item = item->next) {
    size_t klen = strlen(item->string);
    if (klen > SIZE_MAX / 2 - bytes) {
      cJSON_Delete(root);
      return clip_set_error(err, CLIP_ERR_NOMEM, "%s: vocabulary too large", path);
    }
    bytes += klen + 1;
    count++;
  }
  if (count == 0) {
    cJSON_Delete(root);
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: the vocabulary is empty (expected an object mapping each token to "
                          "its id)",
                          path);
  }
  if (bytes >= UINT32_MAX) {
    cJSON_Delete(root);
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s: %zu bytes of tokens, more than 4 GB", path,
                          bytes);
  }
  tok->strings = malloc(bytes ? bytes : 1);
  size_t slots = table_size(count, 4, 3);
  tok->vocab = slots ? calloc(slots, sizeof *tok->vocab) : NULL;
  if (!tok->strings || !tok->vocab) {
    cJSON_Delete(root);
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory for %zu tokens", path, count);
  }
  tok->vocab_mask = slots - 1;

  char *dst = tok->strings;
  for (const cJSON *item = root->child; item; item = item->next) {
    double v = item->valuedouble;
    if (!cJSON_IsNumber(item) || !(v >= 0 && v <= INT32_MAX - 1) || v != floor(v)) {
      if (cJSON_IsNumber(item))
        st = clip_set_error(err, CLIP_ERR_FORMAT,
                            "%s: token \"%s\": expected an integer id from 0 to %d, found %g", path,
                            item->string, INT32_MAX - 1, v);
      else
        st = clip_set_error(err, CLIP_ERR_FORMAT,
                            "%s: token \"%s\": expected an integer id, found %s", path,
                            item->string, json_kind(item));
      break;
    }
    size_t klen = strlen(item->string);
    uint64_t h = hash_bytes(item->string, klen);
    vocab_slot *slot = vocab_slot_for(tok, item->string, klen, h);
    /* A repeated key keeps its last id, as Python's json.load does. */
    if (!slot->key) {
      memcpy(dst, item->string, klen + 1);
      *slot = (vocab_slot){ (uint32_t) (dst - tok->strings) + 1, (uint32_t) (h >> 32),
                            (uint32_t) klen, 0 };
      dst += klen + 1;
    }
    slot->id = (int32_t) v;
  }
  cJSON_Delete(root);
  if (st != CLIP_OK)
    return st;
  if ((st = vocab_check_ids(tok, err)) != CLIP_OK)
    return st;

  tok->sot = vocab_find(tok, SOT_STRING, strlen(SOT_STRING));
  tok->eot = vocab_find(tok, EOT_STRING, strlen(EOT_STRING));
  tok->unk = vocab_find(tok, UNK_STRING, strlen(UNK_STRING));
  if (tok->sot < 0 || tok->eot < 0)
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s: the special token \"%s\" is missing", path,
                          tok->sot < 0 ? SOT_STRING : EOT_STRING);
  return CLIP_OK;
}

/* Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for themselves; the other
 * 68 bytes, in order, for U+0100, U+0101, ... (GPT-2's byte symbols). */
static void
byte_symbols_init(clip_tokenizer *tok)
{
  int shifted = 0;
  for (int b = 0; b < 256; b++) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    gunichar c = printable ? (gunichar) b : (gunichar) (0x100 + shifted++);
    char s[16];
    int len = g_unichar_to_utf8(c, s);
    for (int last = 0; last < 2; last++) {
      int n = len;
      if (last) {
        memcpy(s + len, "</w>", 4);
        n += 4;
      }
      int32_t id = vocab_find(tok, s, (size_t) n);
      tok->byte_symbol[b][last] = id >= 0 ? id : -1 - (b | last << 8);
    }
  }
}

/* One merges.txt line: "left right" (spaces or tabs between). */
static clip_status
merge_add(clip_tokenizer *tok, const char *path, int line_no, const char *line, size_t len,
          clip_error *err)
{
  const char *part[3];
  size_t plen[3];
  int parts = 0;
  for (size_t i = 0; i < len;) {
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
      i++;
    if (i == len)
      break;
    size_t b = i;
    while (i < len && line[i] != ' ' && line[i] != '\t')
      i++;
    if (parts < 3) {
      part[parts] = line + b;
      plen[parts] = i - b;
    }
    parts++;
  }
  if (parts != 2)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s:%d: expected two symbols separated by a space, found %d: \"%.*s\"",
                          path, line_no, parts, (int) MIN(len, 200), line);
  int32_t id[2];
  for (int k = 0; k < 2; k++) {
    id[k] = vocab_find(tok, part[k], plen[k]);
    if (id[k] < 0)
      return clip_set_error(err, CLIP_ERR_FORMAT, "%s:%d: symbol \"%.*s\" is not in %s", path,
                            line_no, (int) MIN(plen[k], 200), part[k], tok->vocab_path);
  }
  char buf[256];
  char *joined = plen[0] + plen[1] <= sizeof buf ? buf : malloc(plen[0] + plen[1]);
  if (!joined)
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s:%d: out of memory", path, line_no);
  memcpy(joined, part[0], plen[0]);
  memcpy(joined + plen[0], part[1], plen[1]);
  int32_t merged = vocab_find(tok, joined, plen[0] + plen[1]);
  if (joined != buf)
    free(joined);
  if (merged < 0)
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s:%d: the merge \"%.*s%.*s\" is not in %s", path,
                          line_no, (int) MIN(plen[0], 200), part[0], (int) MIN(plen[1], 200),
                          part[1], tok->vocab_path);
  merge_slot *slot = merge_slot_for(tok, id[0], id[1]);
  /* A repeated pair takes its last rank, as CLIP's dict(zip(merges, ...)). */
  slot->key = (uint64_t) (uint32_t) id[0] << 32 | (uint32_t) id[1];
  slot->rank = tok->n_merges++;
  slot->merged = merged;
  return CLIP_OK;
}

static clip_status
merges_load(clip_tokenizer *tok, const char *path, clip_error *err)
{
  char *data = NULL;
  size_t len = 0;
  clip_status st = read_file(path, "merges", &data, &len, err);
  if (st != CLIP_OK)
    return st;
  /* Trailing line breaks (LF or CRLF) are not lines. */
  while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
    len--;
  size_t lines = 1;
  for (size_t i = 0; i < len; i++)
    lines += data[i] == '\n';
  size_t slots = table_size(lines, 2, 1);
  tok->merges = slots ? malloc(slots * sizeof *tok->merges) : NULL;
  if (!tok->merges) {
    free(data);
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory for %zu merges", path, lines);
  }
  for (size_t i = 0; i < slots; i++)
    tok->merges[i].key = UINT64_MAX;
  tok->merge_mask = slots - 1;

  int line_no = 0;
  for (size_t pos = 0; pos < len && st == CLIP_OK;) {
    const char *nl = memchr(data + pos, '\n', len - pos);
    size_t end = nl ? (size_t) (nl - data) : len, n = end - pos;
    const char *line = data + pos;
    pos = end + 1;
    if (++line_no > INT32_MAX - 1) {
      st = clip_set_error(err, CLIP_ERR_FORMAT, "%s: too many lines", path);
      break;
    }
    if (n && line[n - 1] == '\r')
      n--;
    if (line_no == 1 && n >= 8 && !memcmp(line, "#version", 8))
      continue;
    st = merge_add(tok, path, line_no, line, n, err);
  }
  free(data);
  return st;
}

clip_tokenizer *
clip_tokenizer_load(const char *vocab_path, const char *merges_path, clip_error *err)
{
  if (!vocab_path || !merges_path)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_tokenizer_load: NULL path"), NULL;
  clip_tokenizer *tok = calloc(1, sizeof *tok);
  if (!tok || !(tok->vocab_path = strdup(vocab_path))) {
    free(tok);
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory", vocab_path), NULL;
  }
  if (vocab_load(tok, vocab_path, err) != CLIP_OK
      || merges_load(tok, merges_path, err) != CLIP_OK) {
    clip_tokenizer_free(tok);
    return NULL;
  }
  byte_symbols_init(tok);
  return tok;
}

void
clip_tokenizer_free(clip_tokenizer *tok)
{
  if (!tok)
    return;
  free(tok->merges);
  free(tok->vocab);
  free(tok->strings);
  free(tok->vocab_path);
  free(tok);
}

int32_t
clip_tokenizer_sot(const clip_tokenizer *tok)
{
  return tok ? tok->sot : -1;
}

int32_t
clip_tokenizer_eot(const clip_tokenizer *tok)
{
  return tok ? tok->eot : -1;
}

int
clip_tokenizer_vocab_size(const clip_tokenizer *tok)
{
  return tok ? tok->vocab_size : 0;
}

/* ---- encoding ---------------------------------------------------------- */

typedef struct {
  int32_t *ids;
  size_t cap, n;
} id_sink;

static void
emit(id_sink *out, int32_t id)
{
  if (out->n < out->cap)
    out->ids[out->n] = id;
  out->n++;
}

/* Scratch for one pre-token: its UTF-8 bytes, its symbols as a linked
 * list, the merge queue, and the positions merged in one round. */
typedef struct {
  char *bytes;
  int32_t *sym, *next, *prev;
  uint32_t *touched;
  void *heap;
  bool slow; /* the reference merge loop */
} bpe_scratch;

static bool
is_letter(gunichar c)
{
  switch (g_unichar_type(c)) {
  case G_UNICODE_UPPERCASE_LETTER:
  case G_UNICODE_LOWERCASE_LETTER:
  case G_UNICODE_TITLECASE_LETTER:
  case G_UNICODE_MODIFIER_LETTER:
  case G_UNICODE_OTHER_LETTER: return true;
  default: return false;
  }
}

static bool
is_number(gunichar c)
{
  switch (g_unichar_type(c)) {
  case G_UNICODE_DECIMAL_NUMBER:
  case G_UNICODE_LETTER_NUMBER:
  case G_UNICODE_OTHER_NUMBER: return true;
  default: return false;
  }
}

/* Length of the literal at t (case-insensitively, as CLIP's pattern has
 * re.IGNORECASE: after lower-casing only U+017F ſ still matches 's'), or 0. */
static size_t
match_literal(const gunichar *t, size_t n, const char *lit)
{
  size_t len = strlen(lit);
  if (len > n)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (t[i] != (gunichar) lit[i] && !(lit[i] == 's' && t[i] == 0x17F))
      return 0;
  return len;
}

/* Length of the pre-token at t[0] (which is not a space): CLIP's pattern
 * <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ */
static size_t
pretoken_length(const gunichar *t, size_t n)
{
  static const char *const literals[] = {
    SOT_STRING, EOT_STRING, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
  };
  for (size_t k = 0; k < G_N_ELEMENTS(literals); k++) {
    size_t len = match_literal(t, n, literals[k]);
    if (len)
      return len;
  }
  size_t len = 1;
  if (is_letter(t[0])) {
    while (len < n && is_letter(t[len]))
      len++;
  } else if (!is_number(t[0])) {
    while (len < n && t[len] != ' ' && !is_letter(t[len]) && !is_number(t[len]))
      len++;
  }
  return len;
}

/* A pair of adjacent symbols waiting in the merge queue: its rank, and
 * the position of its left symbol (positions keep the word's order). */
typedef struct {
  int32_t rank;
  uint32_t pos;
} bpe_pair;

static bool
pair_before(bpe_pair a, bpe_pair b)
{
  return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void
heap_push(bpe_pair *heap, size_t *n, bpe_pair p)
{
  size_t i = (*n)++;
  while (i > 0 && pair_before(p, heap[(i - 1) / 2])) {
    heap[i] = heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  heap[i] = p;
}

static bpe_pair
heap_pop(bpe_pair *heap, size_t *n)
{
  bpe_pair top = heap[0], last = heap[--(*n)];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n)
      break;
    if (c + 1 < *n && pair_before(heap[c + 1], heap[c]))
      c++;
    if (!pair_before(heap[c], last))
      break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = last;
  return top;
}

#define DEAD_SYMBOL INT32_MIN

/* BPE on one pre-token's symbols; returns the number left in s->sym.
 * CLIP merges the lowest-ranked pair, every occurrence left to right, then
 * looks again. The same, in O(n log n): symbols form a linked list, pairs
 * wait in a heap ordered by (rank, position), and all pairs of one rank are
 * merged before the pairs those merges create are queued (a new pair may
 * rank lower, and must not jump ahead of the remaining occurrences). A
 * merge never recreates its own pair (the merged string is longer than
 * either half), so a queued pair is current iff its symbols still rank so. */
static size_t
bpe_merge(const clip_tokenizer *tok, bpe_scratch *s, size_t n)
{
  if (n < 2)
    return n;
  int32_t *sym = s->sym, *next = s->next, *prev = s->prev;
  uint32_t *touched = s->touched;
  bpe_pair *heap = s->heap;
  size_t queued = 0;
  for (size_t i = 0; i < n; i++) {
    next[i] = (int32_t) i + 1;
    prev[i] = (int32_t) i - 1;
  }
  for (size_t i = 0; i + 1 < n; i++) {
    int32_t r = merge_rank(tok, sym[i], sym[i + 1]);
    if (r != NO_RANK)
      heap_push(heap, &queued, (bpe_pair){ r, (uint32_t) i });
  }
  while (queued) {
    int32_t rank = heap[0].rank;
    size_t n_touched = 0;
    while (queued && heap[0].rank == rank) {
      uint32_t pos = heap_pop(heap, &queued).pos;
      int32_t nx = next[pos];
      if (sym[pos] == DEAD_SYMBOL || (size_t) nx >= n || merge_rank(tok, sym[pos], sym[nx]) != rank)
        continue; /* stale: a symbol was merged away since it was queued */
      sym[pos] = merge_slot_for(tok, sym[pos], sym[nx])->merged;
      sym[nx] = DEAD_SYMBOL;
      next[pos] = next[nx];
      if ((size_t) next[nx] < n)
        prev[next[nx]] = (int32_t) pos;
      touched[n_touched++] = pos;
    }
    /* Each merged symbol queues its pairs with both neighbours (a pair
     * queued twice is stale the second time). */
    for (size_t k = 0; k < n_touched; k++) {
      uint32_t pos = touched[k];
      int32_t pv = prev[pos], nx = next[pos];
      int32_t r;
      if (pv >= 0 && (r = merge_rank(tok, sym[pv], sym[pos])) != NO_RANK)
        heap_push(heap, &queued, (bpe_pair){ r, (uint32_t) pv });
      if ((size_t) nx < n && (r = merge_rank(tok, sym[pos], sym[nx])) != NO_RANK)
        heap_push(heap, &queued, (bpe_pair){ r, pos });
    }
  }
  size_t j = 0;
  for (size_t i = 0; i < n; i = (size_t) next[i])
    sym[j++] = sym[i];
  return j;
}

/* The merge loop as CLIP writes it, quadratic in the word length: the
 * reference the fast one is checked against (tests, fuzzing). */
static size_t
bpe_merge_slow(const clip_tokenizer *tok, bpe_scratch *s, size_t n)
{
  int32_t *sym = s->sym, *rank = s->next;
  for (size_t i = 0; i + 1 < n; i++)
    rank[i] = merge_rank(tok, sym[i], sym[i + 1]);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; i++)
      if (rank[i] < rank[best])
        best = i;
    if (rank[best] == NO_RANK)
      break;
    int32_t first = sym[best], second = sym[best + 1];
    int32_t merged = merge_slot_for(tok, first, second)->merged;
    /* Merge every occurrence left to right, in place; a pair's rank is looked
     * up again only when one of its symbols is new. */
    size_t j = 0;
    bool prev_copied = false;
    for (size_t i = 0; i < n;) {
      if (i + 1 < n && sym[i] == first && sym[i + 1] == second) {
        sym[j] = merged;
        if (j > 0)
          rank[j - 1] = merge_rank(tok, sym[j - 1], merged);
        prev_copied = false;
        i += 2;
      } else {
        int32_t c = sym[i];
        if (j > 0)
          rank[j - 1] = prev_copied ? rank[i - 1] : merge_rank(tok, sym[j - 1], c);
        sym[j] = c;
        prev_copied = true;
        i++;
      }
      j++;
    }
    n = j;
  }
  return n;
}

static clip_status
encode_pretoken(const clip_tokenizer *tok, const gunichar *t, size_t len, bpe_scratch *s,
                id_sink *out, clip_error *err)
{
  size_t nbytes = 0;
  for (size_t i = 0; i < len; i++)
    nbytes += (size_t) g_unichar_to_utf8(t[i], s->bytes + nbytes);
  /* CLIP's cache maps the two special tokens to themselves. */
  if (nbytes == strlen(SOT_STRING) && !memcmp(s->bytes, SOT_STRING, nbytes)) {
    emit(out, tok->sot);
    return CLIP_OK;
  }
  if (nbytes == strlen(EOT_STRING) && !memcmp(s->bytes, EOT_STRING, nbytes)) {
    emit(out, tok->eot);
    return CLIP_OK;
  }
  for (size_t i = 0; i < nbytes; i++)
    s->sym[i] = tok->byte_symbol[(unsigned char) s->bytes[i]][i + 1 == nbytes];
  size_t n = s->slow ? bpe_merge_slow(tok, s, nbytes) : bpe_merge(tok, s, nbytes);
  for (size_t i = 0; i < n; i++) {
    int32_t id = s->sym[i];
    if (id < 0 && tok->unk >= 0) {
      id = tok->unk;
    } else if (id < 0) {
      int code = -1 - id;
      return clip_set_error(err, CLIP_ERR_FORMAT,
                            "%s has no symbol for byte 0x%02X%s (needed to encode \"%.*s\"), "
                            "and no \"" UNK_STRING "\" token to use instead",
                            tok->vocab_path, code & 0xFF, code >> 8 ? " at the end of a word" : "",
                            (int) MIN(nbytes, 100), s->bytes);
    }
    emit(out, id);
  }
  return CLIP_OK;
}

static clip_status
encode(const clip_tokenizer *tok, const char *text, int32_t *ids, size_t cap, size_t *n, bool slow,
       clip_error *err)
{
  if (!tok || !text || !n || (cap && !ids))
    return clip_set_error(err, CLIP_ERR_ARG, "clip_tokenizer_encode: NULL argument");
  /* Cleaning and merging cost grows faster than the length (NFC orders
   * runs of combining marks, ftfy re-decodes), and CLIP reads 77 tokens:
   * refusing what no prompt needs bounds the time (docs/tokenizer.md). */
  size_t text_len = strnlen(text, CLIP_TOKENIZER_MAX_BYTES + 1);
  if (text_len > CLIP_TOKENIZER_MAX_BYTES)
    return clip_set_error(err, CLIP_ERR_ARG,
                          "text is longer than %d bytes, the most a prompt may have (CLIP reads "
                          "only its first 77 tokens)",
                          CLIP_TOKENIZER_MAX_BYTES);
  const char *bad = NULL;
  if (!g_utf8_validate(text, -1, &bad))
    return clip_set_error(err, CLIP_ERR_ARG, "text is not valid UTF-8: byte 0x%02X at offset %zu",
                          (unsigned char) *bad, (size_t) (bad - text));

  size_t len = 0;
  gunichar *t = clip_text_clean(text, &len);
  bpe_scratch s = { .slow = slow };
  if (t && len < SIZE_MAX / 8 / sizeof(bpe_pair)) {
    size_t syms = len * 4 + 1; /* UTF-8 bytes of the longest pre-token */
    s.bytes = malloc(syms);
    s.sym = malloc(syms * sizeof *s.sym);
    s.next = malloc(syms * sizeof *s.next);
    s.prev = malloc(syms * sizeof *s.prev);
    s.touched = malloc(syms * sizeof *s.touched);
    /* The first pairs, then at most two more per merge. */
    s.heap = malloc(3 * syms * sizeof(bpe_pair));
  }
  clip_status st = CLIP_OK;
  if (!t || !s.bytes || !s.sym || !s.next || !s.prev || !s.touched || !s.heap)
    st = clip_set_error(err, CLIP_ERR_NOMEM, "out of memory tokenizing %zu bytes", text_len);

  id_sink out = { ids, cap, 0 };
  emit(&out, tok->sot);
  for (size_t i = 0; i < len && st == CLIP_OK;) {
    /* Cleanup has turned every run of \s into one space. */
    if (t[i] == ' ') {
      i++;
      continue;
    }
    size_t plen = pretoken_length(t + i, len - i);
    st = encode_pretoken(tok, t + i, plen, &s, &out, err);
    i += plen;
  }
  emit(&out, tok->eot);
  free(s.heap);
  free(s.touched);
  free(s.prev);
  free(s.next);
  free(s.sym);
  free(s.bytes);
  free(t);
  *n = st == CLIP_OK ? out.n : 0;
  return st;
}

clip_status
clip_tokenizer_encode(const clip_tokenizer *tok, const char *text, int32_t *ids, size_t cap,
                      size_t *n, clip_error *err)
{
  return encode(tok, text, ids, cap, n, false, err);
}

clip_status
clip_tokenizer_encode_slow(const clip_tokenizer *tok, const char *text, int32_t *ids, size_t cap,
                           size_t *n, clip_error *err)
{
  return encode(tok, text, ids, cap, n, true, err);
}

clip_status
clip_tokenizer_encode_padded(const clip_tokenizer *tok, const char *text, int32_t *ids,
                             size_t context, clip_error *err)
{
  if (!ids || context == 0)
    return clip_set_error(err, CLIP_ERR_ARG, "clip_tokenizer_encode_padded: %s",
                          ids ? "context length 0" : "NULL argument");
  size_t n = 0;
  clip_status st = clip_tokenizer_encode(tok, text, ids, context, &n, err);
  if (st != CLIP_OK)
    return st;
  if (n > context)
    ids[context - 1] = tok->eot;
  for (size_t i = n; i < context; i++)
    ids[i] = 0;
  return CLIP_OK;
}
