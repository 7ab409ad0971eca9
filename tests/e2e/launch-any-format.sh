#!/bin/sh
# Decoded formats straight into clipfilter, no videoconvert in front, with
# the shipped model (the element's default): an H.264 High 4:4:4 file
# (x264enc fed Y444, decoding to Y444, which the engine reads itself) and
# a 10-bit FFV1 file (decoding to a 10-bit format the element converts on
# sampled frames only), both 641x359 with B-frames (H.264) and a non-zero
# first timestamp. Each analyzed frame's top label must be the pattern.
. "$(dirname "$0")/common.sh"
unset CLIPFILTER_MODEL_PATH
PROMPTS="smpte color bars;tv static;a ball;a checkerboard"

need() {
  for e in "$@"; do
    gst-inspect-1.0 "$e" >/dev/null 2>&1 && continue
    [ "${CI:-}" = true ] && fail "$e not installed (needed under CI=true)"
    skip "$e not installed"
  done
}
need x264enc avdec_h264 avenc_ffv1 avdec_ffv1 matroskamux qtmux

# run NAME PATTERN WANT-LABEL WANT-FORMAT ENCODER-CHAIN EXT
run() {
  gst-launch-1.0 -q videotestsrc num-buffers=30 pattern=$2 timestamp-offset=1000000000 ! \
    video/x-raw,width=641,height=359,framerate=30/1,format=$4 ! $5 ! \
    filesink location="$TMP/$1.$6" >"$TMP/enc" 2>&1 || { cat "$TMP/enc"; fail "$1: encoding failed"; }
  gst-launch-1.0 -m -v filesrc location="$TMP/$1.$6" ! decodebin ! \
    clipfilter prompts="$PROMPTS" frame-interval=10 ! fakesink \
    >"$TMP/$1.out" 2>&1 || { cat "$TMP/$1.out"; fail "$1: pipeline failed"; }
  grep -q "clipfilter0.GstPad:sink: caps = video/x-raw, format=(string)$4" "$TMP/$1.out" ||
    { grep caps "$TMP/$1.out"; fail "$1: clipfilter did not get $4"; }
  n=$(grep -c '(element): clipfilter,' "$TMP/$1.out")
  want=$(echo "$3" | sed 's/ /\\\\ /g')
  good=$(grep '(element): clipfilter,' "$TMP/$1.out" | grep -c "top-label=(string)\"$want\"")
  [ "$n" = 3 ] && [ "$good" = 3 ] ||
    { grep -o 'top-label=[^,]*' "$TMP/$1.out"; fail "$1: expected 3 samples labelled '$3', got $good of $n"; }
  echo "ok: $1 ($4) gave $n samples labelled '$3'"
}
run y444 smpte "smpte color bars" Y444 "x264enc bframes=2 ! video/x-h264,profile=high-4:4:4 ! qtmux" mp4
run ffv1-10bit ball "a ball" I420_10LE "avenc_ffv1 ! matroskamux" mkv
run ffv1-10bit-snow snow "tv static" I420_10LE "avenc_ffv1 ! matroskamux" mkv
