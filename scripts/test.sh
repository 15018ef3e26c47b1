#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs the whole test suite.
#   scripts/test.sh             Release build in build/
#   scripts/test.sh --sanitize  AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   scripts/test.sh --threads   ThreadSanitizer build in build-tsan/, running the suites whose
#                               code runs on several threads at once (predictors sharing a model,
#                               the server's workers and sessions)
set -euo pipefail
cd "$(dirname "$0")/.."
"$(dirname "$0")/setup.sh"

build=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE=ON -DTAPEGRAD_BUILD_BENCH=OFF)
fi
tests=()
if [ "${1:-}" = "--threads" ]; then
  build=build-tsan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE_THREAD=ON -DTAPEGRAD_BUILD_BENCH=OFF
         -DTAPEGRAD_MPI=OFF)
  tests=(-R '^(train\.predictor|lm\.lm_serve)$')
fi
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then cmake -S . -B "$build" "${generator[@]}" "${flags[@]}"; else cmake -S . -B "$build" "${flags[@]}"; fi
cmake --build "$build" -j "$(nproc)"
export OPENBLAS_NUM_THREADS=1
# TSAN_OPTIONS: a report fails the test (exit code), and says where both accesses were made.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "${tests[@]}"
