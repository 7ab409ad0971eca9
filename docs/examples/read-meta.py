#!/usr/bin/python3
"""Reads the GstClipMeta that clipfilter attaches to buffers: labels, scores
and the image embedding, from a pad probe on the element's source pad.

    read-meta.py kitchen.mp4
    read-meta.py --pipeline 'videotestsrc num-buffers=30 ! \
        clipfilter prompts="a test pattern;a cat" attach-embedding=true ! fakesink'

Prints one line per analyzed frame: its timestamp, every label with its
score, and the first values of the embedding when attach-embedding is on.
Needs PyGObject (Debian: python3-gi, gir1.2-gstreamer-1.0) and the GstClip
typelib of this project; uninstalled, point GI_TYPELIB_PATH at the build's
gst-libs/ directory and GST_PLUGIN_PATH at its gst/ directory.
Exits 1 when the pipeline posts an error or has no clipfilter.
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstClip", "1.0")
from gi.repository import GLib, Gst, GstClip  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("file", nargs="?", help="a video file to analyze")
parser.add_argument("--pipeline", help="a whole gst-launch-1.0 description "
                    "with a clipfilter in it, instead of FILE")
parser.add_argument("--prompts", default="a test pattern;a cat",
                    help="clipfilter's prompts, with FILE")
parser.add_argument("--model", help="clipfilter's model, with FILE "
                    "(default: the element's)")
args = parser.parse_args()
if not args.pipeline and not args.file:
    parser.error("give a video file or --pipeline")
if args.file and not args.pipeline and not os.path.isfile(args.file):
    sys.exit(f"no such file: {args.file}")

Gst.init(None)
model = f' model="{args.model}"' if args.model else ""
description = args.pipeline or (
    f'filesrc location="{args.file}" ! decodebin ! videoconvert ! '
    f'clipfilter{model} prompts="{args.prompts}" attach-embedding=true ! '
    'fakesink')
try:
    pipeline = Gst.parse_launch(description)
except GLib.Error as e:
    sys.exit(f"invalid pipeline: {e.message}")

analyzer = next((e for e in pipeline.iterate_recurse()
                 if e.get_factory() and
                 e.get_factory().get_name() == "clipfilter"), None)
if analyzer is None:
    sys.exit("the pipeline has no clipfilter")


def on_buffer(pad, info):
    buf = info.get_buffer()
    meta = GstClip.buffer_get_clip_meta(buf)
    if meta is None:
        return Gst.PadProbeReturn.OK
    labels = meta.get_labels()
    scores = meta.get_scores()
    line = f"{meta.timestamp / Gst.SECOND:8.2f}s " + " ".join(
        f"{label}={score:.3f}" for label, score in zip(labels, scores))
    line += f" top={meta.get_top_label()}"
    embedding = meta.get_embedding()
    if embedding:
        head = ",".join(f"{v:.4f}" for v in embedding[:4])
        line += f" embedding[{len(embedding)}]={head},..."
    print(line, flush=True)
    return Gst.PadProbeReturn.OK


analyzer.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_buffer)

# piped into head(1): end quietly, as command-line tools do (set after the
# plugins are loaded: some ignore SIGPIPE when they load)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
failed = False
bus = pipeline.get_bus()
pipeline.set_state(Gst.State.PLAYING)
while True:
    msg = bus.timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.ERROR | Gst.MessageType.EOS)
    if msg.type == Gst.MessageType.ERROR:
        print(f"error: {msg.parse_error()[0].message}", file=sys.stderr)
        failed = True
    break
pipeline.set_state(Gst.State.NULL)
sys.exit(1 if failed else 0)
