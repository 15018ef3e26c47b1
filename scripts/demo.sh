#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs the main demo: tapegrad-lm trains a word-level LSTM
# on its built-in corpus (a few seconds), then completes "king sits on" and samples a few
# sentences. The model is written to build/lm-demo (replaced on every run).
#   scripts/demo.sh           the language-model demo
#   scripts/demo.sh --engine  the engine demo: the tutorial's 3-step tanh RNN, every hidden
#                             state, output and gradient, then gradcheck
set -euo pipefail
cd "$(dirname "$0")/.."
"$(dirname "$0")/setup.sh"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
[ -f build/CMakeCache.txt ] || cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
export OPENBLAS_NUM_THREADS=1

if [ "${1:-}" = "--engine" ]; then
  cmake --build build -j "$(nproc)" --target engine_demo
  exec ./build/examples/engine_demo
fi

cmake --build build -j "$(nproc)" --target tapegrad-lm
lm=./build/examples/tapegrad-lm
rm -rf build/lm-demo
set -x
"$lm" train --out build/lm-demo
"$lm" complete --model build/lm-demo "king sits on"
"$lm" sample --model build/lm-demo --length 60 --temperature 0.8 --seed 1
