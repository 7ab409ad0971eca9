#!/bin/sh
# docs/examples/print-tags.py (the PyGObject example) on a videotestsrc
# pipeline with the kit model, run by Debian's Python (the one with gi).
# threshold=0 and no similarity gate (the kit's random weights give
# meaningless cosines): every label turns on at the first sample and is
# closed at EOS.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "$PY not installed"
"$PY" -c 'import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst' 2>/dev/null ||
  skip "$PY lacks PyGObject with GStreamer (Debian: python3-gi gir1.2-gstreamer-1.0)"
EXAMPLE="$CLIP_SOURCE_ROOT/docs/examples/print-tags.py"
"$PY" "$EXAMPLE" --pipeline "videotestsrc num-buffers=30 ! \
  video/x-raw,framerate=10/1,width=160,height=120 ! \
  clipfilter model=$MODEL prompts=\"a test pattern|colour bars;a cat\" threshold=0 \
  min-similarity=-1 ! fakesink" \
  >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "print-tags.py failed"; }
cat "$TMP/out"
expected='0.00s a test pattern: on
0.00s a cat: on
3.00s a test pattern: off
3.00s a cat: off'
got=$(sed 's/^ *//; s/  */ /; s/ ([0-9.]*)$//' "$TMP/out")
[ "$got" = "$expected" ] || { cat "$TMP/err"; fail "unexpected output: '$got'"; }
# An error exits 1 with the element's message on stderr.
if "$PY" "$EXAMPLE" --pipeline "videotestsrc ! clipfilter model=$TMP/none prompts=a ! fakesink" \
    >"$TMP/out" 2>"$TMP/err"; then
  fail "print-tags.py exited 0 on a missing model"
fi
grep -q "error: Could not load CLIP model: $TMP/none" "$TMP/err" || { cat "$TMP/err"; fail "error message missing"; }
echo "ok: tags on at 0 s, off at EOS (3 s); errors exit 1"
