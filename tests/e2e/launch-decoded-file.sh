#!/bin/sh
# A file encoded and decoded with codecs Debian's GStreamer packages provide
# (Theora in Ogg; JPEG in AVI), analyzed after decodebin ! videoconvert.
. "$(dirname "$0")/common.sh"
run() { # name, encoder chain, extension
  gst-launch-1.0 -q videotestsrc num-buffers=15 pattern=ball ! \
    video/x-raw,width=176,height=144,framerate=15/1 ! $2 ! filesink location="$TMP/$1.$3" \
    >"$TMP/enc" 2>&1 || { cat "$TMP/enc"; fail "$1: encoding failed"; }
  gst-launch-1.0 -m filesrc location="$TMP/$1.$3" ! decodebin ! videoconvert ! \
    clipfilter model="$MODEL" prompts="a ball;a person cooking" frame-interval=5 ! fakesink \
    >"$TMP/$1.out" 2>&1 || { cat "$TMP/$1.out"; fail "$1: decoding pipeline failed"; }
  n=$(grep -c '(element): clipfilter,' "$TMP/$1.out")
  [ "$n" = 3 ] || { cat "$TMP/$1.out"; fail "$1: expected 3 samples (frames 0, 5, 10), got $n"; }
  echo "ok: $1 gave $n samples"
}
if gst-inspect-1.0 theoraenc >/dev/null 2>&1 && gst-inspect-1.0 oggdemux >/dev/null 2>&1; then
  run theora "theoraenc ! oggmux" ogg
else
  echo "no theoraenc/oggmux: Theora case not run"
fi
if gst-inspect-1.0 jpegenc >/dev/null 2>&1 && gst-inspect-1.0 avidemux >/dev/null 2>&1; then
  run jpeg "jpegenc ! avimux" avi
else
  echo "no jpegenc/avimux: JPEG case not run"
fi
