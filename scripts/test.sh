#!/usr/bin/env bash
# Runs the whole test suite: an optimized build, the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer (with leak checking), the
# engine's thread tests and the element's threaded tests under
# ThreadSanitizer, and under CI=true (or with
# FUZZ_SECONDS set) every fuzz target for a short bounded time.
# Prints one closing line: "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
run() { # name, meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  meson compile -C "$dir" || return 1
  meson test -C "$dir" --print-errorlogs --num-processes 2
}
run build || status=1
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  run build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
# (its result is read from the log below, after the retry)
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  python3 scripts/retry-sanitizer-crashes.py build-asan
logs=(build/meson-logs/testlog.json build-asan/meson-logs/testlog.json)

# ThreadSanitizer: the engine's thread tests (counted from meson's log) and
# the element's threaded GstCheck tests (counted as one test).
tsan=OK
sh scripts/tsan.sh || { status=1; tsan=FAIL; }
mkdir -p build-tsan-gst
echo "{\"name\": \"tsan-element\", \"result\": \"$tsan\"}" >build-tsan-gst/testlog.json
logs+=(build-tsan/meson-logs/testlog.json build-tsan-gst/testlog.json)

# Each fuzz target counts as one test: passed when it ran its time without
# a finding.
if [ "${CI:-}" = true ] || [ -n "${FUZZ_SECONDS:-}" ]; then
  mkdir -p build-fuzz
  FUZZ_JOBS=2 sh scripts/fuzz.sh "${FUZZ_SECONDS:-20}" | tee build-fuzz/summary.txt || status=1
  python3 - build-fuzz/summary.txt >build-fuzz/testlog.json <<'PY'
import json, re, sys
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r"(fuzz-\S+): (\S+) executions.*, (\d+) finding", line)
    if m:
        ok = m.group(2) != "?" and m.group(3) == "0"
        print(json.dumps({"name": "libfuzzer-" + m.group(1), "result": "OK" if ok else "FAIL"}))
PY
  logs+=(build-fuzz/testlog.json)
fi

python3 scripts/test-summary.py "${logs[@]}" || status=1
exit $status
