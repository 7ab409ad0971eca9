#!/bin/sh
# The shipped model (the element's default, clipfilter-mini, found in the
# source tree's models/ without any environment variable) names every
# videotestsrc pattern and colour that docs/shipped-model.md lists: each pipeline's
# analyzed frames must all carry the expected top label.
. "$(dirname "$0")/common.sh"
unset CLIPFILTER_MODEL_PATH

PATTERNS="smpte color bars;tv static;a checkerboard;concentric circles;a pinwheel;spokes;a gradient;a color palette;a ball"
COLOURS="red;green;blue;yellow;cyan;magenta;white;black"
failures=0

# check LABEL PROMPTS TEMPLATES SOURCE...: every analyzed frame's top label is LABEL
check() {
  want=$1 prompts=$2 templates=$3
  shift 3
  gst-launch-1.0 -m "$@" ! clipfilter prompts="$prompts" templates="$templates" \
    frame-interval=10 ! fakesink >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "gst-launch-1.0 $* failed"; }
  got=$(grep -o 'top-label=(string)[^,]*' "$TMP/out" | sed 's/^top-label=(string)//; s/\\//g; s/^"//; s/"$//' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
  n_bad=$(grep -o 'top-label=(string)[^,]*' "$TMP/out" | sed 's/^top-label=(string)//; s/\\//g; s/^"//; s/"$//' | grep -cvx "$want")
  n_all=$(grep -c 'top-label=(string)' "$TMP/out")
  # MAJORITY=1: most frames, not all (see docs/shipped-model.md on the white ball)
  allowed=0
  [ "${MAJORITY:-0}" = 1 ] && allowed=$(((n_all - 1) / 2))
  if [ "$n_all" -eq 0 ] || [ "$n_bad" -gt "$allowed" ]; then
    echo "not ok: $* -> expected '$want', got:$got"
    failures=$((failures + 1))
  else
    echo "ok: $* -> '$want' ($((n_all - n_bad))/$n_all frames)"
  fi
}

src() { # PATTERN [PROPS...]: 320x240 (the default size) RGB frames
  echo "videotestsrc num-buffers=${N:-30} pattern=$*"
}

for p in "smpte:smpte color bars" "smpte75:smpte color bars" "smpte100:smpte color bars" \
         "snow:tv static" "checkers-1:a checkerboard" "checkers-2:a checkerboard" \
         "checkers-4:a checkerboard" "checkers-8:a checkerboard" "circular:concentric circles" \
         "pinwheel:a pinwheel" "spokes:spokes" "gradient:a gradient" "colors:a color palette"; do
  # shellcheck disable=SC2046
  check "${p#*:}" "$PATTERNS" "a video of {}" $(src "${p%%:*}")
done
# the README's pipeline: the moving ball, 60 frames, every frame
N=60
# shellcheck disable=SC2046
check "a ball" "a ball;smpte color bars;tv static" "{}" $(src ball)
# among all nine patterns the white-on-black ball passes for spokes on some
# frames (docs/shipped-model.md): most frames must still say ball
MAJORITY=1
# shellcheck disable=SC2046
check "a ball" "$PATTERNS" "a video of {}" $(src ball)
MAJORITY=0
N=30

for c in "red:0xffff0000" "green:0xff00ff00" "blue:0xff0000ff" "yellow:0xffffff00" \
         "cyan:0xff00ffff" "magenta:0xffff00ff" "white:0xffffffff" "black:0xff000000"; do
  # shellcheck disable=SC2046
  check "${c%%:*}" "$COLOURS" "a plain {} screen" $(src solid-color foreground-color="${c#*:}")
done
for c in red green blue white black; do
  # shellcheck disable=SC2046
  check "$c" "$COLOURS" "a plain {} screen" $(src "$c")
done
# The ball's colours: most frames, not all. On the first frame the ball sits
# at the centre of the frame, where four of the model's 16-pixel patches meet,
# so each patch sees a quarter of it, and its colour is read against the
# background's (docs/shipped-model.md, "Limits"); the other frames must be right.
MAJORITY=1
# background colour behind the ball
for c in "red:0xffff0000" "blue:0xff0000ff" "green:0xff00ff00" "yellow:0xffffff00"; do
  # shellcheck disable=SC2046
  check "${c%%:*}" "$COLOURS" "a ball on a {} background" \
    $(src ball background-color="${c#*:}" foreground-color=0xffffffff)
done

# colour of the ball itself, on black (colour pairs trained on; red and
# magenta on black are held out of training, see docs/shipped-model.md)
for c in "green:0xff00ff00" "blue:0xff0000ff" "yellow:0xffffff00" "cyan:0xff00ffff"; do
  # shellcheck disable=SC2046
  check "${c%%:*}" "$COLOURS" "a {} ball" \
    $(src ball foreground-color="${c#*:}" background-color=0xff000000)
done
MAJORITY=0

[ "$failures" -eq 0 ] || fail "$failures pipeline(s) gave a wrong top label"
echo "all top labels correct"
