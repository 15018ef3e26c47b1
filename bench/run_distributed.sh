#!/usr/bin/env bash
# Data-parallel training speed on this machine: the training step of workload.hpp (RNN and LSTM
# at H 512, B 64, T 32, V 65) with the global batch shared among N = 1 and N = 2 processes
# (mpirun, one core and one BLAS thread each), interleaved, the median of the repeats; the
# speed-up, the share of a step spent averaging gradients, one allreduce of the gradients alone,
# the peak resident size of every process, and a check that both runs see the same losses.
# Beside them, the machine's ceiling: two processes each training its half of the batch with no
# averaging at all (two unrelated one-core jobs), which tells how much the cores slow each
# other down, so that the cost of data parallelism itself can be told from the machine's. Then
# the ring-allreduce cost model with the measured step time and gradient sizes: the speed-up it
# predicts for 4, 8 and 32 machines on 10 Gb/s Ethernet.
#   bench/run_distributed.sh [--repeats N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "usage: bench/run_distributed.sh [--repeats N] [--seconds S]" >&2
  exit 2
}
repeats=3 seconds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) [ $# -ge 2 ] || usage; repeats=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "bench/run_distributed.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run_distributed.sh: bad --repeats '$repeats'" >&2; usage; }
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench/run_distributed.sh: bad --seconds '$seconds'" >&2; usage; }

scripts/setup.sh python3
build=build-bench
generator=(); command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
[ -f $build/CMakeCache.txt ] || cmake -S . -B $build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build $build -j "$(nproc)" --target bench_distributed
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

python3 - "$build/bench/bench_distributed" "$repeats" "$seconds" <<'PY'
import json, statistics, subprocess, sys

program, repeats, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CASES = [("rnn", (512, 64, 32, 65)), ("lstm", (512, 64, 32, 65))]
RUNS = [("tapegrad", 1), ("tapegrad", 2), ("independent", 2)]

def run(cell, sizes, impl, n):
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "core", "-np", str(n),
           program, cell, *map(str, sizes), "--seconds", seconds]
    if impl == "independent":
        cmd.append("--independent")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])

results = {}
for r in range(repeats):
    for cell, sizes in CASES:
        for impl, n in RUNS:  # interleaved: the machine's noise falls on all alike
            rec = run(cell, sizes, impl, n)
            results.setdefault((cell, impl, n), []).append(rec)
            print(f"  repeat {r + 1}/{repeats}: {cell} {impl} N={n}: {rec['steps_per_s']:.2f} "
                  f"steps/s, compute {rec['compute_ms']} ms", file=sys.stderr)

def median(cell, n, key, impl="tapegrad"):
    return statistics.median(rec[key] for rec in results[(cell, impl, n)])

ok = True
print("| cell | H, B, T, V | gradients | N = 1 steps/s | N = 2 steps/s | speed-up "
      "| ceiling: 2 independent halves | speed-up at the ceiling | compute per process N = 1 / N = 2 "
      "| averaging share (N = 2) | one allreduce alone | peak RSS per process N = 1 / N = 2 |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for cell, sizes in CASES:
    one, two = results[(cell, "tapegrad", 1)][0], results[(cell, "tapegrad", 2)][0]
    for a, b in ((one["loss0"], two["loss0"]), (one["loss1"], two["loss1"])):
        if abs(a - b) > 1e-5 * abs(a):
            ok = False
            print(f"LOSSES DIFFER: {cell}: N=1 {a} vs N=2 {b}", file=sys.stderr)
    s1, s2 = median(cell, 1, "steps_per_s"), median(cell, 2, "steps_per_s")
    ceiling = median(cell, 2, "steps_per_s", "independent")
    share = median(cell, 2, "averaging_share")
    alone = median(cell, 2, "allreduce_alone_s")
    c1 = statistics.median(
        rec["compute_ms"][0] for rec in results[(cell, "tapegrad", 1)])
    c2 = statistics.median(max(rec["compute_ms"]) for rec in results[(cell, "tapegrad", 2)])
    mb = one["gradient_floats"] * 4 / 1e6
    rss1 = statistics.median(rec["peak_rss_kb"][0] for rec in results[(cell, "tapegrad", 1)])
    rss2 = max(statistics.median(rec["peak_rss_kb"][i] for rec in results[(cell, "tapegrad", 2)])
               for i in range(2))
    print(f"| {cell} | {', '.join(map(str, sizes))} | {mb:.2f} MB | {s1:.2f} | {s2:.2f} | "
          f"{s2 / s1:.2f}x | {ceiling:.2f} steps/s | {ceiling / s1:.2f}x | {c1:.0f} / {c2:.0f} ms | "
          f"{100 * share:.1f}% | {1000 * alone:.2f} ms | {rss1 / 1024:.0f} / {rss2 / 1024:.0f} MiB |")

# The ring allreduce: each process sends and receives 2 (N - 1) / N of the gradient bytes, in
# 2 (N - 1) messages. On 10 Gb/s Ethernet: 1.25 GB/s per direction, about 50 us per message.
# With the global batch fixed (strong scaling) each process computes 1/N of the step, at best.
BANDWIDTH, LATENCY = 1.25e9, 50e-6
print()
print("Ring allreduce on 10 Gb/s Ethernet (1.25 GB/s, 50 us per message), global batch fixed, "
      "compute per process = (N = 1 step time) / N:")
print()
print("| cell | gradients | N = 1 step | N | allreduce | step | predicted speed-up |")
print("|---|---|---|---|---|---|---|")
for cell, sizes in CASES:
    nbytes = results[(cell, "tapegrad", 1)][0]["gradient_floats"] * 4
    t1 = 1 / median(cell, 1, "steps_per_s")
    for n in (4, 8, 32):
        allreduce = 2 * (n - 1) * LATENCY + 2 * (n - 1) / n * nbytes / BANDWIDTH
        step = t1 / n + allreduce
        print(f"| {cell} | {nbytes / 1e6:.2f} MB | {1000 * t1:.1f} ms | {n} | "
              f"{1000 * allreduce:.2f} ms | {1000 * step:.2f} ms | {t1 / step:.1f}x |")
if not ok:
    sys.exit(1)
PY
