#!/bin/sh
# The playbin examples of docs/element.md, as written there: clipfilter as
# playbin's video-filter on an H.264 file (B-frames, 4:2:0). gst-launch-1.0
# parses the filter's description twice, so a value with spaces needs its
# spaces escaped ('a\ ball'); double quotes alone serve values without.
. "$(dirname "$0")/common.sh"
for e in x264enc mp4mux playbin avdec_h264; do
  gst-inspect-1.0 "$e" >/dev/null 2>&1 || {
    [ "${CI:-}" = true ] && fail "$e missing (gst-plugins-ugly/good/base, gst-libav)"
    skip "$e not installed"
  }
done
gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=30 ! \
  video/x-raw,width=160,height=120,framerate=10/1 ! x264enc bframes=2 ! mp4mux ! \
  filesink location="$TMP/ball.mp4" || fail "could not encode the test file"
# shipped model, prompts with spaces
gst-launch-1.0 -m playbin uri="file://$TMP/ball.mp4" \
  video-filter='videoconvert ! clipfilter prompts=a\ ball;colour\ bars' \
  video-sink=fakesink audio-sink=fakesink >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "playbin failed"; }
grep -q 'labels=(string)< "a\\ ball", "colour\\ bars" >' "$TMP/out" ||
  { cat "$TMP/out"; fail "no clipfilter message with both labels"; }
grep -q 'clipfilter-tag, .*label=(string)"a\\ ball", state=(string)on' "$TMP/out" ||
  { grep clipfilter "$TMP/out"; fail "\"a ball\" never turned on"; }
if grep -q 'WARNING' "$TMP/out"; then
  cat "$TMP/out"; fail "unexpected warning"
fi
# double quotes inside double quotes (no spaces in the value); the kit model
gst-launch-1.0 -m playbin uri="file://$TMP/ball.mp4" \
  video-filter="videoconvert ! clipfilter model=$MODEL prompts=\"a;b\"" \
  video-sink=fakesink audio-sink=fakesink >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "playbin failed"; }
grep -q 'labels=(string)< a, b >' "$TMP/out" || { cat "$TMP/out"; fail "no message with labels a, b"; }
echo "ok: playbin video-filter with quoted prompts tags the ball"
