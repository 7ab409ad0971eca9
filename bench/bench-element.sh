#!/usr/bin/env bash
# What the element costs in a pipeline, as ratios measured in one
# run: usage: bench/bench-element.sh BUILD_DIR MODEL_DIR [FRAMES]
# MODEL_DIR may be a `clip-tool random-model` checkpoint (it carries a
# byte-level tokenizer).
#
# 1. Frames it does not sample: 1080p I420 frames through `identity` and
#    through `clipfilter` with an interval of one hour (only the first frame
#    is analyzed), alternately, three times each; prints the best time per
#    frame of each (the run of FRAMES buffers minus the run of one) and
#    their ratio.
# 2. Indexing throughput in sync mode: every frame analyzed
#    (frame-interval=1) with batch-size 1 and 16; prints analyzed frames/s.
set -euo pipefail
build=$(cd "$1" && pwd) model=$2 frames=${3:-2000}
export GST_PLUGIN_PATH="$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export LD_LIBRARY_PATH="$build/gst${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# wall seconds of one gst-launch-1.0 run, into RUN_S (not printed: a failed
# run inside $(...) would not stop the script)
run() {
  local t0 t1
  t0=$(date +%s.%N)
  gst-launch-1.0 -q "$@" >/dev/null || { echo "bench-element: gst-launch-1.0 $* failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  RUN_S=$(calc "$t1 - $t0")
}
min() { printf '%s\n' "$@" | sort -g | head -n1; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# per-frame cost of a pipeline: the time of `frames` buffers minus that of
# one buffer, so start-up, the model load and the first frame's analysis
# cancel out
per_frame() {
  local a
  run videotestsrc num-buffers=1 $1
  a=$RUN_S
  run videotestsrc num-buffers="$frames" $1
  PER_FRAME=$(calc "($RUN_S - $a) / ($frames - 1) * 1000")
}
caps="pattern=smpte ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1"
plain=() element=()
for _ in 1 2 3; do
  per_frame "$caps ! identity ! fakesink sync=false"
  plain+=("$PER_FRAME")
  per_frame "$caps ! clipfilter model=$model prompts=a;b interval=3600000000000 ! fakesink sync=false"
  element+=("$PER_FRAME")
done
p=$(min "${plain[@]}") e=$(min "${element[@]}")
printf '{\n  "frames": %d,\n  "unsampled_identity_ms_per_frame": %.4f,\n' "$frames" "$p"
printf '  "unsampled_clipfilter_ms_per_frame": %.4f,\n  "unsampled_ratio": %.3f,\n' "$e" "$(calc "$e / $p")"

# sync-mode batches: every frame analyzed; the cost of 64 more frames
# (the difference of two runs, so model load and start-up cancel out)
for b in 1 16; do
  sync_run() {
    run videotestsrc num-buffers="$1" pattern=snow ! video/x-raw,format=RGB,width=224,height=224 \
      ! clipfilter model="$model" prompts="a;b" mode=sync frame-interval=1 batch-size=$b \
      ! fakesink sync=false
  }
  sync_run "$b"
  t_small=$RUN_S
  sync_run $((b + 64))
  t_big=$RUN_S
  printf '  "sync_batch%d_frames_per_s": %.1f,\n' "$b" "$(calc "64 / ($t_big - $t_small)")"
done
printf '  "model": "%s"\n}\n' "$model"
