"""The held-out evaluation of models/evaluate.py run by the C engine
(clip-tool run) instead of PyTorch, once per engine configuration, and
whether bf16 changes any zero-shot answer against fp32.

    /usr/bin/python3 models/engine_eval.py --clip-tool build/src/clip-tool \
        [--model models/clipfilter-mini]

Configurations: OpenBLAS fp32, oneDNN fp32 and oneDNN bf16 (CLIP_BACKEND
and CLIP_PRECISION in clip-tool's environment); the last two are skipped
when the build has no oneDNN.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evaluate  # noqa: E402
import scenes  # noqa: E402
from bpe import Tokenizer  # noqa: E402
from export import read_safetensors, write_safetensors  # noqa: E402

CONFIGS = [("openblas fp32", {"CLIP_BACKEND": "openblas"}),
           ("onednn fp32", {"CLIP_BACKEND": "onednn"}),
           ("onednn bf16", {"CLIP_BACKEND": "onednn", "CLIP_PRECISION": "bf16"})]


class EngineModel:
    """Duck-types the two encoders evaluate.run() calls, through clip-tool run."""

    def __init__(self, clip_tool, model_dir, cfg, env, tmp):
        self.clip_tool, self.model_dir, self.cfg, self.tmp = clip_tool, model_dir, cfg, tmp
        self.env = dict(os.environ, **env)

    def eval(self):
        return self

    def _run(self, name, array):
        inp, out = os.path.join(self.tmp, "in.safetensors"), os.path.join(self.tmp, "out.safetensors")
        write_safetensors(inp, {name: array})
        r = subprocess.run([self.clip_tool, "run", self.model_dir, "--input", inp, "--output", out],
                           env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"clip-tool run failed: {r.stderr.strip()}")
        return read_safetensors(out)

    def encode_image(self, pixels):
        return torch.from_numpy(self._run("pixel_values", pixels.numpy())["image_embeds"].copy())

    def encode_text(self, ids):
        out = self._run("input_ids", ids.numpy().astype(np.int32))
        return torch.from_numpy(out["text_embeds"].copy())


def engine_args():
    """The command line of the engine checks (this and check_engine.py):
    --clip-tool, --model, --cache. Sets torch to one thread, as in training."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip-tool", required=True)
    ap.add_argument("--model", default=os.path.join(HERE, "clipfilter-mini"))
    ap.add_argument("--cache", default=os.path.join(HERE, ".cache"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    return args


def main():
    args = engine_args()
    ref, pp = evaluate.load_model(args.model)
    tok = Tokenizer.read(args.model)
    data = scenes.load_frames(args.cache, ref.cfg.image_size, "eval", 1234)
    tmp = tempfile.mkdtemp()

    results = {}
    for name, env in CONFIGS:
        try:
            rows, conf = evaluate.run(EngineModel(args.clip_tool, args.model, ref.cfg, env, tmp),
                                      tok, data, pp["image_mean"], pp["image_std"])
        except RuntimeError as e:
            print(f"{name}: skipped ({e})")
            continue
        results[name] = (rows, conf)
    rows_pt, _ = evaluate.run(ref, tok, data, pp["image_mean"], pp["image_std"])

    names = list(results)
    print("| task | template | PyTorch | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for i, (task, t, acc, _) in enumerate(rows_pt):
        cells = " | ".join(f"{100 * results[n][0][i][2]:.1f}%" for n in names)
        print(f"| {task} | `{t}` | {100 * acc:.1f}% | {cells} |")
    base = "onednn fp32" if "onednn fp32" in results else names[0]
    for other in names:
        if other == base:
            continue
        changed = total = 0
        for a, b in zip(results[base][1], results[other][1]):
            changed += int((a[3] != b[3]).sum())
            total += len(a[3])
        print(f"\n{other} vs {base}: {changed} of {total} zero-shot answers differ "
              f"(every task and template above)")


if __name__ == "__main__":
    main()
