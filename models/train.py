"""Trains clipfilter-mini, the small CLIP that ships with clipfilter, and
exports it to models/clipfilter-mini/ in the Hugging Face layout.

    /usr/bin/python3 models/train.py [--threads 1] [--steps 3500] [--out DIR]

The defaults are the shipped model's recipe. One thread is the default
because on a shared 2-core machine a 2-thread torch step waits for the
other process at every barrier (measured 3-4x slower per step under load),
while one thread leaves the second core to the rest of the machine.
Everything is seeded and torch runs with deterministic algorithms, so the
same seed, step count and thread count give the same exported bytes.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import evaluate  # noqa: E402
import export  # noqa: E402
import scenes  # noqa: E402
from clipmodel import CLIP, Config, normalize_pixels  # noqa: E402

# How often each kind of frame is drawn into a batch: shape scenes carry the
# colour and shape words, so they get the largest share.
KIND_WEIGHTS = {"bars": 1, "snow": 1, "checkers": 1, "rings": 1, "pinwheel": 1, "spokes": 1,
                "gradient": 1, "palette": 1, "solid": 2, "shape": 8}
# videotestsrc's ball, sampled as a kind of its own beside the drawn shapes
# (these far outnumber it)
BALL_WEIGHT = 2


def consistent(stated, image_attrs):
    """[B_text, B_img] bool: caption i states nothing that contradicts image j."""
    s = stated[:, None, :]
    a = image_attrs[None, :, :4]
    return ((s == -1) | (s == a)).all(-1)


def contrastive_loss(img, txt, logit_scale, stated, attrs):
    """CLIP's symmetric cross-entropy. The target of each row is spread
    evenly over every pair in the batch the caption truthfully describes
    (with distinct captions this is exactly the paper's loss)."""
    img = img / img.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    logits = logit_scale.exp() * img @ txt.t()  # [img, txt]
    pos = consistent(stated, attrs).t().float()  # [img, txt]
    li = -(F.log_softmax(logits, 1) * (pos / pos.sum(1, keepdim=True))).sum(1).mean()
    lt = -(F.log_softmax(logits, 0) * (pos / pos.sum(0, keepdim=True))).sum(0).mean()
    return (li + lt) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(HERE, "clipfilter-mini"))
    ap.add_argument("--cache", default=os.path.join(HERE, ".cache"))
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--patch", type=int, default=Config.patch_size)
    ap.add_argument("--vision-width", type=int, default=Config.vision_width)
    ap.add_argument("--recipe", choices=("base", "swap"), default="base",
                    help="swap: each shape scene's colour-swapped twin in the same batch, "
                         "with one-colour captions as hard negatives")
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)

    cfg = Config(patch_size=args.patch, vision_width=args.vision_width,
                 vision_heads=max(1, args.vision_width // 64))
    data = scenes.load_frames(args.cache, cfg.image_size, "train", args.seed)
    held = scenes.load_frames(args.cache, cfg.image_size, "eval", args.seed)
    images = torch.from_numpy(data["images"])
    attrs = data["attrs"]
    print(f"frames: {len(images)} train, {len(held['images'])} held out "
          f"({time.time() - t_start:.0f}s)", flush=True)

    tok = bpe.Tokenizer(bpe.train(scenes.all_training_captions()))
    cfg.vocab_size = tok.vocab_size
    assert tok.eot == cfg.vocab_size - 1
    model = CLIP(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"vocab {tok.vocab_size}, parameters {n_params}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    warmup = max(1, args.steps // 20)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        p = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * 0.5 * (1 + math.cos(math.pi * p))

    # kind-balanced sampling probabilities per frame
    kinds = attrs[:, 0]
    ball = (attrs[:, 0] == scenes.KINDS.index("shape")) & (attrs[:, 4] == 0)
    pool = np.where(ball, len(scenes.KINDS), kinds)
    weight = [KIND_WEIGHTS[k] for k in scenes.KINDS] + [BALL_WEIGHT]
    w = np.array([weight[k] for k in pool], np.float64)
    w /= np.bincount(pool, minlength=len(weight))[pool]
    w /= w.sum()

    # Hard negatives: shape scenes come in groups of four sharing the
    # background colour, so only the shape and its colour tell them apart;
    # the second of each group also has the first one's object colour, so
    # only the shape tells those two apart.
    shape_kind = scenes.KINDS.index("shape")
    same_bg = {b: np.where((kinds == shape_kind) & (attrs[:, 3] == b))[0]
               for b in range(scenes.OTHER + 1)}
    same_colours = {(f, b): np.where((kinds == shape_kind) & (attrs[:, 2] == f) & (attrs[:, 3] == b))[0]
                    for f in range(scenes.OTHER + 1) for b in range(scenes.OTHER + 1)}

    def group_by_background(idx):
        pos = [j for j in range(len(idx)) if kinds[idx[j]] == shape_kind]
        for g in range(0, len(pos) - 3, 4):
            f, b = (int(v) for v in attrs[idx[pos[g]], 2:4])
            pool = same_colours[(f, b)]
            idx[pos[g + 1]] = pool[rng.integers(len(pool))]
            pool = same_bg[b]
            for j in pos[g + 2:g + 4]:
                idx[j] = pool[rng.integers(len(pool))]
        return idx

    # The image side learned which two colours a frame holds but not which is
    # the object: a held-out pair's swap (blue ball on red for red on blue) is
    # a training pair, and the model answers with it. So put a scene and its
    # swap (same shape, when that pair is a training pair too) side by side;
    # only captions naming the roles tell them apart.
    same_pair = {(s_, f, b): np.where((kinds == shape_kind) & (attrs[:, 1] == s_)
                                     & (attrs[:, 2] == f) & (attrs[:, 3] == b))[0]
                 for s_ in range(len(scenes.SHAPES)) for f in range(8) for b in range(8)}
    swapped = np.zeros(args.batch, bool)  # per batch slot, filled below

    def group_with_swap(idx):
        swapped[:] = False
        pos = [j for j in range(len(idx)) if kinds[idx[j]] == shape_kind]
        for g in range(0, len(pos) - 3, 4):
            s_, f, b = (int(v) for v in attrs[idx[pos[g]], 1:4])
            twin = same_pair.get((s_, b, f), [])
            if len(twin):
                idx[pos[g + 1]] = twin[rng.integers(len(twin))]
                swapped[pos[g]] = swapped[pos[g + 1]] = True
            else:
                pool = same_bg[b]
                idx[pos[g + 1]] = pool[rng.integers(len(pool))]
            pool = same_bg[b]
            for j in pos[g + 2:g + 4]:
                idx[j] = pool[rng.integers(len(pool))]
        return idx

    # captions naming one colour alone, which are false for the swapped twin
    ONE_COLOUR = ("fs", "f", "b")

    mean, std = export.CLIP_MEAN, export.CLIP_STD
    tok_cache = {}
    model.train()
    t_train = time.time()
    for step in range(args.steps):
        idx = rng.choice(len(images), size=args.batch, p=w)
        if args.recipe == "swap":
            idx = group_with_swap(idx)
        else:
            idx = group_by_background(idx)
        caps, stated = [], []
        for j, i in enumerate(idx):
            if args.recipe == "swap" and swapped[j] and rng.random() < 0.5:
                text, st = scenes.caption(attrs[i], rng, shape_stated=ONE_COLOUR)
            else:
                text, st = scenes.caption(attrs[i], rng)
            if text not in tok_cache:
                tok_cache[text] = tok.encode_padded(text, cfg.context_length)
            caps.append(tok_cache[text])
            stated.append(st)
        x = images[torch.from_numpy(idx)]
        flip = torch.from_numpy(rng.random(args.batch) < 0.5)
        x = torch.where(flip[:, None, None, None], x.flip(2), x)
        pix = normalize_pixels(x, mean, std)
        ids = torch.tensor(caps)
        # the causal mask makes positions after the last EOT irrelevant: skip them
        ids = ids[:, :int((ids == tok.eot).int().argmax(-1).max()) + 1]
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = contrastive_loss(model.encode_image(pix), model.encode_text(ids), model.logit_scale,
                                torch.tensor(stated), torch.from_numpy(attrs[idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % args.log_every == 0 or step == args.steps - 1:
            el = time.time() - t_train
            print(f"step {step} loss {loss.item():.4f} scale {model.logit_scale.exp().item():.1f} "
                  f"lr {lr_at(step):.2e} {el:.0f}s", flush=True)
        if args.eval_every and step > 0 and step % args.eval_every == 0:
            rows, _ = evaluate.run(model, tok, held, mean, std)
            print(" ".join(f"{r[0].split()[0]}:{100 * r[2]:.0f}" for r in rows), flush=True)
            model.train()

    train_s = time.time() - t_train
    model.eval()
    meta = {"format": "pt", "seed": args.seed, "steps": args.steps, "batch": args.batch,
            "threads": args.threads, "trainer": "models/train.py"}
    if args.recipe != "base":  # the base recipe's export stays byte-identical
        meta["recipe"] = args.recipe
    export.export(model, tok, args.out, meta)
    print(f"training {train_s:.0f}s, total {time.time() - t_start:.0f}s; exported to {args.out}")
    # evaluate what was exported: the F16 weights, as the engine loads them
    reloaded = export.load_hf_into(CLIP(cfg), os.path.join(args.out, "model.safetensors"))
    rows, conf = evaluate.run(reloaded, tok, held, mean, std)
    evaluate.report(rows, conf)
    with open(os.path.join(args.cache, "last-run.json"), "w") as f:
        json.dump({"train_seconds": train_s, "total_seconds": time.time() - t_start,
                   "threads": args.threads, "steps": args.steps, "params": n_params}, f)


if __name__ == "__main__":
    main()
