# Sourced by the clip-index tests: tools, the shipped model and clip makers.
set -u
skip() { echo "SKIP: $*"; [ "${CI:-}" = true ] && { echo "FAIL: under CI=true this must run" >&2; exit 1; }; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

CLIP_INDEX=${CLIP_INDEX:?set by meson}
[ -d "$CLIP_SOURCE_ROOT/models/clipfilter-mini" ] || skip "shipped model models/clipfilter-mini missing"
command -v gst-launch-1.0 >/dev/null || skip "gst-launch-1.0 not installed"
gst-inspect-1.0 x264enc >/dev/null 2>&1 || skip "x264enc (gstreamer1.0-plugins-ugly) not installed"
gst-inspect-1.0 avdec_h264 >/dev/null 2>&1 || skip "avdec_h264 (gstreamer1.0-libav) not installed"
command -v python3 >/dev/null || skip "python3 not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed"

case "${CLIPFILTER_SANITIZE:-none}" in
  none|'') ;;
  # fast_unwind_on_malloc=0: GLib has no frame pointers, suppressions need whole stacks.
  *) export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:fast_unwind_on_malloc=0"
     export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
     export LSAN_OPTIONS="suppressions=$CLIP_SOURCE_ROOT/tests/lsan.supp:print_suppressions=0" ;;
esac

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# scenes OUT FORMAT WIDTH HEIGHT FPS GOP MUX PATTERN:SECONDS...
# Concatenated videotestsrc scenes in one H.264 stream with B-frames, so
# the content changes at known stream times.
scenes() {
  out=$1 fmt=$2 w=$3 h=$4 fps=$5 gop=$6 mux=$7
  shift 7
  srcs=""
  for s in "$@"; do
    p=${s%%:*} d=${s#*:}
    srcs="$srcs videotestsrc pattern=$p num-buffers=$((d * fps)) ! video/x-raw,width=$w,height=$h,framerate=$fps/1 ! c."
  done
  # identity single-segment: one timeline across the concatenated scenes.
  gst-launch-1.0 -q concat name=c ! identity single-segment=true ! videoconvert ! \
    video/x-raw,format=$fmt ! x264enc key-int-max=$gop bframes=2 speed-preset=ultrafast ! \
    $mux ! filesink location="$out" $srcs >"$TMP/gen.log" 2>&1 ||
    { cat "$TMP/gen.log"; fail "could not encode $out"; }
}

# near A B TOLERANCE: |A - B| <= TOLERANCE
near() { python3 -c "import sys; sys.exit(0 if abs($1 - $2) <= $3 + 1e-6 else 1)"; }
