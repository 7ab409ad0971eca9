#!/usr/bin/python3
r"""Prints the actions clipfilter sees in a video: one line when a label
turns on and one when it turns off (the clipfilter-tag bus messages).

    print-tags.py --model clip-vit-base-patch32 kitchen.mp4
    print-tags.py --model clip-vit-base-patch32 \
        --prompts 'person cooking|person frying food;person dancing' \
        --templates 'a photo of a person {}.;a video of a person {}.' kitchen.mp4
    print-tags.py --pipeline 'videotestsrc num-buffers=50 ! videoconvert ! \
        clipfilter prompts="a ball;colour bars" ! fakesink'

--model, --prompts and --templates set the clipfilter's properties (also
the one in a --pipeline). The default model, the shipped clipfilter-mini,
knows test patterns, colours and shapes only: for real video fetch a CLIP
checkpoint first (models/fetch-model.sh clip-vit-base-patch32).

Needs PyGObject with GStreamer (Debian: python3-gi, gir1.2-gstreamer-1.0);
run uninstalled with GST_PLUGIN_PATH pointing at the build's gst/ directory.
Warnings are printed on stderr. Exits 1 when the pipeline posts an error,
2 on a usage error (a missing video file).
"""
import argparse
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

DEFAULT_PROMPTS = "person cooking|person frying food;person dancing"

parser = argparse.ArgumentParser(
    description=__doc__.split("\n\n")[0],
    formatter_class=argparse.RawDescriptionHelpFormatter,
    epilog=__doc__.split("\n\n", 1)[1])
parser.add_argument("file", nargs="?", help="a video file to tag")
parser.add_argument("--pipeline", help="a whole gst-launch-1.0 description "
                    "with a clipfilter in it, instead of FILE")
parser.add_argument("--model", help="checkpoint path or installed model name "
                    "(default: the element's, clipfilter-mini)")
parser.add_argument("--prompts", help="labels separated by ';', synonyms by "
                    f"'|' (default with FILE: '{DEFAULT_PROMPTS}')")
parser.add_argument("--templates", help="e.g. 'a photo of {}.', several "
                    "separated by ';'")
args = parser.parse_args()
if bool(args.pipeline) == bool(args.file):
    parser.error("give a video file or --pipeline (not both)")
if args.file and not os.path.isfile(args.file):
    parser.error(f"no such video file: {args.file}")

Gst.init(None)
description = args.pipeline or (
    "filesrc name=src ! decodebin ! videoconvert ! "
    "clipfilter window=4 threshold=0.6 ! fakesink")
try:
    pipeline = Gst.parse_launch(description)
except GLib.Error as e:
    sys.exit(f"invalid pipeline: {e.message}")
clip = next((e for e in pipeline.iterate_recurse()
             if e.get_factory() and e.get_factory().get_name() == "clipfilter"),
            None) if isinstance(pipeline, Gst.Bin) else None
if clip is None:
    sys.exit("invalid pipeline: it has no clipfilter")
# Set as properties, not pasted into the description: no quoting to get right.
if args.file:
    pipeline.get_by_name("src").set_property("location", args.file)
    clip.set_property("prompts", args.prompts or DEFAULT_PROMPTS)
elif args.prompts:
    clip.set_property("prompts", args.prompts)
if args.model:
    clip.set_property("model", args.model)
if args.templates:
    clip.set_property("templates", args.templates)

loop = GLib.MainLoop()
failed = False


def on_message(bus, msg):
    global failed
    if msg.type == Gst.MessageType.ELEMENT:
        s = msg.get_structure()
        if s.get_name() == "clipfilter-tag":
            t = s.get_value("stream-time")
            when = (f"{t / Gst.SECOND:8.2f}s" if t != Gst.CLOCK_TIME_NONE
                    else "       ?")
            print(f"{when}  {s.get_value('label')}: {s.get_value('state')}"
                  f" ({s.get_value('score'):.2f})", flush=True)
    elif msg.type == Gst.MessageType.WARNING:
        print(f"warning: {msg.parse_warning()[0].message}", file=sys.stderr)
    elif msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        print(f"error: {err.message}", file=sys.stderr)
        failed = True
        loop.quit()
    elif msg.type == Gst.MessageType.EOS:
        loop.quit()


bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
# Ctrl-C ends the stream cleanly, so labels still on are closed ("off").
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 2,
                     lambda: pipeline.send_event(Gst.Event.new_eos()) or True)
if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
    failed = True  # the error message is on the bus: print it
    msg = bus.pop_filtered(Gst.MessageType.ERROR)
    if msg:
        print(f"error: {msg.parse_error()[0].message}", file=sys.stderr)
else:
    loop.run()
pipeline.set_state(Gst.State.NULL)
bus.remove_signal_watch()
sys.exit(1 if failed else 0)
