"""A byte-level BPE in the exact format and id layout of OpenAI's CLIP
tokenizer, trained on our own captions (no OpenAI vocabulary is used).

Id layout: 0-255 the byte symbols in CLIP's byte order, 256-511 the same
with "</w>", then one id per merge in rank order, then <|startoftext|> and
<|endoftext|>. Text cleanup and pre-tokenization follow CLIP (without ftfy,
which only matters for text that ftfy would repair).
"""
import html
import json
import re
import unicodedata

SOT = "<|startoftext|>"
EOT = "<|endoftext|>"


def bytes_to_unicode():
    """CLIP's reversible byte -> printable character map, in id order."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
          + list(range(ord("\xae"), ord("\xff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return list(zip(bs, [chr(c) for c in cs]))


BYTE_ORDER = bytes_to_unicode()
BYTE_TO_CHAR = dict(BYTE_ORDER)


def clean(text):
    """CLIP's cleanup (minus ftfy): HTML-unescape twice, collapse whitespace, lower."""
    text = html.unescape(html.unescape(text)).strip()
    text = re.sub(r"\s+", " ", text).strip()
    return text.lower()


_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def _cat(ch):
    c = unicodedata.category(ch)
    if c[0] == "L":
        return "L"
    if c[0] == "N":
        return "N"
    if ch.isspace():
        return "S"
    return "O"


def pretokenize(text):
    """CLIP's pre-tokenizer regex:
    <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"""
    out, i, n = [], 0, len(text)
    while i < n:
        special = next((s for s in (SOT, EOT) if text[i:i + len(s)].lower() == s), None)
        if special:
            out.append(text[i:i + len(special)])
            i += len(special)
            continue
        m = next((c for c in _CONTRACTIONS if text[i:i + len(c)].lower() == c), None)
        if m:
            out.append(text[i:i + len(m)])
            i += len(m)
            continue
        k = _cat(text[i])
        if k == "S":
            i += 1
        elif k == "N":
            out.append(text[i])
            i += 1
        else:
            j = i + 1
            while j < n and _cat(text[j]) == k:
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _symbols(token):
    chars = [BYTE_TO_CHAR[b] for b in token.encode("utf-8")]
    chars[-1] += "</w>"
    return tuple(chars)


def _merge(word, pair, joined):
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(joined)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train(texts, max_merges=2000, min_count=2):
    """Merges (in rank order) learned from the texts' pre-tokens."""
    counts = {}
    for t in texts:
        for tok in pretokenize(clean(t)):
            counts[tok] = counts.get(tok, 0) + 1
    words = {_symbols(w): c for w, c in sorted(counts.items())}
    vocab = {c for _, c in BYTE_ORDER} | {c + "</w>" for _, c in BYTE_ORDER}
    merges = []
    while len(merges) < max_merges:
        pairs = {}
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] = pairs.get(p, 0) + c
        # most frequent first, ties broken by the pair itself: deterministic
        best = None
        for p, c in sorted(pairs.items(), key=lambda pc: (-pc[1], pc[0])):
            if c < min_count:
                break
            if p[0] + p[1] not in vocab:  # every vocabulary string has one id
                best = p
                break
        if best is None:
            break
        joined = best[0] + best[1]
        merges.append(best)
        vocab.add(joined)
        words = {_merge(w, best, joined): c for w, c in words.items()}
    return merges


class Tokenizer:
    """Encodes text with a merges list exactly as CLIP's SimpleTokenizer does."""

    def __init__(self, merges):
        self.merges = list(merges)
        self.ranks = {tuple(m): i for i, m in enumerate(self.merges)}
        vocab = [c for _, c in BYTE_ORDER]
        vocab += [c + "</w>" for c in vocab]
        vocab += ["".join(m) for m in self.merges]
        vocab += [SOT, EOT]
        self.encoder = {v: i for i, v in enumerate(vocab)}
        assert len(self.encoder) == len(vocab), "duplicate vocabulary string"
        self.sot = self.encoder[SOT]
        self.eot = self.encoder[EOT]
        self.cache = {}

    @property
    def vocab_size(self):
        return len(self.encoder)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = _symbols(token)
        while len(word) > 1:
            pair = min(zip(word, word[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            word = _merge(word, pair, pair[0] + pair[1])
        self.cache[token] = word
        return word

    def encode(self, text):
        """SOT + ids + EOT, untruncated."""
        ids = [self.sot]
        for tok in pretokenize(clean(text)):
            low = tok.lower()
            if low == SOT:
                ids.append(self.sot)
            elif low == EOT:
                ids.append(self.eot)
            else:
                ids += [self.encoder[s] for s in self.bpe(tok)]
        ids.append(self.eot)
        return ids

    def encode_padded(self, text, length):
        """Exactly `length` ids, zero padded; too long: ids[:length-1] + EOT."""
        ids = self.encode(text)
        if len(ids) > length:
            ids = ids[:length - 1] + [self.eot]
        return ids + [0] * (length - len(ids))

    def write(self, directory):
        """vocab.json and merges.txt in the layout of the hub's CLIP files."""
        with open(f"{directory}/vocab.json", "w", encoding="utf-8") as f:
            f.write(json.dumps(self.encoder, ensure_ascii=False, sort_keys=True))
        with open(f"{directory}/merges.txt", "w", encoding="utf-8") as f:
            f.write("\n".join(["#version: 0.2"] + [f"{a} {b}" for a, b in self.merges]))

    @classmethod
    def read(cls, directory):
        with open(f"{directory}/merges.txt", encoding="utf-8") as f:
            lines = f.read().split("\n")[1:]
        return cls([tuple(line.split(" ")) for line in lines if line])
