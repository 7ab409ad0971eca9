#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus (fuzz/corpus/) and the regression
inputs known to have crashed or misbehaved (fuzz/regressions/): small
hand-made files, deterministic, so the committed bytes can be regenerated.
Usage: fuzz/make-seeds.py  (from the source root)"""
import json
import os
import random
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(1)


def put(kind, name, data):
    path = os.path.join(ROOT, kind, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, bytes); header padded to 8."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def floats(shape, dtype="F32", value=None):
    vals = [value if value is not None else rng.uniform(-0.5, 0.5) for _ in range(count(shape))]
    if dtype == "F16":
        return struct.pack("<%de" % len(vals), *vals)
    return struct.pack("<%df" % len(vals), *vals)


def model(naming, tw=8, vw=8, mlp=16, layers=1, vocab=8, ctx=4, image=4, patch=2, dim=4,
          dtype="F32"):
    g = image // patch
    t = []

    def add(name, shape, value=None):
        t.append((name, dtype, shape, floats(shape, dtype, value)))

    def norm(prefix, w):
        add(prefix + "weight", [w], 1.0)
        add(prefix + "bias", [w], 0.0)

    # The two layouts' names, in one table: (Hugging Face, open_clip).
    names = {
        "ln1": ("layer_norm1.", "ln_1."),
        "ln2": ("layer_norm2.", "ln_2."),
        "out": ("self_attn.out_proj.", "attn.out_proj."),
        "fc1": ("mlp.fc1.", "mlp.c_fc."),
        "fc2": ("mlp.fc2.", "mlp.c_proj."),
        "tokens": ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
        "text_pos": ("text_model.embeddings.position_embedding.weight", "positional_embedding"),
        "text_block": ("text_model.encoder.layers.%d.", "transformer.resblocks.%d."),
        "final": ("text_model.final_layer_norm.", "ln_final."),
        "text_proj": ("text_projection.weight", "text_projection"),
        "patch": ("vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"),
        "class": ("vision_model.embeddings.class_embedding", "visual.class_embedding"),
        "image_pos": ("vision_model.embeddings.position_embedding.weight",
                      "visual.positional_embedding"),
        "pre": ("vision_model.pre_layrnorm.", "visual.ln_pre."),
        "image_block": ("vision_model.encoder.layers.%d.", "visual.transformer.resblocks.%d."),
        "post": ("vision_model.post_layernorm.", "visual.ln_post."),
        "image_proj": ("visual_projection.weight", "visual.proj"),
    }
    hf = naming == "hf"

    def n(role):
        return names[role][0 if hf else 1]

    def linear(prefix, rows, cols):
        add(prefix + "weight", [rows, cols])
        add(prefix + "bias", [rows])

    def block(prefix, w):
        norm(prefix + n("ln1"), w)
        norm(prefix + n("ln2"), w)
        if hf:
            for p in "qkv":
                linear(prefix + "self_attn.%s_proj." % p, w, w)
        else:
            add(prefix + "attn.in_proj_weight", [3 * w, w])
            add(prefix + "attn.in_proj_bias", [3 * w])
        linear(prefix + n("out"), w, w)
        linear(prefix + n("fc1"), mlp, w)
        linear(prefix + n("fc2"), w, mlp)

    # open_clip stores the projections transposed
    add(n("tokens"), [vocab, tw])
    add(n("text_pos"), [ctx, tw])
    for i in range(layers):
        block(n("text_block") % i, tw)
    norm(n("final"), tw)
    add(n("text_proj"), [dim, tw] if hf else [tw, dim])
    add(n("patch"), [vw, 3, patch, patch])
    add(n("class"), [vw])
    add(n("image_pos"), [1 + g * g, vw])
    norm(n("pre"), vw)
    for i in range(layers):
        block(n("image_block") % i, vw)
    norm(n("post"), vw)
    add(n("image_proj"), [dim, vw] if hf else [vw, dim])
    t.append(("logit_scale", "F32", [], struct.pack("<f", 4.6052)))
    return safetensors(t, {"format": "pt"})


def hf_config(tw=8, vw=8, mlp=16, layers=1, vocab=8, ctx=4, image=4, patch=2, dim=4, heads=2):
    return json.dumps({
        "projection_dim": dim,
        "text_config": {"hidden_size": tw, "intermediate_size": mlp, "num_attention_heads": heads,
                        "num_hidden_layers": layers, "max_position_embeddings": ctx,
                        "vocab_size": vocab},
        "vision_config": {"hidden_size": vw, "intermediate_size": mlp, "num_attention_heads": heads,
                          "num_hidden_layers": layers, "image_size": image, "patch_size": patch},
    }, indent=1)


def oc_config(tw=8, vw=8, layers=1, vocab=8, ctx=4, image=4, patch=2, dim=4):
    return json.dumps({
        "model_cfg": {"embed_dim": dim, "quick_gelu": True,
                      "vision_cfg": {"width": vw, "layers": layers, "patch_size": patch,
                                     "image_size": image, "head_width": 4},
                      "text_cfg": {"width": tw, "layers": layers, "context_length": ctx,
                                   "vocab_size": vocab, "heads": 2}},
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    }, indent=1)


def checkpoint_input(layout, config, weights):
    return bytes([layout]) + config.encode() + b"\0" + weights


# ---- safetensors ----
put("corpus", "safetensors/mixed", safetensors([
    ("a", "F32", [2, 3], floats([2, 3])), ("h", "F16", [3], floats([3], "F16")),
    ("b", "BF16", [2], b"\x80\x3f\x49\xc0"), ("i", "I64", [1], struct.pack("<q", -1)),
    ("e", "F32", [0, 4], b""), ("s", "F32", [], struct.pack("<f", 1.5)),
    ("u", "U8", [5], bytes(range(5)))], {"format": "pt"}))
put("corpus", "safetensors/empty-header", struct.pack("<Q", 2) + b"{}")
put("corpus", "safetensors/tiny-hf", model("hf"))
put("regressions", "safetensors/nul-in-name", safetensors(
    [("logit_scale\u0000junk", "F32", [], struct.pack("<f", 1.0))]))
put("regressions", "safetensors/overlap", struct.pack("<Q", 96) + json.dumps(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
     "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}).encode().ljust(96) + bytes(8))

# ---- checkpoint ----
put("corpus", "checkpoint/hf", checkpoint_input(0, hf_config(), model("hf")))
put("corpus", "checkpoint/hf-f16-2layers",
    checkpoint_input(0, hf_config(layers=2), model("hf", layers=2, dtype="F16")))
put("corpus", "checkpoint/openclip", checkpoint_input(1, oc_config(), model("oc")))
put("corpus", "checkpoint/openclip-bare",
    checkpoint_input(2, "", model("oc", tw=64, vw=64, mlp=64, dtype="F16")))
put("regressions", "checkpoint/image-size-1000000",
    checkpoint_input(0, hf_config(image=1000000), model("hf")))
put("regressions", "checkpoint/fewer-layers-declared",
    checkpoint_input(0, hf_config(layers=1), model("hf", layers=2)))
nan = bytearray(model("hf"))
nan[-8:-4] = struct.pack("<f", float("nan"))  # in the last weight before logit_scale
put("regressions", "checkpoint/nan-weight", checkpoint_input(0, hf_config(), bytes(nan)))

# ---- vocab ----
small_vocab = json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "a": 2, "b": 3, "ab": 4,
                          "a</w>": 5, "b</w>": 6, "ab</w>": 7, "c</w>": 8, "<unk>": 9})
put("corpus", "vocab/small", small_vocab + "\0#version: 0.2\na b\na b</w>\n")
put("corpus", "vocab/crlf", small_vocab + "\0a b\r\na b</w>\r\n")
put("regressions", "vocab/empty-object", "{}\0#version: 0.2\n")
put("regressions", "vocab/shared-id", '{"<|startoftext|>": 0, "<|endoftext|>": 0}\0')
put("regressions", "vocab/huge-id", '{"<|startoftext|>": 0, "<|endoftext|>": 2147483646}\0')

# ---- tokenizer ----
for i, text in enumerate([
        "a photo of a cat", "A PHOTO of a DOG!!", "don't stop we'll they've I'm",
        "&amp;lt;b&amp;gt; &#x41; &notit; &amp", "Ã© Ã¨ â€™ cafÃ©", "ſtop İstanbul ΣΑΣ ΟΔΟΣ",
        "１２３ ﬁne ﬂow", "<|startoftext|>x<|endoftext|>", "\t\n  spaced \u3000 out  ",
        "emoji 😀👍🏽 and 中文 and ไทย", "e\u0301 a\u0308 combining", "\x1b[31mred\x1b[0m",
        "x" * 300]):
    put("corpus", "tokenizer/%02d" % i, text)
put("regressions", "tokenizer/combining-marks", "\u0301" * 2048)
put("regressions", "tokenizer/mojibake-run", "Ã©" * 1024)
put("regressions", "tokenizer/long-word", "".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                                                   for _ in range(4000)))

# ---- image ----
put("corpus", "image/p6", b"P6\n3 2\n255\n" + bytes(range(18)))
put("corpus", "image/p5-comment", b"P5\n# a comment\n4 1\n255\n\x00\x40\x80\xff")
put("corpus", "image/p3", b"P3\n2 1\n15\n0 5 10 15 15 15\n")
put("corpus", "image/p2", b"P2 2 2 255 0 64 128 255\n")
put("corpus", "image/p6-16bit", b"P6\n1 1\n65535\n\x12\x34\x56\x78\x9a\xbc")
put("regressions", "image/width-99999999", b"P6\n99999999 1\n255\n\x01\x02\x03")
put("regressions", "image/truncated", b"P6\n100 100\n255\n\x00")

# ---- preprocess: format, width, height, pad, size, flags, then pixels ----
for fmt in range(12):
    w, h, size = rng.randint(1, 300), rng.randint(1, 300), rng.choice([1, 7, 32, 224])
    head = bytes([fmt]) + struct.pack("<HH", w, h) + bytes([fmt % 5]) + struct.pack("<H", size)
    head += bytes([fmt % 4]) + bytes(3)
    put("corpus", "preprocess/format-%02d" % fmt, head + bytes(rng.randrange(256) for _ in range(64)))
put("regressions", "preprocess/odd-nv12", bytes([9]) + struct.pack("<HH", 3, 1) + bytes([0])
    + struct.pack("<H", 5) + bytes(4) + b"\x10\x80")
# A header declaring 32768x32768 over three bytes allocated 3 GB before
# finding the data short.
put("regressions", "image/huge-declared-size", b"P6\n32768 32768\n255\n\x00\x00\x00")
put("regressions", "image/huge-declared-size-ascii", b"P3 32768 32768 255 1 2 3")

# ---- prompts ---- (prompts, then a NUL and the templates when there are any)
for i, text in enumerate([
        "a dog;a cat", "person cooking|person frying food;person dancing",
        " a ; ;b | | c ;;", "a test pattern\0a photo of {}.;a video of {}",
        "x\0{}{}{};{{}};}{", "chien|Hund|犬;猫\0une photo d'un {}",
        "a\tb\n;\r\x0bc\x0c", "a;b\0;;"]):
    put("corpus", "prompts/%02d" % i, text)
# Each refusal the element must meet with a warning and keep its prompts.
put("regressions", "prompts/separators-only", ";;| ;|")
put("regressions", "prompts/invalid-utf8", b"a dog;\xc3\x28")
put("regressions", "prompts/template-invalid-utf8", b"a dog\0a {} \xff")
put("regressions", "prompts/template-without-placeholder", "a dog\0a photo of a;{}")
put("regressions", "prompts/empty", "")
