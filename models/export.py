"""Writes a trained CLIP in the Hugging Face layout the engine loads:
config.json, model.safetensors (Hugging Face CLIPModel names, F16),
vocab.json, merges.txt, preprocessor_config.json."""
import json
import struct

import numpy as np

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> numpy array (float16/float32). Deterministic bytes:
    names sorted, header padded with spaces to a multiple of 8."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    dtypes = {np.dtype("float16"): "F16", np.dtype("float32"): "F32", np.dtype("int32"): "I32"}
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """name -> float32 numpy array (F16/F32 only)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        dt = {"F16": "<f2", "F32": "<f4"}[t["dtype"]]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + e], dt).reshape(t["shape"]).astype(np.float32)
    return out


# The one table of names: (open_clip name, Hugging Face CLIPModel name,
# stored transposed) for the tensors outside the residual blocks, and for a
# block's (open_clip, Hugging Face) sub-layers, each with a weight and a bias.
# The fused qkv projection of a block is split (HF) or joined (open_clip)
# apart from this. Both directions below are derived from it.
TOP_NAMES = [
    ("token_embedding.weight", "text_model.embeddings.token_embedding.weight", False),
    ("positional_embedding", "text_model.embeddings.position_embedding.weight", False),
    ("ln_final.weight", "text_model.final_layer_norm.weight", False),
    ("ln_final.bias", "text_model.final_layer_norm.bias", False),
    ("text_projection", "text_projection.weight", True),
    ("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", False),
    ("visual.class_embedding", "vision_model.embeddings.class_embedding", False),
    ("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", False),
    ("visual.ln_pre.weight", "vision_model.pre_layrnorm.weight", False),
    ("visual.ln_pre.bias", "vision_model.pre_layrnorm.bias", False),
    ("visual.ln_post.weight", "vision_model.post_layernorm.weight", False),
    ("visual.ln_post.bias", "vision_model.post_layernorm.bias", False),
    ("visual.proj", "visual_projection.weight", True),
]
BLOCK_NAMES = [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
               ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]


def block_prefixes(c):
    """(open_clip, Hugging Face) name prefix of every residual block."""
    return ([(f"blocks.{i}", f"text_model.encoder.layers.{i}") for i in range(c.text_layers)]
            + [(f"visual.blocks.{i}", f"vision_model.encoder.layers.{i}")
               for i in range(c.vision_layers)])


def name_map(c):
    """(open_clip name, Hugging Face name, transposed) of every tensor but the
    blocks' qkv projections and logit_scale."""
    names = list(TOP_NAMES)
    for oc, hf in block_prefixes(c):
        for s, t in BLOCK_NAMES:
            for p in ("weight", "bias"):
                names.append((f"{oc}.{s}.{p}", f"{hf}.{t}.{p}", False))
    return names


def hf_state_dict(model):
    """OpenAI-style parameters -> Hugging Face CLIPModel names and layouts."""
    sd = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    out = {hf: sd[oc].T if transposed else sd[oc] for oc, hf, transposed in name_map(model.cfg)}
    for oc, hf in block_prefixes(model.cfg):
        w = sd[f"{oc}.attn.in_proj.weight"]
        b = sd[f"{oc}.attn.in_proj.bias"]
        d = w.shape[1]
        for i, n in enumerate("qkv"):
            out[f"{hf}.self_attn.{n}_proj.weight"] = w[i * d:(i + 1) * d]
            out[f"{hf}.self_attn.{n}_proj.bias"] = b[i * d:(i + 1) * d]
    out["logit_scale"] = np.array(sd["logit_scale"], np.float32).reshape(())
    return out


def load_hf_into(model, path):
    """Inverse of hf_state_dict: loads an exported model.safetensors (as F32)."""
    import torch
    t = read_safetensors(path)
    sd = {oc: t[hf].T if transposed else t[hf] for oc, hf, transposed in name_map(model.cfg)}
    for oc, hf in block_prefixes(model.cfg):
        for p in ("weight", "bias"):
            sd[f"{oc}.attn.in_proj.{p}"] = np.concatenate(
                [t[f"{hf}.self_attn.{n}_proj.{p}"] for n in "qkv"])
    sd["logit_scale"] = t["logit_scale"]
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    return model


def config_json(c, tok):
    common = {"hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "projection_dim": c.embed_dim,
              "attention_dropout": 0.0, "dropout": 0.0, "initializer_factor": 1.0,
              "initializer_range": 0.02}
    text = dict(common, model_type="clip_text_model", vocab_size=c.vocab_size,
                hidden_size=c.text_width, intermediate_size=4 * c.text_width,
                num_attention_heads=c.text_heads, num_hidden_layers=c.text_layers,
                max_position_embeddings=c.context_length,
                bos_token_id=tok.sot, eos_token_id=tok.eot, pad_token_id=1)
    vision = dict(common, model_type="clip_vision_model", hidden_size=c.vision_width,
                  intermediate_size=4 * c.vision_width, num_attention_heads=c.vision_heads,
                  num_hidden_layers=c.vision_layers, image_size=c.image_size,
                  patch_size=c.patch_size, num_channels=3)
    return {"architectures": ["CLIPModel"], "model_type": "clip", "initializer_factor": 1.0,
            "logit_scale_init_value": 2.6592, "projection_dim": c.embed_dim,
            "text_config": text, "vision_config": vision, "torch_dtype": "float16"}


def preprocessor_json(c):
    s = c.image_size
    return {"crop_size": {"height": s, "width": s}, "do_center_crop": True,
            "do_convert_rgb": True, "do_normalize": True, "do_rescale": True,
            "do_resize": True, "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
            "image_processor_type": "CLIPImageProcessor", "resample": 3,
            "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": s}}


def export(model, tok, directory, metadata=None):
    import os
    os.makedirs(directory, exist_ok=True)
    tensors = {k: v.astype(np.float16) for k, v in hf_state_dict(model).items()}
    write_safetensors(os.path.join(directory, "model.safetensors"), tensors, metadata)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config_json(model.cfg, tok), f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(directory, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor_json(model.cfg), f, indent=2, sort_keys=True)
        f.write("\n")
    tok.write(directory)
