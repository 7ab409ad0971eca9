#!/bin/sh
# scripts/tsan.sh — the engine's thread tests (tests/engine/test-threads.c:
# worker counts, two contexts encoding at once) under ThreadSanitizer, in
# build-tsan/ (gcc, -Db_sanitize=thread). Any report fails the run.
#
# No suppressions are needed: the thread tests use the OpenBLAS backend,
# whose workers are the engine's own (pthreads, instrumented) with OpenBLAS
# held at one thread. The oneDNN backend's OpenMP runtime (libgomp) is not
# instrumented, so TSan cannot see its barriers; it is left out here rather
# than silenced (docs/robustness.md).
set -eu
cd "$(dirname "$0")/.."
BUILD=${TSAN_BUILD_DIR:-build-tsan}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Db_sanitize=thread -Db_lundef=false -Dgst=disabled \
    -Dbuildtype=debugoptimized >/dev/null
fi
meson compile -C "$BUILD" tests/engine/test-threads src/clip-tool >/dev/null
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}"
exec meson test -C "$BUILD" threads --print-errorlogs --no-rebuild
