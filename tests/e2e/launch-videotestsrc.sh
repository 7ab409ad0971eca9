#!/bin/sh
# videotestsrc -> clipfilter -> fakesink: one `clipfilter` message per 500 ms
# of stream time, at exactly the sampled frames' timestamps.
. "$(dirname "$0")/common.sh"
gst-launch-1.0 -m videotestsrc num-buffers=20 ! video/x-raw,framerate=10/1,width=160,height=120 ! \
  clipfilter model="$MODEL" prompts="a test pattern|colour bars;a cat" interval=500000000 ! \
  fakesink >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "gst-launch-1.0 failed"; }
got=$(grep -o 'clipfilter, timestamp=(guint64)[0-9]*' "$TMP/out" | sed 's/.*)//' | tr '\n' ' ')
[ "$got" = "0 500000000 1000000000 1500000000 " ] || { cat "$TMP/out"; fail "sampled timestamps: '$got'"; }
grep -q 'labels=(string)< "a\\ test\\ pattern", "a\\ cat" >' "$TMP/out" || fail "labels missing"
grep -q 'top-label=(string)' "$TMP/out" || fail "top-label missing"
echo "ok: 4 samples at 0, 0.5, 1.0, 1.5 s"
