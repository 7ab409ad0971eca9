"""Zero-shot evaluation of the shipped model on frames and phrasings held
out of training: colour pairs never trained on, frame sizes never trained on
(400x300, 720x480), and prompt templates never used in training.

    /usr/bin/python3 models/evaluate.py [--model models/clipfilter-mini]

Prints a Markdown table (accuracy per task and held-out template) and the
worst confusions, as docs/shipped-model.md quotes them.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402
from scenes import COLORS, KINDS, SHAPES, KIND_NAMES  # noqa: E402

PATTERN_KINDS = ["bars", "snow", "checkers", "rings", "pinwheel", "spokes", "gradient", "palette"]
HELDOUT_PREFIXES = scenes.PREFIXES_HELDOUT


def tasks(attrs):
    """(task name, image indices, true label index per image, labels, template
    list). Templates take {} = the label text; every task uses only
    templates absent from training."""
    kind, shape, fg, bg, drawn = (attrs[:, i] for i in range(5))
    out = []
    # 1. pattern: the eight patterns plus videotestsrc's ball
    labels = [KIND_NAMES[k][0] for k in PATTERN_KINDS] + ["a ball"]
    sel, y = [], []
    for i in range(len(attrs)):
        k = KINDS[kind[i]]
        if k in PATTERN_KINDS:
            sel.append(i)
            y.append(PATTERN_KINDS.index(k))
        elif k == "shape" and drawn[i] == 0:
            sel.append(i)
            y.append(len(PATTERN_KINDS))
    out.append(("pattern (9-way)", sel, y, labels, [p + "{}" for p in HELDOUT_PREFIXES]))
    # 2. colour of a solid screen
    sel = [i for i in range(len(attrs)) if KINDS[kind[i]] == "solid"]
    out.append(("solid colour (8-way)", sel, [int(fg[i]) for i in sel], COLORS,
                scenes.SOLID_TEMPLATES_HELDOUT_EVAL))
    # 3. shape of drawn scenes (unseen colour pairs)
    sel = [i for i in range(len(attrs)) if KINDS[kind[i]] == "shape" and drawn[i] == 1]
    out.append(("shape (4-way)", sel, [int(shape[i]) for i in sel], SHAPES,
                [p + "a {}" for p in HELDOUT_PREFIXES]))
    # 4./5. foreground and background colour of balls and shapes
    shp = [i for i in range(len(attrs)) if KINDS[kind[i]] == "shape"]
    out.append(("shape colour (8-way)", shp, [int(fg[i]) for i in shp], COLORS,
                "fg"))
    out.append(("background colour (8-way)", shp, [int(bg[i]) for i in shp], COLORS,
                "bg"))
    # 6. the full description: every colour pair for the frame's shape
    out.append(("colour pair (56-way)", shp, [int(fg[i]) * 8 + int(bg[i]) for i in shp],
                None, "pair"))
    return out


@torch.no_grad()
def embed_texts(model, tok, texts):
    ids = torch.tensor([tok.encode_padded(t, model.cfg.context_length) for t in texts])
    e = model.encode_text(ids)
    return e / e.norm(dim=-1, keepdim=True)


@torch.no_grad()
def embed_images(model, images, mean, std):
    from clipmodel import normalize_pixels
    out = []
    for b in range(0, len(images), 256):
        e = model.encode_image(normalize_pixels(torch.from_numpy(images[b:b + 256]), mean, std))
        out.append(e / e.norm(dim=-1, keepdim=True))
    return torch.cat(out)


SHAPE_WORD = {"circle": "circle", "square": "square", "triangle": "triangle", "star": "star"}


def run(model, tok, data, mean, std, verbose=True):
    """Returns rows (task, template, accuracy, n) and worst confusions."""
    model.eval()
    attrs = data["attrs"]
    img = embed_images(model, data["images"], mean, std)
    rows, confusions = [], []
    for name, sel, y, labels, templates in tasks(attrs):
        sel = np.array(sel)
        y = np.array(y)
        if isinstance(templates, str):
            # per-image prompts: the shape word of the frame stays fixed
            mode = templates
            temps = {"fg": scenes.SHAPE_TEMPLATES_FG_EVAL, "bg": scenes.SHAPE_TEMPLATES_BG_EVAL,
                     "pair": [t for t, _ in scenes.SHAPE_TEMPLATES_HELDOUT]}[mode]
            for t in temps:
                pred = np.zeros(len(sel), np.int64)
                for s in range(len(SHAPES)):
                    m = attrs[sel, 1] == s
                    if not m.any():
                        continue
                    word = SHAPE_WORD[SHAPES[s]]
                    if mode == "fg":
                        texts = [t.format(fg=c, shape=word) for c in COLORS]
                    elif mode == "bg":
                        texts = [t.format(bg=c, shape=word) for c in COLORS]
                    else:
                        texts = [t.format(fg=f, bg=b, shape=word) for f in COLORS for b in COLORS]
                    lab = embed_texts(model, tok, texts)
                    sim = img[sel[m]] @ lab.T
                    if mode == "pair":  # fg == bg is not a valid description
                        for c in range(8):
                            sim[:, c * 8 + c] = -2
                    pred[m] = sim.argmax(-1).numpy()
                rows.append((name, t, float((pred == y).mean()), len(sel)))
                confusions.append((name, t, y, pred, labels))
        else:
            for t in templates:
                lab = embed_texts(model, tok, [t.format(l) if "{}" in t else t.format(c=l)
                                               for l in labels])
                pred = (img[sel] @ lab.T).argmax(-1).numpy()
                rows.append((name, t, float((pred == y).mean()), len(sel)))
                confusions.append((name, t, y, pred, labels))
    return rows, confusions


def label_names(name, labels):
    if labels is not None:
        return labels
    return [f"{f}/{b}" for f in COLORS for b in COLORS]


def report(rows, confusions, out=sys.stdout):
    print("| task | held-out prompt template | top-1 | frames |", file=out)
    print("|---|---|---|---|", file=out)
    for name, t, acc, n in rows:
        print(f"| {name} | `{t}` | {100 * acc:.1f}% | {n} |", file=out)
    accs = [r[2] for r in rows]
    right = sum(round(acc * n) for _, _, acc, n in rows)
    answers = sum(n for *_, n in rows)
    print(f"\nmean top-1 over all rows: {100 * np.mean(accs):.1f}%, "
          f"worst row: {100 * min(accs):.1f}%; over all {answers} answers: "
          f"{100 * right / answers:.1f}%\n", file=out)
    # worst classes: pool every template of a task
    print("Worst classes (pooled over the task's templates):\n", file=out)
    print("| task | true class | top-1 | most often predicted instead |", file=out)
    print("|---|---|---|---|", file=out)
    pooled = {}
    for c in confusions:
        name, t, y, pred = c[:4]
        labels = c[4] if len(c) > 4 else None
        p = pooled.setdefault(name, [[], [], labels])
        p[0].append(y)
        p[1].append(pred)
    worst = []
    for name, (ys, ps, labels) in pooled.items():
        y = np.concatenate(ys)
        p = np.concatenate(ps)
        names = label_names(name, labels)
        for cls in np.unique(y):
            m = y == cls
            acc = float((p[m] == cls).mean())
            wrong = p[m][p[m] != cls]
            if len(wrong):
                vals, cnt = np.unique(wrong, return_counts=True)
                order = np.argsort(-cnt)[:2]
                inst = ", ".join(f"{names[vals[o]]} ({cnt[o]}/{m.sum()})" for o in order)
            else:
                inst = "—"
            worst.append((acc, name, names[cls], inst))
    worst.sort(key=lambda w: w[0])
    for acc, name, cls, inst in worst[:8]:
        print(f"| {name} | {cls} | {100 * acc:.1f}% | {inst} |", file=out)


def load_model(directory):
    """The exported checkpoint (F16 weights widened to F32) as a torch CLIP,
    and its preprocessor config."""
    import json
    from clipmodel import CLIP, Config
    from export import load_hf_into
    cfg_j = json.load(open(os.path.join(directory, "config.json")))
    pp = json.load(open(os.path.join(directory, "preprocessor_config.json")))
    t, v = cfg_j["text_config"], cfg_j["vision_config"]
    cfg = Config(image_size=v["image_size"], patch_size=v["patch_size"],
                 vision_width=v["hidden_size"], vision_layers=v["num_hidden_layers"],
                 vision_heads=v["num_attention_heads"], text_width=t["hidden_size"],
                 text_layers=t["num_hidden_layers"], text_heads=t["num_attention_heads"],
                 context_length=t["max_position_embeddings"], vocab_size=t["vocab_size"],
                 embed_dim=cfg_j["projection_dim"])
    model = load_hf_into(CLIP(cfg), os.path.join(directory, "model.safetensors"))
    return model.eval(), pp


def main():
    from bpe import Tokenizer
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(here, "clipfilter-mini"))
    ap.add_argument("--cache", default=os.path.join(here, ".cache"))
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, pp = load_model(args.model)
    tok = Tokenizer.read(args.model)
    data = scenes.load_frames(args.cache, model.cfg.image_size, "eval", args.seed)
    rows, conf = run(model, tok, data, pp["image_mean"], pp["image_std"])
    report(rows, conf)


if __name__ == "__main__":
    main()
