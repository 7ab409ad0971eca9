#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is needed, builds,
# and runs a pipeline that tags videotestsrc patterns with the shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
export GST_PLUGIN_PATH="$PWD/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
for pattern in ball smpte snow; do
  echo "== videotestsrc pattern=$pattern"
  gst-launch-1.0 -m videotestsrc pattern=$pattern num-buffers=30 ! clipfilter interval=500000000 \
    prompts="a bouncing ball;smpte colour bars;television snow noise" ! fakesink \
    | grep -E 'clipfilter(-tag)?, ' | head -n 4
done
