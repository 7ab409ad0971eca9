#!/usr/bin/env bash
# Runs the whole benchmark set for one model and writes one JSON file per
# configuration into OUT_DIR (default bench/results/, git-ignored):
# gemm.json from bench-gemm (all backends' per-shape floors),
# bench-<backend>-<precision>-b<batch>.json from clip-tool bench for
# OpenBLAS fp32, oneDNN fp32 and oneDNN bf16 at batch 1 and 16, and
# summary.txt, the table bench/summarize.py prints from them.
# Usage: bench/run-all.sh BUILD_DIR MODEL_DIR [OUT_DIR [RUNS]]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 model=$2 out=${3:-$here/results} runs=${4:-10}
mkdir -p "$out"
"$build/bench/bench-gemm" > "$out/gemm.json"
for batch in 1 16; do
  for cfg in "openblas fp32" "onednn fp32" "onednn bf16"; do
    set -- $cfg
    "$build/src/clip-tool" bench "$model" --batch "$batch" --runs "$runs" --threads 2 \
      --backend "$1" --precision "$2" --text 8 --profile > "$out/bench-$1-$2-b$batch.json"
  done
done
python3 "$here/summarize.py" "$out" | tee "$out/summary.txt"
