"""CLIP exactly as OpenAI's clip/model.py defines it (the architecture the
engine runs): pre-LN ViT and causal text transformer with QuickGELU,
pooled at the class token / first EOT, learned logit_scale."""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    image_size: int = 64
    patch_size: int = 16
    vision_width: int = 128
    vision_layers: int = 4
    vision_heads: int = 2
    text_width: int = 128
    text_layers: int = 3
    text_heads: int = 2
    context_length: int = 32
    vocab_size: int = 785
    embed_dim: int = 64

    def dict(self):
        return asdict(self)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, mask=None):
        b, n, w = x.shape
        hd = w // self.heads
        q, k, v = self.in_proj(x).split(w, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, hd).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        if mask is not None:
            att = att + mask
        y = att.softmax(-1) @ v
        return self.out_proj(y.transpose(1, 2).reshape(b, n, w))


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=1e-5)
        self.attn = Attention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Visual(nn.Module):
    def __init__(self, c):
        super().__init__()
        w = c.vision_width
        grid = c.image_size // c.patch_size
        self.conv1 = nn.Conv2d(3, w, c.patch_size, c.patch_size, bias=False)
        s = w ** -0.5
        self.class_embedding = nn.Parameter(s * torch.randn(w))
        self.positional_embedding = nn.Parameter(s * torch.randn(grid * grid + 1, w))
        self.ln_pre = nn.LayerNorm(w, eps=1e-5)
        self.blocks = nn.ModuleList([Block(w, c.vision_heads) for _ in range(c.vision_layers)])
        self.ln_post = nn.LayerNorm(w, eps=1e-5)
        self.proj = nn.Parameter(s * torch.randn(w, c.embed_dim))

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + self.positional_embedding
        x = self.ln_pre(x)
        for blk in self.blocks:
            x = blk(x)
        return self.ln_post(x[:, 0]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cfg = c
        self.visual = Visual(c)
        w = c.text_width
        self.token_embedding = nn.Embedding(c.vocab_size, w)
        self.positional_embedding = nn.Parameter(torch.empty(c.context_length, w))
        self.blocks = nn.ModuleList([Block(w, c.text_heads) for _ in range(c.text_layers)])
        self.ln_final = nn.LayerNorm(w, eps=1e-5)
        self.text_projection = nn.Parameter(torch.empty(w, c.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        mask = torch.full((c.context_length, c.context_length), float("-inf")).triu(1)
        self.register_buffer("mask", mask, persistent=False)
        self._init()

    def _init(self):
        # CLIP's initialization scales
        c = self.cfg
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        for width, layers, blocks in ((c.text_width, c.text_layers, self.blocks),
                                      (c.vision_width, c.vision_layers, self.visual.blocks)):
            proj_std = width ** -0.5 * (2 * layers) ** -0.5
            attn_std = width ** -0.5
            fc_std = (2 * width) ** -0.5
            for b in blocks:
                nn.init.normal_(b.attn.in_proj.weight, std=attn_std)
                nn.init.zeros_(b.attn.in_proj.bias)
                nn.init.normal_(b.attn.out_proj.weight, std=proj_std)
                nn.init.zeros_(b.attn.out_proj.bias)
                nn.init.normal_(b.mlp.c_fc.weight, std=fc_std)
                nn.init.normal_(b.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=c.text_width ** -0.5)

    def encode_image(self, pixels):
        return self.visual(pixels)

    def encode_text(self, ids):
        n = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:n]
        for blk in self.blocks:
            x = blk(x, self.mask[:n, :n])
        x = self.ln_final(x)
        # first EOT: the EOT id is the largest id, so the first arg-max
        eot = (ids == self.cfg.vocab_size - 1).int().argmax(-1)
        return x[torch.arange(x.shape[0]), eot] @ self.text_projection


def normalize_pixels(u8, mean, std):
    """[N,H,W,3] uint8 -> [N,3,H,W] float32 as the engine does it:
    (u8 / 255 - mean) / std with true divisions."""
    x = u8.permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s
