#!/bin/sh
# User errors end gst-launch-1.0 with a non-zero status and a readable
# message on stderr, never a crash.
. "$(dirname "$0")/common.sh"
expect_error() { # what, expected text, clipfilter properties...
  what=$1; text=$2; shift 2
  gst-launch-1.0 videotestsrc num-buffers=3 ! clipfilter "$@" ! fakesink >"$TMP/out" 2>"$TMP/err"
  rc=$?
  [ $rc -ne 0 ] || fail "$what: exit status 0"
  # gst-launch-1.0 exits with -1 (255) on errors; 129-254 would be a signal
  if [ $rc -gt 128 ] && [ $rc -lt 255 ]; then fail "$what: killed by signal $((rc - 128))"; fi
  grep -q "$text" "$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "$what: '$text' not on stderr"; }
  echo "ok: $what (exit $rc)"
}
expect_error "missing model" "Could not load CLIP model: .*/no/such/model" model=/no/such/model prompts="a;b"
expect_error "unknown model name" 'CLIP model "no-such-model" not found' model=no-such-model prompts="a;b"
mkdir -p "$TMP/bad" && echo '{' >"$TMP/bad/config.json" && echo x >"$TMP/bad/model.safetensors"
expect_error "invalid model dir" "Could not load CLIP model: .*$TMP/bad" model="$TMP/bad" prompts="a;b"
expect_error "no prompts" "no prompts set" model="$MODEL"
expect_error "only separators" "contain no label" model="$MODEL" prompts=";;|;"
