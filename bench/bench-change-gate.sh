#!/usr/bin/env bash
# The change gate (change-threshold, max-reuse) on real encoded video, as
# counts and ratios measured in one run:
#   usage: bench/bench-change-gate.sh BUILD_DIR [MODEL] [MINUTES] [CHANGING_FRAMES]
# MODEL defaults to the shipped clipfilter-mini (it knows colour bars, plain
# screens and a ball); MINUTES (default 10) is the length of the static clip.
#
# 1. A mostly static clip: 640x360 at 10 frames/s, x264enc with B-frames
#    into MP4, minutes of SMPTE bars and of a plain blue screen, each minute
#    interrupted by 3 s of videotestsrc's moving ball. Decoded through
#    `clipfilter interval=1000000000 mode=sync` (one sample a second) with
#    the gate off (change-threshold=0) and on (0.01, max-reuse default):
#    embeddings computed (messages with reused=false) and the tags
#    (clipfilter-tag on/off) of both runs, which must agree within one sample.
# 2. What the gate costs when every frame changes: CHANGING_FRAMES (default
#    400) 320x240 frames of pattern=snow, every frame analyzed
#    (frame-interval=1, mode=sync), gate off and on alternately (A B five times),
#    timed from PLAYING to EOS after the model is loaded (wall and process
#    CPU); prints the times, and the ratios on/off of the medians and of
#    the minima.
# Prints JSON. Needs python3-gi (the system python3, or $PYTHON) and the
# GStreamer x264 and libav plugins.
set -euo pipefail
build=$(cd "$1" && pwd)
model=${2:-clipfilter-mini} minutes=${3:-10} changing=${4:-400}
export GST_PLUGIN_PATH="$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export LD_LIBRARY_PATH="$build/gst${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
clip=$(mktemp --suffix=.mp4)
trap 'rm -f "$clip"' EXIT

"${PYTHON:-/usr/bin/python3}" - "$model" "$minutes" "$changing" "$clip" <<'EOF'
import json, os, statistics, sys, time
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst

Gst.init(None)
model, minutes, changing, clip = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
SECOND = Gst.SECOND
FPS = 10
BALL_S = 3           # the moving ball, at the middle of every minute
PROMPTS = "smpte color bars;a blue screen;a white ball on a black background"


def run(pipeline, on_message=None, before_play=None):
    """Runs a pipeline to EOS; returns (wall s, CPU s) from PLAYING to EOS."""
    p = Gst.parse_launch(pipeline)
    if before_play:
        before_play(p)
    # the model loads at NULL->READY: outside the timed part
    if p.set_state(Gst.State.READY) == Gst.StateChangeReturn.FAILURE:
        sys.exit("bench-change-gate: cannot start " + pipeline)
    bus = p.get_bus()
    t0, c0 = time.monotonic(), time.process_time()
    p.set_state(Gst.State.PLAYING)
    while True:
        m = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR
                                   | Gst.MessageType.ELEMENT)
        if m.type == Gst.MessageType.ERROR:
            err, dbg = m.parse_error()
            sys.exit(f"bench-change-gate: {err.message} ({dbg})")
        if m.type == Gst.MessageType.EOS:
            break
        if on_message:
            on_message(m.get_structure())
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    p.set_state(Gst.State.NULL)
    return wall, cpu


def scene(t):
    """The clip's pattern at stream time t (seconds)."""
    if 30 <= t % 60 < 30 + BALL_S:
        return "ball"
    return "smpte" if (t // 60) % 2 == 0 else "solid-color"


# 1. the static clip, its scene switched by a probe on the source's pad
def make_clip():
    gen = (f"videotestsrc name=src num-buffers={minutes * 60 * FPS} "
           f"! video/x-raw,format=I420,width=640,height=360,framerate={FPS}/1 "
           f"! x264enc bframes=2 speed-preset=veryfast key-int-max=250 ! mp4mux "
           f"! filesink location={clip}")

    def probe(pad, info, src):
        t = info.get_buffer().pts / SECOND + 1.0 / FPS   # takes effect at the next frame
        want = scene(t)
        if src.get_property("pattern").value_nick != want:
            # a blue screen; a white ball
            src.set_property("foreground-color", 0xff0000ff if want == "solid-color" else 0xffffffff)
            src.set_property("pattern", want)
        return Gst.PadProbeReturn.OK

    def setup(p):
        src = p.get_by_name("src")
        src.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe, src)

    t0 = time.monotonic()
    run(gen, before_play=setup)
    return time.monotonic() - t0


def tagged(threshold):
    res = {"encoded": 0, "reused": 0, "tags": []}

    def on_message(s):
        if s.get_name() == "clipfilter":
            res["reused" if s.get_value("reused") else "encoded"] += 1
        elif s.get_name() == "clipfilter-tag":
            res["tags"].append((s.get_value("label"), s.get_value("state"),
                                s.get_value("timestamp") / SECOND))

    run(f"filesrc location={clip} ! decodebin ! videoconvert "
        f"! clipfilter model={model} prompts=\"{PROMPTS}\" interval={SECOND} mode=sync "
        f"change-threshold={threshold} ! fakesink sync=false", on_message)
    return res


gen_s = make_clip()
off, on = tagged(0), tagged(0.01)
same_tags = len(off["tags"]) == len(on["tags"]) and all(
    a[0] == b[0] and a[1] == b[1] for a, b in zip(off["tags"], on["tags"]))
max_shift = max((abs(a[2] - b[2]) for a, b in zip(off["tags"], on["tags"])), default=0.0)

# 2. every frame changes
reused_changing = [0]

def count_reused(s):
    if s.get_name() == "clipfilter" and s.get_value("reused"):
        reused_changing[0] += 1

def changing_run(threshold):
    return run(f"videotestsrc pattern=snow num-buffers={changing} "
               f"! video/x-raw,format=I420,width=320,height=240,framerate=30/1 "
               f"! clipfilter model={model} prompts=\"{PROMPTS}\" mode=sync frame-interval=1 "
               f"change-threshold={threshold} ! fakesink sync=false", count_reused)

changing_run(0)   # warm-up: page cache, primitives
walls = {0: [], 0.01: []}
cpus = {0: [], 0.01: []}
for _ in range(5):
    for th in (0, 0.01):
        w, c = changing_run(th)
        walls[th].append(w)
        cpus[th].append(c)
med = lambda v: statistics.median(v)

print(json.dumps({
    "model": model,
    "static_clip": {
        "minutes": minutes, "fps": FPS, "samples_per_s": 1, "generate_s": round(gen_s, 1),
        "embeddings_gate_off": off["encoded"], "reused_gate_off": off["reused"],
        "embeddings_gate_on": on["encoded"], "reused_gate_on": on["reused"],
        "embeddings_ratio_off_on": round(off["encoded"] / max(on["encoded"], 1), 2),
        "tags_gate_off": len(off["tags"]), "tags_gate_on": len(on["tags"]),
        "tags_same_sequence": same_tags, "tags_max_shift_s": max_shift,
        "tags_gate_on_list": [f"{t:.0f}s {l} {s}" for l, s, t in on["tags"]],
    },
    "every_frame_changes": {
        "frames": changing,
        "reused_gate_on": reused_changing[0],
        "wall_s_gate_off": [round(x, 3) for x in walls[0]],
        "wall_s_gate_on": [round(x, 3) for x in walls[0.01]],
        "cpu_s_gate_off": [round(x, 3) for x in cpus[0]],
        "cpu_s_gate_on": [round(x, 3) for x in cpus[0.01]],
        "wall_ratio_on_off_median": round(med(walls[0.01]) / med(walls[0]), 3),
        "cpu_ratio_on_off_median": round(med(cpus[0.01]) / med(cpus[0]), 3),
        "wall_ratio_on_off_min": round(min(walls[0.01]) / min(walls[0]), 3),
        "cpu_ratio_on_off_min": round(min(cpus[0.01]) / min(cpus[0]), 3),
    },
}, indent=2))
EOF
