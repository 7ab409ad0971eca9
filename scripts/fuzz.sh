#!/bin/sh
# scripts/fuzz.sh [SECONDS] [TARGET...] — runs the libFuzzer targets of
# fuzz/ for SECONDS each (default 300), all seven unless TARGETs are named
# (safetensors checkpoint vocab tokenizer image preprocess prompts).
#
# Builds them first in build-fuzz/ (clang, ASan + UBSan, -Dfuzzing=true).
# Each target starts from its committed seeds (fuzz/corpus/NAME) and the
# regression inputs (fuzz/regressions/NAME); what it discovers stays in
# build-fuzz/corpus/NAME for the next run, a crashing input lands in
# build-fuzz/findings/ — copy it into fuzz/regressions/NAME once fixed, so
# the normal test suite (the fuzz-NAME tests) replays it from then on.
#
# FUZZ_JOBS (default 1) targets run at a time. Without clang this skips,
# except under CI=true where that is a failure. The test script calls it
# under CI=true as `scripts/fuzz.sh 20` (seven targets, about 2.5 min plus the
# build). Prints one line per target: executions, seconds, findings.
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-300}
[ $# -gt 0 ] && shift
TARGETS=${*:-safetensors checkpoint vocab tokenizer image preprocess prompts}
JOBS=${FUZZ_JOBS:-1}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}

CC_FUZZ=${CC_FUZZ:-$(command -v clang-14 || command -v clang || true)}
if [ -z "$CC_FUZZ" ]; then
  echo "fuzz.sh: clang not found (Debian: apt-get install clang), skipping" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 0
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  CC="$CC_FUZZ" meson setup "$BUILD" -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized -Dgst=disabled -Donednn=disabled >/dev/null
fi
set --
for t in $TARGETS; do set -- "$@" "fuzz/fuzz-$t"; done
meson compile -C "$BUILD" "$@" >/dev/null

export CLIP_REFERENCE_DIR="${CLIP_REFERENCE_DIR:-$(pwd)/../shared/clip-reference}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$BUILD/findings" "$BUILD/logs"

run_one() {
  t=$1
  mkdir -p "$BUILD/corpus/$t"
  max_len=
  [ "$t" = tokenizer ] && max_len=-max_len=1024
  "$BUILD/fuzz/fuzz-$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 $max_len -artifact_prefix="$BUILD/findings/$t-" \
    "$BUILD/corpus/$t" "fuzz/corpus/$t" "fuzz/regressions/$t" >"$BUILD/logs/$t.log" 2>&1
}

status=0
running=0
for t in $TARGETS; do
  rm -f "$BUILD"/findings/"$t"-*
  ( run_one "$t" ) &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait || status=1
    running=0
  fi
done
wait || status=1

for t in $TARGETS; do
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$BUILD/logs/$t.log" | tail -n 1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$BUILD/logs/$t.log" | tail -n 1)
  found=$(ls "$BUILD"/findings/"$t"-* 2>/dev/null | wc -l)
  echo "fuzz-$t: ${execs:-?} executions (${secs:-?}/s over ${SECONDS_EACH} s), $found finding(s)"
  if [ "$found" -gt 0 ]; then
    status=1
    grep -m 3 -E "ERROR|finding|runtime error" "$BUILD/logs/$t.log" | sed 's/^/  /'
    ls "$BUILD"/findings/"$t"-* | sed 's/^/  input: /'
  fi
done
exit $status
