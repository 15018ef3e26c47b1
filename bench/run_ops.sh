#!/usr/bin/env bash
# Per-op cost, tapegrad against libtorch, in one run: builds both micro-benchmarks, runs them
# alternately on one pinned core (one BLAS/OpenMP thread), repeats, and prints a markdown table
# of the medians and their ratio.
#   bench/run_ops.sh [repeats]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-5}
scripts/setup.sh
if ! dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed"; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get install -y -qq --no-install-recommends libtorch-dev python3
fi
build=build-bench
generator=(); command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
# build-bench is shared with run_distributed.sh and run_keystroke.sh, which need no libtorch:
# configure it (again) when it was made without the libtorch programs.
grep -q "^TAPEGRAD_BENCH_TORCH:BOOL=ON" $build/CMakeCache.txt 2>/dev/null ||
  cmake -S . -B $build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BENCH_TORCH=ON >/dev/null
cmake --build $build -j "$(nproc)" --target bench_ops bench_ops_torch
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$repeats"); do
  for b in bench_ops bench_ops_torch; do
    taskset -c 0 "$build/bench/$b" --benchmark_format=json --benchmark_min_time=0.2 >"$out/$b.$r.json"
  done
done
python3 - "$out" "$repeats" <<'PY'
import json, sys, statistics, glob
out, repeats = sys.argv[1], int(sys.argv[2])
def per_op(prefix):
    runs = {}
    for f in sorted(glob.glob(f"{out}/{prefix}.*.json")):
        for b in json.load(open(f))["benchmarks"]:
            runs.setdefault(b["name"].replace("BM_torch_", "BM_"), []).append(b["per_op"] * 1e9)
    return {k: statistics.median(v) for k, v in runs.items()}
ours, theirs = per_op("bench_ops"), per_op("bench_ops_torch")
print(f"median of {repeats} runs, ns per op (forward + backward), one core\n")
print("| op | shape | tapegrad | libtorch | libtorch / tapegrad |")
print("|---|---|---|---|---|")
for name, t in ours.items():
    op, n, m = name[3:].rsplit("/", 2)
    print(f"| {op} | [{n}x{m}] | {t:,.0f} | {theirs[name]:,.0f} | {theirs[name] / t:.1f}x |")
PY
