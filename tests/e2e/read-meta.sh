#!/bin/sh
# docs/examples/read-meta.py reads labels, scores and the embedding of every
# GstClipMeta through the GstClip typelib of this build (GI_TYPELIB_PATH),
# run by Debian's Python with python3-gi. Skipped without PyGObject or
# without the typelib (introspection disabled), a failure under CI=true.
. "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
need() {
  [ "${CI:-}" = true ] && fail "$* (under CI=true it must be present)"
  skip "$*"
}
[ -x "$PY" ] || need "$PY not installed"
"$PY" -c 'import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst' 2>/dev/null ||
  need "$PY lacks PyGObject with GStreamer (Debian: python3-gi gir1.2-gstreamer-1.0)"
TYPELIBS="$CLIP_BUILD_ROOT/gst-libs"
[ -f "$TYPELIBS/GstClip-1.0.typelib" ] || need "no GstClip-1.0.typelib in $TYPELIBS (built with -Dintrospection=disabled?)"
export GI_TYPELIB_PATH="$TYPELIBS${GI_TYPELIB_PATH:+:$GI_TYPELIB_PATH}"
export LD_LIBRARY_PATH="$TYPELIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
EXAMPLE="$CLIP_SOURCE_ROOT/docs/examples/read-meta.py"

# The kit model's embedding has 32 values; three samples in 1.2 s.
"$PY" "$EXAMPLE" --pipeline "videotestsrc num-buffers=12 ! \
  video/x-raw,framerate=10/1,width=160,height=120 ! \
  clipfilter model=$MODEL prompts=\"a test pattern|colour bars;a cat\" attach-embedding=true ! fakesink" \
  >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "read-meta.py failed"; }
cat "$TMP/out"
got=$(sed -E 's/embedding\[32\]=(-?[0-9]+\.[0-9]+,){4}\.\.\./embedding[32]/; s/=-?[0-9]+\.[0-9]+/=N/g; s/^ *//' "$TMP/out")
expected='0.00s a test pattern=N a cat=N top=a test pattern embedding[32]
0.50s a test pattern=N a cat=N top=a test pattern embedding[32]
1.00s a test pattern=N a cat=N top=a test pattern embedding[32]'
[ "$got" = "$expected" ] || { cat "$TMP/err"; fail "unexpected output: '$got'"; }
# The scores of a line are probabilities that sum to 1.
"$PY" - "$TMP/out" <<'PYEOF' || fail "scores do not sum to 1"
import re, sys
for line in open(sys.argv[1]):
    scores = [float(v) for v in re.findall(r"=([0-9.]+) ", line)[:2]]
    assert abs(sum(scores) - 1) < 0.002, line
PYEOF
# Without attach-embedding there is no embedding to print.
"$PY" "$EXAMPLE" --pipeline "videotestsrc num-buffers=3 ! clipfilter model=$MODEL prompts=a;b ! fakesink" \
  >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; fail "read-meta.py failed without embedding"; }
grep -q embedding "$TMP/out" && fail "an embedding printed without attach-embedding"
# An error exits 1 with the element's message on stderr.
if "$PY" "$EXAMPLE" --pipeline "videotestsrc ! clipfilter model=$TMP/none prompts=a ! fakesink" \
    >"$TMP/out" 2>"$TMP/err"; then
  fail "read-meta.py exited 0 on a missing model"
fi
grep -q "error: Could not load CLIP model: $TMP/none" "$TMP/err" || { cat "$TMP/err"; fail "error message missing"; }
# A missing file is named.
if "$PY" "$EXAMPLE" "$TMP/missing.mp4" >"$TMP/out" 2>"$TMP/err"; then
  fail "read-meta.py exited 0 on a missing file"
fi
grep -q "no such file: $TMP/missing.mp4" "$TMP/err" || { cat "$TMP/err"; fail "missing file not named"; }
echo "ok: labels, scores and 32-value embeddings read from Python; errors exit 1"
