# Sourced by the end-to-end scripts: finds the kit model and skips when the
# system gst-launch-1.0 cannot load this build's plugin.
set -u
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

case "${CLIPFILTER_SANITIZE:-none}" in
  none|'') ;;
  *) skip "sanitized build ($CLIPFILTER_SANITIZE): the system gst-launch-1.0 has no ASan runtime and cannot load this plugin" ;;
esac
command -v gst-launch-1.0 >/dev/null || skip "gst-launch-1.0 not installed"
MODEL="${CLIP_REFERENCE_DIR:-}/tiny-b32"
if [ ! -d "$MODEL" ]; then
  [ "${CI:-}" = true ] && fail "reference kit model not found at '$MODEL' (CLIP_REFERENCE_DIR); under CI=true it must be present"
  skip "reference kit model not found at '$MODEL' (set CLIP_REFERENCE_DIR)"
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
