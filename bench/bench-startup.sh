#!/usr/bin/env bash
# Start-up and batch-1 speed of two builds, measured side by side:
#   usage: bench/bench-startup.sh BEFORE_BUILD AFTER_BUILD MODEL [PAIRS]
# Runs `clip-tool bench MODEL --batch 1 --runs 3 --text 0` of each build
# alternately (before, after, before, after, ... PAIRS times each, default
# 5), for fp32 and bf16, so a machine whose load drifts slows both alike.
# Each build has its own packed-weight directory (a temporary
# CLIP_WEIGHT_CACHE; the two builds may write different file versions),
# filled by one untimed run per build and precision first, so every timed
# start is the usual one: the packed-weight file exists.
# Prints, per build and precision, the medians over the runs of load_ms and
# first_result_ms (oneDNN, the default backend) and of their process CPU
# times (load_cpu_ms, first_result_cpu_ms; "–" for a build that does not
# report them), of the OpenBLAS start of
# the same processes (startup.openblas_*), of ms_per_image_median and of
# ratio_to_model_floor_median, and the load average before and after.
set -euo pipefail
before=$(cd "$1" && pwd) after=$(cd "$2" && pwd) model=$3 pairs=${4:-5}
tool() { echo "$1/src/clip-tool"; }
for b in "$before" "$after"; do
  [ -x "$(tool "$b")" ] || { echo "$(tool "$b"): not built" >&2; exit 2; }
done
caches=$(mktemp -d)
out=$(mktemp -d)
trap 'rm -rf "$caches" "$out"' EXIT

run() { # build name precision output
  CLIP_WEIGHT_CACHE="$caches/$2" "$(tool "$1")" bench "$model" --batch 1 --runs 3 --text 0 \
    --precision "$3" > "$4"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for p in fp32 bf16; do
  run "$before" before "$p" /dev/null
  run "$after" after "$p" /dev/null
done
for i in $(seq "$pairs"); do
  for p in fp32 bf16; do
    run "$before" before "$p" "$out/before-$p-$i.json"
    run "$after" after "$p" "$out/after-$p-$i.json"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$out" "$pairs" "$load_before" "$load_after" <<'EOF'
import json, statistics, sys
out, pairs, load_before, load_after = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
keys = [("load_ms", lambda j: j["load_ms"]),
        ("first_result_ms", lambda j: j["first_result_ms"]),
        ("load_cpu_ms", lambda j: j.get("load_cpu_ms")),
        ("first_result_cpu_ms", lambda j: j.get("first_result_cpu_ms")),
        ("openblas_load_ms", lambda j: j["startup"]["openblas_load_ms"]),
        ("openblas_first_result_ms", lambda j: j["startup"]["openblas_first_result_ms"]),
        ("ms_per_image_median", lambda j: j["ms_per_image_median"]),
        ("ratio_to_model_floor_median", lambda j: j["ratio_to_model_floor_median"])]
print(f"load average: {load_before} before the runs, {load_after} after; "
      f"medians of {pairs} runs each, before and after alternating")
print("| build | precision | " + " | ".join(k for k, _ in keys) + " |")
print("|---|---|" + "---|" * len(keys))
for build in ("before", "after"):
    for p in ("fp32", "bf16"):
        runs = [json.load(open(f"{out}/{build}-{p}-{i}.json")) for i in range(1, pairs + 1)]
        cells = []
        for k, f in keys:
            values = [f(j) for j in runs]
            if None in values:  # a build whose clip-tool bench lacks the key
                cells.append("–")
            else:
                cells.append(f"{statistics.median(values):.{3 if k.startswith('ratio') else 1}f}")
        print(f"| {build} | {p} | " + " | ".join(cells) + " |")
EOF
