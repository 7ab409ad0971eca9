"""Trains clipfilter-mini, the small CLIP that ships with clipfilter, and
exports it to models/clipfilter-mini/ in the Hugging Face layout.

    /usr/bin/python3 models/train.py [--threads 1] [--steps 3500] [--out DIR]

The defaults are the shipped model's recipe (docs/shipped-model.md): patterns and
plain colours as rendered frames, the ball and drawn shapes as masks coloured
per batch, CLIP's contrastive loss with role-swapped captions as extra
negatives, and auxiliary attribute heads on the image embedding (training
only, not exported). One thread is the default
because a 2-thread torch step is slower, not faster, on the 2-core machine
(measured 0.61 s against 0.27 s per step with nothing else running, 3-4x
slower under load), and one thread leaves the second core to the rest of
the machine.
Everything is seeded and torch runs with deterministic algorithms, so the
same seed, step count and thread count give the same exported bytes.
"""
import argparse
import json
import math
import os
import random
import re
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
# Colours of the drawn shapes: a training pair of named colours, else one
# named colour with an unnamed one, else two unnamed colours.
P_NAMED_PAIR = 0.6
P_ONE_NAMED = 0.35
OTHER = scenes.OTHER
# Share of those one-named scenes whose unnamed colour differs from the named
# one in a single channel.
P_ONE_CHANNEL = 0.5


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
    # a hard-negative caption (swapped_colours()) may describe no image of the
    # batch: it only takes part in the images' softmax
    has = pos.sum(0) > 0
    lt = -(F.log_softmax(logits[:, has], 0) * (pos[:, has] / pos[:, has].sum(0))).sum(0).mean()
    return (li + lt) / 2


COLOUR_WORD = re.compile(r"\b(" + "|".join(scenes.COLORS) + r")\b")


def swapped_colours(text, stated, image):
    """A false twin of a shape scene's caption, or None: a caption naming
    both colours gets them exchanged ("a red ball on blue" -> "a blue ball
    on red"); a caption naming one role's colour gets the image's other
    colour in that role ("a red ball" on blue -> "a blue ball"), and what the
    twin states. As negatives beside the true caption they make the text side
    bind each colour to its role and the image side tell the roles apart,
    also when the object is a few pixels on a large background."""
    f, b = stated[2], stated[3]
    # every colour the caption names becomes the image's colour in the other role
    twin_f = int(image[3]) if f >= 0 else -1
    twin_b = int(image[2]) if b >= 0 else -1
    named = [(c, t) for c, t in ((f, twin_f), (b, twin_b)) if c >= 0]
    if not named or any(not 0 <= t < OTHER or t == c for c, t in named):
        return None
    names = {scenes.COLORS[c]: scenes.COLORS[t] for c, t in named}
    return (COLOUR_WORD.sub(lambda m: names.get(m.group(1), m.group(1)), text),
            (stated[0], stated[1], twin_f, twin_b))


class AttributeHeads(torch.nn.Module):
    """Auxiliary classifiers on the normalised image embedding, used in
    training only (not exported): the pattern kind, the shape, and the
    colour of the object and of the background, each where the frame has a
    named one. Cosine logits, like the text side's."""

    def __init__(self, dim, scale=16.0):
        super().__init__()
        self.scale = scale
        self.heads = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(n, dim) * dim ** -0.5)
             for n in (len(scenes.KINDS), len(scenes.SHAPES), OTHER, OTHER)])

    def forward(self, img, attrs):
        img = img / img.norm(dim=-1, keepdim=True)
        loss = 0.0
        for col, w in enumerate(self.heads):
            y = attrs[:, col]
            sel = (y >= 0) & (y < w.shape[0])
            if col == 1:
                sel &= attrs[:, 0] == scenes.KINDS.index("shape")
            if sel.any():
                logits = self.scale * img[sel] @ (w / w.norm(dim=-1, keepdim=True)).t()
                loss = loss + F.cross_entropy(logits, y[sel])
        return loss


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
    ap.add_argument("--image-size", type=int, default=Config.image_size)
    ap.add_argument("--patch", type=int, default=Config.patch_size)
    ap.add_argument("--vision-width", type=int, default=Config.vision_width)
    ap.add_argument("--aux", type=float, default=1.0,
                    help="weight of the auxiliary attribute loss (0: contrastive loss only)")
    ap.add_argument("--swap-negatives", type=int, default=1,
                    help="1: each caption naming a colour of a shape scene gets its "
                         "role-swapped twin as a negative (swapped_colours())")
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)

    cfg = Config(image_size=args.image_size, patch_size=args.patch, vision_width=args.vision_width,
                 vision_heads=max(1, args.vision_width // 64))
    data = scenes.load_frames(args.cache, cfg.image_size, "train", args.seed)
    held = scenes.load_frames(args.cache, cfg.image_size, "eval", args.seed)
    images = data["images"]
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

    # Each batch slot first draws a pool (a pattern kind, the ball, or a drawn
    # shape) by KIND_WEIGHTS, then a frame of that pool; drawn shapes are a
    # mask coloured for this batch (drawn_colours()).
    shape_kind = scenes.KINDS.index("shape")
    ball_pool = len(scenes.KINDS)
    # the frames in images: patterns and plain colours only
    members = [np.where(attrs[:, 0] == k)[0] for k in range(len(scenes.KINDS))]
    pool_p = np.array([KIND_WEIGHTS[k] for k in scenes.KINDS] + [BALL_WEIGHT], np.float64)
    pool_p /= pool_p.sum()
    circle = scenes.SHAPES.index("circle")
    ball_masks = data["ball_masks"]
    # pool -> (masks, their shapes, the attrs' fifth column: 1 = drawn)
    masked = {shape_kind: (data["masks"], data["mask_shapes"], 1),
              ball_pool: (ball_masks, np.full(len(ball_masks), circle), 0)}
    print(f"masks: {len(data['masks'])} drawn shapes, {len(ball_masks)} ball frames", flush=True)

    train_pairs = [(f, b) for f in range(8) for b in range(8)
                   if f != b and not scenes.is_heldout_pair(f, b)]
    fg_for_bg = {b: [f for f, b2 in train_pairs if b2 == b] for b in range(8)}
    fg_for_bg[OTHER] = list(range(8))

    def rgb(c, avoid=None):
        if c < OTHER:
            return scenes.RGB[scenes.COLORS[c]]
        while True:
            v = scenes.other_color(rng)
            if avoid is None or scenes.l1(v, avoid) > 150:
                return v

    def one_channel_variant(c):
        """An unnamed colour that differs from named colour c in one channel
        only (red and black, blue and magenta differ so): telling such
        colours' roles apart needs that channel's layout, not the mix."""
        base = scenes.RGB[scenes.COLORS[c]]
        while True:
            ch = int(rng.integers(3))
            v = list(base)
            v[ch] = int(rng.integers(0, 256))
            if abs(v[ch] - base[ch]) >= 100 and scenes.distance_to_named(v) > 60:
                return tuple(v)

    def drawn_colours(n):
        """Colours for n drawn shapes, in groups of four with one background:
        the second of a group has the first one's colours too, so only the
        shape tells them apart; the other two another object colour. A pair
        is a training pair of named colours, or one named colour with an
        unnamed one (no caption names it), or two unnamed colours."""
        fg, bg, fg_rgb, bg_rgb = [], [], [], []
        while len(fg) < n:
            r = rng.random()
            if r < P_NAMED_PAIR:
                f, b = train_pairs[rng.integers(len(train_pairs))]
            elif r < P_NAMED_PAIR + P_ONE_NAMED:
                c = int(rng.integers(8))
                f, b = (c, OTHER) if rng.integers(2) == 0 else (OTHER, c)
            else:
                f, b = OTHER, OTHER
            if (f == OTHER) != (b == OTHER) and rng.random() < P_ONE_CHANNEL:
                named = f if b == OTHER else b
                near = one_channel_variant(named)
                f_rgb, b_rgb = (rgb(f), near) if b == OTHER else (near, rgb(b))
            else:
                b_rgb = rgb(b)
                f_rgb = rgb(f, b_rgb)
            group = [(f, f_rgb), (f, f_rgb)]
            for _ in range(2):
                f2 = int(rng.choice(fg_for_bg[b] + [OTHER]))
                group.append((f2, rgb(f2, b_rgb)))
            for f2, f2_rgb in group:
                fg.append(f2)
                bg.append(b)
                fg_rgb.append(f2_rgb)
                bg_rgb.append(b_rgb)
        return (np.array(fg[:n], np.int64), np.array(bg[:n], np.int64),
                np.array(fg_rgb[:n], np.float32).reshape(-1, 3),
                np.array(bg_rgb[:n], np.float32).reshape(-1, 3))

    def batch_frames():
        pools = rng.choice(len(pool_p), size=args.batch, p=pool_p)
        frames = np.empty((args.batch,) + images.shape[1:], np.uint8)
        batch_attrs = np.empty((args.batch, attrs.shape[1]), np.int64)
        for j in np.where((pools != shape_kind) & (pools != ball_pool))[0]:
            i = members[pools[j]][rng.integers(len(members[pools[j]]))]
            frames[j] = images[i]
            batch_attrs[j] = attrs[i]
        for pool, (masks, shapes, drawn) in masked.items():
            js = np.where(pools == pool)[0]
            m = rng.integers(len(masks), size=len(js))
            fg, bg, fg_rgb, bg_rgb = drawn_colours(len(js))
            frames[js] = scenes.compose(masks[m], fg_rgb, bg_rgb)
            batch_attrs[js] = np.stack([np.full(len(js), shape_kind), shapes[m], fg, bg,
                                        np.full(len(js), drawn)], 1)
        return frames, batch_attrs

    aux = AttributeHeads(cfg.embed_dim) if args.aux else None
    if aux is not None:
        opt.add_param_group({"params": list(aux.parameters()), "weight_decay": 0.0})
    mean, std = export.CLIP_MEAN, export.CLIP_STD
    tok_cache = {}
    model.train()
    t_train = time.time()
    for step in range(args.steps):
        frames, batch_attrs = batch_frames()
        captions = [scenes.caption(a, rng) for a in batch_attrs]  # (text, stated)
        if args.swap_negatives:
            twins = [swapped_colours(text, st, a)
                     for a, (text, st) in zip(batch_attrs, captions) if a[0] == shape_kind]
            captions += [t for t in twins if t is not None]
        for text, _ in captions:
            if text not in tok_cache:
                tok_cache[text] = tok.encode_padded(text, cfg.context_length)
        caps = [tok_cache[text] for text, _ in captions]
        stated = [st for _, st in captions]
        x = torch.from_numpy(frames)
        flip = torch.from_numpy(rng.random(args.batch) < 0.5)
        x = torch.where(flip[:, None, None, None], x.flip(2), x)
        pix = normalize_pixels(x, mean, std)
        ids = torch.tensor(caps)
        # the causal mask makes positions after the last EOT irrelevant: skip them
        ids = ids[:, :int((ids == tok.eot).int().argmax(-1).max()) + 1]
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        img = model.encode_image(pix)
        batch_attrs = torch.from_numpy(batch_attrs)
        loss = contrastive_loss(img, model.encode_text(ids), model.logit_scale,
                                torch.tensor(stated), batch_attrs)
        if aux is not None:
            loss = loss + args.aux * aux(img, batch_attrs)
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
    if args.aux:
        meta["aux"] = str(args.aux)
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
