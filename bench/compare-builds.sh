#!/usr/bin/env bash
# Two builds of the project side by side, as ratios measured in one run:
# usage: bench/compare-builds.sh BUILD_A BUILD_B MODEL [ROUNDS [FRAMES]]
#
# Runs, alternating A, B, A, B... for ROUNDS rounds (default 3), so that
# the load of a shared machine falls on both builds alike:
#   - `clip-tool bench MODEL --batch 1` and `--batch 16`: ms per image, the
#     median and the minimum over a run's 10 passes (model loading is left
#     out: compare per-image figures);
#   - bench/bench-element.sh BUILD MODEL FRAMES (default 500): an unsampled
#     frame's cost and sync-mode frames analyzed per second.
# Prints each figure's median and best value over the rounds for A and B and
# the cost ratio B / A (of times; A / B of rates): above 1 means B is
# slower. On a loaded machine the best values are the steadier measure of
# what the code costs. The raw output of every run is kept in $OUT (default:
# a temporary directory, printed).
# The benchmark script of this tree is used for both builds, so it must
# drive the properties both builds have.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd) model=$3
rounds=${4:-3} frames=${5:-500}
out=${OUT:-$(mktemp -d /tmp/compare-builds.XXXXXX)}
mkdir -p "$out"

# the value of "key": in a JSON file (the tools print one key per line)
field() { sed -n "s/^ *\"$2\": *\([-0-9.e]*\),\{0,1\}\$/\1/p" "$1" | head -n1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

for r in $(seq 1 "$rounds"); do
  for side in A B; do
    build=$a
    [ "$side" = B ] && build=$b
    for batch in 1 16; do
      "$build/src/clip-tool" bench "$model" --batch "$batch" --runs 10 --text 0 \
        >"$out/tool-$side-b$batch-$r.json" 2>"$out/tool-$side-b$batch-$r.log" || {
        echo "compare-builds: clip-tool bench of $build failed (see $out/tool-$side-b$batch-$r.log)" >&2
        exit 1
      }
    done
    bash "$here/bench-element.sh" "$build" "$model" "$frames" >"$out/element-$side-$r.json"
    echo "round $r $side done" >&2
  done
done

# figure name, file pattern, JSON key, "time" or "rate"
report() {
  local name=$1 pattern=$2 key=$3 kind=$4 va=() vb=() ma mb ba bb f
  for f in "$out"/${pattern//SIDE/A}; do va+=("$(field "$f" "$key")"); done
  for f in "$out"/${pattern//SIDE/B}; do vb+=("$(field "$f" "$key")"); done
  ma=$(median "${va[@]}") mb=$(median "${vb[@]}")
  if [ "$kind" = time ]; then
    ba=$(best -g "${va[@]}") bb=$(best -g "${vb[@]}")
    printf '%-38s median A %9s B %9s cost B/A %s | best A %9s B %9s cost B/A %s\n' "$name" \
      "$ma" "$mb" "$(calc "$mb / $ma")" "$ba" "$bb" "$(calc "$bb / $ba")"
  else
    ba=$(best -gr "${va[@]}") bb=$(best -gr "${vb[@]}")
    printf '%-38s median A %9s B %9s cost B/A %s | best A %9s B %9s cost B/A %s\n' "$name" \
      "$ma" "$mb" "$(calc "$ma / $mb")" "$ba" "$bb" "$(calc "$ba / $bb")"
  fi
  printf '%-38s   (A: %s; B: %s)\n' "" "${va[*]}" "${vb[*]}"
}
# the best of the values: sort flags, values
best() {
  local flags=$1
  shift
  printf '%s\n' "$@" | sort $flags | head -n1
}
echo "A = $a"
echo "B = $b"
echo "model $model, $rounds rounds; median and best over the rounds (raw output: $out)"
report "clip-tool batch 1: ms/image, median" "tool-SIDE-b1-*.json" ms_per_image_median time
report "clip-tool batch 1: ms/image, min" "tool-SIDE-b1-*.json" ms_per_image_min time
report "clip-tool batch 16: ms/image, median" "tool-SIDE-b16-*.json" ms_per_image_median time
report "clip-tool batch 16: ms/image, min" "tool-SIDE-b16-*.json" ms_per_image_min time
report "element: unsampled ms/frame" "element-SIDE-*.json" unsampled_clipfilter_ms_per_frame time
report "element: unsampled ratio to identity" "element-SIDE-*.json" unsampled_ratio time
report "element: sync batch 1 frames/s" "element-SIDE-*.json" sync_batch1_frames_per_s rate
report "element: sync batch 16 frames/s" "element-SIDE-*.json" sync_batch16_frames_per_s rate
