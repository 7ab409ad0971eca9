#!/bin/sh
# scripts/soak.sh [--full] [SOAK-OPTION...] — the soak test of clipfilter
# (tests/soak/soak.c): a live pipeline with the shipped model, prompts,
# caps and states changing, resident memory, threads and descriptors
# sampled after every state cycle.
#
# Without --full: the suite's short form (300 cycles or 45 s). With
# --full: 10,000 state cycles (a night's worth of a deployment that is
# restarted or re-prompted often; hours on a loaded machine). Both run at
# the lowest CPU priority, every sample written to
# $BUILD/soak-samples.csv. Other options
# go to the program (--cycles N, --seed N, --rss-tolerance-kb N, ...; see
# its header). Builds first in build/ (SOAK_BUILD_DIR to change).
set -eu
cd "$(dirname "$0")/.."
BUILD=${SOAK_BUILD_DIR:-build}
ARGS="--cycles 300 --warmup 30 --max-seconds 45"
if [ "${1:-}" = --full ]; then
  shift
  ARGS="--cycles 10000"
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" >/dev/null
fi
meson compile -C "$BUILD" tests/soak/soak gst/gstclipfilter >/dev/null

export GST_PLUGIN_PATH="$BUILD/gst"
export GST_REGISTRY="$BUILD/tests/soak/registry.bin"
export GST_REGISTRY_FORK=no
export GST_PLUGIN_LOADING_WHITELIST=gstreamer:gst-plugins-base:clipfilter
export CLIP_SOURCE_ROOT="$(pwd)"
# shellcheck disable=SC2086 # ARGS is a list of words
exec nice -n 19 "$BUILD/tests/soak/soak" $ARGS --samples "$BUILD/soak-samples.csv" "$@"
