"""Writes words.txt next to the shipped model: every word its training
captions contain, one a line, sorted. The element warns about prompt words
outside this list (the shipped model has never seen them, so its scores for
them mean nothing). Words are CLIP's pre-tokenizer letter runs, lowercased,
exactly as the model's BPE saw them.

    python3 models/words.py [OUT]   (default models/clipfilter-mini/words.txt)

Runs with the standard library alone: scenes.py's numpy and PIL imports
serve frame rendering, which the caption lists do not use, so stand-ins
take their place when they are missing. No training is run."""
import os
import sys
import types

import bpe

for _name in ("numpy", "PIL"):
    try:
        __import__(_name)
    except ImportError:
        sys.modules[_name] = types.ModuleType(_name)
if not hasattr(sys.modules["PIL"], "Image"):
    sys.modules["PIL"].Image = sys.modules["PIL"].ImageDraw = None
import scenes  # noqa: E402


def training_words():
    words = set()
    for caption in scenes.all_training_captions():
        for token in bpe.pretokenize(bpe.clean(caption)):
            if token.isalpha():
                words.add(token)
    return sorted(words)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "clipfilter-mini", "words.txt")
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(w + "\n" for w in training_words()))


if __name__ == "__main__":
    main()
