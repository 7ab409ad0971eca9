#!/usr/bin/env bash
# Formats the C sources mechanically, or with --check lists the files that
# drift from the format and exits 1.
#   gst/, gst-libs/, tests/gst/: GStreamer's gst-indent settings on the .c
#     files (GNU indent, run twice as gst-indent does, so that the result is
#     stable); their headers are left alone, as GStreamer's own indent hook
#     does (indent misreads G_DECLARE_* lines);
#   everything else (src/, include/, index/, fuzz/, bench/, tests/): clang-format
#     with the .clang-format at the root.
# Exits 77 (skip) when a formatter is missing, unless CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1
for tool in clang-format indent; do
  if ! command -v "$tool" >/dev/null; then
    echo "format: $tool not found (apt-get install clang-format indent)"
    [ "${CI:-}" = "true" ] && exit 1
    exit 77
  fi
done
gst_indent() { # in out
  local opts=(--braces-on-if-line --case-brace-indentation0 --case-indentation2
    --braces-after-struct-decl-line --line-length80 --no-tabs --cuddle-else
    --dont-line-up-parentheses --continuation-indentation4 --honour-newlines
    --tab-size8 --indent-level2 --leave-preprocessor-space)
  indent "${opts[@]}" "$1" -o "$2.pass1" && indent "${opts[@]}" "$2.pass1" -o "$2"
  local rc=$?
  rm -f "$2.pass1"
  return $rc
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
drift=0
while IFS= read -r f; do
  out="$tmp/out"
  case "$f" in
    gst/*.h | gst-libs/*.h | tests/gst/*.h) continue ;;
    gst/* | gst-libs/* | tests/gst/*)
      gst_indent "$f" "$out" || { echo "format: indent failed on $f"; exit 1; } ;;
    *) clang-format --style=file "$f" >"$out" || { echo "format: clang-format failed on $f"; exit 1; } ;;
  esac
  if ! cmp -s "$f" "$out"; then
    if [ $check = 1 ]; then
      echo "format: $f drifts from the format (run scripts/format.sh)"
      drift=1
    else
      cp "$out" "$f"
    fi
  fi
done < <(git ls-files '*.c' '*.h' | grep -Ev '^(src/html-entities\.h|models/)')
[ $check = 1 ] && [ $drift = 0 ] && echo "format: every C file is in the project's format"
exit $drift
