#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is needed, builds,
# and tags GStreamer test patterns with the shipped model (clipfilter-mini,
# the element's default), printing the top label of each analyzed frame and
# the tag on/off messages (run with gst-launch-1.0 -m yourself for every field).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
export GST_PLUGIN_PATH="$PWD/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
for pattern in ball smpte snow; do
  echo "== videotestsrc pattern=$pattern"
  gst-launch-1.0 -m videotestsrc pattern=$pattern num-buffers=60 ! \
    clipfilter prompts="a ball;smpte color bars;tv static" ! fakesink |
    sed -nE -e 's/.*(clipfilter), timestamp=\(guint64\)([0-9]+),.*(top-label=[^,]*), (top-score=[^,]*),.*/  \1 t=\2 \3 \4/p' \
      -e 's/.*(clipfilter-tag, .*);$/  \1/p'
done
