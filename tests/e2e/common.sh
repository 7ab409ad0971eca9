# Sourced by the end-to-end scripts: finds the kit model and, in sanitized
# builds, preloads the sanitizer runtime into the system gst-launch-1.0.
set -u
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

case "${CLIPFILTER_SANITIZE:-none}" in
  none|'') ;;
  *)
    # The system gst-launch-1.0 has no sanitizer runtime: preload it so the
    # sanitized plugin loads. Leaks are checked by the GstCheck suite (the
    # system tools' own exit-time allocations would drown them here).
    [ -n "${CLIPFILTER_SANITIZER_PRELOAD:-}" ] ||
      skip "sanitized build ($CLIPFILTER_SANITIZE): no sanitizer runtime to preload into gst-launch-1.0"
    export LD_PRELOAD="$CLIPFILTER_SANITIZER_PRELOAD"
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    export GST_REGISTRY_FORK=no
    ;;
esac
command -v gst-launch-1.0 >/dev/null || skip "gst-launch-1.0 not installed"
MODEL="${CLIP_REFERENCE_DIR:-}/tiny-b32"
if [ ! -d "$MODEL" ]; then
  [ "${CI:-}" = true ] && fail "reference kit model not found at '$MODEL' (CLIP_REFERENCE_DIR); under CI=true it must be present"
  skip "reference kit model not found at '$MODEL' (set CLIP_REFERENCE_DIR)"
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
