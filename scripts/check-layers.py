#!/usr/bin/env python3
"""Checks that the engine's dependencies point one way: down.

The engine (src/, public header include/clip.h) is built in layers, lowest
first in LAYERS below. A file may include headers of its own layer or of a
lower one, never of a higher one, and may not call a function that a file
of a higher layer defines (a call through a hand-written prototype is an
upward arrow too). The element (gst/) sees the engine through its public
header only, and no engine file includes a GStreamer header.

    check-layers.py [--root DIR]   check the tree at DIR (default: this
                                   script's repository); exit 1 on a finding
    check-layers.py --self-test    check that the checker catches each kind
                                   of finding on a copy of the tree

Python 3 standard library only.
"""

import argparse
import fnmatch
import os
import re
import shutil
import sys
import tempfile

# The layers, lowest first: (name, file patterns relative to the root).
# Every file of src/ and include/ must match exactly one pattern.
LAYERS = [
    # Status codes, error reports, parameter types and regular-file reading
    # shared by every layer.
    # clip.h also declares the public functions; they are implemented above,
    # and the call check below keeps lower layers from calling them.
    # Finding a model by name (resolve.c) uses nothing else of the engine.
    ("base", ["include/clip.h", "src/error.h", "src/error.c", "src/readfile.[ch]",
              "src/resolve.c"]),
    # Self-contained formats: safetensors files, the BPE tokenizer and its
    # text cleanup, the prompt syntax, frame preprocessing.
    ("formats", ["src/safetensors.[ch]", "src/tokenizer.[ch]", "src/textclean.[ch]",
                 "src/html-entities.h", "src/prompts.[ch]", "src/preprocess.[ch]"]),
    # The loaded model: its layer tensors, the checkpoint loader that fills
    # it (and reads its configuration), and the preparation that hands its
    # layers to a backend's hook.
    ("model", ["src/tensors.h", "src/model.[ch]", "src/checkpoint.[ch]",
               "src/model-config.[ch]"]),
    # The oneDNN matrix-product library behind the ops boundary: the
    # products, the packed-weight file, bf16 conversions, and the stand-in
    # of a build without oneDNN.
    ("backends", ["src/backend-onednn.[ch]", "src/onednn-pack.[ch]", "src/onednn-bf16.c",
                  "src/onednn-unbuilt.c"]),
    # Kernels, the OpenBLAS backend and its worker threads, backend dispatch.
    ("ops", ["src/ops.[ch]", "src/pool.[ch]"]),
    # A forward pass's context (backend state, scratch memory, debug hook).
    ("context", ["src/context.[ch]", "src/debug.[ch]"]),
    # The residual block both towers share and the loop over a tower's blocks.
    ("transformer", ["src/transformer.[ch]"]),
    # The image and text towers.
    ("towers", ["src/vision.[ch]", "src/text.[ch]"]),
    # The public API: loading, checked entry points, label embeddings, scores.
    ("api", ["src/clip.c", "src/score.[ch]"]),
    # clip-tool: a client of the engine (it may read internals to measure them).
    ("tool", ["src/tool/*.[ch]"]),
]

# The only engine header the element may include.
PUBLIC_HEADERS = {"include/clip.h"}

SOURCE_EXT = (".c", ".h")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
# A function definition with external linkage in the project's style: the
# name at the start of a line, after a return type (not static) on the line
# before.
DEFINITION_RE = re.compile(r"^(?!static\b)[A-Za-z_][^\n;(){}#=]*\n([A-Za-z_]\w*)\s*\(", re.M)
COMMENT_OR_STRING_RE = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
                                  re.S)


def layer_of(rel):
    """Index in LAYERS of the file rel (posix path from the root), or None."""
    for i, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatch(rel, p) for p in patterns):
            return i
    return None


def source_files(root, top):
    out = []
    base = os.path.join(root, top)
    for dirpath, _, names in os.walk(base):
        for n in names:
            if n.endswith(SOURCE_EXT):
                out.append(os.path.relpath(os.path.join(dirpath, n), root).replace(os.sep, "/"))
    return sorted(out)


def resolve(root, rel, name):
    """The file a quoted include names: beside the includer, then include/,
    then src/ (the engine's include path); None for anything else."""
    for d in (os.path.dirname(rel), "include", "src"):
        cand = os.path.normpath(os.path.join(d, name)).replace(os.sep, "/")
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        return f.read()


def code_only(text):
    """The text without comments, string and character literals."""
    return COMMENT_OR_STRING_RE.sub(lambda m: " " if m.group(0)[0] in "/" else '""', text)


def check(root):
    """All findings for the tree at root, as 'file: message' strings."""
    findings = []
    engine = source_files(root, "src") + source_files(root, "include")
    layers = {}
    for rel in engine:
        i = layer_of(rel)
        if i is None:
            findings.append(f"{rel}: not in any layer: add it to LAYERS in {os.path.basename(__file__)}")
        else:
            layers[rel] = i

    texts = {rel: read(root, rel) for rel in layers}
    for rel, i in layers.items():
        for m in INCLUDE_RE.finditer(code_only_keep_includes(texts[rel])):
            kind, name = m.group(1), m.group(2)
            if kind == "<":
                if name.startswith("gst/") and not rel.startswith("src/tool/"):
                    findings.append(f"{rel}: includes <{name}>: the engine has no GStreamer dependency")
                continue
            target = resolve(root, rel, name)
            if target is None or target not in layers:
                continue
            j = layers[target]
            if j > i:
                findings.append(f'{rel}: includes "{name}" ({target}, layer {LAYERS[j][0]}) '
                                f"from the lower layer {LAYERS[i][0]}")

    # Calls: a function defined in a higher layer is called in the code of a
    # lower one (headers only declare; the public header declares them all).
    defined = {}
    for rel, i in layers.items():
        if rel.endswith(".c"):
            for name in DEFINITION_RE.findall(code_only(texts[rel])):
                defined.setdefault(name, (i, rel))
    for rel, i in layers.items():
        if not rel.endswith(".c"):
            continue
        code = code_only(texts[rel])
        for name, (j, where) in sorted(defined.items()):
            if j > i and re.search(r"\b" + re.escape(name) + r"\s*\(", code):
                findings.append(f"{rel}: calls {name}() (defined in {where}, layer {LAYERS[j][0]}) "
                                f"from the lower layer {LAYERS[i][0]}")

    # The element: the public header only, of all the engine's headers.
    for rel in source_files(root, "gst"):
        for m in INCLUDE_RE.finditer(code_only_keep_includes(read(root, rel))):
            if m.group(1) != '"':
                continue
            name = m.group(2)
            beside = os.path.normpath(os.path.join(os.path.dirname(rel), name))
            if os.path.isfile(os.path.join(root, beside)):
                continue  # the element's own headers
            target = resolve(root, "src/x", name)
            if target in layers and target not in PUBLIC_HEADERS:
                findings.append(f'{rel}: includes "{name}" ({target}): the element uses the '
                                f"engine through include/clip.h only")
    return findings


def code_only_keep_includes(text):
    """The text without comments (include lines keep their quoted names)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text,
                  flags=re.S)


def self_test(root):
    """Each kind of finding, planted in a copy of the tree, must be reported
    (naming the file and what it includes or calls); the copy as it is must
    pass. Returns the failures."""
    cases = [
        ("src/ops.h", '#include "context.h"\n', ["src/ops.h", '"context.h"', "layer context"]),
        ("src/model.c", '#include "ops.h"\n', ["src/model.c", '"ops.h"', "lower layer model"]),
        ("src/ops.c", "void f(void) { clip_default_params(); }\n",
         ["src/ops.c", "clip_default_params()", "layer api"]),
        ("src/transformer.c", "#include <gst/gst.h>\n", ["src/transformer.c", "<gst/gst.h>"]),
        ("gst/planted.c", '#include "model.h"\n', ["gst/planted.c", '"model.h"']),
        ("src/planted.c", "int planted;\n", ["src/planted.c", "not in any layer"]),
    ]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for top in ("src", "include", "gst"):
            if os.path.isdir(os.path.join(root, top)):
                shutil.copytree(os.path.join(root, top), os.path.join(tmp, top))
        clean = check(tmp)
        if clean:
            failures.append("the unmodified tree has findings:\n  " + "\n  ".join(clean))
        for rel, line, expect in cases:
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            before = read(tmp, rel) if os.path.exists(path) else None
            with open(path, "a", encoding="utf-8") as f:
                f.write(line)
            found = [f for f in check(tmp) if f.startswith(rel + ":")]
            if not any(all(e in f for e in expect) for f in found):
                failures.append(f"{rel} + {line.strip()!r}: expected a finding with {expect}, "
                                f"got {found or 'none'}")
            if before is None:
                os.remove(path)
            else:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(before)
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="the repository to check (default: this script's)")
    ap.add_argument("--self-test", action="store_true",
                    help="check the checker on a copy of the tree with planted findings")
    args = ap.parse_args()
    if args.self_test:
        failures = self_test(args.root)
        for f in failures:
            print("self-test: " + f, file=sys.stderr)
        print(f"self-test: {'FAILED' if failures else 'ok'}")
        return 1 if failures else 0
    findings = check(args.root)
    for f in findings:
        print(f, file=sys.stderr)
    n = sum(1 for _ in source_files(args.root, "src")) + len(source_files(args.root, "include"))
    print(f"check-layers: {n} engine files, {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
