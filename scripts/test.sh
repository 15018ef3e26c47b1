#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs the whole test suite.
#   scripts/test.sh             Release build in build/
#   scripts/test.sh --sanitize  AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
"$(dirname "$0")/setup.sh"

build=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE=ON -DTAPEGRAD_BUILD_BENCH=OFF)
fi
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then cmake -S . -B "$build" "${generator[@]}" "${flags[@]}"; else cmake -S . -B "$build" "${flags[@]}"; fi
cmake --build "$build" -j "$(nproc)"
export OPENBLAS_NUM_THREADS=1
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
