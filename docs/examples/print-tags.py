#!/usr/bin/python3
"""Prints the actions clipfilter sees in a video: one line when a label
turns on and one when it turns off (the clipfilter-tag bus messages).

    print-tags.py kitchen.mp4
    print-tags.py --pipeline 'videotestsrc num-buffers=50 ! videoconvert ! \
        clipfilter model=/path/to/model prompts="a cat;a dog" ! fakesink'

Needs PyGObject with GStreamer (Debian: python3-gi, gir1.2-gstreamer-1.0);
run uninstalled with GST_PLUGIN_PATH pointing at the build's gst/ directory.
Exits 1 when the pipeline posts an error.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

DEFAULT_ANALYSIS = ('clipfilter prompts="person cooking|person frying food;'
                    'person dancing" window=4 threshold=0.6')

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("file", nargs="?", help="a video file to tag")
parser.add_argument("--pipeline", help="a whole gst-launch-1.0 description "
                    "with a clipfilter in it, instead of FILE")
args = parser.parse_args()
if not args.pipeline and not args.file:
    parser.error("give a video file or --pipeline")

Gst.init(None)
description = args.pipeline or (
    f'filesrc location="{args.file}" ! decodebin ! videoconvert ! '
    f"{DEFAULT_ANALYSIS} ! fakesink")
try:
    pipeline = Gst.parse_launch(description)
except GLib.Error as e:
    sys.exit(f"invalid pipeline: {e.message}")

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
