#!/bin/sh
# A `clip-tool random-model` checkpoint made without --vocab runs in the
# element: it carries a byte-level tokenizer, so prompts embed and every
# sampled frame is scored.
. "$(dirname "$0")/common.sh"
TOOL="$CLIP_BUILD_ROOT/src/clip-tool"
"$TOOL" random-model --arch tiny --seed 3 "$TMP/random" >"$TMP/out" 2>&1 ||
  { cat "$TMP/out"; fail "clip-tool random-model failed"; }
[ -s "$TMP/random/vocab.json" ] && [ -s "$TMP/random/merges.txt" ] ||
  fail "random-model wrote no vocab.json/merges.txt"
gst-launch-1.0 -m videotestsrc num-buffers=4 ! video/x-raw,width=64,height=48 ! \
  clipfilter model="$TMP/random" prompts="a red ball;a cat" mode=sync frame-interval=1 \
  min-similarity=-1 ! fakesink >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "pipeline failed"; }
n=$(grep -c 'element "clipfilter0".*clipfilter, ' "$TMP/out" || true)
[ "$n" -eq 4 ] || { cat "$TMP/out"; fail "expected 4 clipfilter messages, got $n"; }
grep -q 'labels=(string)< "a\\ red\\ ball", "a\\ cat" >' "$TMP/out" || { cat "$TMP/out"; fail "labels missing"; }
echo "ok: random model without --vocab scores 4 frames"
