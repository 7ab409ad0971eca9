#!/bin/sh
# Without a model property the element finds the shipped model
# (models/clipfilter-mini) from an uninstalled build, with no environment.
. "$(dirname "$0")/common.sh"
[ -d "${CLIP_SOURCE_ROOT:-}/models/clipfilter-mini" ] || \
  skip "the shipped model is not in this tree (${CLIP_SOURCE_ROOT:-?}/models/clipfilter-mini)"
env -u CLIPFILTER_MODEL_PATH XDG_DATA_HOME="$TMP/empty" gst-launch-1.0 -m videotestsrc num-buffers=2 ! \
  clipfilter prompts="a test pattern;a cat" ! fakesink >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "default model not found"; }
grep -q '(element): clipfilter,' "$TMP/out" || { cat "$TMP/out"; fail "no clipfilter message"; }
echo "ok: default model clipfilter-mini loaded from the source tree"
