#!/bin/sh
# What a 4:4:4 stream costs now that clipfilter takes it: a 1080p30 H.264
# High 4:4:4 file (x264enc fed Y444, so it decodes to Y444) timed through
#   A  filesrc ! decodebin ! fakesink                      (decoding alone)
#   B  filesrc ! decodebin ! clipfilter ! fakesink         (sampled frames read/converted)
#   C  filesrc ! decodebin ! videoconvert ! video/x-raw,format=RGBx ! clipfilter ! fakesink
#      (every frame converted, as users had to before the element took Y444;
#      a bare videoconvert now passes Y444 through)
# at 1 sample/s with the shipped model (the element's default). The three are
# run in turn ROUNDS times; the best wall time and the best CPU time (user +
# system, all threads: steadier than wall time on a shared machine) of each
# are reported, with the ratios B/A and C/A from the same run. Both include
# start-up (model load, prompt embedding).
# Usage: bench/bench-formats.sh [SECONDS=20] [ROUNDS=3] [FORMAT=Y444]
# (from a build directory's environment: GST_PLUGIN_PATH=<build>/gst)
set -eu
SECONDS_=${1:-20}
ROUNDS=${2:-3}
FORMAT=${3:-Y444}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# A private registry, scanned once before timing: a shared one is rescanned
# whenever another plugin path or a rebuilt plugin invalidates it.
export GST_REGISTRY="$TMP/registry.bin"
gst-inspect-1.0 clipfilter >/dev/null
FILE=$TMP/in.mp4
N=$((SECONDS_ * 30))

gst-launch-1.0 -q videotestsrc num-buffers=$N pattern=smpte horizontal-speed=4 ! \
  video/x-raw,width=1920,height=1080,framerate=30/1,format=$FORMAT ! \
  x264enc speed-preset=veryfast bitrate=8000 ! qtmux ! filesink location="$FILE"
decoded=$(gst-launch-1.0 -v filesrc location="$FILE" ! decodebin ! fakesink num-buffers=1 2>&1 |
  grep -o 'fakesink0.GstPad:sink: caps = video/x-raw, format=(string)[A-Za-z0-9_]*' | head -1 | sed 's/.*=(string)//')

time_it() { # pipeline tail after decodebin; prints "wall cpu"
  /usr/bin/time -f "%e %U %S" -o "$TMP/time" gst-launch-1.0 -q filesrc location="$FILE" ! \
    decodebin ! $1 >"$TMP/log" 2>&1 || { cat "$TMP/log"; exit 1; }
  awk '{ print $1, $2 + $3 }' "$TMP/time"
}
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc)" = 1 ]; then echo "$2"; else echo "$1"; fi; }

Aw= Ac= Bw= Bc= Cw= Cc=
CF="clipfilter prompts=smpte;ball;snow interval=1000000000 post-messages=false"
i=0
while [ $i -lt "$ROUNDS" ]; do
  set -- $(time_it "fakesink sync=false"); Aw=$(min "$Aw" "$1"); Ac=$(min "$Ac" "$2")
  set -- $(time_it "$CF ! fakesink sync=false"); Bw=$(min "$Bw" "$1"); Bc=$(min "$Bc" "$2")
  set -- $(time_it "videoconvert ! video/x-raw,format=RGBx ! $CF ! fakesink sync=false"); Cw=$(min "$Cw" "$1"); Cc=$(min "$Cc" "$2")
  i=$((i + 1))
done
printf '{"file": "%ss 1920x1080 30fps H.264 from %s, decodes to %s", "rounds": %d,\n' "$SECONDS_" "$FORMAT" "$decoded" "$ROUNDS"
printf ' "wall_s": {"decode": %.2f, "decode_clipfilter": %.2f, "decode_videoconvert_clipfilter": %.2f},\n' "$Aw" "$Bw" "$Cw"
printf ' "cpu_s": {"decode": %.2f, "decode_clipfilter": %.2f, "decode_videoconvert_clipfilter": %.2f},\n' "$Ac" "$Bc" "$Cc"
printf ' "wall_ratio": {"clipfilter": %.3f, "videoconvert_clipfilter": %.3f},\n' "$(echo "$Bw / $Aw" | bc -l)" "$(echo "$Cw / $Aw" | bc -l)"
printf ' "cpu_ratio": {"clipfilter": %.3f, "videoconvert_clipfilter": %.3f}}\n' "$(echo "$Bc / $Ac" | bc -l)" "$(echo "$Cc / $Ac" | bc -l)"
