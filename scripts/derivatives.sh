#!/usr/bin/env bash
# Regenerates docs/derivatives.md from the ops' math fields (after adding or changing an op).
#   scripts/derivatives.sh [BUILD_DIR]   (default: build/, configured if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" --target tapegrad-derivatives
tmp=$(mktemp docs/derivatives.md.XXXXXX)
trap 'rm -f "$tmp"' EXIT
"$build/tools/tapegrad-derivatives" > "$tmp"
sync "$tmp"
mv "$tmp" docs/derivatives.md
trap - EXIT
echo "wrote docs/derivatives.md ($(grep -c '^| `' docs/derivatives.md) ops)"
