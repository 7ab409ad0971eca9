"""Training and evaluation frames for the shipped model, with their captions.

Frames come from two sources: GStreamer's own videotestsrc (rendered by
GStreamer through python3-gi, so they are exactly what a demo pipeline
produces) and simple shape scenes drawn with Pillow. Every frame is
preprocessed exactly as the engine does at run time (preprocess_frame) and
cached as uint8 crops, so a rerun does not render again.

Each frame carries attributes (kind, shape, fg, bg); each caption carries
the subset of attributes it states. A caption is a positive for every image
whose attributes agree with all the attributes it states.
"""
import io
import os

import numpy as np
from PIL import Image, ImageDraw

COLORS = ["red", "green", "blue", "yellow", "cyan", "magenta", "white", "black"]
RGB = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
    "yellow": (255, 255, 0), "cyan": (0, 255, 255), "magenta": (255, 0, 255),
    "white": (255, 255, 255), "black": (0, 0, 0),
}
SHAPES = ["circle", "square", "triangle", "star"]
# Attribute value of a colour that has no name here (a random colour far from
# the eight): no caption states it, so scenes with one teach the named
# colour of the other role on its own, not as a memorised pair.
OTHER = len(COLORS)
# Pattern kinds the model knows; "solid" is a one-colour screen, "shape" one
# shape (videotestsrc's ball is a shape: a circle) on a one-colour background.
KINDS = ["bars", "snow", "checkers", "rings", "pinwheel", "spokes", "gradient",
         "palette", "solid", "shape"]

# Words for each concept. The first one is the canonical name used in the
# recommended prompts and the evaluation.
KIND_NAMES = {
    "bars": ["smpte color bars", "color bars", "colour bars", "smpte bars",
             "tv test pattern of colour bars", "a test card with color bars",
             "vertical color bars"],
    "snow": ["tv static", "static noise", "snow", "random noise", "noisy static",
             "white noise static", "tv snow"],
    "checkers": ["a checkerboard", "a checkered pattern", "checkers",
                 "a chessboard pattern", "a checkerboard of tiny squares"],
    "rings": ["concentric circles", "concentric rings", "a pattern of circular rings",
              "a target of rings", "rings around a dot"],
    "pinwheel": ["a pinwheel", "a pinwheel pattern", "a pinwheel of stripes",
                 "a pinwheel of wedges"],
    "spokes": ["spokes", "radial spokes", "a starburst of thin lines",
               "lines from the center", "sun rays"],
    "gradient": ["a gradient", "a smooth gradient", "a colour fade", "a color fade",
                 "a vertical gradient"],
    "palette": ["a color palette", "a colour palette", "a grid of all colors",
                "a rainbow of colours", "a color chart"],
}
SHAPE_NAMES = {
    "circle": ["circle", "ball", "disc", "dot"],
    "square": ["square", "box", "block"],
    "triangle": ["triangle"],
    "star": ["star"],
}
PREFIXES_TRAIN = ["", "", "a picture of ", "a photo of ", "an image of ",
                  "a video frame of ", "a frame showing ", "this is ",
                  "a screen showing ", "a tv showing "]
PREFIXES_HELDOUT = ["a video of ", "a picture showing ", "this is a photo of "]

# Templates: (text, attributes it states). {fg} {bg} colours, {shape} a shape word.
SHAPE_TEMPLATES_TRAIN = [
    ("a {fg} {shape} on a {bg} background", "fsb"),
    ("a {fg} {shape} on {bg}", "fsb"),
    ("{fg} {shape} over a {bg} background", "fsb"),
    ("a {bg} background with a {fg} {shape}", "fsb"),
    ("a {bg} background behind a {fg} {shape}", "fsb"),
    ("on {bg}, a {fg} {shape}", "fsb"),
    ("{bg} behind a {fg} {shape}", "fsb"),
    ("{bg} background with a {fg} {shape}", "fsb"),
    ("{bg} background behind a {fg} {shape}", "fsb"),
    ("{bg} background, {fg} {shape}", "fsb"),
    ("a {shape} colored {fg} on a {bg} background", "fsb"),
    ("a {shape} coloured {fg} on {bg}", "fsb"),
    ("a {fg} {shape}. the background is {bg}", "fsb"),
    ("a {fg} {shape} against a {bg} background", "fsb"),
    ("a {fg} {shape} in front of a solid {bg} background", "fsb"),
    ("a {shape} in {fg} on a flat {bg} background", "fsb"),
    ("{fg} {shape}, {bg} background", "fsb"),
    ("a {fg} {shape} with a uniform {bg} background", "fsb"),
    ("a {fg} {shape} and a {bg} background", "fsb"),
    ("a {shape} that is {fg} and a background that is {bg}", "fsb"),
    ("a {fg} {shape}", "fs"),
    ("the {shape} is {fg}", "fs"),
    ("a {shape} in {fg}", "fs"),
    ("one {fg} {shape}", "fs"),
    ("a {shape} that is {fg}", "fs"),
    ("a {shape} on a {bg} background", "sb"),
    ("a {shape} on {bg}", "sb"),
    ("a {shape} against {bg}", "sb"),
    ("a {shape} on a solid {bg} background", "sb"),
    ("a {shape} with a {bg} background", "sb"),
    ("a {shape}", "s"),
    ("a {fg} thing on a {bg} background", "fb"),
    ("{fg} on {bg}", "fb"),
    ("something {fg}", "f"),
    ("a {fg} object", "f"),
    ("a {bg} background", "b"),
    ("a solid {bg} background", "b"),
    ("{bg} background", "b"),
    ("the background color is {bg}", "b"),
]
SHAPE_TEMPLATES_HELDOUT = [
    ("the {shape} is {fg} and the background is {bg}", "fsb"),
    ("{bg} background and a {fg} {shape}", "fsb"),
    ("a {fg} colored {shape} on a plain {bg} background", "fsb"),
]
SOLID_TEMPLATES_TRAIN = ["a plain {c} screen", "solid {c}", "an empty {c} frame",
                         "a blank {c} screen", "a screen filled with {c}", "all {c}",
                         "{c}", "the color {c}", "the colour {c}", "a {c} image"]
SOLID_TEMPLATES_HELDOUT = ["a plain {c} frame", "an empty screen filled with {c}",
                           "a blank {c} image"]
# Evaluation-only templates for the colour of a shape and of its background.
SOLID_TEMPLATES_HELDOUT_EVAL = SOLID_TEMPLATES_HELDOUT
SHAPE_TEMPLATES_FG_EVAL = ["a {fg} colored {shape}", "a video of a {fg} {shape}",
                           "this {shape} is {fg}"]
SHAPE_TEMPLATES_BG_EVAL = ["a {shape} on a plain {bg} background", "a video of a {shape} on {bg}",
                           "the background is {bg}"]
# Colourable patterns may also name their colours in training captions.
PATTERN_COLOR_TEMPLATES = ["{name} in {fg} and {bg}", "a {fg} and {bg} {bare}"]
COLORED_PATTERNS = {"pinwheel": "pinwheel", "spokes": "spokes pattern",
                    "rings": "rings pattern", "gradient": "gradient"}

# attribute columns of a frame; -1 = not stated / not applicable. Frames
# also carry a fifth column: 0 = rendered by videotestsrc, 1 = drawn.
ATTRS = ("kind", "shape", "fg", "bg")


def argb(name):
    r, g, b = RGB[name]
    return 0xFF000000 | (r << 16) | (g << 8) | b


def is_heldout_pair(fg, bg):
    """Colour pairs never shown together in training, in either role: red and
    blue, red and black, green and white, blue and magenta, yellow and cyan,
    magenta and black (12 of the 56 ordered pairs; every colour is in one).
    Holding out both orders matters: when a blue ball on red is a training
    frame, a model can name a red ball on blue from that memory of the two
    colours instead of seeing which one is the ball."""
    return (fg + bg) % 5 == 2


def preprocess_frame(rgb, size):
    """HxWx3 uint8 -> size x size x 3 uint8 exactly as the engine does:
    shorter side to `size` with Pillow bicubic, centre crop (halves to even)."""
    im = Image.fromarray(rgb)
    w, h = im.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BICUBIC)
    left = round((nw - size) / 2)
    top = round((nh - size) / 2)
    return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)


_gst = None


def _gst_init():
    global _gst
    if _gst is None:
        import gi
        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
        Gst.init(None)
        _gst = Gst
    return _gst


def render_gst(pattern, width, height, n, props="", via_i420=False):
    """Frames of videotestsrc as HxWx3 uint8 RGB, rendered by GStreamer."""
    Gst = _gst_init()
    conv = ""
    if via_i420:  # what a demo pipeline into the element usually carries
        conv = f"video/x-raw,format=I420,width={width},height={height} ! videoconvert ! "
    desc = (f"videotestsrc pattern={pattern} num-buffers={n} {props} ! {conv}"
            f"video/x-raw,format=RGB,width={width},height={height} ! appsink name=sink sync=false")
    pipe = Gst.parse_launch(desc)
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    frames = []
    stride = (width * 3 + 3) // 4 * 4
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        a = np.frombuffer(info.data, np.uint8).reshape(height, stride)[:, :width * 3]
        frames.append(a.reshape(height, width, 3).copy())
        buf.unmap(info)
    pipe.set_state(Gst.State.NULL)
    if len(frames) != n:
        raise RuntimeError(f"videotestsrc {pattern}: expected {n} frames, got {len(frames)}")
    return frames


def _star(cx, cy, r, rot):
    pts = []
    for i in range(10):
        rr = r if i % 2 == 0 else r * 0.42
        a = rot + i * np.pi / 5 - np.pi / 2
        pts.append((cx + rr * np.cos(a), cy + rr * np.sin(a)))
    return pts


def l1(a, b):
    """L1 distance of two RGB colours."""
    return sum(abs(x - y) for x, y in zip(a, b))


def distance_to_named(c):
    """L1 distance from an RGB colour to the nearest named colour."""
    return min(l1(c, named) for named in RGB.values())


def other_color(rng):
    """A random RGB colour far (L1 > 150) from every named colour."""
    while True:
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        if distance_to_named(c) > 150:
            return c


def draw_shape(shape, fg, bg, width, height, rng):
    """A frame with one shape, placed so that it survives the centre crop.
    fg and bg are colour indices or RGB tuples."""
    col = RGB[COLORS[fg]] if isinstance(fg, (int, np.integer)) else fg
    bgc = RGB[COLORS[bg]] if isinstance(bg, (int, np.integer)) else bg
    im = Image.new("RGB", (width, height), bgc)
    d = ImageDraw.Draw(im)
    s = min(width, height)
    r = s * rng.uniform(0.15, 0.38)
    cx = width / 2 + rng.uniform(-1, 1) * (s / 2 - r) * 0.9
    cy = height / 2 + rng.uniform(-1, 1) * (s / 2 - r) * 0.9
    rot = rng.uniform(-0.35, 0.35)
    if shape == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=col)
    elif shape == "square":
        pts = [(cx + r * 0.85 * np.cos(rot + a) * np.sqrt(2), cy + r * 0.85 * np.sin(rot + a) * np.sqrt(2))
               for a in (np.pi / 4, 3 * np.pi / 4, 5 * np.pi / 4, 7 * np.pi / 4)]
        d.polygon(pts, fill=col)
    elif shape == "triangle":
        pts = [(cx + r * np.cos(rot + a), cy + r * 0.15 + r * np.sin(rot + a))
               for a in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6)]
        d.polygon(pts, fill=col)
    elif shape == "star":
        d.polygon(_star(cx, cy, r * 1.1, rot), fill=col)
    return np.asarray(im)


def draw_mask(shape, width, height, size, rng):
    """One drawn shape as the engine will see it, without its colours: the
    shape drawn white on black, preprocessed, one channel (size x size uint8).
    Preprocessing is linear in the pixel values (up to rounding and Pillow's
    clamping of bicubic overshoot), so compose() colours it as if the
    coloured frame had been preprocessed."""
    white, black = (255, 255, 255), (0, 0, 0)
    return preprocess_frame(draw_shape(shape, white, black, width, height, rng), size)[..., 0]


def compose(masks, fg_rgb, bg_rgb):
    """[B,H,W] uint8 masks, [B,3] foreground and background RGB -> [B,H,W,3]
    uint8 frames: bg + (fg - bg) * mask / 255, rounded."""
    a = masks.astype(np.float32)[..., None] / 255.0
    fg = np.asarray(fg_rgb, np.float32)[:, None, None, :]
    bg = np.asarray(bg_rgb, np.float32)[:, None, None, :]
    return np.clip(np.rint(bg + (fg - bg) * a), 0, 255).astype(np.uint8)


# Bump when build_frames() changes what it renders for a split (the cache key).
RENDER_VERSION = {"train": 6, "eval": 4}

# Drawn shapes per shape in the training split, as masks.
N_MASKS = 2000

TRAIN_SIZES = [(320, 240), (640, 480), (1280, 720), (240, 320), (352, 288), (160, 120)]
EVAL_SIZES = [(320, 240), (400, 300), (720, 480)]


def _visible(crop, bg_rgb, min_pixels):
    diff = np.abs(crop.astype(np.int16) - np.array(bg_rgb, np.int16)).sum(-1)
    return int((diff > 60).sum()) >= min_pixels


def build_frames(size, split, seed):
    """All frames of one split ('train' or 'eval') as a dict of arrays."""
    rng = np.random.default_rng(seed + (0 if split == "train" else 1000))
    sizes = TRAIN_SIZES if split == "train" else EVAL_SIZES
    imgs, attrs = [], []

    def add(frame, kind, shape=-1, fg=-1, bg=-1, drawn=0):
        imgs.append(preprocess_frame(frame, size))
        attrs.append((KINDS.index(kind), shape, fg, bg, drawn))

    def pick_size():
        return sizes[rng.integers(len(sizes))]

    def via():
        return bool(rng.integers(2))

    pairs = [(f, b) for f in range(8) for b in range(8) if f != b]
    pairs = [p for p in pairs if is_heldout_pair(*p) == (split == "eval")]
    reps = 2 if split == "train" else 1

    # fixed patterns: every size, both routes
    for w, h in sizes:
        for i420 in (False, True):
            for pat in ("smpte", "smpte75", "smpte100"):
                add(render_gst(pat, w, h, 1, via_i420=i420)[0], "bars")
            for pat in ("checkers-1", "checkers-2", "checkers-4", "checkers-8"):
                add(render_gst(pat, w, h, 1, via_i420=i420)[0], "checkers")
            add(render_gst("colors", w, h, 1, via_i420=i420)[0], "palette")
            add(render_gst("circular", w, h, 1, via_i420=i420)[0], "rings")
            add(render_gst("pinwheel", w, h, 1, via_i420=i420)[0], "pinwheel")
            add(render_gst("spokes", w, h, 1, via_i420=i420)[0], "spokes")
            add(render_gst("gradient", w, h, 1, via_i420=i420)[0], "gradient")
            for f in render_gst("snow", w, h, 6 if split == "train" else 2, via_i420=i420):
                add(f, "snow")
            # solid colours: named patterns and solid-color with every colour
            for ci, c in enumerate(COLORS):
                add(render_gst("solid-color", w, h, 1, f"foreground-color={argb(c)}", i420)[0],
                    "solid", fg=ci, bg=ci)
            for c in ("black", "white", "red", "green", "blue"):
                ci = COLORS.index(c)
                add(render_gst(c, w, h, 1, via_i420=i420)[0], "solid", fg=ci, bg=ci)
    # blink alternates black and white frames
    w, h = sizes[0]
    for k, f in enumerate(render_gst("blink", w, h, 2)):
        ci = COLORS.index("black" if k % 2 == 0 else "white")
        add(f, "solid", fg=ci, bg=ci)

    # colourable patterns with foreground/background colours
    for fg, bg in pairs:
        for _ in range(reps):
            for kind, pat in (("pinwheel", "pinwheel"), ("spokes", "spokes"),
                              ("rings", "circular"), ("gradient", "gradient")):
                w, h = pick_size()
                props = f"foreground-color={argb(COLORS[fg])} background-color={argb(COLORS[bg])}"
                add(render_gst(pat, w, h, 1, props, via())[0], kind, fg=fg, bg=bg)

    if split == "train":
        # The ball, the drawn shapes: kept as masks (white on black) and
        # coloured per batch by compose(); videotestsrc blends the ball's
        # edge linearly, so a mask coloured afterwards is the frame
        # videotestsrc renders in those colours (exactly in RGB; within a few
        # levels through I420, whose chroma is subsampled).
        ball_masks = []
        white_on_black = "foreground-color=0xffffffff background-color=0xff000000"
        for motion in ("wavy", "sweep", "hsweep"):
            for w, h in sizes:
                for flip in ("false", "true"):
                    for i420 in (False, True):
                        frames = render_gst("ball", w, h, 120,
                                            f"{white_on_black} motion={motion} flip={flip}", i420)
                        for k in range(int(rng.integers(0, 12)), 120, 12):
                            crop = preprocess_frame(frames[k], size)
                            if _visible(crop, (0, 0, 0), 3):
                                ball_masks.append(crop[..., 0])
        masks, mask_shapes = [], []
        for si, shape in enumerate(SHAPES):
            for _ in range(N_MASKS):
                w, h = pick_size()
                masks.append(draw_mask(shape, w, h, size, rng))
                mask_shapes.append(si)
        return {"images": np.stack(imgs), "attrs": np.array(attrs, np.int64),
                "masks": np.stack(masks), "mask_shapes": np.array(mask_shapes, np.int64),
                "ball_masks": np.stack(ball_masks)}

    # the ball: videotestsrc's moving ball, frames spread over its motion
    circle = SHAPES.index("circle")
    n_per = 2
    for fg, bg in pairs:
        for motion in ("wavy", "sweep", "hsweep"):
            w, h = pick_size()
            props = (f"foreground-color={argb(COLORS[fg])} background-color={argb(COLORS[bg])} "
                     f"motion={motion} flip={'true' if rng.integers(4) == 0 else 'false'}")
            n = 120
            frames = render_gst("ball", w, h, n, props, via())
            start = int(rng.integers(0, 12))
            kept = 0
            for k in range(start, n, 12):
                crop = preprocess_frame(frames[k], size)
                if _visible(crop, RGB[COLORS[bg]], 3):
                    imgs.append(crop)
                    attrs.append((KINDS.index("shape"), circle, fg, bg, 0))
                    kept += 1
                if kept >= n_per:
                    break

    # drawn shape scenes
    n_shape = 3
    for fg, bg in pairs:
        for si, shape in enumerate(SHAPES):
            for _ in range(n_shape):
                w, h = pick_size()
                add(draw_shape(shape, fg, bg, w, h, rng), "shape", shape=si, fg=fg, bg=bg,
                    drawn=1)
    return {"images": np.stack(imgs), "attrs": np.array(attrs, np.int64)}


def load_frames(cache_dir, size, split, seed):
    """build_frames() with an .npz cache keyed by everything it depends on."""
    key = f"{split}-{size}-{seed}-v{RENDER_VERSION[split]}"
    path = os.path.join(cache_dir, f"frames-{key}.npz")
    if os.path.exists(path):
        z = np.load(path)
        return {k: z[k] for k in z.files}
    data = build_frames(size, split, seed)
    os.makedirs(cache_dir, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **data)
    with open(path + ".tmp", "wb") as f:
        f.write(buf.getvalue())
    os.replace(path + ".tmp", path)
    return data


# ---------------------------------------------------------------- captions

def caption(attrs, rng, heldout=False, shape_stated=None):
    """A random caption for an image with these attributes.
    Returns (text, stated) where stated is (kind, shape, fg, bg) with -1 for
    attributes the text does not state. shape_stated, if given, limits a shape
    scene's training templates to those stating exactly one of these sets."""
    kind, shape, fg, bg = (int(a) for a in attrs[:4])
    kname = KINDS[kind]
    prefixes = PREFIXES_HELDOUT if heldout else PREFIXES_TRAIN
    prefix = prefixes[rng.integers(len(prefixes))]
    if kname == "shape":
        temps = SHAPE_TEMPLATES_HELDOUT if heldout else SHAPE_TEMPLATES_TRAIN
        if shape_stated is not None:
            temps = [ts for ts in temps if ts[1] in shape_stated]
        # an unnamed colour is never stated
        if fg == OTHER:
            temps = [ts for ts in temps if "f" not in ts[1]]
        if bg == OTHER:
            temps = [ts for ts in temps if "b" not in ts[1]]
        t, stated = temps[rng.integers(len(temps))]
        words = SHAPE_NAMES[SHAPES[shape]]
        text = t.format(fg=COLORS[fg] if fg < OTHER else "", bg=COLORS[bg] if bg < OTHER else "",
                        shape=words[rng.integers(len(words))])
        st = (kind if "s" in stated else -1, shape if "s" in stated else -1,
              fg if "f" in stated else -1, bg if "b" in stated else -1)
        if "s" not in stated:
            # colour-only captions are about shape scenes only in spirit; keep
            # them consistent with any kind that has that fg/bg
            st = (-1, -1, st[2], st[3])
        return prefix + text, st
    if kname == "solid":
        temps = SOLID_TEMPLATES_HELDOUT if heldout else SOLID_TEMPLATES_TRAIN
        t = temps[rng.integers(len(temps))]
        return prefix + t.format(c=COLORS[fg]), (kind, -1, fg, fg)
    names = KIND_NAMES[kname]
    if not heldout and fg >= 0 and kname in COLORED_PATTERNS and rng.integers(3) == 0:
        t = PATTERN_COLOR_TEMPLATES[rng.integers(len(PATTERN_COLOR_TEMPLATES))]
        text = t.format(name=names[rng.integers(len(names))], bare=COLORED_PATTERNS[kname],
                        fg=COLORS[fg], bg=COLORS[bg])
        return prefix + text, (kind, -1, fg, bg)
    return prefix + names[rng.integers(len(names))], (kind, -1, -1, -1)


def all_training_captions():
    """Every caption the training templates can produce (for the BPE)."""
    out = []
    for p in PREFIXES_TRAIN[1:] + [""]:
        for names in KIND_NAMES.values():
            out += [p + n for n in names]
        for t in SOLID_TEMPLATES_TRAIN:
            out += [p + t.format(c=c) for c in COLORS]
        for t, _ in SHAPE_TEMPLATES_TRAIN:
            for ws in SHAPE_NAMES.values():
                for w in ws:
                    out += [p + t.format(fg=f, bg=b, shape=w) for f in COLORS for b in COLORS if f != b]
        for kname, bare in COLORED_PATTERNS.items():
            for t in PATTERN_COLOR_TEMPLATES:
                for n in KIND_NAMES[kname]:
                    out += [p + t.format(name=n, bare=bare, fg=f, bg=b)
                            for f in COLORS for b in COLORS if f != b]
    return sorted(set(out))
