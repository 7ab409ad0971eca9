"""Checks that the C engine agrees with the PyTorch model on the exported
checkpoint: identical token ids for every caption and prompt (clip-tool
tokenize), and the same image/text embeddings (clip-tool run).

    /usr/bin/python3 models/check_engine.py --clip-tool build/src/clip-tool \
        [--model models/clipfilter-mini]
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenes  # noqa: E402
from bpe import Tokenizer  # noqa: E402
from clipmodel import normalize_pixels  # noqa: E402
from evaluate import load_model  # noqa: E402
from engine_eval import EngineModel, engine_args  # noqa: E402


def all_prompts():
    texts = set(scenes.all_training_captions())
    rng = np.random.default_rng(0)
    for kind in range(len(scenes.KINDS)):
        for _ in range(200):
            attrs = (kind, int(rng.integers(4)), int(rng.integers(8)), int(rng.integers(8)), 0)
            texts.add(scenes.caption(attrs, rng, heldout=True)[0])
    texts |= {"", "A Red BALL!", "smpte colour-bars, 100%", "a photo of a dog"}
    return sorted(texts)


def main():
    args = engine_args()
    tok = Tokenizer.read(args.model)
    tmp = tempfile.mkdtemp()

    texts = all_prompts()
    with open(os.path.join(tmp, "texts.jsonl"), "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
    out = subprocess.run([args.clip_tool, "tokenize", "--model", args.model, "--jsonl",
                          os.path.join(tmp, "texts.jsonl")], check=True, capture_output=True,
                         text=True).stdout
    got = [json.loads(line)["ids"] for line in out.splitlines() if line.strip()]
    bad = [t for t, g in zip(texts, got) if g != tok.encode(t)]
    print(f"tokenizer: {len(texts) - len(bad)}/{len(texts)} texts give identical ids "
          f"(engine vs models/bpe.py)")
    for t in bad[:5]:
        print("  differs:", repr(t))

    model, pp = load_model(args.model)
    data = scenes.load_frames(args.cache, model.cfg.image_size, "eval", 1234)
    pick = np.linspace(0, len(data["images"]) - 1, 16).astype(int)
    pixels = normalize_pixels(torch.from_numpy(data["images"][pick]), pp["image_mean"],
                              pp["image_std"])
    prompts = texts[::max(1, len(texts) // 16)][:16]
    ids = torch.tensor([tok.encode_padded(t, model.cfg.context_length) for t in prompts])
    engine = EngineModel(args.clip_tool, args.model, model.cfg, {}, tmp)
    eng = {"image_embeds": engine.encode_image(pixels).numpy(),
           "text_embeds": engine.encode_text(ids).numpy()}
    with torch.no_grad():
        ref_img = model.encode_image(pixels).numpy()
        ref_txt = model.encode_text(ids).numpy()
    for name, a, b in (("image_embeds", eng["image_embeds"], ref_img),
                       ("text_embeds", eng["text_embeds"], ref_txt)):
        rel = np.abs(a - b).max() / np.abs(b).max()
        an = a / np.linalg.norm(a, axis=1, keepdims=True)
        bn = b / np.linalg.norm(b, axis=1, keepdims=True)
        cos = (an * bn).sum(1).min()
        print(f"{name}: {len(a)} rows, scale-relative max error {rel:.2e}, min cosine {cos:.7f}")
    s_eng = (eng["image_embeds"] / np.linalg.norm(eng["image_embeds"], axis=1, keepdims=True)) @ \
        (eng["text_embeds"] / np.linalg.norm(eng["text_embeds"], axis=1, keepdims=True)).T
    s_ref = (ref_img / np.linalg.norm(ref_img, axis=1, keepdims=True)) @ \
        (ref_txt / np.linalg.norm(ref_txt, axis=1, keepdims=True)).T
    print(f"cosine similarity matrix 16x16: max abs difference {np.abs(s_eng - s_ref).max():.2e}, "
          f"same arg-max per image: {(s_eng.argmax(1) == s_ref.argmax(1)).all()}")


if __name__ == "__main__":
    main()
